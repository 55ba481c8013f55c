//! The dependencies a handler receives: ports plus reference data and secrets, built once at
//! cold start (a bad configuration fails there, not mid-request) and shared by every request.

use crate::adapters::local::{LocalFaceId, LocalObjects, LocalQueue, LocalWechat, SystemClock};
use crate::adapters::sqlite::SqliteTable;
use crate::ports::{Clock, IdentityVerifier, ObjectStore, Queue, Table, WechatLogin};
use crate::reference::Reference;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone)]
pub struct Deps {
    pub table: Arc<dyn Table>,
    pub objects: Arc<dyn ObjectStore>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub identity: Arc<dyn IdentityVerifier>,
    pub wechat: Arc<dyn WechatLogin>,
    pub reference: Arc<Reference>,
    /// Key for hashing ID numbers into lookup keys; rotating it orphans the lookups.
    pub id_pepper: Arc<[u8]>,
    pub session_ttl: time::Duration,
}

/// The embedded adapters, kept concrete so the local server can reach what only they have
/// (accepting uploads, draining the queue, minting demo face tokens).
#[derive(Clone)]
pub struct Embedded {
    pub objects: Arc<LocalObjects>,
    pub queue: Arc<LocalQueue>,
    pub face: Arc<LocalFaceId>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error("data directory {dir}: {source}")]
    DataDir { dir: PathBuf, source: std::io::Error },
    #[error("table: {0}")]
    Table(#[from] crate::ports::StoreError),
}

/// Sessions last a working day: long enough to fill the form, short enough that a lost phone's
/// session dies the same day. Logout revokes earlier.
pub const SESSION_HOURS: i64 = 12;

impl Deps {
    /// The embedded default in `dir`: `table.sqlite`, `objects/`, and a secret generated on
    /// first start (`local-secret`), used for ID hashing and for signing local URLs.
    pub fn embedded(dir: &Path, base_url: &str, clock: Arc<dyn Clock>) -> Result<(Deps, Embedded), ConfigError> {
        let io = |source| ConfigError::DataDir { dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir.join("objects")).map_err(io)?;
        let secret_path = dir.join("local-secret");
        let secret = match std::fs::read(&secret_path) {
            Ok(s) if s.len() >= 32 => s,
            _ => {
                let s = crate::random::token(32).into_bytes();
                std::fs::write(&secret_path, &s).map_err(io)?;
                s
            }
        };
        let table = Arc::new(SqliteTable::open(&dir.join("table.sqlite"))?);
        Self::assemble(table, dir, base_url, clock, &secret)
    }

    /// The embedded adapters on an in-memory table (tests, benchmarks).
    pub fn in_memory(objects_dir: &Path, clock: Arc<dyn Clock>) -> Result<(Deps, Embedded), ConfigError> {
        let secret = crate::random::token(32).into_bytes();
        Self::assemble(Arc::new(SqliteTable::in_memory()?), objects_dir, "http://127.0.0.1", clock, &secret)
    }

    fn assemble(
        table: Arc<dyn Table>,
        dir: &Path,
        base_url: &str,
        clock: Arc<dyn Clock>,
        secret: &[u8],
    ) -> Result<(Deps, Embedded), ConfigError> {
        let reference = Arc::new(Reference::load_default()?);
        let objects = Arc::new(LocalObjects::new(&dir.join("objects"), base_url, secret));
        let queue = Arc::new(LocalQueue::default());
        let face = Arc::new(LocalFaceId::new(secret));
        let deps = Deps {
            table,
            objects: objects.clone(),
            queue: queue.clone(),
            clock,
            identity: face.clone(),
            wechat: Arc::new(LocalWechat),
            reference,
            id_pepper: Arc::from(secret),
            session_ttl: time::Duration::hours(SESSION_HOURS),
        };
        Ok((deps, Embedded { objects, queue, face }))
    }

    /// What a Lambda builds at cold start. Until the AWS adapters land, this is the embedded
    /// store under `DATA_DIR` (default `/tmp/exam-data`), which is what `cargo lambda watch` uses.
    pub fn from_env() -> Result<Deps, ConfigError> {
        let dir = std::env::var_os("DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/exam-data"));
        let base = std::env::var("PUBLIC_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
        Ok(Self::embedded(&dir, &base, Arc::new(SystemClock))?.0)
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
