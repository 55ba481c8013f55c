//! A local HTTP server that speaks WeChat's mini-program server APIs, for tests — a protocol
//! peer on loopback, not a stand-in wired into anything: the real `wechat` adapter talks to it
//! over HTTP exactly as it talks to `api.weixin.qq.com`.
//!
//! It implements `GET /sns/jscode2session` (codes registered by the test, single use, with
//! `session_key` in the answer as WeChat sends it), `POST /cgi-bin/stable_token` (checks the
//! AppID and secret, issues tokens that the test can revoke), and face verification 2.0:
//! `POST /cityservice/face/identify/getverifyid` and `…/queryverifyinfo` (the verdict is given
//! only for the same attempt, certificate hash and user; the test plays the phone by marking an
//! attempt's face as matched), and `POST /cgi-bin/message/subscribe/send` (checks the token,
//! the openid, the template id, the page and each value's length by its key's type, answering
//! 47003 as WeChat does; the test scripts errcodes per user and reads what was taken). Special
//! codes make it misbehave the ways WeChat can.
//!
//! It also speaks Baidu's smart-program login, `POST /oauth/jscode2sessionkey` (form `code`,
//! `client_id`, `sk`; codes registered by the test with [`WechatServer::baidu_code_for`], single
//! use; errors in Baidu's OAuth shape `{errno, error, error_description}`), so the `login`
//! function's `BAIDU_API_BASE` can point here too.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

pub const APP_ID: &str = "wx0123456789abcdef";
pub const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
/// Never to be seen outside the adapter: tests assert no response or log contains it.
pub const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
/// The Baidu smart program's App Key and App Secret this server accepts.
pub const BAIDU_APP_KEY: &str = "4fecoAqgCIUtzIyA4FAPgoyrc4oUc25c";
pub const BAIDU_APP_SECRET: &str = "Baidu0123456789abcdef0123456789ab";
/// Baidu's session key, likewise never to be seen outside the adapter.
pub const BAIDU_SESSION_KEY: &str = "981ce8b151c0599acf7ad1a673c6ff5e";
/// A Baidu code answered with `invalid_client`, as a wrong App Secret is (our configuration).
pub const BAIDU_CODE_CLIENT_REFUSED: &str = "code-client-refused";

/// A code `jscode2session` answers with this behaviour instead of an openid.
pub const CODE_BUSY: &str = "code-busy"; // errcode -1
pub const CODE_RATE_LIMITED: &str = "code-ratelimited"; // errcode 45011
pub const CODE_SLOW: &str = "code-slow"; // answers after 5 s (past the adapter's timeout)
pub const CODE_GARBAGE: &str = "code-garbage"; // HTTP 200 with HTML
pub const CODE_HTTP_500: &str = "code-500"; // HTTP 500

#[derive(Default)]
struct Attempt {
    out_seq_no: String,
    cert_hash: String,
    openid: String,
    face_matched: bool,
}

#[derive(Default)]
struct State {
    codes: HashMap<String, String>,
    baidu_codes: HashMap<String, String>,
    tokens: Vec<String>,
    token_calls: usize,
    forced_refreshes: usize,
    attempts: HashMap<String, Attempt>,
    calls: Vec<String>,
    /// Subscription messages taken (errcode 0), as sent.
    sent: Vec<Value>,
    /// Per openid, the errcodes to answer (in order) before taking that user's messages.
    send_script: HashMap<String, std::collections::VecDeque<i64>>,
}

/// The running server; dropped with the test.
pub struct WechatServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl WechatServer {
    pub async fn start() -> WechatServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the WeChat server");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&state, req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        WechatServer { addr, state }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `wx.login` on a phone: a fresh code for `openid`.
    pub fn code_for(&self, openid: &str) -> String {
        let code = format!("code-{}", shared::random::id());
        self.state.lock().unwrap().codes.insert(code.clone(), openid.to_string());
        code
    }

    /// `swan.login` in the Baidu app: a fresh code for the Baidu user `openid`.
    pub fn baidu_code_for(&self, openid: &str) -> String {
        let code = format!("bdcode-{}", shared::random::id());
        self.state.lock().unwrap().baidu_codes.insert(code.clone(), openid.to_string());
        code
    }

    /// The user looked into the camera and WeChat matched the face for this attempt.
    pub fn face_matched(&self, verify_id: &str) {
        if let Some(a) = self.state.lock().unwrap().attempts.get_mut(verify_id) {
            a.face_matched = true;
        }
    }

