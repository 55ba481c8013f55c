//! The mini-program's steps, shared by the end-to-end tests: register, open an application,
//! fill the six pages.

use crate::{Person, TestApp};
use serde_json::{Value, json};

pub const P: &str = "/v1/applications/2025-health";

pub async fn page(app: &TestApp, token: &str, page: &str, body: Value) -> (u16, Value) {
    app.call("PUT", &format!("{P}/pages/{page}"), Some(token), Some(body)).await
}

pub fn site(site: &str) -> Value {
    json!({"site": site})
}
pub fn basic() -> Value {
    json!({"id_valid_until": "2030-01-01", "ethnicity": "汉族"})
}
pub fn contact() -> Value {
    json!({"phone": "13912345678", "address": "郑州市金水区", "postcode": "450000"})
}
pub fn exam(subjects: &[&str]) -> Value {
    json!({"category": "nursing", "level": "intermediate", "specialty": "368", "practice_category": "nurse",
           "first_registration": "2016-01", "has_residency_certificate": false, "subjects": subjects})
}
pub fn work(unit: &str) -> Value {
    json!({"unit_name": unit, "started_work": "2015-08"})
}

/// Register, bind WeChat, open an application in `district` and agree to the notices.
pub async fn start(app: &TestApp, who: &Person, district: &str) -> String {
    let token = app.register(who).await;
    app.bind_wechat(&token, who.account).await;
    let (s, v) = app
        .call("POST", "/v1/applications", Some(&token), Some(json!({"project": "2025-health", "district": district})))
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = app
        .call(
            "POST",
            &format!("{P}/agreement"),
            Some(&token),
            Some(json!({"important_version": "2025.1", "integrity_version": "2025.1"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    token
}

pub async fn fill_all(app: &TestApp, token: &str, site_code: &str, subjects: &[&str], unit: &str) {
    for (name, body) in [
        ("site", site(site_code)),
        ("basic", basic()),
        ("contact", contact()),
        ("exam", exam(subjects)),
        ("education", json!({"degree_record_id": "d1"})),
        ("work", work(unit)),
    ] {
        let (s, v) = page(app, token, name, body).await;
        assert_eq!(s, 200, "{name}: {v}");
    }
}

pub fn code_of(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

/// A candidate with a submitted application in 河南 (site confirmation at 4101, four subjects):
/// their session, candidate id and verification code.
pub async fn submitted_in_henan(app: &TestApp, who: &Person) -> (String, String, String) {
    let token = start(app, who, "41").await;
    fill_all(app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    let cid = token.split('.').next().unwrap_or_default().to_string();
    (token, cid, v["verification_code"].as_str().unwrap_or_default().to_string())
}

/// 河南's staff, made by the centre: the site clerk at 4101 and a district reviewer (their
/// sessions), and the clerk's TOTP key.
pub async fn henan_staff(app: &TestApp) -> (String, String, String) {
    let centre = crate::desk::centre(app).await;
    let (admin, _) = crate::desk::create(app, &centre, "henan_admin", "district", "41", true).await;
    let (clerk, clerk_key) = crate::desk::create(app, &admin, "site_4101", "site", "4101", false).await;
    let (reviewer, _) = crate::desk::create(app, &admin, "henan_review", "district", "41", false).await;
    (clerk, reviewer, clerk_key)
}

/// A fresh session (tests move the clock by weeks; sessions don't last that long).
pub async fn login(app: &TestApp, who: &Person) -> String {
    let body = json!({"account": who.account, "password": crate::PASSWORD});
    let (s, v) = app.call("POST", "/v1/sessions/password", None, Some(body)).await;
    assert_eq!(s, 200, "{v}");
    v["token"].as_str().unwrap_or_default().to_string()
}

/// Use an upload (a photo or a proof): the `PUT` that names it. An upload is checked when the
/// object store reports its arrival; until then the answer is 409 `UPLOAD_PENDING`, so this asks
/// again for a while, as the mini-program does.
pub async fn use_upload(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    for _ in 0..100 {
        let (s, v) = app.call("PUT", path, Some(token), Some(body.clone())).await;
        if !(s == 409 && code_of(&v) == "UPLOAD_PENDING") {
            return (s, v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.call("PUT", path, Some(token), Some(body)).await
}
