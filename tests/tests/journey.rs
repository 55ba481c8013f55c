//! End to end over HTTP: the local server with fresh storage, driven the way the mini-program
//! drives it — the whole candidate journey and its refusals — on both backends: the embedded
//! store, and DynamoDB/S3/SQS on moto.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::{LI, On, PASSWORD, TestApp, WANG, ZHANG, ZHAO};
use serde_json::{Value, json};
use std::sync::Arc;

use e2e::steps::*;

async fn a_first_time_candidate_registers_fills_submits_withdraws_and_resubmits(app: TestApp) {
    let token = app.register(&ZHANG).await;

    // R2: password login gives a new session; the account view masks the ID number and phone.
    let (s, v) = app
        .call("POST", "/v1/sessions/password", None, Some(json!({"account": "zhang_san", "password": PASSWORD})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["account"]["id_number_masked"], "4101**********0019");
    assert!(!v.to_string().contains(ZHANG.id_number) && !v.to_string().contains("13912345678"));

    // Binding WeChat is required before choosing an exam.
    let create = json!({"project": "2025-health", "district": "41"});
    let (s, v) = app.call("POST", "/v1/applications", Some(&token), Some(create.clone())).await;
    assert_eq!((s, code_of(&v)), (409, "WECHAT_BINDING_REQUIRED"));
    app.bind_wechat(&token, "zhang").await;
    let (s, _) = app.call("POST", "/v1/sessions/wechat", None, Some(json!({"code": "local-zhang"}))).await;
    assert_eq!(s, 200, "R2: the bound mini-program user logs in");

    // R4: project, then district. Reference data the screens need is public.
    let (s, projects) = app.call("GET", "/v1/projects", None, None).await;
    assert_eq!(s, 200);
    assert!(projects.as_array().unwrap().iter().any(|p| p["id"] == "2025-health" && p["open"] == true));
    let (s, sites) = app.call("GET", "/v1/projects/2025-health/districts/41/sites", None, None).await;
    assert_eq!((s, sites[0]["code"].as_str()), (200, Some("4101")));
    let (s, v) = app.call("POST", "/v1/applications", Some(&token), Some(create.clone())).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!((v["status"].as_str(), v["progress"][0]["state"].as_str()), (Some("draft"), Some("current")));
    let (s, v) = app.call("POST", "/v1/applications", Some(&token), Some(create)).await;
    assert_eq!((s, code_of(&v)), (409, "APPLICATION_EXISTS"), "one application per project");

    // R5 before any page; the versions come from the notices endpoint.
    let (s, v) = page(&app, &token, "site", site("4101")).await;
    assert_eq!((s, code_of(&v)), (409, "AGREEMENT_REQUIRED"));
    let (_, notices) = app.call("GET", "/v1/projects/2025-health/notices", None, None).await;
    let version =
        |kind: &str| notices.as_array().unwrap().iter().find(|n| n["kind"] == kind).unwrap()["version"].clone();
    let (s, _) = app
        .call(
            "POST",
            &format!("{P}/agreement"),
            Some(&token),
            Some(json!({"important_version": version("important"), "integrity_version": version("integrity")})),
        )
        .await;
    assert_eq!(s, 200);

    // R6: in order.
    let (s, v) = page(&app, &token, "contact", contact()).await;
    assert_eq!((s, code_of(&v), v["field"].as_str()), (409, "PAGE_OUT_OF_ORDER", Some("site")));
    assert_eq!(page(&app, &token, "site", site("4101")).await.0, 200);
    // R21: identity fields are not editable through the application.
    let (s, v) = page(&app, &token, "basic", json!({"ethnicity": "汉族", "name": "李鬼"})).await;
    assert_eq!((s, code_of(&v), v["field"].as_str()), (422, "IDENTITY_IMMUTABLE", Some("name")));
    // R7: an ID expiring before the exam warns and saves.
    let (s, v) = page(&app, &token, "basic", json!({"id_valid_until": "2025-01-31", "ethnicity": "汉族"})).await;
    assert_eq!((s, v["warnings"][0]["code"].as_str()), (200, Some("ID_EXPIRES_BEFORE_EXAM")));
    assert_eq!(page(&app, &token, "contact", contact()).await.0, 200);
    // R9 over HTTP: the field at fault is named.
    let mut no_reg = exam(&["1", "2", "3", "4"]);
    no_reg["first_registration"] = Value::Null;
    let (s, v) = page(&app, &token, "exam", no_reg).await;
    assert_eq!((s, code_of(&v), v["field"].as_str()), (422, "FIRST_REGISTRATION_REQUIRED", Some("first_registration")));
    assert_eq!(page(&app, &token, "exam", exam(&["1", "2", "3", "4"])).await.0, 200);
    let (s, v) = page(&app, &token, "education", json!({"degree_record_id": "d7"})).await;
    assert_eq!((s, code_of(&v)), (409, "UNKNOWN_DEGREE_RECORD"));
    assert_eq!(page(&app, &token, "education", json!({"degree_record_id": "d1"})).await.0, 200);
    let (s, v) = page(&app, &token, "work", json!({"unit_name": "其它", "started_work": "2015-08"})).await;
    assert_eq!((s, code_of(&v)), (422, "UNIT_CATEGORY_REQUIRED"));
    assert_eq!(page(&app, &token, "work", work("郑州市第一人民医院")).await.0, 200);

    // R13 then R15.
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (409, "PHOTO_REQUIRED"));
    let (s, v) = app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    assert_eq!((s, v["photo"]["source"].as_str()), (200, Some("registered")));
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    let first_code = v["verification_code"].as_str().unwrap().to_string();
    assert_eq!(v["progress"][2]["state"], "current", "报名确认 is next");
    let (s, form) = app.call("GET", &format!("{P}/form"), Some(&token), None).await;
    assert_eq!((s, form["verification_code"].as_str()), (200, Some(first_code.as_str())));
    assert_eq!(form["id_number"], ZHANG.id_number, "the printed form carries the full number");
    assert_eq!(form["pages"]["contact"]["phone"], "13912345678", "and the full phone");
    // Everywhere else the phone is masked: the application view included.
    let (_, view) = app.call("GET", P, Some(&token), None).await;
    assert_eq!(view["pages"]["contact"]["phone_masked"], "139****5678", "{view}");
    assert!(!view.to_string().contains("13912345678"), "{view}");
    assert_eq!(form["subjects"].as_array().unwrap().len(), 4);

    // R17: no edits and no district change while submitted.
    let (s, v) = page(&app, &token, "contact", contact()).await;
    assert_eq!((s, code_of(&v)), (409, "WITHDRAW_FIRST"));
    let (s, v) = app.call("PUT", &format!("{P}/district"), Some(&token), Some(json!({"district": "11"}))).await;
    assert_eq!((s, code_of(&v)), (409, "DISTRICT_LOCKED"));

    // R17/R20: withdraw → draft, pages kept, code dead; edit; R18: resubmit → new code.
    let (s, v) = app.call("POST", &format!("{P}/withdraw"), Some(&token), None).await;
    assert_eq!((s, v["status"].as_str(), &v["verification_code"]), (200, Some("draft"), &Value::Null));
    assert_eq!(v["pages"]["work"]["unit_name"], "郑州市第一人民医院");
    let (s, v) = app.call("GET", &format!("{P}/form"), Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (409, "NOT_SUBMITTED"));
    let mut new_contact = contact();
    new_contact["address"] = json!("郑州市二七区");
    assert_eq!(page(&app, &token, "contact", new_contact).await.0, 200);
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200);
    let second_code = v["verification_code"].as_str().unwrap().to_string();
    assert_ne!(first_code, second_code);
    // The site finds an application by the code on the form: only by the latest one (R18).
    let by_code = |c: &str| store::Query::of(Some(store::Index::Gsi1), store::keys::vcode(c), 10);
    let table = &app.running.deps.table;
    // (Indexes are eventually consistent: read them until they settle, as the system does.)
    assert!(e2e::query_until(table.as_ref(), &by_code(&first_code), <[_]>::is_empty).await.is_empty());
    assert_eq!(e2e::query_until(table.as_ref(), &by_code(&second_code), |i| i.len() == 1).await.len(), 1);
    // The sweep finds it by district and deadline shard (R23); the confirmation deadline is the key.
    let cid = token.split('.').next().unwrap();
    let due = store::Query::of(
        Some(store::Index::Gsi3),
        store::keys::due("2025-health", "41", store::layout::shard(cid)),
        10,
    );
    let found = e2e::query_until(table.as_ref(), &due, |i| i.len() == 1).await;
    assert_eq!(found.len(), 1);
    let deadline = time::macros::datetime!(2024-12-20 17:00 +08:00).unix_timestamp();
    assert_eq!(found[0]["gsi3sk"], format!("{deadline:012}#{cid}"));

    // Logout revokes the session server-side.
    let (s, _) = app.call("DELETE", "/v1/sessions/current", Some(&token), None).await;
    assert_eq!(s, 204);
    let (s, v) = app.call("GET", P, Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (401, "UNAUTHENTICATED"));
}

