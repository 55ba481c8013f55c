//! WeChat Pay API v3 (微信支付, public-key mode): the merchant's request signature
//! (`WECHATPAY2-SHA256-RSA2048`), the check of every signature WeChat Pay puts on its answers and
//! notifications, the notification's AES-256-GCM `resource`, the client's `paySign`, and the
//! calls the payment service makes — JSAPI prepay, query, close, refund — as the
//! [`PayGateway`] adapter. Crypto is aws-lc-rs (already in the tree under rustls): RSA PKCS#1
//! v1.5 SHA-256 and AES-256-GCM, nothing hand-rolled.

use crate::{Https, api_base};
use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use serde::Deserialize;
use serde_json::{Value, json};
use services::config::{ConfigError, Env};
use services::payments::{Closed, PayGateway, PrepayRequest, RefundRequest, RequestPayment, TradeState, Transaction};
use services::secret::Secret;
use shared::domain::values::Fen;
use shared::error::{Kind, Refusal};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// WeChat Pay's production API host.
pub const PAY_API_BASE: &str = "https://api.mch.weixin.qq.com";

/// A notification or answer whose timestamp is this far (seconds) from ours is refused: a
/// replayed message, or a clock we can't trust.
pub const MAX_SKEW_SECS: i64 = 300;

/// One call to WeChat Pay, connection included: the webhook answers within 5 s, and an
/// order's prepay is on a candidate's tap.
const CALL_TIMEOUT: Duration = Duration::from_secs(4);
const MAX_ANSWER: usize = 64 * 1024;

/// The merchant's keys, from one secret (JSON; README, "Payment"):
/// `{"mchid", "merchant_serial_no", "merchant_private_key" (PKCS#8 PEM), "apiv3_key" (32
/// bytes), "wechatpay_public_keys": {"PUB_KEY_ID_…": PEM, …}}` — several public keys while
/// WeChat Pay rotates one.
pub struct PayKeys {
    pub mchid: String,
    pub merchant_serial_no: String,
    merchant_key: RsaKeyPair,
    apiv3_key: [u8; 32],
    /// WeChat Pay's public keys (SubjectPublicKeyInfo DER) by `Wechatpay-Serial`.
    platform: BTreeMap<String, Vec<u8>>,
}

// NOTE: hand-written so no key reaches a log through `{:?}`.
impl std::fmt::Debug for PayKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayKeys")
            .field("mchid", &self.mchid)
            .field("platform", &self.platform.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The DER inside a PEM block (any label).
pub fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    B64.decode(body).ok()
}

