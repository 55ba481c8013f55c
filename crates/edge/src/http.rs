//! Request parsing and responses: bodies parsed into types (size, content type, unknown
//! fields), bearer sessions into a principal, and the one place a `Refusal` becomes a response.

use lambda_http::{Body, Request, Response, http::HeaderValue};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use services::Principal;
use services::session::{SessionToken, unauthorized};
use shared::domain::values::percent_decode;
use shared::error::{Kind, Refusal};

/// Request bodies are small forms; anything larger is a mistake or an attack.
pub const MAX_BODY: usize = 64 * 1024;

pub type HttpResponse = Response<Body>;

/// A response handed to the Lambda runtime as it is. lambda_http's `IntoResponse` for
/// `Response<B>` collects every body and decodes it again by its content type — a copy and an
/// `encoding_rs` UTF-8 pass whose CPU-feature probe alone was ~0.1 ms of each cold start
/// (`perf record` over `scripts/coldstart-bench`); every body here is already `Body::Text` made
/// from a Rust `String` (valid UTF-8 by construction) or `Body::Empty`.
pub struct Ready(pub HttpResponse);

impl lambda_http::IntoResponse for Ready {
    fn into_response(self) -> std::pin::Pin<Box<dyn std::future::Future<Output = HttpResponse> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

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

/// Deserialise a JSON value, turning serde's error into a stable code and the field's path
/// (`degrees[0].graduated`). The path comes from where the deserialiser was, never from serde's
/// message, which quotes the submitted value (`unknown variant \`…\``): a value must not come
/// back as a field name, nor reach a log. Only a missing field's name is taken from the message
/// (the path stops at its parent), as it is a name the schema declares. An unknown key is in the
/// path as the client sent it, so the path is cut short.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Refusal> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let msg = e.inner().to_string();
        let at = e.path().to_string();
        let at: String = if at == "." { String::new() } else { at.chars().take(128).collect() };
        let (code, text, field) = if msg.starts_with("unknown field") {
            ("UNKNOWN_FIELD", "包含不支持的字段", Some(at))
        } else if msg.starts_with("missing field") {
            let name = msg.split('`').nth(1).unwrap_or_default();
            ("MISSING_FIELD", "缺少必填项", Some(if at.is_empty() { name.to_string() } else { format!("{at}.{name}") }))
        } else if msg.starts_with("unknown variant") {
            ("INVALID_OPTION", "选项不在可选范围内", Some(at))
        } else {
            ("INVALID_FIELD", "字段类型或格式不正确", Some(at))
        };
        let r = Refusal::bad(code, text);
        match field.filter(|f| !f.is_empty()) {
            Some(f) => r.field(f),
            None => r,
        }
    })
}