async fn r19_changing_district_before_submitting_clears_the_application(app: TestApp) {
    let token = start(&app, &ZHANG, "41").await;
    fill_all(&app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    let (s, v) = app.call("PUT", &format!("{P}/district"), Some(&token), Some(json!({"district": "11"}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["district"].as_str(), v["district_name"].as_str()), (Some("11"), Some("北京")));
    assert_eq!(v["pages"], json!({}));
    assert_eq!(v["agreement"], Value::Null);
    // The account is untouched.
    let (_, acct) = app.call("GET", "/v1/account", Some(&token), None).await;
    assert_eq!((acct["has_photo"].as_bool(), acct["degrees"].as_array().map(Vec::len)), (Some(true), Some(1)));
}

async fn a_candidate_reaches_only_their_own_application(app: TestApp) {
    let zhang = start(&app, &ZHANG, "41").await;
    let zhao = app.register(&ZHAO).await;
    // Zhao's token addresses Zhao's data: there is no way to name Zhang's application.
    let (s, v) = app.call("GET", P, Some(&zhao), None).await;
    assert_eq!((s, code_of(&v)), (404, "NO_APPLICATION"));
    // A token carrying Zhang's id with a made-up secret is not a session.
    let zhang_id = zhang.split('.').next().unwrap();
    let forged = format!("{zhang_id}.{}", "A".repeat(43));
    let (s, v) = app.call("GET", P, Some(&forged), None).await;
    assert_eq!((s, code_of(&v)), (401, "UNAUTHENTICATED"));
    let (s, _) = app.call("GET", P, None, None).await;
    assert_eq!(s, 401);
    // Server-owned fields cannot be set by a client.
    let (s, v) = page(&app, &zhang, "site", json!({"site": "4101", "status": "approved"})).await;
    assert_eq!((s, code_of(&v), v["field"].as_str()), (400, "UNKNOWN_FIELD", Some("status")));
}

async fn bad_input_gets_a_4xx_with_a_stable_code_a_chinese_message_and_the_field(app: TestApp) {
    let token = start(&app, &ZHANG, "41").await;
    let json_ct = [("content-type", "application/json"), ("authorization", "")];
    let auth = format!("Bearer {token}");
    let h = [("content-type", "application/json"), ("authorization", auth.as_str())];
    // (method, path, headers, body, expected status, expected code)
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("PUT", format!("{P}/pages/site"), h.to_vec(), b"{\"site\": ".to_vec(), 400, "MALFORMED_JSON"),
        ("PUT", format!("{P}/pages/site"), h.to_vec(), b"[1,2]".to_vec(), 400, "MALFORMED_JSON"),
        ("PUT", format!("{P}/pages/site"), vec![("authorization", auth.as_str())], b"{\"site\":\"4101\"}".to_vec(), 400, "UNSUPPORTED_MEDIA_TYPE"),
        ("PUT", format!("{P}/pages/site"), h.to_vec(), b"{}".to_vec(), 400, "MISSING_FIELD"),
        ("PUT", format!("{P}/pages/site"), h.to_vec(), b"{\"site\": 4101}".to_vec(), 400, "INVALID_FIELD"),
        ("PUT", format!("{P}/pages/site"), h.to_vec(), b"{\"site\": \"41/01\"}".to_vec(), 400, "INVALID_CODE"),
        ("PUT", format!("{P}/pages/site"), h.to_vec(), vec![b' '; 70 * 1024], 413, "BODY_TOO_LARGE"),
        ("PUT", format!("{P}/pages/nope"), h.to_vec(), b"{}".to_vec(), 404, "UNKNOWN_PAGE"),
        ("PUT", format!("{P}/pages/contact"), h.to_vec(), b"{\"phone\":\"12345\",\"address\":\"x\"}".to_vec(), 400, "INVALID_PHONE"),
        ("PUT", format!("{P}/pages/exam"), h.to_vec(), b"{\"category\":\"nursing\",\"level\":\"expert\"}".to_vec(), 400, "INVALID_OPTION"),
        ("GET", "/v1/applications/2099-health".into(), h.to_vec(), vec![], 404, "UNKNOWN_PROJECT"),
        ("GET", "/v1/nothing".into(), h.to_vec(), vec![], 404, "NO_ROUTE"),
        ("PATCH", format!("{P}/submit"), h.to_vec(), vec![], 405, "METHOD_NOT_ALLOWED"),
        ("GET", P.into(), json_ct.to_vec(), vec![], 401, "UNAUTHENTICATED"),
        ("POST", "/v1/accounts".into(), h.to_vec(),
            json!({"account": "ok_name", "password": "abc12345", "name": "张三", "id_type": "resident_id", "id_number": "410102199003070010",
                   "gender": "male", "birth_date": "1990-03-07", "nationality": "中国", "phone": "13912345678"}).to_string().into_bytes(), 400, "INVALID_ID_NUMBER"),
        ("POST", "/v1/accounts".into(), h.to_vec(),
            json!({"account": "ok_name", "password": "abc12345", "name": "张三", "id_type": "resident_id", "id_number": "410102199003070019",
                   "gender": "female", "birth_date": "1990-03-07", "nationality": "中国", "phone": "13912345678"}).to_string().into_bytes(), 400, "ID_GENDER_MISMATCH"),
        ("POST", "/v1/accounts".into(), h.to_vec(),
            json!({"account": "other_name", "password": "abc12345", "name": "张三", "id_type": "resident_id", "id_number": ZHANG.id_number,
                   "gender": "male", "birth_date": "1990-03-07", "nationality": "中国", "phone": "13912345678"}).to_string().into_bytes(), 409, "ID_ALREADY_REGISTERED"),
        ("POST", "/v1/accounts".into(), h.to_vec(),
            json!({"account": "zhang_san", "password": "abc12345", "name": "赵六", "id_type": "resident_id", "id_number": ZHAO.id_number,
                   "gender": "female", "birth_date": "1988-05-12", "nationality": "中国", "phone": "13912345678"}).to_string().into_bytes(), 409, "ACCOUNT_TAKEN"),
        ("POST", "/v1/accounts".into(), h.to_vec(),
            json!({"account": "weak_pw", "password": "password", "name": "赵六", "id_type": "resident_id", "id_number": ZHAO.id_number,
                   "gender": "female", "birth_date": "1988-05-12", "nationality": "中国", "phone": "13912345678"}).to_string().into_bytes(), 400, "WEAK_PASSWORD"),
        ("POST", "/v1/sessions/password".into(), h.to_vec(), json!({"account": "zhang_san", "password": "wrong999x"}).to_string().into_bytes(), 401, "BAD_CREDENTIALS"),
        ("POST", "/v1/sessions/password".into(), h.to_vec(), json!({"account": "nobody_here", "password": "wrong999x"}).to_string().into_bytes(), 401, "BAD_CREDENTIALS"),
    ];
    for (method, path, headers, body, status, code) in cases {
        let headers: Vec<(&str, &str)> = headers.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let (s, v) = app.raw(method, &path, &headers, body).await;
        assert_eq!((s, code_of(&v)), (status, code), "{method} {path}: {v}");
        let msg = v["message"].as_str().unwrap_or("");
        assert!(msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "Chinese message for {code}: {msg}");
    }
    // Nothing half-written: the application is still an untouched draft.
    let (_, v) = app.call("GET", P, Some(&token), None).await;
    assert_eq!((v["status"].as_str(), &v["pages"]), (Some("draft"), &json!({})));
}

async fn r32_r35_r33_r37_a_historical_candidate_rolls_subjects_and_is_auto_confirmed(app: TestApp) {
    let token = start(&app, &LI, "41").await;
    let (_, v) = app.call("GET", P, Some(&token), None).await;
    assert_eq!(v["historical"]["last_year"], 2024);
    assert_eq!(v["historical"]["required_subjects"], json!(["3", "4"]), "R35: not passed last year");
    assert_eq!(v["historical"]["specialty"], "368", "R32: last year's registration shown for checking");
    // R32: last year's pages are on the pages themselves, each marked for checking.
    let all = json!(["site", "basic", "contact", "exam", "education", "work"]);
    assert_eq!(v["carried_over"], all, "{v}");
    assert_eq!(v["next_page"], "site", "R6: nothing is confirmed yet");
    let pages = &v["pages"];
    assert_eq!((pages["site"]["site"].as_str(), pages["basic"]["ethnicity"].as_str()), (Some("4101"), Some("汉族")));
    assert_eq!(pages["exam"]["subjects"], json!(["3", "4"]), "R35 pre-selects the subjects not passed");
    assert_eq!(pages["education"]["degree_record_id"], "d1", "R11: the account's own record");
    assert_eq!(pages["contact"]["phone_masked"], "139****5678", "the carried-over phone is masked too");
    assert!(pages["contact"]["phone"].is_null());
    // Confirming a page, unchanged, takes it off the list; R6 keeps the order.
    let (s, v) = page(&app, &token, "work", work("郑州市第一人民医院")).await;
    assert_eq!((s, code_of(&v)), (409, "PAGE_OUT_OF_ORDER"));
    let (s, v) = page(&app, &token, "site", pages["site"].clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["carried_over"], json!(["basic", "contact", "exam", "education", "work"]));
    page(&app, &token, "basic", pages["basic"].clone()).await;
    page(&app, &token, "contact", contact()).await;
    let (s, v) = page(&app, &token, "exam", exam(&["3"])).await;
    assert_eq!((s, code_of(&v)), (422, "SUBJECTS_REQUIRED"));
    fill_all(&app, &token, "4101", &["3", "4"], "郑州市第一人民医院").await;
    let (_, v) = app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    assert_eq!(v["amount_due"], 10000, "R28: 2 subjects × 50.00元");
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["status"].as_str(), v["auto_confirmed"].as_bool()), (Some("confirmed"), Some(true)), "R33 in 河南");
    let (s, v) = app.call("POST", &format!("{P}/withdraw"), Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (409, "AUTO_CONFIRMED"), "R37");
}

