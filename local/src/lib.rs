//! The local all-in-one server: every HTTP function behind one loopback listener, at the paths
//! API Gateway uses, on the embedded store. It composes the same services and handlers the
//! Lambdas run, with the embedded adapters and the WeChat login and face stand-ins in place of
//! DynamoDB/S3 and WeChat, and a local WeChat Pay protocol server ([`wechatpay`]) in place of
//! WeChat Pay; besides, it adds what S3 would otherwise provide: the upload endpoint the local
//! signed URLs point at (`/local-uploads/…`).

use bytes::Bytes;
use edge::api::{Function, resolve};
use edge::http::{json_response, method_not_allowed, query_param, refusal_response};
use embedded::local::{LocalObjects, UploadGrant};
use embedded::{Embedded, StandIns};
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use serde_json::json;
use services::accounts::Accounts;
use services::applications::Applications;
use services::config::{ConfigError, Env};
use services::ports::{Clock, FaceVerifier, MiniProgramLogin, ObjectStore};
use services::staff::StaffService;
use shared::domain::values::percent_decode;
use shared::error::Refusal;
use shared::reference::Reference;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use store::Table;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Uploads are photos and scans; API bodies are capped far lower by the handlers.
const MAX_REQUEST: usize = 8 << 20;

/// Where state lives: the embedded default, or the AWS services (on AWS or an emulator).
pub enum Backend {
    Embedded,
    /// The AWS adapters, configured like a Lambda (`TABLE_NAME`, `BUCKET_NAME`, `AWS_REGION`,
    /// keys, `AWS_ENDPOINT_URL` for an emulator); WeChat and face stay the local stand-ins.
    Aws(Env),
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
    /// The clock staff TOTP codes are checked against; `None`: `clock`. The local server's own
    /// binary passes the wall clock, so an authenticator app's codes work while `clock` is shifted.
    pub totp_clock: Option<Arc<dyn Clock>>,
    /// Relay and deliver reminders this often (embedded backend); `None`: only when asked
    /// ([`worker::Worker::pump`], `POST /local/sweep`) — what tests want.
    pub relay_every: Option<std::time::Duration>,
    /// Run the deadline sweep this often (embedded backend); `None`: only when asked.
    pub sweep_every: Option<std::time::Duration>,
}

/// Everything the functions are composed of here: both services, and the ports tests reach into.
#[derive(Clone)]
pub struct System {
    pub accounts: Accounts,
    pub apps: Applications,
    pub staff: StaffService,
    pub table: Arc<dyn Table>,
    pub objects: Arc<dyn ObjectStore>,
    pub clock: Arc<dyn Clock>,
    pub reference: Arc<Reference>,
    pub id_pepper: Arc<[u8]>,
    /// The payment function's service and notification keys.
    pub payment: Arc<payment::PaymentFn>,
    /// The application function's service and the printed form's fonts.
    pub application: Arc<application::App>,
    /// The upload function's service: tickets, and the judgement of each arrived upload.
    pub uploads: services::uploads::Uploads,
}

/// The printed form's fonts: `FORM_FONT_DIR` when set, else the repository's own
/// `assets/fonts` (the local server runs from a checkout; the Lambda reads its layer).
pub fn form_fonts() -> Result<application::pdf::FormFonts, ConfigError> {
    let dir = std::env::var("FORM_FONT_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/fonts").to_string());
    application::pdf::FormFonts::at(dir.into()).map_err(|why| ConfigError::malformed("FORM_FONT_DIR", why))
}

/// Where the payment service's WeChat Pay is: the keys of the local WeChat Pay server and its
/// address, and where its notifications go.
pub struct PayWiring {
    pub keys: Arc<wechat::pay::PayKeySource>,
    pub settings: wechat::pay::PaySettings,
}

impl PayWiring {
    /// The local WeChat Pay server's keys, at `base`, notifying `notify_url`.
    pub fn local(base: &str, notify_url: &str) -> Result<PayWiring, ConfigError> {
        let keys = wechat::pay::PayKeys::from_json(&wechatpay::secret_json())
            .map_err(|why| ConfigError::malformed("WECHATPAY_SECRET_ARN", why))?;
        let settings = wechat::pay::PaySettings {
            app_id: wechatpay::APP_ID.into(),
            notify_url: notify_url.into(),
            base: base.into(),
        };
        Ok(PayWiring { keys: Arc::new(wechat::pay::PayKeySource::ready(keys)), settings })
    }
}