    /// Revoke every token issued so far (as a token renewed elsewhere would): the next server
    /// API call answers 40001.
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    /// How many `stable_token` calls were made, and how many forced a refresh.
    pub fn token_calls(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap();
        (s.token_calls, s.forced_refreshes)
    }

    /// Subscription messages WeChat took, oldest first.
    pub fn sent(&self) -> Vec<Value> {
        self.state.lock().unwrap().sent.clone()
    }

    /// Answer `subscribe/send` for `openid` with these errcodes first (then take its messages).
    pub fn script_send(&self, openid: &str, errcodes: &[i64]) {
        self.state.lock().unwrap().send_script.insert(openid.to_string(), errcodes.iter().copied().collect());
    }

    /// Paths called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
}

fn reply(status: u16, body: String) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    r.headers_mut().insert("content-type", "application/json; encoding=utf-8".parse().unwrap());
    r
}

fn ok(v: Value) -> hyper::Response<Full<Bytes>> {
    reply(200, v.to_string())
}

fn err(code: i64, msg: &str) -> hyper::Response<Full<Bytes>> {
    ok(json!({"errcode": code, "errmsg": format!("{msg} rid: 0000")}))
}

fn query(uri: &hyper::Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), shared::domain::values::percent_decode(v)))
        .collect()
}