async fn r38_a_candidate_absent_last_year_is_not_historical(app: TestApp) {
    let token = start(&app, &WANG, "11").await;
    let (_, v) = app.call("GET", P, Some(&token), None).await;
    assert_eq!(v["historical"], Value::Null);
    page(&app, &token, "site", site("1101")).await;
    page(&app, &token, "basic", basic()).await;
    page(&app, &token, "contact", contact()).await;
    let (s, v) = page(&app, &token, "exam", exam(&["3", "4"])).await;
    assert_eq!((s, code_of(&v)), (422, "SUBJECTS_REQUIRED"), "no rolling: all four subjects");
}

async fn r2_face_id_and_mini_program_login(app: TestApp) {
    app.register(&ZHANG).await;
    let start = |id: &str| json!({"id_type": "resident_id", "id_number": id, "code": "local-zhang-phone"});
    let (s, t) = app.call("POST", "/v1/sessions/face/start", None, Some(start(ZHANG.id_number))).await;
    assert_eq!(s, 200, "{t}");
    assert!(t["verify_id"].as_str().is_some_and(|v| !v.is_empty()), "{t}");
    let finish = json!({"attempt": t["attempt"]});
    let (s, v) = app.call("POST", "/v1/sessions/face", None, Some(finish.clone())).await;
    assert_eq!((s, v["account"]["account"].as_str()), (200, Some("zhang_san")));
    // The attempt started one session; replaying it starts none.
    let (s, v) = app.call("POST", "/v1/sessions/face", None, Some(finish)).await;
    assert_eq!((s, code_of(&v)), (401, "FACE_VERIFY_FAILED"));
    let (s, v) = app.call("POST", "/v1/sessions/face/start", None, Some(start(ZHAO.id_number))).await;
    assert_eq!((s, code_of(&v)), (401, "NOT_REGISTERED"));
    let (s, v) =
        app.call("POST", "/v1/sessions/face", None, Some(json!({"attempt": format!("{0}.{0}", "0".repeat(32))}))).await;
    assert_eq!((s, code_of(&v)), (401, "FACE_VERIFY_FAILED"));
    let passport = json!({"id_type": "passport", "id_number": "E12345678", "code": "local-zhang-phone"});
    let (s, v) = app.call("POST", "/v1/sessions/face/start", None, Some(passport)).await;
    assert_eq!((s, code_of(&v)), (422, "FACE_DOCUMENT_UNSUPPORTED"));
    let (s, v) = app.call("POST", "/v1/sessions/wechat", None, Some(json!({"code": "local-stranger"}))).await;
    assert_eq!((s, code_of(&v)), (401, "WECHAT_NOT_BOUND"));
    let (s, v) = app.call("POST", "/v1/sessions/wechat", None, Some(json!({"code": "garbage"}))).await;
    assert_eq!((s, code_of(&v)), (401, "WECHAT_CODE_INVALID"));
}

