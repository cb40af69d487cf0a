//! `discal-sim` as a researcher runs it: exit status 0 when the checks pass, 1 when one fails,
//! 2 for a scenario it cannot run; the report files land in `--out`.

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_discal-sim"))
        .args(args)
        .output()
        .expect("discal-sim runs")
}

#[test]
fn exit_status_follows_the_named_checks() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "nodes = 6\nconverge_timeout_secs = 20\n[topology]\nkind = \"ring\"\n\
         [link]\nlatency_ms = 2\n[workload]\nevents = 3\nrate_per_sec = 50\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = sim(&[
        "run",
        good.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("check honest_nodes_converge"), "{stdout}");
    assert!(out.join("report.json").exists() && out.join("latency_cdf.svg").exists());

    // A line of 8 with max_hops 2 cannot converge: the check fails and so does the run.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "nodes = 8\nmax_hops = 2\nconverge_timeout_secs = 3\n[topology]\nkind = \"line\"\n\
         [link]\nlatency_ms = 2\n[timers]\nsync_interval_secs = 1\n\
         [workload]\nevents = 2\nrate_per_sec = 50\n",
    )
    .unwrap();
    let o = sim(&[
        "run",
        bad.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAIL"));

    // An unknown key is an error naming it, with status 2.
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(&wrong, "nodes = 6\nnodez = 7\n").unwrap();
    let o = sim(&["run", wrong.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nodez"), "{err}");
}

/// `discal-sim shadow --no-run` writes a run for Shadow from a scenario; what it cannot run
/// (no discal binary, a scenario with churn) exits 2 with the reason.
#[test]
fn shadow_writes_a_run_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("sc.toml");
    std::fs::write(
        &sc,
        "nodes = 8\n[topology]\nkind = \"ring\"\n[workload]\nevents = 4\nrate_per_sec = 5\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    // Any file stands for the discal binary: the run is only written, not started.
    let bin = env!("CARGO_BIN_EXE_discal-sim");
    let args = |discal: &str| {
        vec![
            "shadow".to_string(),
            sc.display().to_string(),
            "--no-run".into(),
            "--out".into(),
            out.display().to_string(),
            "--discal".into(),
            discal.to_string(),
        ]
    };
    let o = Command::new(bin).args(args(bin)).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("8 hosts, 4 events"), "{stdout}");
    for f in [
        "shadow.yaml",
        "graph.gml",
        "schedule.json",
        "scenario.toml",
        "nodes/n7/config.toml",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }

    let o = Command::new(bin)
        .args(args("/nonexistent/discal"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no discal binary"));

    std::fs::write(&sc, "nodes = 8\n[topology]\nkind = \"ring\"\n[churn]\n").unwrap();
    let o = Command::new(bin).args(args(bin)).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no churn"), "{err}");
}
