//! The Shadow cross-check's two halves that run without Shadow: the generator (the config,
//! graph, node directories and workload it writes must be the scenario's network), and the
//! reader (a finished run's stores and counters must become the report's figures). The
//! finished run here is the generated nodes run for real on loopback, so the stores and
//! /metrics the reader sees are the ones a Shadow run leaves behind.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use discal_gateway::{Draft, WriteOp};
use discal_node::{Config, Node, NodeHandle, NodeOptions, PeerEntry};
use discal_simulations::shadow::{self, node_dir, Programs};
use discal_simulations::Scenario;

const WAIT: Duration = Duration::from_secs(60);

fn scenario(nodes: usize, events: usize) -> Scenario {
    let text = format!(
        "name = \"shadow-test\"\nnodes = {nodes}\nseed = 3\nconverge_timeout_secs = 30\n\
         [topology]\nkind = \"random_regular\"\ndegree = 4\n\
         [workload]\nevents = {events}\nrate_per_sec = 20\nevent_bytes = 1024\nrecurring_share = 0.5\n"
    );
    let sc: Scenario = toml::from_str(&text).expect("scenario parses");
    sc.check().expect("scenario is valid");
    sc
}

fn programs() -> Programs {
    Programs {
        discal: "/opt/discal/bin/discal".into(),
        curl: "/usr/bin/curl".into(),
    }
}

fn shadow_config(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("shadow.yaml")).expect("shadow.yaml");
    serde_json::from_str(&text).expect("the config is JSON, which is YAML")
}

/// The `discal event add` processes of the config, as (host index, start ms, draft).
fn event_adds(cfg: &serde_json::Value) -> Vec<(usize, u64, Draft)> {
    let mut out = Vec::new();
    for (name, host) in cfg["hosts"].as_object().expect("hosts") {
        let i: usize = name[1..].parse().expect("hosts are n<i>");
        for p in host["processes"].as_array().expect("processes") {
            let args: Vec<&str> = p["args"]
                .as_array()
                .expect("args")
                .iter()
                .map(|a| a.as_str().expect("string args"))
                .collect();
            if args[..2] != ["event", "add"] {
                continue;
            }
            let at: u64 = p["start_time"]
                .as_str()
                .and_then(|t| t.strip_suffix("ms"))
                .and_then(|t| t.parse().ok())
                .expect("start_time in ms");
            let mut d = Draft::default();
            let flags: HashMap<&str, &str> = args[4..]
                .chunks(2)
                .map(|c| (c[0].trim_start_matches("--"), c[1]))
                .collect();
            let get = |k: &str| flags.get(k).map(|v| v.to_string());
            assert_eq!(args[2..4], ["--data-dir", node_dir_str(cfg, i).as_str()]);
            d.title = get("title");
            d.start = get("start");
            d.duration = get("duration");
            d.tz = get("tz");
            d.rrule = get("rrule");
            d.location = get("location");
            d.geo = get("geo");
            d.url = get("url");
            d.description = get("description");
            d.tags = get("tags").map(|t| t.split(',').map(String::from).collect());
            out.push((i, at, d));
        }
    }
    out.sort_by_key(|e| e.1);
    out
}

fn node_dir_str(cfg: &serde_json::Value, i: usize) -> String {
    let run = &cfg["hosts"][format!("n{i}")]["processes"][0]["args"];
    run[2]
        .as_str()
        .expect("discal run --data-dir DIR")
        .to_string()
}

