//! Online payment end to end (R26–R31), on both backends, against the local WeChat Pay server
//! (real RSA keys, signed answers, signed and encrypted notifications): from district approval
//! to 报名成功 over HTTP; every way a notification can be forged, replayed, stale, tampered or
//! duplicated; a notification that never comes; payment racing the lapse; refunds.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use e2e::desk::{self, decide};
use e2e::steps::*;
use e2e::{Person, TestApp, ZHANG, ZHAO};
use local_server::wechatpay::{self as wxpay, Answers, WechatPayServer, flip_bit};
use serde_json::{Value, json};
use services::payments::OrderState;
use std::sync::Arc;
use time::macros::datetime;

const PAY: &str = "/v1/applications/2025-health/payment";
const NOTIFY: &str = "/v1/payments/wechat/notify";

fn sim(app: &TestApp) -> Arc<WechatPayServer> {
    app.running.locals.wechatpay.clone().expect("the local server runs the WeChat Pay server")
}

/// District staff for `district` (admin, the clerk of `site`, a reviewer), made by the centre.
struct Desk {
    clerk: String,
    reviewer: String,
}

async fn desk_for(app: &TestApp, district: &str, site: &str) -> Desk {
    let centre = desk::centre(app).await;
    desk_in(app, &centre, district, site).await
}

async fn desk_in(app: &TestApp, centre: &str, district: &str, site: &str) -> Desk {
    let (admin, _) = desk::create(app, centre, &format!("admin_{district}"), "district", district, true).await;
    let (clerk, _) = desk::create(app, &admin, &format!("site_{site}"), "site", site, false).await;
    let (reviewer, _) = desk::create(app, &admin, &format!("review_{district}"), "district", district, false).await;
    Desk { clerk, reviewer }
}

/// Submit in `district` at `site` (all four subjects), confirm, approve at the site and the
/// district: the candidate's candidate id.
async fn approved(app: &TestApp, desk: &Desk, who: &Person, district: &str, site: &str) -> String {
    let token = start(app, who, district).await;
    fill_all(app, &token, site, &["1", "2", "3", "4"], "测试医院").await;
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    let cid = token.split('.').next().unwrap().to_string();
    let code = v["verification_code"].as_str().unwrap().to_string();
    assert_eq!(desk::confirm_code(app, &desk.clerk, &code).await.0, 200);
    assert_eq!(decide(app, &desk.clerk, &cid, "approve_site", None).await.0, 200);
    desk::queue_with(app, &desk.reviewer, "/v1/staff/projects/2025-health/queues/review", &cid).await;
    let (s, v) = decide(app, &desk.reviewer, &cid, "approve_district", None).await;
    assert_eq!(s, 200, "{v}");
    cid
}

/// Inside 2025's payment window (2025-02-07 08:00 → 02-16 23:59:59).
fn into_payment_window(app: &TestApp) {
    app.clock.set(datetime!(2025-02-10 10:00 +08:00));
}

/// 张三, approved in 河南 and in the payment window, with an open order: (session, order).
async fn ordered(app: &TestApp) -> (String, Value) {
    let desk = desk_for(app, "41", "4101").await;
    approved(app, &desk, &ZHANG, "41", "4101").await;
    into_payment_window(app);
    let token = login(app, &ZHANG).await;
    let (s, order) = app.call("POST", PAY, Some(&token), None).await;
    assert_eq!(s, 200, "{order}");
    (token, order)
}

fn no_of(order: &Value) -> String {
    order["out_trade_no"].as_str().unwrap().to_string()
}

