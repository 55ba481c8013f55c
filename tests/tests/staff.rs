//! The staff side end to end over HTTP, on both backends: confirmation by the code on the form
//! (R22, R18), the two-stage review (R24, R25), online confirmation at a registration point
//! (R41, R42), historical candidates the site confirms by hand (R34) — or, in an online
//! district, the point (R39) — scopes that answer 404 outside them (a BOLA matrix), sessions
//! that end, and two staff racing on one application.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::desk::{self, decide, get};
use e2e::steps::*;
use e2e::{LI, TestApp, ZHANG, ZHAO};
use serde_json::{Value, json};

const Q: &str = "/v1/staff/projects/2025-health";

/// A candidate with a submitted application in 河南 (site confirmation) at site 4101.
/// A candidate with a submitted application in 天津 (online confirmation) at 1201 / 1201P1.
async fn submitted_in_tianjin(app: &TestApp, who: &e2e::Person) -> (String, String) {
    let token = start(app, who, "12").await;
    for (name, body) in [
        ("site", json!({"site": "1201", "point": "1201P1"})),
        ("basic", basic()),
        ("contact", contact()),
        ("exam", exam(&["1", "2", "3", "4"])),
        ("education", json!({"degree_record_id": "d1"})),
        ("work", work("天津医院")),
    ] {
        assert_eq!(page(app, &token, name, body).await.0, 200, "{name}");
    }
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    upload_all_proofs(app, &token).await;
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    (token.clone(), token.split('.').next().unwrap().to_string())
}

async fn upload_all_proofs(app: &TestApp, token: &str) {
    let (_, v) = app.call("GET", P, Some(token), None).await;
    for proof in v["proofs"].as_array().unwrap() {
        let kind = proof["kind"].as_str().unwrap();
        for slot in 1..=proof["min_files"].as_u64().unwrap() {
            let key = app.upload_photo(token, &format!("{P}/materials/{kind}/upload-url"), 800, 600, 20_000).await;
            let (s, v) = app
                .call("PUT", &format!("{P}/materials/{kind}"), Some(token), Some(json!({"key": key, "slot": slot})))
                .await;
            assert_eq!(s, 200, "{v}");
        }
    }
    let (s, v) = app.call("POST", &format!("{P}/materials/complete"), Some(token), None).await;
    assert_eq!(s, 200, "{v}");
}

fn node<'a>(v: &'a Value, name: &str) -> &'a str {
    v["progress"].as_array().unwrap().iter().find(|n| n["node"] == name).unwrap()["state"].as_str().unwrap()
}

