//! The local all-in-one server: every HTTP function behind one loopback listener, at the paths
//! API Gateway uses, on the embedded store. It composes the same handler code the Lambdas run;
//! the only things it adds are what AWS would otherwise provide: the upload endpoint that S3's
//! signed URLs point at (`/local-uploads/…`) and a face-ID token minter for demos.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use serde_json::json;
use shared::Deps;
use shared::adapters::local::{LocalFaceId, LocalObjects, LocalWechat, UploadGrant};
use shared::api::{Function, resolve};
use shared::deps::AwsSettings;
use shared::error::Refusal;
use shared::http::{json_response, percent_decode, refusal_response};
use shared::ports::{Clock, Table};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Uploads are photos and scans; API bodies are capped far lower by the handlers.
const MAX_REQUEST: usize = 8 << 20;

/// Where state lives: the embedded default, or the AWS services (on AWS or an emulator).
pub enum Backend {
    Embedded,
    Aws(AwsSettings),
}

/// Wraps the table port (e.g. to count round trips in tests).
pub type TableLayer = Box<dyn FnOnce(Arc<dyn Table>) -> Arc<dyn Table> + Send>;

pub struct Config {
    pub addr: SocketAddr,
    /// Where the table file, local objects and the local secret live.
    pub data_dir: PathBuf,
    pub clock: Arc<dyn Clock>,
    pub seed_demo: bool,
    pub backend: Backend,
    pub table_layer: Option<TableLayer>,
}

/// What only the local server has: the local object store (embedded backend) and the face-ID
/// stand-in's token minter.
#[derive(Clone)]
pub struct Locals {
    pub objects: Option<Arc<LocalObjects>>,
    pub face: Arc<LocalFaceId>,
}

pub struct Running {
    pub addr: SocketAddr,
    pub deps: Deps,
    pub locals: Locals,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] shared::deps::ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Import(#[from] shared::history_import::ImportError),
    #[error("demo seed: {0}")]
    Seed(String),
}

/// Bind, build the embedded dependencies, import history and (optionally) the demo data, and
/// serve until `stop`.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let listener =
        TcpListener::bind(config.addr).await.map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let base = format!("http://{addr}");
    let (mut deps, locals) = match &config.backend {
        Backend::Embedded => {
            let (deps, embedded) = Deps::embedded(&config.data_dir, &base, config.clock.clone())?;
            embedded.objects.set_base_url(&base);
            (deps, Locals { objects: Some(embedded.objects), face: embedded.face })
        }
        Backend::Aws(settings) => {
            let secret = shared::deps::local_secret(&config.data_dir)?;
            let face = Arc::new(LocalFaceId::new(&secret));
            let deps = Deps::aws(settings, config.clock.clone(), face.clone(), Arc::new(LocalWechat), &secret).await?;
            (deps, Locals { objects: None, face })
        }
    };
    if let Some(layer) = config.table_layer {
        deps.table = layer(deps.table.clone());
    }
    let n = shared::history_import::import(
        deps.table.as_ref(),
        &deps.id_pepper,
        include_str!("../../shared/reference/history-2024.jsonl"),
    )
    .await?;
    tracing::info!(records = n, "last year's records imported");
    let (stop, mut stopped) = watch::channel(false);
    let state = Arc::new((deps.clone(), locals.clone()));
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let state = state.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, std::convert::Infallible>(serve(&state.0, &state.1, req).await) }
                        });
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                    });
                }
            }
        }
    });
    let running = Running { addr, deps, locals, stop, task };
    if config.seed_demo {
        demo::seed(&running).await.map_err(|r| StartError::Seed(format!("{}: {}", r.code, r.message)))?;
    }
    Ok(running)
}

type HyperResponse = hyper::Response<Full<Bytes>>;

fn to_hyper(resp: lambda_http::Response<Body>) -> HyperResponse {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// Turn a hyper request into the `lambda_http::Request` a function receives behind API Gateway.
async fn to_lambda(req: hyper::Request<hyper::body::Incoming>) -> Result<lambda_http::Request, Refusal> {
    let (parts, body) = req.into_parts();
    let bytes = Limited::new(body, MAX_REQUEST)
        .collect()
        .await
        .map_err(|_| Refusal::new(shared::Kind::TooLarge, "BODY_TOO_LARGE", "提交的内容过大"))?
        .to_bytes();
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(t) => Body::Text(t),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    Ok(lambda_http::Request::from_parts(parts, body))
}

async fn serve(deps: &Deps, locals: &Locals, req: hyper::Request<hyper::body::Incoming>) -> HyperResponse {
    let path = req.uri().path().to_string();
    let req = match to_lambda(req).await {
        Ok(r) => r,
        Err(e) => return to_hyper(refusal_response(&e)),
    };
    if let (Some(key), Some(objects)) = (path.strip_prefix("/local-uploads/"), &locals.objects) {
        return to_hyper(local_object(deps, objects, &percent_decode(key), &req));
    }
    if path == "/local/face-token" {
        return to_hyper(face_token(&locals.face, &req));
    }
    if path == "/healthz" {
        return to_hyper(json_response(200, &json!({"ok": true})));
    }
    let segments = shared::http::segments(&req);
    let function = resolve(req.method().as_str(), &segments).map(|(r, _)| r.function);
    let resp = match function {
        Ok(Function::Login) => login::handle(deps, req).await,
        Ok(Function::Application) => application::handle(deps, req).await,
        Err(e) => refusal_response(&e),
    };
    to_hyper(resp)
}

/// What S3 does on AWS: accept a PUT to a signed URL, or serve a GET from one.
fn local_object(
    deps: &Deps,
    objects: &LocalObjects,
    key: &str,
    req: &lambda_http::Request,
) -> lambda_http::Response<Body> {
    let q = |n: &str| shared::http::query_param(req, n);
    let now = deps.clock.now();
    let result = match *req.method() {
        lambda_http::http::Method::PUT => {
            let grant = UploadGrant::from_query(req.uri().query().unwrap_or(""));
            let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok());
            objects
                .accept_upload(key, &grant, ct, shared::http::body_bytes(req), now)
                .map(|()| json_response(200, &json!({"key": key})))
        }
        lambda_http::http::Method::GET => {
            let expires = q("expires").and_then(|v| v.parse().ok()).unwrap_or(0);
            objects.accept_download(key, expires, &q("sig").unwrap_or_default(), now).map(|bytes| {
                let mut r = lambda_http::Response::new(Body::Binary(bytes));
                r.headers_mut().insert("content-type", lambda_http::http::HeaderValue::from_static("image/jpeg"));
                r
            })
        }
        _ => Err(shared::http::method_not_allowed()),
    };
    result.unwrap_or_else(|e| refusal_response(&e))
}

/// Demo only: what the face-ID provider's SDK would return after a successful match.
fn face_token(face: &LocalFaceId, req: &lambda_http::Request) -> lambda_http::Response<Body> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Ask {
        id_type: shared::domain::identity::IdType,
        id_number: String,
    }
    match shared::http::parse_body::<Ask>(req) {
        Ok(a) => json_response(200, &json!({"face_token": face.mint(a.id_type, a.id_number.trim())})),
        Err(e) => refusal_response(&e),
    }
}

pub mod demo;
pub mod upload;
