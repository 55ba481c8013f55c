//! The staff side's steps, shared by the end-to-end tests and the queue bench: the first centre
//! admin (as the command-line tool makes it), staff accounts created over HTTP by their admins,
//! and logins with the code an authenticator app would show.

use crate::TestApp;
use serde_json::{Value, json};
use services::staff::current_code;

/// One staff password for every test account (meets the complexity policy).
pub const STAFF_PASSWORD: &str = "Staff-pass-2025";

/// Log a staff account in with its TOTP key (base32), at the app's clock. Each code is good
/// once: a second login of the same account needs the clock moved past the step.
pub async fn login(app: &TestApp, account: &str, secret: &str) -> String {
    let code = current_code(secret, services::ports::Clock::now(app.clock.as_ref())).expect("base32 key");
    let body = json!({"account": account, "password": STAFF_PASSWORD, "totp": code});
    let (s, v) = app.call("POST", "/v1/staff/sessions", None, Some(body)).await;
    assert_eq!(s, 200, "staff login {account}: {v}");
    v["token"].as_str().expect("token").to_string()
}

/// The centre's first admin, made as `staff-admin bootstrap` makes it; logged in.
pub async fn centre(app: &TestApp) -> String {
    let e = app
        .running
        .deps
        .staff
        .bootstrap_centre("centre_admin", "中心管理员", STAFF_PASSWORD)
        .await
        .expect("bootstrap the centre admin");
    login(app, "centre_admin", &e.secret_base32).await
}

/// Create an account as `admin` (over HTTP), let its owner enrol with the code the admin was
/// given (their own password; the TOTP key comes back to them alone) and log in; returns
/// (token, base32 key).
pub async fn create(
    app: &TestApp,
    admin: &str,
    account: &str,
    role: &str,
    area: &str,
    is_admin: bool,
) -> (String, String) {
    let body = json!({"account": account, "name": "测试工作人员", "role": role, "area": area, "admin": is_admin});
    let (s, v) = app.call("POST", "/v1/staff/accounts", Some(admin), Some(body)).await;
    assert_eq!(s, 201, "create {account}: {v}");
    assert!(v.get("secret_base32").is_none(), "the admin holds no credential: {v}");
    let secret = enrol(app, account, v["enrolment_code"].as_str().expect("enrolment code")).await;
    (login(app, account, &secret).await, secret)
}

/// The owner's enrolment: returns their TOTP key (base32).
pub async fn enrol(app: &TestApp, account: &str, code: &str) -> String {
    let body = json!({"account": account, "code": code, "password": STAFF_PASSWORD});
    let (s, v) = app.call("POST", "/v1/staff/enrolment", None, Some(body)).await;
    assert_eq!(s, 200, "enrol {account}: {v}");
    v["secret_base32"].as_str().expect("secret").to_string()
}

/// A staff call: `(status, body)`.
pub async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    app.call("GET", path, Some(token), None).await
}

/// A decision on one application.
pub async fn decide(app: &TestApp, token: &str, cid: &str, decision: &str, reason: Option<&str>) -> (u16, Value) {
    let mut body = json!({"decision": decision});
    if let Some(r) = reason {
        body["reason"] = json!(r);
    }
    app.call("POST", &format!("/v1/staff/applications/{cid}/2025-health/decisions"), Some(token), Some(body)).await
}

/// GET `path` until `ready` holds of the body (or about two seconds pass), and return the last
/// answer: a queue or a code lookup is read through an index, which DynamoDB updates after the
/// write that changed it (eventually consistent), so a test must not expect it the same instant.
pub async fn eventually(app: &TestApp, token: &str, path: &str, ready: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let mut last = get(app, token, path).await;
    for _ in 0..40 {
        if ready(last.0, &last.1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        last = get(app, token, path).await;
    }
    last
}

/// Once the code on a form can be looked up (the code index is eventually consistent), `POST`
/// its confirmation as `clerk`.
pub async fn confirm_code(app: &TestApp, clerk: &str, code: &str) -> (u16, Value) {
    let path = format!("/v1/staff/projects/2025-health/codes/{code}");
    eventually(app, clerk, &path, |s, _| s != 404).await;
    app.call("POST", &format!("{path}/confirm"), Some(clerk), None).await
}

/// A queue page once it lists `cid`.
pub async fn queue_with(app: &TestApp, token: &str, path: &str, cid: &str) -> Value {
    let has = |s: u16, v: &Value| {
        s == 200 && v["entries"].as_array().is_some_and(|e| e.iter().any(|x| x["candidate_id"] == cid))
    };
    let (s, v) = eventually(app, token, path, has).await;
    assert!(has(s, &v), "{cid} never appeared in {path}: {s} {v}");
    v
}
