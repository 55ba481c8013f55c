//! Reminders and the deadline sweep end to end, on both backends: each transition DOMAIN names
//! reminds exactly once (outbox in the transition's transaction → relay → queue → consumer →
//! to-do list and WeChat), duplicates from the stream and the queue change nothing, and the
//! sweep lapses what R16/R23, R31 and R42 say — and nothing else — once, whoever races it.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::desk::{self, decide};
use e2e::steps::*;
use e2e::{TestApp, ZHANG, ZHAO};
use serde_json::{Value, json};
use services::sweep::{Pace, Report, Sweep};
use shared::domain::values::{DistrictCode, ProjectCode};
use shared::reference::Schedule;
use std::time::Duration;

const Q: &str = "/v1/staff/projects/2025-health";

fn schedule(app: &TestApp, district: &str) -> Schedule {
    let d = DistrictCode::parse(district, "district").unwrap();
    let p = ProjectCode::parse("2025-health", "project").unwrap();
    app.running.deps.reference.projects()[&p].schedule(&d).clone()
}

async fn sweep(app: &TestApp) -> Report {
    let s = Sweep { apps: app.running.deps.apps.clone(), pace: Pace::default() };
    s.run(Duration::from_secs(60)).await
}

async fn todos(app: &TestApp, token: &str) -> Vec<Value> {
    let (s, v) = app.call("GET", "/v1/todos", Some(token), None).await;
    assert_eq!(s, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

fn kinds(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["kind"].as_str().unwrap()).collect()
}

/// Messages WeChat took for the template of `kind` (the local templates are `local-<kind>`).
fn sent_of(app: &TestApp, kind: &str) -> Vec<Value> {
    let id = format!("local-{}", kind.replace('_', "-"));
    app.mail.sent().into_iter().filter(|m| m["template_id"] == id.as_str()).collect()
}

async fn r16_submit_reminds_once_in_the_todo_list_and_by_wechat(app: TestApp) {
    let (token, _, code) = submitted_in_henan(&app, &ZHANG).await;
    app.mail.deliver().await;
    let items = todos(&app, &token).await;
    assert_eq!(kinds(&items), ["submitted"], "{items:?}");
    let t = &items[0];
    assert_eq!(
        (t["action"].as_str(), t["done"].as_bool(), t["delivery"].as_str()),
        (Some("form"), Some(false), Some("sent"))
    );
    assert_eq!(t["page"], "pages/application/form?project=2025-health");
    assert!(t["detail"].as_str().unwrap().contains("2024年12月20日 17:00"), "R16: confirm by the deadline: {t}");
    let sent = sent_of(&app, "submitted");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["touser"], "ozhang_san", "to the bound WeChat user (the stand-in's openid)");
    assert_eq!(sent[0]["data"]["time3"]["value"], "2024年12月20日 17:00");
    assert_eq!(sent[0]["data"]["phrase2"]["value"], "待确认");
    assert!(sent[0]["data"]["thing1"]["value"].as_str().unwrap().chars().count() <= 20);
    // Delivered again (a duplicated stream record, a redelivered message): nothing new.
    let msg = app.running.deps.table.get(&store::keys::outbox(t["id"].as_str().unwrap())).await.unwrap().unwrap();
    let body = msg["msg"].as_str().unwrap().to_string();
    redeliver(&app, &body).await;
    app.mail.deliver().await;
    assert_eq!(todos(&app, &token).await.len(), 1);
    assert_eq!(sent_of(&app, "submitted").len(), 1, "exactly once");

    // R22: the site confirms → a "confirmed" reminder; the first to-do is done (derived).
    let (clerk, _, _) = henan_staff(&app).await;
    let (s, v) = desk::confirm_code(&app, &clerk, &code).await;
    assert_eq!(s, 200, "{v}");
    app.mail.deliver().await;
    let items = todos(&app, &token).await;
    assert_eq!(kinds(&items), ["confirmed", "submitted"], "newest first");
    assert_eq!((items[0]["done"].as_bool(), items[1]["done"].as_bool()), (Some(true), Some(true)), "{items:?}");
    assert_eq!(sent_of(&app, "confirmed").len(), 1);
}

