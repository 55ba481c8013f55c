//! The reminder consumer against WeChat's protocol (the local WeChat server, through the real
//! `wechat` adapter): each answer class handled as it must be, exactly-once sends across
//! retries, redeliveries and a crashed attempt, a poison message in a batch of ten; and the
//! sample events of the relay, reminders and sweep functions replayed through their handlers;
//! and the three functions composed from the template's environment on moto.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use e2e::stack::Stack;
use e2e::wechat_server::{self as wx, WechatServer};
use embedded::local::ManualClock;
use embedded::sqlite::SqliteTable;
use serde_json::{Value, json};
use services::config::Env;
use services::ports::{Clock, Queue, QueueMessage};
use services::reminders::{Consumer, Delivery, Handled, Received, Templates, TodoRecord};
use std::sync::{Arc, Mutex};
use store::{StoreError, Table};

/// A queue double for the consumer's back-off calls: records them (the SQS adapter itself is
/// exercised against moto in the end-to-end tests).
#[derive(Default)]
struct BackOffLog(Mutex<Vec<u32>>);

#[async_trait]
impl Queue for BackOffLog {
    async fn send(&self, _: Vec<QueueMessage>) -> Result<(), StoreError> {
        Ok(())
    }
    async fn retry_later(&self, _receipt: &str, delay_secs: u32) -> Result<(), StoreError> {
        self.0.lock().unwrap().push(delay_secs);
        Ok(())
    }
}

struct World {
    wechat: WechatServer,
    table: Arc<SqliteTable>,
    clock: Arc<ManualClock>,
    backoff: Arc<BackOffLog>,
    consumer: Consumer,
}

async fn world() -> World {
    let wechat = WechatServer::start().await;
    let settings = wechat::Settings {
        app_id: wx::APP_ID.into(),
        app_secret: services::secret::Secret::ready("WECHAT_APP_SECRET_ARN", wx::APP_SECRET.as_bytes()),
        base: wechat.base(),
    };
    let table = Arc::new(SqliteTable::in_memory().unwrap());
    let clock = Arc::new(ManualClock::new(e2e::NOW));
    let backoff = Arc::new(BackOffLog::default());
    let consumer = Consumer {
        table: table.clone(),
        sender: Arc::new(wechat::Wechat::new(settings)),
        queue: backoff.clone(),
        clock: clock.clone(),
        templates: Arc::new(Templates::parse(&embedded::local::local_templates()).unwrap()),
    };
    World { wechat, table, clock, backoff, consumer }
}

const CID: &str = "3f2a9c1e5b7d4e6f8a0b1c2d3e4f5a6b";

fn reminder(n: u32, openid: Option<&str>) -> String {
    let mut v = json!({
        "id": format!("{CID}.2025-health.{n}.0"), "candidate_id": CID, "project": "2025-health",
        // Longer than a `thing` (20 characters): the consumer fits it, or WeChat answers 47003.
        "project_name": "2025年度卫生专业技术资格考试(中级)护理学专业报名",
        "kind": "submitted", "title": "请到考点进行报名确认", "detail": "请于截止前到考点确认",
        "status": "待确认", "deadline": "2024-12-20T09:00:00Z", "action": "form",
        "awaits": {"status": "submitted", "since": "2024-12-01T02:00:00Z"}, "at": "2024-12-01T02:00:00Z",
    });
    if let Some(o) = openid {
        v["openid"] = json!(o);
    }
    v.to_string()
}

fn received(id: &str, body: String, count: u32) -> Received {
    Received { message_id: id.into(), receipt: format!("r-{id}"), body, receive_count: count }
}

async fn todo(w: &World, n: u32) -> TodoRecord {
    let key =
        store::keys::todo(CID, time::macros::datetime!(2024-12-01 02:00 UTC), &format!("{CID}.2025-health.{n}.0"));
    store::decode(&w.table.get(&key).await.unwrap().expect("the to-do item")).unwrap().value
}

