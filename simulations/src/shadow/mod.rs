//! The cross-check under Shadow (<https://shadow.github.io>): the same scenario as an in-process
//! run, but every node is a real `discal` process on its own simulated host, in virtual time.
//! [`generate`] writes Shadow's config, the network graph and each node's data directory (key,
//! config with its peers) and schedules the workload as `discal event add` processes on the
//! origins; [`collect`] reads the stores and the nodes' `/metrics` back into the same report an
//! in-process run writes. Shadow itself is a tool the researcher installs; `run` calls it.
//!
//! What Shadow cannot model the way the in-process links do is stated in docs/simulations.md:
//! one latency for every pair of hosts (no per-chunk jitter), and payload bytes (the nodes'
//! counters) instead of link bytes.

mod collect;

pub use collect::collect;

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use discal_gateway::Draft;
use discal_node::{Config, Mode, PeerEntry};
use serde_json::json;

pub use crate::run::children_cpu_secs;
use crate::run::{plan, workload, SimError};
use crate::scenario::Scenario;

/// Shadow's clock starts here (2000-01-01T00:00:00Z), in ms since the Unix epoch.
pub const SHADOW_EPOCH_MS: i64 = 946_684_800_000;
/// Every node's peer-to-peer port on its host.
const P2P_PORT: u16 = 4710;
/// Every node's gateway, on its host's loopback.
const HTTP_ADDR: &str = "127.0.0.1:8080";

/// Where the generated run takes its programs from.
#[derive(Clone, Debug)]
pub struct Programs {
    /// The `discal` binary every host runs.
    pub discal: PathBuf,
    /// curl, which reads each node's /metrics before the workload and at the end.
    pub curl: PathBuf,
}

/// The moments of a generated run, in seconds of simulated time.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    /// The workload's first event.
    pub work: f64,
    /// Its last event.
    pub work_end: f64,
    /// The after-scrape of /metrics.
    pub scrape: f64,
    /// Shadow stops.
    pub stop: f64,
    /// Events planned.
    pub events: usize,
}

/// The host address of node `i`: 11.0.0.1, 11.0.0.2, … (Shadow's default range).
pub fn ip_of(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0B00_0001_u32 + i as u32)
}

/// Node `i`'s data directory under `out`.
pub fn node_dir(out: &Path, i: usize) -> PathBuf {
    out.join("nodes").join(format!("n{i}"))
}

/// Refuses what a Shadow run cannot reproduce: the disturbances are driven from inside the
/// in-process simulator, and the node's gossip settings are its defaults there.
fn check_supported(sc: &Scenario) -> Result<(), SimError> {
    let refuse = |what: &str| {
        Err(SimError::Unsupported(format!(
            "a Shadow run has no {what} (baseline shapes only; run it in-process)"
        )))
    };
    if sc.partition.is_some() {
        return refuse("partition");
    }
    if sc.churn.is_some() {
        return refuse("churn");
    }
    if sc.hostile.is_some() {
        return refuse("hostile nodes");
    }
    if sc.proposals.is_some() {
        return refuse("proposals");
    }
    if sc.workload.updates > 0.0 || sc.workload.cancellations > 0.0 {
        return refuse("updates or cancellations");
    }
    let t = discal_node::Tuning::default();
    let g = &sc.gossip;
    if g.native_forwarding
        || g.mesh_n != t.mesh_n
        || g.flood_publish != t.flood_publish
        || g.lazy != t.gossip_lazy
        || sc.timers.heartbeat_ms != t.heartbeat.as_millis() as u64
        || sc.timers.duplicate_cache_secs != t.duplicate_cache.as_secs()
    {
        return refuse("gossip settings other than the node's defaults");
    }
    Ok(())
}

