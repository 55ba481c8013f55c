//! Reminders after the outbox: the relay (new outbox items from the table's stream → the queue),
//! the consumer (queue → the candidate's to-do item and a WeChat subscription message, each
//! exactly once), and the candidate's to-do list. Both the relay and the consumer are idempotent:
//! stream records and queue messages arrive twice and out of order.

use crate::config::{ConfigError, Env};
use crate::ports::{Clock, Queue, QueueMessage, SendOutcome, Subscription, SubscriptionSender};
use crate::principal::Principal;
use crate::session::{check_session, unauthorized};
use serde::{Deserialize, Serialize};
use shared::domain::application::Application;
use shared::domain::reminder::{Reminder, ReminderKind, TodoAction, VALUE_NAMES, field_limit, fit};
use shared::error::Refusal;
use shared::reference::Reference;
use std::collections::BTreeMap;
use std::sync::Arc;
use store::layout::outbox_message;
use store::{Cond, Item, Key, Query, StoreError, Table, Write, decode, encode, keys};
use time::OffsetDateTime;

// ------------------------------------------------------------------------------------ relay

/// One record of the table's stream, as the relay needs it: its position and the new image of
/// an inserted item (`None` for modifications and removals, which the relay ignores).
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub position: String,
    pub new_item: Option<Item>,
}

/// Forward the outbox items among `records` to the queue, in order, ten per batch. On a failure
/// the position of the first record not forwarded is returned: the stream redelivers from there
/// (records before it are done; a batch SQS took partly is sent again whole — the consumer
/// absorbs the duplicates). Records that are not outbox items are skipped (the event source
/// filter already leaves them out on AWS).
pub async fn relay(queue: &dyn Queue, records: &[StreamRecord]) -> Result<usize, String> {
    let mut batch: Vec<(usize, QueueMessage)> = vec![];
    let mut sent = 0;
    for (i, r) in records.iter().enumerate() {
        let Some(item) = &r.new_item else { continue };
        let is_outbox = store::attr(item, "pk").is_some_and(|pk| pk.starts_with(store::layout::OUTBOX_PREFIX));
        if !is_outbox {
            continue;
        }
        let Some(msg) = outbox_message(item) else {
            // Our own item without its message is a bug; failing here sends the record to the
            // stream's on-failure destination after the retries, where an alarm shows it.
            tracing::error!(position = %r.position, "outbox item without a message");
            flush(queue, &mut batch, records, &mut sent).await?;
            return Err(r.position.clone());
        };
        batch.push((i, QueueMessage { body: msg.to_string(), delay_secs: 0, attributes: BTreeMap::new() }));
        if batch.len() == 10 {
            flush(queue, &mut batch, records, &mut sent).await?;
        }
    }
    flush(queue, &mut batch, records, &mut sent).await?;
    Ok(sent)
}

async fn flush(
    queue: &dyn Queue,
    batch: &mut Vec<(usize, QueueMessage)>,
    records: &[StreamRecord],
    sent: &mut usize,
) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let first = batch[0].0;
    let messages: Vec<QueueMessage> = batch.drain(..).map(|(_, m)| m).collect();
    let n = messages.len();
    match queue.send(messages).await {
        Ok(()) => {
            *sent += n;
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "relay: the queue refused a batch");
            Err(records[first].position.clone())
        }
    }
}

/// The partial-batch answer of a queue or stream function (`ReportBatchItemFailures`): the
/// message ids (SQS) or the sequence number to resume from (stream) that failed.
#[derive(Debug, Default, Serialize)]
pub struct BatchFailures {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchFailures {
    pub fn of(ids: impl IntoIterator<Item = String>) -> Self {
        BatchFailures {
            batch_item_failures: ids.into_iter().map(|item_identifier| ItemFailure { item_identifier }).collect(),
        }
    }
}

// ------------------------------------------------------------------------------------ templates

/// One subscription template: its id, and which of our values fills which of its keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub id: String,
    /// Template key (`thing1`) → our value name (`project`, `status`, `deadline`, `note`, `detail`).
    pub data: BTreeMap<String, String>,
}

