//! The deployed shape: each HTTP function is built by its own composition root from exactly the
//! environment `infra/template.yaml` gives it — references resolved to resources made on moto
//! (table, bucket, secrets in Secrets Manager) — with WeChat at a local server that speaks its
//! protocol. Then the journey a new user takes goes through the functions' handlers as API
//! Gateway events: register, bind WeChat via `jscode2session`, create, fill, photo, submit; and
//! face login through `getverifyid` / `queryverifyinfo`. Also: a missing variable stops the cold
//! start naming it, and WeChat being busy, slow or answering garbage is a 503 that writes nothing.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::stack::{Stack, template_env};
use e2e::wechat_server as wx;
use embedded::local::ManualClock;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use services::config::Env;
use std::sync::Arc;

fn request(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Request {
    let mut b = lambda_http::http::Request::builder().method(method).uri(path);
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(body.map_or(Body::Empty, |v| Body::Text(v.to_string()))).unwrap()
}

fn answer(resp: lambda_http::Response<Body>) -> (u16, Value) {
    let v = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (resp.status().as_u16(), v)
}

struct Functions {
    login: services::accounts::Accounts,
    application: application::App,
    upload: services::uploads::Uploads,
    /// The bucket's notices delivered to the upload function, as S3 invokes it.
    notices: tokio::task::JoinHandle<()>,
    review: services::staff::StaffService,
}

impl Functions {
    async fn build(stack: &Stack) -> Functions {
        // Inside the 2025 registration window: the shipped reference data's exam year.
        let clock = Arc::new(ManualClock::new(e2e::NOW));
        let login = login::compose::build(&Env::Map(stack.env("LoginFunction")), clock.clone()).await.unwrap();
        let application =
            application::compose::build(&Env::Map(stack.env("ApplicationFunction")), clock.clone()).await.unwrap();
        let upload = upload::compose::build(&Env::Map(stack.env("UploadFunction")), clock.clone()).await.unwrap();
        let notices = e2e::aws::deliver_upload_notices(stack.aws.upload_events_url.clone(), upload.clone());
        let review = review::compose::build(&Env::Map(stack.env("ReviewFunction")), clock).await.unwrap();
        Functions { login, application, upload, notices, review }
    }

    async fn staff(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        answer(review::handle(&self.review, request(method, path, token, body)).await)
    }

    /// Log a staff account in with the code its authenticator would show now.
    async fn staff_login(&self, account: &str, password: &str, secret: &str) -> String {
        let totp = services::staff::current_code(secret, e2e::NOW).unwrap();
        let body = json!({"account": account, "password": password, "totp": totp});
        let (s, v) = self.staff("POST", "/v1/staff/sessions", None, Some(body)).await;
        assert_eq!(s, 200, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    async fn login(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        answer(login::handle(&self.login, request(method, path, token, body)).await)
    }

    async fn app(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        answer(application::handle(&self.application, request(method, path, token, body)).await)
    }

    async fn upload(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        answer(upload::handle(&self.upload, request(method, path, token, body)).await)
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        self.notices.abort();
    }
}

fn registration() -> Value {
    json!({"account": "zhang_san", "password": e2e::PASSWORD, "name": "张三", "id_type": "resident_id",
           "id_number": e2e::ZHANG.id_number, "gender": "male", "birth_date": "1990-03-07", "nationality": "中国",
           "phone": "13912345678",
           "degrees": [{"level": "bachelor", "school": "郑州大学", "major": "护理学", "graduated": "2015-07"}]})
}

async fn upload(f: &Functions, token: &str, path: &str) -> String {
    let (s, ticket) = f.upload("POST", path, Some(token), None).await;
    assert_eq!(s, 200, "{ticket}");
    assert_eq!(ticket["method"], "POST", "S3 takes a signed POST policy: {ticket}");
    let status = local_server::upload::upload(&ticket, "image/jpeg", shared::photo::synthetic_jpeg(358, 441, 60_000))
        .await
        .unwrap();
    assert!((200..300).contains(&status), "S3 answered {status}");
    ticket["key"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_new_candidate_registers_binds_wechat_creates_fills_and_submits_on_the_deployed_shape() {
    let stack = Stack::new().await;
    let f = Functions::build(&stack).await;
    let (s, v) = f.login("POST", "/v1/accounts", None, Some(registration())).await;
    assert_eq!(s, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());

    // R2: the mini-program's wx.login code, exchanged with WeChat by the server.
    let code = stack.wechat.code_for("oZhangSan");
    let (s, v) = f.login("POST", "/v1/account/wechat", t, Some(json!({"code": code}))).await;
    assert_eq!((s, &v["wechat_bound"]), (200, &json!(true)), "{v}");
    assert!(!v.to_string().contains(wx::SESSION_KEY), "the session_key never leaves the server");
    // A code is single use (WeChat: 40029 on reuse) …
    let (s, v) = f.login("POST", "/v1/sessions/wechat", None, Some(json!({"code": code}))).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("WECHAT_CODE_INVALID")));
    // … and a fresh one logs the bound user in.
    let code = stack.wechat.code_for("oZhangSan");
    let (s, v) = f.login("POST", "/v1/sessions/wechat", None, Some(json!({"code": code}))).await;
    assert_eq!((s, v["account"]["account"].as_str()), (200, Some("zhang_san")), "{v}");

    // R4 onwards, on the application function.
    let (s, v) = f.app("POST", "/v1/applications", t, Some(json!({"project": "2025-health", "district": "41"}))).await;
    assert_eq!(s, 201, "{v}");
    let p = "/v1/applications/2025-health";
    let agree = json!({"important_version": "2025.1", "integrity_version": "2025.1"});
    assert_eq!(f.app("POST", &format!("{p}/agreement"), t, Some(agree)).await.0, 200);
    for (page, body) in [
        ("site", json!({"site": "4101"})),
        ("basic", json!({"id_valid_until": "2030-01-01", "ethnicity": "汉族"})),
        ("contact", json!({"phone": "13912345678", "address": "郑州市金水区", "postcode": "450000"})),
        (
            "exam",
            json!({"category": "nursing", "level": "intermediate", "specialty": "368", "practice_category": "nurse",
                   "first_registration": "2016-01", "has_residency_certificate": false,
                   "subjects": ["1", "2", "3", "4"]}),
        ),
        ("education", json!({"degree_record_id": "d1"})),
        ("work", json!({"unit_name": "郑州大学第一附属医院", "started_work": "2015-08"})),
    ] {
        let (s, v) = f.app("PUT", &format!("{p}/pages/{page}"), t, Some(body)).await;
        assert_eq!(s, 200, "{page}: {v}");
    }
    let key = upload(&f, &token, &format!("{p}/photo/upload-url")).await;
    // The upload function judges it when S3's notice arrives; until then: UPLOAD_PENDING.
    let body = json!({"source": "replacement", "key": key});
    let mut answer = f.app("PUT", &format!("{p}/photo"), t, Some(body.clone())).await;
    for _ in 0..100 {
        if answer.1["code"] != "UPLOAD_PENDING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        answer = f.app("PUT", &format!("{p}/photo"), t, Some(body.clone())).await;
    }
    let (s, v) = answer;
    assert_eq!(s, 200, "{v}");
    let (s, v) = f.app("POST", &format!("{p}/submit"), t, None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("submitted")), "{v}");
    let code = v["verification_code"].as_str().filter(|c| c.len() == 10).unwrap().to_string();

    // The staff side, on the review function: the first admin as the command-line tool makes
    // it, a district admin, a site clerk; confirm by the code on the form (R22), site review.
    let pw = "Staff-pass-2025";
    let centre = f.review.bootstrap_centre("centre_admin", "中心管理员", pw).await.unwrap();
    let centre = f.staff_login("centre_admin", pw, &centre.secret_base32).await;
    let mut made = vec![];
    for (by, account, role, area, admin) in
        [(centre.clone(), "henan_admin", "district", "41", true), (String::new(), "site_4101", "site", "4101", false)]
    {
        let by = if by.is_empty() { made.last().cloned().unwrap() } else { by };
        let body = json!({"account": account, "name": "工作人员", "role": role, "area": area, "admin": admin});
        let (s, v) = f.staff("POST", "/v1/staff/accounts", Some(&by), Some(body)).await;
        assert_eq!(s, 201, "{v}");
        // The owner enrols with the admin's one-time code: their password, their TOTP key.
        let enrol = json!({"account": account, "code": v["enrolment_code"], "password": pw});
        let (s, v) = f.staff("POST", "/v1/staff/enrolment", None, Some(enrol)).await;
        assert_eq!(s, 200, "{v}");
        made.push(f.staff_login(account, pw, v["secret_base32"].as_str().unwrap()).await);
    }
    let clerk = made[1].clone();
    let q = "/v1/staff/projects/2025-health";
    // The queue and the code are read through global indexes, which are eventually consistent:
    // read until they show the submission, as a clerk's refresh would.
    let mut seen = (0, Value::Null, 0);
    for _ in 0..40 {
        let (s, v) = f.staff("GET", &format!("{q}/queues/confirm"), Some(&clerk), None).await;
        let (found, _) = f.staff("GET", &format!("{q}/codes/{code}"), Some(&clerk), None).await;
        seen = (s, v, found);
        if seen.1["entries"].as_array().is_some_and(|e| e.len() == 1) && found == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (s, v, found) = seen;
    assert_eq!((s, v["entries"].as_array().map(Vec::len), found), (200, Some(1), 200), "{v}");
    let (s, v) = f.staff("POST", &format!("{q}/codes/{code}/confirm"), Some(&clerk), None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("confirmed")), "{v}");
    // The photo link is an S3 GET signed by the function: it fetches the pinned JPEG.
    let photo = v["photo_url"].as_str().unwrap().to_string();
    let cid = v["candidate_id"].as_str().unwrap().to_string();
    let fetched = e2e::aws::http_get(&photo).await;
    assert_eq!((fetched.0, fetched.1.get(..2)), (200, Some(&[0xff, 0xd8][..])), "a JPEG from S3");
    let decision = json!({"decision": "approve_site"});
    let (s, v) = f
        .staff("POST", &format!("/v1/staff/applications/{cid}/2025-health/decisions"), Some(&clerk), Some(decision))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("site_approved")), "{v}");
    let (_, v) = f.app("GET", p, t, None).await;
    assert_eq!(v["status"], "site_approved", "the candidate sees the site's decision");
}

