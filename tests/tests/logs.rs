//! PIPL, checked from the outside: every log line a whole candidate journey writes — at debug,
//! on both backends, the SDK's own lines included — is captured, and none may carry an ID
//! number, a phone number, a password or a session token.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::steps::{P, code_of, fill_all, start};
use e2e::{On, PASSWORD, TestApp, ZHANG, spawn_app_on};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything logged in this test binary, in the production format (JSON lines).
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let writer = move || Sink(sink.clone());
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(writer)
            .try_init()
            .expect("the only subscriber in this binary");
        log
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);
impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn journey_logs_nothing_personal(app: TestApp) {
    let log = captured();
    let wrong = "Wrong-Guess-7781";
    let token = start(&app, &ZHANG, "41").await;
    let (s, v) = app
        .call("POST", "/v1/sessions/password", None, Some(json!({"account": ZHANG.account, "password": wrong})))
        .await;
    assert_eq!((s, code_of(&v)), (401, "BAD_CREDENTIALS"));
    let (s, v) = app
        .call("POST", "/v1/sessions/password", None, Some(json!({"account": ZHANG.account, "password": PASSWORD})))
        .await;
    assert_eq!(s, 200, "{v}");
    let second = v["token"].as_str().unwrap().to_string();
    fill_all(&app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    let (s, v) = app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    let (s, form) = app.call("GET", &format!("{P}/form"), Some(&token), None).await;
    assert_eq!((s, form["id_number"].as_str()), (200, Some(ZHANG.id_number)), "the form itself carries it");
    let face = json!({"id_type": "resident_id", "id_number": ZHANG.id_number, "code": "local-zhang-phone"});
    assert_eq!(app.call("POST", "/v1/sessions/face/start", None, Some(face)).await.0, 200);
    // A refusal whose input is personal data: the value must not come back in a log line either.
    let (s, _) = app
        .call(
            "PUT",
            &format!("{P}/pages/contact"),
            Some(&second),
            Some(json!({"phone": "1391234567x", "address": "x"})),
        )
        .await;
    assert!((400..500).contains(&s));

    let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    assert!(text.contains("\"route\""), "the access log was captured: {}", &text[..text.len().min(500)]);
    for (what, value) in [
        ("ID number", ZHANG.id_number),
        ("phone", "13912345678"),
        ("bad phone", "1391234567x"),
        ("password", PASSWORD),
        ("wrong password", wrong),
        ("session token", token.as_str()),
        ("second session token", second.as_str()),
    ] {
        assert!(!text.contains(value), "a log line carries the {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_whole_journey_logs_no_id_number_phone_password_or_token() {
    captured();
    journey_logs_nothing_personal(spawn_app_on(On::Sqlite).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_a_whole_journey_logs_no_id_number_phone_password_or_token() {
    captured();
    journey_logs_nothing_personal(spawn_app_on(On::Moto).await).await
}
