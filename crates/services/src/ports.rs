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
    /// At most `max` bytes of exactly the object version an arrival names, or `None` when that
    /// version is no longer there (replaced: the newer one brings its own arrival).
    async fn read_version(&self, key: &str, version: &ObjectVersion, max: usize)
    -> Result<Option<Vec<u8>>, StoreError>;
    /// Delete that version (every trace of a rejected or already-pinned upload).
    async fn delete(&self, key: &str, version: &ObjectVersion) -> Result<(), StoreError>;
}

/// Which version of an object an arrival is about: S3's version id where the bucket keeps
/// versions, its ETag otherwise (read with `If-Match`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectVersion {
    pub version_id: Option<String>,
    pub etag: Option<String>,
}

impl ObjectVersion {
    /// What the judgement records of it.
    pub fn label(&self) -> String {
        match (&self.version_id, &self.etag) {
            (Some(v), _) => format!("version:{v}"),
            (None, Some(e)) => format!("etag:{e}"),
            (None, None) => "unversioned".into(),
        }
    }
}

/// The object store of a function that composes none (the sweep: lapsing reads no object). Not
/// a stand-in for storage: every call is a bug on our side and answers an error.
pub struct NoObjects;

#[async_trait]
impl ObjectStore for NoObjects {
    async fn upload_url(&self, _: &str, _: &UploadPolicy, _: OffsetDateTime) -> Result<UploadTicket, StoreError> {
        Err(no_objects())
    }
    async fn download_url(&self, _: &str, _: u32, _: OffsetDateTime) -> Result<String, StoreError> {
        Err(no_objects())
    }
    async fn head(&self, _: &str) -> Result<Option<ObjectMeta>, StoreError> {
        Err(no_objects())
    }
    async fn read_prefix(&self, _: &str, _: usize) -> Result<Vec<u8>, StoreError> {
        Err(no_objects())
    }
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), StoreError> {
        Err(no_objects())
    }
    async fn read_version(&self, _: &str, _: &ObjectVersion, _: usize) -> Result<Option<Vec<u8>>, StoreError> {
        Err(no_objects())
    }
    async fn delete(&self, _: &str, _: &ObjectVersion) -> Result<(), StoreError> {
        Err(no_objects())
    }
}

fn no_objects() -> StoreError {
    StoreError::Invalid("this function composes no object store".into())
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
    /// Keep a received message invisible for `delay_secs` before it is delivered again (SQS
    /// `ChangeMessageVisibility`): the back-off of a send WeChat asked us to retry later.
    async fn retry_later(&self, receipt: &str, delay_secs: u32) -> Result<(), StoreError>;
}

/// One subscription message (订阅消息) as WeChat's `subscribeMessage.send` takes it.
#[derive(Clone)]
pub struct Subscription {
    pub openid: String,
    pub template_id: String,
    /// The mini-program page the message opens.
    pub page: String,
    /// Template keys (`thing1`, `time2`, …) and values, already fitted to each key's limit.
    pub data: Vec<(String, String)>,
}

// NOTE: hand-written: the openid identifies a person's WeChat user.
impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("template_id", &self.template_id).finish_non_exhaustive()
    }
}

/// What became of one send, as the consumer must treat it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// Permanent (43101 refused or no quota, 47003, 40003, 40037, 41030): recorded, not retried.
    Refused(i64),
    /// Busy, quota, token trouble, no answer: try again later. The string is for the log.
    RetryLater(String),
}

/// Subscription messages (WeChat's server API; a local recorder for the local server).
#[async_trait]
pub trait SubscriptionSender: Send + Sync {
    async fn send(&self, message: &Subscription) -> SendOutcome;
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