/// The message again, as a duplicated stream record or an SQS redelivery would bring it.
async fn redeliver(app: &TestApp, body: &str) {
    match &app.mail {
        e2e::mail::Mail::Embedded(w) => {
            use services::ports::Queue;
            let m = services::ports::QueueMessage { body: body.into(), delay_secs: 0, attributes: Default::default() };
            w.queue.send(vec![m.clone(), m]).await.unwrap();
        }
        e2e::mail::Mail::Moto { queue_url, .. } => {
            let sqs = e2e::aws::sqs_client().await;
            for _ in 0..2 {
                sqs.send_message().queue_url(queue_url).message_body(body).send().await.unwrap();
            }
        }
    }
}

async fn r23_the_sweep_lapses_the_unconfirmed_and_leaves_one_confirmed_a_second_before(app: TestApp) {
    submitted_in_henan(&app, &ZHANG).await;
    let (_, _, early_code) = submitted_in_henan(&app, &ZHAO).await;
    let (_, _, clerk_key) = henan_staff(&app).await;
    let deadline = schedule(&app, "41").confirmation_deadline;

    // 24 hours ahead: both still need to confirm; each is warned once, however often it runs.
    app.clock.set(deadline - time::Duration::hours(23));
    let r = sweep(&app).await;
    assert_eq!((r.warned, r.lapsed), (2, 0), "{r:?}");
    assert_eq!(sweep(&app).await.warned, 0, "once per application and deadline");
    app.mail.deliver().await;
    assert_eq!(sent_of(&app, "deadline_soon").len(), 2);

    // One is confirmed a second before the deadline.
    app.clock.set(deadline - time::Duration::seconds(1));
    let clerk = desk::login(&app, "site_4101", &clerk_key).await;
    let (s, v) = desk::confirm_code(&app, &clerk, &early_code).await;
    assert_eq!(s, 200, "{v}");
    // At the deadline itself nothing lapses yet.
    app.clock.set(deadline);
    assert_eq!(sweep(&app).await.lapsed, 0, "the deadline still holds at its own second");

    app.clock.set(deadline + time::Duration::seconds(1));
    let r = sweep(&app).await;
    assert_eq!(r.lapsed, 1, "R23: {r:?}");
    assert_eq!(sweep(&app).await.lapsed, 0, "idempotent: run twice, lapsed once");
    app.mail.deliver().await;
    let late = login(&app, &ZHANG).await;
    let (_, mine) = app.call("GET", P, Some(&late), None).await;
    assert_eq!(
        (mine["status"].as_str(), mine["reason"].as_str()),
        (Some("lapsed"), Some("逾期未进行报名确认,视为放弃考试"))
    );
    let items = todos(&app, &late).await;
    assert_eq!(kinds(&items), ["lapsed", "deadline_soon", "submitted"], "{items:?}");
    assert!(items.iter().all(|i| i["done"] == true), "nothing left to do once lapsed: {items:?}");
    let early = login(&app, &ZHAO).await;
    let (_, theirs) = app.call("GET", P, Some(&early), None).await;
    assert_eq!(theirs["status"], "confirmed", "confirmed one second before: stays confirmed");
    assert_eq!(sent_of(&app, "lapsed").len(), 1);
}