/// Render a handler's result and write its access-log line: API Gateway's and Lambda's request
/// ids (to find the request on both sides), the function, the route template (never the raw
/// path or query, never a header or body: no token or personal data reaches the log), the
/// status, the refusal code and the latency.
pub fn finish(
    function: &str,
    req: &Request,
    started: std::time::Instant,
    result: Result<HttpResponse, Refusal>,
) -> HttpResponse {
    use lambda_http::RequestExt;
    let (resp, code) = match result {
        Ok(r) => (r, None),
        Err(e) => (refusal_for(req, &e), Some(e.code)),
    };
    let request_id = match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) => c.request_id.as_deref(),
        _ => None,
    };
    let lambda_request_id = req.lambda_context_ref().map(|c| c.request_id.as_str());
    let route = crate::api::resolve(req.method().as_str(), &segments(req)).map(|(r, _)| r.path).unwrap_or("(none)");
    tracing::info!(
        request_id = request_id.unwrap_or("-"),
        lambda_request_id = lambda_request_id.unwrap_or("-"),
        function,
        method = %req.method(),
        route,
        status = resp.status().as_u16(),
        code = code.unwrap_or("-"),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

/// A refusal's response to this request: a 405 names the methods the path has in `Allow`.
pub fn refusal_for(req: &Request, e: &Refusal) -> HttpResponse {
    let mut resp = refusal_response(e);
    if e.kind == Kind::MethodNotAllowed {
        let allow = crate::api::allowed(&segments(req)).join(", ");
        if let Ok(v) = lambda_http::http::HeaderValue::from_str(&allow) {
            resp.headers_mut().insert("allow", v);
        }
    }
    resp
}

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`), for the
/// per-source limits; `unknown` when there is none. Never `X-Forwarded-For`: the caller writes it.
pub fn source(req: &Request) -> String {
    use lambda_http::RequestExt;
    match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
        _ => None,
    }
    .filter(|ip| !ip.is_empty() && ip.len() <= 45)
    .unwrap_or_else(|| "unknown".into())
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

/// The session token from `Authorization: Bearer …`, shape-checked (looked up by the service,
/// in the same round trip as the data it guards).
pub fn bearer(req: &Request) -> Result<SessionToken, Refusal> {
    let h = req.headers().get("authorization").and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    let t = h.strip_prefix("Bearer ").ok_or_else(unauthorized)?;
    SessionToken::parse(t.trim()).ok_or_else(unauthorized)
}

/// The staff session token from `Authorization: Bearer …`, shape-checked: a candidate's token
/// is not one (and a staff token is not a candidate's: each side's routes refuse the other's).
pub fn staff_bearer(req: &Request) -> Result<services::staff_session::StaffToken, Refusal> {
    let unauth = services::staff_session::staff_unauthenticated;
    let h = req.headers().get("authorization").and_then(|v| v.to_str().ok()).ok_or_else(unauth)?;
    let t = h.strip_prefix("Bearer ").ok_or_else(unauth)?;
    services::staff_session::StaffToken::parse(t.trim()).ok_or_else(unauth)
}

/// The candidate a bearer token claims to be; proven by the service's read.
pub fn candidate(req: &Request) -> Result<Principal, Refusal> {
    Ok(Principal::Candidate(bearer(req)?))
}

/// A route that doesn't exist, or a method a route doesn't take.
pub fn no_route() -> Refusal {
    Refusal::not_found("NO_ROUTE", "接口不存在")
}

pub fn method_not_allowed() -> Refusal {
    Refusal::new(Kind::MethodNotAllowed, "METHOD_NOT_ALLOWED", "请求方法不正确")
}

/// An empty `204 No Content`.
pub fn no_content() -> HttpResponse {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = lambda_http::http::StatusCode::NO_CONTENT;
    resp
}

#[cfg(test)]
mod tests {
    use super::from_value;
    use crate::wire::{ExamPageInput, RegisterRequest};
    use serde_json::json;

    fn register(degree: serde_json::Value) -> serde_json::Value {
        json!({"account": "zhang_san", "password": "abc12345", "name": "张三", "id_type": "resident_id",
               "id_number": "110105199003078475", "gender": "male", "birth_date": "1990-03-07",
               "nationality": "中国", "phone": "13912345678", "degrees": [degree]})
    }

    #[test]
    fn a_refusal_names_the_json_path_of_the_field_never_the_value_submitted() {
        let e = from_value::<ExamPageInput>(json!({"category": "nursing", "level": "13912345678x",
            "specialty": "368", "practice_category": "nurse", "has_residency_certificate": false}))
        .unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("INVALID_OPTION", Some("level")));

        let degree = json!({"level": "bachelor", "school": "s", "major": "m", "graduated": 202307});
        let e = from_value::<RegisterRequest>(register(degree)).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("INVALID_FIELD", Some("degrees[0].graduated")));

        let e = from_value::<RegisterRequest>(register(json!({"level": "bachelor", "school": "s", "major": "m"})))
            .unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("MISSING_FIELD", Some("degrees[0].graduated")));

        let degree = json!({"level": "bachelor", "school": "s", "major": "m", "graduated": "2023-07", "status": 1});
        let e = from_value::<RegisterRequest>(register(degree)).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("UNKNOWN_FIELD", Some("degrees[0].status")));
    }
}
