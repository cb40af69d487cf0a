//! `discal run`: the node, until Ctrl-C or SIGTERM (SIGHUP reloads the config).

use std::io::Write;

use anyhow::{Context, Result};
use discal_node::{Node, NodeOptions};

use crate::args::Common;

pub fn cmd_run(common: Common, http: Option<String>, listen: Vec<String>) -> Result<()> {
    let data_dir = common.data_dir();
    let path = common.config_path();
    let mut cfg = common.load()?;
    if let Some(h) = http {
        cfg.http = h;
    }
    if !listen.is_empty() {
        cfg.listen = listen;
    }
    cfg.check()?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut opts = NodeOptions::new(cfg, Some(data_dir.clone()));
        opts.config_path = Some(path);
        let node = Node::spawn(opts).await?;
        say!("{}", node.key());
        eprintln!(
            "discal node running\n  data:  {}\n  http:  http://{}/feed.ics\n  peers: {}",
            data_dir.display(),
            node.http_addr(),
            node.listen_addrs()
                .iter()
                .map(|a| format!("{a}/p2p/{}", node.key()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let failed = tokio::select! {
            () = wait_for_stop(&node) => None,
            why = node.failed() => Some(why),
        };
        node.shutdown().await;
        match failed {
            // A supervisor (systemd's Restart=on-failure) restarts the node, and opening the
            // store repairs whatever the failure left half written.
            Some(why) => anyhow::bail!(
                "the node stopped: {why}. Start it again; opening the store repairs an interrupted write."
            ),
            None => Ok::<(), anyhow::Error>(()),
        }
    })
}

#[cfg(unix)]
async fn wait_for_stop(node: &discal_node::NodeHandle) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hup.recv() => {
                if let Err(e) = node.reload().await {
                    tracing::warn!("reload: {e}");
                }
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_stop(_node: &discal_node::NodeHandle) {
    let _ = tokio::signal::ctrl_c().await;
}
