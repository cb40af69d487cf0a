//! `discal-sim`: runs a scenario file and writes its report, CSVs and plots.
// Long functions hide their steps: past clippy.toml's threshold, cut them into named parts.
#![warn(clippy::too_many_lines)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use discal_simulations::{run, RunOptions, Scenario};

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
            let mut sc = Scenario::load(&scenario)?;
            if let Some(s) = seed {
                sc.seed = s;
            }
            if let Some(n) = nodes {
                sc.nodes = n;
            }
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
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
