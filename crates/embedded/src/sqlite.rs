//! The embedded default table: one SQLite file with DynamoDB's semantics — conditional writes
//! fail as typed conflicts and change nothing, transactions are all-or-nothing, index
//! membership is sparse, and queries page with an opaque cursor.
//!
//! NOTE: calls run on the async task while holding a mutex. SQLite answers these point and
//! range queries in microseconds, and the embedded store serves one machine, so a blocking pool
//! would add more latency than it saves.

use async_trait::async_trait;
use base64::Engine;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use store::{Cond, Item, Key, Query, QueryPage, StoreError, Table, Write};

pub struct SqliteTable {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL, sk TEXT NOT NULL, ver INTEGER,
    gsi1pk TEXT, gsi1sk TEXT, gsi2pk TEXT, gsi2sk TEXT, gsi3pk TEXT, gsi3sk TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL AND gsi1sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL AND gsi2sk IS NOT NULL;
CREATE INDEX IF NOT EXISTS gsi3 ON items (gsi3pk, gsi3sk, pk, sk) WHERE gsi3pk IS NOT NULL AND gsi3sk IS NOT NULL;
-- New items in commit order, as a DynamoDB stream (INSERT, new image) would carry them: what the
-- local relay reads (the outbox). Trimmed by the reader once relayed.
CREATE TABLE IF NOT EXISTS stream (seq INTEGER PRIMARY KEY AUTOINCREMENT, pk TEXT NOT NULL, sk TEXT NOT NULL, body TEXT NOT NULL);
-- Transactions applied in the last 10 minutes, by request token (DynamoDB's ClientRequestToken).
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
-- Every transaction forgets tokens older than 10 minutes: by index, or that is a scan of every
-- transaction of the last 10 minutes, each time (measured: 100k writes slowed to ~180/s).
CREATE INDEX IF NOT EXISTS tokens_at ON tokens (at);
";

/// How long a transaction's token is remembered (DynamoDB: 10 minutes).
const TOKEN_SECS: i64 = 600;

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn attr_str<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Value::as_str)
}

/// The cursor: the full position of the last item returned (index key + primary key).
#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    ipk: String,
    isk: String,
    pk: String,
    sk: String,
}

impl SqliteTable {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        // WAL: readers don't block the writer; NORMAL sync is durable across app crashes.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(unavailable)?;
        Self::init(conn)
    }

    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(SqliteTable { conn: Mutex::new(conn) })
    }

    /// Up to `limit` new items written after stream position `after`, oldest first, with their
    /// positions: the embedded stand-in for a DynamoDB stream (INSERT records, new image).
    pub fn stream_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, Item)>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare_cached("SELECT seq, pk, sk, body FROM stream WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(unavailable)?;
        let rows = stmt
            .query_map(params![after, limit], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        rows.into_iter().map(|(seq, pk, sk, body)| Ok((seq, parse(&Key::new(pk, sk), &body)?))).collect()
    }

    /// Forget stream records up to `upto` (relayed).
    pub fn trim_stream(&self, upto: i64) -> Result<(), StoreError> {
        self.lock()?.execute("DELETE FROM stream WHERE seq <= ?1", params![upto]).map_err(unavailable)?;
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Unavailable("table lock poisoned".into()))
    }
}

fn read(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let body: Option<String> = conn
        .query_row("SELECT body FROM items WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk], |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    body.map(|b| parse(key, &b)).transpose()
}

fn parse(key: &Key, body: &str) -> Result<Item, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt { key: key.clone(), detail: e.to_string() })
}

fn holds(current: Option<&Item>, cond: Cond) -> bool {
    match cond {
        Cond::Always => true,
        Cond::NotExists => current.is_none(),
        Cond::Exists => current.is_some(),
        Cond::Version(v) => current.and_then(|i| i.get("ver")).and_then(Value::as_u64) == Some(v),
        Cond::LeaseBefore(t) => current.is_none_or(|i| i.get("lease").and_then(Value::as_i64).is_some_and(|l| l < t)),
    }
}

fn check(conn: &Connection, key: &Key, cond: Cond, at: usize) -> Result<(), StoreError> {
    if cond == Cond::Always {
        return Ok(());
    }
    let current = read(conn, key)?;
    if holds(current.as_ref(), cond) {
        Ok(())
    } else {
        Err(StoreError::Conflict { at, current: current.map(Box::new) })
    }
}

