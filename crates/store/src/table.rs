//! The table port: the one key-value table every function keeps its state in, with the contract
//! every backend (DynamoDB on AWS, SQLite embedded) honours — see [`Table`].

use async_trait::async_trait;
use serde_json::{Map, Value};
use shared::error::Refusal;

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
    /// No item, or its `lease` attribute (Unix seconds) is below this: a claim whose holder's
    /// time ran out may be taken over (the reminder consumer's processed-marker).
    LeaseBefore(i64),
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
    /// Only sort keys after this one (ascending) or before it (descending), exclusive: a
    /// position the caller can state and check itself (a work queue's "after this entry"), where
    /// the backend's opaque cursor would have to be trusted. Not combined with `sk_prefix`.
    pub sk_after: Option<String>,
    /// Only sort keys from the first to the second, both inclusive (the sweep's "deadline up to
    /// now"). Not combined with `sk_prefix` or `sk_after`.
    pub sk_between: Option<(String, String)>,
}

impl Query {
    /// The first page of `pk` (on `index`, or the table), ascending, `limit` items.
    pub fn of(index: Option<Index>, pk: impl Into<String>, limit: u32) -> Query {
        Query {
            index,
            pk: pk.into(),
            sk_prefix: None,
            descending: false,
            limit,
            cursor: None,
            sk_after: None,
            sk_between: None,
        }
    }
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

/// The idempotency token of a transaction (DynamoDB's `ClientRequestToken`): derived from its
/// writes, so the same transaction sent again — an SDK retry after a response lost in flight, a
/// client's retry of the same request — is recognised and answered with the committed result
/// rather than failing its own, already-met, version conditions. 36 hex characters (the limit).
pub fn request_token(writes: &[Write]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for w in writes {
        let (tag, key, cond, item) = match w {
            Write::Put { item, cond } => ("put", Key::of(item), cond, Some(item)),
            Write::Delete { key, cond } => ("delete", Some(key.clone()), cond, None),
            Write::Check { key, cond } => ("check", Some(key.clone()), cond, None),
        };
        h.update(format!("{tag}\0{key:?}\0{cond:?}\0").as_bytes());
        if let Some(item) = item {
            h.update(Value::Object(item.clone()).to_string().as_bytes());
        }
        h.update([0xff]);
    }
    h.finalize().iter().take(18).map(|b| format!("{b:02x}")).collect()
}

/// The one key-value table (DynamoDB on AWS, SQLite embedded).
///
/// Contract, identical on every backend:
/// - `get_many` reads up to 100 keys in one round trip; the result is in the order of `keys`.
/// - every write honours its `Cond`; a failed condition is `StoreError::Conflict` and changes
///   nothing;
/// - `transact` applies up to 100 writes on distinct keys all-or-nothing, and the same
///   transaction again within 10 minutes ([`request_token`]) is answered `Ok` without applying
///   it twice;
/// - `query` pages with an opaque cursor; an item without an index's two attributes is not in
///   that index;
/// - `count` is an atomic bounded increment;
/// - `count_items` counts what `query` would return (`sk_prefix`/`sk_after` honoured, `limit`
///   and `cursor` ignored), stopping at `cap`: a bounded read, never a scan.
#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;
    async fn put(&self, item: Item, cond: Cond) -> Result<(), StoreError>;
    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), StoreError>;
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError>;
    /// Add one to the counter `n` of the item under `key` — created as `n = 1` with
    /// `ttl = expires_at` (epoch seconds) when absent — unless `n` has reached `limit`: one
    /// round trip, atomic, so concurrent callers never both take the last unit. The count after
    /// adding, or `None` (and nothing written) at the limit. Rate limits and lockouts live here,
    /// so they hold across every Lambda instance.
    async fn count(&self, key: &Key, limit: u64, expires_at: i64) -> Result<Option<u64>, StoreError>;
    /// How many items the query's key range holds, up to `cap` (`cap` means "at least").
    async fn count_items(&self, query: &Query, cap: u64) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_request_token_follows_the_writes_and_fits_dynamodb() {
        let item = |v: &str| json!({"pk": "CAND#c", "sk": "APP#p", "ver": 2, "v": v}).as_object().cloned().unwrap();
        let a = vec![Write::Put { item: item("x"), cond: Cond::Version(1) }];
        let same = vec![Write::Put { item: item("x"), cond: Cond::Version(1) }];
        let other_value = vec![Write::Put { item: item("y"), cond: Cond::Version(1) }];
        let other_cond = vec![Write::Put { item: item("x"), cond: Cond::NotExists }];
        assert_eq!(request_token(&a), request_token(&same));
        assert_ne!(request_token(&a), request_token(&other_value));
        assert_ne!(request_token(&a), request_token(&other_cond));
        let t = request_token(&a);
        assert!(t.len() == 36 && t.bytes().all(|b| b.is_ascii_hexdigit()), "{t}");
    }
}
