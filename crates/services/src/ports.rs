//! Ports the services need besides the table, named by intent: object storage, the reminder
//! queue, the clock, mini-program login and face verification. Adapters: `aws-adapters` (S3,
//! SQS), `wechat` (the WeChat server APIs), `embedded` (local disk, in-process, stand-ins).

use async_trait::async_trait;
use shared::error::Refusal;
use std::collections::BTreeMap;
use store::StoreError;
use time::OffsetDateTime;

/// What an upload URL allows.
#[derive(Debug, Clone)]
pub struct UploadPolicy {
    pub content_type: &'static str,
    pub min_bytes: u64,
    pub max_bytes: u64,
    pub expires_in_secs: u32,
}

/// How the client uploads: `method` to `url`, with `headers` (PUT) or form `fields` (POST).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadTicket {
    pub key: String,
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub fields: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub bytes: u64,
    pub content_type: Option<String>,
}

/// Object storage for photos and proofs (S3 on AWS, local disk embedded).
///
/// Contract: `upload_url` signs a URL that accepts exactly one object at `key` within the policy
/// until it expires; the URL itself is a secret (never logged). `head` is `None` when absent.
/// Uploaded content is untrusted: callers check size and magic bytes after upload.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn upload_url(
        &self,
        key: &str,
        policy: &UploadPolicy,
        now: OffsetDateTime,
    ) -> Result<UploadTicket, StoreError>;
    async fn download_url(&self, key: &str, expires_in_secs: u32, now: OffsetDateTime) -> Result<String, StoreError>;
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// The first `max` bytes of an object (magic bytes, image header).
    async fn read_prefix(&self, key: &str, max: usize) -> Result<Vec<u8>, StoreError>;
    /// Store exactly these bytes under `key` (an accepted upload, pinned: see `services::photo`).
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub body: String,
    pub delay_secs: u32,
    pub attributes: BTreeMap<String, String>,
}

/// The reminder queue (SQS on AWS). At-least-once: consumers must be idempotent.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Send up to 10 messages; all are accepted or an error says none were.
    async fn send(&self, messages: Vec<QueueMessage>) -> Result<(), StoreError>;
}

/// The time, injectable so deadlines are testable.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock (what every Lambda uses).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Mini-program login (R2): the login code → that program's openid (WeChat `jscode2session`,
/// Baidu `jscode2sessionkey`). The session key never leaves the adapter. Invalid codes are
/// `Unauthorized` refusals; provider faults `Unavailable`.
#[async_trait]
pub trait MiniProgramLogin: Send + Sync {
    async fn openid(&self, code: &str) -> Result<String, Refusal>;
}

/// Starting a face verification (WeChat 人脸核身 2.0 `getVerifyId`): the certificate the face
/// must match and the WeChat user who will look into the camera.
pub struct FaceStart {
    /// Ours, unique per attempt (5–32 of `[0-9A-Za-z_-]`); the provider echoes it on query.
    pub out_seq_no: String,
    pub cert_name: String,
    pub cert_no: String,
    pub openid: String,
}

// NOTE: hand-written so a name or ID number never reaches a log through `{:?}` (PIPL).
impl std::fmt::Debug for FaceStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceStart").field("out_seq_no", &self.out_seq_no).finish_non_exhaustive()
    }
}

/// What the mini-program passes to `wx.requestFacialVerify`.
#[derive(Clone)]
pub struct FaceTicket {
    pub verify_id: String,
    pub expires_in_secs: u32,
}

/// Asking the provider for the result of one attempt (`queryVerifyInfo`): every field must
/// match what the attempt was started with, or the provider refuses.
#[derive(Debug, Clone)]
pub struct FaceQuery {
    pub verify_id: String,
    pub out_seq_no: String,
    /// [`cert_hash`] of the certificate the attempt was started with.
    pub cert_hash: String,
    pub openid: String,
}

/// The provider's verdict on one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceVerdict {
    /// The face matched the certificate (`verify_ret` 10000).
    Passed,
    /// Not passed: cancelled, not matched, timed out (`verify_ret` 90001–90199); the number is
    /// kept for the log.
    Failed(u32),
}

/// Face verification (R2). The server starts the attempt and asks the provider for the
/// result: what the mini-program reports is never trusted.
#[async_trait]
pub trait FaceVerifier: Send + Sync {
    async fn start(&self, start: &FaceStart) -> Result<FaceTicket, Refusal>;
    async fn verdict(&self, query: &FaceQuery) -> Result<FaceVerdict, Refusal>;
}

/// WeChat's `cert_hash`: SHA-256 (lowercase hex) of
/// `cert_type=<b64>&cert_name=<b64>&cert_no=<b64>`, each value standard base64 of its UTF-8.
pub fn cert_hash(cert_type: &str, cert_name: &str, cert_no: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let b = |v: &str| base64::engine::general_purpose::STANDARD.encode(v.as_bytes());
    let joined = format!("cert_type={}&cert_name={}&cert_no={}", b(cert_type), b(cert_name), b(cert_no));
    sha2::Sha256::digest(joined.as_bytes()).iter().map(|x| format!("{x:02x}")).collect()
}