async fn status(app: &TestApp, token: &str) -> Value {
    let (s, v) = app.call("GET", P, Some(token), None).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn order_state(app: &TestApp, no: &str) -> OrderState {
    app.running.deps.payment.payments.order(no).await.unwrap().expect("order item").state
}

/// POST a notification with exactly these headers and body bytes.
async fn notify(app: &TestApp, headers: &[(String, String)], body: &str) -> (u16, Value) {
    let mut h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    h.push(("content-type", "application/json"));
    app.raw("POST", NOTIFY, &h, body.as_bytes().to_vec()).await
}

fn set_header(headers: &mut [(String, String)], name: &str, value: &str) {
    headers.iter_mut().find(|(k, _)| k == name).unwrap().1 = value.to_string();
}

fn sent_of(app: &TestApp, kind: &str) -> Vec<Value> {
    let id = format!("local-{}", kind.replace('_', "-"));
    app.mail.sent().into_iter().filter(|m| m["template_id"] == id.as_str()).collect()
}

/// R26–R30 over HTTP: the quote (R27, R28), the order and its `wx.requestPayment` parameters
/// (paySign checks out with the merchant's public key), the phone pays, WeChat Pay notifies,
/// the application is 报名成功, one reminder. One read and one transaction per notification.
async fn r27_r28_r30_from_approval_to_registered_through_wechat_pay(app: TestApp) {
    let desk = desk_for(&app, "41", "4101").await;
    approved(&app, &desk, &ZHANG, "41", "4101").await;
    let token = login(&app, &ZHANG).await;
    // R26: approved, but the payment window is not open yet.
    let (s, v) = app.call("GET", PAY, Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (409, "PAYMENT_CLOSED"), "{v}");
    into_payment_window(&app);
    let token = login(&app, &ZHANG).await;
    let (s, quote) = app.call("GET", PAY, Some(&token), None).await;
    assert_eq!(s, 200, "{quote}");
    // R28: 4 subjects × 50.00元 in 河南.
    assert_eq!((quote["amount"].as_u64(), quote["fee_per_subject"].as_u64()), (Some(20_000), Some(5_000)));
    assert_eq!(quote["subjects"], json!(["1", "2", "3", "4"]), "R27: the subjects sat");
    assert_eq!(quote["amount_text"], "200.00元");
    let (s, order) = app.call("POST", PAY, Some(&token), None).await;
    assert_eq!(s, 200, "{order}");
    let rp = &order["request_payment"];
    assert_eq!((rp["appId"].as_str(), rp["signType"].as_str()), (Some(wxpay::APP_ID), Some("RSA")));
    let msg = format!("{}\n{}\n{}\n{}\n", rp["appId"], rp["timeStamp"], rp["nonceStr"], rp["package"]).replace('"', "");
    let sig = base64::engine::general_purpose::STANDARD.decode(rp["paySign"].as_str().unwrap()).unwrap();
    let merchant = wxpay::keys().merchant.public_key().as_ref().to_vec();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, merchant)
        .verify(msg.as_bytes(), &sig)
        .expect("paySign is the merchant's signature over appId, timeStamp, nonceStr, package");
    // Asking again (a double tap, a retry) returns the same order.
    let (_, again) = app.call("POST", PAY, Some(&token), None).await;
    assert_eq!(again["out_trade_no"], order["out_trade_no"]);
    let (_, quote) = app.call("GET", PAY, Some(&token), None).await;
    assert_eq!(quote["open_order"], order["out_trade_no"]);
    // The client's requestPayment success is not the word: nothing changes until WeChat Pay's.
    assert_eq!(status(&app, &token).await["status"], "approved");
    let no = no_of(&order);
    let tx = sim(&app).pay(&no, None).unwrap();
    let (headers, body) = sim(&app).notification(&tx);
    app.counts.take();
    let (s, v) = notify(&app, &headers, &body).await;
    assert_eq!(s, 204, "{v}");
    let detail = app.counts.take_detail();
    assert_eq!(detail, "get_many 1 + transact 1", "one read, one transaction per notification");
    let mine = status(&app, &token).await;
    assert_eq!((mine["status"].as_str(), mine["registered"].as_bool()), (Some("paid"), Some(true)), "R30: {mine}");
    assert_eq!(order_state(&app, &no).await, OrderState::Paid);
    app.mail.deliver().await;
    assert_eq!(sent_of(&app, "paid").len(), 1, "one 'paid' reminder");
    // Paid: nothing more to pay.
    let (s, v) = app.call("POST", PAY, Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (409, "NOT_AWAITING_PAYMENT"), "{v}");
}

/// R26, R29, R30 by district: no online payment (山西) — approval is registration and there is
/// nothing to pay; online but not on mobile (西藏) — a clear code sending the app to the PC.
async fn r26_r29_r30_what_each_kind_of_district_answers(app: TestApp) {
    let centre = desk::centre(&app).await;
    let shanxi = desk_in(&app, &centre, "14", "1401").await;
    approved(&app, &shanxi, &ZHANG, "14", "1401").await;
    let xizang = desk_in(&app, &centre, "54", "5401").await;
    approved(&app, &xizang, &ZHAO, "54", "5401").await;
    into_payment_window(&app);
    let zhang = login(&app, &ZHANG).await;
    let mine = status(&app, &zhang).await;
    assert_eq!((mine["status"].as_str(), mine["registered"].as_bool()), (Some("approved"), Some(true)), "R30");
    let (s, v) = app.call("POST", PAY, Some(&zhang), None).await;
    assert_eq!((s, code_of(&v)), (422, "NO_ONLINE_PAYMENT"), "{v}");
    let zhao = login(&app, &ZHAO).await;
    for method in ["GET", "POST"] {
        let (s, v) = app.call(method, PAY, Some(&zhao), None).await;
        assert_eq!((s, code_of(&v)), (422, "USE_PC_PAYMENT"), "R29 {method}: {v}");
        assert!(v["message"].as_str().unwrap().contains("电脑"), "{v}");
    }
}

