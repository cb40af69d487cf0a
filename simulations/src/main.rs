//! `discal-sim`: runs a scenario file and writes its report, CSVs and plots.
// Long functions hide their steps: past clippy.toml's threshold, cut them into named parts.
#![warn(clippy::too_many_lines)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use discal_simulations::{run, shadow, RunOptions, Scenario};

#[derive(Parser)]
#[command(
    name = "discal-sim",
    version,
    about = "Runs many real DisCal nodes in one process and measures the network",
    after_help = "Examples:\n  discal-sim run simulations/scenarios/baseline-1000.toml\n  discal-sim run simulations/scenarios/partition-200.toml --seed 7 --out results/partition\n  discal-sim run simulations/scenarios/baseline-1000.toml --dilation 20\n  discal-sim defaults > my-scenario.toml\n\nExit status: 0 when every named check passed, 1 when one failed, 2 on an error."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs a scenario (TOML; see `discal-sim defaults` for every key).
    #[command(
        after_help = "Example:\n  discal-sim run simulations/scenarios/churn-200.toml --nodes 100 --out /tmp/churn"
    )]
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// Overrides the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Overrides the scenario's node count.
        #[arg(long)]
        nodes: Option<usize>,
        /// Overrides the scenario's time dilation (every clock of the run this many times
        /// slower; the report is in network time).
        #[arg(long)]
        dilation: Option<f64>,
        /// Where report.json, the CSVs and the SVG plots go.
        #[arg(long, default_value = "sim-results")]
        out: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Runs a scenario under Shadow instead: every node a real `discal` process on its own
    /// simulated host, in virtual time (a cross-check of the in-process method; baseline
    /// shapes only). Writes Shadow's config into OUT, runs Shadow, and reads the stores and
    /// counters back into the same report.
    #[command(
        after_help = "Example:\n  cargo build --release -p discal-node -p discal-simulations\n  target/release/discal-sim shadow simulations/scenarios/baseline-1000.toml --nodes 100 --out /tmp/shadow-100\n\nShadow is not bundled: install it (https://shadow.github.io) and put it on PATH or pass --shadow."
    )]
    Shadow {
        /// The scenario file.
        scenario: PathBuf,
        /// Overrides the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Overrides the scenario's node count.
        #[arg(long)]
        nodes: Option<usize>,
        /// Where the config, the nodes' data, Shadow's output and the report go.
        #[arg(long, default_value = "shadow-results")]
        out: PathBuf,
        /// The shadow binary.
        #[arg(long, default_value = "shadow")]
        shadow: PathBuf,
        /// The discal binary the hosts run (default: next to this program).
        #[arg(long)]
        discal: Option<PathBuf>,
        /// curl, which reads each node's /metrics.
        #[arg(long, default_value = "/usr/bin/curl")]
        curl: PathBuf,
        /// Only write the files; run Shadow yourself, then `discal-sim shadow-report OUT`.
        #[arg(long)]
        no_run: bool,
    },
    /// Reads a finished Shadow run (see `shadow`) into its report.
    #[command(after_help = "Example:\n  discal-sim shadow-report /tmp/shadow-100")]
    ShadowReport {
        /// The directory `shadow --out` wrote.
        dir: PathBuf,
    },
    /// Prints a scenario with every key at its default.
    #[command(after_help = "Example:\n  discal-sim defaults > scenario.toml")]
    Defaults,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("discal-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    match Cli::parse().cmd {
        Cmd::Defaults => {
            let sc = Scenario {
                partition: Some(Default::default()),
                churn: Some(Default::default()),
                hostile: Some(Default::default()),
                ..Scenario::default()
            };
            println!(
                "# Every key of a discal-sim scenario at its default. [partition], [churn] and\n\
                 # [hostile] are off unless present; delete the ones you do not want.\n{}",
                toml::to_string_pretty(&sc)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            scenario,
            seed,
            nodes,
            dilation,
            out,
            quiet,
        } => {
            let mut sc = load(&scenario, seed, nodes)?;
            if let Some(k) = dilation {
                sc.dilation = k;
            }
            sc.check()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = rt.block_on(run(&sc, &RunOptions { progress: !quiet }))?;
            // Nodes' threads and tasks are stopped; don't wait for stragglers.
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
            report.write(&out)?;
            print!("{}", report.summary());
            println!("results in {}", out.display());
            Ok(verdict(&report))
        }
        Cmd::Shadow {
            scenario,
            seed,
            nodes,
            out,
            shadow,
            discal,
            curl,
            no_run,
        } => {
            let sc = load(&scenario, seed, nodes)?;
            shadow_run(&sc, &out, &shadow, discal, curl, no_run)
        }
        Cmd::ShadowReport { dir } => {
            let report = shadow::collect(&dir)?;
            report.write(&dir)?;
            print!("{}", report.summary());
            println!("results in {}", dir.display());
            Ok(verdict(&report))
        }
    }
}

/// `discal-sim shadow`: generate, run Shadow, read the report back.
fn shadow_run(
    sc: &Scenario,
    out: &std::path::Path,
    shadow_bin: &std::path::Path,
    discal: Option<PathBuf>,
    curl: PathBuf,
    no_run: bool,
) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out).map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
    // Shadow starts every process from its own working directory: paths must be whole.
    let out = std::path::absolute(out)?;
    let discal = match discal {
        Some(d) => d,
        None => std::env::current_exe()?.with_file_name("discal"),
    };
    anyhow::ensure!(
        discal.is_file(),
        "no discal binary at {} (build it: cargo build --release -p discal-node, or pass --discal)",
        discal.display()
    );
    let programs = shadow::Programs {
        discal: std::path::absolute(discal)?,
        curl,
    };
    let s = shadow::generate(sc, &out, &programs)?;
    println!(
        "wrote {} ({} hosts, {} events from {:.1} s to {:.1} s, stop at {:.0} s)",
        out.join("shadow.yaml").display(),
        sc.nodes,
        s.events,
        s.work,
        s.work_end,
        s.stop
    );
    if no_run {
        println!(
            "then: shadow {}; discal-sim shadow-report {}",
            out.join("shadow.yaml").display(),
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    shadow::run_shadow(shadow_bin, &out)?;
    let mut report = shadow::collect(&out)?;
    report.wall_secs = started.elapsed().as_secs_f64();
    report.cpu_secs = shadow::children_cpu_secs();
    report.write(&out)?;
    print!("{}", report.summary());
    println!("results in {}", out.display());
    Ok(verdict(&report))
}

/// A scenario file with the command line's overrides.
fn load(
    path: &std::path::Path,
    seed: Option<u64>,
    nodes: Option<usize>,
) -> anyhow::Result<Scenario> {
    let mut sc = Scenario::load(path)?;
    if let Some(s) = seed {
        sc.seed = s;
    }
    if let Some(n) = nodes {
        sc.nodes = n;
    }
    Ok(sc)
}

fn verdict(report: &discal_simulations::Report) -> ExitCode {
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
