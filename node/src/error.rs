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
    /// A secret file others may read.
    #[error("{path} is readable by others (mode {mode:o}); make it private: chmod 600 {path}")]
    Exposed {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The store is locked by another process (a running node), which did not answer.
    #[error("the store in {0} is in use by another process (a running node?); stop it, or ask it over its HTTP API")]
    StoreInUse(std::path::PathBuf),
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