impl PayKeys {
    /// Parse the secret's JSON; the error names what is wrong (never a value).
    pub fn from_json(secret: &str) -> Result<PayKeys, &'static str> {
        #[derive(Deserialize)]
        struct Raw {
            mchid: String,
            merchant_serial_no: String,
            merchant_private_key: String,
            apiv3_key: String,
            wechatpay_public_keys: BTreeMap<String, String>,
        }
        let raw: Raw = serde_json::from_str(secret).map_err(|_| "not the WeChat Pay secret's JSON")?;
        if raw.mchid.is_empty() || raw.mchid.len() > 32 || !raw.mchid.bytes().all(|b| b.is_ascii_digit()) {
            return Err("mchid is not a merchant number");
        }
        let der = pem_der(&raw.merchant_private_key).ok_or("merchant_private_key is not PEM")?;
        let merchant_key = RsaKeyPair::from_pkcs8(&der).map_err(|_| "merchant_private_key is not an RSA PKCS#8 key")?;
        let apiv3_key: [u8; 32] = raw.apiv3_key.as_bytes().try_into().map_err(|_| "apiv3_key is not 32 bytes")?;
        let mut platform = BTreeMap::new();
        for (id, pem) in raw.wechatpay_public_keys {
            let der = pem_der(&pem).ok_or("a wechatpay public key is not PEM")?;
            // Parsed now, so a bad key fails the cold start rather than every notification.
            aws_lc_rs::rsa::PublicEncryptingKey::from_der(&der).map_err(|_| "a wechatpay public key is not RSA")?;
            platform.insert(id, der);
        }
        if platform.is_empty() {
            return Err("wechatpay_public_keys is empty");
        }
        Ok(PayKeys { mchid: raw.mchid, merchant_serial_no: raw.merchant_serial_no, merchant_key, apiv3_key, platform })
    }

    /// Sign `msg` with the merchant key (SHA256withRSA, PKCS#1 v1.5), base64.
    pub fn sign(&self, msg: &[u8]) -> Result<String, Refusal> {
        sign_with(&self.merchant_key, msg)
    }

    /// The `Authorization` header of a request to WeChat Pay.
    pub fn authorization(&self, method: &str, path: &str, ts: i64, nonce: &str, body: &str) -> Result<String, Refusal> {
        let sig = self.sign(format!("{method}\n{path}\n{ts}\n{nonce}\n{body}\n").as_bytes())?;
        Ok(format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{sig}\",timestamp=\"{ts}\",serial_no=\"{}\"",
            self.mchid, self.merchant_serial_no
        ))
    }

    /// Check a WeChat Pay signature (on a notification or an answer) over the raw `body`.
    pub fn verify(&self, h: &SignedHeaders<'_>, body: &[u8], now: i64) -> Result<(), Rejection> {
        verify(&self.platform, h, body, now)
    }

    /// Decrypt a notification's `resource`.
    pub fn decrypt(&self, nonce: &str, aad: &str, ciphertext_b64: &str) -> Result<Vec<u8>, Rejection> {
        open(&self.apiv3_key, nonce, aad, ciphertext_b64)
    }
}

/// SHA256withRSA (PKCS#1 v1.5) with `key`, base64.
pub fn sign_with(key: &RsaKeyPair, msg: &[u8]) -> Result<String, Refusal> {
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig).map_err(|_| Refusal::internal())?;
    Ok(B64.encode(sig))
}

/// The client's `paySign` for `wx.requestPayment`: over `appId\ntimeStamp\nnonceStr\npackage\n`.
pub fn pay_sign(key: &RsaKeyPair, app_id: &str, ts: &str, nonce: &str, package: &str) -> Result<String, Refusal> {
    sign_with(key, format!("{app_id}\n{ts}\n{nonce}\n{package}\n").as_bytes())
}

/// The signature headers WeChat Pay sends (`Wechatpay-*`).
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub serial: Option<&'a str>,
}

impl<'a> SignedHeaders<'a> {
    /// From a header lookup (case-insensitive names are the caller's lookup's business).
    pub fn from_lookup(get: impl Fn(&str) -> Option<&'a str>) -> SignedHeaders<'a> {
        SignedHeaders {
            timestamp: get("wechatpay-timestamp"),
            nonce: get("wechatpay-nonce"),
            signature: get("wechatpay-signature"),
            serial: get("wechatpay-serial"),
        }
    }
}

/// Why a notification (or an answer) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    MissingHeader(&'static str),
    /// A `WECHATPAY/SIGNTEST/` probe: WeChat Pay checks that we refuse it.
    Probe,
    UnknownSerial,
    BadTimestamp,
    /// `Wechatpay-Timestamp` 300 s or more from our clock.
    Stale,
    BadSignature,
    /// Signed, but not a notification we can read.
    BadBody,
    /// Signed, but the resource doesn't decrypt with our APIv3 key (ours may be wrong: retry).
    Decrypt,
}

impl Rejection {
    /// What the webhook answers: refused authentication is 401, an unreadable body 400, a
    /// resource we can't decrypt 500 — our key may be the wrong one, and WeChat Pay retries.
    pub fn status(self) -> u16 {
        match self {
            Rejection::BadBody => 400,
            Rejection::Decrypt => 500,
            _ => 401,
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            Rejection::MissingHeader(_) => "缺少签名头",
            Rejection::Probe => "签名探测请求",
            Rejection::UnknownSerial => "未知的微信支付公钥",
            Rejection::BadTimestamp => "时间戳格式不正确",
            Rejection::Stale => "时间戳超出允许范围",
            Rejection::BadSignature => "签名验证失败",
            Rejection::BadBody => "通知内容无法解析",
            Rejection::Decrypt => "通知解密失败",
        }
    }
}