/// Writes the run into `out`: `shadow.yaml`, `graph.gml`, `schedule.json` and one data
/// directory per node. Returns the schedule.
pub fn generate(sc: &Scenario, out: &Path, programs: &Programs) -> Result<Schedule, SimError> {
    sc.check()?;
    check_supported(sc)?;
    let io = |e: std::io::Error| SimError::Io(e.to_string());
    let n = sc.nodes;
    let mut p = plan(sc)?;
    let adj = crate::topology::adjacency(n, &p.edges);
    for (i, neighbours) in adj.iter().enumerate() {
        let dir = node_dir(out, i);
        std::fs::create_dir_all(&dir).map_err(io)?;
        discal_node::identity::write_durably(
            &dir.join(discal_node::identity::KEY_FILE),
            &p.secrets[i],
            0o600,
        )
        .map_err(io)?;
        let config = node_config(sc, i, neighbours, &p.keys);
        let text = toml::to_string(&config).map_err(|e| SimError::Io(e.to_string()))?;
        std::fs::write(dir.join("config.toml"), text).map_err(io)?;
    }
    let publishers: Vec<usize> = (0..n).collect();
    let drafts = workload::drafts(sc, &mut p.rng, &publishers);
    // The mesh forms first (every node dials within a second; redials back off to
    // `redial_max_secs`), as the in-process run waits for every link before its workload.
    let work = (5.0 + n as f64 / 20.0).round();
    let work_end = work + drafts.len().saturating_sub(1) as f64 / sc.workload.rate_per_sec;
    let stop = (work_end + sc.converge_timeout_secs.min(60.0) + 5.0).ceil();
    let schedule = Schedule {
        work,
        work_end,
        scrape: stop - 3.0,
        stop,
        events: drafts.len(),
    };
    let config = shadow_config(sc, out, programs, &schedule, &drafts);
    let yaml = serde_json::to_string_pretty(&config).map_err(|e| SimError::Io(e.to_string()))?;
    // JSON is YAML: Shadow reads it as its config.
    std::fs::write(out.join("shadow.yaml"), yaml).map_err(io)?;
    std::fs::write(out.join("graph.gml"), graph(sc)).map_err(io)?;
    let sched = serde_json::to_vec_pretty(&schedule).map_err(|e| SimError::Io(e.to_string()))?;
    std::fs::write(out.join("schedule.json"), sched).map_err(io)?;
    let scenario = toml::to_string(sc).map_err(|e| SimError::Io(e.to_string()))?;
    std::fs::write(out.join("scenario.toml"), scenario).map_err(io)?;
    Ok(schedule)
}

/// Node `i`'s config: the in-process run's, with TCP on its host's address.
fn node_config(
    sc: &Scenario,
    i: usize,
    adj: &[usize],
    keys: &[discal_protocol::NodeKey],
) -> Config {
    let addr = |j: usize| format!("/ip4/{}/tcp/{P2P_PORT}", ip_of(j));
    Config {
        listen: vec![addr(i)],
        http: HTTP_ADDR.into(),
        mode: Mode::Closed,
        max_hops: sc.max_hops,
        sync_interval_secs: sc.timers.sync_interval_secs.max(1),
        redial_max_secs: sc.timers.redial_max_secs.max(1),
        name: format!("sim-{i}"),
        // One side of each link dials (the lower index), as in-process.
        peers: adj
            .iter()
            .map(|&j| PeerEntry {
                key: keys[j].to_string(),
                address: (i < j).then(|| addr(j)),
                name: None,
            })
            .collect(),
        ..Config::default()
    }
}

/// One graph node that every host attaches to, with a self-loop of the scenario's latency:
/// every pair of hosts is one link apart, as every peer pair is in-process.
fn graph(sc: &Scenario) -> String {
    let bw = if sc.link.bandwidth == 0 {
        "10 Gbit".to_string()
    } else {
        format!("{} Kbit", (sc.link.bandwidth * 8).div_ceil(1000))
    };
    let mut g = String::from("graph [\n  directed 0\n");
    let _ = writeln!(
        g,
        "  node [\n    id 0\n    host_bandwidth_down \"{bw}\"\n    host_bandwidth_up \"{bw}\"\n  ]"
    );
    let _ = writeln!(
        g,
        "  edge [\n    source 0\n    target 0\n    latency \"{} us\"\n    packet_loss {:.6}\n  ]",
        (sc.link.latency_ms * 1000.0).round() as u64,
        sc.link.loss
    );
    g.push_str("]\n");
    g
}

fn secs(t: f64) -> String {
    format!("{}ms", (t * 1000.0).round() as u64)
}

