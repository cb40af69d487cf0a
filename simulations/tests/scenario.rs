//! A small scenario with every disturbance at once (partition, churn, hostile nodes, updates
//! and cancellations), run on the real node code in a debug build; the named checks must hold
//! and the figures must say what happened.

use discal_simulations::{run, RunOptions, Scenario};

fn smoke() -> Scenario {
    let text = include_str!("../scenarios/smoke.toml");
    let sc: Scenario = toml::from_str(text).expect("smoke scenario parses");
    sc.check().expect("smoke scenario is valid");
    sc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_network_with_every_disturbance_passes_the_named_checks() {
    let sc = smoke();
    let r = run(&sc, &RunOptions::default())
        .await
        .expect("the run completes");
    for c in &r.checks {
        assert!(c.passed, "check {} failed: {}", c.name, c.detail);
    }
    let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "honest_nodes_converge",
            "no_forgery_accepted",
            "no_event_beyond_max_hops",
            "memory_bounded_under_flood"
        ]
    );
    assert_eq!(r.delivery_ratio, 1.0);
    // 20 creations, 20 % updated and 10 % cancelled.
    assert_eq!((r.events, r.revisions), (20, 26));
    assert!(r.latency_ms.count > 0 && r.latency_ms.p50 > 0.0);
    assert!(r.partition_converge_secs.is_some());
    let churn = r.churn.as_ref().expect("churn figures");
    assert_eq!(churn.nodes, 3);
    assert!(
        churn.catch_up_bytes > 0,
        "returning nodes caught up by sync"
    );
    let hostile = r.hostile.as_ref().expect("hostile figures");
    assert!(hostile.forgeries_sent > 0 && hostile.floods_sent > 0 && hostile.oversized_sent > 0);
    assert_eq!(hostile.forgeries_accepted, 0);
    // Every kind of junk was seen and refused by honest nodes.
    assert!(r.rejected["decode"] > 0, "{:?}", r.rejected);
    assert!(
        r.rejected["signature_or_validation"] > 0,
        "{:?}",
        r.rejected
    );
    // Files a researcher reads.
    let dir = tempfile::tempdir().expect("tempdir");
    r.write(dir.path()).expect("report written");
    for f in [
        "report.json",
        "deliveries.csv",
        "nodes.csv",
        "latency_cdf.svg",
        "delivery.svg",
        "bytes_per_node.svg",
    ] {
        let len = std::fs::metadata(dir.path().join(f)).map_or(0, |m| m.len());
        assert!(len > 100, "{f} is missing or empty");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_that_cannot_converge_fails_its_check() {
    // A line of 8 with max_hops 2: every node has nodes more than two links away, which can
    // never receive its events, so the run must say the network did not converge.
    let mut sc = Scenario {
        name: "line".into(),
        nodes: 8,
        max_hops: 2,
        converge_timeout_secs: 3.0,
        topology: discal_simulations::topology::Topology::Line,
        ..Scenario::default()
    };
    sc.workload.events = 2;
    sc.workload.rate_per_sec = 50.0;
    sc.timers.sync_interval_secs = 1;
    sc.link.latency_ms = 5.0;
    let r = run(&sc, &RunOptions::default())
        .await
        .expect("the run completes");
    let converge = &r.checks[0];
    assert_eq!(converge.name, "honest_nodes_converge");
    assert!(!converge.passed, "{}", converge.detail);
    assert!(!r.passed());
    assert!(r.delivery_ratio < 1.0);
    assert!(r.hops.keys().all(|h| *h <= 2), "{:?}", r.hops);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_forwarding_delivers_without_counting_hops() {
    // The measurement mode: gossipsub forwards messages itself, so every node keeps the
    // origin's hop 1 and no copy reaches ingest twice, yet everyone gets everything.
    let mut sc = Scenario {
        name: "native".into(),
        nodes: 12,
        converge_timeout_secs: 30.0,
        topology: discal_simulations::topology::Topology::RandomRegular { degree: 4 },
        ..Scenario::default()
    };
    sc.gossip.native_forwarding = true;
    sc.workload.events = 5;
    sc.workload.rate_per_sec = 20.0;
    sc.link.latency_ms = 5.0;
    let r = run(&sc, &RunOptions::default())
        .await
        .expect("the run completes");
    assert!(r.passed(), "{}", r.summary());
    assert_eq!(r.delivery_ratio, 1.0);
    assert_eq!(
        r.hops.keys().copied().collect::<Vec<u8>>(),
        [1],
        "{:?}",
        r.hops
    );
}

/// Proposals and RSVPs (issue 19) in a small network with nodes away: every proposal and
/// answer reaches its origin, those to an away origin once it is back, and every node ends up
/// holding the counts the origins published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_reach_their_origins_through_churn() {
    let text = include_str!("../scenarios/proposals-200.toml")
        .replace("nodes = 200", "nodes = 20")
        .replace("count = 300", "count = 30")
        .replace("away_secs = 10", "away_secs = 2")
        .replace("events = 100", "events = 20");
    let sc: Scenario = toml::from_str(&text).expect("the proposals scenario parses");
    sc.check().expect("valid");
    let r = run(&sc, &RunOptions::default())
        .await
        .expect("the run completes");
    for c in &r.checks {
        assert!(c.passed, "check {} failed: {}", c.name, c.detail);
    }
    let p = r.proposals.as_ref().expect("proposal figures");
    let a = r.rsvps.as_ref().expect("RSVP figures");
    assert_eq!(p.made + a.answers.made, 30);
    assert!(p.made > 5 && a.answers.made > 5, "about half are RSVPs");
    assert_eq!(p.nodes_away, 2);
    assert_eq!(p.delivered, 1.0);
    assert_eq!(p.decision_ms.count, p.made);
    // Every answer was counted at its origin, and every node holds the counts.
    assert_eq!(a.answers.delivered, 1.0);
    assert_eq!(a.answers.decision_ms.count, a.answers.made);
    assert!(a.events > 0 && a.events <= a.answers.made);
    assert_eq!(a.counts_delivered, 1.0);
    assert!(a.counts_spread_secs.is_some());
}

/// Time dilation (docs/simulations.md): a line of 5 nodes with 40 ms links, run 3 times
/// slower. The latencies in the report must be the network's — at least the links' sum for the
/// hop count each copy came with, and not three times it — and the percentiles must be those
/// of the timed deliveries; the run itself must have taken about three times its network time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dilated_run_reports_network_time() {
    let mut sc = Scenario {
        name: "dilated-line".into(),
        nodes: 5,
        converge_timeout_secs: 20.0,
        topology: discal_simulations::topology::Topology::Line,
        dilation: 3.0,
        ..Scenario::default()
    };
    sc.workload.events = 6;
    sc.workload.rate_per_sec = 4.0;
    sc.link.latency_ms = 40.0;
    sc.link.jitter = 0.0;
    let r = run(&sc, &RunOptions::default())
        .await
        .expect("the run completes");
    assert!(r.passed(), "{}", r.summary());
    assert_eq!(r.delivery_ratio, 1.0);
    // Every other node stores every event: 6 events × 4 nodes, hop counts 1 to 4.
    assert_eq!(r.deliveries.len(), 24, "{:?}", r.deliveries);
    for &(node, _, _, hop, ms) in &r.deliveries {
        let links = 40.0 * f64::from(hop);
        assert!(
            (links..links + 30.0 * f64::from(hop)).contains(&ms),
            "node {node}: {ms:.1} ms for {hop} hops of 40 ms"
        );
    }
    let mut ms: Vec<f64> = r.deliveries.iter().map(|d| d.4).collect();
    ms.sort_by(f64::total_cmp);
    assert_eq!(r.latency_ms.count, ms.len());
    assert_eq!(r.latency_ms.max, ms[ms.len() - 1]);
    assert_eq!(
        r.latency_ms.p50,
        ms[(ms.len() as f64 * 0.5).ceil() as usize - 1]
    );
    let network = r.times.converged.expect("converged");
    assert!(
        r.wall_secs >= 3.0 * network,
        "wall {:.1} s for {network:.1} s of network time at dilation 3",
        r.wall_secs
    );
    assert!(r.summary().contains("dilation 3"), "{}", r.summary());
}
