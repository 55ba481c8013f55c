//! `cargo bench -p e2e --bench handlers` — time to handle one page submit and one application
//! read through the `application` handler on the embedded store (file-backed SQLite, as the
//! local server runs it). Prints median, p95 and mean; asserts nothing about time.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use embedded::local::ManualClock;
use lambda_http::{Body, Request};
use local_server::System as Deps;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn request(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Request {
    let mut b =
        lambda_http::http::Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(body.map_or(Body::Empty, |v| Body::Text(v.to_string()))).expect("request")
}

async fn call(deps: &Deps, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let req = request(method, path, token, body);
    let resp = if path.starts_with("/v1/applications") {
        application::handle(&deps.application, req).await
    } else {
        login::handle(&deps.accounts, req).await
    };
    let v = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (resp.status().as_u16(), v)
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / n as u32;
    println!(
        "{name:<28} n={n:<5} median={:>8.1?} p95={:>8.1?} mean={:>8.1?}",
        samples[n / 2],
        samples[n * 95 / 100],
        mean
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = embedded::Embedded::open(dir.path(), "http://127.0.0.1").expect("embedded store");
    let deps = Deps::embedded(&local, Arc::new(ManualClock::new(e2e::NOW))).expect("deps");
    let (s, v) = call(
        &deps,
        "POST",
        "/v1/accounts",
        None,
        Some(json!({"account": "bench_user", "password": "Bench2025pass", "name": "张三", "id_type": "resident_id",
            "id_number": "410102199003070019", "gender": "male", "birth_date": "1990-03-07", "nationality": "中国",
            "phone": "13912345678"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let token = v["token"].as_str().expect("token").to_string();
    let t = Some(token.as_str());
    call(&deps, "POST", "/v1/account/wechat", t, Some(json!({"code": "local-bench"}))).await;
    let (s, _) =
        call(&deps, "POST", "/v1/applications", t, Some(json!({"project": "2025-health", "district": "41"}))).await;
    assert_eq!(s, 201);
    call(
        &deps,
        "POST",
        "/v1/applications/2025-health/agreement",
        t,
        Some(json!({"important_version": "2025.1", "integrity_version": "2025.1"})),
    )
    .await;

    let n = 2000;
    // Warm-up: caches, prepared statements, allocator.
    for _ in 0..100 {
        call(&deps, "GET", "/v1/applications/2025-health", t, None).await;
    }
    let mut writes = Vec::with_capacity(n);
    for i in 0..n {
        let site = if i % 2 == 0 { "4101" } else { "4102" };
        let start = Instant::now();
        let (s, _) =
            call(&deps, "PUT", "/v1/applications/2025-health/pages/site", t, Some(json!({"site": site}))).await;
        writes.push(start.elapsed());
        assert_eq!(s, 200);
    }
    let mut reads = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let (s, _) = call(&deps, "GET", "/v1/applications/2025-health", t, None).await;
        reads.push(start.elapsed());
        assert_eq!(s, 200);
    }
    println!("application handler on the embedded store (file-backed SQLite, WAL), one thread:");
    report("page submit (PUT site)", writes);
    report("application read (GET)", reads);
}