async fn r22_r18_r24_r25_a_site_confirms_by_the_live_code_and_both_stages_review(app: TestApp) {
    let (cand, cid, first_code) = submitted_in_henan(&app, &ZHANG).await;
    // R18: withdrawing and resubmitting kills the printed code.
    app.call("POST", &format!("{P}/withdraw"), Some(&cand), None).await;
    let (_, v) = app.call("POST", &format!("{P}/submit"), Some(&cand), None).await;
    let code = v["verification_code"].as_str().unwrap().to_string();

    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "henan_admin", "district", "41", true).await;
    let (clerk, _) = desk::create(&app, &admin, "site_4101", "site", "4101", false).await;
    let (reviewer, _) = desk::create(&app, &admin, "henan_review", "district", "41", false).await;

    // The site's "to confirm" list and its count.
    let page = desk::queue_with(&app, &clerk, &format!("{Q}/queues/confirm"), &cid).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    let (_, counts) = get(&app, &clerk, &format!("{Q}/counts")).await;
    let confirm = counts.as_array().unwrap().iter().find(|c| c["stage"] == "confirm").unwrap();
    assert_eq!(confirm["count"], 1, "{counts}");

    // R18, R22: the old code finds nothing; the live one finds the candidate, masked.
    let (s, v) = get(&app, &clerk, &format!("{Q}/codes/{first_code}")).await;
    assert_eq!((s, code_of(&v)), (404, "CODE_NOT_FOUND"), "{v}");
    let (s, v) = app.call("POST", &format!("{Q}/codes/{first_code}/confirm"), Some(&clerk), None).await;
    assert_eq!((s, code_of(&v)), (404, "CODE_NOT_FOUND"), "R18: an old form confirms nothing");
    let (s, v) = desk::eventually(&app, &clerk, &format!("{Q}/codes/{}", code.to_lowercase()), |s, _| s == 200).await;
    assert_eq!(s, 200, "a clerk may type the code in lower case: {v}");
    assert_eq!((v["name"].as_str(), v["id_number_masked"].as_str()), (Some("张三"), Some("4101**********0019")));
    assert!(!v.to_string().contains(ZHANG.id_number), "the full ID number is not shown");
    assert!(v["photo_url"].as_str().is_some_and(|u| !u.is_empty()), "{v}");

    // Confirm; the candidate sees 报名确认 done and 资格审核 current (R22).
    let (s, v) = app.call("POST", &format!("{Q}/codes/{code}/confirm"), Some(&clerk), None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("confirmed")), "{v}");
    let (s, v) = app.call("POST", &format!("{Q}/codes/{code}/confirm"), Some(&clerk), None).await;
    assert_eq!((s, code_of(&v)), (409, "NOT_AWAITING_CONFIRMATION"));
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!((node(&mine, "confirm"), node(&mine, "review")), ("done", "current"), "{mine}");

    // R24: the site review, from the site's review queue (one query, after the session's read);
    // the district can't act yet.
    desk::queue_with(&app, &clerk, &format!("{Q}/queues/review"), &cid).await;
    app.counts.take();
    let (_, page) = get(&app, &clerk, &format!("{Q}/queues/review")).await;
    assert_eq!(page["entries"][0]["candidate_id"], cid);
    assert_eq!(app.counts.take_detail(), "get_many 1 + query 1", "a page of a site's queue is one query");
    let (s, v) = decide(&app, &reviewer, &cid, "approve_district", None).await;
    assert_eq!((s, code_of(&v)), (409, "NOT_AWAITING_DISTRICT_REVIEW"));
    app.counts.take();
    let (s, v) = decide(&app, &clerk, &cid, "approve_site", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("site_approved")), "{v}");
    assert_eq!(v["review"], json!({"site": "passed", "district": "pending"}), "R24: the site's result: {v}");
    assert_eq!(
        app.counts.take_detail(),
        "get_many 1 + transact 1",
        "a decision is one read (session, staff, candidate, application) and one transaction (with its audit record)"
    );

    // R25: the district review, from the district's (sharded) queue; a rejection needs a reason.
    desk::queue_with(&app, &reviewer, &format!("{Q}/queues/review"), &cid).await;
    let (s, v) = decide(&app, &reviewer, &cid, "reject_district", None).await;
    assert_eq!((s, code_of(&v), v["field"].as_str()), (400, "REASON_REQUIRED", Some("reason")));
    let (s, v) = decide(&app, &reviewer, &cid, "approve_district", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("approved")), "{v}");
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!((mine["status"].as_str(), node(&mine, "review")), (Some("approved"), "done"), "R25: {mine}");
    assert_eq!(mine["review"], json!({"site": "passed", "district": "passed"}), "R24: both stages: {mine}");
    let (s, v) = decide(&app, &reviewer, &cid, "approve_district", None).await;
    assert_eq!((s, code_of(&v)), (409, "NOT_AWAITING_DISTRICT_REVIEW"), "decided once");
    let (_, page) =
        desk::eventually(&app, &reviewer, &format!("{Q}/queues/review"), |_, v| v["entries"] == json!([])).await;
    assert_eq!(page["entries"], json!([]), "an approved application leaves the queue");
}

async fn r24_a_site_rejection_ends_the_application_with_its_reason_shown(app: TestApp) {
    let (cand, cid, code) = submitted_in_henan(&app, &ZHANG).await;
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "henan_admin", "district", "41", true).await;
    let (clerk, _) = desk::create(&app, &admin, "site_4101", "site", "4101", false).await;
    desk::confirm_code(&app, &clerk, &code).await;
    let long = "原".repeat(201);
    let (s, v) = decide(&app, &clerk, &cid, "reject_site", Some(&long)).await;
    assert_eq!((s, code_of(&v)), (400, "INVALID_TEXT"), "reasons are bounded");
    let (s, v) = decide(&app, &clerk, &cid, "approve_site", Some("不需要")).await;
    assert_eq!((s, code_of(&v)), (400, "UNEXPECTED_REASON"));
    let (s, v) = decide(&app, &clerk, &cid, "reject_site", Some("学历证书与报名信息不一致")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("rejected")), "{v}");
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!(
        (mine["status"].as_str(), mine["reason"].as_str()),
        (Some("rejected"), Some("学历证书与报名信息不一致")),
        "R24: the candidate sees the result and its reason"
    );
    assert_eq!(mine["review"], json!({"site": "rejected", "district": "pending"}), "R24: at which stage: {mine}");
    // The clerk's history of it: who did what, with the reason, oldest first; and the read is
    // in the audit trail like a view.
    let (s, h) = get(&app, &clerk, &format!("/v1/staff/applications/{cid}/2025-health/history")).await;
    assert_eq!(s, 200, "{h}");
    let steps: Vec<(&str, &str, Option<&str>)> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["event"].as_str().unwrap(), e["staff"].as_str()))
        .collect();
    let tail = &steps[steps.len() - 3..];
    assert_eq!(
        tail,
        [
            ("candidate", "submitted", None),
            ("site", "confirmed", Some("site_4101")),
            ("site", "site_rejected", Some("site_4101"))
        ],
        "{h}"
    );
    assert_eq!(h["entries"].as_array().unwrap().last().unwrap()["reason"], "学历证书与报名信息不一致");
    assert_eq!(h["truncated"], false);
    let (s, audit) = get(&app, &admin, "/v1/staff/audit?day=20241201").await;
    assert_eq!(s, 200, "{audit}");
    let seen = audit["records"].as_array().unwrap().iter().any(|r| {
        r["action"] == "view_history" && r["staff"] == "site_4101" && r["target"] == format!("{cid}/2025-health")
    });
    assert!(seen, "reading the history is audited: {audit}");
    let text = h.to_string();
    assert!(
        !text.contains(ZHANG.id_number) && !text.contains("13912345678"),
        "no page contents in the history: {text}"
    );
}

