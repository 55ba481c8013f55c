//! `cargo bench -p e2e --bench sweep` (and under `scripts/with-moto` for DynamoDB too): one
//! district (河南) holding 100,000 submitted, unconfirmed applications (300 on moto: see
//! `fill_size`) spread over the eight shards, the clock moved past the confirmation deadline,
//! then one sweep run, unpaced, printing lapses per second and the table round trips per lapse
//! (goals: one index page per 100 due applications, one read and one transaction per lapse);
//! then, on the embedded store, the reminder consumer over the lapse reminders it caused,
//! against the local WeChat protocol server over HTTP, in batches of ten as Lambda hands them
//! over: messages per second. Times on moto measure our code plus an emulator on loopback.

// Bench support: a failed unwrap is a failed run, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::steps::*;
use e2e::wechat_server::{self as wx, WechatServer};
use e2e::{On, TestApp, ZHANG, spawn_app_on};
use serde_json::{Value, json};
use services::reminders::{Consumer, Received, Templates};
use services::sweep::{Pace, Sweep};
use sha2::Digest;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use store::layout::{SHARDS, shard};

fn fill_size(on: On) -> usize {
    let (var, default) = match on {
        On::Sqlite => ("SWEEP_FILL", 100_000),
        // moto's TransactWriteItems copies the whole table (see the staff_queue bench).
        On::Moto => ("SWEEP_FILL_MOTO", 50),
    };
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One real submitted application, copied under `n` new candidate ids (uniform hashes, so
/// spread over the shards as real ones are), written straight into the table.
async fn fill(app: &TestApp, n: usize, in_flight: usize) {
    let token = start(app, &ZHANG, "41").await;
    fill_all(app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    let (s, _) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200);
    let cid = token.split('.').next().unwrap().to_string();
    let table = app.running.deps.table.clone();
    let got =
        table.get_many(&[store::keys::candidate(&cid), store::keys::application(&cid, "2025-health")]).await.unwrap();
    let (candidate, application) = (got[0].clone().unwrap(), got[1].clone().unwrap());
    let deadline = application["gsi3sk"].as_str().unwrap().split('#').next().unwrap().to_string();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let digest = sha2::Sha256::digest(format!("bench-{i}").as_bytes());
        let new_cid: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let swap = |item: &store::Item| {
            let text = Value::Object(item.clone()).to_string().replace(&cid, &new_cid);
            let mut v: Value = serde_json::from_str(&text).unwrap();
            if v.get("gsi3pk").is_some() {
                v["gsi3pk"] = json!(store::keys::due("2025-health", "41", shard(&new_cid)));
                v["gsi3sk"] = json!(format!("{deadline}#{new_cid}"));
                // No code lookups in this bench: leave the code index alone.
                v.as_object_mut().unwrap().remove("gsi1pk");
            }
            v.as_object().unwrap().clone()
        };
        let writes = vec![
            store::Write::Put { item: swap(&candidate), cond: store::Cond::Always },
            store::Write::Put { item: swap(&application), cond: store::Cond::Always },
        ];
        let t = table.clone();
        tasks.spawn(async move { t.transact(writes).await.unwrap() });
        if tasks.len() >= in_flight {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

async fn run(on: On) {
    let app = spawn_app_on(on).await;
    let n = fill_size(on);
    let t = Instant::now();
    // moto serialises requests and copies the table per transaction: two at a time there.
    fill(&app, n, if matches!(on, On::Moto) { 2 } else { 16 }).await;
    println!("[{on:?}] {n} due applications written in {:.1} s (over {SHARDS} shards)", t.elapsed().as_secs_f64());
    let deadline = app.running.deps.reference.projects().values().next().unwrap().schedule.confirmation_deadline;
    app.clock.set(deadline + time::Duration::minutes(1));
    // moto answers one request at a time and copies the table in each transaction: one lapse at
    // a time there, or they queue past the SDK's timeout.
    let in_flight = if matches!(on, On::Moto) { 1 } else { 64 };
    let sweep = Sweep { apps: app.running.deps.apps.clone(), pace: Pace { per_second: 1_000_000, in_flight } };
    app.counts.take();
    let t = Instant::now();
    let report = sweep.run(Duration::from_secs(3600)).await;
    let secs = t.elapsed().as_secs_f64();
    let c = &app.counts;
    let (q, gm, tx, get, put) = (
        c.query.load(Ordering::SeqCst),
        c.get_many.load(Ordering::SeqCst),
        c.transact.load(Ordering::SeqCst),
        c.get.load(Ordering::SeqCst),
        c.put.load(Ordering::SeqCst),
    );
    assert_eq!(report.lapsed as usize, n + 1, "every due application lapsed: {report:?}");
    let per = |x: u64| x as f64 / report.lapsed as f64;
    println!(
        "[{on:?}] sweep, unpaced (in flight {in_flight}): {} lapsed in {secs:.1} s = {:.0} lapses/s; round trips: query {q} \
         ({:.1} due per page read, incl. the empty shards' and districts' pages), get_many {gm} ({:.2}/lapse), \
         transact {tx} ({:.2}/lapse), get {get}, put {put} (watermarks)",
        report.lapsed,
        report.lapsed as f64 / secs,
        report.lapsed as f64 / q as f64,
        per(gm),
        per(tx),
    );
    println!(
        "[{on:?}] at the deployed pace (SWEEP_RATE 300/s) the same {} lapses take {:.0} s",
        report.lapsed,
        report.lapsed as f64 / 300.0
    );
    if let e2e::mail::Mail::Embedded(worker) = &app.mail {
        consumer_rate(worker, n.min(5_000)).await;
    }
}

/// The consumer over `count` of the lapse reminders, against the WeChat protocol server.
async fn consumer_rate(worker: &local_server::worker::Worker, count: usize) {
    let wechat = WechatServer::start().await;
    let settings = wechat::Settings {
        app_id: wx::APP_ID.into(),
        app_secret: services::secret::Secret::ready("WECHAT_APP_SECRET_ARN", wx::APP_SECRET.as_bytes()),
        base: wechat.base(),
    };
    let consumer = Consumer {
        table: worker.consumer.table.clone(),
        sender: Arc::new(wechat::Wechat::new(settings)),
        queue: worker.queue.clone(),
        clock: worker.consumer.clock.clone(),
        templates: Arc::new(Templates::parse(&embedded::local::local_templates()).unwrap()),
    };
    let mut bodies = vec![];
    let mut after = 0;
    while bodies.len() < count {
        let batch = worker.table.stream_after(after, 1000).unwrap();
        let Some((last, _)) = batch.last() else { break };
        after = *last;
        bodies.extend(batch.iter().filter_map(|(_, item)| store::layout::outbox_message(item).map(str::to_string)));
    }
    bodies.truncate(count);
    let messages: Vec<Received> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| Received { message_id: format!("m{i}"), receipt: format!("r{i}"), body, receive_count: 1 })
        .collect();
    let t = Instant::now();
    for batch in messages.chunks(10) {
        let failed = consumer.consume(batch).await;
        assert!(failed.is_empty(), "{failed:?}");
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(wechat.sent().len(), messages.len());
    println!(
        "[Sqlite] consumer: {} messages in {secs:.1} s = {:.0} messages/s (one consumer, batches of 10, each: \
         claim + to-do in one transaction, WeChat over HTTP, record in one transaction)",
        messages.len(),
        messages.len() as f64 / secs
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    run(On::Sqlite).await;
    if std::env::var("MOTO_ENDPOINT").is_ok_and(|e| !e.is_empty()) {
        run(On::Moto).await;
    } else {
        println!("(set MOTO_ENDPOINT, e.g. under scripts/with-moto, to run it on DynamoDB too)");
    }
}
