//! A table wrapper that counts round trips per operation, to hold the request paths to their
//! budget (1 per read, at most 2 per write).

use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use store::{Cond, Item, Key, Query, QueryPage, StoreError, Table, Write};

#[derive(Default, Debug)]
pub struct Counts {
    pub get: AtomicU64,
    pub get_many: AtomicU64,
    pub put: AtomicU64,
    pub delete: AtomicU64,
    pub transact: AtomicU64,
    pub query: AtomicU64,
    pub count: AtomicU64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        [&self.get, &self.get_many, &self.put, &self.delete, &self.transact, &self.query, &self.count]
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum()
    }
    /// Round trips since the last call by kind, e.g. `get_many 1 + transact 1` (and reset).
    pub fn take_detail(&self) -> String {
        let kinds = [
            ("get", &self.get),
            ("get_many", &self.get_many),
            ("put", &self.put),
            ("delete", &self.delete),
            ("transact", &self.transact),
            ("query", &self.query),
            ("count", &self.count),
        ];
        let parts: Vec<String> = kinds
            .iter()
            .map(|(n, c)| (n, c.swap(0, Ordering::SeqCst)))
            .filter(|(_, v)| *v > 0)
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        if parts.is_empty() { "none".into() } else { parts.join(" + ") }
    }
    /// Round trips since the last call (and reset).
    pub fn take(&self) -> u64 {
        [&self.get, &self.get_many, &self.put, &self.delete, &self.transact, &self.query, &self.count]
            .iter()
            .map(|c| c.swap(0, Ordering::SeqCst))
            .sum()
    }
}

pub struct CountingTable {
    inner: Arc<dyn Table>,
    counts: Arc<Counts>,
}

impl CountingTable {
    pub fn new(inner: Arc<dyn Table>, counts: Arc<Counts>) -> Self {
        CountingTable { inner, counts }
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.counts.get.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.counts.get_many.fetch_add(1, Ordering::SeqCst);
        self.inner.get_many(keys).await
    }
    async fn put(&self, item: Item, cond: Cond) -> Result<(), StoreError> {
        self.counts.put.fetch_add(1, Ordering::SeqCst);
        self.inner.put(item, cond).await
    }
    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), StoreError> {
        self.counts.delete.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key, cond).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.counts.transact.fetch_add(1, Ordering::SeqCst);
        self.inner.transact(writes).await
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.counts.query.fetch_add(1, Ordering::SeqCst);
        self.inner.query(query).await
    }
    async fn count_items(&self, query: &Query, cap: u64) -> Result<u64, StoreError> {
        self.counts.query.fetch_add(1, Ordering::SeqCst);
        self.inner.count_items(query, cap).await
    }
    async fn count(&self, key: &Key, limit: u64, expires_at: i64) -> Result<Option<u64>, StoreError> {
        self.counts.count.fetch_add(1, Ordering::SeqCst);
        self.inner.count(key, limit, expires_at).await
    }
}

/// How a [`FaultyTable`] misbehaves while its flag is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writes fail as DynamoDB throttling does (after the SDK's own retries gave up), to prove a
    /// failed write leaves nothing behind.
    Throttle,
    /// Writes panic (a bug in a handler), to prove the local server survives it.
    Panic,
    /// The next transaction is committed, then sent again, and the second answer returned — what
    /// a caller sees when the first response is lost and the SDK retries. Clears the flag.
    ReplayOnce,
}

/// A table that misbehaves, as [`Fault`] says, while `flag` is set.
pub struct FaultyTable {
    inner: Arc<dyn Table>,
    flag: Arc<std::sync::atomic::AtomicBool>,
    fault: Fault,
}

impl FaultyTable {
    pub fn new(inner: Arc<dyn Table>, flag: Arc<std::sync::atomic::AtomicBool>, fault: Fault) -> Self {
        FaultyTable { inner, flag, fault }
    }
    /// Whether this write fails (throttled); panics for `Fault::Panic`.
    fn failing(&self) -> bool {
        if self.fault == Fault::ReplayOnce || !self.flag.load(Ordering::SeqCst) {
            return false;
        }
        assert!(self.fault != Fault::Panic, "FaultyTable: a write panics, as a bug in a handler would");
        true
    }
}

#[async_trait]
impl Table for FaultyTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.get_many(keys).await
    }
    async fn put(&self, item: Item, cond: Cond) -> Result<(), StoreError> {
        if self.failing() {
            return Err(StoreError::Throttled);
        }
        self.inner.put(item, cond).await
    }
    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), StoreError> {
        if self.failing() {
            return Err(StoreError::Throttled);
        }
        self.inner.delete(key, cond).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if self.fault == Fault::ReplayOnce && self.flag.swap(false, Ordering::SeqCst) {
            self.inner.transact(writes.clone()).await?;
            return self.inner.transact(writes).await;
        }
        if self.failing() {
            return Err(StoreError::Throttled);
        }
        self.inner.transact(writes).await
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
    async fn count_items(&self, query: &Query, cap: u64) -> Result<u64, StoreError> {
        self.inner.count_items(query, cap).await
    }
    async fn count(&self, key: &Key, limit: u64, expires_at: i64) -> Result<Option<u64>, StoreError> {
        if self.failing() {
            return Err(StoreError::Throttled);
        }
        self.inner.count(key, limit, expires_at).await
    }
}

/// A table wrapper that can hold the next transaction until the test lets it go: two writers'
/// read-decide-write windows made to overlap on purpose (a race, deterministically).
pub struct Gate {
    armed: std::sync::atomic::AtomicBool,
    entered: tokio::sync::Notify,
    release: tokio::sync::Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            armed: std::sync::atomic::AtomicBool::new(false),
            entered: tokio::sync::Notify::new(),
            release: tokio::sync::Semaphore::new(0),
        }
    }
}

impl Gate {
    /// Hold the next transaction (one only).
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
    /// Wait until a transaction is being held.
    pub async fn wait_entered(&self) {
        let entered = tokio::time::timeout(std::time::Duration::from_secs(20), self.entered.notified()).await;
        assert!(entered.is_ok(), "no transaction reached the gate");
    }
    /// Let the held transaction go on.
    pub fn release(&self) {
        self.release.add_permits(1);
    }
}

pub struct GatedTable {
    inner: Arc<dyn Table>,
    gate: Arc<Gate>,
}

impl GatedTable {
    pub fn new(inner: Arc<dyn Table>, gate: Arc<Gate>) -> Self {
        GatedTable { inner, gate }
    }
}

#[async_trait]
impl Table for GatedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.get_many(keys).await
    }
    async fn put(&self, item: Item, cond: Cond) -> Result<(), StoreError> {
        self.inner.put(item, cond).await
    }
    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), StoreError> {
        self.inner.delete(key, cond).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if self.gate.armed.swap(false, Ordering::SeqCst) {
            self.gate.entered.notify_one();
            let _permit = self.gate.release.acquire().await;
        }
        self.inner.transact(writes).await
    }
    async fn query(&self, query: &Query) -> Result<QueryPage, StoreError> {
        self.inner.query(query).await
    }
    async fn count(&self, key: &Key, limit: u64, expires_at: i64) -> Result<Option<u64>, StoreError> {
        self.inner.count(key, limit, expires_at).await
    }
    async fn count_items(&self, query: &Query, cap: u64) -> Result<u64, StoreError> {
        self.inner.count_items(query, cap).await
    }
}
