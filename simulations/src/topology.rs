//! Who peers with whom: graph generators, all driven by the scenario's seed.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A topology as a scenario names it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Topology {
    /// Every node has exactly `degree` peers, chosen at random.
    RandomRegular {
        /// Peers per node.
        degree: usize,
    },
    /// Watts–Strogatz: a ring where each node knows `degree` neighbours, each edge rewired
    /// with probability `rewire`.
    SmallWorld {
        /// Peers per node before rewiring (even).
        degree: usize,
        /// Rewiring probability.
        rewire: f64,
    },
    /// A chain: the worst case for hop limits.
    Line,
    /// A ring.
    Ring,
    /// Barabási–Albert preferential attachment: each newcomer links to `links` existing nodes.
    ScaleFree {
        /// Links per new node.
        links: usize,
    },
    /// An allowlist graph from a file: one `a b` pair of node indices per line, `#` comments.
    File {
        /// The file.
        path: std::path::PathBuf,
    },
}

/// Why a topology cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// Parameters that no graph satisfies.
    #[error("topology: {0}")]
    Invalid(String),
    /// The edge-list file.
    #[error("topology file {path}: {msg}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        msg: String,
    },
}

/// Undirected edges (a < b), sorted, without duplicates.
pub type Edges = Vec<(usize, usize)>;

impl Topology {
    /// Builds the graph for `n` nodes.
    pub fn build(&self, n: usize, rng: &mut StdRng) -> Result<Edges, TopologyError> {
        let bad = |m: String| Err(TopologyError::Invalid(m));
        let mut edges: HashSet<(usize, usize)> = HashSet::new();
        match self {
            Topology::RandomRegular { degree } => {
                let d = *degree;
                if d >= n || (n * d) % 2 == 1 {
                    return bad(format!(
                        "no {d}-regular graph on {n} nodes (need degree < nodes and nodes × degree even)"
                    ));
                }
                edges = random_regular(n, d, rng)?;
            }
            Topology::SmallWorld { degree, rewire } => {
                if degree / 2 == 0 || *degree >= n {
                    return bad(format!("small_world degree {degree} on {n} nodes"));
                }
                edges = small_world(n, degree / 2, *rewire, rng);
            }
            Topology::Line => {
                for i in 1..n {
                    add(i - 1, i, &mut edges);
                }
            }
            Topology::Ring => {
                for i in 0..n {
                    add(i, (i + 1) % n, &mut edges);
                }
            }
            Topology::ScaleFree { links } => {
                let m = (*links).max(1);
                if m >= n {
                    return bad(format!("scale_free links {m} on {n} nodes"));
                }
                edges = scale_free(n, m, rng);
            }
            Topology::File { path } => edges = from_file(path, n)?,
        }
        let mut out: Edges = edges.into_iter().collect();
        out.sort_unstable();
        Ok(out)
    }
}

/// Adds the undirected edge a–b (no loops).
fn add(a: usize, b: usize, e: &mut HashSet<(usize, usize)>) {
    if a != b {
        e.insert((a.min(b), a.max(b)));
    }
}

/// Watts–Strogatz: a ring where each node links to its `k` next neighbours, each link rewired
/// to a random node with probability `rewire`.
fn small_world(n: usize, k: usize, rewire: f64, rng: &mut StdRng) -> HashSet<(usize, usize)> {
    let mut edges = HashSet::new();
    for i in 0..n {
        for j in 1..=k {
            let mut b = (i + j) % n;
            if rng.gen_bool(rewire.clamp(0.0, 1.0)) {
                // Rewire to a random node that is neither i nor already linked.
                for _ in 0..32 {
                    let c = rng.gen_range(0..n);
                    if c != i && !edges.contains(&(i.min(c), i.max(c))) {
                        b = c;
                        break;
                    }
                }
            }
            add(i, b, &mut edges);
        }
    }
    edges
}

/// Barabási–Albert: a clique of `m + 1` nodes, then each new node links to `m` nodes picked
/// by preferential attachment.
fn scale_free(n: usize, m: usize, rng: &mut StdRng) -> HashSet<(usize, usize)> {
    let mut edges = HashSet::new();
    // Endpoint list: a node appears once per edge it has (preferential attachment).
    let mut ends: Vec<usize> = Vec::new();
    for i in 0..=m {
        for j in 0..i {
            add(i, j, &mut edges);
            ends.extend([i, j]);
        }
    }
    for i in m + 1..n {
        let mut picked = std::collections::BTreeSet::new();
        while picked.len() < m {
            picked.insert(ends[rng.gen_range(0..ends.len())]);
        }
        for j in picked {
            add(i, j, &mut edges);
            ends.extend([i, j]);
        }
    }
    edges
}