async fn r41_r42_a_point_returns_materials_and_passes_them_after_the_reupload(app: TestApp) {
    let (cand, cid) = submitted_in_tianjin(&app, &ZHAO).await;
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "tianjin_admin", "district", "12", true).await;
    let (point, _) = desk::create(&app, &admin, "point_1201p1", "point", "1201P1", false).await;
    let (other_point, _) = desk::create(&app, &admin, "point_1201p2", "point", "1201P2", false).await;
    let (site, _) = desk::create(&app, &admin, "site_1201", "site", "1201", false).await;
    let (district, _) = desk::create(&app, &admin, "tianjin_review", "district", "12", false).await;

    desk::queue_with(&app, &point, &format!("{Q}/queues/confirm"), &cid).await;
    let (_, page) = get(&app, &other_point, &format!("{Q}/queues/confirm")).await;
    assert_eq!(page["entries"], json!([]), "another point's queue is its own");
    let (s, v) = get(&app, &other_point, &format!("/v1/staff/applications/{cid}/2025-health")).await;
    assert_eq!((s, code_of(&v)), (404, "NO_APPLICATION"), "outside the scope: not found");
    let (s, v) = get(&app, &point, &format!("/v1/staff/applications/{cid}/2025-health")).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["materials"].as_array().unwrap().len() >= 2, "the proofs to check, with signed links: {v}");

    // R42: 确认不通过, with a reason the candidate sees; they re-upload and resubmit.
    let (s, v) = decide(&app, &point, &cid, "reject_confirmation", Some("身份证照片不清晰,请重新上传")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("confirm_rejected")), "{v}");
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!(
        (mine["status"].as_str(), mine["reason"].as_str()),
        (Some("confirm_rejected"), Some("身份证照片不清晰,请重新上传"))
    );
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&cand), None).await;
    assert_eq!((s, code_of(&v)), (409, "MATERIALS_INCOMPLETE"), "re-upload first: {v}");
    upload_all_proofs(&app, &cand).await;
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&cand), None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("submitted")), "{v}");

    // Online districts confirm in the queue, never by a code at a counter.
    let code = v["verification_code"].as_str().unwrap();
    let (s, e) = desk::confirm_code(&app, &site, code).await;
    assert_eq!((s, code_of(&e)), (409, "ONLINE_CONFIRMATION"), "{e}");
    let (s, v) = decide(&app, &point, &cid, "approve_confirmation", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("confirmed")), "{v}");
    let (s, v) = decide(&app, &site, &cid, "approve_site", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("site_approved")), "{v}");
    let (s, v) = decide(&app, &district, &cid, "approve_district", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("approved")), "{v}");
}

async fn r34_a_historical_candidate_not_auto_confirmed_is_confirmed_at_the_site(app: TestApp) {
    let token = start(&app, &LI, "41").await;
    // A different work unit than last year: not auto-confirmed (R33), so the site confirms (R34).
    fill_all(&app, &token, "4101", &["3", "4"], "郑州大学第一附属医院").await;
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!((s, v["status"].as_str(), v["auto_confirmed"].as_bool()), (200, Some("submitted"), Some(false)), "{v}");
    let code = v["verification_code"].as_str().unwrap();
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "henan_admin", "district", "41", true).await;
    let (clerk, _) = desk::create(&app, &admin, "site_4101", "site", "4101", false).await;
    let page = desk::queue_with(&app, &clerk, &format!("{Q}/queues/confirm"), token.split('.').next().unwrap()).await;
    assert_eq!(page["entries"][0]["historical"], true, "{page}");
    let (s, v) = desk::confirm_code(&app, &clerk, code).await;
    assert_eq!((s, v["status"].as_str(), v["historical"].as_bool()), (200, Some("confirmed"), Some(true)), "{v}");
    // R34: an "unconfirmed" reminder on submit, then a "confirmed" one.
    app.mail.deliver().await;
    let (_, todos) = app.call("GET", "/v1/todos", Some(&token), None).await;
    let kinds: Vec<&str> = todos["items"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["confirmed", "not_auto_confirmed"], "R34: {todos}");
    // And on to approved, like everyone else.
    let cid = token.split('.').next().unwrap();
    let (reviewer, _) = desk::create(&app, &admin, "henan_review", "district", "41", false).await;
    assert_eq!(decide(&app, &clerk, cid, "approve_site", None).await.0, 200);
    let (s, v) = decide(&app, &reviewer, cid, "approve_district", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("approved")), "{v}");
    // R32's link at creation claimed the record: it can't also be merged into someone else's
    // application under this (their "previous") document.
    let (_, other, other_code) = submitted_in_henan(&app, &ZHAO).await;
    desk::confirm_code(&app, &clerk, &other_code).await;
    let path = format!("/v1/staff/applications/{other}/2025-health/score-merge");
    let body = json!({"id_type": "resident_id", "id_number": LI.id_number});
    let (s, v) = app.call("POST", &path, Some(&clerk), Some(body)).await;
    assert_eq!((s, code_of(&v)), (409, "RECORD_ALREADY_LINKED"), "{v}");
}

