//! The mini-program server APIs, over HTTPS: WeChat's login (`jscode2session`), access token
//! (`stable_token`, cached in one place with its expiry) and face verification (微信人脸核身 2.0:
//! `getverifyid` / `queryverifyinfo`), and Baidu's smart-program login (`jscode2sessionkey`, in
//! [`baidu`]). Answers are mapped to refusals the client can act on (an invalid code) or
//! retryable 503s (busy, rate-limited, down, slow, garbage); the `session_key` is never parsed,
//! logged or returned.

pub mod baidu;
pub mod pay;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::{Value, json};
use services::config::{ConfigError, Env};
use services::ports::{
    FaceQuery, FaceStart, FaceTicket, FaceVerdict, FaceVerifier, MiniProgramLogin, SendOutcome, Subscription,
    SubscriptionSender,
};
use services::secret::Secret;
use shared::error::{Kind, Refusal};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// WeChat's production API host.
pub const API_BASE: &str = "https://api.weixin.qq.com";

/// One call to WeChat, connection included. API functions run with a 10 s budget and a login
/// makes at most two WeChat calls (token + API), so each gets well under half of it.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Answers are small JSON objects; anything larger is not WeChat.
const MAX_ANSWER: usize = 64 * 1024;

/// Renew the token this long before WeChat says it expires (stable_token overlaps old and new
/// tokens for 5 minutes, so a token renewed inside that window is never rejected).
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// What the WeChat adapter needs.
#[derive(Clone)]
pub struct Settings {
    pub app_id: String,
    pub app_secret: Secret,
    /// `https://api.weixin.qq.com` on AWS; a loopback `http://` URL for the local protocol server.
    pub base: String,
}

// NOTE: hand-written so the app secret never reaches a log through `{:?}`.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings").field("app_id", &self.app_id).field("base", &self.base).finish_non_exhaustive()
    }
}

/// What an AppSecret looks like (checked when the value arrives from the secret store).
pub fn check_app_secret(v: &str) -> Result<(), &'static str> {
    if (16..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("not a WeChat AppSecret")
    }
}

impl Settings {
    /// `WECHAT_APP_ID` and, optionally, `WECHAT_API_BASE`; the secret is read by the caller
    /// (from Secrets Manager on AWS). Only HTTPS, except on loopback (the test servers).
    pub fn from_env(env: &Env, app_secret: Secret) -> Result<Settings, ConfigError> {
        let app_id = env.require("WECHAT_APP_ID")?;
        if !app_id.starts_with("wx") || app_id.len() > 32 || !app_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError::malformed("WECHAT_APP_ID", "a mini-program AppID looks like wx0123456789abcdef"));
        }
        let base = api_base(env, "WECHAT_API_BASE", API_BASE)?;
        Ok(Settings { app_id, app_secret, base })
    }
}

/// The API host from `var`, or `default`: only HTTPS, except on loopback (the test servers).
pub(crate) fn api_base(env: &Env, var: &'static str, default: &str) -> Result<String, ConfigError> {
    let base = env.get(var).unwrap_or_else(|| default.to_string());
    let base = base.trim_end_matches('/').to_string();
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| base.starts_with(p));
    if !base.starts_with("https://") && !loopback {
        return Err(ConfigError::malformed(var, "must be https:// (http only on loopback)"));
    }
    Ok(base)
}

pub(crate) type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The WeChat API client: one per function, shared by every request of an execution environment.
pub struct Wechat {
    settings: Settings,
    /// Built on the first call, not at cold start: parsing the ~150 trust roots costs
    /// milliseconds that a request which never reaches WeChat (most of them) should not pay.
    http: std::sync::OnceLock<Client<Https, Full<Bytes>>>,
    /// The one access-token cache: (token, when to renew it).
    token: Mutex<Option<(Arc<str>, Instant)>>,
}