#[test]
fn a_generated_run_is_the_scenarios_network_and_workload() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sc = scenario(12, 15);
    let s = shadow::generate(&sc, tmp.path(), &programs()).expect("generates");
    let cfg = shadow_config(tmp.path());
    let hosts = cfg["hosts"].as_object().expect("hosts");
    assert_eq!(hosts.len(), 12);
    assert_eq!(cfg["experimental"]["native_preemption_enabled"], true);
    let gml = std::fs::read_to_string(tmp.path().join("graph.gml")).expect("graph");
    assert!(gml.contains("latency \"25000 us\""), "{gml}");
    // Every host runs the node from the start with its own directory and address.
    let mut ips = BTreeSet::new();
    for i in 0..12 {
        let h = &hosts[&format!("n{i}")];
        assert_eq!(h["ip_addr"], shadow::ip_of(i).to_string());
        ips.insert(h["ip_addr"].as_str().expect("ip").to_string());
        let run = &h["processes"][0];
        assert_eq!(run["path"], "/opt/discal/bin/discal");
        assert_eq!(run["args"][0], "run");
        assert_eq!(
            node_dir_str(&cfg, i),
            node_dir(tmp.path(), i).display().to_string()
        );
    }
    assert_eq!(ips.len(), 12);
    // The allowlists are the topology: each link in both lists, dialled from one side, and
    // every key the neighbours list is the one in the node's key file.
    let keys: Vec<String> = (0..12)
        .map(|i| {
            discal_node::identity::load_or_create(&node_dir(tmp.path(), i))
                .expect("key")
                .key()
                .to_string()
        })
        .collect();
    let mut links = BTreeSet::new();
    for i in 0..12 {
        let c = Config::load(&node_dir(tmp.path(), i).join("config.toml")).expect("config loads");
        assert_eq!(c.listen, [format!("/ip4/{}/tcp/4710", shadow::ip_of(i))]);
        assert_eq!(c.peers.len(), 4, "degree 4");
        for p in &c.peers {
            let j = keys
                .iter()
                .position(|k| *k == p.key)
                .expect("a generated node");
            match &p.address {
                Some(a) => {
                    assert!(i < j, "only the lower index dials");
                    assert_eq!(*a, format!("/ip4/{}/tcp/4710", shadow::ip_of(j)));
                }
                None => assert!(i > j),
            }
            links.insert((i.min(j), i.max(j)));
        }
    }
    assert_eq!(links.len(), 12 * 4 / 2, "every link listed at both ends");
    // The workload: every event once, at the scenario's rate, after the mesh has formed and
    // before the counters are read at the end.
    let adds = event_adds(&cfg);
    assert_eq!(adds.len(), 15);
    assert_eq!(s.events, 15);
    for (k, (_, at, d)) in adds.iter().enumerate() {
        let want = ((s.work + k as f64 / 20.0) * 1000.0).round() as u64;
        assert_eq!(*at, want, "event {k}");
        assert!(d.title.is_some() && d.start.is_some() && d.description.is_some());
    }
    assert!(
        adds.iter().any(|a| a.2.rrule.is_some()),
        "recurring share 0.5"
    );
    assert!(s.work_end < s.scrape && s.scrape < s.stop);
}

#[test]
fn what_shadow_cannot_reproduce_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut sc = scenario(12, 5);
    sc.churn = Some(Default::default());
    let e = shadow::generate(&sc, tmp.path(), &programs()).expect_err("churn is refused");
    assert!(e.to_string().contains("churn"), "{e}");
    let mut sc = scenario(12, 5);
    sc.gossip.mesh_n = 8;
    let e = shadow::generate(&sc, tmp.path(), &programs()).expect_err("gossip is refused");
    assert!(e.to_string().contains("gossip"), "{e}");
}

/// Starts the generated nodes on loopback (their keys, stores and configs; TCP on port 0).
async fn start(out: &Path, n: usize) -> Vec<NodeHandle> {
    let mut nodes = Vec::new();
    let mut configs = Vec::new();
    for i in 0..n {
        let dir = node_dir(out, i);
        let mut c = Config::load(&dir.join("config.toml")).expect("config");
        configs.push(c.peers.clone());
        c.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        c.http = "127.0.0.1:0".into();
        c.peers.clear();
        let mut o = NodeOptions::new(c, Some(dir));
        o.gateway = false;
        nodes.push(Node::spawn(o).await.expect("node starts"));
    }
    let addr: HashMap<String, String> = nodes
        .iter()
        .map(|h| (h.key().to_string(), h.listen_addrs()[0].to_string()))
        .collect();
    let mut degrees = Vec::new();
    for (h, peers) in nodes.iter().zip(configs) {
        let peers: Vec<PeerEntry> = peers
            .into_iter()
            .map(|p| PeerEntry {
                address: p.address.as_ref().map(|_| addr[&p.key].clone()),
                ..p
            })
            .collect();
        degrees.push(peers.len() as u64);
        h.set_peers(peers).await.expect("peers");
    }
    for (h, degree) in nodes.iter().zip(degrees) {
        assert!(
            h.wait_until(WAIT, |_| h.metrics().peers_connected.load(Relaxed)
                >= degree)
                .await,
            "links up"
        );
    }
    nodes
}