/// Check `Wechatpay-Signature` over `timestamp\nnonce\nbody\n` with the public key named by
/// `Wechatpay-Serial`, and the timestamp against `now` (Unix seconds).
pub fn verify(
    platform: &BTreeMap<String, Vec<u8>>,
    h: &SignedHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<(), Rejection> {
    let ts = h.timestamp.ok_or(Rejection::MissingHeader("Wechatpay-Timestamp"))?;
    let nonce = h.nonce.ok_or(Rejection::MissingHeader("Wechatpay-Nonce"))?;
    let sig = h.signature.ok_or(Rejection::MissingHeader("Wechatpay-Signature"))?;
    let serial = h.serial.ok_or(Rejection::MissingHeader("Wechatpay-Serial"))?;
    if sig.starts_with("WECHATPAY/SIGNTEST/") {
        return Err(Rejection::Probe);
    }
    let key = platform.get(serial).ok_or(Rejection::UnknownSerial)?;
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::BadTimestamp);
    }
    let t: i64 = ts.parse().map_err(|_| Rejection::BadTimestamp)?;
    if (now - t).abs() >= MAX_SKEW_SECS {
        return Err(Rejection::Stale);
    }
    let sig = B64.decode(sig).map_err(|_| Rejection::BadSignature)?;
    let mut msg = Vec::with_capacity(ts.len() + nonce.len() + body.len() + 3);
    msg.extend_from_slice(ts.as_bytes());
    msg.push(b'\n');
    msg.extend_from_slice(nonce.as_bytes());
    msg.push(b'\n');
    msg.extend_from_slice(body);
    msg.push(b'\n');
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key).verify(&msg, &sig).map_err(|_| Rejection::BadSignature)
}

fn aead_key(key: &[u8; 32]) -> Option<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, key).ok().map(LessSafeKey::new)
}

/// AEAD_AES_256_GCM open: `ciphertext_b64` = base64(ciphertext ‖ 16-byte tag), 12-byte nonce.
pub fn open(key: &[u8; 32], nonce: &str, aad: &str, ciphertext_b64: &str) -> Result<Vec<u8>, Rejection> {
    let nonce: [u8; 12] = nonce.as_bytes().try_into().map_err(|_| Rejection::Decrypt)?;
    let mut data = B64.decode(ciphertext_b64).map_err(|_| Rejection::Decrypt)?;
    let key = aead_key(key).ok_or(Rejection::Decrypt)?;
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut data)
        .map_err(|_| Rejection::Decrypt)?;
    Ok(plain.to_vec())
}

/// AEAD_AES_256_GCM seal, as WeChat Pay encrypts a notification (for the local protocol
/// server; the payment function only opens).
pub fn seal(key: &[u8; 32], nonce: &str, aad: &str, plain: &[u8]) -> Option<String> {
    let nonce: [u8; 12] = nonce.as_bytes().try_into().ok()?;
    let mut data = plain.to_vec();
    aead_key(key)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut data)
        .ok()?;
    Some(B64.encode(data))
}

/// A notification's envelope.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    event_type: String,
    resource: Resource,
}

#[derive(Deserialize)]
struct Resource {
    algorithm: String,
    ciphertext: String,
    #[serde(default)]
    associated_data: String,
    nonce: String,
}