#[tokio::test]
async fn r2_face_login_is_decided_by_the_provider_not_the_client_and_cannot_be_replayed() {
    let stack = Stack::new().await;
    let f = Functions::build(&stack).await;
    assert_eq!(f.login("POST", "/v1/accounts", None, Some(registration())).await.0, 201);
    let start = |code: String| json!({"id_type": "resident_id", "id_number": e2e::ZHANG.id_number, "code": code});
    let (s, t) = f.login("POST", "/v1/sessions/face/start", None, Some(start(stack.wechat.code_for("oPhone")))).await;
    assert_eq!(s, 200, "{t}");
    let finish = json!({"attempt": t["attempt"]});
    // The user has not (yet) passed the face check: the mini-program's word is not enough.
    let (s, v) = f.login("POST", "/v1/sessions/face", None, Some(finish.clone())).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("FACE_VERIFY_FAILED")));
    stack.wechat.face_matched(t["verify_id"].as_str().unwrap());
    // The access token was revoked meanwhile: the adapter refreshes it once and goes on.
    stack.wechat.revoke_tokens();
    let (s, v) = f.login("POST", "/v1/sessions/face", None, Some(finish.clone())).await;
    assert_eq!((s, v["account"]["account"].as_str()), (200, Some("zhang_san")), "{v}");
    assert_eq!(stack.wechat.token_calls(), (2, 1), "one token, then one forced refresh");
    let (s, v) = f.login("POST", "/v1/sessions/face", None, Some(finish)).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("FACE_VERIFY_FAILED")), "an attempt starts one session");
}

