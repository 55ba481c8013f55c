//! A local WeChat Pay v3 server on loopback: a protocol peer, not a stand-in — the real
//! `wechat::pay` adapter talks to it over HTTP exactly as to `api.mch.weixin.qq.com`, with real
//! RSA keys generated at start (the merchant's and "WeChat Pay's").
//!
//! It checks every request's merchant signature (`WECHATPAY2-SHA256-RSA2048`), answers JSAPI
//! prepay (the same `prepay_id` again for the same order; `OUT_TRADE_NO_USED` for other
//! parameters), query, close (`ORDER_PAID` once paid) and refund (one refund per
//! `out_refund_no`), and signs every answer with its own key. Paying is the phone's act:
//! [`WechatPayServer::pay`] marks an order paid and sends WeChat Pay's signed, encrypted
//! notification to the order's `notify_url` — again on a non-2xx answer, as WeChat Pay retries,
//! and in several copies when asked. The local server uses it so a newcomer pays end to end
//! with no merchant account; tests use it, and build notifications of their own with its keys.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use services::ports::Clock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use wechat::pay::{beijing, seal, sign_with};

/// The mini-program the local orders are for (WeChat Pay's documentation sample AppID).
pub const APP_ID: &str = "wxd930ea5d5a258f4f";
/// The merchant number and WeChat Pay public-key id this server answers as.
pub const MCHID: &str = "1900000109";
pub const PUB_KEY_ID: &str = "PUB_KEY_ID_0119000001092025120300000000000001";
pub const MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

/// The keys: generated once per process (RSA key generation costs ~100 ms; a test binary
/// starts dozens of servers).
pub struct Keys {
    pub merchant: RsaKeyPair,
    pub merchant_pkcs8_pem: String,
    pub platform: RsaKeyPair,
    pub platform_spki_pem: String,
    pub apiv3_key: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn generate() -> Option<Keys> {
    let merchant = RsaKeyPair::generate(KeySize::Rsa2048).ok()?;
    let platform = RsaKeyPair::generate(KeySize::Rsa2048).ok()?;
    let m_der: Pkcs8V1Der<'static> = merchant.as_der().ok()?;
    let p_der: PublicKeyX509Der<'static> = platform.public_key().as_der().ok()?;
    let merchant_pkcs8_pem = pem("PRIVATE KEY", m_der.as_ref());
    let platform_spki_pem = pem("PUBLIC KEY", p_der.as_ref());
    let apiv3_key = shared::random::id(); // 32 hex characters: a 32-byte APIv3 key
    Some(Keys { merchant, merchant_pkcs8_pem, platform, platform_spki_pem, apiv3_key })
}

/// This process's keys.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    #[allow(clippy::expect_used)] // aws-lc generating an RSA key fails only without entropy
    KEYS.get_or_init(|| generate().expect("RSA key generation"))
}

/// The merchant's secret as the payment function reads it from Secrets Manager.
pub fn secret_json() -> String {
    let k = keys();
    json!({
        "mchid": MCHID, "merchant_serial_no": MERCHANT_SERIAL,
        "merchant_private_key": k.merchant_pkcs8_pem, "apiv3_key": k.apiv3_key,
        "wechatpay_public_keys": {PUB_KEY_ID: k.platform_spki_pem},
    })
    .to_string()
}

/// How the server signs its answers (tests make it sign badly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    Signed,
    /// One bit of the signature flipped.
    BadSignature,
    /// Signed with a timestamp 10 minutes old.
    Stale,
}

#[derive(Debug, Clone)]
struct SimOrder {
    request: Value,
    prepay_id: String,
    state: &'static str,
    transaction_id: Option<String>,
    success_time: Option<OffsetDateTime>,
    payer_total: u64,
    /// What WeChat Pay says was paid, when it is not the order's total (a test's world).
    total: Option<u64>,
}

#[derive(Default)]
struct State {
    orders: HashMap<String, SimOrder>,
    by_prepay: HashMap<String, String>,
    refunds: HashMap<String, Value>,
    refund_calls: usize,
    answers: Option<Answers>,
    /// Requests refused for their merchant signature.
    refused: usize,
    /// Make the next refund, then answer 500 as if the answer were lost on the way.
    lose_next_refund_answer: bool,
}