async fn one_wechat_user_binds_one_candidate(app: TestApp) {
    let zhang = app.register(&ZHANG).await;
    let zhao = app.register(&ZHAO).await;
    app.bind_wechat(&zhang, "shared-phone").await;
    let (s, v) = app.call("POST", "/v1/account/wechat", Some(&zhao), Some(json!({"code": "local-shared-phone"}))).await;
    assert_eq!((s, code_of(&v)), (409, "WECHAT_BOUND_TO_OTHER"));
    let (_, v) = app.call("GET", "/v1/account", Some(&zhao), None).await;
    assert_eq!(v["wechat_bound"], false, "the refused binding left nothing behind");
    // Re-binding the same candidate to a new WeChat user releases the old one.
    app.bind_wechat(&zhang, "new-phone").await;
    app.bind_wechat(&zhao, "shared-phone").await;
}

async fn r13_a_replacement_photo_is_checked_after_upload(app: TestApp) {
    let token = start(&app, &ZHANG, "41").await;
    fill_all(&app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    let upload = format!("{P}/photo/upload-url");
    let small = app.upload_photo(&token, &upload, 200, 300, 60_000).await;
    let (s, v) = app
        .call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "replacement", "key": small})))
        .await;
    assert_eq!((s, code_of(&v)), (422, "PHOTO_TOO_SMALL"));
    // The upload URL itself refuses a file below the size floor or of another type. Locally the
    // server enforces the signed grant; on S3 the signed POST policy does — moto doesn't enforce
    // policies, so there we check the policy carries the limits (its signature is tested against
    // AWS's published example in shared::adapters::s3).
    let (_, ticket) = app.call("POST", &upload, Some(&token), None).await;
    if ticket["method"] == "PUT" {
        let url = ticket["url"].as_str().unwrap();
        let (s, v) = app
            .raw("PUT", url, &[("content-type", "image/jpeg")], shared::photo::synthetic_jpeg(400, 600, 10_000))
            .await;
        assert_eq!((s, code_of(&v)), (400, "UPLOAD_SIZE_OUT_OF_RANGE"));
        let (s, v) = app
            .raw("PUT", url, &[("content-type", "image/png")], shared::photo::synthetic_jpeg(400, 600, 60_000))
            .await;
        assert_eq!((s, code_of(&v)), (400, "UPLOAD_TYPE_MISMATCH"));
    } else {
        use base64::Engine;
        let policy =
            base64::engine::general_purpose::STANDARD.decode(ticket["fields"]["policy"].as_str().unwrap()).unwrap();
        let policy: Value = serde_json::from_slice(&policy).unwrap();
        let spec = &app.running.deps.reference.photo();
        let conditions = policy["conditions"].as_array().unwrap();
        assert!(conditions.contains(&json!(["content-length-range", spec.min_bytes, spec.max_bytes])), "{policy}");
        assert!(conditions.contains(&json!({"Content-Type": "image/jpeg"})), "{policy}");
        assert!(conditions.contains(&json!({"key": ticket["key"]})), "{policy}");
    }
    // Someone else's upload can't be claimed.
    let zhao = app.register(&ZHAO).await;
    let theirs = app.upload_photo(&zhao, "/v1/account/photo/upload-url", 400, 600, 60_000).await;
    let (s, v) = app
        .call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "replacement", "key": theirs})))
        .await;
    assert_eq!((s, code_of(&v)), (403, "NOT_YOUR_UPLOAD"));
    let good = app.upload_photo(&token, &upload, 413, 626, 60_000).await;
    let (s, v) =
        app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "replacement", "key": good}))).await;
    assert_eq!((s, v["photo"]["source"].as_str()), (200, Some("replacement")));
}