/// The signature is over the raw bytes with WeChat Pay's key, fresh, and not a probe.
async fn forged_stale_and_probing_notifications_are_refused_and_change_nothing(app: TestApp) {
    let (token, order) = ordered(&app).await;
    let no = no_of(&order);
    let tx = sim(&app).pay(&no, None).unwrap();
    let (good, body) = sim(&app).notification(&tx);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let refused = |s: u16, v: &Value, what: &str| {
        assert!(!(200..300).contains(&s), "{what} accepted");
        assert_eq!(v["code"], "FAIL", "{what}: WeChat Pay's error shape: {v}");
    };
    // A flipped bit of the signature, and a signature by another key: 401.
    let mut h = good.clone();
    let sig = h.iter().find(|(k, _)| k == "Wechatpay-Signature").unwrap().1.clone();
    set_header(&mut h, "Wechatpay-Signature", &flip_bit(&sig));
    let (s, v) = notify(&app, &h, &body).await;
    assert_eq!(s, 401, "flipped bit: {v}");
    refused(s, &v, "flipped bit");
    let other = aws_lc_rs::signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let mut h = good.clone();
    let ts = h[0].1.clone();
    let nonce = h[1].1.clone();
    let forged = wechat::pay::sign_with(&other, format!("{ts}\n{nonce}\n{body}\n").as_bytes()).unwrap();
    set_header(&mut h, "Wechatpay-Signature", &forged);
    let (s, v) = notify(&app, &h, &body).await;
    assert_eq!(s, 401, "another key: {v}");
    // WeChat Pay's probe.
    let mut h = good.clone();
    set_header(&mut h, "Wechatpay-Signature", "WECHATPAY/SIGNTEST/c2lnbmF0dXJl");
    let (s, v) = notify(&app, &h, &body).await;
    refused(s, &v, "SIGNTEST");
    // An unknown public-key id.
    let mut h = good.clone();
    set_header(&mut h, "Wechatpay-Serial", "PUB_KEY_ID_0000000000000000000000000000000000");
    let (s, v) = notify(&app, &h, &body).await;
    refused(s, &v, "unknown serial");
    // The timestamp: 301 s off either way is refused (re-signed, so only the time is wrong);
    // missing or not a number too.
    for off in [-301, 301] {
        let h = sim(&app).signed_headers(&body, now + off);
        let (s, v) = notify(&app, &h, &body).await;
        assert_eq!(s, 401, "timestamp {off:+} s: {v}");
    }
    for bad in ["", "17x0000000", "-5"] {
        let mut h = good.clone();
        set_header(&mut h, "Wechatpay-Timestamp", bad);
        let (s, v) = notify(&app, &h, &body).await;
        refused(s, &v, "bad timestamp");
    }
    for missing in ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"] {
        let h: Vec<(String, String)> = good.iter().filter(|(k, _)| k != missing).cloned().collect();
        let (s, v) = notify(&app, &h, &body).await;
        assert_eq!(s, 401, "without {missing}: {v}");
    }
    // The body changed after signing, though its JSON means the same: whitespace, key order.
    let spaced = body.replacen(',', ", ", 1);
    let (s, v) = notify(&app, &good, &spaced).await;
    assert_eq!(s, 401, "whitespace added: {v}");
    let reordered = {
        let v: Value = serde_json::from_str(&body).unwrap();
        let mut keys: Vec<(&String, &Value)> = v.as_object().unwrap().iter().collect();
        keys.reverse();
        format!("{{{}}}", keys.iter().map(|(k, v)| format!("{}:{}", json!(k), v)).collect::<Vec<_>>().join(","))
    };
    assert_ne!(reordered, body);
    let (s, v) = notify(&app, &good, &reordered).await;
    assert_eq!(s, 401, "keys reordered: {v}");
    // Nothing changed; then the genuine notification, within ±299 s, is taken.
    assert_eq!(status(&app, &token).await["status"], "approved");
    assert_eq!(order_state(&app, &no).await, OrderState::Open);
    // At the start of a second, so the request is checked within the second it was signed in.
    let now = at_a_second_start().await;
    let h = sim(&app).signed_headers(&body, now - 299);
    let (s, v) = notify(&app, &h, &body).await;
    assert_eq!(s, 204, "299 s old: {v}");
    let now = at_a_second_start().await;
    let h = sim(&app).signed_headers(&body, now + 299);
    let (s, v) = notify(&app, &h, &body).await;
    assert_eq!(s, 204, "299 s ahead (a duplicate now): {v}");
    assert_eq!(status(&app, &token).await["status"], "paid");
}