/// What a verified notification says. `None` when it is not about a payment (another event
/// type: acknowledged, nothing to do).
pub fn read_notification(
    keys: &PayKeys,
    h: &SignedHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<Option<Transaction>, Rejection> {
    keys.verify(h, body, now)?;
    let env: Envelope = serde_json::from_slice(body).map_err(|_| Rejection::BadBody)?;
    if env.resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(Rejection::BadBody);
    }
    let plain = keys.decrypt(&env.resource.nonce, &env.resource.associated_data, &env.resource.ciphertext)?;
    if !env.event_type.starts_with("TRANSACTION.") {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(&plain).map_err(|_| Rejection::BadBody)?;
    transaction(&v).map(Some).ok_or(Rejection::BadBody)
}

/// A transaction object (decrypted notification or query answer).
pub fn transaction(v: &Value) -> Option<Transaction> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let amount = v.get("amount");
    let fen = |k: &str| amount.and_then(|a| a.get(k)).and_then(Value::as_u64).map(Fen);
    Some(Transaction {
        mchid: s("mchid")?,
        appid: s("appid")?,
        out_trade_no: s("out_trade_no")?,
        transaction_id: s("transaction_id").filter(|t| !t.is_empty()),
        trade_state: TradeState::parse(v.get("trade_state").and_then(Value::as_str)?),
        success_time: v
            .get("success_time")
            .and_then(Value::as_str)
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
        total: fen("total"),
        payer_total: fen("payer_total"),
        currency: amount.and_then(|a| a.get("currency")).and_then(Value::as_str).map(str::to_string),
        attach: s("attach").filter(|a| !a.is_empty()),
    })
}

/// The merchant's keys, from the secret named by `WECHATPAY_SECRET_ARN`: fetched and parsed once
/// per execution environment — by the first request that needs them, or in init where init is
/// pre-paid (provisioned concurrency; `services::secret` says why not in every init).
pub struct PayKeySource {
    secret: Secret,
    keys: tokio::sync::OnceCell<Arc<PayKeys>>,
}

/// What the WeChat Pay secret must look like (checked when it arrives).
pub fn check_secret(v: &str) -> Result<(), &'static str> {
    PayKeys::from_json(v).map(|_| ())
}

impl PayKeySource {
    pub fn deferred(secret: Secret) -> PayKeySource {
        PayKeySource { secret, keys: tokio::sync::OnceCell::new() }
    }

    /// Keys known already (the local server's, tests').
    pub fn ready(keys: PayKeys) -> PayKeySource {
        PayKeySource {
            secret: Secret::ready("WECHATPAY_SECRET_ARN", b""),
            keys: tokio::sync::OnceCell::new_with(Some(Arc::new(keys))),
        }
    }

    /// The keys; a secret that can't be read or parsed is logged with its variable (by the
    /// secret) and is a 503, and the next request tries again.
    pub async fn get(&self) -> Result<Arc<PayKeys>, Refusal> {
        self.keys
            .get_or_try_init(|| async {
                let value = self.secret.get().await?;
                PayKeys::from_json(&value).map(Arc::new).map_err(|why| {
                    tracing::error!(var = self.secret.var(), why, "secret malformed");
                    Refusal::unavailable()
                })
            })
            .await
            .cloned()
    }
}

/// What the payment function needs: the app the orders are for, the notify URL and the host.
#[derive(Debug, Clone)]
pub struct PaySettings {
    pub app_id: String,
    pub notify_url: String,
    pub base: String,
}

impl PaySettings {
    /// `WECHAT_APP_ID`, `WECHATPAY_NOTIFY_URL` (https, or loopback http), `WECHATPAY_API_BASE`
    /// (optional).
    pub fn from_env(env: &Env) -> Result<PaySettings, ConfigError> {
        let app_id = env.require("WECHAT_APP_ID")?;
        let notify_url = env.require("WECHATPAY_NOTIFY_URL")?;
        let loopback = ["http://127.0.0.1:", "http://localhost:"].iter().any(|p| notify_url.starts_with(p));
        if !(notify_url.starts_with("https://") || loopback) || notify_url.contains('?') || notify_url.len() > 255 {
            return Err(ConfigError::malformed(
                "WECHATPAY_NOTIFY_URL",
                "an https:// URL without a query, at most 255 characters (WeChat Pay's rule)",
            ));
        }
        let base = api_base(env, "WECHATPAY_API_BASE", PAY_API_BASE)?;
        Ok(PaySettings { app_id, notify_url, base })
    }
}

/// The WeChat Pay client: one per function.
pub struct WechatPay {
    keys: Arc<PayKeySource>,
    settings: PaySettings,
    http: OnceLock<Client<Https, Full<Bytes>>>,
}

