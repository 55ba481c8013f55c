//! The single-table layout: every key the system writes is built here, and entities are
//! encoded into items (and decoded, with the key named when an item does not parse) here only.
//! The README's "Single-table design" section is the prose version of this page.
//!
//! | item              | pk                        | sk                            | access path |
//! |-------------------|---------------------------|-------------------------------|-------------|
//! | candidate         | `CAND#<cid>`              | `PROFILE`                     | get (with session + application: one BatchGetItem) |
//! | application       | `CAND#<cid>`              | `APP#<project>`               | get: a candidate's application by exam |
//! | application event | `CAND#<cid>`              | `APP#<project>#EV#<ver>#<n>`  | query `APP#<project>#EV#`: its history |
//! | account name      | `ACCT#<account>`          | `ACCT`                        | get: password login |
//! | WeChat binding    | `WX#<openid>`             | `WX`                          | get: mini-program login |
//! | Baidu binding     | `BD#<openid>`             | `BD`                          | get: mini-program login |
//! | session           | `SESS#<sha256(token)>`    | `SESS`                        | get; `ttl` for clean-up only |
//! | face attempt      | `FACE#<out_seq_no>`       | `FACE`                        | get, then deleted with the session it starts (no replay) |
//! | last year         | `HIST#<kind>#<cid>`       | `Y#<year>`                    | get, in the same batch as the application |
//! | last year's link  | `HIST#<kind>#<cid>`       | `CLAIM#Y#<year>`              | put-if-absent with the link (R32, R36): one record, one application |
//! | payment order     | `ORDER#<out_trade_no>`    | `ORDER`                       | get, in the same batch as its application (the provider's `attach` names it): payment callbacks and the reconciler |
//! | rate counter      | `LIMIT#<scope>#<subject>` | `W#<window start>`            | atomic bounded count (`Table::count`); `ttl` ends it with its window |
//! | login lock        | `LOCK#<account>`          | `LOGIN`                       | get, in the same batch as the account name; `ttl` when it ends |
//! | staff account     | `STAFF#<account>`         | `STAFF`                       | get, in the same batch as the staff session (disabling ends every session at once) |
//! | staff session     | `SSESS#<sha256(token)>`   | `SSESS`                       | get, in the same batch as the data it guards |
//! | staff login lock  | `LOCK#STAFF#<account>`    | `LOGIN`                       | get, in the same batch as the staff account |
//! | audit record      | `AUDIT#<district>#<day>`  | `<unix ms>#<staff>#<random>`  | query: a district's staff actions of one day (`CENTRE` for the centre's); `ttl` ≥ 13 months |
//! | outbox            | `OUTBOX#<reminder id>`    | `OUTBOX`                      | written with the transition it reminds of; the stream relays it to SQS; `ttl` 7 days |
//! | to-do             | `CAND#<cid>`              | `TODO#<at>#<reminder id>`     | query `TODO#` newest first: the candidate's to-do list (R16) |
//! | reminder marker   | `IDEM#<reminder id>`      | `IDEM`                        | the consumer's processed-marker: claimed with a lease, completed once sent; `ttl` 30 days |
//! | sweep watermark   | `SWEEP#<project>#<district>#<shard>` | `SOON`             | get/put: deadlines up to here have had their 24-hours-ahead reminder |
//!
//! Sparse global indexes on the application item — an item is in an index only while it has
//! that index's two attributes, so leaving a state removes it from the index in the same write:
//!
//! | index | pk | sk | while |
//! |-------|----|----|-------|
//! | gsi1  | `VCODE#<code>` | `APP` | submitted with a live code: site confirmation by the code on the form (R22); a withdrawn or replaced code finds nothing (R18, R20) |
//! | gsi2  | `Q#<project>#CONFIRM#<point>` | `<since>#<cid>` | submitted in an online-confirmation district: the registration point's queue (R41, R42) |
//! | gsi2  | `Q#<project>#ARRIVE#<site>` | `<since>#<cid>` | submitted, not auto-confirmed, in a site-confirmation district: the site's "to confirm" list (R22, R34) |
//! | gsi2  | `Q#<project>#SITE#<site>` | `<since>#<cid>` | confirmed: the site's review queue (R24) |
//! | gsi2  | `Q#<project>#DISTRICT#<district>#<shard>` | `<since>#<cid>` | site-approved: the district's review queue (R24, R25) |
//! | gsi3  | `DUE#<project>#<district>#<shard>` | `<deadline>#<cid>` | waiting on a deadline it can lapse at: the sweep (R23, R31, R42) |
//! | gsi3  | `PAYCHECK#<shard>` (on order items) | `<next look>#<out_trade_no>` | an order open or owing a refund: the payment reconciler (R31) |
//!
//! `<since>` and `<deadline>` are zero-padded Unix seconds, so queues read oldest first and the
//! sweep reads "deadline before now" as a key range. No path scans.
//!
//! **Shards.** District-level keys carry a shard suffix `0`–`7` taken from the candidate id (a
//! uniform hash). Their sort keys grow with time, so every write lands at the same end of the
//! key range, which DynamoDB's split-for-heat cannot spread; one partition takes ~1,000 writes/s.
//! The worst burst is not the rush itself (a big province's ~200k applications over two weeks
//! is a few writes per second even at a 50x peak) but the deadline sweep, which moves a whole
//! province's unconfirmed applications out of `DUE` within minutes: 200k in 5 minutes is
//! ~660 writes/s on one key — at the limit. Eight shards bring that to ~80/s each, with room for
//! a national deadline. Readers merge eight queries, which staff screens and the sweep can
//! afford. Site and point queues hold at most a few thousand and stay unsharded.
//!
//! The candidate id is a keyed hash of the ID document (`IdDocument::candidate_id`), so one
//! account per document is the candidate item's own `NotExists`; one account name and one WeChat
//! user per candidate are marker items written in the same transaction.