/// R34's last clause and R39: a historical candidate who moves to an online-confirmation
/// district (天津 is not an R33 district) keeps last year's record for rolling, but confirms like
/// everyone else there — through the registration point, with an ordinary reminder, never
/// auto-confirmed and never told to go to a site.
async fn r34_r39_a_historical_candidate_in_an_online_district_confirms_at_the_point(app: TestApp) {
    let (cand, cid) = submitted_in_tianjin(&app, &LI).await;
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!((mine["status"].as_str(), mine["auto_confirmed"].as_bool()), (Some("submitted"), Some(false)), "{mine}");
    assert_eq!(mine["historical"]["last_year"], 2024, "R39: the record follows them to 天津: {mine}");
    assert_eq!(mine["historical"]["required_subjects"], json!(["3", "4"]), "R35 still applies: {mine}");
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "tianjin_admin", "district", "12", true).await;
    let (point, _) = desk::create(&app, &admin, "point_1201p1", "point", "1201P1", false).await;
    let (site, _) = desk::create(&app, &admin, "site_1201", "site", "1201", false).await;
    let (district, _) = desk::create(&app, &admin, "tianjin_review", "district", "12", false).await;
    let page = desk::queue_with(&app, &point, &format!("{Q}/queues/confirm"), &cid).await;
    let entry = page["entries"].as_array().unwrap().iter().find(|e| e["candidate_id"] == cid).unwrap();
    assert_eq!(entry["historical"], true, "the point sees who sat last year: {page}");
    let code = mine["verification_code"].as_str().unwrap();
    let (s, e) = desk::confirm_code(&app, &site, code).await;
    assert_eq!((s, code_of(&e)), (409, "ONLINE_CONFIRMATION"), "no counter in 天津: {e}");
    let (s, v) = decide(&app, &point, &cid, "approve_confirmation", None).await;
    assert_eq!((s, v["status"].as_str(), v["historical"].as_bool()), (200, Some("confirmed"), Some(true)), "{v}");
    app.mail.deliver().await;
    let (_, todos) = app.call("GET", "/v1/todos", Some(&cand), None).await;
    let kinds: Vec<&str> = todos["items"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["confirmed", "submitted"], "R34: like everyone else here, no 'not auto-confirmed': {todos}");
    assert_eq!(decide(&app, &site, &cid, "approve_site", None).await.0, 200);
    let (s, v) = decide(&app, &district, &cid, "approve_district", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("approved")), "{v}");
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!(mine["review"], json!({"site": "passed", "district": "passed"}), "{mine}");
}

async fn r36_the_site_merges_last_years_scores_under_the_previous_document(app: TestApp) {
    let (cand, cid, code) = submitted_in_henan(&app, &ZHAO).await;
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert!(mine["historical"].is_null(), "a new document: last year's record is not found on its own");
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "henan_admin", "district", "41", true).await;
    let (clerk, _) = desk::create(&app, &admin, "site_4101", "site", "4101", false).await;
    let (reviewer, _) = desk::create(&app, &admin, "henan_review", "district", "41", false).await;
    desk::confirm_code(&app, &clerk, &code).await;
    let app = &app;
    let merge = |token: &str, number: &str| {
        let path = format!("/v1/staff/applications/{cid}/2025-health/score-merge");
        let body = json!({"id_type": "resident_id", "id_number": number});
        let token = token.to_string();
        async move { app.call("POST", &path, Some(&token), Some(body)).await }
    };
    let (s, v) = merge(&clerk, ZHANG.id_number).await;
    assert_eq!((s, code_of(&v)), (404, "NO_LAST_YEAR_RECORD"), "{v}");
    let (s, v) = merge(&clerk, e2e::WANG.id_number).await;
    assert_eq!((s, code_of(&v)), (422, "NOT_HISTORICAL"), "R38: absent last year: {v}");
    let (s, v) = merge(&reviewer, LI.id_number).await;
    assert_eq!((s, code_of(&v)), (403, "NOT_PERMITTED"), "the site records the merge: {v}");
    let review = format!("{Q}/queues/review");
    let before = desk::queue_with(app, &clerk, &review, &cid).await["entries"][0]["waiting_since"].clone();
    app.clock.set(services::ports::Clock::now(app.clock.as_ref()) + time::Duration::seconds(90));
    let (s, v) = merge(&clerk, LI.id_number).await;
    assert_eq!((s, v["historical"].as_bool()), (200, Some(true)), "{v}");
    let after = desk::queue_with(app, &clerk, &review, &cid).await["entries"][0]["waiting_since"].clone();
    assert_eq!(before, after, "a merge doesn't move the application in the site's queue");
    assert!(!v.to_string().contains(LI.id_number), "the previous number is not echoed");
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!(mine["historical"]["last_year"], 2024, "{mine}");
    assert_eq!(mine["historical"]["required_subjects"], json!(["3", "4"]), "R35 now applies");
    let (s, v) = merge(&clerk, LI.id_number).await;
    assert_eq!((s, code_of(&v)), (409, "ALREADY_HISTORICAL"));

    // One record, one application: the same previous document can't be merged a second time
    // into someone else's application …
    let (_, other, other_code) = submitted_in_henan(app, &ZHANG).await;
    desk::confirm_code(app, &clerk, &other_code).await;
    let path = format!("/v1/staff/applications/{other}/2025-health/score-merge");
    let body = json!({"id_type": "resident_id", "id_number": LI.id_number});
    let (s, v) = app.call("POST", &path, Some(&clerk), Some(body)).await;
    assert_eq!((s, code_of(&v)), (409, "RECORD_ALREADY_LINKED"), "{v}");
    let (_, v) = app.call("GET", &format!("/v1/staff/applications/{other}/2025-health"), Some(&clerk), None).await;
    assert_eq!(v["historical"], false, "the refused merge linked nothing: {v}");
    // … nor linked again when its owner applies (R32 would link it on creation): the owner is
    // sent to the site instead of the record silently serving two applications.
    let li = app.register(&LI).await;
    app.bind_wechat(&li, LI.account).await;
    let (s, v) = app
        .call("POST", "/v1/applications", Some(&li), Some(json!({"project": "2025-health", "district": "41"})))
        .await;
    assert_eq!((s, code_of(&v)), (409, "RECORD_ALREADY_LINKED"), "{v}");
    let (s, v) = app.call("GET", P, Some(&li), None).await;
    assert_eq!((s, code_of(&v)), (404, "NO_APPLICATION"), "nothing half-written: {v}");
}

