//! The staff console in a real browser (headless Chromium through chromedriver), against the
//! local server with fresh storage: a site clerk logs in with a TOTP code, confirms a candidate
//! at the counter by the code on the printed form with the keyboard alone (R22), is told plainly
//! that an old code is dead (R18), rejects at the site review with a reason (R24) that the
//! candidate then sees, reads the history, logs out, and is logged out after the idle timeout; a
//! district admin sees counts and manages staff. Screenshots of the counter and the queue are
//! written for the README (`CONSOLE_SCREENSHOTS=$PWD/docs` writes them there).

// Test code: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::browser::{Browser, ENTER, ESCAPE};
use e2e::steps::{P, henan_staff, submitted_in_henan};
use e2e::{NOW, TestApp, ZHANG, ZHAO, spawn_app};
use serde_json::{Value, json};
use services::staff::current_code;
use time::Duration;

/// Where screenshots go: `CONSOLE_SCREENSHOTS`, else the test's own directory under `target/`.
fn save(name: &str, png: &[u8]) {
    let dir = std::env::var("CONSOLE_SCREENSHOTS").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_string());
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).expect("screenshot dir");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(name), png).expect("write screenshot");
}

/// Move the server's clock (staff sessions and TOTP codes follow it).
fn at(app: &TestApp, t: time::OffsetDateTime) {
    app.clock.set(t);
}

/// Every input, select and textarea on the page has a label naming it.
async fn unlabelled(b: &Browser) -> Value {
    b.exec(
        "return [...document.querySelectorAll('input, select, textarea')]\
           .filter(e => !e.labels || !e.labels.length || !e.labels[0].textContent.trim())\
           .map(e => e.id || e.name || e.outerHTML);",
        json!([]),
    )
    .await
}

/// Nothing is wider than the window (no sideways scrolling on a tablet or a 1366 screen).
async fn fits(b: &Browser) -> bool {
    b.exec("return document.documentElement.scrollWidth <= window.innerWidth;", json!([])).await == json!(true)
}