/// Wait for the next wall-clock second to begin; its Unix time.
async fn at_a_second_start() -> i64 {
    let ns = time::OffsetDateTime::now_utc().nanosecond();
    tokio::time::sleep(std::time::Duration::from_nanos(u64::from(1_000_000_000 - ns))).await;
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Signed correctly, but the resource doesn't decrypt: a wrong APIv3 key, a changed
/// ciphertext or AAD. 5xx (WeChat Pay retries; our key may be the stale one), nothing changes.
async fn a_resource_that_does_not_decrypt_is_a_5xx_and_changes_nothing(app: TestApp) {
    let (token, order) = ordered(&app).await;
    let no = no_of(&order);
    let tx = sim(&app).pay(&no, None).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let wrong_key = wxpay::envelope(&tx, b"0123456789abcdef0123456789abcdef");
    let (_, genuine) = sim(&app).notification(&tx);
    let mut v: Value = serde_json::from_str(&genuine).unwrap();
    let ct = v["resource"]["ciphertext"].as_str().unwrap().to_string();
    let mut raw = base64::engine::general_purpose::STANDARD.decode(&ct).unwrap();
    raw[3] ^= 0x40;
    v["resource"]["ciphertext"] = json!(base64::engine::general_purpose::STANDARD.encode(raw));
    let tampered_ct = v.to_string();
    let mut v: Value = serde_json::from_str(&genuine).unwrap();
    v["resource"]["associated_data"] = json!("transactioN");
    let tampered_aad = v.to_string();
    for (what, body) in [("wrong APIv3 key", wrong_key), ("ciphertext", tampered_ct), ("AAD", tampered_aad)] {
        let h = sim(&app).signed_headers(&body, now);
        let (s, v) = notify(&app, &h, &body).await;
        assert!((500..600).contains(&s), "{what}: {s} {v}");
        assert_eq!(v["code"], "FAIL");
    }
    assert_eq!(status(&app, &token).await["status"], "approved");
    assert_eq!(order_state(&app, &no).await, OrderState::Open);
}

/// Checked against the order: the amount (total, not payer_total), the merchant, the app, the
/// order number.
async fn amount_merchant_and_order_are_checked_against_the_order(app: TestApp) {
    let (token, order) = ordered(&app).await;
    let no = no_of(&order);
    // What a paid order's notification would say, edited below (WeChat Pay's signature is
    // made over the edited text: only our checks against the order can catch these).
    let mut tx = sim(&app).transaction(&no).unwrap();
    tx["trade_state"] = json!("SUCCESS");
    tx["transaction_id"] = json!("4200000000000000000000000001");
    tx["amount"]["payer_total"] = json!(20_000);
    let send = |mut tx: Value, edit: &dyn Fn(&mut Value)| {
        edit(&mut tx);
        sim(&app).notification(&tx)
    };
    for (what, edit) in [
        ("another merchant", &(|t: &mut Value| t["mchid"] = json!("1900000999")) as &dyn Fn(&mut Value)),
        ("another app", &|t: &mut Value| t["appid"] = json!("wx1111111111111111")),
        ("an unknown order", &|t: &mut Value| t["out_trade_no"] = json!("P0000000000000000000000000000000")),
    ] {
        let (h, b) = send(tx.clone(), edit);
        let (s, v) = notify(&app, &h, &b).await;
        assert!((400..500).contains(&s), "{what}: {s} {v}");
        assert_eq!(v["code"], "FAIL", "{what}");
    }
    assert_eq!(status(&app, &token).await["status"], "approved");
    // amount.total other than the order's: never paid for another amount (R28); the money goes
    // back, the order leaves the application, and the candidate can pay properly. Answered 204
    // (a retry would say the same).
    let paid = sim(&app).pay_total(&no, 1).unwrap();
    let (h, b) = sim(&app).notification(&paid);
    let (s, v) = notify(&app, &h, &b).await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(status(&app, &token).await["status"], "approved", "R28: never paid for another amount");
    let rec = app.running.deps.payment.payments.order(&no).await.unwrap().unwrap();
    assert_eq!(rec.state, OrderState::RefundDue);
    assert!(rec.note.unwrap().contains("20000"), "the note says what differs");
    let (_, quote) = app.call("GET", PAY, Some(&token), None).await;
    assert_eq!(quote["open_order"], Value::Null, "the order left the application: {quote}");
    let (s, again) = app.call("POST", PAY, Some(&token), None).await;
    assert_eq!(s, 200, "{again}");
    assert_ne!(again["out_trade_no"], order["out_trade_no"]);
    let r = app.running.deps.payment.payments.reconcile(100).await.unwrap();
    assert_eq!(r.refunded, 1, "{r:?}");
    assert_eq!(order_state(&app, &no).await, OrderState::Refunded);
    assert_eq!(sim(&app).refunds(), (1, 1), "what was taken (1 分) went back");
    // A currency other than CNY is another amount too.
    let no2 = no_of(&again);
    let mut tx2 = sim(&app).transaction(&no2).unwrap();
    tx2["trade_state"] = json!("SUCCESS");
    tx2["transaction_id"] = json!("4200000000000000000000000002");
    let (h, b) = send(tx2, &|t: &mut Value| t["amount"]["currency"] = json!("USD"));
    assert_eq!(notify(&app, &h, &b).await.0, 204);
    assert_eq!(order_state(&app, &no2).await, OrderState::RefundDue);
    assert_eq!(status(&app, &token).await["status"], "approved");
}

async fn a_coupon_paying_part_is_still_paid_in_full(app: TestApp) {
    let (token, order) = ordered(&app).await;
    let no = no_of(&order);
    // The payer paid 80.00元, a coupon the rest: amount.total is the order's.
    let tx = sim(&app).pay(&no, Some(8_000)).unwrap();
    assert_eq!(tx["amount"]["payer_total"], 8_000);
    let statuses = sim(&app).notify(&no, 1).await;
    assert_eq!(statuses, [204]);
    let mine = status(&app, &token).await;
    assert_eq!((mine["status"].as_str(), mine["paid"]["amount"].as_u64()), (Some("paid"), Some(20_000)));
}

/// The same notification twice, then ten copies at once: one transition, one reminder, every
/// copy answered 2xx.
async fn duplicates_and_ten_concurrent_copies_make_one_transition_and_one_reminder(app: TestApp) {
    let (token, order) = ordered(&app).await;
    let no = no_of(&order);
    sim(&app).pay(&no, None).unwrap();
    assert_eq!(sim(&app).notify_once(&no, 1).await, [204]);
    assert_eq!(sim(&app).notify_once(&no, 1).await, [204], "a retried notification is acknowledged");
    assert_eq!(sim(&app).notify_once(&no, 10).await, [204; 10], "every concurrent copy, the first time");
    let (s, history) = app.call("GET", P, Some(&token), None).await;
    assert_eq!((s, history["status"].as_str()), (200, Some("paid")));
    app.mail.deliver().await;
    assert_eq!(sent_of(&app, "paid").len(), 1, "one reminder");
}

/// Ten copies racing from the start (none recorded yet): still one winner.
async fn ten_copies_racing_the_first_write_make_one_transition(app: TestApp) {
    let (token, order) = ordered(&app).await;
    let no = no_of(&order);
    sim(&app).pay(&no, None).unwrap();
    assert_eq!(sim(&app).notify_once(&no, 10).await, [204; 10], "every copy answered 2xx the first time");
    assert_eq!(status(&app, &token).await["status"], "paid");
    app.mail.deliver().await;
    assert_eq!(sent_of(&app, "paid").len(), 1);
}

/// No notification ever comes: the reconciler asks WeChat Pay and records the payment; the
/// notification arriving later is a no-op.
async fn a_notification_that_never_comes_is_found_by_the_reconciler(app: TestApp) {
    let (token, order) = ordered(&app).await;
    let no = no_of(&order);
    let tx = sim(&app).pay(&no, None).unwrap();
    // Too early for a look: nothing yet.
    let r = app.running.deps.payment.payments.reconcile(100).await.unwrap();
    assert_eq!(r.looked_at, 0, "{r:?}");
    app.clock.set(datetime!(2025-02-10 10:02 +08:00));
    let r = app.running.deps.payment.payments.reconcile(100).await.unwrap();
    assert_eq!((r.looked_at, r.paid), (1, 1), "{r:?}");
    assert_eq!(status(&app, &token).await["status"], "paid");
    let (h, b) = sim(&app).notification(&tx);
    let (s, _) = notify(&app, &h, &b).await;
    assert_eq!(s, 204, "the late notification is acknowledged");
    app.mail.deliver().await;
    assert_eq!(sent_of(&app, "paid").len(), 1, "and changes nothing");
    // A paid order leaves the reconciler's index.
    app.clock.set(datetime!(2025-02-10 12:00 +08:00));
    assert_eq!(app.running.deps.payment.payments.reconcile(100).await.unwrap().looked_at, 0);
}

/// R31 with payments in flight (sequential: the open-order guard and the close at WeChat Pay are
/// what keep a payment and a lapse from both happening). 张三 paid just before his order expired, but the notification is
/// lost; 赵六 never paid. After the deadline the sweep lapses neither while their orders are
/// open; the reconciler finds 张三's payment (paid) and closes 赵六's order at WeChat Pay; the
/// sweep then lapses 赵六 — exactly one outcome each. If WeChat Pay afterwards reports a payment
/// of 赵六's closed order, it is recorded and refunded (README "Payment"), once, however often
/// the refund is retried.
async fn r31_an_open_order_holds_the_lapse_until_settled_and_a_payment_after_the_lapse_is_refunded_once(app: TestApp) {
    let desk = desk_for(&app, "41", "4101").await;
    approved(&app, &desk, &ZHANG, "41", "4101").await;
    approved(&app, &desk, &ZHAO, "41", "4101").await;
    into_payment_window(&app);
    let mut orders = vec![];
    for who in [&ZHANG, &ZHAO] {
        let token = login(&app, who).await;
        let (s, order) = app.call("POST", PAY, Some(&token), None).await;
        assert_eq!(s, 200, "{order}");
        orders.push(no_of(&order));
    }
    sim(&app).pay(&orders[0], None).unwrap();
    let sweep = services::sweep::Sweep { apps: app.running.deps.apps.clone(), pace: services::sweep::Pace::default() };
    app.clock.set(datetime!(2025-02-17 00:00:30 +08:00));
    let r = sweep.run(std::time::Duration::from_secs(30)).await;
    assert_eq!((r.lapsed, r.failed), (0, 0), "no lapse while an order is open: {r:?}");
    let payments = &app.running.deps.payment.payments;
    let rec = payments.reconcile(100).await.unwrap();
    assert_eq!((rec.paid, rec.closed), (1, 1), "{rec:?}");
    assert_eq!(sim(&app).transaction(&orders[1]).unwrap()["trade_state"], "CLOSED", "closed at WeChat Pay first");
    let r = sweep.run(std::time::Duration::from_secs(30)).await;
    assert_eq!(r.lapsed, 1, "{r:?}");
    let zhang = login(&app, &ZHANG).await;
    assert_eq!(status(&app, &zhang).await["status"], "paid");
    let zhao = login(&app, &ZHAO).await;
    let mine = status(&app, &zhao).await;
    assert_eq!((mine["status"].as_str(), mine["reason"].as_str()), (Some("lapsed"), Some("逾期未缴费,视为放弃考试")));
    // WeChat Pay reports a payment of the closed order after all (a bank's late settlement):
    // acknowledged, the application stays lapsed, the money goes back.
    let tx = sim(&app).pay_regardless(&orders[1]).unwrap();
    let (h, b) = sim(&app).notification(&tx);
    let (s, v) = notify(&app, &h, &b).await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(status(&app, &zhao).await["status"], "lapsed");
    assert_eq!(order_state(&app, &orders[1]).await, OrderState::RefundDue);
    // The first refund is made but its answer is lost: the run counts it failed and looks
    // again later, asking with the same out_refund_no — one refund.
    sim(&app).lose_next_refund_answer();
    let rec = payments.reconcile(100).await.unwrap();
    assert_eq!((rec.refunded, rec.failed), (0, 1), "{rec:?}");
    assert_eq!(order_state(&app, &orders[1]).await, OrderState::RefundDue);
    app.clock.set(datetime!(2025-02-17 00:10:00 +08:00));
    let rec = payments.reconcile(100).await.unwrap();
    assert_eq!(rec.refunded, 1, "{rec:?}");
    assert_eq!(order_state(&app, &orders[1]).await, OrderState::Refunded);
    assert_eq!(sim(&app).refunds(), (2, 1), "two requests, one refund");
    // Nothing else is left for the reconciler.
    assert_eq!(payments.reconcile(100).await.unwrap().looked_at, 0);
}

/// A query answer whose signature is bad, or whose timestamp is stale, is not believed: the
/// payment is not recorded from it (the next run asks again).
async fn a_query_answer_with_a_bad_signature_or_a_stale_timestamp_is_not_believed(app: TestApp) {
    let (token, order) = ordered(&app).await;
    let no = no_of(&order);
    sim(&app).pay(&no, None).unwrap();
    let payments = &app.running.deps.payment.payments;
    // A failed look is tried again later (its back-off): the clock moves past it each time.
    for (answers, at) in [
        (Answers::BadSignature, datetime!(2025-02-10 10:02 +08:00)),
        (Answers::Stale, datetime!(2025-02-10 10:10 +08:00)),
    ] {
        app.clock.set(at);
        sim(&app).set_answers(answers);
        let err = payments.gateway.query(&no).await.unwrap_err();
        assert_eq!(err.code, "WECHATPAY_UNAVAILABLE", "{answers:?}");
        let r = payments.reconcile(100).await.unwrap();
        assert_eq!((r.paid, r.failed), (0, 1), "{answers:?}: {r:?}");
        assert_eq!(status(&app, &token).await["status"], "approved");
    }
    sim(&app).set_answers(Answers::Signed);
    app.clock.set(datetime!(2025-02-10 10:30 +08:00));
    assert_eq!(payments.reconcile(100).await.unwrap().paid, 1);
    assert_eq!(status(&app, &token).await["status"], "paid");
}

/// One payable order at a time: the same until it expires, then a new one — the old one closed
/// at WeChat Pay first, so it can never be paid as well. A WeChat Pay call that fails leaves nothing.
async fn an_expired_order_is_closed_before_a_new_one_replaces_it(app: TestApp) {
    let (token, first) = ordered(&app).await;
    let old = no_of(&first);
    let expires = time::OffsetDateTime::parse(
        first["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires, datetime!(2025-02-10 12:00 +08:00), "two hours, the prepay id's life");
    app.clock.set(datetime!(2025-02-10 12:00:01 +08:00));
    // WeChat Pay's answers can't be trusted for a moment: the request fails and nothing is made.
    sim(&app).set_answers(Answers::BadSignature);
    let (s, v) = app.call("POST", PAY, Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (503, "WECHATPAY_UNAVAILABLE"), "{v}");
    assert_eq!(sim(&app).orders(), 1);
    let (_, quote) = app.call("GET", PAY, Some(&token), None).await;
    assert_eq!(quote["open_order"], Value::Null);
    sim(&app).set_answers(Answers::Signed);
    let (s, second) = app.call("POST", PAY, Some(&token), None).await;
    assert_eq!(s, 200, "{second}");
    assert_ne!(second["out_trade_no"], first["out_trade_no"]);
    assert_eq!(sim(&app).transaction(&old).unwrap()["trade_state"], "CLOSED");
    assert!(sim(&app).pay(&old, None).is_err(), "the old order can't be paid");
    // The last order of the window ends at the deadline, never after it.
    app.clock.set(datetime!(2025-02-16 23:00 +08:00));
    let token = login(&app, &ZHANG).await;
    let (s, last) = app.call("POST", PAY, Some(&token), None).await;
    assert_eq!(s, 200, "{last}");
    assert_eq!(last["expires_at"], "2025-02-16T23:59:59+08:00");
    assert_eq!(sim(&app).refused(), 0, "every request carried a valid merchant signature");
}

e2e::on_both_backends!(
    r27_r28_r30_from_approval_to_registered_through_wechat_pay,
    r26_r29_r30_what_each_kind_of_district_answers,
    forged_stale_and_probing_notifications_are_refused_and_change_nothing,
    a_resource_that_does_not_decrypt_is_a_5xx_and_changes_nothing,
    amount_merchant_and_order_are_checked_against_the_order,
    a_coupon_paying_part_is_still_paid_in_full,
    duplicates_and_ten_concurrent_copies_make_one_transition_and_one_reminder,
    ten_copies_racing_the_first_write_make_one_transition,
    a_notification_that_never_comes_is_found_by_the_reconciler,
    r31_an_open_order_holds_the_lapse_until_settled_and_a_payment_after_the_lapse_is_refunded_once,
    a_query_answer_with_a_bad_signature_or_a_stale_timestamp_is_not_believed,
    an_expired_order_is_closed_before_a_new_one_replaces_it,
);

/// The deployed shape: the payment and reconcile functions built by their own composition roots
/// from exactly the environment `infra/template.yaml` gives them (the WeChat Pay keys read from
/// Secrets Manager on moto at cold start, WeChat Pay at the local server), on the table the
/// rest of the system writes. An order, then WeChat Pay's notification as API Gateway delivers
/// it — the base64 body of `events/payment/wechatpay-notify.json` — and the reconciler's
/// scheduled event. Then: each missing variable, a secret that is not the keys, and plain
/// http to WeChat Pay each stop the cold start, naming the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_payment_functions_take_an_order_to_paid_from_the_templates_environment() {
    use services::config::Env;
    let stack = e2e::stack::Stack::new().await;
    let app = e2e::spawn_app_on_provisioned(stack.aws.clone()).await;
    let desk = desk_for(&app, "41", "4101").await;
    approved(&app, &desk, &ZHANG, "41", "4101").await;
    into_payment_window(&app);
    let token = login(&app, &ZHANG).await;
    let clock = app.clock.clone();
    let f = payment::compose::build(&Env::Map(stack.env("PaymentFunction")), clock.clone()).await.unwrap();
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri(PAY)
        .header("authorization", format!("Bearer {token}"))
        .body(lambda_http::Body::Empty)
        .unwrap();
    let resp = payment::handle(&f, req).await;
    let order: Value = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    };
    assert_eq!(resp.status(), 200, "{order}");
    let no = no_of(&order);
    let tx = stack.wechatpay.pay(&no, None).unwrap();
    let (headers, body) = stack.wechatpay.notification(&tx);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/payment/wechatpay-notify.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
    assert_eq!(event["isBase64Encoded"], true, "API Gateway hands WeChat Pay's body over base64-encoded");
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
    for (k, v) in &headers {
        event["headers"][k.to_ascii_lowercase()] = json!(v);
    }
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = payment::handle(&f, req).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(status(&app, &token).await["status"], "paid");
    let reconciler = reconcile::compose::build(&Env::Map(stack.env("ReconcileFunction")), clock.clone()).await.unwrap();
    let scheduled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/reconcile/scheduled.json");
    let ev: reconcile::ScheduledEvent = serde_json::from_str(&std::fs::read_to_string(&scheduled).unwrap()).unwrap();
    let report = reconcile::handle(&reconciler, &ev, std::time::Duration::from_secs(60)).await.unwrap();
    assert_eq!((report.looked_at, report.failed), (0, 0), "a paid order needs no look: {report:?}");
    let mut other: Value = serde_json::from_str(&std::fs::read_to_string(&scheduled).unwrap()).unwrap();
    other["source"] = json!("aws.s3");
    let ev: reconcile::ScheduledEvent = serde_json::from_value(other).unwrap();
    assert!(reconcile::handle(&reconciler, &ev, std::time::Duration::from_secs(60)).await.is_err());

    for function in ["PaymentFunction", "ReconcileFunction"] {
        for var in ["TABLE_NAME", "WECHAT_APP_ID", "WECHATPAY_SECRET_ARN", "WECHATPAY_NOTIFY_URL", "AWS_REGION"] {
            let mut env = stack.env(function);
            assert!(env.remove(var).is_some(), "{function} is not given {var}");
            let err = match function {
                "PaymentFunction" => {
                    payment::compose::build(&Env::Map(env), clock.clone()).await.err().map(|e| e.to_string())
                }
                _ => reconcile::compose::build(&Env::Map(env), clock.clone()).await.err().map(|e| e.to_string()),
            };
            let err = err.unwrap_or_else(|| panic!("{function} started without {var}"));
            assert!(err.contains(var), "{function} without {var}: {err}");
        }
    }
    // The template's placeholder secret (before the real keys are put): where init is pre-paid
    // (provisioned concurrency) it stops the cold start, named; on demand the keys are read by
    // the first request, which answers 503 (WeChat Pay retries) until the secret is put.
    let placeholder = e2e::aws::secret("wechatpay-placeholder", "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH").await;
    let mut env = stack.env("PaymentFunction");
    env.insert("WECHATPAY_SECRET_ARN".into(), placeholder.clone());
    env.insert("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "provisioned-concurrency".into());
    let err = payment::compose::build(&Env::Map(env), clock.clone()).await.err().unwrap().to_string();
    assert!(err.contains("WECHATPAY_SECRET_ARN"), "{err}");
    let mut env = stack.env("PaymentFunction");
    env.insert("WECHATPAY_SECRET_ARN".into(), placeholder);
    let lazy = payment::compose::build(&Env::Map(env), clock.clone()).await.unwrap();
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = payment::handle(&lazy, req).await;
    assert_eq!(resp.status(), 503, "no keys yet: WeChat Pay is asked to retry");
    let mut env = stack.env("PaymentFunction");
    env.insert("WECHATPAY_API_BASE".into(), "http://api.mch.weixin.qq.com".into());
    let err = payment::compose::build(&Env::Map(env), clock.clone()).await.err().unwrap().to_string();
    assert!(err.contains("WECHATPAY_API_BASE"), "plain http to WeChat Pay is refused: {err}");
    // The application and review functions are not given the WeChat Pay keys.
    for function in ["ApplicationFunction", "ReviewFunction", "LoginFunction", "SweepFunction"] {
        let vars: Vec<String> = e2e::stack::template_env(function).into_iter().map(|(k, _)| k).collect();
        assert!(!vars.iter().any(|k| k.starts_with("WECHATPAY")), "{function}: {vars:?}");
    }
}