/// Shadow's config: every host runs `discal run` from the start, its share of the workload as
/// `discal event add` processes, and two curl scrapes of /metrics.
fn shadow_config(
    sc: &Scenario,
    out: &Path,
    programs: &Programs,
    s: &Schedule,
    drafts: &[(usize, Draft)],
) -> serde_json::Value {
    let discal = programs.discal.display().to_string();
    let curl = programs.curl.display().to_string();
    let mut hosts = serde_json::Map::new();
    for i in 0..sc.nodes {
        let dir = node_dir(out, i).display().to_string();
        let scrape = |at: f64, file: &str| {
            json!({
                "path": curl,
                "args": ["-s", "-m", "2", "-o", format!("{dir}/{file}"),
                         format!("http://{HTTP_ADDR}/metrics")],
                "start_time": secs(at),
            })
        };
        let mut procs = vec![
            json!({
                "path": discal,
                "args": ["run", "--data-dir", dir],
                "environment": {"RUST_LOG": "warn"},
                "start_time": secs(i as f64 / sc.nodes as f64),
                "shutdown_time": secs(s.stop - 2.0),
                "shutdown_signal": "SIGTERM",
                "expected_final_state": {"exited": 0},
            }),
            scrape(s.work - 0.5, "metrics-before.txt"),
            scrape(s.scrape, "metrics-after.txt"),
        ];
        for (k, (origin, d)) in drafts.iter().enumerate() {
            if *origin == i {
                let at = s.work + k as f64 / sc.workload.rate_per_sec;
                let mut args = vec![
                    "event".to_string(),
                    "add".into(),
                    "--data-dir".into(),
                    dir.clone(),
                ];
                args.extend(draft_args(d));
                procs.push(json!({"path": discal, "args": args, "start_time": secs(at)}));
            }
        }
        hosts.insert(
            format!("n{i}"),
            json!({"network_node_id": 0, "ip_addr": ip_of(i).to_string(), "processes": procs}),
        );
    }
    json!({
        "general": {
            "stop_time": secs(s.stop),
            "seed": sc.seed,
            "model_unblocked_syscall_latency": true,
            "data_directory": out.join("shadow.data").display().to_string(),
            "heartbeat_interval": "10s",
        },
        // Without it a thread that spins without a system call never yields to Shadow
        // (../shared/notes/shadow.md: the run hung at 1 s of simulated time).
        "experimental": {"native_preemption_enabled": true},
        "network": {"graph": {"type": "gml", "file": {"path": out.join("graph.gml").display().to_string()}}},
        "hosts": hosts,
    })
}

/// `discal event add` flags for a draft.
fn draft_args(d: &Draft) -> Vec<String> {
    let mut a = Vec::new();
    let mut put = |flag: &str, v: &Option<String>| {
        if let Some(v) = v {
            a.push(format!("--{flag}"));
            a.push(v.clone());
        }
    };
    put("title", &d.title);
    put("start", &d.start);
    put("end", &d.end);
    put("duration", &d.duration);
    put("tz", &d.tz);
    put("rrule", &d.rrule);
    put("location", &d.location);
    put("geo", &d.geo);
    put("url", &d.url);
    put("description", &d.description);
    put("tags", &d.tags.as_ref().map(|t| t.join(",")));
    a
}

/// Runs Shadow on a generated directory; Shadow's own output goes to `shadow.log` there.
pub fn run_shadow(shadow: &Path, out: &Path) -> Result<(), SimError> {
    let io = |e: std::io::Error| SimError::Io(format!("running {}: {e}", shadow.display()));
    let data = out.join("shadow.data");
    if data.exists() {
        std::fs::remove_dir_all(&data).map_err(io)?;
    }
    let log = std::fs::File::create(out.join("shadow.log")).map_err(io)?;
    let status = std::process::Command::new(shadow)
        .arg(out.join("shadow.yaml"))
        .stdout(log.try_clone().map_err(io)?)
        .stderr(log)
        .status()
        .map_err(io)?;
    if !status.success() {
        // A process that ended otherwise than expected makes Shadow fail, but the stores
        // still say what was delivered; the report is still worth reading.
        tracing::warn!(
            "shadow exited with {status}; see {}",
            out.join("shadow.log").display()
        );
    }
    Ok(())
}
