//! `cargo bench -p e2e --bench payment` (and under `scripts/with-moto` for DynamoDB too): the
//! payment webhook's cost per WeChat Pay notification — signature check, decryption, the read
//! of the application and its order, the conditional transaction — through the payment
//! function's handler as Lambda calls it (an API Gateway request in memory, no HTTP), over
//! notifications signed and encrypted by the local WeChat Pay server. One approved application
//! with an open order is made over HTTP, then copied under new candidate ids and order numbers
//! straight into the table. Prints notifications per second, per-notification latency
//! (median, p99) and table round trips per notification (goal: one read, one transaction).
//! Times on moto measure our code plus an emulator on loopback.

// Bench support: a failed unwrap is a failed run, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::steps::*;
use e2e::{On, TestApp, ZHANG, spawn_app_on};
use serde_json::Value;
use sha2::Digest;
use std::time::Instant;

fn size(on: On) -> usize {
    let (var, default) = match on {
        On::Sqlite => ("PAYMENT_BENCH_N", 1_000),
        // moto's TransactWriteItems copies the whole table: keep it small there.
        On::Moto => ("PAYMENT_BENCH_N_MOTO", 50),
    };
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// 张三 approved in 河南 with an open order, in the payment window: his candidate id and order.
async fn one_order(app: &TestApp) -> (String, String) {
    let (token, cid, code) = submitted_in_henan(app, &ZHANG).await;
    let _ = token;
    let (clerk, reviewer, _) = henan_staff(app).await;
    assert_eq!(e2e::desk::confirm_code(app, &clerk, &code).await.0, 200);
    assert_eq!(e2e::desk::decide(app, &clerk, &cid, "approve_site", None).await.0, 200);
    e2e::desk::queue_with(app, &reviewer, "/v1/staff/projects/2025-health/queues/review", &cid).await;
    assert_eq!(e2e::desk::decide(app, &reviewer, &cid, "approve_district", None).await.0, 200);
    app.clock.set(time::macros::datetime!(2025-02-10 10:00 +08:00));
    let token = login(app, &ZHANG).await;
    let (s, order) = app.call("POST", "/v1/applications/2025-health/payment", Some(&token), None).await;
    assert_eq!(s, 200, "{order}");
    (cid, order["out_trade_no"].as_str().unwrap().to_string())
}

async fn run(on: On) {
    let app = spawn_app_on(on).await;
    let n = size(on);
    let (cid, no) = one_order(&app).await;
    let sim = app.running.locals.wechatpay.clone().unwrap();
    sim.pay(&no, None).unwrap();
    let tx = sim.transaction(&no).unwrap();
    let table = app.running.deps.table.clone();
    let keys = [store::keys::candidate(&cid), store::keys::application(&cid, "2025-health"), store::keys::order(&no)];
    let originals: Vec<store::Item> = table.get_many(&keys).await.unwrap().into_iter().map(Option::unwrap).collect();
    let mut notifications = vec![];
    for i in 0..n {
        let digest = sha2::Sha256::digest(format!("pay-bench-{i}").as_bytes());
        let new_cid: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let new_no = format!("P{}", &new_cid[..31]);
        let swap = |item: &store::Item| {
            let text = Value::Object(item.clone()).to_string().replace(&cid, &new_cid).replace(&no, &new_no);
            let mut v: Value = serde_json::from_str(&text).unwrap();
            // No code lookups or sweeps here: leave those indexes alone.
            for attr in ["gsi1pk", "gsi1sk", "gsi3pk", "gsi3sk"] {
                v.as_object_mut().unwrap().remove(attr);
            }
            store::Write::Put { item: v.as_object().unwrap().clone(), cond: store::Cond::Always }
        };
        table.transact(originals.iter().map(swap).collect()).await.unwrap();
        let tx: Value = serde_json::from_str(&tx.to_string().replace(&cid, &new_cid).replace(&no, &new_no)).unwrap();
        notifications.push(sim.notification(&tx));
    }
    let payment = app.running.deps.payment.clone();
    app.counts.take();
    let mut latencies = vec![];
    let mut odd = vec![];
    let (mut reads, mut writes) = (0u64, 0u64);
    let started = Instant::now();
    for (i, (headers, body)) in notifications.into_iter().enumerate() {
        let mut req = lambda_http::http::Request::builder().method("POST").uri("/v1/payments/wechat/notify");
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(lambda_http::Body::Text(body)).unwrap();
        let t = Instant::now();
        let resp = payment::handle(&payment, req).await;
        latencies.push(t.elapsed());
        assert_eq!(resp.status(), 204);
        let c = &app.counts;
        let r = c.get_many.load(std::sync::atomic::Ordering::SeqCst) + c.get.load(std::sync::atomic::Ordering::SeqCst);
        let w = c.transact.load(std::sync::atomic::Ordering::SeqCst);
        if (r - reads, w - writes) != (1, 1) {
            odd.push(format!("#{i}: {} reads + {} transactions", r - reads, w - writes));
        }
        (reads, writes) = (r, w);
    }
    let total = started.elapsed();
    latencies.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let c = &app.counts;
    if !odd.is_empty() {
        println!("[{on:?}] notifications not at one read + one transaction: {}", odd.join(", "));
    }
    println!(
        "[{on:?}] {n} notifications in {:.2} s: {:.0}/s; latency median {:.2} ms, p99 {:.2} ms; per notification {:.2} reads + {:.2} transactions ({})",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        ms(latencies[n / 2]),
        ms(latencies[(n * 99 / 100).min(n - 1)]),
        reads as f64 / n as f64,
        writes as f64 / n as f64,
        c.take_detail(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    run(On::Sqlite).await;
    if std::env::var_os("MOTO_ENDPOINT").is_some() {
        run(On::Moto).await;
    } else {
        println!("(set MOTO_ENDPOINT, e.g. under scripts/with-moto, to run it on DynamoDB too)");
    }
}