#[tokio::test]
async fn wechat_busy_slow_or_garbled_is_a_503_with_a_stable_code_and_nothing_is_written() {
    let stack = Stack::new().await;
    let f = Functions::build(&stack).await;
    let (_, v) = f.login("POST", "/v1/accounts", None, Some(registration())).await;
    let token = v["token"].as_str().unwrap().to_string();
    for (code, status, expected) in [
        (wx::CODE_BUSY, 503, "WECHAT_BUSY"),
        (wx::CODE_RATE_LIMITED, 503, "WECHAT_RATE_LIMITED"),
        (wx::CODE_GARBAGE, 503, "WECHAT_UNAVAILABLE"),
        (wx::CODE_HTTP_500, 503, "WECHAT_UNAVAILABLE"),
        (wx::CODE_SLOW, 503, "WECHAT_UNAVAILABLE"),
        ("never-issued", 401, "WECHAT_CODE_INVALID"),
    ] {
        let (s, v) = f.login("POST", "/v1/account/wechat", Some(&token), Some(json!({"code": code}))).await;
        assert_eq!((s, v["code"].as_str()), (status, Some(expected)), "{code}: {v}");
    }
    let (_, v) = f.login("GET", "/v1/account", Some(&token), None).await;
    assert_eq!(v["wechat_bound"], false, "no refused binding wrote anything");
}