/// The template of every reminder kind, from `REMINDER_TEMPLATES` (JSON: kind → template).
#[derive(Debug, Clone)]
pub struct Templates(BTreeMap<ReminderKind, Template>);

impl Templates {
    pub fn parse(json: &str) -> Result<Templates, String> {
        let raw: BTreeMap<String, Template> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut by_kind = BTreeMap::new();
        for (name, t) in raw {
            let kind = ReminderKind::parse(&name).ok_or_else(|| format!("unknown reminder kind {name}"))?;
            if t.id.is_empty()
                || t.id.len() > 64
                || !t.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(format!("{name}: not a template id"));
            }
            for (key, value) in &t.data {
                if field_limit(key).is_none() {
                    return Err(format!("{name}: template key {key} is of a type reminders don't fill"));
                }
                if !VALUE_NAMES.contains(&value.as_str()) {
                    return Err(format!("{name}: {value} is not a reminder value"));
                }
            }
            by_kind.insert(kind, t);
        }
        if let Some(missing) = ReminderKind::ALL.iter().find(|k| !by_kind.contains_key(k)) {
            return Err(format!("no template for {}", missing.as_str()));
        }
        Ok(Templates(by_kind))
    }

    pub fn from_env(env: &Env) -> Result<Templates, ConfigError> {
        let v = env.require("REMINDER_TEMPLATES")?;
        Templates::parse(&v).map_err(|why| ConfigError::malformed("REMINDER_TEMPLATES", why))
    }

    /// The message for `r` to `openid`, each value fitted to its key's type.
    pub fn message(&self, r: &Reminder, openid: &str) -> Option<Subscription> {
        let t = self.0.get(&r.kind)?;
        let data = t.data.iter().filter_map(|(key, name)| Some((key.clone(), fit(key, &r.value(name)?)))).collect();
        Some(Subscription {
            openid: openid.to_string(),
            template_id: t.id.clone(),
            page: r.action.page(&r.project),
            data,
        })
    }
}

// ------------------------------------------------------------------------------------ consumer

/// What became of a reminder's message, kept on its to-do item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    /// Not sent yet (or being retried).
    Pending,
    Sent,
    /// WeChat refused it for good (e.g. 43101: the candidate gave no consent, or used it up).
    Refused {
        code: i64,
    },
    /// The candidate has no WeChat user bound (Baidu only): the to-do list is the channel.
    NoWechat,
}

/// A to-do item as stored: the reminder (without the openid) and its delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TodoRecord {
    pub reminder: Reminder,
    pub delivery: Delivery,
}

/// One message as the queue delivered it.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    /// How many times the queue has delivered it (1 the first time).
    pub receive_count: u32,
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Done now (the delivery says how).
    Done(Delivery),
    /// Done before (a duplicate): nothing written, nothing sent.
    Duplicate,
    /// Not done; the queue delivers it again (after a back-off).
    Retry(String),
    /// Not a reminder at all: fails until the queue moves it to the dead-letter queue.
    Poison,
}

/// The reminder consumer: table, WeChat, the queue (for back-off), templates.
#[derive(Clone)]
pub struct Consumer {
    pub table: Arc<dyn Table>,
    pub sender: Arc<dyn SubscriptionSender>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub templates: Arc<Templates>,
}

/// How long a claim holds before another delivery may take it over (a crashed attempt): longer
/// than one message can take (two table writes and a WeChat call, each bounded by seconds).
const LEASE_SECS: i64 = 60;
/// How long a completed marker keeps duplicates out: longer than any redelivery (SQS keeps a
/// message 4 days).
const MARKER_SECS: i64 = 30 * 86_400;

