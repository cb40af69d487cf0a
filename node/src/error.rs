//! Why the node cannot start or a command failed.

/// Why the node cannot start or a command failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The store.
    #[error("store: {0}")]
    Store(#[from] discal_store::StoreError),
    /// Files and sockets: what was being done, and the OS's error.
    #[error("{what}: {source}")]
    Io {
        /// What failed ("http 127.0.0.1:8080", "starting the ingest thread").
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no valid key.
    #[error("{path}: {source}")]
    Key {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        #[source]
        source: discal_protocol::KeyError,
    },
    /// libp2p setup.
    #[error("network: {0}")]
    Net(String),
    /// A blocking start-up step died.
    #[error("start-up task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The node has stopped.
    #[error("node is shutting down")]
    Stopped,
}

impl NodeError {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
