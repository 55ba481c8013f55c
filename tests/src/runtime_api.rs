//! A Lambda Runtime API on loopback for running a real bootstrap the way Lambda does: the
//! process is started with the environment a function gets, polls `…/invocation/next`, and
//! posts each response (or an init or invocation error) back. [`Bootstrap::invoke`] hands it one
//! API Gateway HTTP API v2 event at a time and returns what the function answered.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot};

type Answer = Result<Value, String>;

struct Api {
    events: Mutex<mpsc::UnboundedReceiver<(String, String)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<String>>,
    /// Everything the process wrote to stderr (its logs), also echoed to the test's stderr.
    stderr: Mutex<String>,
}

/// A running bootstrap behind its own Runtime API.
pub struct Bootstrap {
    name: String,
    api: Arc<Api>,
    events: mpsc::UnboundedSender<(String, String)>,
    child: tokio::process::Child,
    next_id: std::sync::atomic::AtomicU64,
}

fn empty(status: u16) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    r
}

async fn serve(api: Arc<Api>, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    if path.ends_with("/runtime/invocation/next") {
        // Long poll, as Lambda does: the next event when the test sends one.
        let next = api.events.lock().await.recv().await;
        let Some((id, event)) = next else { return empty(500) };
        let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
            + Duration::from_secs(10);
        return hyper::Response::builder()
            .header("Lambda-Runtime-Aws-Request-Id", id)
            .header("Lambda-Runtime-Deadline-Ms", deadline.as_millis().to_string())
            .header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:cn-north-1:123456789012:function:e2e")
            .header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            .body(Full::new(Bytes::from(event)))
            .unwrap_or_default();
    }
    if path.ends_with("/runtime/init/error") {
        *api.init_error.lock().await = Some(text);
        return empty(202);
    }
    // …/invocation/{id}/response or …/invocation/{id}/error
    let mut parts = path.rsplit('/');
    let (Some(kind), Some(id)) = (parts.next(), parts.next()) else { return empty(400) };
    if let Some(tx) = api.waiting.lock().await.remove(id) {
        let answer = match kind {
            "response" => serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}")),
            _ => Err(format!("invocation error: {text}")),
        };
        let _ = tx.send(answer);
    }
    empty(202)
}

impl Bootstrap {
    /// Start the bootstrap at `path` with exactly `env` (plus what the Lambda runtime sets).
    pub async fn start(name: &str, path: &std::path::Path, env: &BTreeMap<String, String>) -> Bootstrap {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the runtime API");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::unbounded_channel();
        let api = Arc::new(Api {
            events: Mutex::new(rx),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            stderr: Mutex::new(String::new()),
        });
        let shared = api.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, std::convert::Infallible>(serve(api, req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        let mut child = tokio::process::Command::new(path)
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "e2e")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(mut err) = child.stderr.take() {
            let api = api.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    eprint!("{text}");
                    api.stderr.lock().await.push_str(&text);
                }
            });
        }
        Bootstrap { name: name.to_string(), api, events: tx, child, next_id: 0.into() }
    }

    /// How a failed init ended: the exit status and what the process said (its stderr and
    /// anything posted to `…/init/error`) — what Lambda would log as the init failure.
    pub async fn failed_init(mut self) -> (Option<std::process::ExitStatus>, String) {
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await.ok().and_then(Result::ok);
        tokio::time::sleep(Duration::from_millis(100)).await; // the last of stderr
        let mut said = self.api.stderr.lock().await.clone();
        if let Some(e) = self.api.init_error.lock().await.as_ref() {
            said.push_str(e);
        }
        (status, said)
    }

    /// One event of any source through the function: its answer, or the error it reported.
    pub async fn invoke(&self, event: Value) -> Result<Value, String> {
        let id = format!("req-{}", self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.invoke_as(id, event).await
    }

    pub async fn invoke_as(&self, id: String, event: Value) -> Result<Value, String> {
        let (tx, rx) = oneshot::channel();
        self.api.waiting.lock().await.insert(id.clone(), tx);
        self.events.send((id, event.to_string())).expect("runtime API is up");
        match tokio::time::timeout(Duration::from_secs(20), rx).await {
            Ok(Ok(a)) => a,
            _ => Err(format!("{}: no answer within 20 s ({:?})", self.name, self.api.init_error.lock().await)),
        }
    }

    /// One API Gateway request through the function; returns `(status, JSON body or Null)`.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let id = format!("req-{}", self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut headers = json!({"host": "api.example.com", "user-agent": "e2e"});
        if body.is_some() {
            headers["content-type"] = json!("application/json");
        }
        if let Some(t) = token {
            headers["authorization"] = json!(format!("Bearer {t}"));
        }
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "e2e", "domainName": "api.example.com",
                "domainPrefix": "api", "requestId": id, "routeKey": "$default", "stage": "$default",
                "time": "02/Dec/2026:10:00:00 +0800", "timeEpoch": 0,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                         "userAgent": "e2e"}
            },
            "body": body.map(|b| b.to_string()), "isBase64Encoded": false
        });
        let resp = self.invoke_as(id, event).await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp["statusCode"].as_u64().unwrap_or(0) as u16;
        let body = resp["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
        (status, body)
    }
}