async fn answer(state: &Mutex<State>, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let q = query(&parts.uri);
    let raw = body.collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let path = parts.uri.path().to_string();
    state.lock().unwrap().calls.push(path.clone());
    let token_ok = |s: &State| q.get("access_token").is_some_and(|t| s.tokens.contains(t));
    match (parts.method.as_str(), path.as_str()) {
        ("GET", "/sns/jscode2session") => {
            if q.get("appid").map(String::as_str) != Some(APP_ID)
                || q.get("secret").map(String::as_str) != Some(APP_SECRET)
            {
                return err(40125, "invalid appsecret");
            }
            if q.get("grant_type").map(String::as_str) != Some("authorization_code") {
                return err(40002, "invalid grant_type");
            }
            let code = q.get("js_code").cloned().unwrap_or_default();
            match code.as_str() {
                CODE_BUSY => return err(-1, "system error"),
                CODE_RATE_LIMITED => return err(45011, "api minute-quota reach limit"),
                CODE_GARBAGE => return reply(200, "<html>502 Bad Gateway</html>".into()),
                CODE_HTTP_500 => return reply(500, "{}".into()),
                CODE_SLOW => {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    return err(-1, "too late");
                }
                _ => {}
            }
            // A code is good for one login.
            match state.lock().unwrap().codes.remove(&code) {
                Some(openid) => ok(json!({"openid": openid, "session_key": SESSION_KEY})),
                None => err(40029, "invalid code"),
            }
        }
        ("POST", "/cgi-bin/stable_token") => {
            let mut s = state.lock().unwrap();
            s.token_calls += 1;
            if body["grant_type"] != "client_credential" {
                return err(40002, "invalid grant_type");
            }
            if body["appid"] != APP_ID {
                return err(40013, "invalid appid");
            }
            if body["secret"] != APP_SECRET {
                return err(40125, "invalid appsecret");
            }
            if body["force_refresh"] == true {
                s.forced_refreshes += 1;
            }
            let token = format!("token-{}-{}", s.token_calls, shared::random::id());
            s.tokens.push(token.clone());
            ok(json!({"access_token": token, "expires_in": 7200}))
        }
        ("POST", "/cityservice/face/identify/getverifyid") => {
            let mut s = state.lock().unwrap();
            if !token_ok(&s) {
                return err(40001, "invalid credential, access_token is invalid or not latest");
            }
            let cert = &body["cert_info"];
            let (Some(seq), Some(name), Some(no), Some(openid)) = (
                body["out_seq_no"].as_str(),
                cert["cert_name"].as_str(),
                cert["cert_no"].as_str(),
                body["openid"].as_str(),
            ) else {
                return err(40097, "invalid args");
            };
            if cert["cert_type"] != "IDENTITY_CARD" || !(5..=32).contains(&seq.len()) {
                return err(40097, "invalid args");
            }
            let verify_id = format!("vid-{}", shared::random::id());
            let cert_hash = services::ports::cert_hash("IDENTITY_CARD", name, no);
            let a = Attempt { out_seq_no: seq.into(), cert_hash, openid: openid.into(), face_matched: false };
            s.attempts.insert(verify_id.clone(), a);
            ok(json!({"errcode": 0, "errmsg": "ok", "verify_id": verify_id, "expires_in": 3600}))
        }
        ("POST", "/cityservice/face/identify/queryverifyinfo") => {
            let s = state.lock().unwrap();
            if !token_ok(&s) {
                return err(40001, "invalid credential, access_token is invalid or not latest");
            }
            let Some(a) = body["verify_id"].as_str().and_then(|v| s.attempts.get(v)) else {
                return err(40097, "invalid verify_id");
            };
            // NOTE: WeChat documents that a mismatch answers an errcode instead of verify_ret;
            // which number is not documented, so this server uses 40097 (invalid args).
            if body["out_seq_no"] != a.out_seq_no.as_str()
                || body["cert_hash"] != a.cert_hash.as_str()
                || body["openid"] != a.openid.as_str()
            {
                return err(40097, "attempt mismatch");
            }
            // 10000 passed; 90003 stands for "not completed" in WeChat's 90001–90199 range.
            let ret = if a.face_matched { 10000 } else { 90003 };
            ok(json!({"errcode": 0, "errmsg": "ok", "verify_ret": ret}))
        }
        ("POST", "/cgi-bin/message/subscribe/send") => {
            let mut s = state.lock().unwrap();
            if !token_ok(&s) {
                return err(40001, "invalid credential, access_token is invalid or not latest");
            }
            let Some(openid) = body["touser"].as_str().map(str::to_string) else { return err(40003, "invalid openid") };
            if body["template_id"].as_str().is_none_or(str::is_empty) {
                return err(40037, "invalid template_id");
            }
            if body["page"].as_str().is_some_and(|p| !p.starts_with("pages/")) {
                return err(41030, "invalid page");
            }
            // Field limits, in characters (WeChat refuses the whole message: 47003).
            for (key, v) in body["data"].as_object().into_iter().flatten() {
                let value = v["value"].as_str().unwrap_or("");
                let limit = match key.trim_end_matches(|c: char| c.is_ascii_digit()) {
                    "thing" => 20,
                    "phrase" => 5,
                    "character_string" | "number" => 32,
                    "time" | "date" => 30,
                    _ => return err(47003, "argument invalid! data.key unknown"),
                };
                if value.is_empty() || value.chars().count() > limit {
                    return err(47003, "argument invalid! data.value too long");
                }
            }
            if let Some(code) = s.send_script.get_mut(&openid).and_then(|q| q.pop_front()) {
                return err(code, "scripted");
            }
            s.sent.push(body.clone());
            ok(json!({"errcode": 0, "errmsg": "ok"}))
        }
        ("POST", "/oauth/jscode2sessionkey") => {
            // NOTE: the `errno` values are this server's own (Baidu's table was not at hand); the
            // adapter decides on `error`, never on the number.
            let baidu_err = |errno: i64, error: &str, description: &str| {
                ok(json!({"errno": errno, "error": error, "error_description": description}))
            };
            let form_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok());
            if form_type != Some("application/x-www-form-urlencoded") {
                return baidu_err(10010100, "parameter is invalid", "not a form");
            }
            let form: HashMap<String, String> = std::str::from_utf8(&raw)
                .unwrap_or("")
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), shared::domain::values::percent_decode(v)))
                .collect();
            let code = form.get("code").cloned().unwrap_or_default();
            if form.get("client_id").map(String::as_str) != Some(BAIDU_APP_KEY)
                || form.get("sk").map(String::as_str) != Some(BAIDU_APP_SECRET)
                || code == BAIDU_CODE_CLIENT_REFUSED
            {
                return baidu_err(10010101, "invalid_client", "unknown client id or secret");
            }
            match code.as_str() {
                CODE_GARBAGE => return reply(200, "<html>502 Bad Gateway</html>".into()),
                CODE_HTTP_500 => return reply(500, "{}".into()),
                CODE_SLOW => {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    return baidu_err(10010199, "server_error", "too late");
                }
                _ => {}
            }
            match state.lock().unwrap().baidu_codes.remove(&code) {
                Some(openid) => ok(json!({"openid": openid, "session_key": BAIDU_SESSION_KEY})),
                // As OAuth servers do (RFC 6749 §5.2), a bad code is an HTTP 400 with the error body.
                None => {
                    let body = json!({"errno": 10010102, "error": "invalid_grant",
                                      "error_description": "authorization code is invalid or expired"});
                    reply(400, body.to_string())
                }
            }
        }
        _ => reply(404, json!({"errcode": 404, "errmsg": "no such api"}).to_string()),
    }
}