/// A candidate submitted in 河南 (site 4101) whose registration photo is the demo portrait — a
/// real photograph, so the counter shows a face to compare: their session and live code.
async fn submitted_with_portrait(app: &TestApp, who: &e2e::Person) -> (String, String) {
    let token = e2e::steps::start(app, who, "41").await;
    let (s, ticket) = app.call("POST", "/v1/account/photo/upload-url", Some(&token), None).await;
    assert_eq!(s, 200, "{ticket}");
    let portrait = include_bytes!("../../local/demo-photo.jpg").to_vec();
    let status = local_server::upload::upload(&ticket, "image/jpeg", portrait).await.unwrap();
    assert!((200..300).contains(&status), "upload answered {status}");
    let key = ticket["key"].as_str().unwrap().to_string();
    app.await_judged(&key).await;
    let (s, v) = app.call("PUT", "/v1/account/photo", Some(&token), Some(json!({"key": key}))).await;
    assert_eq!(s, 200, "{v}");
    e2e::steps::fill_all(app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    let (s, v) = app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    (token, v["verification_code"].as_str().unwrap().to_string())
}

async fn log_in(b: &Browser, base: &str, account: &str, totp: &str) {
    b.goto(&format!("{base}/staff/")).await;
    b.type_into("#account", account).await;
    b.type_into("#password", e2e::desk::STAFF_PASSWORD).await;
    b.type_into("#totp", &format!("{totp}{ENTER}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_with_a_strict_policy() {
    let app = spawn_app().await;
    let (s, h, body) = app.page("GET", "/staff/").await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in
        ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]
    {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "no inline script or style: {csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(body.contains("/staff/console.js"));
    let (s, h, _) = app.page("GET", "/staff/console.js").await;
    assert_eq!((s, h["content-type"].to_str().unwrap()), (200, "text/javascript; charset=utf-8"));
    let (s, h, _) = app.page("POST", "/staff/").await;
    assert_eq!((s, h["allow"].to_str().unwrap()), (405, "GET"));
    let (s, _, body) = app.page("GET", "/staff/nothing.js").await;
    assert_eq!(s, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_clerk_confirms_at_the_counter_refuses_an_old_code_and_rejects_with_a_reason() {
    let app = spawn_app().await;
    // 张三 submitted, withdrew and resubmitted (R18: the first printed code is dead); 赵六 waits
    // in the confirm queue.
    let (cand, old_code) = submitted_with_portrait(&app, &ZHANG).await;
    app.call("POST", &format!("{P}/withdraw"), Some(&cand), None).await;
    let (_, v) = app.call("POST", &format!("{P}/submit"), Some(&cand), None).await;
    let code = v["verification_code"].as_str().unwrap().to_string();
    let (zhao, _, zhao_code) = submitted_in_henan(&app, &ZHAO).await;
    let (clerk_api, _, key) = henan_staff(&app).await;
    // The next 30-second step: a TOTP code is good once, and the helper just used this one.
    let mut now = NOW + Duration::seconds(30);
    at(&app, now);

    let b = Browser::start(1366, 768).await;
    // A wrong code gets the API's own message and code; the right one logs in.
    log_in(&b, &app.base, "site_4101", "000000").await;
    let err = b.wait_text("#login-error", "TOTP_INVALID").await;
    assert!(err.contains("动态口令"), "in Chinese: {err}");
    assert_eq!(unlabelled(&b).await, json!([]), "the login form's inputs are labelled");
    b.clear("#password").await;
    b.type_into("#password", e2e::desk::STAFF_PASSWORD).await;
    b.type_into("#totp", &format!("{}{ENTER}", current_code(&key, now).unwrap())).await;
    let who = b.wait_text("#who", "site_4101").await;
    assert!(who.contains("考点 4101"), "who and their scope: {who}");

    // The counter: focus is in the code box; an old code is refused plainly (R18, R22).
    b.wait_focus("code").await;
    b.keys(&format!("{old_code}{ENTER}")).await;
    let err = b.wait_text("#counter-error", "CODE_NOT_FOUND").await;
    assert!(err.contains("验证码"), "{err}");
    b.wait_focus("code").await;
    assert_eq!(b.count("#confirm").await, 0, "nothing to confirm on a dead code");

    // The live code, typed in lower case as a scanner may send it, then Enter, Enter.
    b.keys(&format!("{}{ENTER}", code.to_lowercase())).await;
    let card = b.wait_text("#counter-result", "张三").await;
    assert!(card.contains("4101**********0019"), "masked ID number: {card}");
    assert!(!card.contains(ZHANG.id_number), "never the full ID number: {card}");
    assert!(card.contains("基础知识") && card.contains("专业实践能力"), "the subjects by name: {card}");
    assert!(card.contains("已提交,待确认"), "{card}");
    b.wait_until(
        "the photo loads under the page's policy",
        "const i = document.querySelector('img.photo'); return !!(i && i.complete && i.naturalWidth > 0);",
    )
    .await;
    b.wait_focus("confirm").await;
    assert_eq!(unlabelled(&b).await, json!([]), "the counter's inputs are labelled");
    assert!(fits(&b).await, "the counter fits 1366×768");
    save("console-counter.png", &b.screenshot().await);
    // Escape puts the clerk back in the code box without confirming.
    b.keys(ESCAPE).await;
    b.wait_focus("code").await;
    assert_eq!(b.count("#counter-result .card").await, 0);
    // The next form scanned while a card is shown (code and Enter, twice, as a scanner sending
    // CR LF might): it looks the next candidate up and confirms no one.
    b.keys(ENTER).await;
    b.wait_focus("confirm").await;
    b.keys(&format!("{zhao_code}{ENTER}{ENTER}")).await;
    b.wait_text("#counter-result", "赵六").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for who in [&cand, &zhao] {
        let (_, v) = app.call("GET", P, Some(who), None).await;
        assert_eq!(v["status"], "submitted", "a scan confirms no one by itself: {v}");
    }
    b.keys(ESCAPE).await;
    b.wait_focus("code").await;
    b.clear("#code").await;
    b.type_into("#code", &format!("{code}{ENTER}")).await;
    b.wait_text("#counter-result", "张三").await;
    b.wait_focus("confirm").await;
    // A clerk looks at the photo before pressing Enter (an Enter within 250 ms of the card
    // appearing is taken for a scanner's line end and ignored).
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    b.keys(ENTER).await;
    b.wait_text("#notice", "已确认:张三").await;
    b.wait_focus("code").await;
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!(mine["status"], "confirmed", "R22: confirmed by the live code: {mine}");
    // The same code again: found, but nothing left to confirm.
    b.keys(&format!("{code}{ENTER}")).await;
    b.wait_text("#counter-info", "无需现场确认").await;

    // The queue: 张三 waits for the site review (R24); open it, see the history, reject.
    b.click("#nav-queue").await;
    let queue = b.wait_text("#queue", "首次报考").await;
    assert!(b.text("#queue-count").await.contains("共 1 份"), "{queue}");
    b.click("#queue .open").await;
    b.wait_text("#history", "现场确认").await;
    assert_eq!(unlabelled(&b).await, json!([]), "the decision form's inputs are labelled");
    b.click("#reject").await;
    b.wait_text("#app-error", "请填写不通过原因").await;
    b.wait_focus("reason").await;
    let reason = "学历证书与报名信息不一致";
    b.type_into("#reason", reason).await;
    b.click("#reject").await;
    b.wait_text("#notice", "审核不通过").await;
    let history = b.wait_text("#history", reason).await;
    assert!(history.contains("考点(site_4101):考点审核不通过"), "{history}");
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!(
        (mine["status"].as_str(), mine["reason"].as_str()),
        (Some("rejected"), Some(reason)),
        "R24: the candidate sees the result and its reason"
    );
    // The confirm queue, for the README (赵六 waits there), at 1366×768 and on a tablet.
    b.click("#nav-queue").await;
    b.click(".tabs button:first-child").await;
    b.wait_text("#queue", "首次报考").await;
    assert!(fits(&b).await, "the queue fits 1366×768");
    save("console-queue.png", &b.screenshot().await);
    b.set_size(768, 1024).await;
    b.wait_text("#queue", "首次报考").await;
    assert!(fits(&b).await, "the queue fits a tablet held upright");
    b.set_size(1366, 768).await;

    // Log out: the token is dead at once.
    let token = b.exec("return sessionStorage.getItem('staff.token');", json!([])).await;
    let token = token.as_str().unwrap().to_string();
    b.click("#logout").await;
    b.wait_text("#login-info", "已退出登录").await;
    assert_eq!(b.text("#notice").await, "", "no candidate's name left on the screen");
    let (s, v) = app.call("GET", "/v1/staff/me", Some(&token), None).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("STAFF_UNAUTHENTICATED")), "{v}");
    assert_eq!(b.exec("return sessionStorage.getItem('staff.token');", json!([])).await, Value::Null);

    // Idle for 31 minutes: the next click says why the clerk must log in again.
    now += Duration::seconds(30);
    at(&app, now);
    b.type_into("#account", "site_4101").await;
    b.type_into("#password", e2e::desk::STAFF_PASSWORD).await;
    b.type_into("#totp", &format!("{}{ENTER}", current_code(&key, now).unwrap())).await;
    b.wait_focus("code").await;
    at(&app, now + Duration::minutes(31));
    let (s, idle) = app.call("GET", "/v1/staff/me", Some(&clerk_api), None).await;
    assert_eq!((s, idle["code"].as_str()), (401, Some("STAFF_SESSION_IDLE")), "{idle}");
    b.click("#nav-queue").await;
    b.wait_text("#login-error", idle["message"].as_str().unwrap()).await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_admin_sees_counts_and_creates_and_disables_staff() {
    let app = spawn_app().await;
    let (_, cid, code) = submitted_in_henan(&app, &ZHANG).await;
    let centre = e2e::desk::centre(&app).await;
    let (admin_api, key) = e2e::desk::create(&app, &centre, "henan_admin", "district", "41", true).await;

    // The next TOTP step: the helper's login used this one.
    let now = NOW + Duration::seconds(30);
    at(&app, now);
    let b = Browser::start(1366, 768).await;
    log_in(&b, &app.base, "henan_admin", &current_code(&key, now).unwrap()).await;
    b.wait_text("#who", "考区管理员").await;
    b.click("#nav-counts").await;
    b.wait_text("#counts", "待确认").await;
    let rows = b
        .exec(
            "return [...document.querySelectorAll('#counts tbody tr')].map(r => [...r.cells].map(c => c.textContent));",
            json!([]),
        )
        .await;
    assert!(rows.as_array().unwrap().contains(&json!(["待确认", "4101", "—", "1"])), "one to confirm at 4101: {rows}");
    // The district's own review queue: 张三 once the site has passed them (R24, R25), counted
    // as the district's queue alone, not with its sites' rows.
    let (clerk, _) = e2e::desk::create(&app, &admin_api, "site_4101", "site", "4101", false).await;
    e2e::desk::confirm_code(&app, &clerk, &code).await;
    let (s, v) = e2e::desk::decide(&app, &clerk, &cid, "approve_site", None).await;
    assert_eq!(s, 200, "{v}");
    b.click("#nav-queue").await;
    b.wait_text("#queue", "首次报考").await;
    assert_eq!(b.text("#queue-count").await, "共 1 份", "the district queue's own count");

    b.click("#nav-staff").await;
    b.wait_text("#staff-list", "henan_admin").await;
    b.type_into("#new-account", "site_4102").await;
    b.type_into("#new-name", "李工").await;
    b.type_into("#new-area", "4102").await;
    b.click("#create-staff button[type=submit]").await;
    let invite = b.wait_text("#new-code", "").await;
    b.wait_text("#staff-list", "site_4102").await;
    assert_eq!(unlabelled(&b).await, json!([]), "the staff form's inputs are labelled");
    // The new clerk enrols with the code the admin handed over, then the admin disables them.
    let clerk_key = e2e::desk::enrol(&app, "site_4102", &invite).await;
    let clerk = e2e::desk::login(&app, "site_4102", &clerk_key).await;
    b.exec("window.confirm = () => true;", json!([])).await;
    b.click("button[aria-label='停用 site_4102']").await;
    b.wait_text("#staff-result", "site_4102 已停用").await;
    b.wait_text("#staff-list", "已停用").await;
    let (s, v) = app.call("GET", "/v1/staff/me", Some(&clerk), None).await;
    assert_eq!(s, 401, "a disabled account's session ends at once: {v}");
    b.quit().await;
}