/// Why a call didn't give an answer (logged; the client sees a 503). The fields are read by
/// `Debug` in the log line, which dead-code analysis does not count.
#[allow(dead_code)]
#[derive(Debug)]
enum Fault {
    Timeout,
    Transport(String),
    Status(u16),
    Garbage,
}

fn unavailable(code: &'static str) -> Refusal {
    Refusal::new(Kind::Unavailable, code, "微信服务繁忙,请稍后再试")
}

fn code_invalid() -> Refusal {
    Refusal::new(Kind::Unauthorized, "WECHAT_CODE_INVALID", "微信登录凭证无效,请重新进入小程序")
}

/// WeChat's envelope: `errcode` 0 (or absent) means success.
fn errcode(v: &Value) -> i64 {
    v.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

/// The client, built on first use (the `http` field of `Wechat` says why not at cold start).
pub(crate) fn client(cell: &std::sync::OnceLock<Client<Https, Full<Bytes>>>) -> &Client<Https, Full<Bytes>> {
    cell.get_or_init(|| Client::builder(TokioExecutor::new()).build(https_connector()))
}

/// One request with the call budget: a JSON object from a 200 (or, with `errors_in_4xx`, from
/// a 4xx too: OAuth-style APIs such as Baidu's answer a bad code with 400 and a JSON error), or
/// why not.
async fn exchange(
    http: &std::sync::OnceLock<Client<Https, Full<Bytes>>>,
    method: &str,
    uri: &str,
    body: Option<(&'static str, Bytes)>,
    errors_in_4xx: bool,
) -> Result<Value, Fault> {
    let mut req = hyper::Request::builder().method(method).uri(uri);
    let bytes = match body {
        Some((content_type, bytes)) => {
            req = req.header("content-type", content_type);
            bytes
        }
        None => Bytes::new(),
    };
    let req = req.body(Full::new(bytes)).map_err(|e| Fault::Transport(e.to_string()))?;
    let answer = async {
        let resp = client(http).request(req).await.map_err(|e| Fault::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        if status != 200 && !(errors_in_4xx && (400..500).contains(&status)) {
            return Err(Fault::Status(status));
        }
        let body = Limited::new(resp.into_body(), MAX_ANSWER).collect().await.map_err(|_| Fault::Garbage)?;
        serde_json::from_slice::<Value>(&body.to_bytes()).ok().filter(Value::is_object).ok_or(Fault::Garbage)
    };
    tokio::time::timeout(CALL_TIMEOUT, answer).await.map_err(|_| Fault::Timeout)?
}

fn https_connector() -> Https {
    let mut roots = rustls::RootCertStore::empty();
    // The compiled-in Mozilla roots (the same set the AWS clients trust): no files read.
    let (_added, _ignored) = roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
        // aws-lc supports the default versions; were that to fail, refuse every connection
        // rather than fall back to something weaker.
        Err(_) => {
            rustls::ClientConfig::builder().with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth()
        }
    };
    hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().build()
}

impl Wechat {
    pub fn new(settings: Settings) -> Wechat {
        Wechat { settings, http: std::sync::OnceLock::new(), token: Mutex::new(None) }
    }

    async fn call(&self, method: &str, path_and_query: &str, body: Option<&Value>) -> Result<Value, Fault> {
        let uri = format!("{}{path_and_query}", self.settings.base);
        let body = body.map(|b| ("application/json", Bytes::from(b.to_string())));
        exchange(&self.http, method, &uri, body, false).await
    }

    /// The access token for server APIs (`stable_token`), from the cache while it is fresh.
    /// `force` asks WeChat for a new one (after 40001/42001), which WeChat limits per day.
    async fn access_token(&self, force: bool) -> Result<Arc<str>, Refusal> {
        let mut cached = self.token.lock().await;
        if !force
            && let Some((t, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(t.clone());
        }
        let secret = self.settings.app_secret.get().await?;
        let body = json!({
            "grant_type": "client_credential", "appid": self.settings.app_id,
            "secret": &*secret, "force_refresh": force,
        });
        let v = self.call("POST", "/cgi-bin/stable_token", Some(&body)).await.map_err(|f| {
            tracing::warn!(fault = ?f, "stable_token: no answer");
            unavailable("WECHAT_UNAVAILABLE")
        })?;
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            expires_in: u64,
        }
        let code = errcode(&v);
        let t: Token = match serde_json::from_value::<Token>(v) {
            Ok(t) if code == 0 && !t.access_token.is_empty() => t,
            // 40013/40125/40164 are our configuration (AppID, secret, IP allow-list): an
            // operator's problem, loud in the log; the client only learns to retry later.
            _ => {
                tracing::error!(errcode = code, "stable_token refused");
                return Err(unavailable("WECHAT_UNAVAILABLE"));
            }
        };
        let life = Duration::from_secs(t.expires_in).saturating_sub(TOKEN_MARGIN).max(Duration::from_secs(30));
        let token: Arc<str> = Arc::from(t.access_token);
        *cached = Some((token.clone(), Instant::now() + life));
        Ok(token)
    }

    /// A server API call with the access token, refreshing it once if WeChat says it is invalid
    /// or expired (40001, 42001) — a token renewed elsewhere or revoked.
    async fn with_token(&self, path: &str, body: &Value) -> Result<Value, Refusal> {
        let mut force = false;
        loop {
            let token = self.access_token(force).await?;
            let v = self.call("POST", &format!("{path}?access_token={token}"), Some(body)).await.map_err(|f| {
                tracing::warn!(fault = ?f, path, "no answer");
                unavailable("WECHAT_UNAVAILABLE")
            })?;
            match errcode(&v) {
                40001 | 42001 if !force => force = true,
                _ => return Ok(v),
            }
        }
    }
}

#[async_trait]
impl MiniProgramLogin for Wechat {
    async fn openid(&self, code: &str) -> Result<String, Refusal> {
        // A wx.login code is short printable ASCII; anything else never reaches WeChat.
        if !plausible_code(code) {
            return Err(code_invalid());
        }
        let secret = self.settings.app_secret.get().await?;
        let q = format!(
            "/sns/jscode2session?appid={}&secret={}&js_code={}&grant_type=authorization_code",
            self.settings.app_id,
            secret,
            encode(code)
        );
        let v = self.call("GET", &q, None).await.map_err(|f| {
            tracing::warn!(fault = ?f, "jscode2session: no answer");
            unavailable("WECHAT_UNAVAILABLE")
        })?;
        match errcode(&v) {
            0 => {}
            // Invalid, already used, or blocked for risk: the mini-program must log in again.
            40029 | 40163 => return Err(code_invalid()),
            40226 => {
                return Err(Refusal::new(Kind::Forbidden, "WECHAT_USER_BLOCKED", "该微信账号存在风险,暂不能登录"));
            }
            45011 => {
                return Err(Refusal::new(Kind::Unavailable, "WECHAT_RATE_LIMITED", "操作太频繁,请稍后再试"));
            }
            -1 => return Err(unavailable("WECHAT_BUSY")),
            other => {
                tracing::error!(errcode = other, "jscode2session refused");
                return Err(unavailable("WECHAT_UNAVAILABLE"));
            }
        }
        // Only the openid is read: the session_key is never parsed, kept or logged.
        usable_openid(&v).map(str::to_string).ok_or_else(|| {
            tracing::error!("jscode2session answered without a usable openid");
            unavailable("WECHAT_UNAVAILABLE")
        })
    }
}

#[async_trait]
impl FaceVerifier for Wechat {
    async fn start(&self, s: &FaceStart) -> Result<FaceTicket, Refusal> {
        let body = json!({
            "out_seq_no": s.out_seq_no,
            "cert_info": {"cert_type": "IDENTITY_CARD", "cert_name": s.cert_name, "cert_no": s.cert_no},
            "openid": s.openid,
        });
        let v = self.with_token("/cityservice/face/identify/getverifyid", &body).await?;
        let verify_id = v.get("verify_id").and_then(Value::as_str).unwrap_or("");
        if errcode(&v) != 0 || verify_id.is_empty() || verify_id.len() > 256 {
            tracing::error!(errcode = errcode(&v), "getverifyid refused");
            return Err(Refusal::new(Kind::Unavailable, "FACE_UNAVAILABLE", "人脸核身暂不可用,请使用账号密码登录"));
        }
        let expires = v.get("expires_in").and_then(Value::as_u64).unwrap_or(3600).min(u64::from(u32::MAX));
        Ok(FaceTicket { verify_id: verify_id.to_string(), expires_in_secs: expires as u32 })
    }

    async fn verdict(&self, q: &FaceQuery) -> Result<FaceVerdict, Refusal> {
        let body = json!({
            "verify_id": q.verify_id, "out_seq_no": q.out_seq_no, "cert_hash": q.cert_hash, "openid": q.openid,
        });
        let v = self.with_token("/cityservice/face/identify/queryverifyinfo", &body).await?;
        match (errcode(&v), v.get("verify_ret").and_then(Value::as_u64)) {
            (0, Some(10000)) => Ok(FaceVerdict::Passed),
            (0, Some(ret)) => Ok(FaceVerdict::Failed(u32::try_from(ret).unwrap_or(u32::MAX))),
            (-1, _) => Err(unavailable("WECHAT_BUSY")),
            // WeChat answers an errcode instead of a verdict when the certificate or the user
            // doesn't match the attempt: not passed, whatever the mini-program said.
            (code, _) => {
                tracing::warn!(errcode = code, "queryverifyinfo gave no verdict");
                Ok(FaceVerdict::Failed(0))
            }
        }
    }
}

#[async_trait]
impl SubscriptionSender for Wechat {
    /// `subscribeMessage.send`, classified as the consumer must treat the answer (FACTS:
    /// "WeChat subscription messages"). The token is refreshed once on 40001/42001 by
    /// `with_token`; still refused after that, the message is retried later.
    async fn send(&self, m: &Subscription) -> SendOutcome {
        let data: serde_json::Map<String, Value> =
            m.data.iter().map(|(k, v)| (k.clone(), json!({ "value": v }))).collect();
        let body = json!({
            "touser": m.openid, "template_id": m.template_id, "page": m.page,
            "miniprogram_state": "formal", "lang": "zh_CN", "data": data,
        });
        let v = match self.with_token("/cgi-bin/message/subscribe/send", &body).await {
            Ok(v) => v,
            Err(r) => return SendOutcome::RetryLater(r.code.to_string()),
        };
        classify_send(errcode(&v))
    }
}

/// WeChat's answer to a subscription message, as the consumer must treat it.
pub fn classify_send(code: i64) -> SendOutcome {
    match code {
        0 => SendOutcome::Sent,
        // 43101: the user refused, or used up their one-time consent; 47003 bad data; 40003 bad
        // openid; 40037 bad template; 41030 bad page — sending again changes nothing.
        43101 | 47003 | 40003 | 40037 | 41030 => SendOutcome::Refused(code),
        // -1 busy, 45009/45011 quota or frequency, 40001/42001 still after one refresh, and
        // anything unknown: later (an unknown code ends in the dead-letter queue, visible).
        other => SendOutcome::RetryLater(format!("errcode {other}")),
    }
}

/// A login code is short printable ASCII (both programs); anything else is never sent on.
fn plausible_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 128 && code.bytes().all(|b| b.is_ascii_graphic())
}

/// The answer's `openid`, when it looks like one (it becomes part of a table key).
fn usable_openid(v: &Value) -> Option<&str> {
    v.get("openid").and_then(Value::as_str).filter(|o| {
        !o.is_empty() && o.len() <= 64 && o.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    })
}

/// Percent-encode a query value (RFC 3986 unreserved characters pass).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
