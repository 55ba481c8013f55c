//! `scripts/with-moto cargo bench -p e2e --bench aws_journey` — the candidate journey on the AWS
//! backend (DynamoDB, S3, SQS on moto), through the local server over HTTP: per operation, the
//! table round trips it made and the time to answer (median and p95 over the candidates).
//! Times against moto measure our code plus an emulator on loopback, not AWS latency.

// Bench support: a failed unwrap is a failed run, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::{On, TestApp, spawn_app_on};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const P: &str = "/v1/applications/2025-health";
const CANDIDATES: usize = 30;

type Samples = BTreeMap<&'static str, (Vec<u64>, Vec<Duration>)>;

async fn step(
    app: &TestApp,
    out: &mut Samples,
    name: &'static str,
    m: &str,
    path: &str,
    t: Option<&str>,
    body: Option<Value>,
) -> Value {
    app.counts.take();
    let start = Instant::now();
    let (s, v) = app.call(m, path, t, body).await;
    let took = start.elapsed();
    assert!((200..300).contains(&s), "{name}: {s} {v}");
    let e = out.entry(name).or_default();
    e.0.push(app.counts.take());
    e.1.push(took);
    v
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let app = spawn_app_on(On::Moto).await;
    let mut out = Samples::new();
    let order = [
        "register",
        "login",
        "bind wechat",
        "create application",
        "read application",
        "agree",
        "page site",
        "page basic",
        "page contact",
        "page exam",
        "page education",
        "page work",
        "photo",
        "submit",
        "read form",
        "withdraw",
    ];
    for i in 0..CANDIDATES {
        let account = format!("bench_{i:04}");
        let v = step(&app, &mut out, "register", "POST", "/v1/accounts", None, Some(json!({
            "account": account, "password": "Bench2025pass", "name": "测试", "id_type": "passport",
            "id_number": format!("E{i:08}"), "gender": "male", "birth_date": "1990-01-01", "nationality": "中国",
            "phone": "13912345678", "degrees": [{"level": "bachelor", "school": "郑州大学", "major": "护理学", "graduated": "2015-07"}]}))).await;
        let _ = v;
        let v = step(
            &app,
            &mut out,
            "login",
            "POST",
            "/v1/sessions/password",
            None,
            Some(json!({"account": account, "password": "Bench2025pass"})),
        )
        .await;
        let token = v["token"].as_str().unwrap().to_string();
        let t = Some(token.as_str());
        step(
            &app,
            &mut out,
            "bind wechat",
            "POST",
            "/v1/account/wechat",
            t,
            Some(json!({"code": format!("local-bench{i}")})),
        )
        .await;
        step(
            &app,
            &mut out,
            "create application",
            "POST",
            "/v1/applications",
            t,
            Some(json!({"project": "2025-health", "district": "41"})),
        )
        .await;
        step(&app, &mut out, "read application", "GET", P, t, None).await;
        step(
            &app,
            &mut out,
            "agree",
            "POST",
            &format!("{P}/agreement"),
            t,
            Some(json!({"important_version": "2025.1", "integrity_version": "2025.1"})),
        )
        .await;
        for (name, page, body) in [
            ("page site", "site", json!({"site": "4101"})),
            ("page basic", "basic", json!({"ethnicity": "汉族"})),
            ("page contact", "contact", json!({"phone": "13912345678", "address": "郑州市"})),
            (
                "page exam",
                "exam",
                json!({"category": "nursing", "level": "intermediate", "specialty": "368", "practice_category": "nurse", "first_registration": "2016-01", "has_residency_certificate": false, "subjects": ["1", "2", "3", "4"]}),
            ),
            ("page education", "education", json!({"degree_record_id": "d1"})),
            ("page work", "work", json!({"unit_name": "郑州市第一人民医院", "started_work": "2015-08"})),
        ] {
            step(&app, &mut out, name, "PUT", &format!("{P}/pages/{page}"), t, Some(body)).await;
        }
        // A replacement photo needs an S3 upload; the registered one keeps this about the table.
        let key = app.upload_photo(&token, "/v1/account/photo/upload-url", 358, 441, 60_000).await;
        app.call("PUT", "/v1/account/photo", t, Some(json!({"key": key}))).await;
        step(&app, &mut out, "photo", "PUT", &format!("{P}/photo"), t, Some(json!({"source": "registered"}))).await;
        step(&app, &mut out, "submit", "POST", &format!("{P}/submit"), t, None).await;
        step(&app, &mut out, "read form", "GET", &format!("{P}/form"), t, None).await;
        step(&app, &mut out, "withdraw", "POST", &format!("{P}/withdraw"), t, None).await;
    }
    println!("candidate journey on DynamoDB/S3/SQS (moto on loopback), {CANDIDATES} candidates, over HTTP:");
    println!("{:<20} {:>12} {:>10} {:>10}", "operation", "round trips", "median", "p95");
    for name in order {
        let (trips, times) = out.get_mut(name).unwrap();
        times.sort();
        let (lo, hi) = (trips.iter().min().unwrap(), trips.iter().max().unwrap());
        let rt = if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") };
        println!("{name:<20} {rt:>12} {:>10.1?} {:>10.1?}", times[times.len() / 2], times[times.len() * 95 / 100]);
    }
}