use crate::table::{Cond, Item, Key, StoreError, Write};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::domain::account::MiniProgram;
use shared::domain::application::{Actor, Application, Event, Status};
use shared::domain::reminder::Reminder;
use shared::reference::{District, ExamKind, Project};
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
    /// One fixed window of a rate limit: `scope` names the limit, `subject` whom it counts
    /// (an account name, a source address, a candidate id).
    pub fn limit(scope: &str, subject: &str, window_start: i64) -> Key {
        Key::new(format!("LIMIT#{scope}#{}", subject.to_ascii_lowercase()), format!("W#{window_start}"))
    }
    /// The password-login lock of an account (R2 lockout).
    pub fn login_lock(account: &str) -> Key {
        Key::new(format!("LOCK#{}", account.to_ascii_lowercase()), "LOGIN")
    }
    /// The binding of a mini-program user (R2): one user of one program ↔ one candidate.
    pub fn mini_user(program: MiniProgram, openid: &str) -> Key {
        match program {
            MiniProgram::Wechat => Key::new(format!("WX#{openid}"), "WX"),
            MiniProgram::Baidu => Key::new(format!("BD#{openid}"), "BD"),
        }
    }
    pub fn session(token: &str) -> Key {
        let digest = Sha256::digest(token.as_bytes());
        Key::new(format!("SESS#{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()), "SESS")
    }
    /// A face-verification attempt (R2), addressed by the `out_seq_no` the provider echoes.
    pub fn face_attempt(out_seq_no: &str) -> Key {
        Key::new(format!("FACE#{out_seq_no}"), "FACE")
    }
    /// Last year's record of the candidate whose id is `cid` (ids derive from the document).
    pub fn history(kind: ExamKind, cid: &str, year: u16) -> Key {
        let k = match kind {
            ExamKind::Health => "health",
            ExamKind::Nurse => "nurse",
        };
        Key::new(format!("HIST#{k}#{cid}"), format!("Y#{year}"))
    }
    /// Which application last year's record of `cid` is linked to (R32 at creation, R36 by a
    /// merge): written with the link, only if absent, so one record serves one application.
    pub fn history_claim(kind: ExamKind, cid: &str, year: u16) -> Key {
        let k = history(kind, cid, year);
        Key::new(k.pk, format!("CLAIM#Y#{year}"))
    }
    /// gsi1 partition for looking an application up by its verification code (site confirmation).
    pub fn vcode(code: &str) -> String {
        format!("VCODE#{code}")
    }
    /// A payment order, addressed by the `out_trade_no` the provider echoes back.
    pub fn order(out_trade_no: &str) -> Key {
        Key::new(format!("ORDER#{out_trade_no}"), "ORDER")
    }
    /// gsi3: orders the payment reconciler must look at (open, or a refund owed), by when.
    pub fn pay_check(shard: u8) -> String {
        format!("PAYCHECK#{shard}")
    }
    /// gsi2: a registration point's online-confirmation queue.
    pub fn confirm_queue(project: &str, point: &str) -> String {
        format!("Q#{project}#CONFIRM#{point}")
    }
    /// gsi2: a site's "to confirm" list: submitted forms the candidate brings to the counter.
    pub fn arrive_queue(project: &str, site: &str) -> String {
        format!("Q#{project}#ARRIVE#{site}")
    }
    /// A staff account (account names are lower-case already).
    pub fn staff(account: &str) -> Key {
        Key::new(format!("STAFF#{account}"), "STAFF")
    }
    /// A staff session, by the hash of its token (the token is never stored).
    pub fn staff_session(token: &str) -> Key {
        let digest = Sha256::digest(token.as_bytes());
        Key::new(format!("SSESS#{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()), "SSESS")
    }
    /// The login lock of a staff account (apart from candidates' account names).
    pub fn staff_lock(account: &str) -> Key {
        Key::new(format!("LOCK#STAFF#{account}"), "LOGIN")
    }
    /// One day (Beijing, `YYYYMMDD`) of a district's audit trail; `CENTRE` for the centre's own.
    pub fn audit_day(area: &str, day: &str) -> String {
        format!("AUDIT#{area}#{day}")
    }
    /// gsi2: a site's review queue.
    pub fn site_queue(project: &str, site: &str) -> String {
        format!("Q#{project}#SITE#{site}")
    }
    /// gsi2: one shard of a district's review queue.
    pub fn district_queue(project: &str, district: &str, shard: u8) -> String {
        format!("Q#{project}#DISTRICT#{district}#{shard}")
    }
    /// gsi3: one shard of a district's due deadlines.
    pub fn due(project: &str, district: &str, shard: u8) -> String {
        format!("DUE#{project}#{district}#{shard}")
    }
    /// The outbox item of one reminder (relayed to the queue by the table's stream).
    pub fn outbox(reminder_id: &str) -> Key {
        Key::new(format!("{OUTBOX_PREFIX}{reminder_id}"), "OUTBOX")
    }
    /// One entry of a candidate's to-do list, newest last in key order.
    pub fn todo(cid: &str, at: OffsetDateTime, reminder_id: &str) -> Key {
        Key::new(format!("CAND#{cid}"), format!("TODO#{}#{reminder_id}", super::sortable(at)))
    }
    /// The consumer's processed-marker of one reminder.
    pub fn reminder_marker(reminder_id: &str) -> Key {
        Key::new(format!("IDEM#{reminder_id}"), "IDEM")
    }
    /// How far one shard's 24-hours-ahead reminders have been sent.
    pub fn sweep_watermark(project: &str, district: &str, shard: u8) -> Key {
        Key::new(format!("SWEEP#{project}#{district}#{shard}"), "SOON")
    }
}

/// Outbox items' partition keys start with this (the relay's filter).
pub const OUTBOX_PREFIX: &str = "OUTBOX#";

/// How long an outbox item outlives its relay (the stream keeps records 24 hours).
const OUTBOX_TTL_SECS: i64 = 7 * 86_400;

/// The outbox write of `reminder`, for the transaction of the transition that causes it. The
/// item carries the whole message as a string attribute `msg` (what the relay forwards as is),
/// and is written only if absent: the same reminder is never put twice.
pub fn outbox_write(reminder: &Reminder) -> Result<Write, StoreError> {
    let key = keys::outbox(&reminder.id);
    let msg = serde_json::to_string(reminder).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut item = Item::new();
    item.insert("pk".into(), json!(key.pk));
    item.insert("sk".into(), json!(key.sk));
    item.insert("type".into(), json!("outbox"));
    item.insert("msg".into(), json!(msg));
    item.insert("ttl".into(), json!(reminder.at.unix_timestamp() + OUTBOX_TTL_SECS));
    Ok(Write::Put { item, cond: Cond::NotExists })
}

/// The message an outbox item (a stream record's new image) carries, if it is one.
pub fn outbox_message(item: &Item) -> Option<&str> {
    let pk = attr(item, "pk")?;
    if !pk.starts_with(OUTBOX_PREFIX) {
        return None;
    }
    attr(item, "msg")
}

/// How many shards district-level index keys are spread over (see the module docs).
pub const SHARDS: u8 = 8;

/// The shard of a candidate: candidate ids are uniform hashes, so their first hex digit is too.
pub fn shard(cid: &str) -> u8 {
    cid.bytes().next().and_then(|b| (b as char).to_digit(16)).map_or(0, |d| d as u8 % SHARDS)
}

/// Sortable instant: zero-padded Unix seconds.
fn sortable(t: OffsetDateTime) -> String {
    format!("{:012}", t.unix_timestamp().max(0))
}

/// gsi3 sort keys of deadlines from `from` to `to`, both inclusive (any candidate id).
pub fn due_range(from: OffsetDateTime, to: OffsetDateTime) -> (String, String) {
    (format!("{}#", sortable(from)), format!("{}#~", sortable(to)))
}

/// The index attributes an application has in its current state (sparse: absent = not indexed).
pub fn index_attrs(app: &Application, project: &Project, district: &District) -> Vec<(&'static str, Value)> {
    let mut a = vec![];
    let (p, cid) = (app.project.as_str(), app.candidate_id.as_str());
    if let Some(code) = &app.verification_code {
        // Only a submitted application is findable by code; a withdrawn one is not (R20).
        a.push(("gsi1pk", json!(keys::vcode(code))));
        a.push(("gsi1sk", json!("APP")));
    }
    let since = format!("{}#{cid}", sortable(app.status_since.unwrap_or(app.updated_at)));
    let queue = match app.status {
        Status::Submitted if district.online_confirmation && !app.auto_confirmed => {
            app.pages.site.as_ref().and_then(|s| s.point.as_ref()).map(|pt| keys::confirm_queue(p, pt.as_str()))
        }
        // R22, R34: waiting for the candidate to bring the form to the counter.
        Status::Submitted if !app.auto_confirmed => {
            app.pages.site.as_ref().map(|s| keys::arrive_queue(p, s.site.as_str()))
        }
        Status::Confirmed => app.pages.site.as_ref().map(|s| keys::site_queue(p, s.site.as_str())),
        Status::SiteApproved => Some(keys::district_queue(p, app.district.as_str(), shard(cid))),
        _ => None,
    };
    if let Some(q) = queue {
        a.push(("gsi2pk", json!(q)));
        a.push(("gsi2sk", json!(since)));
    }
    if let Some((deadline, _)) = app.pending_deadline(project, district) {
        a.push(("gsi3pk", json!(keys::due(p, app.district.as_str(), shard(cid)))));
        a.push(("gsi3sk", json!(format!("{}#{cid}", sortable(deadline)))));
    }
    a
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
    (project, district): (&Project, &District),
) -> Result<Vec<Write>, StoreError> {
    let ver = prev.map_or(1, |v| v + 1);
    let key = keys::application(&app.candidate_id, app.project.as_str());
    let item = encode(&key, "application", ver, app, &index_attrs(app, project, district))?;
    let cond = prev.map_or(Cond::NotExists, Cond::Version);
    let mut writes = vec![Write::Put { item, cond }];
    for (n, event) in events.iter().enumerate() {
        let ek = keys::event(&app.candidate_id, app.project.as_str(), ver, n);
        let rec = EventRecord { actor: actor.clone(), at: now, event: event.clone() };
        writes.push(Write::Put { item: encode(&ek, "event", 1, &rec, &[])?, cond: Cond::NotExists });
    }
    Ok(writes)
}