/// The back-off before a retried message is seen again: 1, 4, 16, 64 minutes…, at most 12 h
/// (SQS's ceiling). With maxReceiveCount 5 a message WeChat keeps refusing to take reaches the
/// dead-letter queue after about six hours — a daily quota (45009) has a chance to reset.
pub fn backoff_secs(receive_count: u32) -> u32 {
    let n = receive_count.clamp(1, 8) - 1;
    (60u32 << (2 * n)).min(43_200)
}

impl Consumer {
    /// Handle a batch; the ids of the messages to deliver again (SQS `batchItemFailures`).
    pub async fn consume(&self, batch: &[Received]) -> Vec<String> {
        self.consume_until(batch, None).await
    }

    /// The same, starting no message after `stop` (the invocation's deadline less the longest a
    /// message can take): a message cut off between its send and its record would be sent
    /// again once its claim ran out. Those not started are reported failed, untouched.
    pub async fn consume_until(&self, batch: &[Received], stop: Option<std::time::Instant>) -> Vec<String> {
        let mut failed = vec![];
        for m in batch {
            if stop.is_some_and(|s| std::time::Instant::now() >= s) {
                failed.push(m.message_id.clone());
                continue;
            }
            match self.handle(m).await {
                Handled::Done(_) | Handled::Duplicate => {}
                Handled::Retry(why) => {
                    tracing::warn!(message_id = %m.message_id, why = %why, "reminder: retry later");
                    if let Err(e) = self.queue.retry_later(&m.receipt, backoff_secs(m.receive_count)).await {
                        tracing::warn!(error = %e, "reminder: back-off not set; the queue's own visibility applies");
                    }
                    failed.push(m.message_id.clone());
                }
                Handled::Poison => failed.push(m.message_id.clone()),
            }
        }
        failed
    }

    /// One message: claim its marker, keep the to-do, send, record — once.
    pub async fn handle(&self, m: &Received) -> Handled {
        let r: Reminder = match serde_json::from_str(&m.body) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(message_id = %m.message_id, error = %e, "reminder: not a reminder (poison)");
                return Handled::Poison;
            }
        };
        let now = self.clock.now().unix_timestamp();
        let marker = keys::reminder_marker(&r.id);
        let todo_key = keys::todo(&r.candidate_id, r.at, &r.id);
        let mut stored = r.clone();
        stored.openid = None;
        let claim = marker_item(&marker, "in_progress", now + LEASE_SECS, now);
        let todo = match todo_item(&todo_key, &stored, Delivery::Pending) {
            Ok(t) => t,
            Err(e) => return Handled::Retry(e.to_string()),
        };
        // The claim and the to-do in one transaction: the list shows the reminder even if WeChat
        // never takes the message.
        match self
            .table
            .transact(vec![
                Write::Put { item: claim, cond: Cond::LeaseBefore(now) },
                Write::Put { item: todo, cond: Cond::Always },
            ])
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { at: 0, current: Some(current) }) => {
                return if store::attr(&current, "state") == Some("completed") {
                    Handled::Duplicate
                } else {
                    Handled::Retry("another delivery holds the claim".into())
                };
            }
            // DynamoDB answers a transaction racing another on the marker without the item.
            Err(StoreError::Conflict { .. }) => return Handled::Retry("claim raced".into()),
            Err(e) => return Handled::Retry(e.to_string()),
        }
        let claimed = std::time::Instant::now();
        let delivery = match r.openid.as_deref().and_then(|o| self.templates.message(&r, o)) {
            None => Delivery::NoWechat,
            Some(msg) => match self.sender.send(&msg).await {
                SendOutcome::Sent => Delivery::Sent,
                SendOutcome::Refused(code) => {
                    tracing::info!(reminder = %r.id, errcode = code, "reminder: WeChat refused the message for good");
                    Delivery::Refused { code }
                }
                SendOutcome::RetryLater(why) => {
                    // Free the claim so the next delivery sends; nothing was sent this time. Only
                    // while it is surely still ours (well inside its lease): past that, another
                    // delivery may hold it, and its lease will end by itself.
                    if claimed.elapsed() < std::time::Duration::from_secs(LEASE_SECS as u64 / 2)
                        && let Err(e) = self.table.delete(&marker, Cond::Always).await
                    {
                        tracing::warn!(error = %e, "reminder: claim not released; its lease will end");
                    }
                    return Handled::Retry(why);
                }
            },
        };
        let done = marker_item(&marker, "completed", now + MARKER_SECS, now);
        let todo = match todo_item(&todo_key, &stored, delivery.clone()) {
            Ok(t) => t,
            Err(e) => return Handled::Retry(e.to_string()),
        };
        match self
            .table
            .transact(vec![
                Write::Put { item: done, cond: Cond::Always },
                Write::Put { item: todo, cond: Cond::Always },
            ])
            .await
        {
            Ok(()) => Handled::Done(delivery),
            // Sent (or refused) but not recorded: not redelivered — a retry would send again once
            // the claim's lease ended, and a second message is worse than a to-do left showing
            // `pending`. Rare (the table failed right after WeChat answered); logged to be counted.
            Err(e) => {
                tracing::error!(reminder = %r.id, error = %e, "reminder: sent, but the record failed");
                Handled::Done(delivery)
            }
        }
    }
}