/// Every application route × every role × inside and outside its scope, on an application
/// submitted in 天津 at 1201 / 1201P1 (waiting for its point). Outside the scope is always the
/// same 404 as a missing application; inside, a role that may not act gets 403, one that may
/// but at the wrong stage 409. Nothing here changes the application.
async fn bola_every_staff_route_by_every_role_inside_and_outside_its_scope(app: TestApp) {
    let (cand, cid) = submitted_in_tianjin(&app, &ZHAO).await;
    let (_, mine) = app.call("GET", P, Some(&cand), None).await;
    let code = mine["verification_code"].as_str().unwrap().to_string();
    let centre = desk::centre(&app).await;
    let (tj, _) = desk::create(&app, &centre, "tianjin_admin", "district", "12", true).await;
    let (sh, _) = desk::create(&app, &centre, "shanghai_admin", "district", "31", true).await;
    let mut who: Vec<(&str, bool, String)> = vec![("centre", true, centre.clone())];
    for (name, admin, role, area, inside) in [
        ("p_in", &tj, "point", "1201P1", true),
        ("p_out", &tj, "point", "1201P2", false),
        ("s_in", &tj, "site", "1201", true),
        ("s_out", &tj, "site", "1202", false),
        ("d_in", &tj, "district", "12", true),
        ("d_out", &sh, "district", "31", false),
    ] {
        let (t, _) = desk::create(&app, admin, &format!("bola_{}", name), role, area, false).await;
        who.push((name, inside, t));
    }
    let app_path = format!("/v1/staff/applications/{cid}/2025-health");
    // The code index is eventually consistent: wait until an in-scope account finds the code.
    let (_, _, first_inside) = who.iter().find(|w| w.1).unwrap();
    desk::eventually(&app, first_inside, &format!("{Q}/codes/{code}"), |s, _| s == 200).await;
    for (name, inside, token) in &who {
        let role = name.split('_').next().unwrap();
        // Reading the application.
        let (s, v) = get(&app, token, &app_path).await;
        let want = if *inside { 200 } else { 404 };
        assert_eq!(s, want, "{name} GET application: {v}");
        if !inside {
            assert_eq!(code_of(&v), "NO_APPLICATION", "{name}: no existence oracle");
        }
        // Finding it by its code, and reading its history: the same.
        let (s, v) = get(&app, token, &format!("{Q}/codes/{code}")).await;
        assert_eq!(s, want, "{name} find by code: {v}");
        let (s, v) = get(&app, token, &format!("{app_path}/history")).await;
        assert_eq!(s, want, "{name} history: {v}");
        if !inside {
            assert_eq!(code_of(&v), "NO_APPLICATION", "{name} history: no existence oracle");
        }
        // Every decision.
        for decision in [
            "approve_confirmation",
            "reject_confirmation",
            "approve_site",
            "reject_site",
            "approve_district",
            "reject_district",
        ] {
            let reason = decision.starts_with("reject").then_some("原因");
            let may = match decision {
                "approve_confirmation" | "reject_confirmation" => role == "p",
                "approve_site" | "reject_site" => role == "s",
                _ => role == "d",
            };
            if *inside && may && role == "p" {
                continue; // the one decision this state allows: tested in the R42 flow
            }
            let (s, v) = decide(&app, token, &cid, decision, reason).await;
            let want = match (inside, may) {
                (false, _) => 404,
                (true, false) => 403,
                (true, true) => 409,
            };
            assert_eq!(s, want, "{name} {decision}: {v}");
        }
        // R36 score merge: only a site clerk, only in scope; whether the document sat last year
        // is no one else's to learn.
        let body = json!({"id_type": "resident_id", "id_number": e2e::WANG.id_number});
        let (s, v) = app.call("POST", &format!("{app_path}/score-merge"), Some(token), Some(body)).await;
        let want = match (*inside, role) {
            (false, _) => (404, "NO_APPLICATION"),
            (true, "s") => (422, "NOT_HISTORICAL"),
            _ => (403, "NOT_PERMITTED"),
        };
        assert_eq!((s, code_of(&v)), want, "{name} score merge: {v}");
        // Confirming by code at a counter: never in an online district; 404 outside the scope.
        let (s, v) = app.call("POST", &format!("{Q}/codes/{code}/confirm"), Some(token), None).await;
        let want = match (*inside, role) {
            (false, _) => 404,
            (true, "p" | "s") => 409,
            _ => 403,
        };
        assert_eq!(s, want, "{name} confirm by code: {v}");
        // Queues and counts are always the caller's own scope: the role decides which exist.
        for stage in ["confirm", "review"] {
            let (s, v) = get(&app, token, &format!("{Q}/queues/{stage}")).await;
            let want = match (role, stage) {
                ("p", "confirm") | ("s", _) | ("d", "review") => 200,
                _ => 403,
            };
            assert_eq!(s, want, "{name} queue {stage}: {v}");
            if s == 200 && !inside {
                assert_eq!(v["entries"], json!([]), "{name}: another scope's queue shows nothing of it");
            }
        }
        let (s, v) = get(&app, token, &format!("{Q}/counts")).await;
        assert_eq!(s, if role == "centre" { 403 } else { 200 }, "{name} counts: {v}");
        // Account administration: a clerk or reviewer administers no one; the centre creates
        // district admins only, never a site's clerk.
        let body = json!({"account": format!("made_by_{name}"), "name": "x", "role": "site", "area": "1201"});
        let (s, v) = app.call("POST", "/v1/staff/accounts", Some(token), Some(body)).await;
        assert_eq!((s, code_of(&v)), (403, "NOT_PERMITTED"), "{name} create a site clerk: {v}");
        if role != "centre" {
            // Someone else's account is outside what a non-admin reaches: the same 404 as none.
            let other = if *name == "s_in" { "bola_p_in" } else { "bola_s_in" };
            for act in ["reset", "disable"] {
                let (s, v) = app.call("POST", &format!("/v1/staff/accounts/{other}/{act}"), Some(token), None).await;
                assert_eq!((s, code_of(&v)), (404, "STAFF_NOT_FOUND"), "{name} {act}: {v}");
            }
        }
    }
    let (_, after) = app.call("GET", P, Some(&cand), None).await;
    assert_eq!(after["status"], "submitted", "the matrix changed nothing");
    // Staff admin routes: only admins, only over what they manage.
    let (s, _) = get(&app, &who[1].2, "/v1/staff/accounts").await;
    assert_eq!(s, 403, "a point clerk lists no one");
    let (s, v) = app.call("POST", "/v1/staff/accounts/bola_p_in/disable", Some(&sh), None).await;
    assert_eq!((s, code_of(&v)), (404, "STAFF_NOT_FOUND"), "another district's admin doesn't see the account");
    let (s, _) = get(&app, &tj, "/v1/staff/audit?day=20241201").await;
    assert_eq!(s, 200);
    let (s, _) = get(&app, &sh, "/v1/staff/audit?day=20241201&district=12").await;
    assert_eq!(s, 403, "another district's audit trail is not yours");
    // Sessions don't cross: no staff route takes a candidate's session, and no candidate route
    // a staff session.
    for r in edge::api::ROUTES.iter().filter(|r| r.auth) {
        let path = r
            .path
            .replace("{project}", "2025-health")
            .replace("{candidate}", &cid)
            .replace("{stage}", "review")
            .replace("{code}", &code)
            .replace("{account}", "bola_p_in")
            .replace("{page}", "site")
            .replace("{kind}", "id_card")
            .replace("{degree_id}", "d1");
        let foreign = if r.function == edge::api::Function::Review { &cand } else { &who[5].2 };
        let body = (r.method != "GET" && r.method != "DELETE").then(|| json!({}));
        let (s, v) = app.call(r.method, &path, Some(foreign), body).await;
        let want = if r.function == edge::api::Function::Review { "STAFF_UNAUTHENTICATED" } else { "UNAUTHENTICATED" };
        assert_eq!((s, code_of(&v)), (401, want), "{} {}: {v}", r.method, r.path);
    }
}