fn unavailable() -> Refusal {
    Refusal::new(Kind::Unavailable, "WECHATPAY_UNAVAILABLE", "微信支付繁忙,请稍后再试")
}

/// An answer: status, and the body when its signature checked out.
struct Answer {
    status: u16,
    body: Value,
}

impl WechatPay {
    pub fn new(keys: Arc<PayKeySource>, settings: PaySettings) -> WechatPay {
        WechatPay { keys, settings, http: OnceLock::new() }
    }

    /// One signed request; the answer's signature is checked (2xx and 4xx alike: an unsigned
    /// "ORDER_PAID" must not be believed either). Errors are logged here and are 503s.
    async fn call(&self, keys: &PayKeys, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, Refusal> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let nonce = shared::random::id();
        let auth = keys.authorization(method, path, now, &nonce, &body)?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.settings.base))
            .header("authorization", auth)
            .header("accept", "application/json")
            .header("user-agent", "exam-registration/1");
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|_| Refusal::internal())?;
        let exchange = async {
            let resp = crate::client(&self.http).request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let raw =
                Limited::new(resp.into_body(), MAX_ANSWER).collect().await.map_err(|_| "too large".to_string())?;
            Ok::<_, String>((status, headers, raw.to_bytes()))
        };
        let (status, headers, raw) = match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!(path = %redact(path), fault = %e, "wechatpay: no answer");
                return Err(unavailable());
            }
            Err(_) => {
                tracing::warn!(path = %redact(path), "wechatpay: timed out");
                return Err(unavailable());
            }
        };
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let h = SignedHeaders::from_lookup(get);
        if status < 500 {
            if let Err(r) = keys.verify(&h, &raw, OffsetDateTime::now_utc().unix_timestamp()) {
                tracing::error!(path = %redact(path), status, rejection = ?r, "wechatpay: answer's signature refused");
                return Err(unavailable());
            }
        } else {
            tracing::warn!(path = %redact(path), status, "wechatpay: server error");
            return Err(unavailable());
        }
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).map_err(|_| {
                tracing::warn!(path = %redact(path), status, "wechatpay: answer is not JSON");
                unavailable()
            })?
        };
        Ok(Answer { status, body })
    }
}

