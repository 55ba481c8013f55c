//! The single-table layout: every key the system writes is built here, and entities are
//! encoded into items (and decoded, with the key named when an item does not parse) here only.
//!
//! | item              | pk                       | sk                               | indexes            |
//! |-------------------|--------------------------|----------------------------------|--------------------|
//! | candidate         | `CAND#<cid>`             | `PROFILE`                        |                    |
//! | application       | `CAND#<cid>`             | `APP#<project>`                  | gsi1: `VCODE#<code>` / `APP` while submitted |
//! | application event | `CAND#<cid>`             | `APP#<project>#EV#<ver>#<n>`     |                    |
//! | account name      | `ACCT#<account>`         | `ACCT`                           |                    |
//! | WeChat binding    | `WX#<openid>`            | `WX`                             |                    |
//! | session           | `SESS#<sha256(token)>`   | `SESS`                           |                    |
//! | last year         | `HIST#<kind>#<id hash>`  | `Y#<year>`                       |                    |
//!
//! The candidate id is a keyed hash of the ID document (`IdDocument::candidate_id`), so one
//! account per document is the candidate item's own `NotExists`; one account name and one WeChat
//! user per candidate are marker items written in the same transaction.

use crate::domain::application::{Actor, Application, Event};
use crate::ports::{Cond, Item, Key, StoreError, Write};
use crate::reference::ExamKind;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub mod keys {
    use super::*;
    pub fn candidate(cid: &str) -> Key {
        Key::new(format!("CAND#{cid}"), "PROFILE")
    }
    pub fn application(cid: &str, project: &str) -> Key {
        Key::new(format!("CAND#{cid}"), format!("APP#{project}"))
    }
    pub fn event(cid: &str, project: &str, ver: u64, n: usize) -> Key {
        Key::new(format!("CAND#{cid}"), format!("APP#{project}#EV#{ver:010}#{n:02}"))
    }
    pub fn account(account: &str) -> Key {
        Key::new(format!("ACCT#{}", account.to_ascii_lowercase()), "ACCT")
    }
    pub fn wechat(openid: &str) -> Key {
        Key::new(format!("WX#{openid}"), "WX")
    }
    pub fn session(token: &str) -> Key {
        let digest = Sha256::digest(token.as_bytes());
        Key::new(format!("SESS#{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()), "SESS")
    }
    /// Last year's record of the candidate whose id is `cid` (ids derive from the document).
    pub fn history(kind: ExamKind, cid: &str, year: u16) -> Key {
        let k = match kind {
            ExamKind::Health => "health",
            ExamKind::Nurse => "nurse",
        };
        Key::new(format!("HIST#{k}#{cid}"), format!("Y#{year}"))
    }
    /// gsi1 partition for looking an application up by its verification code (site confirmation).
    pub fn vcode(code: &str) -> String {
        format!("VCODE#{code}")
    }
}

/// An entity as stored, with the version its next write must condition on.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub ver: u64,
}

/// Encode an entity under `key`, with version `ver` and any extra (index/TTL) attributes.
pub fn encode<T: Serialize>(
    key: &Key,
    kind: &str,
    ver: u64,
    value: &T,
    extra: &[(&str, Value)],
) -> Result<Item, StoreError> {
    let data = serde_json::to_value(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut item = Item::new();
    item.insert("pk".into(), json!(key.pk));
    item.insert("sk".into(), json!(key.sk));
    item.insert("type".into(), json!(kind));
    item.insert("ver".into(), json!(ver));
    item.insert("data".into(), data);
    for (k, v) in extra {
        item.insert((*k).to_string(), v.clone());
    }
    Ok(item)
}

pub fn decode<T: DeserializeOwned>(item: &Item) -> Result<Versioned<T>, StoreError> {
    let key = Key::of(item).unwrap_or_else(|| Key::new("?", "?"));
    let ver = item.get("ver").and_then(Value::as_u64).unwrap_or(0);
    let data = item.get("data").cloned().unwrap_or(Value::Null);
    let value = serde_json::from_value(data).map_err(|e| StoreError::Corrupt { key, detail: e.to_string() })?;
    Ok(Versioned { value, ver })
}

/// An item's plain string attribute (marker items point at their candidate this way).
pub fn attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Value::as_str)
}

/// A stored transition: who did what, when. Kept next to the application for its history.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EventRecord {
    pub actor: Actor,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(flatten)]
    pub event: Event,
}

/// The writes that persist `app` (version `prev + 1`) together with the events that produced
/// it: one transaction, conditioned on the version read (or on absence for a new application).
pub fn application_writes(
    app: &Application,
    prev: Option<u64>,
    events: &[Event],
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Vec<Write>, StoreError> {
    let ver = prev.map_or(1, |v| v + 1);
    let key = keys::application(&app.candidate_id, app.project.as_str());
    let mut extra = vec![];
    if let Some(code) = &app.verification_code {
        // Sparse: only a submitted application is findable by code; a withdrawn one is not (R20).
        extra.push(("gsi1pk", json!(keys::vcode(code))));
        extra.push(("gsi1sk", json!("APP")));
    }
    let item = encode(&key, "application", ver, app, &extra)?;
    let cond = prev.map_or(Cond::NotExists, Cond::Version);
    let mut writes = vec![Write::Put { item, cond }];
    for (n, event) in events.iter().enumerate() {
        let ek = keys::event(&app.candidate_id, app.project.as_str(), ver, n);
        let rec = EventRecord { actor: actor.clone(), at: now, event: event.clone() };
        writes.push(Write::Put { item: encode(&ek, "event", 1, &rec, &[])?, cond: Cond::NotExists });
    }
    Ok(writes)
}
