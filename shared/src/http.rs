//! The HTTP edge shared by every function: bodies parsed into types (size, content type,
//! unknown fields), bearer sessions, and the one place a `Refusal` becomes a response.

use crate::error::{Kind, Refusal};
use crate::ports::{Item, Key};
use crate::store::{attr, keys};
use lambda_http::{Body, Request, Response, http::HeaderValue};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Request bodies are small forms; anything larger is a mistake or an attack.
pub const MAX_BODY: usize = 64 * 1024;

pub type HttpResponse = Response<Body>;

/// A JSON response. `no-store`: these bodies carry personal data and must not sit in caches.
pub fn json_response<T: Serialize>(status: u16, body: &T) -> HttpResponse {
    let text = match serde_json::to_string(body) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "response does not serialise");
            return refusal_response(&Refusal::internal());
        }
    };
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = lambda_http::http::StatusCode::from_u16(status).unwrap_or_default();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    resp
}

/// The stable error body: `{"code", "message", "field"}`. Internal details never appear here.
pub fn refusal_response(r: &Refusal) -> HttpResponse {
    let body = json!({ "code": r.code, "message": r.message, "field": r.field });
    let text = body.to_string();
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = lambda_http::http::StatusCode::from_u16(r.kind.status()).unwrap_or_default();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    if r.kind == Kind::Unauthorized {
        h.insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    resp
}

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        // `Body` is non-exhaustive; a future variant we don't know carries nothing we accept.
        _ => &[],
    }
}

/// Parse a JSON body into `T` (which should `deny_unknown_fields`). Errors name the field.
pub fn parse_body<T: DeserializeOwned>(req: &Request) -> Result<T, Refusal> {
    let value = body_value(req)?;
    from_value(value)
}

/// The body as a JSON object, after size and content-type checks.
pub fn body_value(req: &Request) -> Result<Value, Refusal> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_BODY {
        return Err(Refusal::new(Kind::TooLarge, "BODY_TOO_LARGE", "提交的内容过大"));
    }
    let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(Refusal::bad("UNSUPPORTED_MEDIA_TYPE", "请以JSON格式提交").field("content-type"));
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| Refusal::bad("MALFORMED_JSON", "提交的内容格式不正确"))?;
    if !value.is_object() {
        return Err(Refusal::bad("MALFORMED_JSON", "提交的内容格式不正确"));
    }
    Ok(value)
}

/// Deserialise a JSON value, turning serde's message into a stable code and the field name.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Refusal> {
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).map(str::to_string);
        let (code, text) = if msg.starts_with("unknown field") {
            ("UNKNOWN_FIELD", "包含不支持的字段")
        } else if msg.starts_with("missing field") {
            ("MISSING_FIELD", "缺少必填项")
        } else if msg.starts_with("unknown variant") {
            ("INVALID_OPTION", "选项不在可选范围内")
        } else {
            ("INVALID_FIELD", "字段类型或格式不正确")
        };
        let r = Refusal::bad(code, text);
        match field {
            Some(f) => r.field(f),
            None => r,
        }
    })
}

/// Path segments after the leading slash, without empty ones.
pub fn segments(req: &Request) -> Vec<String> {
    req.uri().path().split('/').filter(|s| !s.is_empty()).map(percent_decode).collect()
}

/// One query-string parameter, percent-decoded.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

pub fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Work on bytes, never on `str` slices: a `%` before a multi-byte character must not panic.
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A bearer session token: `<candidate id>.<secret>`. The id lets a handler read the session
/// and the candidate's data in one round trip; the secret is what proves the session.
#[derive(Clone)]
pub struct SessionToken {
    pub candidate_id: String,
    raw: String,
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionToken({}.***)", self.candidate_id)
    }
}

impl SessionToken {
    pub fn new(candidate_id: &str) -> Self {
        SessionToken {
            candidate_id: candidate_id.to_string(),
            raw: format!("{candidate_id}.{}", crate::random::token(32)),
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        let (cid, secret) = raw.split_once('.')?;
        let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let b64 = |s: &str| s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (hex(cid) && b64(secret)).then(|| SessionToken { candidate_id: cid.to_string(), raw: raw.to_string() })
    }
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn key(&self) -> Key {
        keys::session(&self.raw)
    }
}

fn unauthorized() -> Refusal {
    Refusal::new(Kind::Unauthorized, "UNAUTHENTICATED", "登录已失效,请重新登录")
}

/// The session token from `Authorization: Bearer …`, shape-checked (not yet looked up).
pub fn bearer(req: &Request) -> Result<SessionToken, Refusal> {
    let h = req.headers().get("authorization").and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    let t = h.strip_prefix("Bearer ").ok_or_else(unauthorized)?;
    SessionToken::parse(t.trim()).ok_or_else(unauthorized)
}

/// Check a session item read under `token.key()`: present, the token's candidate, not expired.
pub fn check_session(item: Option<&Item>, token: &SessionToken, now: OffsetDateTime) -> Result<(), Refusal> {
    let item = item.ok_or_else(unauthorized)?;
    let expires = item.get("expires").and_then(Value::as_i64).unwrap_or(0);
    if attr(item, "cid") != Some(token.candidate_id.as_str()) || now.unix_timestamp() >= expires {
        return Err(unauthorized());
    }
    Ok(())
}

/// A route that doesn't exist, or a method a route doesn't take.
pub fn no_route() -> Refusal {
    Refusal::not_found("NO_ROUTE", "接口不存在")
}

pub fn method_not_allowed() -> Refusal {
    Refusal::new(Kind::BadRequest, "METHOD_NOT_ALLOWED", "请求方法不正确")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_have_one_shape() {
        let t = SessionToken::new("0123456789abcdef0123456789abcdef");
        assert!(SessionToken::parse(t.as_str()).is_some());
        assert!(SessionToken::parse("0123456789abcdef0123456789abcdef").is_none());
        assert!(SessionToken::parse("x.y").is_none());
        assert!(!format!("{t:?}").contains(&t.as_str()[33..]), "secret never in Debug");
    }

    #[test]
    fn percent_decoding_handles_utf8_and_stray_percent() {
        assert_eq!(percent_decode("%E5%8C%97%E4%BA%AC"), "北京");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%北"), "%北");
    }
}