async fn two_staff_deciding_the_same_application_at_once_make_exactly_one_decision(app: TestApp) {
    let (_, cid, code) = submitted_in_henan(&app, &ZHANG).await;
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "henan_admin", "district", "41", true).await;
    let (clerk, _) = desk::create(&app, &admin, "site_4101", "site", "4101", false).await;
    let (clerk2, _) = desk::create(&app, &admin, "site_4101_b", "site", "4101", false).await;
    desk::confirm_code(&app, &clerk, &code).await;
    let (a, b) = tokio::join!(
        decide(&app, &clerk, &cid, "approve_site", None),
        decide(&app, &clerk2, &cid, "reject_site", Some("材料不全"))
    );
    let winners = [&a, &b].iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(winners, 1, "{a:?} {b:?}");
    let loser = if a.0 == 200 { &b } else { &a };
    assert_eq!(loser.0, 409, "{loser:?}");
    assert!(["CONCURRENT_UPDATE", "NOT_AWAITING_SITE_REVIEW"].contains(&code_of(&loser.1)), "{loser:?}");
}

async fn staff_sessions_end_when_idle_or_locked_out_and_codes_work_once(app: TestApp) {
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "henan_admin", "district", "41", true).await;
    // The admin creates the account and hands over a one-time code; the owner sets a password
    // of their own (checked) and alone receives the TOTP key.
    let body = json!({"account": "site_4101", "name": "王考点", "role": "site", "area": "4101", "admin": false,
                      "password": "Admin-chosen-2025"});
    let (s, v) = app.call("POST", "/v1/staff/accounts", Some(&admin), Some(body.clone())).await;
    assert_eq!((s, code_of(&v)), (400, "UNKNOWN_FIELD"), "an admin sets no one's password");
    let mut body = body;
    body.as_object_mut().unwrap().remove("password");
    let (s, invite) = app.call("POST", "/v1/staff/accounts", Some(&admin), Some(body)).await;
    assert_eq!(s, 201, "{invite}");
    let code = invite["enrolment_code"].as_str().unwrap();
    let enrol = |password: &str, code: &str| {
        let body = json!({"account": "site_4101", "code": code, "password": password});
        app.call("POST", "/v1/staff/enrolment", None, Some(body))
    };
    assert_eq!(code_of(&enrol("short1A!", code).await.1), "WEAK_PASSWORD");
    assert_eq!(code_of(&enrol(desk::STAFF_PASSWORD, "not-the-code").await.1), "ENROLMENT_INVALID");
    let (s, v) = enrol(desk::STAFF_PASSWORD, code).await;
    assert_eq!(s, 200, "{v}");
    let (s2, again) = enrol(desk::STAFF_PASSWORD, code).await;
    assert_eq!((s2, code_of(&again)), (401, "ENROLMENT_INVALID"), "a code works once");
    let secret = v["secret_base32"].as_str().unwrap().to_string();
    let clerk = desk::login(&app, "site_4101", &secret).await;
    let now = services::ports::Clock::now(app.clock.as_ref());
    let code = services::staff::current_code(&secret, now).unwrap();
    let login = |totp: String| {
        app.call(
            "POST",
            "/v1/staff/sessions",
            None,
            Some(json!({"account": "site_4101", "password": desk::STAFF_PASSWORD, "totp": totp})),
        )
    };
    let (s, v) = login(code.clone()).await;
    assert_eq!((s, code_of(&v)), (401, "TOTP_REUSED"), "the code just used can't be used again");
    // Parallel guessing: every attempt is taken from the account's budget before anything is
    // checked, so requests fired together can't all be tried before the failures are counted.
    desk::create(&app, &admin, "site_4101_c", "site", "4101", false).await;
    let guess = || {
        app.call(
            "POST",
            "/v1/staff/sessions",
            None,
            Some(json!({"account": "site_4101_c", "password": "Wrong-guess-2025", "totp": "123456"})),
        )
    };
    let r = tokio::join!(
        guess(),
        guess(),
        guess(),
        guess(),
        guess(),
        guess(),
        guess(),
        guess(),
        guess(),
        guess(),
        guess(),
        guess()
    );
    let all = [r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11];
    let checked = all.iter().filter(|(s, _)| *s == 401).count();
    assert!(checked <= 9, "at most the budget left (10 less the creation's login) was checked: {all:?}");
    assert!(all.iter().all(|(s, _)| [401, 429].contains(s)), "{all:?}");
    // Idle: a request within the timeout keeps the session; 30 minutes without one end it.
    app.clock.set(now + time::Duration::minutes(20));
    assert_eq!(get(&app, &clerk, "/v1/staff/me").await.0, 200);
    app.clock.set(now + time::Duration::minutes(45));
    assert_eq!(get(&app, &clerk, "/v1/staff/me").await.0, 200, "the last request moved the idle clock");
    app.clock.set(now + time::Duration::minutes(76));
    let (s, v) = get(&app, &clerk, "/v1/staff/me").await;
    assert_eq!((s, code_of(&v)), (401, "STAFF_SESSION_IDLE"));
    // Five wrong codes lock the account, even against the right one.
    for _ in 0..4 {
        let (s, v) = login("000000".into()).await;
        assert_eq!((s, code_of(&v)), (401, "TOTP_INVALID"), "{v}");
    }
    let (s, v) = login("000000".into()).await;
    assert_eq!((s, code_of(&v)), (429, "STAFF_ACCOUNT_LOCKED"), "{v}");
    let right = services::staff::current_code(&secret, services::ports::Clock::now(app.clock.as_ref())).unwrap();
    let (s, v) = login(right).await;
    assert_eq!((s, code_of(&v)), (429, "STAFF_ACCOUNT_LOCKED"));
    // Bad input: each its own code.
    let (s, v) = app
        .call("POST", "/v1/staff/sessions", None, Some(json!({"account": "x", "password": "y", "totp": "12"})))
        .await;
    assert_eq!((s, code_of(&v), v["field"].as_str()), (400, "INVALID_TOTP", Some("totp")));
    let (s, v) = get(&app, &admin, "/v1/staff/me").await;
    assert_eq!((s, code_of(&v)), (401, "STAFF_SESSION_IDLE"), "the admin was idle too: {v}");
    // Ten hours after it began a session is over whatever else holds, and says so first.
    app.clock.set(now + time::Duration::hours(10));
    let (s, v) = get(&app, &admin, "/v1/staff/me").await;
    assert_eq!((s, code_of(&v)), (401, "STAFF_SESSION_EXPIRED"), "the absolute limit: {v}");
}