async fn r42_the_sweep_lapses_a_return_not_resubmitted_by_the_reupload_deadline(app: TestApp) {
    let token = start(&app, &ZHAO, "12").await;
    for (name, body) in [
        ("site", json!({"site": "1201", "point": "1201P1"})),
        ("basic", basic()),
        ("contact", contact()),
        ("exam", exam(&["1", "2", "3", "4"])),
        ("education", json!({"degree_record_id": "d1"})),
        ("work", work("天津医院")),
    ] {
        assert_eq!(page(&app, &token, name, body).await.0, 200, "{name}");
    }
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    let (_, v) = app.call("GET", P, Some(&token), None).await;
    for proof in v["proofs"].as_array().unwrap() {
        let kind = proof["kind"].as_str().unwrap();
        for slot in 1..=proof["min_files"].as_u64().unwrap() {
            let key = app.upload_photo(&token, &format!("{P}/materials/{kind}/upload-url"), 800, 600, 20_000).await;
            let body = json!({"key": key, "slot": slot});
            assert_eq!(app.call("PUT", &format!("{P}/materials/{kind}"), Some(&token), Some(body)).await.0, 200);
        }
    }
    assert_eq!(app.call("POST", &format!("{P}/materials/complete"), Some(&token), None).await.0, 200);
    assert_eq!(app.call("POST", &format!("{P}/submit"), Some(&token), None).await.0, 200);
    let cid = token.split('.').next().unwrap().to_string();
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "tianjin_admin", "district", "12", true).await;
    let (point, _) = desk::create(&app, &admin, "point_1201p1", "point", "1201P1", false).await;
    desk::queue_with(&app, &point, &format!("{Q}/queues/confirm"), &cid).await;
    let (s, v) = decide(&app, &point, &cid, "reject_confirmation", Some("学历证书不清晰")).await;
    assert_eq!(s, 200, "{v}");
    app.mail.deliver().await;
    let items = todos(&app, &token).await;
    assert_eq!(kinds(&items), ["confirm_rejected", "submitted"], "{items:?}");
    assert_eq!((items[0]["action"].as_str(), items[0]["done"].as_bool()), (Some("materials"), Some(false)));
    assert!(items[0]["detail"].as_str().unwrap().contains("学历证书不清晰"), "the reason: {}", items[0]);

    let s = schedule(&app, "12");
    app.clock.set(s.reupload_deadline + time::Duration::seconds(1));
    let r = sweep(&app).await;
    assert_eq!(r.lapsed, 1, "R42: {r:?}");
    app.mail.deliver().await;
    let token = login(&app, &ZHAO).await;
    let (_, mine) = app.call("GET", P, Some(&token), None).await;
    assert_eq!(
        (mine["status"].as_str(), mine["reason"].as_str()),
        (Some("lapsed"), Some("逾期未重新上传材料并提交,视为放弃考试"))
    );
    assert_eq!(kinds(&todos(&app, &token).await)[0], "lapsed");
}

async fn r31_r30_review_passed_reminds_to_pay_and_the_sweep_lapses_the_unpaid(app: TestApp) {
    let (token, cid, code) = submitted_in_henan(&app, &ZHANG).await;
    let (clerk, reviewer, _) = henan_staff(&app).await;
    assert_eq!(desk::confirm_code(&app, &clerk, &code).await.0, 200);
    assert_eq!(decide(&app, &clerk, &cid, "approve_site", None).await.0, 200);
    desk::queue_with(&app, &reviewer, &format!("{Q}/queues/review"), &cid).await;
    assert_eq!(decide(&app, &reviewer, &cid, "approve_district", None).await.0, 200);
    app.mail.deliver().await;
    let items = todos(&app, &token).await;
    assert_eq!(kinds(&items), ["review_passed", "confirmed", "submitted"], "{items:?}");
    assert_eq!((items[0]["action"].as_str(), items[0]["done"].as_bool()), (Some("payment"), Some(false)));
    let paid_by = schedule(&app, "41").payment_deadline;
    // Before the payment deadline nothing lapses; after it, R31.
    app.clock.set(paid_by - time::Duration::minutes(1));
    assert_eq!(sweep(&app).await.lapsed, 0);
    app.clock.set(paid_by + time::Duration::seconds(1));
    assert_eq!(sweep(&app).await.lapsed, 1);
    app.mail.deliver().await;
    let token = login(&app, &ZHANG).await;
    let (_, mine) = app.call("GET", P, Some(&token), None).await;
    assert_eq!((mine["status"].as_str(), mine["reason"].as_str()), (Some("lapsed"), Some("逾期未缴费,视为放弃考试")));
    assert_eq!(sent_of(&app, "lapsed").len(), 1);
}