#[tokio::test]
async fn a_sent_message_fits_the_field_limits_and_is_sent_once_however_often_it_arrives() {
    let w = world().await;
    let m = received("m1", reminder(1, Some("o-user-1")), 1);
    assert_eq!(w.consumer.handle(&m).await, Handled::Done(Delivery::Sent));
    assert_eq!(w.consumer.handle(&m).await, Handled::Duplicate, "SQS redelivery");
    let again = received("m2", reminder(1, Some("o-user-1")), 1);
    assert_eq!(w.consumer.handle(&again).await, Handled::Duplicate, "a duplicated stream record, relayed twice");
    let sent = w.wechat.sent();
    assert_eq!(sent.len(), 1);
    let thing = sent[0]["data"]["thing1"]["value"].as_str().unwrap();
    assert_eq!(thing.chars().count(), 20, "cut to 20 characters, not bytes: {thing}");
    assert_eq!(sent[0]["data"]["time3"]["value"], "2024年12月20日 17:00");
    assert_eq!(sent[0]["page"], "pages/application/form?project=2025-health");
    assert_eq!(todo(&w, 1).await.delivery, Delivery::Sent);
    assert!(todo(&w, 1).await.reminder.openid.is_none(), "the to-do item keeps no openid");
}

#[tokio::test]
async fn permanent_refusals_are_recorded_and_never_retried() {
    for code in [43101, 47003, 40003, 40037, 41030] {
        let w = world().await;
        w.wechat.script_send("o-refuses", &[code]);
        let m = received("m1", reminder(1, Some("o-refuses")), 1);
        assert_eq!(w.consumer.handle(&m).await, Handled::Done(Delivery::Refused { code }), "{code}");
        assert_eq!(w.consumer.handle(&m).await, Handled::Duplicate, "{code}: not tried again");
        assert!(w.wechat.sent().is_empty());
        assert_eq!(todo(&w, 1).await.delivery, Delivery::Refused { code });
        assert!(w.backoff.0.lock().unwrap().is_empty(), "{code}: no back-off for a permanent answer");
    }
}

#[tokio::test]
async fn busy_and_quota_are_retried_later_with_back_off_and_the_retry_sends_once() {
    for code in [-1, 45009, 45011] {
        let w = world().await;
        w.wechat.script_send("o-busy", &[code]);
        let batch = [received("m1", reminder(1, Some("o-busy")), 1)];
        assert_eq!(w.consumer.consume(&batch).await, ["m1"], "{code}: reported failed, so SQS delivers it again");
        assert_eq!(*w.backoff.0.lock().unwrap(), [60], "{code}: visibility back-off");
        assert_eq!(todo(&w, 1).await.delivery, Delivery::Pending, "the to-do is there meanwhile");
        let again = [received("m1", reminder(1, Some("o-busy")), 2)];
        assert!(w.consumer.consume(&again).await.is_empty(), "{code}");
        assert_eq!(w.wechat.sent().len(), 1, "{code}: sent once, on the retry");
        assert_eq!(todo(&w, 1).await.delivery, Delivery::Sent);
    }
}

#[tokio::test]
async fn an_invalid_token_is_refreshed_once_and_the_message_sent() {
    let w = world().await;
    assert_eq!(w.consumer.handle(&received("m1", reminder(1, Some("o-a")), 1)).await, Handled::Done(Delivery::Sent));
    w.wechat.revoke_tokens();
    assert_eq!(w.consumer.handle(&received("m2", reminder(2, Some("o-a")), 1)).await, Handled::Done(Delivery::Sent));
    assert_eq!(w.wechat.token_calls(), (2, 1), "one cached token, one forced refresh");
    assert_eq!(w.wechat.sent().len(), 2);
}