async fn r40_r41_an_online_confirmation_district_uploads_materials_before_submitting(app: TestApp) {
    let token = start(&app, &ZHANG, "12").await;
    let (s, v) = page(&app, &token, "site", site("1201")).await;
    assert_eq!((s, code_of(&v)), (409, "POINT_REQUIRED"));
    assert_eq!(page(&app, &token, "site", json!({"site": "1201", "point": "1201P1"})).await.0, 200);
    for (name, body) in [
        ("basic", basic()),
        ("contact", contact()),
        ("exam", exam(&["1", "2", "3", "4"])),
        ("education", json!({"degree_record_id": "d1"})),
        ("work", work("天津医院")),
    ] {
        assert_eq!(page(&app, &token, name, body).await.0, 200);
    }
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    // R41: the form can be viewed before uploading — a preview, with no code that confirms.
    let (s, form) = app.call("GET", &format!("{P}/form"), Some(&token), None).await;
    assert_eq!((s, form["preview"].as_bool(), form["verification_code"].is_null()), (200, Some(true), true), "{form}");
    assert!(form["point_name"].is_string(), "{form}");
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (409, "MATERIALS_INCOMPLETE"));
    // R41: the district declares its proofs; the view lists them with what is uploaded.
    let (_, v) = app.call("GET", P, Some(&token), None).await;
    let proofs: Vec<(String, u64)> = v["proofs"]
        .as_array()
        .expect("proofs")
        .iter()
        .map(|p| (p["kind"].as_str().unwrap().to_string(), p["min_files"].as_u64().unwrap()))
        .collect();
    assert!(proofs.iter().any(|(k, n)| k == "id_card" && *n == 2), "{v}");
    // A kind the district does not ask for gets no ticket.
    let (s, e) = app.call("POST", &format!("{P}/materials/marriage_cert/upload-url"), Some(&token), None).await;
    assert_eq!((s, code_of(&e), e["field"].as_str()), (404, "UNKNOWN_MATERIAL_KIND", Some("kind")));
    for (kind, n) in &proofs {
        for slot in 1..=*n {
            let key = app.upload_photo(&token, &format!("{P}/materials/{kind}/upload-url"), 800, 600, 20_000).await;
            let body = json!({"key": key, "slot": slot});
            let (s, v) = app.call("PUT", &format!("{P}/materials/{kind}"), Some(&token), Some(body)).await;
            assert_eq!(s, 200, "{v}");
            if kind == "id_card" && slot == 1 {
                // Upload all names what is still missing.
                let (s, e) = app.call("POST", &format!("{P}/materials/complete"), Some(&token), None).await;
                assert_eq!((s, code_of(&e)), (409, "MATERIALS_MISSING"), "{e}");
                assert!(e["message"].as_str().unwrap().contains("身份证"), "{e}");
            }
        }
    }
    let (s, v) = app.call("POST", &format!("{P}/materials/complete"), Some(&token), None).await;
    assert_eq!(
        (s, v["progress"][1]["node"].as_str(), v["progress"][1]["state"].as_str()),
        (200, Some("upload"), Some("done"))
    );
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("submitted")));
    let (s, form) = app.call("GET", &format!("{P}/form"), Some(&token), None).await;
    assert_eq!((s, form["preview"].as_bool()), (200, Some(false)));
    assert_eq!(form["verification_code"], v["verification_code"], "the submitted form carries the live code");
}

async fn concurrent_submits_have_exactly_one_winner(app: TestApp) {
    let token = start(&app, &ZHANG, "41").await;
    fill_all(&app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    let path = format!("{P}/submit");
    let submit = || app.call("POST", &path, Some(&token), None);
    let results = tokio::join!(submit(), submit(), submit(), submit(), submit(), submit(), submit(), submit());
    let all = [results.0, results.1, results.2, results.3, results.4, results.5, results.6, results.7];
    let winners = all.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(winners, 1, "{all:?}");
    for (s, v) in all.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*s, 409);
        assert!(["ALREADY_SUBMITTED", "CONCURRENT_UPDATE"].contains(&code_of(v)), "{v}");
    }
    let (_, v) = app.call("GET", P, Some(&token), None).await;
    let winner_code = all.iter().find(|(s, _)| *s == 200).unwrap().1["verification_code"].clone();
    assert_eq!(v["verification_code"], winner_code, "the stored code is the winner's");
}

async fn a_stale_write_loses_to_the_write_that_came_first(app: TestApp) {
    use store::layout::application_writes;
    use store::{decode, keys};
    let token = start(&app, &ZHANG, "41").await;
    let cid = token.split('.').next().unwrap();
    let table = &app.running.deps.table;
    let key = keys::application(cid, "2025-health");
    let read = decode::<shared::domain::application::Application>(&table.get(&key).await.unwrap().unwrap()).unwrap();
    // Meanwhile the candidate saves a page through the API…
    assert_eq!(page(&app, &token, "site", site("4101")).await.0, 200);
    // …so a writer still holding the old version must fail, and change nothing.
    let actor = shared::domain::application::Actor::System;
    let r = &app.running.deps.reference;
    let ctx = (&r.projects()[&read.value.project], &r.districts()[&read.value.district]);
    let writes = application_writes(&read.value, Some(read.ver), &[], &actor, e2e::NOW, ctx).unwrap();
    let r = table.transact(writes).await;
    assert!(matches!(r, Err(store::StoreError::Conflict { at: 0, .. })), "{r:?}");
    let (_, v) = app.call("GET", P, Some(&token), None).await;
    assert_eq!(v["pages"]["site"]["site"], "4101");
}

