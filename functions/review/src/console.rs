//! The staff console's files (`/staff`, `/staff/console.js`, `/staff/console.css`), built into
//! the binary and served by the staff function itself: the console and the staff API share one
//! origin, so there is no CORS to open and the page's policy can say `connect-src 'self'`.

use edge::http::HttpResponse;
use lambda_http::{Body, Request, Response};
use services::staff::StaffService;
use shared::error::Refusal;

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

/// The paths the console answers, as API Gateway routes them (the template has one route each).
pub const PATHS: [&str; 2] = ["/staff", "/staff/{asset}"];

/// Whether a request's path is the console's (`segments` as `edge::http::segments` splits them).
pub fn is_console(segments: &[String]) -> bool {
    segments.first().is_some_and(|s| s == "staff") && segments.len() <= 2
}

/// Serve one of the console's files. GET only; anything else under `/staff/` is a 404.
pub async fn serve(staff: &StaffService, req: &Request, segments: &[String]) -> Result<HttpResponse, Refusal> {
    if req.method() != lambda_http::http::Method::GET {
        return Ok(method_not_allowed());
    }
    let (body, content_type) = match segments.get(1).map(String::as_str) {
        None | Some("index.html") => (INDEX, "text/html; charset=utf-8"),
        Some("console.js") => (SCRIPT, "text/javascript; charset=utf-8"),
        Some("console.css") => (STYLE, "text/css; charset=utf-8"),
        Some(_) => return Err(Refusal::not_found("NO_ROUTE", "页面不存在")),
    };
    let csp = policy(&photo_origin(staff).await);
    let resp = Response::builder()
        .status(200)
        .header("content-type", content_type)
        // Small files, and a new deployment must reach every counter at once: revalidate always.
        .header("cache-control", "no-cache")
        .header("content-security-policy", csp)
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
        .header("cross-origin-opener-policy", "same-origin")
        .header("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()")
        .header("strict-transport-security", "max-age=31536000")
        .body(Body::Text(body.to_string()))
        .map_err(|_| Refusal::internal())?;
    Ok(resp)
}

/// The page's Content-Security-Policy: scripts, styles and API calls from this origin only, no
/// inline script or style, no frames, no plugins; photos also from the object store's origin
/// (the signed download URLs point there).
pub fn policy(photo_origin: &str) -> String {
    let img = if photo_origin.is_empty() { "'self'".to_string() } else { format!("'self' {photo_origin}") };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src {img}; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
}

/// Where the signed photo URLs point (`scheme://host[:port]`), read off one signed URL so it is
/// exactly what the store hands out on every backend (S3, its China endpoints, an emulator, the
/// local server); empty when the URLs are relative (same origin). Signing is local: no I/O.
async fn photo_origin(staff: &StaffService) -> String {
    let now = staff.apps.clock.now();
    match staff.apps.objects.download_url("photos/console-policy", 60, now).await {
        Ok(url) => origin(&url),
        Err(e) => {
            // The page still works; only photos from another origin are blocked — say why.
            tracing::warn!(error = %e, "no signed URL to read the photo origin from; img-src is 'self' only");
            String::new()
        }
    }
}

fn origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return String::new() };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || !matches!(scheme, "http" | "https") { String::new() } else { format!("{scheme}://{host}") }
}

fn method_not_allowed() -> HttpResponse {
    let body = r#"{"code":"METHOD_NOT_ALLOWED","message":"该地址不支持此请求方法","field":null}"#;
    Response::builder()
        .status(405)
        .header("allow", "GET")
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_photo_origin_and_allows_nothing_inline() {
        assert_eq!(
            origin("https://b.s3.cn-north-1.amazonaws.com.cn/photos/x?X-Amz-Signature=1"),
            "https://b.s3.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(origin("http://127.0.0.1:4566/bucket/photos/x"), "http://127.0.0.1:4566");
        assert_eq!(origin("/local-uploads/photos/x"), "");
        assert_eq!(origin("javascript://x/y"), "");
        let p = policy("https://b.s3.amazonaws.com");
        assert!(p.contains("img-src 'self' https://b.s3.amazonaws.com;"), "{p}");
        assert!(p.contains("script-src 'self';") && !p.contains("unsafe"), "{p}");
        assert_eq!(policy("").split("img-src ").nth(1).unwrap().split(';').next(), Some("'self'"));
    }

    #[test]
    fn only_the_console_paths_are_the_consoles() {
        let seg = |p: &str| p.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>();
        assert!(is_console(&seg("/staff")) && is_console(&seg("/staff/")) && is_console(&seg("/staff/console.js")));
        assert!(!is_console(&seg("/v1/staff/me")) && !is_console(&seg("/staff/a/b")) && !is_console(&seg("/stafff")));
    }

    #[test]
    fn the_page_loads_only_its_own_files() {
        // No inline script or style the policy would block, and nothing from another origin.
        assert!(!INDEX.contains("<script>") && !INDEX.contains("style=") && !INDEX.contains("<style"));
        assert!(INDEX.contains(r#"<script type="module" src="/staff/console.js">"#));
        assert!(!INDEX.contains("http://") && !INDEX.contains("https://"));
        assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("localStorage") && !SCRIPT.contains("eval("));
    }
}