/// The running server.
pub struct WechatPayServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    http: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

type Resp = hyper::Response<Full<Bytes>>;

fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl WechatPayServer {
    /// Listen on a loopback port. `clock` is the business clock (order expiry); signatures use
    /// the wall clock, as WeChat Pay's do.
    pub async fn start(clock: Arc<dyn Clock>) -> std::io::Result<Arc<WechatPayServer>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = Arc::new(WechatPayServer {
            addr,
            state: Arc::new(Mutex::new(State::default())),
            clock,
            http: Client::builder(TokioExecutor::new()).build_http(),
        });
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, std::convert::Infallible>(s.answer(req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        Ok(server)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_answers(&self, a: Answers) {
        self.lock().answers = Some(a);
    }

    /// The next refund is made but its answer is lost (a 500 in its place).
    pub fn lose_next_refund_answer(&self) {
        self.lock().lose_next_refund_answer = true;
    }

    /// How many orders were made (prepaid).
    pub fn orders(&self) -> usize {
        self.lock().orders.len()
    }

    /// How many refund requests arrived, and how many distinct refunds were made.
    pub fn refunds(&self) -> (usize, usize) {
        let s = self.lock();
        (s.refund_calls, s.refunds.len())
    }

    /// Requests refused because their merchant signature did not verify.
    pub fn refused(&self) -> usize {
        self.lock().refused
    }

    /// The order's `out_trade_no` for a `prepay_id` (what the phone pays with).
    pub fn order_of(&self, prepay_id: &str) -> Option<String> {
        self.lock().by_prepay.get(prepay_id).cloned()
    }

    /// The transaction as WeChat Pay reports it (query answer and notification resource).
    pub fn transaction(&self, out_trade_no: &str) -> Option<Value> {
        let s = self.lock();
        s.orders.get(out_trade_no).map(|o| transaction_json(out_trade_no, o))
    }

    /// The phone pays the order (`payer_total` less than the total: a coupon paid the rest).
    /// No notification is sent: see [`Self::notify`].
    pub fn pay(&self, out_trade_no: &str, payer_total: Option<u64>) -> Result<Value, String> {
        self.settle(out_trade_no, payer_total, false)
    }

    /// WeChat Pay takes `total` 分 for the order, not what it was made for (tests of the amount
    /// check: impossible through the real API, so the server's own record says so too).
    pub fn pay_total(&self, out_trade_no: &str, total: u64) -> Result<Value, String> {
        if let Some(o) = self.lock().orders.get_mut(out_trade_no) {
            o.total = Some(total);
        }
        self.settle(out_trade_no, Some(total), false)
    }

    /// WeChat Pay reports the order paid whatever its state (a closed order included): the
    /// rare late settlement tests use to reach the refund path.
    pub fn pay_regardless(&self, out_trade_no: &str) -> Result<Value, String> {
        self.settle(out_trade_no, None, true)
    }

    fn settle(&self, out_trade_no: &str, payer_total: Option<u64>, regardless: bool) -> Result<Value, String> {
        let now = self.clock.now();
        let mut s = self.lock();
        let o = s.orders.get_mut(out_trade_no).ok_or("no such order")?;
        if regardless {
            o.state = "NOTPAY";
        }
        if o.state != "NOTPAY" {
            return Err(format!("order is {}", o.state));
        }
        let expire = o.request["time_expire"].as_str().unwrap_or("");
        if let Ok(t) = OffsetDateTime::parse(expire, &time::format_description::well_known::Rfc3339)
            && now >= t
            && !regardless
        {
            return Err("order expired".into());
        }
        let total = o.total.or(o.request["amount"]["total"].as_u64()).unwrap_or(0);
        o.state = "SUCCESS";
        o.transaction_id = Some(format!("4200{:020}", now.unix_timestamp_nanos().unsigned_abs() % 10u128.pow(20)));
        o.success_time = Some(now);
        o.payer_total = payer_total.unwrap_or(total);
        Ok(transaction_json(out_trade_no, o))
    }

    /// A signed, encrypted notification of `tx` as WeChat Pay sends it: (headers, body).
    pub fn notification(&self, tx: &Value) -> (Vec<(String, String)>, String) {
        let body = envelope(tx, keys().apiv3_key.as_bytes());
        (self.signed_headers(&body, now_unix()), body)
    }

    /// WeChat Pay's signature headers over `body` at `ts`.
    pub fn signed_headers(&self, body: &str, ts: i64) -> Vec<(String, String)> {
        let nonce = shared::random::id();
        let sig = sign_with(&keys().platform, format!("{ts}\n{nonce}\n{body}\n").as_bytes()).unwrap_or_default();
        vec![
            ("Wechatpay-Timestamp".into(), ts.to_string()),
            ("Wechatpay-Nonce".into(), nonce),
            ("Wechatpay-Signature".into(), sig),
            ("Wechatpay-Serial".into(), PUB_KEY_ID.into()),
            ("Wechatpay-Signature-Type".into(), "WECHATPAY2-SHA256-RSA2048".into()),
        ]
    }

    /// Send the order's notification to its `notify_url` in `copies` concurrent copies, each
    /// retried (quickly: WeChat Pay's schedule starts at 15 s) until it is answered 2xx or five
    /// tries are spent. The final status of each copy.
    pub async fn notify(&self, out_trade_no: &str, copies: usize) -> Vec<u16> {
        self.send_notifications(out_trade_no, copies, 5).await
    }

    /// [`Self::notify`] without retries: the status each copy got the first time.
    pub async fn notify_once(&self, out_trade_no: &str, copies: usize) -> Vec<u16> {
        self.send_notifications(out_trade_no, copies, 1).await
    }

    async fn send_notifications(&self, out_trade_no: &str, copies: usize, tries: u32) -> Vec<u16> {
        let Some(tx) = self.transaction(out_trade_no) else { return vec![] };
        let url = {
            let s = self.lock();
            s.orders.get(out_trade_no).and_then(|o| o.request["notify_url"].as_str().map(str::to_string))
        };
        let Some(url) = url else { return vec![] };
        let sends = (0..copies).map(|_| {
            let (headers, body) = self.notification(&tx);
            let url = url.clone();
            async move {
                let mut status = 0;
                for attempt in 0..tries {
                    status = self.post(&url, &headers, &body).await;
                    if (200..300).contains(&status) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                status
            }
        });
        futures_join(sends).await
    }

    async fn post(&self, url: &str, headers: &[(String, String)], body: &str) -> u16 {
        let mut req = hyper::Request::post(url).header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let Ok(req) = req.body(Full::new(Bytes::from(body.to_string()))) else { return 0 };
        match tokio::time::timeout(Duration::from_secs(5), self.http.request(req)).await {
            Ok(Ok(resp)) => resp.status().as_u16(),
            _ => 0,
        }
    }

    async fn answer(&self, req: hyper::Request<hyper::body::Incoming>) -> Resp {
        let method = req.method().as_str().to_string();
        let path_q = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return self.reply(400, json!({"code": "PARAM_ERROR", "message": "body too large"})),
        };
        if !check_merchant_signature(&auth, &method, &path_q, &body) {
            self.lock().refused += 1;
            return self.reply(401, json!({"code": "SIGN_ERROR", "message": "签名错误"}));
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let path = path_q.split('?').next().unwrap_or("");
        let (status, out) = match (method.as_str(), path) {
            ("POST", "/v3/pay/transactions/jsapi") => self.prepay(v),
            ("POST", "/v3/refund/domestic/refunds") => {
                let answer = self.refund(v);
                let lost = std::mem::take(&mut self.lock().lose_next_refund_answer);
                if lost && answer.0 == 200 {
                    return hyper::Response::builder().status(500).body(Full::new(Bytes::new())).unwrap_or_default();
                }
                answer
            }
            ("GET", p) if p.starts_with("/v3/pay/transactions/out-trade-no/") => {
                let no = p.trim_start_matches("/v3/pay/transactions/out-trade-no/");
                match self.transaction(no) {
                    Some(tx) if path_q.contains(&format!("mchid={MCHID}")) => (200, tx),
                    Some(_) => (400, json!({"code": "PARAM_ERROR", "message": "mchid"})),
                    None => (404, json!({"code": "ORDER_NOT_EXIST", "message": "订单不存在"})),
                }
            }
            ("POST", p) if p.starts_with("/v3/pay/transactions/out-trade-no/") && p.ends_with("/close") => {
                let no = p.trim_start_matches("/v3/pay/transactions/out-trade-no/").trim_end_matches("/close");
                let mut s = self.lock();
                match s.orders.get_mut(no) {
                    None => (404, json!({"code": "ORDER_NOT_EXIST", "message": "订单不存在"})),
                    Some(o) if o.state == "SUCCESS" || o.state == "REFUND" => {
                        (400, json!({"code": "ORDER_PAID", "message": "订单已支付"}))
                    }
                    Some(o) => {
                        o.state = "CLOSED";
                        (204, Value::Null)
                    }
                }
            }
            _ => (404, json!({"code": "NOT_FOUND", "message": "no such API"})),
        };
        self.reply(status, out)
    }

    fn prepay(&self, v: Value) -> (u16, Value) {
        let no = v["out_trade_no"].as_str().unwrap_or("").to_string();
        let valid = (6..=32).contains(&no.len())
            && no.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-*".contains(&b))
            && v["mchid"] == MCHID
            && v["appid"].as_str().is_some_and(|a| a.starts_with("wx"))
            && v["amount"]["total"].as_u64().is_some_and(|t| t > 0)
            && v["amount"]["currency"] == "CNY"
            && v["payer"]["openid"].as_str().is_some_and(|o| !o.is_empty())
            && v["notify_url"].as_str().is_some_and(|u| u.starts_with("http"))
            && v["description"].as_str().is_some_and(|d| !d.is_empty() && d.chars().count() <= 127)
            && v["time_expire"].as_str().is_some_and(|t| t.ends_with("+08:00"));
        if !valid {
            return (400, json!({"code": "PARAM_ERROR", "message": "参数错误"}));
        }
        let mut s = self.lock();
        if let Some(o) = s.orders.get(&no) {
            return if o.request == v {
                (200, json!({"prepay_id": o.prepay_id}))
            } else {
                (400, json!({"code": "OUT_TRADE_NO_USED", "message": "商户订单号重复"}))
            };
        }
        let prepay_id = format!("wx{}", shared::random::id());
        s.by_prepay.insert(prepay_id.clone(), no.clone());
        s.orders.insert(
            no,
            SimOrder {
                request: v,
                prepay_id: prepay_id.clone(),
                state: "NOTPAY",
                transaction_id: None,
                success_time: None,
                payer_total: 0,
                total: None,
            },
        );
        (200, json!({"prepay_id": prepay_id}))
    }

    fn refund(&self, v: Value) -> (u16, Value) {
        let mut s = self.lock();
        s.refund_calls += 1;
        let (Some(no), Some(rno)) = (v["out_trade_no"].as_str(), v["out_refund_no"].as_str()) else {
            return (400, json!({"code": "PARAM_ERROR", "message": "参数错误"}));
        };
        if let Some(done) = s.refunds.get(rno) {
            return (200, done.clone());
        }
        let Some(o) = s.orders.get_mut(no) else {
            return (404, json!({"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"}));
        };
        let total = o.total.or(o.request["amount"]["total"].as_u64()).unwrap_or(0);
        if o.state != "SUCCESS" || v["amount"]["refund"].as_u64() != Some(total) {
            return (400, json!({"code": "INVALID_REQUEST", "message": "订单状态或金额不符"}));
        }
        o.state = "REFUND";
        let out = json!({
            "refund_id": format!("5030{}", &shared::random::id()[..24]), "out_refund_no": rno,
            "out_trade_no": no, "status": "SUCCESS", "amount": {"refund": total, "total": total, "currency": "CNY"},
        });
        s.refunds.insert(rno.to_string(), out.clone());
        (200, out)
    }

    fn reply(&self, status: u16, v: Value) -> Resp {
        let body = if v.is_null() { String::new() } else { v.to_string() };
        let mode = self.lock().answers.unwrap_or(Answers::Signed);
        let ts = if mode == Answers::Stale { now_unix() - 600 } else { now_unix() };
        let mut headers = self.signed_headers(&body, ts);
        if mode == Answers::BadSignature
            && let Some((_, sig)) = headers.iter_mut().find(|(k, _)| k == "Wechatpay-Signature")
        {
            *sig = flip_bit(sig);
        }
        let mut resp = hyper::Response::builder().status(status).header("content-type", "application/json");
        for (k, v) in headers {
            resp = resp.header(k, v);
        }
        resp.body(Full::new(Bytes::from(body))).unwrap_or_default()
    }
}

/// A base64 signature with one bit of its bytes flipped.
pub fn flip_bit(sig_b64: &str) -> String {
    let mut raw = B64.decode(sig_b64).unwrap_or_default();
    if let Some(b) = raw.get_mut(10) {
        *b ^= 1;
    }
    B64.encode(raw)
}

/// The notification body for `tx`, encrypted with `apiv3_key`.
pub fn envelope(tx: &Value, apiv3_key: &[u8]) -> String {
    let key: [u8; 32] = apiv3_key.try_into().unwrap_or([0; 32]);
    let nonce: String = shared::random::id()[..12].to_string();
    let aad = "transaction";
    let ciphertext = seal(&key, &nonce, aad, tx.to_string().as_bytes()).unwrap_or_default();
    json!({
        "id": format!("EV-{}", shared::random::id()),
        "create_time": beijing(OffsetDateTime::now_utc()),
        "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": ciphertext, "associated_data": aad, "nonce": nonce},
    })
    .to_string()
}

fn transaction_json(no: &str, o: &SimOrder) -> Value {
    let r = &o.request;
    let total = o.total.or(r["amount"]["total"].as_u64()).unwrap_or(0);
    let mut tx = json!({
        "appid": r["appid"], "mchid": r["mchid"], "out_trade_no": no, "attach": r["attach"],
        "trade_type": "JSAPI", "trade_state": o.state, "trade_state_desc": o.state,
        "payer": {"openid": r["payer"]["openid"]},
        "amount": {"total": total, "currency": "CNY"},
    });
    if let (Some(t), Some(at)) = (&o.transaction_id, o.success_time) {
        tx["transaction_id"] = json!(t);
        tx["success_time"] = json!(beijing(at));
        tx["bank_type"] = json!("OTHERS");
        tx["amount"]["payer_total"] = json!(o.payer_total);
        tx["amount"]["payer_currency"] = json!("CNY");
    }
    tx
}

/// Check `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,signature=…,timestamp=…,serial_no=…`
/// with the merchant's public key, over `method\npath?query\ntimestamp\nnonce\nbody\n`.
fn check_merchant_signature(auth: &str, method: &str, path_q: &str, body: &[u8]) -> bool {
    let Some(params) = auth.strip_prefix("WECHATPAY2-SHA256-RSA2048 ") else { return false };
    let field = |name: &str| {
        params.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
        })
    };
    let (Some(mchid), Some(nonce), Some(sig), Some(ts), Some(serial)) =
        (field("mchid"), field("nonce_str"), field("signature"), field("timestamp"), field("serial_no"))
    else {
        return false;
    };
    if mchid != MCHID || serial != MERCHANT_SERIAL {
        return false;
    }
    let Ok(t) = ts.parse::<i64>() else { return false };
    if (now_unix() - t).abs() >= 300 {
        return false;
    }
    let Ok(sig) = B64.decode(sig) else { return false };
    let mut msg = format!("{method}\n{path_q}\n{ts}\n{nonce}\n").into_bytes();
    msg.extend_from_slice(body);
    msg.push(b'\n');
    let public = keys().merchant.public_key().as_ref().to_vec();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public).verify(&msg, &sig).is_ok()
}

/// Run futures concurrently and collect their outputs in order (no extra dependency).
async fn futures_join<F: std::future::Future<Output = u16>>(fs: impl Iterator<Item = F>) -> Vec<u16> {
    let mut set = vec![];
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out = vec![0; set.len()];
    let mut pending: Vec<usize> = (0..set.len()).collect();
    std::future::poll_fn(|cx| {
        pending.retain(|&i| match set[i].as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                out[i] = v;
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    out
}