async fn the_openapi_document_lists_every_route_the_handlers_serve(app: TestApp) {
    let (s, doc) = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(s, 200);
    for r in edge::api::ROUTES {
        // The pages route is listed once per page, each with that page's body.
        let paths: Vec<String> = if r.path.contains("{page}") {
            edge::api::PAGE_BODIES.iter().map(|(p, _)| r.path.replace("{page}", p)).collect()
        } else {
            vec![r.path.to_string()]
        };
        for path in paths {
            let op = &doc["paths"][&path][r.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {path} missing from /openapi.json", r.method);
        }
    }
    let contact = &doc["paths"]["/v1/applications/{project}/pages/contact"]["put"]["requestBody"];
    assert_eq!(contact["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ContactPageInput");
    assert!(doc["components"]["schemas"]["ExamPageInput"]["properties"]["first_registration"].is_object());
}

async fn r1_an_account_is_registered_once_per_account_name_and_per_id_document(app: TestApp) {
    app.register(&ZHANG).await;
    let body = |account: &str, p: &e2e::Person| {
        json!({"account": account, "password": PASSWORD, "name": p.name, "id_type": "resident_id", "id_number": p.id_number,
               "gender": p.gender, "birth_date": p.birth_date, "nationality": "中国", "phone": "13912345678"})
    };
    let (s, v) = app.call("POST", "/v1/accounts", None, Some(body("second_acct", &ZHANG))).await;
    assert_eq!((s, code_of(&v), v["field"].as_str()), (409, "ID_ALREADY_REGISTERED", Some("id_number")));
    let (s, v) = app.call("POST", "/v1/accounts", None, Some(body("ZHANG_SAN", &ZHAO))).await;
    assert_eq!((s, code_of(&v)), (409, "ACCOUNT_TAKEN"), "account names are case-insensitive");
    // The refused registrations left nothing: Zhao can still register under a fresh name.
    let (s, _) = app.call("POST", "/v1/accounts", None, Some(body("zhao_liu", &ZHAO))).await;
    assert_eq!(s, 201);
    // R1: degree records are maintained on the account.
    let token = app.register(&WANG).await;
    let degree = json!({"level": "master", "school": "北京大学", "major": "护理学", "graduated": "2018-07"});
    let (s, v) = app.call("POST", "/v1/account/degrees", Some(&token), Some(degree)).await;
    assert_eq!((s, v["degrees"][1]["id"].as_str()), (201, Some("d2")));
}

async fn r4_an_application_names_an_open_project_and_a_real_district(app: TestApp) {
    let token = app.register(&ZHANG).await;
    app.bind_wechat(&token, "zhang").await;
    let create = |project: &str, district: &str| json!({"project": project, "district": district});
    let (s, v) = app.call("POST", "/v1/applications", Some(&token), Some(create("2099-health", "41"))).await;
    assert_eq!((s, code_of(&v), v["field"].as_str()), (422, "UNKNOWN_PROJECT", Some("project")));
    let (s, v) = app.call("POST", "/v1/applications", Some(&token), Some(create("2025-health", "99"))).await;
    assert_eq!((s, code_of(&v), v["field"].as_str()), (422, "UNKNOWN_DISTRICT", Some("district")));
    app.clock.set(time::macros::datetime!(2024-12-10 00:00 +08:00));
    // The session of 12-01 has expired by now: log in again, then meet the closed window.
    let (_, v) = app
        .call("POST", "/v1/sessions/password", None, Some(json!({"account": ZHANG.account, "password": PASSWORD})))
        .await;
    let later = v["token"].as_str().unwrap().to_string();
    let (s, v) = app.call("POST", "/v1/applications", Some(&later), Some(create("2025-health", "41"))).await;
    assert_eq!((s, code_of(&v)), (409, "REGISTRATION_CLOSED"));
    app.clock.set(e2e::NOW);
    let (s, v) = app.call("POST", "/v1/applications", Some(&token), Some(create("2025-nurse", "41"))).await;
    assert_eq!((s, v["project_name"].as_str()), (201, Some("2025年护士执业资格考试")));
    let (s, _) = app.call("POST", "/v1/applications", Some(&token), Some(create("2025-health", "41"))).await;
    assert_eq!(s, 201, "one application per project, several projects per candidate");
}

async fn r21_no_identity_field_can_be_changed_through_any_page(app: TestApp) {
    let token = start(&app, &ZHANG, "41").await;
    for field in ["name", "id_type", "id_number", "gender", "birth_date", "nationality"] {
        for p in ["site", "basic", "contact", "exam", "education", "work"] {
            let mut body = match p {
                "site" => site("4101"),
                "basic" => basic(),
                "contact" => contact(),
                "exam" => exam(&["1", "2", "3", "4"]),
                "education" => json!({"degree_record_id": "d1"}),
                _ => work("郑州市第一人民医院"),
            };
            body[field] = json!("x");
            let (s, v) = page(&app, &token, p, body).await;
            assert_eq!((s, code_of(&v), v["field"].as_str()), (422, "IDENTITY_IMMUTABLE", Some(field)), "{p}.{field}");
        }
    }
    let (_, form_less) = app.call("GET", "/v1/account", Some(&token), None).await;
    assert_eq!(form_less["name"], ZHANG.name);
}

async fn the_candidate_path_costs_one_round_trip_per_read_and_at_most_two_per_write(app: TestApp) {
    let token = app.register(&ZHANG).await;
    app.bind_wechat(&token, "zhang").await;
    let budget = |what: &str, n: u64, max: u64| assert!(n <= max, "{what}: {n} round trips, budget {max}");
    app.counts.take();
    let (s, _) = app
        .call("POST", "/v1/applications", Some(&token), Some(json!({"project": "2025-health", "district": "41"})))
        .await;
    assert_eq!(s, 201);
    budget("create application", app.counts.take(), 2);
    app.call("GET", P, Some(&token), None).await;
    assert_eq!(app.counts.take(), 1, "read application");
    app.call(
        "POST",
        &format!("{P}/agreement"),
        Some(&token),
        Some(json!({"important_version": "2025.1", "integrity_version": "2025.1"})),
    )
    .await;
    budget("agree", app.counts.take(), 2);
    for (name, body) in [
        ("site", site("4101")),
        ("basic", basic()),
        ("contact", contact()),
        ("exam", exam(&["1", "2", "3", "4"])),
        ("education", json!({"degree_record_id": "d1"})),
        ("work", work("郑州市第一人民医院")),
    ] {
        assert_eq!(page(&app, &token, name, body).await.0, 200);
        budget(name, app.counts.take(), 2);
    }
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    budget("photo", app.counts.take(), 2);
    let (s, _) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200);
    budget("submit", app.counts.take(), 2);
    app.call("GET", &format!("{P}/form"), Some(&token), None).await;
    assert_eq!(app.counts.take(), 1, "read form");
    app.call("POST", &format!("{P}/withdraw"), Some(&token), None).await;
    budget("withdraw", app.counts.take(), 2);
    // A refused write costs the read only: nothing is attempted.
    let (s, _) = page(&app, &token, "contact", json!({"phone": "1", "address": "x"})).await;
    assert_eq!(s, 400);
    assert_eq!(app.counts.take(), 0, "malformed input is refused before any I/O");
}

/// An accepted photo is pinned to the bytes that were checked: uploading something else to the
/// same upload key afterwards (the ticket still allows it) changes nothing the application
/// points at; the bytes are stored under their own hash, outside the upload prefix.
async fn an_accepted_upload_cannot_be_swapped_afterwards(app: TestApp) {
    use sha2::{Digest, Sha256};
    let token = start(&app, &ZHANG, "41").await;
    fill_all(&app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    let (s, ticket) = app.call("POST", &format!("{P}/photo/upload-url"), Some(&token), None).await;
    assert_eq!(s, 200, "{ticket}");
    let key = ticket["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("uploads/"), "tickets point at the short-lived prefix: {key}");
    let checked = shared::photo::synthetic_jpeg(413, 626, 60_000);
    assert!(local_server::upload::upload(&ticket, "image/jpeg", checked.clone()).await.unwrap() < 300);
    app.await_judged(&key).await;
    let (s, v) =
        app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "replacement", "key": key}))).await;
    assert_eq!(s, 200, "{v}");
    // The same ticket, other bytes: a valid JPEG of another size.
    let swapped = shared::photo::synthetic_jpeg(500, 700, 70_000);
    assert!(local_server::upload::upload(&ticket, "image/jpeg", swapped.clone()).await.unwrap() < 300);
    let cid = token.split('.').next().unwrap();
    let item = app.running.deps.table.get(&store::keys::application(cid, "2025-health")).await.unwrap().unwrap();
    let stored: shared::domain::application::Application = store::decode(&item).unwrap().value;
    let photo = stored.photo.expect("the replacement photo is on the application").photo;
    let sha: String = Sha256::digest(&checked).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(photo.key, format!("photos/{cid}/{sha}.jpg"), "pinned under the checked bytes' hash");
    assert_eq!((photo.width, photo.height, photo.bytes), (413, 626, 60_000));
    let bytes = app.running.deps.objects.read_prefix(&photo.key, 1 << 22).await.unwrap();
    assert_eq!(bytes, checked, "the record's object is the checked bytes, not the later upload");
    // Once submitted, no upload can be used: no ticket either, and the answer says why.
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.call("POST", &format!("{P}/photo/upload-url"), Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (409, "WITHDRAW_FIRST"));
}