impl System {
    /// Both services on `table` and `objects`, with the installation's stand-ins and key.
    pub fn compose(
        table: Arc<dyn Table>,
        objects: Arc<dyn ObjectStore>,
        stand_ins: &StandIns,
        clock: Arc<dyn Clock>,
        totp_clock: Option<Arc<dyn Clock>>,
        pay: PayWiring,
    ) -> Result<System, ConfigError> {
        let reference = Arc::new(Reference::load_default()?);
        let (wechat, face): (Arc<dyn MiniProgramLogin>, Arc<dyn FaceVerifier>) =
            (stand_ins.wechat.clone(), stand_ins.face.clone());
        let apps = Applications {
            table: table.clone(),
            objects: objects.clone(),
            clock: clock.clone(),
            reference: reference.clone(),
        };
        let gateway = Arc::new(wechat::pay::WechatPay::new(pay.keys.clone(), pay.settings));
        let payments = services::payments::Payments { apps: apps.clone(), gateway };
        let payment = Arc::new(payment::PaymentFn { payments, keys: pay.keys });
        let application = Arc::new(application::App { apps: apps.clone(), fonts: form_fonts()? });
        Ok(System {
            payment,
            application,
            uploads: services::uploads::Uploads { apps: apps.clone() },
            accounts: Accounts {
                table: table.clone(),
                clock: clock.clone(),
                wechat,
                baidu: stand_ins.baidu.clone(),
                face,
                id_pepper: services::secret::Secret::ready("local-secret", &stand_ins.secret),
                session_ttl: Accounts::default_session_ttl(),
            },
            apps: apps.clone(),
            staff: StaffService {
                table: table.clone(),
                totp_clock: totp_clock.unwrap_or_else(|| clock.clone()),
                clock: clock.clone(),
                reference: reference.clone(),
                apps,
                id_pepper: services::secret::Secret::ready("local-secret", &stand_ins.secret),
            },
            table,
            objects,
            clock,
            reference,
            id_pepper: stand_ins.secret.clone(),
        })
    }

    /// Everything on the embedded adapters of `local`; WeChat Pay at a loopback address where
    /// nothing listens (a prepay is 503: callers that pay start the server, [`start`] does).
    pub fn embedded(local: &Embedded, clock: Arc<dyn Clock>) -> Result<System, ConfigError> {
        let pay = PayWiring::local("http://127.0.0.1:9", "http://127.0.0.1:9/v1/payments/wechat/notify")?;
        Self::compose(local.table.clone(), local.objects.clone(), &local.stand_ins, clock, None, pay)
    }
}

/// What only the local server has: the local object store and the background worker (relay,
/// reminders, sweep), on the embedded backend.
#[derive(Clone)]
pub struct Locals {
    pub objects: Option<Arc<LocalObjects>>,
    pub worker: Option<Arc<worker::Worker>>,
    /// The local WeChat Pay server the payment service talks to (both backends).
    pub wechatpay: Option<Arc<wechatpay::WechatPayServer>>,
}