fn marker_item(key: &Key, state: &str, lease: i64, now: i64) -> Item {
    let mut item = Item::new();
    // Who holds it: makes each attempt's transaction its own, so the table's idempotency token
    // (same writes within 10 minutes = already applied) can't mistake a redelivery's claim for
    // the first one's and let it through.
    item.insert("holder".into(), shared::random::id().into());
    item.insert("pk".into(), key.pk.clone().into());
    item.insert("sk".into(), key.sk.clone().into());
    item.insert("type".into(), "reminder_marker".into());
    item.insert("state".into(), state.into());
    item.insert("lease".into(), lease.into());
    item.insert("at".into(), now.into());
    item.insert("ttl".into(), (now + MARKER_SECS).into());
    item
}

fn todo_item(key: &Key, r: &Reminder, delivery: Delivery) -> Result<Item, StoreError> {
    encode(key, "todo", 1, &TodoRecord { reminder: r.clone(), delivery }, &[])
}

// ------------------------------------------------------------------------------------ to-do list

/// One entry of the candidate's to-do list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TodoView {
    pub id: String,
    pub kind: ReminderKind,
    pub project: String,
    pub title: String,
    pub detail: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub deadline: Option<OffsetDateTime>,
    pub action: TodoAction,
    /// The mini-program page to open.
    pub page: String,
    /// Nothing left to do: the application has moved on from what this asked (or it never asked).
    pub done: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    /// `pending`, `sent`, `refused` or `no_wechat`: whether the WeChat message went out.
    pub delivery: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TodoPage {
    pub items: Vec<TodoView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A position in the to-do list (`next` of a page): the sort key of the last entry shown.
pub const TODO_POSITION_PATTERN: &str = "^TODO#[0-9]{12}#[0-9A-Za-z._-]{1,120}$";

/// Check a position the client sent back (a position, not an opaque cursor: it can only ever
/// name a place in the caller's own list).
pub fn parse_todo_position(raw: &str) -> Result<String, Refusal> {
    let ok = raw.strip_prefix("TODO#").and_then(|rest| rest.split_once('#')).is_some_and(|(at, id)| {
        at.len() == 12
            && at.bytes().all(|b| b.is_ascii_digit())
            && (1..=120).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    });
    if ok { Ok(raw.to_string()) } else { Err(Refusal::bad("INVALID_POSITION", "分页参数不正确").field("after")) }
}

/// Entries per page of the to-do list.
pub const TODO_PAGE: u32 = 20;

/// The candidate's to-do list, newest first: the session and the applications (whether each
/// to-do is done) in one batch, the list in one query, sent together.
pub async fn todos(
    table: &dyn Table,
    clock: &dyn Clock,
    reference: &Reference,
    principal: &Principal,
    after: Option<String>,
) -> Result<TodoPage, Refusal> {
    let Principal::Candidate(token) = principal else { return Err(unauthorized()) };
    let cid = token.candidate_id.as_str();
    let projects: Vec<&str> = reference.projects().keys().map(|p| p.as_str()).collect();
    let mut wanted: Vec<Key> = projects.iter().map(|p| keys::application(cid, p)).collect();
    wanted.push(token.key());
    // Newest first; after a position, everything older than it (the bound is inclusive, so
    // one more is read and the position itself dropped).
    let base = Query { descending: true, ..Query::of(None, format!("CAND#{cid}"), TODO_PAGE + 1) };
    let q = match &after {
        None => Query { sk_prefix: Some("TODO#".into()), ..base },
        Some(pos) => Query { sk_between: Some(("TODO#".into(), pos.clone())), ..base },
    };
    let (got, page) = tokio::join!(table.get_many(&wanted), table.query(&q));
    let got = got?;
    check_session(got[got.len() - 1].as_ref(), token, clock.now())?;
    let page = page?;
    let mut entries: Vec<&Item> =
        page.items.iter().filter(|i| after.as_deref().is_none_or(|pos| store::attr(i, "sk") != Some(pos))).collect();
    let more = entries.len() > TODO_PAGE as usize || page.cursor.is_some();
    entries.truncate(TODO_PAGE as usize);
    let next = if more { entries.last().and_then(|i| store::attr(i, "sk")).map(str::to_string) } else { None };
    let apps: BTreeMap<&str, Application> = projects
        .iter()
        .zip(&got)
        .filter_map(|(p, item)| Some((*p, decode::<Application>(item.as_ref()?).ok()?.value)))
        .collect();
    let items = entries
        .into_iter()
        .map(|item| {
            let rec: TodoRecord = decode(item)?.value;
            let r = rec.reminder;
            let done = r.awaits.is_none_or(|a| a.met_by(apps.get(r.project.as_str())));
            Ok(TodoView {
                page: r.action.page(&r.project),
                id: r.id,
                kind: r.kind,
                project: r.project,
                title: r.title,
                detail: r.detail,
                deadline: r.deadline,
                action: r.action,
                done,
                at: r.at,
                delivery: match rec.delivery {
                    Delivery::Pending => "pending",
                    Delivery::Sent => "sent",
                    Delivery::Refused { .. } => "refused",
                    Delivery::NoWechat => "no_wechat",
                }
                .into(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(TodoPage { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_grows_to_the_queue_ceiling() {
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(2), 240);
        assert_eq!(backoff_secs(5), 15_360);
        assert_eq!(backoff_secs(40), 43_200);
    }

    #[test]
    fn templates_name_every_kind_with_keys_reminders_fill() {
        let one = r#"{"id":"T1","data":{"thing1":"project","phrase2":"status","time3":"deadline","thing4":"note"}}"#;
        let all = |skip: &str, extra: &str| {
            let parts: Vec<String> = ReminderKind::ALL
                .iter()
                .filter(|k| k.as_str() != skip)
                .map(|k| format!("\"{}\":{}", k.as_str(), one))
                .collect();
            format!("{{{}{extra}}}", parts.join(","))
        };
        assert!(Templates::parse(&all("", "")).is_ok());
        assert!(Templates::parse(&all("paid", "")).unwrap_err().contains("paid"));
        let bad_key = all("", "").replace("thing4", "amount4");
        assert!(Templates::parse(&bad_key).unwrap_err().contains("amount4"));
        let bad_value = all("", "").replace("\"note\"", "\"id_number\"");
        assert!(Templates::parse(&bad_value).unwrap_err().contains("id_number"));
    }
}