/// R13 against files a real encoder wrote (Pillow, `tests/fixtures/make_photos.py`): a phone
/// camera's JPEG with EXIF and a progressive JPEG are accepted; the same camera file cut short,
/// and a PNG named `.jpg`, are refused — both pass a check of the first bytes or of the name.
async fn r13_the_photo_check_reads_real_encoders_files_whole(app: TestApp) {
    let dir = e2e::photo_fixtures();
    let token = start(&app, &ZHANG, "41").await;
    fill_all(&app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    for (file, status, code) in [
        ("camera.jpg", 200, ""),
        ("progressive.jpg", 200, ""),
        ("truncated.jpg", 422, "PHOTO_NOT_JPEG"),
        ("png-renamed.jpg", 422, "PHOTO_NOT_JPEG"),
    ] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap();
        assert!(bytes.len() > 46_081, "{file} is above the size floor: the check, not the size, decides");
        let (_, ticket) = app.call("POST", &format!("{P}/photo/upload-url"), Some(&token), None).await;
        assert!(local_server::upload::upload(&ticket, "image/jpeg", bytes).await.unwrap() < 300, "{file}");
        let key = ticket["key"].as_str().unwrap();
        app.await_judged(key).await;
        // The judgement is in the application view, with the reason when refused.
        let (_, view) = app.call("GET", P, Some(&token), None).await;
        let seen = view["uploads"].as_array().unwrap().iter().find(|u| u["key"] == key).cloned().unwrap();
        let expected = if status == 200 { "accepted" } else { "rejected" };
        assert_eq!(seen["status"], expected, "{file}: {seen}");
        if status != 200 {
            assert_eq!((seen["code"].as_str(), seen["message"].is_string()), (Some(code), true), "{file}: {seen}");
        }
        let body = json!({"source": "replacement", "key": ticket["key"]});
        let (s, v) = app.call("PUT", &format!("{P}/photo"), Some(&token), Some(body)).await;
        assert_eq!((s, if s == 200 { "" } else { code_of(&v) }), (status, code), "{file}: {v}");
    }
}

/// R2 under 等保: five wrong passwords in a window lock the account for 15 minutes (429, a stable
/// code, the unlock time); the right password is refused while locked and works after; an
/// unknown account name locks the same way (no hint which accounts exist). The counters live in
/// the table, so every instance sees them.
async fn r2_repeated_wrong_passwords_lock_the_account_for_a_while(app: TestApp) {
    app.register(&ZHANG).await;
    let login = |account: &'static str, password: &'static str| {
        app.call("POST", "/v1/sessions/password", None, Some(json!({"account": account, "password": password})))
    };
    for i in 1..5 {
        let (s, v) = login(ZHANG.account, "wrong-pass-1").await;
        assert_eq!((s, code_of(&v)), (401, "BAD_CREDENTIALS"), "attempt {i}: {v}");
    }
    let (s, v) = login(ZHANG.account, "wrong-pass-1").await;
    assert_eq!((s, code_of(&v)), (429, "ACCOUNT_LOCKED"), "the fifth failure locks: {v}");
    assert!(v["message"].as_str().unwrap().contains("北京时间"), "{v}");
    let (s, v) = login(ZHANG.account, PASSWORD).await;
    assert_eq!((s, code_of(&v)), (429, "ACCOUNT_LOCKED"), "the right password waits too: {v}");

    // An account name nobody registered behaves the same.
    for _ in 1..5 {
        assert_eq!(login("nobody_here", "wrong-pass-1").await.0, 401);
    }
    assert_eq!(code_of(&login("nobody_here", "wrong-pass-1").await.1), "ACCOUNT_LOCKED");

    app.clock.set(e2e::NOW + time::Duration::minutes(16));
    let (s, v) = login(ZHANG.account, PASSWORD).await;
    assert_eq!(s, 200, "after the lock the right password works: {v}");
}

