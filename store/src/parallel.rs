//! Splitting a slice's work over two threads. The CPU-heavy loops over many events (making a
//! batch's records, expanding a query's events, rendering a CalDAV report's items) scale to
//! the two cores a node typically has and no further, so a thread pool would only add
//! hand-offs. Public because the gateway's renderers use it too.

/// `f` over the two halves of `items`, the second half on a scoped thread, the two answers
/// combined by `join` in order; just `f(items)` on the calling thread when `items` is shorter
/// than `threshold`. A panic on the helper thread comes back as `Err(on_panic)`.
pub fn on_two_threads<T, A, E>(
    items: &[T],
    threshold: usize,
    on_panic: E,
    f: impl Fn(&[T]) -> Result<A, E> + Sync,
    join: impl FnOnce(A, A) -> A,
) -> Result<A, E>
where
    T: Sync,
    A: Send,
    E: Send,
{
    if items.len() < threshold.max(2) {
        return f(items);
    }
    let (a, b) = items.split_at(items.len() / 2);
    let (first, second) = std::thread::scope(|sc| {
        let h = sc.spawn(|| f(b));
        (f(a), h.join().unwrap_or(Err(on_panic)))
    });
    Ok(join(first?, second?))
}

#[cfg(test)]
mod tests {
    use super::on_two_threads;

    #[test]
    fn halves_are_joined_in_order_and_short_inputs_stay_on_the_caller() {
        let items: Vec<u32> = (0..10).collect();
        let twice = |p: &[u32]| Ok::<_, ()>(p.iter().map(|x| x * 2).collect::<Vec<_>>());
        let cat = |mut a: Vec<u32>, b: Vec<u32>| {
            a.extend(b);
            a
        };
        let split = on_two_threads(&items, 4, (), twice, cat).unwrap();
        assert_eq!(split, (0..10).map(|x| x * 2).collect::<Vec<_>>());
        let caller = std::thread::current().id();
        let ids = on_two_threads(
            &items,
            100,
            (),
            |_| Ok(vec![std::thread::current().id()]),
            cat_ids,
        );
        assert_eq!(ids.unwrap(), vec![caller]);
    }

    fn cat_ids(
        mut a: Vec<std::thread::ThreadId>,
        b: Vec<std::thread::ThreadId>,
    ) -> Vec<std::thread::ThreadId> {
        a.extend(b);
        a
    }

    #[test]
    fn a_panic_on_the_helper_thread_is_an_error() {
        let items: Vec<u32> = (0..10).collect();
        let main = std::thread::current().id();
        let r = on_two_threads(
            &items,
            2,
            "panicked",
            |p: &[u32]| {
                if std::thread::current().id() != main {
                    panic!("helper");
                }
                Ok(p.len())
            },
            |a, b| a + b,
        );
        assert_eq!(r, Err("panicked"));
    }
}
