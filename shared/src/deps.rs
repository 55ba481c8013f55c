//! The dependencies a handler receives: ports plus reference data and secrets, built once at
//! cold start (a bad configuration fails there, not mid-request) and shared by every request.

use crate::adapters::dynamo::DynamoTable;
use crate::adapters::local::{LocalFaceId, LocalObjects, LocalQueue, LocalWechat, SystemClock};
use crate::adapters::s3::S3Objects;
use crate::adapters::sdk::OnFirstUse;
use crate::adapters::sqlite::SqliteTable;
use crate::adapters::sqs::SqsQueue;
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

/// The secret of a local installation (ID hashing, signing local URLs, face-token stand-in):
/// generated on first start into `<dir>/local-secret`, read afterwards.
pub fn local_secret(dir: &Path) -> Result<Vec<u8>, ConfigError> {
    let io = |source| ConfigError::DataDir { dir: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir.join("objects")).map_err(io)?;
    let path = dir.join("local-secret");
    match std::fs::read(&path) {
        Ok(s) if s.len() >= 32 => Ok(s),
        _ => {
            let s = crate::random::token(32).into_bytes();
            std::fs::write(&path, &s).map_err(io)?;
            Ok(s)
        }
    }
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
    #[error("configuration: {0}")]
    Env(String),
}

/// Sessions last a working day: long enough to fill the form, short enough that a lost phone's
/// session dies the same day. Logout revokes earlier.
pub const SESSION_HOURS: i64 = 12;

impl Deps {
    /// The embedded default in `dir`: `table.sqlite`, `objects/`, and a secret generated on
    /// first start (`local-secret`), used for ID hashing and for signing local URLs.
    pub fn embedded(dir: &Path, base_url: &str, clock: Arc<dyn Clock>) -> Result<(Deps, Embedded), ConfigError> {
        let secret = local_secret(dir)?;
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

    /// The AWS adapters (DynamoDB, S3, SQS) on one hand-built SDK config (`adapters::sdk`). The
    /// table's connection is opened in init only under provisioned concurrency ([`WarmUp`]).
    /// The queue is not warmed: no function sends to it yet, and none holds an SQS permission it
    /// doesn't use — the reminder work warms it (`SqsQueue::warm`) in the functions that send.
    pub async fn aws(
        settings: &AwsSettings,
        clock: Arc<dyn Clock>,
        identity: Arc<dyn IdentityVerifier>,
        wechat: Arc<dyn WechatLogin>,
        id_pepper: &[u8],
    ) -> Result<Deps, ConfigError> {
        let sdk = crate::adapters::sdk::config(settings.endpoint.as_deref())?;
        Self::aws_with(&sdk, settings, clock, identity, wechat, id_pepper).await
    }

    async fn aws_with(
        sdk: &aws_types::SdkConfig,
        settings: &AwsSettings,
        clock: Arc<dyn Clock>,
        identity: Arc<dyn IdentityVerifier>,
        wechat: Arc<dyn WechatLogin>,
        id_pepper: &[u8],
    ) -> Result<Deps, ConfigError> {
        // Init phases, in microseconds since the adapters started (`RUST_LOG=debug`).
        let started = std::time::Instant::now();
        let region = sdk.region().map(ToString::to_string).unwrap_or_default();
        let credentials =
            sdk.credentials_provider().ok_or_else(|| ConfigError::Env("no AWS credentials provider".into()))?;
        // Each SDK client is built on first use (a few hundred microseconds each): the table's by
        // the warm-up below or the first request, S3 and SQS only on the paths that need them.
        let conf = sdk.clone();
        let dynamo = OnFirstUse::new(move || aws_sdk_dynamodb::Client::new(&conf));
        // Emulators serve buckets by path; AWS by virtual host.
        let (conf, path_style) = (sdk.clone(), settings.endpoint.is_some());
        let s3 = OnFirstUse::new(move || {
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(path_style).build())
        });
        let conf = sdk.clone();
        let sqs = OnFirstUse::new(move || aws_sdk_sqs::Client::new(&conf));
        let table = Arc::new(DynamoTable::new(dynamo, &settings.table));
        let queue = Arc::new(SqsQueue::new(sqs, &settings.queue_url));
        tracing::debug!(us = started.elapsed().as_micros() as u64, "init: adapters ready");
        if WarmUp::from_env() == WarmUp::Wait {
            table.warm().await;
            tracing::debug!(us = started.elapsed().as_micros() as u64, "init: table connection warm");
        }
        let objects =
            Arc::new(S3Objects::new(s3, &settings.bucket, &region, credentials, settings.endpoint.as_deref()));
        Ok(Deps {
            table,
            objects,
            queue,
            clock,
            identity,
            wechat,
            reference: {
                let r = Arc::new(Reference::load_default()?);
                tracing::debug!(us = started.elapsed().as_micros() as u64, "init: reference data loaded");
                r
            },
            id_pepper: Arc::from(id_pepper),
            session_ttl: time::Duration::hours(SESSION_HOURS),
        })
    }

