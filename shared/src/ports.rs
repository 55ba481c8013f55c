//! Ports: what the handlers need from the outside world, named by intent. Adapters live in
//! `adapters/` (embedded default) and, for AWS, in their own modules; tests pass either.

use crate::error::Refusal;
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A table item: a JSON object with string attributes `pk` and `sk`, an optional numeric `ver`
/// (the optimistic-lock version conditions test), and optional index attributes
/// `gsi1pk`/`gsi1sk` … `gsi3pk`/`gsi3sk` (an item is in an index only when it has both: sparse).
pub type Item = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key { pk: pk.into(), sk: sk.into() }
    }
    /// The key of an item, if it has one.
    pub fn of(item: &Item) -> Option<Key> {
        Some(Key::new(item.get("pk")?.as_str()?, item.get("sk")?.as_str()?))
    }
}

/// The condition a write requires of the item currently stored under its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// Unconditional.
    Always,
    /// No item under the key.
    NotExists,
    /// An item exists under the key.
    Exists,
    /// An item exists and its `ver` equals this.
    Version(u64),
}

#[derive(Debug, Clone)]
pub enum Write {
    Put {
        item: Item,
        cond: Cond,
    },
    Delete {
        key: Key,
        cond: Cond,
    },
    /// Assert a condition on another item without writing it.
    Check {
        key: Key,
        cond: Cond,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Gsi1,
    Gsi2,
    Gsi3,
}

impl Index {
    pub fn attrs(self) -> (&'static str, &'static str) {
        match self {
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Gsi2 => ("gsi2pk", "gsi2sk"),
            Index::Gsi3 => ("gsi3pk", "gsi3sk"),
        }
    }
}

/// A key-range query on the table or one index: equality on the partition key, optional
/// sort-key prefix, ascending or descending by sort key, at most `limit` items per page.
#[derive(Debug, Clone)]
pub struct Query {
    pub index: Option<Index>,
    pub pk: String,
    pub sk_prefix: Option<String>,
    pub descending: bool,
    pub limit: u32,
    /// The `cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct QueryPage {
    pub items: Vec<Item>,
    /// Present while more items may follow. Callers page until it is `None` — a short page does
    /// not mean the end (DynamoDB stops at 1 MB, not at `limit`).
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A condition failed. `at` is the position of the failing write in a transaction (0 for a
    /// single write); `current` is the stored item when the backend returns it.
    #[error("condition failed at write {at}")]
    Conflict { at: usize, current: Option<Box<Item>> },
    /// The backend is throttling; retry later (the SDK already retried).
    #[error("throttled")]
    Throttled,
    /// A stored item does not parse; `key` says which.
    #[error("item {key:?} is corrupt: {detail}")]
    Corrupt { key: Key, detail: String },
    /// The request itself was invalid (a bug on our side, e.g. a transaction over the limits).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Anything else; the string is for the log.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Refusal {
        match e {
            StoreError::Conflict { .. } => Refusal::concurrent(),
            StoreError::Throttled => Refusal::unavailable(),
            other => {
                tracing::error!(error = %other, "store failure");
                Refusal::internal()
            }
        }
    }
}

/// The one key-value table (DynamoDB on AWS, SQLite embedded).
///
/// Contract, identical on every backend:
/// - `get_many` reads up to 100 keys in one round trip; the result is in the order of `keys`.
/// - every write honours its `Cond`; a failed condition is `StoreError::Conflict` and changes
///   nothing;
/// - `transact` applies up to 100 writes on distinct keys all-or-nothing;
/// - `query` pages with an opaque cursor; an item without an index's two attributes is not in
///   that index.
#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;
    async fn put(&self, item: Item, cond: Cond) -> Result<(), StoreError>;
    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), StoreError>;
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError>;
}

/// What an upload URL allows.
#[derive(Debug, Clone)]
pub struct UploadPolicy {
    pub content_type: &'static str,
    pub min_bytes: u64,
    pub max_bytes: u64,
    pub expires_in_secs: u32,
}

/// How the client uploads: `method` to `url`, with `headers` (PUT) or form `fields` (POST).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UploadTicket {
    pub key: String,
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub fields: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
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

/// What a face-ID provider vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub id_type: crate::domain::identity::IdType,
    pub id_number: String,
}

/// Face-ID login (R2): exchange the provider's one-time token for the verified document.
/// An invalid, expired or reused token is a `Refusal` with kind `Unauthorized`.
#[async_trait]
pub trait IdentityVerifier: Send + Sync {
    async fn verify(&self, token: &str) -> Result<VerifiedIdentity, Refusal>;
}

/// Mini-program login (R2): `wx.login` code → openid (jscode2session). The session key never
/// leaves the adapter. Invalid codes are `Unauthorized` refusals; provider faults `Unavailable`.
#[async_trait]
pub trait WechatLogin: Send + Sync {
    async fn openid(&self, code: &str) -> Result<String, Refusal>;
}
