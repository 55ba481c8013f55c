//! `cargo bench -p e2e --bench staff_queue` (and under `scripts/with-moto` for DynamoDB too): a
//! site's queue filled with 10,000 submitted applications, then, through the local server over
//! HTTP as the staff console calls it: the first page of the queue, the counts, finding and
//! confirming one application by the code on its form, and a site decision — each with its time
//! and the table round trips it made. Goals: a page of the queue is one query; a decision is one
//! read plus one transaction. Times against moto measure our code plus an emulator on loopback.

// Bench support: a failed unwrap is a failed run, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::desk;
use e2e::steps::*;
use e2e::{On, TestApp, ZHANG, spawn_app_on};
use serde_json::{Value, json};
use std::time::Instant;

/// How many to write (`STAFF_QUEUE_FILL`, default 10,000, on both backends).
fn fill_size() -> usize {
    std::env::var("STAFF_QUEUE_FILL").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// On moto, the table with a patient client. Moto's `TransactWriteItems` deep-copies every table
/// to be able to roll back, so with 20,000 items (10,000 candidates and their applications) one
/// transaction takes longer than the functions' 6-second operation timeout — a cost of the
/// emulator, not of DynamoDB. The bench's server therefore talks to the same table through a
/// client that waits up to two minutes; the functions' own clients are untouched.
fn patient_table(p: &e2e::aws::Provisioned) -> local_server::TableLayer {
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    use std::time::Duration;
    let sdk = aws_adapters::Aws::from_env(&p.env()).unwrap().sdk;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(120))
        .operation_timeout(Duration::from_secs(120))
        .build();
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk).timeout_config(timeouts).build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let table = p.table.clone();
    Box::new(move |_| std::sync::Arc::new(aws_adapters::dynamo::DynamoTable::new(client, table)))
}
const Q: &str = "/v1/staff/projects/2025-health";

/// One real submitted application (made through the API), copied `FILL` times under new
/// candidate ids and codes, written straight into the table: what 10,000 candidates submitting
/// at site 4101 leave behind. Returns the codes of the copies.
async fn fill(app: &TestApp) -> Vec<String> {
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
    let mut codes = vec![];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..fill_size() {
        let new_cid = format!("{:032x}", 0xa000_0000_0000_0000_0000_0000_0000_0000u128 + i as u128);
        let code = shared::vcode::new_code().unwrap();
        let swap = |item: &store::Item| {
            let text = Value::Object(item.clone()).to_string().replace(&cid, &new_cid);
            let mut v: Value = serde_json::from_str(&text).unwrap();
            if v["data"]["verification_code"].is_string() {
                v["data"]["verification_code"] = json!(code);
                v["gsi1pk"] = json!(store::keys::vcode(&code));
                // Oldest first: spread the submission times over the morning.
                let since = 1_733_014_800 + i as i64;
                v["gsi2sk"] = json!(format!("{since:012}#{new_cid}"));
            }
            v.as_object().unwrap().clone()
        };
        let (c, a) = (swap(&candidate), swap(&application));
        codes.push(code);
        let table = table.clone();
        tasks.spawn(async move {
            table.put(c, store::Cond::Always).await.unwrap();
            table.put(a, store::Cond::Always).await.unwrap();
        });
        if tasks.len() >= 4 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    codes
}

async fn timed(app: &TestApp, name: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    app.counts.take();
    let started = Instant::now();
    let (s, v) = app.call(method, path, Some(token), body).await;
    let took = started.elapsed();
    assert!((200..300).contains(&s), "{name}: {s} {v}");
    println!("  {name:<34} {:>8.1} ms   round trips: {}", took.as_secs_f64() * 1000.0, app.counts.take_detail());
    v
}

async fn run(on: On) {
    let app = match on {
        On::Sqlite => spawn_app_on(on).await,
        On::Moto => {
            let p = e2e::aws::provision().await;
            let layer = patient_table(&p);
            e2e::spawn_app_on_provisioned_with(p, layer).await
        }
    };
    let started = Instant::now();
    let codes = fill(&app).await;
    let n = codes.len();
    println!("{on:?}: {n} submitted applications at site 4101 written in {:.1} s", started.elapsed().as_secs_f64());
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "henan_admin", "district", "41", true).await;
    let (clerk, _) = desk::create(&app, &admin, "site_4101", "site", "4101", false).await;
    let page =
        timed(&app, "first page of the queue (50)", "GET", &format!("{Q}/queues/confirm?limit=50"), &clerk, None).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 50);
    let next = page["next"].as_str().unwrap().replace('#', "%23");
    timed(&app, "next page", "GET", &format!("{Q}/queues/confirm?limit=50&after={next}"), &clerk, None).await;
    let counts = timed(&app, "counts (bounded at 10,000)", "GET", &format!("{Q}/counts"), &clerk, None).await;
    println!("    counts: {counts}");
    let code = &codes[n / 2];
    timed(&app, "find by code", "GET", &format!("{Q}/codes/{code}"), &clerk, None).await;
    let v = timed(&app, "confirm by code", "POST", &format!("{Q}/codes/{code}/confirm"), &clerk, None).await;
    let cid = v["candidate_id"].as_str().unwrap().to_string();
    let decision = json!({"decision": "approve_site"});
    let path = format!("/v1/staff/applications/{cid}/2025-health/decisions");
    timed(&app, "site decision (approve)", "POST", &path, &clerk, Some(decision)).await;
    timed(
        &app,
        "open an application (audited)",
        "GET",
        &format!("/v1/staff/applications/{cid}/2025-health"),
        &clerk,
        None,
    )
    .await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // A failed call's cause (logged by the server, never in the response) shows here.
    tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_writer(std::io::stderr).init();
    run(On::Sqlite).await;
    if std::env::var("MOTO_ENDPOINT").is_ok() {
        run(On::Moto).await;
    } else {
        println!("(MOTO_ENDPOINT not set: run under scripts/with-moto for the DynamoDB numbers)");
    }
}