#[tokio::test]
async fn a_crashed_attempt_is_taken_over_when_its_lease_ends_not_before() {
    let w = world().await;
    // An attempt that claimed the marker and died before recording anything.
    let key = store::keys::reminder_marker(&format!("{CID}.2025-health.1.0"));
    let now = w.clock.now().unix_timestamp();
    let item = json!({"pk": key.pk, "sk": key.sk, "state": "in_progress", "lease": now + 60});
    w.table.put(item.as_object().unwrap().clone(), store::Cond::Always).await.unwrap();
    let m = received("m1", reminder(1, Some("o-a")), 2);
    assert!(matches!(w.consumer.handle(&m).await, Handled::Retry(_)), "held by a live attempt");
    assert!(w.wechat.sent().is_empty());
    w.clock.set(e2e::NOW + time::Duration::seconds(61));
    assert_eq!(w.consumer.handle(&m).await, Handled::Done(Delivery::Sent), "taken over");
    assert_eq!(w.wechat.sent().len(), 1);
}

#[tokio::test]
async fn no_message_starts_too_close_to_the_invocations_end() {
    let w = world().await;
    let batch: Vec<Received> = (1..=3).map(|n| received(&format!("m{n}"), reminder(n, Some("o-a")), 1)).collect();
    let past = std::time::Instant::now();
    assert_eq!(w.consumer.consume_until(&batch, Some(past)).await, ["m1", "m2", "m3"], "all left for redelivery");
    assert!(w.wechat.calls().is_empty(), "nothing was sent, nothing claimed");
    assert!(w.consumer.consume(&batch).await.is_empty());
    assert_eq!(w.wechat.sent().len(), 3);
}

#[tokio::test]
async fn a_baidu_only_candidate_gets_the_todo_and_no_message() {
    let w = world().await;
    assert_eq!(w.consumer.handle(&received("m1", reminder(1, None), 1)).await, Handled::Done(Delivery::NoWechat));
    assert!(w.wechat.calls().is_empty(), "WeChat is not called");
    assert_eq!(todo(&w, 1).await.delivery, Delivery::NoWechat);
}

#[tokio::test]
async fn a_batch_of_ten_with_one_poison_message_reports_exactly_that_one() {
    let w = world().await;
    let mut batch: Vec<Received> = (1..=9).map(|n| received(&format!("m{n}"), reminder(n, Some("o-a")), 1)).collect();
    batch.insert(4, received("poison", "{\"id\": 42}".into(), 5));
    assert_eq!(w.consumer.consume(&batch).await, ["poison"]);
    assert_eq!(w.wechat.sent().len(), 9, "the others are done");
}

fn event(function: &str, file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(function).join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_relay_event_forwards_the_outbox_insert_and_nothing_else() {
    let queue = embedded::local::LocalQueue::default();
    let ev: relay::StreamEvent = serde_json::from_value(event("relay", "stream-outbox-insert.json")).unwrap();
    let out = relay::handle(&queue, ev).await;
    assert!(out.batch_item_failures.is_empty());
    let sent = queue.drain();
    assert_eq!(sent.len(), 1, "the MODIFY of an application is not relayed");
    let r: shared::domain::reminder::Reminder = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(r.kind, shared::domain::reminder::ReminderKind::Submitted);
}

/// A queue that refuses every batch: the relay reports the first record it did not forward.
struct Refusing;
#[async_trait]
impl Queue for Refusing {
    async fn send(&self, _: Vec<QueueMessage>) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn retry_later(&self, _: &str, _: u32) -> Result<(), StoreError> {
        Ok(())
    }
}

#[tokio::test]
async fn the_relay_reports_where_the_stream_must_resume_when_the_queue_refuses() {
    let ev: relay::StreamEvent = serde_json::from_value(event("relay", "stream-outbox-insert.json")).unwrap();
    let out = relay::handle(&Refusing, ev).await;
    let ids: Vec<&str> = out.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(ids, ["111100000000000000000001"]);
}

#[tokio::test]
async fn the_reminders_event_replays_with_its_poison_message_reported() {
    let w = world().await;
    let ev: reminders::SqsEvent = serde_json::from_value(event("reminders", "sqs-batch.json")).unwrap();
    let out = reminders::handle(&w.consumer, ev, None).await;
    let ids: Vec<&str> = out.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(ids, ["059f36b4-87a3-44ab-83d2-661975594181"], "only the message that is not a reminder");
    assert_eq!(w.wechat.sent().len(), 1);
    let wire = serde_json::to_value(&out).unwrap();
    assert_eq!(wire["batchItemFailures"][0]["itemIdentifier"], "059f36b4-87a3-44ab-83d2-661975594181");
}

#[tokio::test]
async fn the_scheduled_event_runs_the_sweep_and_anything_else_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let local = embedded::Embedded::in_memory(dir.path()).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(e2e::NOW));
    let system = local_server::System::embedded(&local, clock).unwrap();
    let sweep = services::sweep::Sweep { apps: system.apps.clone(), pace: services::sweep::Pace::default() };
    let ev: sweep::ScheduledEvent = serde_json::from_value(event("sweep", "scheduled.json")).unwrap();
    let report = sweep::handle(&sweep, &ev, std::time::Duration::from_secs(90)).await.unwrap();
    assert_eq!((report.lapsed, report.more), (0, false), "nothing due in an empty table");
    assert!(report.pages > 0, "it read the due index");
    let mut other = event("sweep", "scheduled.json");
    other["source"] = json!("aws.s3");
    let ev: sweep::ScheduledEvent = serde_json::from_value(other).unwrap();
    assert!(sweep::handle(&sweep, &ev, std::time::Duration::from_secs(90)).await.is_err());
}