pub struct Running {
    pub addr: SocketAddr,
    pub deps: System,
    pub locals: Locals,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    timers: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub async fn stop(self) {
        for t in &self.timers {
            t.abort();
        }
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Embedded(#[from] embedded::EmbeddedError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Import(#[from] services::history_import::ImportError),
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
    let mut embedded_local: Option<Embedded> = None;
    let (mut table, objects, mut locals, stand_ins): (Arc<dyn Table>, Arc<dyn ObjectStore>, Locals, StandIns) =
        match &config.backend {
            Backend::Embedded => {
                let local = Embedded::open(&config.data_dir, &base)?;
                local.objects.set_base_url(&base);
                let locals = Locals { objects: Some(local.objects.clone()), worker: None, wechatpay: None };
                embedded_local = Some(local.clone());
                (local.table.clone(), local.objects.clone(), locals, local.stand_ins)
            }
            Backend::Aws(env) => {
                let aws = aws_adapters::Aws::from_env(env)?;
                let table = Arc::new(aws_adapters::dynamo::DynamoTable::from_env(&aws, env).await?);
                let objects = Arc::new(aws_adapters::s3::S3Objects::from_env(&aws, env)?);
                (
                    table,
                    objects,
                    Locals { objects: None, worker: None, wechatpay: None },
                    StandIns::open(&config.data_dir)?,
                )
            }
        };
    if let Some(layer) = config.table_layer {
        table = layer(table);
    }
    let pay_server = wechatpay::WechatPayServer::start(config.clock.clone())
        .await
        .map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let pay = PayWiring::local(&pay_server.base(), &format!("{base}/v1/payments/wechat/notify"))?;
    locals.wechatpay = Some(pay_server);
    let deps = System::compose(table, objects, &stand_ins, config.clock.clone(), config.totp_clock.clone(), pay)?;
    // The relay, the reminder consumer and the sweep: on the embedded table's stream and the
    // in-process queue. (On `--backend aws` they are the deployed functions' work: the local
    // server has no stream reader for DynamoDB.)
    let mut timers = vec![];
    if let Some(local) = &embedded_local {
        let recorder = Arc::new(embedded::local::LocalSubscriptionRecorder::default());
        let templates = services::reminders::Templates::parse(&embedded::local::local_templates())
            .map_err(|why| ConfigError::malformed("REMINDER_TEMPLATES", why))?;
        let consumer = services::reminders::Consumer {
            table: deps.table.clone(),
            sender: recorder.clone(),
            queue: local.queue.clone(),
            clock: deps.clock.clone(),
            templates: Arc::new(templates),
        };
        let sweep = services::sweep::Sweep { apps: deps.apps.clone(), pace: services::sweep::Pace::default() };
        let w = Arc::new(worker::Worker::new(local.table.clone(), local.queue.clone(), consumer, sweep, recorder));
        if let Some(every) = config.relay_every {
            timers = w.spawn(every, config.sweep_every);
        }
        locals.worker = Some(w);
    }
    // The payment reconciler on the sweep's timer (the sweep holds applications whose order is
    // still open until the reconciler has closed it, R31).
    if let (Some(every), Some(_)) = (config.sweep_every, config.relay_every) {
        let payments = deps.payment.payments.clone();
        timers.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = payments.reconcile(1000).await {
                    tracing::warn!(code = e.code, "local reconcile failed");
                }
            }
        }));
    }
    let n = services::history_import::import(
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
                    let Ok((stream, peer)) = accepted else { continue };
                    let state = state.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, std::convert::Infallible>(serve(&state.0, &state.1, req, peer).await) }
                        });
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                    });
                }
            }
        }
    });
    let running = Running { addr, deps, locals, stop, task, timers };
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
async fn to_lambda(
    req: hyper::Request<hyper::body::Incoming>,
    peer: std::net::SocketAddr,
) -> Result<lambda_http::Request, Refusal> {
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
    // As API Gateway does: the caller's address in the request context (per-source limits).
    let mut ctx = lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
    ctx.http.source_ip = Some(peer.ip().to_string());
    let req = lambda_http::Request::from_parts(parts, body);
    Ok(lambda_http::RequestExt::with_request_context(req, lambda_http::request::RequestContext::ApiGatewayV2(ctx)))
}

async fn serve(
    deps: &System,
    locals: &Locals,
    req: hyper::Request<hyper::body::Incoming>,
    peer: std::net::SocketAddr,
) -> HyperResponse {
    let path = req.uri().path().to_string();
    let req = match to_lambda(req, peer).await {
        Ok(r) => r,
        Err(e) => return to_hyper(refusal_response(&e)),
    };
    if let (Some(key), Some(objects)) = (path.strip_prefix("/local-uploads/"), &locals.objects) {
        return to_hyper(local_object(deps, objects, &percent_decode(key), &req).await);
    }
    if path == "/healthz" {
        return to_hyper(json_response(200, &json!({"ok": true})));
    }
    if let Some(admin) = path.strip_prefix("/local/") {
        return to_hyper(local_admin(deps, locals, admin, &req).await);
    }
    let segments = edge::http::segments(&req);
    // The staff console's files are the staff function's too (`review::console`).
    let function = if review::console::is_console(&segments) {
        Ok(Function::Review)
    } else {
        resolve(req.method().as_str(), &segments).map(|(r, _)| r.function)
    };
    // Each request runs as its own task, so a panic in a handler is that request's 500, not the
    // end of the server (the `local` profile unwinds; the Lambdas abort, and Lambda restarts them).
    let handled = match function {
        Ok(Function::Login) => {
            let accounts = deps.accounts.clone();
            tokio::spawn(async move { login::handle(&accounts, req).await }).await
        }
        Ok(Function::Application) => {
            let app = deps.application.clone();
            tokio::spawn(async move { application::handle(&app, req).await }).await
        }
        Ok(Function::Review) => {
            let staff = deps.staff.clone();
            tokio::spawn(async move { review::handle(&staff, req).await }).await
        }
        Ok(Function::Upload) => {
            let uploads = deps.uploads.clone();
            tokio::spawn(async move { ::upload::handle(&uploads, req).await }).await
        }
        Ok(Function::Payment) => {
            let payment = deps.payment.clone();
            tokio::spawn(async move { payment::handle(&payment, req).await }).await
        }
        Err(e) => Ok(edge::http::refusal_for(&req, &e)),
    };
    let resp = handled.unwrap_or_else(|e| {
        tracing::error!(path = %path, panicked = e.is_panic(), "request handler failed");
        refusal_response(&Refusal::internal())
    });
    to_hyper(resp)
}

