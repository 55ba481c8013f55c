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

/// Logs: one JSON object per line off a terminal (CloudWatch), text on one.
/// `RUST_LOG` filters; the default is `info`.
pub fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // `Targets` takes RUST_LOG's `level` and `target=level` directives (all an operator needs to
    // turn up one crate, e.g. `info,aws_smithy_runtime=debug`) without EnvFilter's regex engine,
    // which cost every cold start its parse and the binary its size.
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, bad) = log_filter(rust_log.as_deref());
    // JSON lines (one object per event, fields at the top level) where a machine reads them —
    // CloudWatch Logs Insights queries `status`, `route`, `request_id` directly; text on a
    // terminal, or with LOG_FORMAT=text.
    let text = std::io::stderr().is_terminal() || std::env::var("LOG_FORMAT").is_ok_and(|v| v == "text");
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    let fmt = if text {
        fmt.with_ansi(std::io::stderr().is_terminal()).boxed()
    } else {
        fmt.json().flatten_event(true).with_current_span(false).with_span_list(false).boxed()
    };
    let _ = tracing_subscriber::registry().with(fmt).with(filter).try_init();
    if let Some(v) = bad {
        tracing::warn!(rust_log = %v, "RUST_LOG is not a list of `level` or `target=level` directives; logging at info");
    }
}

/// The filter `RUST_LOG` asks for, or `info` — and the value when it could not be read as one.
fn log_filter(rust_log: Option<&str>) -> (tracing_subscriber::filter::Targets, Option<&str>) {
    let info = || tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO);
    match rust_log.map(|v| (v, v.parse::<tracing_subscriber::filter::Targets>())) {
        None => (info(), None),
        Some((_, Ok(f))) => (f, None),
        Some((v, Err(_))) => (info(), Some(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_takes_levels_per_target_and_falls_back_to_info_naming_a_bad_value() {
        let (f, bad) = log_filter(Some("warn,aws_smithy_runtime=debug"));
        assert!(bad.is_none());
        assert!(f.would_enable("aws_smithy_runtime::client", &Level::DEBUG));
        assert!(!f.would_enable("login", &Level::INFO));
        assert!(f.would_enable("login", &Level::WARN));

        let (f, bad) = log_filter(None);
        assert!(bad.is_none());
        assert!(f.would_enable("login", &Level::INFO) && !f.would_enable("login", &Level::DEBUG));

        let (f, bad) = log_filter(Some("login=loud"));
        assert_eq!(bad, Some("login=loud"));
        assert!(f.would_enable("login", &Level::INFO) && !f.would_enable("login", &Level::DEBUG));
    }
}
