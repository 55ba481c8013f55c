//! The embedded adapters, for the local server and tests only (never linked into a Lambda):
//! the SQLite table with DynamoDB's semantics, local-disk objects with signed expiring upload
//! URLs, an in-process queue, controllable clocks, and the WeChat login and face stand-ins —
//! each named as what it is.

pub mod local;
pub mod sqlite;

use local::{LocalFaceStandIn, LocalMiniProgramStandIn, LocalObjects, LocalQueue};
use shared::domain::account::MiniProgram;
use sqlite::SqliteTable;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("data directory {dir}: {source}")]
    DataDir { dir: PathBuf, source: std::io::Error },
    #[error("table: {0}")]
    Table(#[from] store::StoreError),
}

/// The secret of a local installation (ID hashing, signing local URLs, the face stand-in):
/// generated on first start into `<dir>/local-secret`, read afterwards.
pub fn local_secret(dir: &Path) -> Result<Vec<u8>, EmbeddedError> {
    let io = |source| EmbeddedError::DataDir { dir: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir.join("objects")).map_err(io)?;
    let path = dir.join("local-secret");
    match std::fs::read(&path) {
        Ok(s) if s.len() >= 32 => Ok(s),
        _ => {
            let s = shared::random::token(32).into_bytes();
            std::fs::write(&path, &s).map_err(io)?;
            Ok(s)
        }
    }
}

/// The WeChat and face stand-ins and the key of one installation: what the local server uses
/// on either backend in place of WeChat and Secrets Manager.
#[derive(Clone)]
pub struct StandIns {
    pub face: Arc<LocalFaceStandIn>,
    pub wechat: Arc<LocalMiniProgramStandIn>,
    pub baidu: Arc<LocalMiniProgramStandIn>,
    /// Hashes ID documents into candidate ids and signs local URLs.
    pub secret: Arc<[u8]>,
}

impl StandIns {
    /// Those of the installation in `dir` (its `local-secret`, generated on first start).
    pub fn open(dir: &Path) -> Result<StandIns, EmbeddedError> {
        Ok(Self::with(&local_secret(dir)?))
    }

    fn with(secret: &[u8]) -> StandIns {
        StandIns {
            face: Arc::new(LocalFaceStandIn::new(secret)),
            wechat: Arc::new(LocalMiniProgramStandIn(MiniProgram::Wechat)),
            baidu: Arc::new(LocalMiniProgramStandIn(MiniProgram::Baidu)),
            secret: Arc::from(secret),
        }
    }
}

/// Every embedded adapter of one installation, kept concrete so the local server can reach what
/// only they have (accepting uploads, draining the queue).
#[derive(Clone)]
pub struct Embedded {
    pub table: Arc<SqliteTable>,
    pub objects: Arc<LocalObjects>,
    pub queue: Arc<LocalQueue>,
    pub stand_ins: StandIns,
}

impl Embedded {
    /// The installation in `dir`: `table.sqlite`, `objects/`, `local-secret`.
    pub fn open(dir: &Path, base_url: &str) -> Result<Embedded, EmbeddedError> {
        let secret = local_secret(dir)?;
        let table = Arc::new(SqliteTable::open(&dir.join("table.sqlite"))?);
        Ok(Self::with(table, dir, base_url, &secret))
    }

    /// An in-memory table and objects under `dir` (tests, benchmarks).
    pub fn in_memory(dir: &Path) -> Result<Embedded, EmbeddedError> {
        let secret = shared::random::token(32).into_bytes();
        std::fs::create_dir_all(dir.join("objects"))
            .map_err(|source| EmbeddedError::DataDir { dir: dir.to_path_buf(), source })?;
        Ok(Self::with(Arc::new(SqliteTable::in_memory()?), dir, "http://127.0.0.1", &secret))
    }

    fn with(table: Arc<SqliteTable>, dir: &Path, base_url: &str, secret: &[u8]) -> Embedded {
        Embedded {
            table,
            objects: Arc::new(LocalObjects::new(&dir.join("objects"), base_url, secret)),
            queue: Arc::new(LocalQueue::default()),
            stand_ins: StandIns::with(secret),
        }
    }
}