fn put_row(conn: &Connection, item: &Item) -> Result<(), StoreError> {
    let key = Key::of(item).ok_or_else(|| StoreError::Invalid("item without string pk/sk".into()))?;
    let idx = |a: &str| attr_str(item, a).map(str::to_string);
    let ver = item.get("ver").and_then(Value::as_u64).map(|v| v as i64);
    let body = serde_json::to_string(item).map_err(|e| StoreError::Invalid(e.to_string()))?;
    conn.execute(
        "INSERT OR REPLACE INTO items (pk, sk, ver, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            key.pk,
            key.sk,
            ver,
            idx("gsi1pk"),
            idx("gsi1sk"),
            idx("gsi2pk"),
            idx("gsi2sk"),
            idx("gsi3pk"),
            idx("gsi3sk"),
            body
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn write_key(w: &Write) -> Result<Key, StoreError> {
    match w {
        Write::Put { item, .. } => Key::of(item).ok_or_else(|| StoreError::Invalid("item without pk/sk".into())),
        Write::Delete { key, .. } | Write::Check { key, .. } => Ok(key.clone()),
    }
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        read(&*self.lock()?, key)
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.len() > 100 {
            return Err(StoreError::Invalid("more than 100 keys".into()));
        }
        let conn = self.lock()?;
        keys.iter().map(|k| read(&conn, k)).collect()
    }

    async fn put(&self, item: Item, cond: Cond) -> Result<(), StoreError> {
        self.transact(vec![Write::Put { item, cond }]).await
    }

    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), StoreError> {
        self.transact(vec![Write::Delete { key: key.clone(), cond }]).await
    }

    async fn count_items(&self, q: &Query, cap: u64) -> Result<u64, StoreError> {
        let (ipk, isk) = match q.index {
            None => ("pk", "sk"),
            Some(i) => i.attrs(),
        };
        let cmp = if q.descending { "<" } else { ">" };
        let mut sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM items WHERE {ipk} = ?1 AND {isk} IS NOT NULL \
             AND substr({isk}, 1, length(?2)) = ?2"
        );
        if q.sk_after.is_some() {
            sql.push_str(&format!(" AND {isk} {cmp} ?3"));
        }
        sql.push_str(&format!(" LIMIT {cap})"));
        let prefix = q.sk_prefix.clone().unwrap_or_default();
        let mut args: Vec<&str> = vec![&q.pk, &prefix];
        args.extend(q.sk_after.as_deref());
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
        let n: i64 = stmt.query_row(rusqlite::params_from_iter(args), |r| r.get(0)).map_err(unavailable)?;
        Ok(n.max(0) as u64)
    }

    async fn count(&self, key: &Key, limit: u64, expires_at: i64) -> Result<Option<u64>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
        let mut item = read(&tx, key)?.unwrap_or_else(|| {
            let mut i = Item::new();
            i.insert("pk".into(), Value::from(key.pk.clone()));
            i.insert("sk".into(), Value::from(key.sk.clone()));
            i.insert("ttl".into(), Value::from(expires_at));
            i
        });
        let n = item.get("n").and_then(Value::as_u64).unwrap_or(0);
        if n >= limit {
            return Ok(None);
        }
        item.insert("n".into(), Value::from(n + 1));
        put_row(&tx, &item)?;
        tx.commit().map_err(unavailable)?;
        Ok(Some(n + 1))
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > 100 {
            return Err(StoreError::Invalid(format!("{} writes in one transaction", writes.len())));
        }
        let keys = writes.iter().map(write_key).collect::<Result<Vec<_>, _>>()?;
        let distinct: std::collections::BTreeSet<&Key> = keys.iter().collect();
        if distinct.len() != keys.len() {
            // DynamoDB refuses two operations on one item in a transaction; so do we.
            return Err(StoreError::Invalid("two writes to the same key in one transaction".into()));
        }
        let token = store::request_token(&writes);
        let now = unix_now();
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
        tx.execute("DELETE FROM tokens WHERE at < ?1", params![now - TOKEN_SECS]).map_err(unavailable)?;
        let seen: Option<i64> = tx
            .query_row("SELECT at FROM tokens WHERE token = ?1", params![token], |r| r.get(0))
            .optional()
            .map_err(unavailable)?;
        if seen.is_some() {
            // The same transaction, already applied: its result, not a second application.
            return Ok(());
        }
        tx.execute("INSERT INTO tokens (token, at) VALUES (?1, ?2)", params![token, now]).map_err(unavailable)?;
        for (at, (w, key)) in writes.iter().zip(&keys).enumerate() {
            let cond = match w {
                Write::Put { cond, .. } | Write::Delete { cond, .. } | Write::Check { cond, .. } => *cond,
            };
            check(&tx, key, cond, at)?; // dropping `tx` on error rolls back
        }
        for (w, key) in writes.iter().zip(&keys) {
            match w {
                Write::Put { item, .. } => {
                    let existed: bool = tx
                        .query_row("SELECT 1 FROM items WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk], |_| Ok(()))
                        .optional()
                        .map_err(unavailable)?
                        .is_some();
                    put_row(&tx, item)?;
                    if !existed {
                        let body = serde_json::to_string(item).map_err(|e| StoreError::Invalid(e.to_string()))?;
                        tx.execute(
                            "INSERT INTO stream (pk, sk, body) VALUES (?1, ?2, ?3)",
                            params![key.pk, key.sk, body],
                        )
                        .map_err(unavailable)?;
                    }
                }
                Write::Delete { .. } => {
                    tx.execute("DELETE FROM items WHERE pk = ?1 AND sk = ?2", params![key.pk, key.sk])
                        .map_err(unavailable)?;
                }
                Write::Check { .. } => {}
            }
        }
        tx.commit().map_err(unavailable)
    }

    async fn query(&self, q: &Query) -> Result<QueryPage, StoreError> {
        let (ipk, isk) = match q.index {
            None => ("pk", "sk"),
            Some(i) => i.attrs(),
        };
        let limit = q.limit.clamp(1, 1000);
        let cursor: Option<Cursor> = q
            .cursor
            .as_deref()
            .map(|c| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .ok_or_else(|| StoreError::Invalid("bad cursor".into()))
            })
            .transpose()?;
        let (cmp, order) = if q.descending { ("<", "DESC") } else { (">", "ASC") };
        // Row-value comparison gives a total order (index sort key, then primary key), so a page
        // boundary between items with equal index sort keys loses nothing.
        let mut sql = format!("SELECT pk, sk, body, {isk} FROM items WHERE {ipk} = ?1 AND {isk} IS NOT NULL");
        let prefix = q.sk_prefix.clone().unwrap_or_default();
        sql.push_str(&format!(" AND substr({isk}, 1, length(?2)) = ?2"));
        if cursor.is_some() {
            sql.push_str(&format!(" AND ({isk}, pk, sk) {cmp} (?3, ?4, ?5)"));
        }
        if q.sk_after.is_some() {
            sql.push_str(&format!(" AND {isk} {cmp} ?{}", if cursor.is_some() { 6 } else { 3 }));
        }
        if q.sk_between.is_some() {
            let n = 3 + if cursor.is_some() { 3 } else { 0 } + usize::from(q.sk_after.is_some());
            sql.push_str(&format!(" AND {isk} >= ?{n} AND {isk} <= ?{}", n + 1));
        }
        sql.push_str(&format!(" ORDER BY {isk} {order}, pk {order}, sk {order} LIMIT {}", limit + 1));
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
        let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(String, String, String, String)> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        };
        let mut args: Vec<&str> = vec![&q.pk, &prefix];
        if let Some(c) = &cursor {
            args.extend([c.isk.as_str(), c.pk.as_str(), c.sk.as_str()]);
        }
        args.extend(q.sk_after.as_deref());
        if let Some((lo, hi)) = &q.sk_between {
            args.extend([lo.as_str(), hi.as_str()]);
        }
        let rows: Vec<_> = stmt
            .query_map(rusqlite::params_from_iter(args), map)
            .map_err(unavailable)?
            .collect::<Result<_, _>>()
            .map_err(unavailable)?;
        let more = rows.len() > limit as usize;
        let mut items = Vec::with_capacity(rows.len().min(limit as usize));
        let mut last = None;
        for (pk, sk, body, isk_val) in rows.into_iter().take(limit as usize) {
            let key = Key::new(pk.clone(), sk.clone());
            items.push(parse(&key, &body)?);
            last = Some(Cursor { ipk: q.pk.clone(), isk: isk_val, pk, sk });
        }
        let cursor = match (more, last) {
            (true, Some(c)) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(serde_json::to_vec(&c).map_err(|e| StoreError::Invalid(e.to_string()))?),
            ),
            _ => None,
        };
        Ok(QueryPage { items, cursor })
    }
}