#[tokio::test]
async fn the_three_functions_compose_from_the_templates_environment_and_name_what_is_missing() {
    let stack = Stack::new().await;
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(e2e::NOW));
    relay::compose::from_env(&Env::Map(stack.env("RelayFunction"))).unwrap();
    reminders::compose::build(&Env::Map(stack.env("RemindersFunction")), clock.clone()).await.unwrap();
    sweep::compose::build(&Env::Map(stack.env("SweepFunction")), clock.clone()).await.unwrap();
    for (function, var) in [
        ("RelayFunction", "QUEUE_URL"),
        ("RemindersFunction", "TABLE_NAME"),
        ("RemindersFunction", "QUEUE_URL"),
        ("RemindersFunction", "WECHAT_APP_ID"),
        ("RemindersFunction", "WECHAT_APP_SECRET_ARN"),
        ("RemindersFunction", "REMINDER_TEMPLATES"),
        ("SweepFunction", "TABLE_NAME"),
    ] {
        let mut env = stack.env(function);
        assert!(env.remove(var).is_some(), "{function} is not given {var}");
        let env = Env::Map(env);
        let err = match function {
            "RelayFunction" => relay::compose::from_env(&env).err().map(|e| e.to_string()),
            "RemindersFunction" => reminders::compose::build(&env, clock.clone()).await.err().map(|e| e.to_string()),
            _ => sweep::compose::build(&env, clock.clone()).await.err().map(|e| e.to_string()),
        };
        let err = err.unwrap_or_else(|| panic!("{function} started without {var}"));
        assert!(err.contains(var), "{function} without {var}: {err}");
    }
    for (var, bad) in [("SWEEP_RATE", "0"), ("SWEEP_IN_FLIGHT", "many")] {
        let mut env = stack.env("SweepFunction");
        env.insert(var.into(), bad.into());
        let err = sweep::compose::build(&Env::Map(env), clock.clone()).await.err().unwrap().to_string();
        assert!(err.contains(var), "{err}");
    }
    let mut env = stack.env("RemindersFunction");
    env.insert("REMINDER_TEMPLATES".into(), r#"{"submitted": {"id": "x", "data": {}}}"#.into());
    let err = reminders::compose::build(&Env::Map(env), clock.clone()).await.err().unwrap().to_string();
    assert!(err.contains("REMINDER_TEMPLATES") && err.contains("no template for"), "{err}");
    // The relay is given the queue alone; the sweep no queue, no secret, no bucket.
    let vars = |f: &str| e2e::stack::template_env(f).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(vars("RelayFunction"), ["QUEUE_URL", "RUST_LOG"]);
    assert!(!vars("SweepFunction").iter().any(|k| k.contains("SECRET") || k == "QUEUE_URL" || k == "BUCKET_NAME"));
}