/// Minting upload tickets is bounded per candidate (a real upload needs a handful).
async fn upload_tickets_are_rate_limited_per_candidate(app: TestApp) {
    let token = app.register(&ZHANG).await;
    // Registering took one ticket already: the registration photo.
    let max = services::limits::UPLOAD_TICKETS.max;
    for i in 1..max {
        let (s, v) = app.call("POST", "/v1/account/photo/upload-url", Some(&token), None).await;
        assert_eq!(s, 200, "ticket {i}: {v}");
    }
    let (s, v) = app.call("POST", "/v1/account/photo/upload-url", Some(&token), None).await;
    assert_eq!((s, code_of(&v)), (429, "TOO_MANY_REQUESTS"), "{v}");
    // Another candidate is not affected.
    let other = app.register(&ZHAO).await;
    assert_eq!(app.call("POST", "/v1/account/photo/upload-url", Some(&other), None).await.0, 200);
}

/// The local server on `on` over a table that misbehaves as `fault` says while the flag is set.
async fn faulty_app(on: On, fault: e2e::counting::Fault) -> (TestApp, Arc<std::sync::atomic::AtomicBool>) {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let inner_flag = flag.clone();
    let layer: local_server::TableLayer =
        Box::new(move |t| Arc::new(e2e::counting::FaultyTable::new(t, inner_flag, fault)));
    (e2e::spawn_app_with(on, Some(layer)).await, flag)
}

/// A handler that panics costs that request a 500; the server keeps serving the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_request_is_a_500_and_the_local_server_keeps_serving() {
    use std::sync::atomic::Ordering;
    let (app, fail) = faulty_app(On::Sqlite, e2e::counting::Fault::Panic).await;
    let token = start(&app, &ZHANG, "41").await;
    fail.store(true, Ordering::SeqCst);
    let (s, v) = page(&app, &token, "site", site("4101")).await;
    assert_eq!((s, code_of(&v)), (500, "INTERNAL"), "{v}");
    fail.store(false, Ordering::SeqCst);
    assert_eq!(page(&app, &token, "site", site("4101")).await.0, 200, "the next request is served");
}

/// A commit whose response is lost and which is sent again (the SDK's retry) answers with the
/// committed result, not a conflict with itself: the transaction's ClientRequestToken is
/// derived from its writes. Run on the embedded table, which honours the token as DynamoDB
/// does; moto ignores ClientRequestToken (its DynamoDB model has no reference to it), so on moto
/// the replay would be a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_commit_returns_the_committed_result_instead_of_a_conflict() {
    use std::sync::atomic::Ordering;
    let (app, replay) = faulty_app(On::Sqlite, e2e::counting::Fault::ReplayOnce).await;
    let token = start(&app, &ZHANG, "41").await;
    replay.store(true, Ordering::SeqCst);
    let (s, v) = page(&app, &token, "site", site("4101")).await;
    assert_eq!(s, 200, "the retry of a committed write is answered as the commit: {v}");
    assert!(!replay.load(Ordering::SeqCst), "the replay happened");
    let (_, v) = app.call("GET", P, Some(&token), None).await;
    assert_eq!(v["pages"]["site"]["site"], "4101");
    assert_eq!(page(&app, &token, "basic", basic()).await.0, 200, "and the application moves on");
}

async fn a_throttled_write_answers_503_and_leaves_nothing_behind(on: On) {
    use std::sync::atomic::Ordering;
    let (app, fail) = faulty_app(on, e2e::counting::Fault::Throttle).await;
    let token = start(&app, &ZHANG, "41").await;
    assert_eq!(page(&app, &token, "site", site("4101")).await.0, 200);
    fail.store(true, Ordering::SeqCst);
    let (s, v) = page(&app, &token, "basic", basic()).await;
    assert_eq!((s, code_of(&v)), (503, "UNAVAILABLE"));
    let (s, v) = app.call("PUT", &format!("{P}/district"), Some(&token), Some(json!({"district": "11"}))).await;
    assert_eq!((s, code_of(&v)), (503, "UNAVAILABLE"));
    fail.store(false, Ordering::SeqCst);
    let (_, v) = app.call("GET", P, Some(&token), None).await;
    assert_eq!((v["district"].as_str(), v["pages"]["basic"].is_null()), (Some("41"), true), "no half-applied change");
    assert_eq!(v["pages"]["site"]["site"], "4101");
    // Retrying after the fault succeeds.
    assert_eq!(page(&app, &token, "basic", basic()).await.0, 200);
}

#[tokio::test]
async fn sqlite_a_throttled_write_answers_503_and_leaves_nothing_behind() {
    a_throttled_write_answers_503_and_leaves_nothing_behind(On::Sqlite).await
}

#[tokio::test]
async fn dynamodb_a_throttled_write_answers_503_and_leaves_nothing_behind() {
    a_throttled_write_answers_503_and_leaves_nothing_behind(On::Moto).await
}

e2e::on_both_backends!(
    the_candidate_path_costs_one_round_trip_per_read_and_at_most_two_per_write,
    a_stale_write_loses_to_the_write_that_came_first,
    a_first_time_candidate_registers_fills_submits_withdraws_and_resubmits,
    r19_changing_district_before_submitting_clears_the_application,
    a_candidate_reaches_only_their_own_application,
    bad_input_gets_a_4xx_with_a_stable_code_a_chinese_message_and_the_field,
    r32_r35_r33_r37_a_historical_candidate_rolls_subjects_and_is_auto_confirmed,
    r38_a_candidate_absent_last_year_is_not_historical,
    r2_face_id_and_mini_program_login,
    one_wechat_user_binds_one_candidate,
    r13_a_replacement_photo_is_checked_after_upload,
    r40_r41_an_online_confirmation_district_uploads_materials_before_submitting,
    concurrent_submits_have_exactly_one_winner,
    the_openapi_document_lists_every_route_the_handlers_serve,
    r1_an_account_is_registered_once_per_account_name_and_per_id_document,
    r4_an_application_names_an_open_project_and_a_real_district,
    r21_no_identity_field_can_be_changed_through_any_page,
    r2_repeated_wrong_passwords_lock_the_account_for_a_while,
    an_accepted_upload_cannot_be_swapped_afterwards,
    r13_the_photo_check_reads_real_encoders_files_whole,
    upload_tickets_are_rate_limited_per_candidate,
);