fn scrape(out: &Path, nodes: &[NodeHandle], file: &str) {
    for (i, h) in nodes.iter().enumerate() {
        let text = h.metrics().render(h.store().len().expect("len"));
        std::fs::write(node_dir(out, i).join(file), text).expect("metrics file");
    }
}

/// Copies (ingest duplicates and gossip copies dropped unread) from the saved counters.
fn copies_in(out: &Path, n: usize, file: &str) -> u64 {
    let value = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .expect("counter present")
    };
    (0..n)
        .map(|i| {
            let t = std::fs::read_to_string(node_dir(out, i).join(file)).expect("file");
            value(&t, "discal_events_duplicate_total")
                + value(&t, "discal_gossip_duplicates_dropped_total")
        })
        .sum()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_is_read_from_the_stores_and_counters() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path();
    let (n, events) = (6, 8);
    let mut sc = scenario(n, events);
    sc.topology = discal_simulations::topology::Topology::Ring;
    shadow::generate(&sc, out, &programs()).expect("generates");
    let adds = event_adds(&shadow_config(out));
    let nodes = start(out, n).await;
    scrape(out, &nodes, "metrics-before.txt");
    for (i, _, d) in adds {
        nodes[i]
            .write(WriteOp::Create(d))
            .await
            .expect("the generated event is valid");
    }
    for h in &nodes {
        assert!(
            h.wait_until(WAIT, |s| s.len().unwrap_or(0) == events as u64)
                .await,
            "every node holds every event"
        );
    }
    scrape(out, &nodes, "metrics-after.txt");
    let copies = copies_in(out, n, "metrics-after.txt") - copies_in(out, n, "metrics-before.txt");
    for h in nodes {
        h.shutdown().await;
    }
    // The latencies, straight from the stores: each holder's arrival minus the origin's.
    let mut own: HashMap<String, i64> = HashMap::new();
    let mut arrivals = Vec::new();
    for i in 0..n {
        let store = discal_node::offline_store(&node_dir(out, i)).expect("store");
        let me = discal_node::identity::load_or_create(&node_dir(out, i))
            .expect("key")
            .key();
        for it in store.inventory(None).expect("inventory") {
            let ev = store.get(&it.key).expect("get").expect("held");
            if it.key.origin == me {
                own.insert(it.key.uid.clone(), ev.received_at_ms);
            } else {
                arrivals.push((it.key.uid.clone(), ev.received_at_ms));
            }
        }
    }
    let mut lat: Vec<f64> = arrivals
        .iter()
        .map(|(uid, at)| (at - own[uid]) as f64)
        .collect();
    lat.sort_by(f64::total_cmp);

    let r = shadow::collect(out).expect("the run reads back");
    assert_eq!((r.events, r.honest_nodes), (events, n));
    assert_eq!(r.delivery_ratio, 1.0);
    assert_eq!(r.latency_ms.count, events * (n - 1));
    for (got, q) in [
        (r.latency_ms.p50, 0.5),
        (r.latency_ms.p90, 0.9),
        (r.latency_ms.p99, 0.99),
    ] {
        // Seconds since the epoch in f64 and back to ms: equal to well under a microsecond.
        assert!((got - percentile(&lat, q)).abs() < 1e-3, "{got} vs {lat:?}");
    }
    let denom = (n * events) as f64;
    assert!((r.duplicates_per_node_per_event - copies as f64 / denom).abs() < 1e-9);
    assert_eq!(r.bytes.measured_at, "payload");
    assert!(
        r.bytes.ratio_to_ideal > 0.0 && r.bytes.payload_ratio_to_ideal == r.bytes.ratio_to_ideal
    );
    assert_eq!(r.scenario.dilation, 1.0);
    for c in &r.checks {
        assert!(c.passed, "check {} failed: {}", c.name, c.detail);
    }
    // A node that left no counters, or an event that was never published, fails a check.
    std::fs::remove_file(node_dir(out, 2).join("metrics-after.txt")).expect("rm");
    let r = shadow::collect(out).expect("reads back");
    let failed: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["every_node_answered_metrics"]);
    let sched = out.join("schedule.json");
    let text = std::fs::read_to_string(&sched).expect("schedule");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["events"] = (events + 1).into();
    std::fs::write(&sched, v.to_string()).expect("write");
    let r = shadow::collect(out).expect("reads back");
    assert!(r
        .checks
        .iter()
        .any(|c| c.name == "every_planned_event_published" && !c.passed));
}