async fn two_overlapping_sweeps_lapse_each_application_once_with_one_reminder(app: TestApp) {
    let mut tokens = vec![];
    for who in [&ZHANG, &ZHAO] {
        tokens.push(submitted_in_henan(&app, who).await.0);
    }
    app.clock.set(schedule(&app, "41").confirmation_deadline + time::Duration::minutes(5));
    let (a, b) = tokio::join!(sweep(&app), sweep(&app));
    assert_eq!(a.lapsed + b.lapsed, 2, "each lapsed by exactly one run: {a:?} {b:?}");
    assert_eq!(a.failed + b.failed, 0);
    app.mail.deliver().await;
    assert_eq!(sent_of(&app, "lapsed").len(), 2, "one reminder each");
}

/// The candidate's or the clerk's request read the application before the deadline; the sweep
/// lapses it (after the deadline) before their write lands: the write's version condition
/// fails, exactly one transition is kept, and only its reminder is sent.
async fn the_sweep_racing_a_clerk_leaves_exactly_one_winner(app: TestApp) {
    let (_, _, code) = submitted_in_henan(&app, &ZHANG).await;
    let (_, _, clerk_key) = henan_staff(&app).await;
    let deadline = schedule(&app, "41").confirmation_deadline;
    app.clock.set(deadline - time::Duration::seconds(1));
    let clerk = desk::login(&app, "site_4101", &clerk_key).await;
    // The confirmation's transaction is held until the sweep has run.
    desk::eventually(&app, &clerk, &format!("{Q}/codes/{code}"), |s, _| s == 200).await;
    let gate = app.gate.clone();
    gate.arm();
    let confirm = {
        let base = app.base.clone();
        let (clerk, code) = (clerk.clone(), code.clone());
        tokio::spawn(async move { e2e::post(&base, &format!("{Q}/codes/{code}/confirm"), &clerk).await })
    };
    gate.wait_entered().await;
    app.clock.set(deadline + time::Duration::seconds(1));
    let r = sweep(&app).await;
    gate.release();
    let (s, v) = confirm.await.unwrap();
    assert_eq!((r.lapsed, s, code_of(&v)), (1, 409, "CONCURRENT_UPDATE"), "the sweep won: {r:?} {v}");
    app.mail.deliver().await;
    let token = login(&app, &ZHANG).await;
    let (_, mine) = app.call("GET", P, Some(&token), None).await;
    assert_eq!(mine["status"], "lapsed");
    assert_eq!((sent_of(&app, "lapsed").len(), sent_of(&app, "confirmed").len()), (1, 0));
}

async fn the_same_race_with_the_candidate_withdrawing(app: TestApp) {
    submitted_in_henan(&app, &ZHANG).await;
    let deadline = schedule(&app, "41").confirmation_deadline;
    app.clock.set(deadline - time::Duration::seconds(1));
    let token = login(&app, &ZHANG).await;
    let gate = app.gate.clone();
    gate.arm();
    let withdraw = {
        let (base, token) = (app.base.clone(), token.clone());
        tokio::spawn(async move { e2e::post(&base, &format!("{P}/withdraw"), &token).await })
    };
    gate.wait_entered().await;
    app.clock.set(deadline + time::Duration::seconds(1));
    let r = sweep(&app).await;
    gate.release();
    let (s, v) = withdraw.await.unwrap();
    assert_eq!((r.lapsed, s, code_of(&v)), (1, 409, "CONCURRENT_UPDATE"), "{r:?} {v}");
    let (_, mine) = app.call("GET", P, Some(&token), None).await;
    assert_eq!(mine["status"], "lapsed");
}

e2e::on_both_backends!(
    r16_submit_reminds_once_in_the_todo_list_and_by_wechat,
    r23_the_sweep_lapses_the_unconfirmed_and_leaves_one_confirmed_a_second_before,
    r42_the_sweep_lapses_a_return_not_resubmitted_by_the_reupload_deadline,
    r31_r30_review_passed_reminds_to_pay_and_the_sweep_lapses_the_unpaid,
    two_overlapping_sweeps_lapse_each_application_once_with_one_reminder,
    the_sweep_racing_a_clerk_leaves_exactly_one_winner,
    the_same_race_with_the_candidate_withdrawing,
);
