//! Configuration read at cold start: where each function's adapters get their settings. A
//! Lambda reads the variables the template sets; a missing or malformed one stops the cold start
//! with the variable's name, never the first request, and never by running on another backend.

use std::collections::BTreeMap;

/// Where variables come from: the process environment on Lambda, a map in tests (the deployed
/// shape is tested by building each function from the template's variables without touching
/// the test process's own environment).
pub enum Env {
    Process,
    Map(BTreeMap<String, String>),
}

impl Env {
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Env {
        Env::Map(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// A variable's value; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        match self {
            Env::Process => std::env::var(name).ok(),
            Env::Map(m) => m.get(name).cloned(),
        }
        .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{var} is malformed: {why}")]
    Malformed { var: &'static str, why: String },
    #[error("reading {var}: {why}")]
    Unreadable { var: &'static str, why: String },
    #[error(transparent)]
    Reference(#[from] shared::reference::ReferenceError),
    #[error("{0}")]
    Other(String),
}

impl ConfigError {
    pub fn malformed(var: &'static str, why: impl Into<String>) -> Self {
        ConfigError::Malformed { var, why: why.into() }
    }
}

/// Plain-text logs, one line per event, no ANSI when not on a terminal (CloudWatch).
/// `RUST_LOG` filters; the default is `info`.
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