/// A path for the log: the order number stays, the query string goes.
fn redact(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn code_of(v: &Value) -> &str {
    v.get("code").and_then(Value::as_str).unwrap_or("")
}

/// `time_expire` as WeChat Pay writes it: RFC 3339 in Beijing time.
pub fn beijing(t: OffsetDateTime) -> String {
    let offset = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    t.to_offset(offset).format(&Rfc3339).unwrap_or_default()
}

#[async_trait]
impl PayGateway for WechatPay {
    async fn merchant(&self) -> Result<(String, String), Refusal> {
        Ok((self.keys.get().await?.mchid.clone(), self.settings.app_id.clone()))
    }

    async fn prepay(&self, o: &PrepayRequest) -> Result<String, Refusal> {
        let keys = self.keys.get().await?;
        let body = json!({
            "appid": self.settings.app_id, "mchid": keys.mchid,
            "description": o.description, "out_trade_no": o.out_trade_no,
            "time_expire": beijing(o.expires_at), "attach": o.attach,
            "notify_url": self.settings.notify_url,
            "amount": {"total": o.amount.0, "currency": "CNY"},
            "payer": {"openid": o.openid},
        });
        let a = self.call(&keys, "POST", "/v3/pay/transactions/jsapi", Some(&body)).await?;
        match a.body.get("prepay_id").and_then(Value::as_str) {
            Some(id) if a.status == 200 && !id.is_empty() => Ok(id.to_string()),
            _ => {
                tracing::error!(status = a.status, code = code_of(&a.body), "wechatpay: prepay refused");
                Err(unavailable())
            }
        }
    }

    async fn request_payment(&self, prepay_id: &str, now: OffsetDateTime) -> Result<RequestPayment, Refusal> {
        let ts = now.unix_timestamp().to_string();
        let nonce = shared::random::id();
        let package = format!("prepay_id={prepay_id}");
        let keys = self.keys.get().await?;
        let pay_sign = pay_sign(&keys.merchant_key, &self.settings.app_id, &ts, &nonce, &package)?;
        Ok(RequestPayment {
            app_id: self.settings.app_id.clone(),
            time_stamp: ts,
            nonce_str: nonce,
            package,
            sign_type: "RSA".into(),
            pay_sign,
        })
    }

    async fn query(&self, out_trade_no: &str) -> Result<Option<Transaction>, Refusal> {
        let keys = self.keys.get().await?;
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}", keys.mchid);
        let a = self.call(&keys, "GET", &path, None).await?;
        match a.status {
            200 => transaction(&a.body).map(Some).ok_or_else(|| {
                tracing::warn!("wechatpay: query answer is not a transaction");
                unavailable()
            }),
            404 if code_of(&a.body) == "ORDER_NOT_EXIST" => Ok(None),
            s => {
                tracing::warn!(status = s, code = code_of(&a.body), "wechatpay: query refused");
                Err(unavailable())
            }
        }
    }

    async fn close(&self, out_trade_no: &str) -> Result<Closed, Refusal> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        let keys = self.keys.get().await?;
        let a = self.call(&keys, "POST", &path, Some(&json!({"mchid": keys.mchid}))).await?;
        match (a.status, code_of(&a.body)) {
            (200 | 204, _) => Ok(Closed::Closed),
            (_, "ORDER_PAID" | "ORDERPAID") => Ok(Closed::AlreadyPaid),
            // Never made at WeChat Pay (our prepay's answer was lost), or closed already:
            // either way it can't be paid.
            (_, "ORDER_CLOSED" | "ORDERCLOSED" | "ORDER_NOT_EXIST" | "ORDERNOTEXIST") => Ok(Closed::Closed),
            (s, code) => {
                tracing::warn!(status = s, code, "wechatpay: close refused");
                Err(unavailable())
            }
        }
    }

    async fn refund(&self, r: &RefundRequest) -> Result<String, Refusal> {
        let body = json!({
            "out_trade_no": r.out_trade_no, "out_refund_no": r.out_refund_no, "reason": r.reason,
            "amount": {"refund": r.amount.0, "total": r.amount.0, "currency": "CNY"},
        });
        let keys = self.keys.get().await?;
        let a = self.call(&keys, "POST", "/v3/refund/domestic/refunds", Some(&body)).await?;
        match a.body.get("status").and_then(Value::as_str) {
            Some(s) if a.status == 200 => Ok(s.to_string()),
            _ => {
                tracing::warn!(status = a.status, code = code_of(&a.body), "wechatpay: refund refused");
                Err(unavailable())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WeChat Pay's published sample merchant key (its "JSAPI调起支付签名" guide; a documented
    /// test key that can't call the real API) and, from WeChat Pay's official
    /// `wechatpay-apiv3/wechatpay-skills` 签名与验签规则 "官方测试验证数据", the message and the
    /// expected `paySign`.
    const DOC_KEY: &str = include_str!("../tests/fixtures/wechatpay-doc-sample-key.pem");
    const DOC_PAY_SIGN: &str = "mI35pfNEQV6777ke/1T+LJLQDNTm7yeoUJH+j/adPGhmCCi0PbgkvYQTRcXH0uibcLVtvFLdGLpmoYO9FV6lBBsTAjuhh5YOvQi0e2g3e0yytitiNET9FEuqM0pjnKfRW4K6LIZDdbWJv9KhZUx3DrJa5TL7OJ7VdADVivxVySIlPVKjGwuCXzuXSJes0UcILgWQUMyha5/3nYofuHtS7r+KYyMuxD+oJ9VM1Qdxk4UIG59CP5Y3wtYIFybyF3bdu1caHTRRX+DLyMXyYA/IrTmiW01c4RPjpHBX5Dk1sZyY1zVsWNsvMHr2e1NTWtBxKJ+qk5N61J7caYoepHFaxw==";

    #[test]
    fn pay_sign_reproduces_wechat_pays_published_vector() {
        let key = RsaKeyPair::from_pkcs8(&pem_der(DOC_KEY).unwrap()).unwrap();
        let sig = pay_sign(
            &key,
            "wx2421b1c4370ec43b",
            "1554208460",
            "593BEC0C930BF1AFEB40B4A08C8FB242",
            "prepay_id=wx201410272009395522657a690389285100",
        )
        .unwrap();
        assert_eq!(sig, DOC_PAY_SIGN);
        // One character of the message changed: another signature.
        let other =
            pay_sign(&key, "wx2421b1c4370ec43b", "1554208461", "593BEC0C930BF1AFEB40B4A08C8FB242", "prepay_id=x")
                .unwrap();
        assert_ne!(other, DOC_PAY_SIGN);
    }

    #[test]
    fn aes_gcm_round_trips_and_refuses_a_changed_aad_or_ciphertext() {
        let key = [7u8; 32];
        let c = seal(&key, "0123456789ab", "transaction", b"{\"a\":1}").unwrap();
        assert_eq!(open(&key, "0123456789ab", "transaction", &c).unwrap(), b"{\"a\":1}");
        assert_eq!(open(&key, "0123456789ab", "transactioN", &c), Err(Rejection::Decrypt));
        assert_eq!(open(&[8u8; 32], "0123456789ab", "transaction", &c), Err(Rejection::Decrypt));
        let mut raw = B64.decode(&c).unwrap();
        raw[0] ^= 1;
        assert_eq!(open(&key, "0123456789ab", "transaction", &B64.encode(raw)), Err(Rejection::Decrypt));
    }

    /// The notification check at its boundaries, on a fixed clock: 299 s either way is taken,
    /// 300 s and more is not; probes, unknown serials and missing headers are refused.
    #[test]
    fn notification_signatures_at_their_boundaries() {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        use aws_lc_rs::signature::KeyPair;
        let platform = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der: PublicKeyX509Der<'static> = platform.public_key().as_der().unwrap();
        let keys = BTreeMap::from([("PUB_KEY_ID_1".to_string(), der.as_ref().to_vec())]);
        let body = br#"{"id":"EV-1"}"#;
        let signed = |ts: i64| {
            let sig = sign_with(&platform, format!("{ts}\nn0nce\n{}\n", std::str::from_utf8(body).unwrap()).as_bytes());
            (ts.to_string(), sig.unwrap())
        };
        let now = 1_739_153_112;
        let check = |ts: &str, sig: &str, serial: &str, b: &[u8]| {
            let h =
                SignedHeaders { timestamp: Some(ts), nonce: Some("n0nce"), signature: Some(sig), serial: Some(serial) };
            verify(&keys, &h, b, now)
        };
        for (off, ok) in
            [(-301, false), (-300, false), (-299, true), (0, true), (299, true), (300, false), (301, false)]
        {
            let (ts, sig) = signed(now + off);
            assert_eq!(check(&ts, &sig, "PUB_KEY_ID_1", body).is_ok(), ok, "{off:+} s");
        }
        let (ts, sig) = signed(now);
        assert_eq!(check(&ts, &sig, "PUB_KEY_ID_2", body), Err(Rejection::UnknownSerial));
        assert_eq!(check(&ts, "WECHATPAY/SIGNTEST/AAAA", "PUB_KEY_ID_1", body), Err(Rejection::Probe));
        assert_eq!(check(&ts, &sig, "PUB_KEY_ID_1", br#"{"id": "EV-1"}"#), Err(Rejection::BadSignature));
        assert_eq!(check("1e9", &sig, "PUB_KEY_ID_1", body), Err(Rejection::BadTimestamp));
        let h =
            SignedHeaders { timestamp: Some(&ts), nonce: None, signature: Some(&sig), serial: Some("PUB_KEY_ID_1") };
        assert_eq!(verify(&keys, &h, body, now), Err(Rejection::MissingHeader("Wechatpay-Nonce")));
    }

    #[test]
    fn time_expire_is_beijing_time() {
        let t = OffsetDateTime::from_unix_timestamp(1_739_721_599).unwrap(); // 2025-02-16 15:59:59Z
        assert_eq!(beijing(t), "2025-02-16T23:59:59+08:00");
    }
}