/// An edge list: one `a b` pair of node indexes per line, `#` starting a comment.
fn from_file(path: &std::path::Path, n: usize) -> Result<HashSet<(usize, usize)>, TopologyError> {
    let err = |msg: String| TopologyError::File {
        path: path.display().to_string(),
        msg,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let mut edges = HashSet::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let parse = |s: &str| -> Result<usize, TopologyError> {
            let v: usize = s
                .parse()
                .map_err(|_| err(format!("line {}: {s:?} is not a node index", no + 1)))?;
            if v >= n {
                return Err(err(format!(
                    "line {}: node {v} does not exist (nodes = {n})",
                    no + 1
                )));
            }
            Ok(v)
        };
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [a, b] => add(parse(a)?, parse(b)?, &mut edges),
            _ => return Err(err(format!("line {}: expected `a b`", no + 1))),
        }
    }
    Ok(edges)
}

/// Pairing model with restarts; for the sizes simulated (d ≤ 20) a few attempts suffice.
fn random_regular(
    n: usize,
    d: usize,
    rng: &mut StdRng,
) -> Result<HashSet<(usize, usize)>, TopologyError> {
    'attempt: for _ in 0..200 {
        let mut stubs: Vec<usize> = (0..n).flat_map(|i| std::iter::repeat_n(i, d)).collect();
        stubs.shuffle(rng);
        let mut edges = HashSet::with_capacity(n * d / 2);
        // Greedy pairing with local repair: pick partners for the last stub among the rest.
        while let Some(a) = stubs.pop() {
            let mut tries = 0;
            loop {
                if stubs.is_empty() || tries > 50 {
                    continue 'attempt;
                }
                let j = rng.gen_range(0..stubs.len());
                let b = stubs[j];
                if b != a && !edges.contains(&(a.min(b), a.max(b))) {
                    stubs.swap_remove(j);
                    edges.insert((a.min(b), a.max(b)));
                    break;
                }
                tries += 1;
            }
        }
        return Ok(edges);
    }
    Err(TopologyError::Invalid(format!(
        "could not draw a {d}-regular graph on {n} nodes"
    )))
}

/// Neighbour lists.
pub fn adjacency(n: usize, edges: &Edges) -> Vec<Vec<usize>> {
    let mut adj = vec![Vec::new(); n];
    for &(a, b) in edges {
        adj[a].push(b);
        adj[b].push(a);
    }
    adj
}

/// Whether every node can reach every other.
pub fn connected(n: usize, edges: &Edges) -> bool {
    if n == 0 {
        return true;
    }
    let adj = adjacency(n, edges);
    let mut seen = vec![false; n];
    let mut stack = vec![0];
    seen[0] = true;
    let mut count = 1;
    while let Some(x) = stack.pop() {
        for &y in &adj[x] {
            if !seen[y] {
                seen[y] = true;
                count += 1;
                stack.push(y);
            }
        }
    }
    count == n
}

/// Longest shortest path (BFS from every node; fine up to a few thousand nodes).
pub fn diameter(n: usize, edges: &Edges) -> usize {
    let adj = adjacency(n, edges);
    let mut best = 0;
    for s in 0..n {
        let mut dist = vec![usize::MAX; n];
        dist[s] = 0;
        let mut q = std::collections::VecDeque::from([s]);
        while let Some(x) = q.pop_front() {
            for &y in &adj[x] {
                if dist[y] == usize::MAX {
                    dist[y] = dist[x] + 1;
                    q.push_back(y);
                }
            }
        }
        best = best.max(
            dist.iter()
                .copied()
                .filter(|&d| d != usize::MAX)
                .max()
                .unwrap_or(0),
        );
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generators_give_the_graphs_they_name() {
        let mut rng = StdRng::seed_from_u64(1);
        let e = Topology::RandomRegular { degree: 6 }
            .build(100, &mut rng)
            .unwrap();
        let adj = adjacency(100, &e);
        assert!(adj.iter().all(|a| a.len() == 6));
        assert!(connected(100, &e));
        let e = Topology::Line.build(10, &mut rng).unwrap();
        assert_eq!(e.len(), 9);
        assert_eq!(diameter(10, &e), 9);
        let e = Topology::Ring.build(10, &mut rng).unwrap();
        assert_eq!(diameter(10, &e), 5);
        let e = Topology::ScaleFree { links: 2 }
            .build(200, &mut rng)
            .unwrap();
        assert!(connected(200, &e));
        let max = adjacency(200, &e).iter().map(Vec::len).max().unwrap();
        assert!(
            max > 10,
            "preferential attachment makes hubs, max degree {max}"
        );
        let e = Topology::SmallWorld {
            degree: 4,
            rewire: 0.1,
        }
        .build(100, &mut rng)
        .unwrap();
        assert!(e.len() >= 190);
        assert!(Topology::RandomRegular { degree: 3 }
            .build(5, &mut rng)
            .is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_graph() {
        let t = Topology::RandomRegular { degree: 6 };
        let a = t.build(300, &mut StdRng::seed_from_u64(9)).unwrap();
        let b = t.build(300, &mut StdRng::seed_from_u64(9)).unwrap();
        let c = t.build(300, &mut StdRng::seed_from_u64(10)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
