//! Test harness: [`spawn_app`] starts the real local server (every function, the same
//! handlers the Lambdas run) on a random loopback port with fresh storage and a clock the test
//! controls, and [`TestApp`] speaks HTTP to it the way the mini-program does.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod aws;
pub mod browser;
pub mod counting;
pub mod desk;
pub mod mail;
pub mod runtime_api;
pub mod stack;
pub mod steps;
pub mod wechat_server;

use bytes::Bytes;
use embedded::local::ManualClock;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::sync::Arc;
use time::OffsetDateTime;
use time::macros::datetime;

/// Inside the 2025 registration window.
pub const NOW: OffsetDateTime = datetime!(2024-12-01 10:00 +08:00);

pub struct TestApp {
    pub base: String,
    pub running: local_server::Running,
    pub clock: Arc<ManualClock>,
    /// Round trips to the table since the last `counts.take()`.
    pub counts: Arc<counting::Counts>,
    /// The reminders' way out: relay, queue, consumer, WeChat (see [`mail`]).
    pub mail: mail::Mail,
    /// Holds the next transaction when armed (races on purpose).
    pub gate: Arc<counting::Gate>,
    client: Client<HttpConnector, Full<Bytes>>,
    /// On moto: the bucket's upload notices, delivered to the upload function's handler.
    notices: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(t) = &self.notices {
            t.abort();
        }
    }
}

/// A person to register: valid GB 11643 numbers with matching sex and birth date.
pub struct Person {
    pub account: &'static str,
    pub name: &'static str,
    pub id_number: &'static str,
    pub gender: &'static str,
    pub birth_date: &'static str,
}

pub const ZHANG: Person = Person {
    account: "zhang_san",
    name: "张三",
    id_number: "410102199003070019",
    gender: "male",
    birth_date: "1990-03-07",
};
pub const ZHAO: Person = Person {
    account: "zhao_liu",
    name: "赵六",
    id_number: "410102198805120028",
    gender: "female",
    birth_date: "1988-05-12",
};
/// Has a 2024 record in `history-2024.jsonl`: sat and passed subjects 1 and 2 of 368.
pub const LI: Person = Person {
    account: "li_si",
    name: "李四",
    id_number: "440524188001010014",
    gender: "male",
    birth_date: "1880-01-01",
};
/// Has a 2024 record too, but was absent (R38).
pub const WANG: Person = Person {
    account: "wang_wu",
    name: "王五",
    id_number: "11010519491231002X",
    gender: "female",
    birth_date: "1949-12-31",
};

pub const PASSWORD: &str = "Exam2025pass";

/// Which backend a test runs the system on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// The embedded default (SQLite file, local disk).
    Sqlite,
    /// DynamoDB, S3 and SQS on the moto server started by `scripts/test`.
    Moto,
}

/// The system on the embedded store.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(On::Sqlite).await
}

pub async fn spawn_app_on(on: On) -> TestApp {
    spawn_app_with(on, None).await
}

/// The system with an extra layer around the table (inside the round-trip counter).
pub async fn spawn_app_with(on: On, layer: Option<local_server::TableLayer>) -> TestApp {
    let provisioned = match on {
        On::Sqlite => None,
        On::Moto => Some(aws::provision().await),
    };
    spawn(provisioned, layer).await
}

/// The system on resources already made on moto (a [`stack::Stack`]'s, which deployed-shape
/// functions share with it).
pub async fn spawn_app_on_provisioned(p: aws::Provisioned) -> TestApp {
    spawn(Some(p), None).await
}

/// The same, with a layer around (or instead of) the table every function uses.
pub async fn spawn_app_on_provisioned_with(p: aws::Provisioned, layer: local_server::TableLayer) -> TestApp {
    spawn(Some(p), Some(layer)).await
}

async fn spawn(provisioned: Option<aws::Provisioned>, layer: Option<local_server::TableLayer>) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(NOW));
    let counts = Arc::new(counting::Counts::default());
    let layer_counts = counts.clone();
    let gate = Arc::new(counting::Gate::default());
    let layer_gate = gate.clone();
    let backend = match &provisioned {
        None => local_server::Backend::Embedded,
        Some(p) => local_server::Backend::Aws(p.env()),
    };
    let config = local_server::Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().to_path_buf(),
        clock: clock.clone(),
        seed_demo: false,
        backend,
        totp_clock: None,
        relay_every: None,
        sweep_every: None,
        table_layer: Some(Box::new(move |t| {
            let t = match layer {
                Some(l) => l(t),
                None => t,
            };
            let t: Arc<dyn store::Table> = Arc::new(counting::GatedTable::new(t, layer_gate));
            Arc::new(counting::CountingTable::new(t, layer_counts))
        })),
    };
    let running = local_server::start(config).await.expect("local server starts");
    let mail = match &provisioned {
        None => mail::Mail::Embedded(running.locals.worker.clone().expect("the embedded backend has a worker")),
        Some(p) => mail::Mail::moto(&p.vars(), &running.deps).await,
    };
    let client = Client::builder(TokioExecutor::new()).build_http();
    let notices = provisioned
        .as_ref()
        .map(|p| aws::deliver_upload_notices(p.upload_events_url.clone(), running.deps.uploads.clone()));
    counts.take();
    TestApp { base: running.base_url(), running, clock, counts, mail, gate, client, notices, _dir: dir }
}

