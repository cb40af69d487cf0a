use discal_protocol::ics::{decode_text, parse_calendar};
use discal_protocol::{Limits, NodeSecret};
fn main() {
    let me = NodeSecret::from_seed_array([1; 32]).public();
    let v = std::env::var("V").is_ok();
    for f in std::env::args().skip(1) {
        let bytes = std::fs::read(&f).unwrap();
        let (text, _) = decode_text(&bytes);
        let t = std::time::Instant::now();
        let r = std::panic::catch_unwind(|| parse_calendar(&text, &me, &Limits::default()));
        let el = t.elapsed().as_millis();
        let name = f.rsplit('/').next().unwrap();
        match r {
            Err(_) => println!("PANIC {f}"),
            Ok(Ok(imp)) => {
                println!(
                    "ok ev {} err {} {}ms {}",
                    imp.events.len(),
                    imp.errors.len(),
                    el,
                    name
                );
                if v {
                    for e in &imp.errors {
                        println!("   E {e}");
                    }
                    for e in &imp.events {
                        for w in &e.warnings {
                            println!("   W {w}");
                        }
                    }
                    for a in &imp.adjusted {
                        println!("   A {a}");
                    }
                }
            }
            Ok(Err(e)) => println!(
                "ERR {name} {el}ms: {}",
                e.to_string().chars().take(200).collect::<String>()
            ),
        }
    }
}