    /// What a Lambda builds at cold start: the AWS adapters when `TABLE_NAME` is set (with
    /// `BUCKET_NAME`, `QUEUE_URL`, `ID_PEPPER_SECRET_ARN` or `ID_PEPPER`, and `AWS_ENDPOINT_URL`
    /// for an emulator), else the
    /// embedded store under `DATA_DIR` (default `/tmp/exam-data`), which `cargo lambda watch` uses.
    pub async fn from_env() -> Result<Deps, ConfigError> {
        match AwsSettings::from_env()? {
            Some(settings) => {
                tracing::debug!("init: start");
                let sdk = crate::adapters::sdk::config(settings.endpoint.as_deref())?;
                let pepper = id_pepper(&sdk).await?;
                if pepper.len() < 32 {
                    return Err(ConfigError::Env("the ID pepper must be at least 32 characters".into()));
                }
                let unconfigured = Arc::new(Unconfigured);
                let (clock, pepper) = (Arc::new(SystemClock), pepper.as_bytes());
                Self::aws_with(&sdk, &settings, clock, unconfigured.clone(), unconfigured, pepper).await
            }
            None => {
                let dir =
                    std::env::var_os("DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/exam-data"));
                let base = std::env::var("PUBLIC_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
                Ok(Self::embedded(&dir, &base, Arc::new(SystemClock))?.0)
            }
        }
    }
}

/// The key candidate ids are hashed with: from Secrets Manager (`ID_PEPPER_SECRET_ARN`) on AWS,
/// so it never sits in the function's configuration in clear; `ID_PEPPER` directly elsewhere.
async fn id_pepper(sdk: &aws_types::SdkConfig) -> Result<String, ConfigError> {
    if let Ok(arn) = std::env::var("ID_PEPPER_SECRET_ARN") {
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        let out = client.get_secret_value().secret_id(&arn).send().await.map_err(|e| {
            ConfigError::Env(format!(
                "reading the ID pepper secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))
        })?;
        return out.secret_string.ok_or_else(|| ConfigError::Env("the ID pepper secret has no string value".into()));
    }
    std::env::var("ID_PEPPER").map_err(|_| ConfigError::Env("neither ID_PEPPER_SECRET_ARN nor ID_PEPPER is set".into()))
}

/// Whether init opens the table connection (DNS, TCP, TLS) before the first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WarmUp {
    /// On demand (the default): the invocation that caused the cold start is already waiting
    /// for init, and its first table call would wait for the same handshake, so an extra call in
    /// init only adds a round trip and CPU to the cold start (and one for a first request that
    /// never reads the table). The first table call opens the connection.
    Off,
    /// Provisioned concurrency: init runs ahead of any request and is pre-paid, so the
    /// handshake happens there and no request waits for it. `WARM_CONNECTIONS=1` forces it.
    Wait,
}

impl WarmUp {
    fn from_env() -> WarmUp {
        let warm = std::env::var("WARM_CONNECTIONS").ok();
        Self::decide(warm.as_deref(), std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").ok().as_deref())
    }

    fn decide(warm: Option<&str>, init_type: Option<&str>) -> WarmUp {
        match (warm, init_type) {
            (Some("0"), _) => WarmUp::Off,
            (Some("1"), _) | (_, Some("provisioned-concurrency" | "snap-start")) => WarmUp::Wait,
            _ => WarmUp::Off,
        }
    }
}

/// Where the AWS resources are.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub table: String,
    pub bucket: String,
    pub queue_url: String,
    /// An emulator's endpoint (moto); `None` on AWS.
    pub endpoint: Option<String>,
}

impl AwsSettings {
    /// `Some` when `TABLE_NAME` is set; then `BUCKET_NAME` and `QUEUE_URL` are required too.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let Ok(table) = std::env::var("TABLE_NAME") else { return Ok(None) };
        let need = |name: &str| std::env::var(name).map_err(|_| ConfigError::Env(format!("{name} is not set")));
        Ok(Some(AwsSettings {
            table,
            bucket: need("BUCKET_NAME")?,
            queue_url: need("QUEUE_URL")?,
            endpoint: std::env::var("AWS_ENDPOINT_URL").ok().filter(|e| !e.is_empty()),
        }))
    }
}

/// Face-ID or WeChat login where no real provider adapter is configured: refuses honestly
/// (503) instead of trusting a stand-in that would accept anything.
pub struct Unconfigured;

fn login_unavailable() -> crate::error::Refusal {
    crate::error::Refusal::new(
        crate::error::Kind::Unavailable,
        "LOGIN_METHOD_UNAVAILABLE",
        "该登录方式暂不可用,请使用账号密码登录",
    )
}

#[async_trait::async_trait]
impl IdentityVerifier for Unconfigured {
    async fn verify(&self, _token: &str) -> Result<crate::ports::VerifiedIdentity, crate::error::Refusal> {
        Err(login_unavailable())
    }
}

#[async_trait::async_trait]
impl WechatLogin for Unconfigured {
    async fn openid(&self, _code: &str) -> Result<String, crate::error::Refusal> {
        Err(login_unavailable())
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

#[cfg(test)]
mod tests {
    use super::WarmUp;

    #[test]
    fn warm_up_waits_only_where_init_is_prepaid() {
        assert_eq!(WarmUp::decide(None, Some("provisioned-concurrency")), WarmUp::Wait);
        assert_eq!(WarmUp::decide(None, Some("on-demand")), WarmUp::Off);
        assert_eq!(WarmUp::decide(None, None), WarmUp::Off);
        assert_eq!(WarmUp::decide(Some("1"), Some("on-demand")), WarmUp::Wait);
        // Switched off wins over every initialisation type.
        assert_eq!(WarmUp::decide(Some("0"), Some("provisioned-concurrency")), WarmUp::Off);
    }
}
