//! The strongest form of the deployed shape: the real release bootstraps (`LAMBDA_BOOTSTRAPS`,
//! the directory `scripts/test` builds them into), each started as its own process with only
//! the environment the template gives it and what the Lambda runtime adds, behind a Runtime API
//! on loopback, on moto and the WeChat protocol server. They run on the wall clock, as on Lambda.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::runtime_api::Bootstrap;
use e2e::stack::Stack;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Where the release bootstraps are. Fails — never skips — when unset.
fn bootstrap(name: &str) -> PathBuf {
    let dir = std::env::var_os("LAMBDA_BOOTSTRAPS").unwrap_or_else(|| {
        panic!("LAMBDA_BOOTSTRAPS is not set: run scripts/test, which builds the release bootstraps")
    });
    let path = PathBuf::from(dir).join(name);
    assert!(path.is_file(), "no bootstrap at {}", path.display());
    path
}

#[tokio::test]
async fn the_release_bootstraps_serve_a_new_candidate_from_the_templates_environment() {
    let stack = Stack::new().await;
    let login = Bootstrap::start("login", &bootstrap("login"), &stack.env("LoginFunction")).await;
    let application =
        Bootstrap::start("application", &bootstrap("application"), &stack.env("ApplicationFunction")).await;

    let registration = json!({"account": "zhang_san", "password": e2e::PASSWORD, "name": "张三",
        "id_type": "resident_id", "id_number": e2e::ZHANG.id_number, "gender": "male", "birth_date": "1990-03-07",
        "nationality": "中国", "phone": "13912345678"});
    let (s, v) = login.call("POST", "/v1/accounts", None, Some(registration)).await;
    assert_eq!(s, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    assert!(v["account"]["id_number_masked"].as_str().unwrap().contains('*'), "{v}");

    // R2: bind through jscode2session, then log in with a fresh wx.login code.
    let code = stack.wechat.code_for("oZhangSan");
    let (s, v) = login.call("POST", "/v1/account/wechat", Some(&token), Some(json!({"code": code}))).await;
    assert_eq!((s, &v["wechat_bound"]), (200, &json!(true)), "{v}");
    let code = stack.wechat.code_for("oZhangSan");
    let (s, v) = login.call("POST", "/v1/sessions/wechat", None, Some(json!({"code": code}))).await;
    assert_eq!((s, v["account"]["account"].as_str()), (200, Some("zhang_san")), "{v}");

    // R2: face login through getverifyid / queryverifyinfo.
    let start =
        json!({"id_type": "resident_id", "id_number": e2e::ZHANG.id_number, "code": stack.wechat.code_for("oZ")});
    let (s, t) = login.call("POST", "/v1/sessions/face/start", None, Some(start)).await;
    assert_eq!(s, 200, "{t}");
    stack.wechat.face_matched(t["verify_id"].as_str().unwrap());
    let (s, v) = login.call("POST", "/v1/sessions/face", None, Some(json!({"attempt": t["attempt"]}))).await;
    assert_eq!(s, 200, "{v}");

    // The upload function (one binary, two event sources): a ticket over HTTP, the upload to
    // S3, then S3's notice of it; the login function then sets the judged photo.
    let upload = Bootstrap::start("upload", &bootstrap("upload"), &stack.env("UploadFunction")).await;
    let (s, ticket) = upload.call("POST", "/v1/account/photo/upload-url", Some(&token), None).await;
    assert_eq!((s, ticket["method"].as_str()), (200, Some("POST")), "{ticket}");
    let jpeg = shared::photo::synthetic_jpeg(358, 441, 60_000);
    assert!(local_server::upload::upload(&ticket, "image/jpeg", jpeg).await.unwrap() < 300);
    let key = ticket["key"].as_str().unwrap();
    let (s, v) = login.call("PUT", "/v1/account/photo", Some(&token), Some(json!({"key": key}))).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("UPLOAD_PENDING")), "not judged before S3's notice: {v}");
    let notice = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Post",
        "s3": {"bucket": {"name": stack.aws.bucket}, "object": {"key": key, "size": 60_000}}}]});
    assert_eq!(upload.invoke(notice).await, Ok(Value::Null));
    let (s, v) = login.call("PUT", "/v1/account/photo", Some(&token), Some(json!({"key": key}))).await;
    assert_eq!(s, 200, "{v}");

    // The application function reads the session the login function wrote.
    let (s, v) = application.call("GET", "/v1/projects", None, None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = application.call("GET", "/v1/applications/2025-health", Some(&token), None).await;
    assert_eq!((s, v["code"].as_str()), (404, Some("NO_APPLICATION")), "{v}");
    // On the wall clock the shipped exam year (2025) is closed: the rule answers, not a failure.
    let create = json!({"project": "2025-health", "district": "41"});
    let (s, v) = application.call("POST", "/v1/applications", Some(&token), Some(create)).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("REGISTRATION_CLOSED")), "{v}");

    // The review function: a staff account (made in the table, as the command-line tool does),
    // logged in with password and the TOTP code of the wall clock; a candidate's session is not
    // a staff session.
    let review = Bootstrap::start("review", &bootstrap("review"), &stack.env("ReviewFunction")).await;
    let env = services::config::Env::Map(stack.env("ReviewFunction"));
    let desk = review::compose::build(&env, std::sync::Arc::new(services::ports::SystemClock)).await.unwrap();
    let e = desk.bootstrap_centre("centre_admin", "中心管理员", "Staff-pass-2025").await.unwrap();
    let totp = services::staff::current_code(&e.secret_base32, time::OffsetDateTime::now_utc()).unwrap();
    let body = json!({"account": "centre_admin", "password": "Staff-pass-2025", "totp": totp});
    let (s, v) = review.call("POST", "/v1/staff/sessions", None, Some(body)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = review.call("GET", "/v1/staff/me", v["token"].as_str(), None).await;
    assert_eq!((s, v["role"].as_str()), (200, Some("centre")), "{v}");
    let (s, v) = review.call("GET", "/v1/staff/me", Some(&token), None).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("STAFF_UNAUTHENTICATED")), "{v}");
    // The staff console's page, from the same function: its policy lets photos come only from
    // where this function's signed URLs point (the bucket's endpoint, here moto's).
    let event = json!({
        "version": "2.0", "routeKey": "GET /staff", "rawPath": "/staff", "rawQueryString": "",
        "headers": {"host": "api.example.com"},
        "requestContext": {"accountId": "123456789012", "apiId": "e2e", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "console", "routeKey": "GET /staff", "stage": "$default",
            "time": "02/Dec/2026:10:00:00 +0800", "timeEpoch": 0,
            "http": {"method": "GET", "path": "/staff", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "e2e"}},
        "isBase64Encoded": false
    });
    let resp = review.invoke_as("console".into(), event).await.unwrap();
    assert_eq!(resp["statusCode"], 200, "{resp}");
    assert!(resp["body"].as_str().unwrap().contains(r#"src="/staff/console.js""#), "{resp}");
    let csp = resp["headers"]["content-security-policy"].as_str().unwrap();
    let endpoint = stack.env("ReviewFunction").get("AWS_ENDPOINT_URL").cloned().unwrap_or_default();
    assert!(
        !endpoint.is_empty() && csp.contains(&format!("img-src 'self' {}", endpoint.trim_end_matches('/'))),
        "{csp}"
    );
}

#[tokio::test]
async fn a_release_bootstrap_without_its_configuration_fails_its_cold_start_naming_the_variable() {
    let stack = Stack::new().await;
    for (function, binary, var) in [
        ("LoginFunction", "login", "WECHAT_APP_SECRET_ARN"),
        ("ApplicationFunction", "application", "TABLE_NAME"),
        ("ApplicationFunction", "application", "FORM_FONT_DIR"),
        ("ReviewFunction", "review", "BUCKET_NAME"),
        ("PaymentFunction", "payment", "WECHATPAY_SECRET_ARN"),
        ("UploadFunction", "upload", "BUCKET_NAME"),
    ] {
        let mut env = stack.env(function);
        env.remove(var);
        let (status, said) = Bootstrap::start(binary, &bootstrap(binary), &env).await.failed_init().await;
        assert!(status.is_some_and(|s| !s.success()), "{binary} without {var} must exit with a failure: {status:?}");
        assert!(said.contains(var), "{binary} without {var} said: {said}");
    }
}