/// The local server's own admin calls (loopback only, like the server): pay an order as the
/// phone would (the local WeChat Pay server then notifies), run the payment reconciler or the
/// sweep now, and see what the WeChat stand-in was sent.
async fn local_admin(
    deps: &System,
    locals: &Locals,
    what: &str,
    req: &lambda_http::Request,
) -> lambda_http::Response<Body> {
    match (req.method().as_str(), what, &locals.wechatpay) {
        ("POST", "wechatpay/pay", Some(pay)) => {
            let body: serde_json::Value = serde_json::from_slice(req.body().as_ref()).unwrap_or_default();
            let no = body["out_trade_no"].as_str().unwrap_or("");
            return match pay.pay(no, body["payer_total"].as_u64()) {
                Ok(tx) => {
                    let notified = pay.notify(no, 1).await;
                    json_response(200, &json!({"transaction": tx, "notified": notified}))
                }
                Err(why) => refusal_response(&Refusal::conflict("NOT_PAYABLE", format!("无法支付该订单: {why}"))),
            };
        }
        ("POST", "reconcile", _) => {
            return match deps.payment.payments.reconcile(1000).await {
                Ok(r) => json_response(200, &r),
                Err(e) => refusal_response(&e),
            };
        }
        (_, "wechatpay/pay" | "reconcile", _) => return refusal_response(&method_not_allowed()),
        _ => {}
    }
    let Some(worker) = &locals.worker else {
        return refusal_response(&Refusal::not_found("NO_ROUTE", "本地服务在 AWS 后端上不运行提醒与清理任务"));
    };
    match (req.method().as_str(), what) {
        ("POST", "sweep") => {
            let report = worker.sweep_now(std::time::Duration::from_secs(60)).await;
            json_response(200, &report)
        }
        ("GET", "wechat/messages") => json_response(200, &worker.recorder.sent()),
        (_, "sweep" | "wechat/messages") => refusal_response(&method_not_allowed()),
        _ => refusal_response(&Refusal::not_found("NO_ROUTE", "接口不存在")),
    }
}

/// What S3 does on AWS: accept a PUT to a signed URL, or serve a GET from one.
async fn local_object(
    deps: &System,
    objects: &LocalObjects,
    key: &str,
    req: &lambda_http::Request,
) -> lambda_http::Response<Body> {
    let q = |n: &str| query_param(req, n);
    let now = deps.clock.now();
    let result = match *req.method() {
        lambda_http::http::Method::PUT => {
            let grant = UploadGrant::from_query(req.uri().query().unwrap_or(""));
            let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok());
            match objects.accept_upload(key, &grant, ct, edge::http::body_bytes(req), now) {
                // As S3 notifies the upload function of an arrival under uploads/, the local
                // store hands it to the same service — before answering, so a local client can
                // use the upload at once (on AWS it asks again while it is UPLOAD_PENDING).
                Ok(()) => {
                    let arrival = services::uploads::Arrival {
                        key: key.to_string(),
                        version: services::ports::ObjectVersion::default(),
                    };
                    if let Err(e) = deps.uploads.arrived(&arrival).await {
                        tracing::error!(code = e.code, "the arrived upload could not be judged");
                    }
                    Ok(json_response(200, &json!({"key": key})))
                }
                Err(e) => Err(e),
            }
        }
        lambda_http::http::Method::GET => {
            let expires = q("expires").and_then(|v| v.parse().ok()).unwrap_or(0);
            objects.accept_download(key, expires, &q("sig").unwrap_or_default(), now).map(|bytes| {
                let mut r = lambda_http::Response::new(Body::Binary(bytes));
                r.headers_mut().insert("content-type", lambda_http::http::HeaderValue::from_static("image/jpeg"));
                r
            })
        }
        _ => Err(method_not_allowed()),
    };
    result.unwrap_or_else(|e| refusal_response(&e))
}

pub mod demo;
pub mod upload;
pub mod wechatpay;
pub mod worker;