async fn queues_page_oldest_first_and_a_tampered_position_is_a_400(app: TestApp) {
    let mut cids = vec![];
    for who in [&ZHANG, &ZHAO] {
        let (_, cid, _) = submitted_in_henan(&app, who).await;
        cids.push(cid);
        let t = services::ports::Clock::now(app.clock.as_ref());
        app.clock.set(t + time::Duration::seconds(61));
    }
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "henan_admin", "district", "41", true).await;
    let (clerk, _) = desk::create(&app, &admin, "site_4101", "site", "4101", false).await;
    for cid in &cids {
        desk::queue_with(&app, &clerk, &format!("{Q}/queues/confirm"), cid).await;
    }
    let (s, p1) = get(&app, &clerk, &format!("{Q}/queues/confirm?limit=1")).await;
    assert_eq!(s, 200, "{p1}");
    assert_eq!(p1["entries"][0]["candidate_id"], cids[0], "oldest first");
    let next = p1["next"].as_str().unwrap().replace('#', "%23");
    let (_, p2) = get(&app, &clerk, &format!("{Q}/queues/confirm?limit=1&after={next}")).await;
    assert_eq!(p2["entries"][0]["candidate_id"], cids[1], "{p2}");
    assert!(p2["next"].is_null(), "{p2}");
    for bad in ["abc", "000000000001%23ZZ", "%27%20OR%201%3D1"] {
        let (s, v) = get(&app, &clerk, &format!("{Q}/queues/confirm?after={bad}")).await;
        assert_eq!((s, code_of(&v)), (400, "INVALID_CURSOR"), "{bad}");
    }
    let (s, v) = get(&app, &clerk, &format!("{Q}/queues/confirm?limit=0")).await;
    assert_eq!((s, code_of(&v)), (400, "INVALID_LIMIT"));
}