impl TestApp {
    /// One API call: JSON in, `(status, JSON body or Null)` out.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut b = hyper::Request::builder().method(method).uri(format!("{}{path}", self.base));
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let bytes = body.map(|v| Bytes::from(v.to_string())).unwrap_or_default();
        self.send(b.body(Full::new(bytes)).expect("request")).await
    }

    /// A raw request (for malformed bodies and uploads).
    pub async fn raw(&self, method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
        let url = if url.starts_with("http") { url.to_string() } else { format!("{}{url}", self.base) };
        let mut b = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Full::new(Bytes::from(body))).expect("request")).await
    }

    /// A `GET` whose answer is not JSON (the PDF form): `(status, content type, bytes)`.
    pub async fn get_bytes(&self, path: &str, token: &str) -> (u16, String, Vec<u8>) {
        let req = hyper::Request::get(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let resp = self.client.request(req).await.expect("server answers");
        let status = resp.status().as_u16();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, ct, bytes.to_vec())
    }

    /// A request for a page or file (the staff console): `(status, headers, body as text)`.
    pub async fn page(&self, method: &str, path: &str) -> (u16, hyper::HeaderMap, String) {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let resp = self.client.request(req).await.expect("server answers");
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn send(&self, req: hyper::Request<Full<Bytes>>) -> (u16, Value) {
        let resp = self.client.request(req).await.expect("server answers");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Register a person with one degree record and a registration photo; returns the token.
    pub async fn register(&self, p: &Person) -> String {
        let (status, v) = self
            .call(
                "POST",
                "/v1/accounts",
                None,
                Some(json!({
                    "account": p.account, "password": PASSWORD, "name": p.name, "id_type": "resident_id",
                    "id_number": p.id_number, "gender": p.gender, "birth_date": p.birth_date,
                    "nationality": "中国", "phone": "13912345678",
                    "degrees": [{"level": "bachelor", "school": "郑州大学", "major": "护理学", "graduated": "2015-07", "degree": "学士"}]
                })),
            )
            .await;
        assert_eq!(status, 201, "register {}: {v}", p.account);
        let token = v["token"].as_str().expect("token").to_string();
        let key = self.upload_photo(&token, "/v1/account/photo/upload-url", 358, 441, 60_000).await;
        let (status, v) = self.call("PUT", "/v1/account/photo", Some(&token), Some(json!({"key": key}))).await;
        assert_eq!(status, 200, "{v}");
        token
    }

    /// Ask for an upload ticket at `ticket_path` and upload a JPEG of this size through it.
    pub async fn upload_photo(&self, token: &str, ticket_path: &str, w: u16, h: u16, bytes: usize) -> String {
        let (status, ticket) = self.call("POST", ticket_path, Some(token), None).await;
        assert_eq!(status, 200, "{ticket}");
        let status = local_server::upload::upload(&ticket, "image/jpeg", shared::photo::synthetic_jpeg(w, h, bytes))
            .await
            .expect("upload");
        assert!((200..300).contains(&status), "upload answered {status}");
        let key = ticket["key"].as_str().expect("key").to_string();
        self.await_judged(&key).await;
        key
    }

    /// Wait until the upload function has judged the upload at `key` (at once on the embedded
    /// store, which hands an arrival over before answering the upload; within a second or two
    /// on moto, whose notices reach the handler through a queue). Reads the owner item.
    pub async fn await_judged(&self, key: &str) {
        use shared::domain::upload::{UploadKey, UploadPurpose};
        let k = UploadKey::parse(key).expect("an upload key");
        let owner = match &k.what {
            UploadPurpose::AccountPhoto => store::keys::candidate(&k.candidate_id),
            UploadPurpose::Photo { project } | UploadPurpose::Material { project, .. } => {
                store::keys::application(&k.candidate_id, project.as_str())
            }
        };
        for _ in 0..200 {
            let item = self.running.deps.table.get(&owner).await.expect("table").expect("owner exists");
            let uploads = item.get("data").and_then(|d| d.get("uploads")).and_then(|u| u.as_array());
            if uploads.is_some_and(|u| u.iter().any(|x| x["key"] == key)) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the upload at {key} was not judged within 5 s");
    }

    /// Bind a WeChat user (required before choosing an exam).
    pub async fn bind_wechat(&self, token: &str, who: &str) {
        let (status, v) =
            self.call("POST", "/v1/account/wechat", Some(token), Some(json!({"code": format!("local-{who}")}))).await;
        assert_eq!(status, 200, "{v}");
    }
}

/// Photos written by a real encoder (Pillow, `tests/fixtures/make_photos.py`, in the venv
/// `scripts/with-moto` makes): camera.jpg, progressive.jpg, truncated.jpg, png-renamed.jpg,
/// portrait-rotated.jpg.
pub fn photo_fixtures() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/make_photos.py");
    let made = std::process::Command::new(python).arg(script).arg(dir.path()).output().expect("python runs");
    assert!(made.status.success(), "Pillow fixtures: {}", String::from_utf8_lossy(&made.stderr));
    dir
}

/// A `POST` with a bearer token and no body, from a task of its own: `(status, JSON)`.
pub async fn post(base: &str, path: &str, token: &str) -> (u16, Value) {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::post(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = client.request(req).await.expect("server answers");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Every end-to-end test runs twice: on the embedded store and on the AWS backend (moto).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::spawn_app_on($crate::On::Sqlite).await).await
                }
            )*
        }
        mod dynamodb {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::spawn_app_on($crate::On::Moto).await).await
                }
            )*
        }
    };
}

/// A query on a global index once `ready` holds of its items (40 tries, 50 ms apart). DynamoDB's
/// global indexes are eventually consistent: a test reads one the way the system does, never
/// assuming a write is already there (or already gone).
pub async fn query_until(
    table: &dyn store::Table,
    query: &store::Query,
    ready: impl Fn(&[store::Item]) -> bool,
) -> Vec<store::Item> {
    let mut items = table.query(query).await.expect("index query").items;
    for _ in 0..40 {
        if ready(&items) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        items = table.query(query).await.expect("index query").items;
    }
    items
}