#[tokio::test]
async fn r2_a_baidu_user_binds_then_logs_in_and_opens_an_application_one_user_one_candidate() {
    let stack = Stack::new().await;
    let f = Functions::build(&stack).await;
    let (_, v) = f.login("POST", "/v1/accounts", None, Some(registration())).await;
    let token = v["token"].as_str().unwrap().to_string();
    let code = stack.wechat.baidu_code_for("bdUser1");
    let (s, v) = f.login("POST", "/v1/sessions/baidu", None, Some(json!({"code": code}))).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("BAIDU_NOT_BOUND")), "{v}");
    // The code above was used: Baidu codes are single-use, like WeChat's.
    let (s, v) = f.login("POST", "/v1/account/baidu", Some(&token), Some(json!({"code": code}))).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("BAIDU_CODE_INVALID")), "{v}");
    let code = stack.wechat.baidu_code_for("bdUser1");
    let (s, v) = f.login("POST", "/v1/account/baidu", Some(&token), Some(json!({"code": code}))).await;
    assert_eq!((s, v["baidu_bound"].as_bool(), v["wechat_bound"].as_bool()), (200, Some(true), Some(false)), "{v}");
    let body = serde_json::to_string(&v).unwrap();
    assert!(!body.contains("bdUser1") && !body.contains(wx::BAIDU_SESSION_KEY), "neither openid nor key shown: {body}");
    let code = stack.wechat.baidu_code_for("bdUser1");
    let (s, v) = f.login("POST", "/v1/sessions/baidu", None, Some(json!({"code": code}))).await;
    assert_eq!((s, v["account"]["account"].as_str()), (200, Some("zhang_san")), "{v}");
    let baidu_token = v["token"].as_str().unwrap().to_string();
    // R2/R16: a Baidu binding reaches the candidate as a WeChat one would: they can apply.
    let body = json!({"project": "2025-health", "district": "41"});
    let (s, v) = f.app("POST", "/v1/applications", Some(&baidu_token), Some(body)).await;
    assert_eq!(s, 201, "{v}");
    // One Baidu user ↔ one candidate: another account can't take this user.
    let mut other = registration();
    other["account"] = json!("li_si_bd");
    other["id_number"] = json!(e2e::LI.id_number);
    other["name"] = json!(e2e::LI.name);
    other["gender"] = json!(e2e::LI.gender);
    other["birth_date"] = json!(e2e::LI.birth_date);
    let (s, v) = f.login("POST", "/v1/accounts", None, Some(other)).await;
    assert_eq!(s, 201, "{v}");
    let li = v["token"].as_str().unwrap().to_string();
    let code = stack.wechat.baidu_code_for("bdUser1");
    let (s, v) = f.login("POST", "/v1/account/baidu", Some(&li), Some(json!({"code": code}))).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("BAIDU_BOUND_TO_OTHER")), "{v}");
    // Baidu's faults are 503s with a stable code, and nothing is written.
    for (code, status, expected) in [
        (wx::CODE_GARBAGE, 503, "BAIDU_UNAVAILABLE"),
        (wx::CODE_HTTP_500, 503, "BAIDU_UNAVAILABLE"),
        (wx::CODE_SLOW, 503, "BAIDU_UNAVAILABLE"),
        (wx::BAIDU_CODE_CLIENT_REFUSED, 503, "BAIDU_UNAVAILABLE"),
        ("never-issued", 401, "BAIDU_CODE_INVALID"),
    ] {
        let (s, v) = f.login("POST", "/v1/account/baidu", Some(&li), Some(json!({"code": code}))).await;
        assert_eq!((s, v["code"].as_str()), (status, Some(expected)), "{code}: {v}");
    }
    let (_, v) = f.login("GET", "/v1/account", Some(&li), None).await;
    assert_eq!(v["baidu_bound"], false, "no refused binding wrote anything");
}