async fn r24_no_review_decision_after_the_review_deadline(app: TestApp) {
    let (_, cid, code) = submitted_in_henan(&app, &ZHANG).await;
    let centre = desk::centre(&app).await;
    let (admin, _) = desk::create(&app, &centre, "henan_admin", "district", "41", true).await;
    let (clerk, secret) = desk::create(&app, &admin, "site_4101", "site", "4101", false).await;
    desk::confirm_code(&app, &clerk, &code).await;
    let henan = shared::domain::values::DistrictCode::parse("41", "district").unwrap();
    let project = shared::domain::values::ProjectCode::parse("2025-health", "project").unwrap();
    let deadline = app.running.deps.reference.projects()[&project].schedule(&henan).review_deadline;
    app.clock.set(deadline + time::Duration::minutes(1));
    // Sessions don't survive that long: log in again, at the new time.
    let clerk = desk::login(&app, "site_4101", &secret).await;
    let (s, v) = decide(&app, &clerk, &cid, "approve_site", None).await;
    assert_eq!((s, code_of(&v)), (409, "REVIEW_CLOSED"), "{v}");
}

e2e::on_both_backends!(
    r22_r18_r24_r25_a_site_confirms_by_the_live_code_and_both_stages_review,
    r24_a_site_rejection_ends_the_application_with_its_reason_shown,
    r41_r42_a_point_returns_materials_and_passes_them_after_the_reupload,
    r34_a_historical_candidate_not_auto_confirmed_is_confirmed_at_the_site,
    r34_r39_a_historical_candidate_in_an_online_district_confirms_at_the_point,
    r36_the_site_merges_last_years_scores_under_the_previous_document,
    bola_every_staff_route_by_every_role_inside_and_outside_its_scope,
    two_staff_deciding_the_same_application_at_once_make_exactly_one_decision,
    staff_sessions_end_when_idle_or_locked_out_and_codes_work_once,
    queues_page_oldest_first_and_a_tampered_position_is_a_400,
    r24_no_review_decision_after_the_review_deadline,
);