#[tokio::test]
async fn a_missing_or_malformed_variable_stops_the_cold_start_naming_it() {
    let stack = Stack::new().await;
    let clock = Arc::new(ManualClock::new(e2e::NOW));
    for (function, var) in [
        ("LoginFunction", "TABLE_NAME"),
        ("LoginFunction", "ID_PEPPER_SECRET_ARN"),
        ("LoginFunction", "WECHAT_APP_ID"),
        ("LoginFunction", "WECHAT_APP_SECRET_ARN"),
        ("LoginFunction", "BAIDU_APP_KEY"),
        ("LoginFunction", "BAIDU_APP_SECRET_ARN"),
        ("LoginFunction", "AWS_REGION"),
        ("ApplicationFunction", "TABLE_NAME"),
        ("ApplicationFunction", "BUCKET_NAME"),
        ("ApplicationFunction", "FORM_FONT_DIR"),
        ("UploadFunction", "TABLE_NAME"),
        ("UploadFunction", "BUCKET_NAME"),
        ("ReviewFunction", "TABLE_NAME"),
        ("ReviewFunction", "BUCKET_NAME"),
        ("ReviewFunction", "ID_PEPPER_SECRET_ARN"),
    ] {
        let mut env = stack.env(function);
        assert!(env.remove(var).is_some(), "{function} is not given {var}");
        let err = match function {
            "LoginFunction" => login::compose::build(&Env::Map(env), clock.clone()).await.err().map(|e| e.to_string()),
            "ReviewFunction" => {
                review::compose::build(&Env::Map(env), clock.clone()).await.err().map(|e| e.to_string())
            }
            "UploadFunction" => {
                upload::compose::build(&Env::Map(env), clock.clone()).await.err().map(|e| e.to_string())
            }
            _ => application::compose::build(&Env::Map(env), clock.clone()).await.err().map(|e| e.to_string()),
        };
        let err = err.unwrap_or_else(|| panic!("{function} started without {var}"));
        assert!(err.contains(var), "{function} without {var}: {err}");
    }
    let mut env = stack.env("LoginFunction");
    env.insert("WECHAT_API_BASE".into(), "http://api.weixin.qq.com".into());
    let err = login::compose::build(&Env::Map(env), clock.clone()).await.err().unwrap().to_string();
    assert!(err.contains("WECHAT_API_BASE"), "plain http to WeChat is refused: {err}");
    let mut env = stack.env("LoginFunction");
    env.insert("BAIDU_API_BASE".into(), "http://spapi.baidu.com".into());
    let err = login::compose::build(&Env::Map(env), clock.clone()).await.err().unwrap().to_string();
    assert!(err.contains("BAIDU_API_BASE"), "plain http to Baidu is refused: {err}");
    // The application function is given no secret and no WeChat: it needs neither.
    let vars: Vec<String> = template_env("ApplicationFunction").into_iter().map(|(k, _)| k).collect();
    assert!(!vars.iter().any(|k| k.contains("SECRET") || k.contains("WECHAT") || k == "QUEUE_URL"), "{vars:?}");
    // The review function reads one secret (the ID pepper, for R36) and calls no WeChat API.
    let vars: Vec<String> = template_env("ReviewFunction").into_iter().map(|(k, _)| k).collect();
    assert!(!vars.iter().any(|k| k.contains("WECHAT") || k == "QUEUE_URL" || k == "WECHAT_APP_SECRET_ARN"), "{vars:?}");
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_is_a_503_for_the_requests_that_need_it_and_nothing_is_written() {
    let stack = Stack::new().await;
    let mut env = stack.env("LoginFunction");
    // The variable is set (so the cold start goes on) but names no secret: as with a wrong ARN
    // or a missing permission, the fetch that started in init fails.
    env.insert("ID_PEPPER_SECRET_ARN".into(), "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope".into());
    let clock = Arc::new(ManualClock::new(e2e::NOW));
    // Under provisioned concurrency init is pre-paid and reads the secrets: there it stops.
    let mut provisioned = env.clone();
    provisioned.insert("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "provisioned-concurrency".into());
    let err = login::compose::build(&Env::Map(provisioned), clock.clone()).await.err().unwrap().to_string();
    assert!(err.contains("ID_PEPPER_SECRET_ARN"), "{err}");
    let accounts = login::compose::build(&Env::Map(env), clock).await.unwrap();
    let call = |method: &'static str, path: &'static str, body: Option<Value>| {
        let accounts = accounts.clone();
        async move { answer(login::handle(&accounts, request(method, path, None, body)).await) }
    };
    let (s, v) = call("POST", "/v1/accounts", Some(registration())).await;
    assert_eq!((s, v["code"].as_str()), (503, Some("UNAVAILABLE")), "{v}");
    let login = json!({"account": "zhang_san", "password": e2e::PASSWORD});
    let (s, v) = call("POST", "/v1/sessions/password", Some(login)).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("BAD_CREDENTIALS")), "the refused registration wrote nothing");
}
