//! Handler tests from `events/`: every sample API Gateway event (the files humans feed to
//! `cargo lambda invoke`) is parsed as Lambda would deliver it and replayed through its
//! function's handler, in journey order, with the expected status for each.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use edge::api::{Function, ROUTES, resolve};
use embedded::Embedded;
use embedded::local::{ManualClock, UploadGrant};
use lambda_http::{Body, Request};
use serde_json::Value;
use std::sync::Arc;

struct Harness {
    accounts: services::accounts::Accounts,
    apps: Arc<application::App>,
    uploads: services::uploads::Uploads,
    staff: services::staff::StaffService,
    payment: Arc<payment::PaymentFn>,
    embedded: Embedded,
    token: Option<String>,
    _dir: tempfile::TempDir,
}

fn event_path(function: Function, file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("events").join(function.name()).join(file)
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let embedded = Embedded::in_memory(dir.path()).unwrap();
        let system = local_server::System::embedded(&embedded, Arc::new(ManualClock::new(e2e::NOW))).unwrap();
        let (accounts, apps, staff, payment) = (system.accounts, system.application, system.staff, system.payment);
        Harness { accounts, apps, uploads: system.uploads, staff, payment, embedded, token: None, _dir: dir }
    }

    async fn send(&self, function: Function, req: Request) -> (u16, Value) {
        let resp = match function {
            Function::Login => login::handle(&self.accounts, req).await,
            Function::Application => application::handle(&self.apps, req).await,
            Function::Review => review::handle(&self.staff, req).await,
            Function::Payment => payment::handle(&self.payment, req).await,
            Function::Upload => upload::handle(&self.uploads, req).await,
        };
        let v = match resp.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (resp.status().as_u16(), v)
    }

    /// Replay `file` with the session token (the files carry a placeholder) and an optional
    /// body field replaced; check the status and, for refusals, the code.
    async fn replay(&self, file: &str, body_fix: Option<(&str, &str)>, status: u16, code: Option<&str>) -> Value {
        self.replay_with(file, &[], body_fix, status, code).await
    }

    /// [`Self::replay`] with text replaced in the event first (a path parameter, a body value).
    async fn replay_with(
        &self,
        file: &str,
        subs: &[(&str, &str)],
        body_fix: Option<(&str, &str)>,
        status: u16,
        code: Option<&str>,
    ) -> Value {
        let route = ROUTES.iter().find(|r| r.event == file).unwrap();
        let mut text = std::fs::read_to_string(event_path(route.function, file)).unwrap();
        for (from, to) in subs {
            assert!(text.contains(from), "{file} has no {from}");
            text = text.replace(from, to);
        }
        let (function, mut req) = (route.function, lambda_http::request::from_str(&text).unwrap());
        if let Some(t) = &self.token
            && req.headers().contains_key("authorization")
        {
            req.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        if let Some((field, value)) = body_fix {
            let mut body: Value = match req.body() {
                Body::Text(t) => serde_json::from_str(t).unwrap(),
                _ => panic!("{file} has no body"),
            };
            body[field] = Value::String(value.to_string());
            *req.body_mut() = Body::Text(body.to_string());
        }
        let (s, v) = self.send(function, req).await;
        assert_eq!(s, status, "{file}: {v}");
        if let Some(c) = code {
            assert_eq!(v["code"], c, "{file}");
        }
        v
    }

    /// Upload a JPEG through a ticket, as the mini-program would PUT to the signed URL, and let
    /// the upload function judge it (the local store's arrival notice).
    async fn upload(&self, ticket: &Value, bytes: Vec<u8>) -> String {
        let key = self.store(ticket, bytes);
        let arrival = services::uploads::Arrival { key: key.clone(), version: Default::default() };
        self.uploads.arrived(&arrival).await.unwrap();
        key
    }

    /// Only store the bytes (no arrival notice: the test replays S3's).
    fn store(&self, ticket: &Value, bytes: Vec<u8>) -> String {
        let key = ticket["key"].as_str().unwrap();
        let url = ticket["url"].as_str().unwrap();
        let grant = UploadGrant::from_query(url.split_once('?').unwrap().1);
        self.embedded.objects.accept_upload(key, &grant, Some("image/jpeg"), &bytes, e2e::NOW).unwrap();
        key.to_string()
    }
}

#[test]
fn every_route_has_an_event_and_every_event_names_its_route() {
    for r in ROUTES {
        let text =
            std::fs::read_to_string(event_path(r.function, r.event)).unwrap_or_else(|_| panic!("missing {}", r.event));
        let ev: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(ev["routeKey"], format!("{} {}", r.method, r.path), "{}", r.event);
        let segs: Vec<String> =
            ev["rawPath"].as_str().unwrap().split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        let (resolved, _) = resolve(r.method, &segs).unwrap();
        assert_eq!(resolved.id, r.id, "{} resolves to another route", r.event);
    }
    for function in [Function::Login, Function::Application, Function::Review, Function::Payment, Function::Upload] {
        let dir = event_path(function, "");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if function == Function::Upload && name == "s3-object-created.json" {
                continue; // S3's notice, not a route: replayed in the journey below.
            }
            assert!(ROUTES.iter().any(|r| r.event == name && r.function == function), "stray event {name}");
        }
    }
}

#[tokio::test]
async fn every_event_replays_through_its_handler_in_journey_order() {
    let mut h = Harness::new();
    h.replay("register.json", None, 201, None).await;
    let v = h.replay("login-password.json", None, 200, None).await;
    h.token = Some(v["token"].as_str().unwrap().to_string());
    h.replay("login-wechat.json", None, 401, Some("WECHAT_NOT_BOUND")).await;
    h.replay("bind-wechat.json", None, 200, None).await;
    h.replay("login-wechat.json", None, 200, None).await;
    h.replay("login-face.json", None, 401, Some("FACE_VERIFY_FAILED")).await;
    let attempt = h.replay("login-face-start.json", None, 200, None).await;
    h.replay("login-face.json", Some(("attempt", attempt["attempt"].as_str().unwrap())), 200, None).await;
    h.replay("login-baidu.json", None, 401, Some("BAIDU_NOT_BOUND")).await;
    h.replay("bind-baidu.json", None, 200, None).await;
    h.replay("login-baidu.json", None, 200, None).await;
    h.replay("get-account.json", None, 200, None).await;
    h.replay("add-degree.json", None, 201, None).await;
    h.replay("edit-degree.json", None, 200, None).await;
    let ticket = h.replay("account-photo-upload-url.json", None, 200, None).await;
    h.replay("set-account-photo.json", None, 403, Some("NOT_YOUR_UPLOAD")).await;
    let key = h.upload(&ticket, shared::photo::synthetic_jpeg(358, 441, 60_000)).await;
    h.replay("set-account-photo.json", Some(("key", &key)), 200, None).await;
    for f in [
        "list-projects.json",
        "list-districts.json",
        "list-sites.json",
        "list-specialties.json",
        "list-notices.json",
        "openapi.json",
    ] {
        h.replay(f, None, 200, None).await;
    }
    h.replay("get-application.json", None, 404, Some("NO_APPLICATION")).await;
    h.replay("list-todos.json", None, 200, None).await;
    h.replay("create-application.json", None, 201, None).await;
    h.replay("get-application.json", None, 200, None).await;
    h.replay("save-page.json", None, 409, Some("AGREEMENT_REQUIRED")).await;
    h.replay("agree.json", None, 200, None).await;
    h.replay("save-page.json", None, 200, None).await;
    let ticket = h.replay("application-photo-upload-url.json", None, 200, None).await;
    // S3's notice of the upload, replayed from its event file with the ticket's key: judged
    // once; the same notice again (S3 delivers at least once) changes nothing.
    let key = h.store(&ticket, shared::photo::synthetic_jpeg(358, 441, 60_000));
    let text = std::fs::read_to_string(event_path(Function::Upload, "s3-object-created.json")).unwrap();
    let cid = h.token.as_deref().unwrap().split('.').next().unwrap();
    let placeholder = "uploads/REPLACE-CANDIDATE/2025-health/photo-0123456789abcdef.jpg";
    assert!(text.contains(placeholder));
    let text = text.replace(placeholder, &key);
    assert!(key.starts_with(&format!("uploads/{cid}/")));
    let upload::Incoming::Objects(event) = upload::Incoming::parse(serde_json::from_str(&text).unwrap()).unwrap()
    else {
        panic!("an S3 event")
    };
    let judged = upload::handle_objects(&h.uploads, &event).await.unwrap();
    assert_eq!(judged, vec![services::uploads::Judged::Accepted]);
    let again = upload::handle_objects(&h.uploads, &event).await.unwrap();
    assert_eq!(again, vec![services::uploads::Judged::AlreadyJudged]);
    h.replay("choose-photo.json", None, 409, Some("PAGES_INCOMPLETE")).await;
    // 河南 confirms at the site: no proofs to upload, so no ticket (R41).
    h.replay("material-upload-url.json", None, 409, Some("NO_ONLINE_CONFIRMATION")).await;
    h.replay("add-material.json", None, 409, Some("NO_ONLINE_CONFIRMATION")).await;
    h.replay("complete-materials.json", None, 409, Some("NO_ONLINE_CONFIRMATION")).await;
    h.replay("submit.json", None, 409, Some("PAGES_INCOMPLETE")).await;
    h.replay("withdraw.json", None, 409, Some("NOT_SUBMITTED")).await;
    h.replay("get-form.json", None, 409, Some("NOT_SUBMITTED")).await;
    h.replay("get-form-pdf.json", None, 409, Some("NOT_SUBMITTED")).await;
    // Nothing to pay before district approval (R26).
    h.replay("get-payment.json", None, 409, Some("NOT_AWAITING_PAYMENT")).await;
    h.replay("start-payment.json", None, 409, Some("NOT_AWAITING_PAYMENT")).await;
    // WeChat Pay's notification arrives base64-encoded from API Gateway; the sample's signature
    // is a placeholder (and its timestamp long past): refused in WeChat Pay's error shape.
    h.replay("wechatpay-notify.json", None, 401, Some("FAIL")).await;
    h.replay("change-district.json", None, 200, None).await;
    h.replay("logout.json", None, 204, None).await;
    h.replay("get-account.json", None, 401, Some("UNAUTHENTICATED")).await;
}

/// The staff events, in the order a district's first day goes: the centre's admin (made from
/// the command line) creates the district admin, who creates a site clerk; queues, counts,
/// lookups and decisions on nothing yet; the audit trail; a TOTP reset and a disabling, which
/// end the clerk's session at once; logout.
#[tokio::test]
async fn every_staff_event_replays_through_the_review_handler() {
    use services::principal::Role;
    use services::staff::{NewStaffByAdmin, current_code};
    let mut h = Harness::new();
    let login = |account: &'static str, password: &'static str, secret: String| async move {
        (account, password, current_code(&secret, e2e::NOW).unwrap())
    };
    let centre = h.staff.bootstrap_centre("centre_admin", "中心管理员", "Centre-admin-2025").await.unwrap();
    let (a, p, c) = login("centre_admin", "Centre-admin-2025", centre.secret_base32).await;
    let subs = [("site_4101", a), ("Site-clerk-2025", p), ("123456", c.as_str())];
    let v = h.replay_with("staff-login.json", &subs, None, 200, None).await;
    let centre_token = services::staff_session::StaffToken::parse(v["token"].as_str().unwrap()).unwrap();
    // Replaying the same code is refused (RFC 6238 §5.2: a code is good once).
    h.replay_with("staff-login.json", &subs, None, 401, Some("TOTP_REUSED")).await;
    let new = NewStaffByAdmin {
        account: "henan_admin".into(),
        name: "河南考区管理员".into(),
        role: Role::District,
        area: "41".into(),
        admin: true,
    };
    let invite = h.staff.create(&centre_token, new).await.unwrap();
    let admin = h.staff.enrol("henan_admin", &invite.code, "Henan-admin-2025").await.unwrap();
    let (a, p, c) = login("henan_admin", "Henan-admin-2025", admin.secret_base32).await;
    let v = h
        .replay_with("staff-login.json", &[("site_4101", a), ("Site-clerk-2025", p), ("123456", &c)], None, 200, None)
        .await;
    h.token = Some(v["token"].as_str().unwrap().to_string());
    let invite = h.replay("staff-create.json", None, 201, None).await;
    assert_eq!(invite["staff"]["role"], "site");
    // The clerk enrols with the code, choosing their own password; the key is theirs alone.
    let code = invite["enrolment_code"].as_str().unwrap().to_string();
    let placeholder = "REPLACE-WITH-THE-ENROLMENT-CODE-FROM-THE-ADMIN";
    let clerk = h.replay_with("staff-enrol.json", &[(placeholder, &code)], None, 200, None).await;
    h.replay_with("staff-enrol.json", &[(placeholder, &code)], None, 401, Some("ENROLMENT_INVALID")).await;
    h.replay("staff-create.json", None, 409, Some("STAFF_EXISTS")).await;
    let list = h.replay("staff-list.json", None, 200, None).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "the admin and the clerk: {list}");
    h.replay("staff-me.json", None, 200, None).await;
    h.replay("staff-counts.json", None, 200, None).await;
    // A district has no counter of its own to confirm at.
    h.replay("staff-queue.json", None, 403, Some("NOT_PERMITTED")).await;
    let admin_token = h.token.clone();
    let secret = clerk["secret_base32"].as_str().unwrap().to_string();
    let c = current_code(&secret, e2e::NOW).unwrap();
    let v = h.replay_with("staff-login.json", &[("123456", &c)], None, 200, None).await;
    h.token = Some(v["token"].as_str().unwrap().to_string());
    let page = h.replay("staff-queue.json", None, 200, None).await;
    assert_eq!(page["entries"], serde_json::json!([]));
    h.replay("staff-find-by-code.json", None, 404, Some("CODE_NOT_FOUND")).await;
    h.replay("staff-confirm-by-code.json", None, 404, Some("CODE_NOT_FOUND")).await;
    h.replay("staff-get-application.json", None, 404, Some("NO_APPLICATION")).await;
    h.replay("staff-history.json", None, 404, Some("NO_APPLICATION")).await;
    h.replay("staff-decide.json", None, 404, Some("NO_APPLICATION")).await;
    h.replay("staff-score-merge.json", None, 404, Some("NO_APPLICATION")).await;
    // A clerk manages no one and reads no audit trail.
    h.replay("staff-list.json", None, 403, Some("NOT_PERMITTED")).await;
    h.replay("staff-audit.json", None, 403, Some("NOT_PERMITTED")).await;
    let clerk_token = h.token.clone();
    h.token = admin_token;
    let audit = h.replay("staff-audit.json", None, 200, None).await;
    let actions: Vec<&str> =
        audit["records"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    for seen in ["login", "create_staff", "find_by_code", "confirm", "view_application", "reject_site"] {
        assert!(actions.contains(&seen), "{seen} not audited: {actions:?}");
    }
    let reset = h.replay("staff-reset.json", None, 200, None).await;
    assert!(reset["enrolment_code"].as_str().is_some_and(|c| !c.is_empty() && c != code), "{reset}");
    let (admin_token, _) = (h.token.clone(), ());
    h.token = clerk_token.clone();
    h.replay("staff-me.json", None, 401, Some("STAFF_SESSION_REVOKED")).await;
    h.token = admin_token;
    let disabled = h.replay("staff-disable.json", None, 200, None).await;
    assert_eq!(disabled["disabled"], true);
    h.replay("staff-logout.json", None, 204, None).await;
    h.replay("staff-me.json", None, 401, Some("STAFF_UNAUTHENTICATED")).await;
}

#[tokio::test]
async fn events_with_the_placeholder_token_are_refused_not_crashed() {
    let h = Harness::new();
    for r in ROUTES.iter().filter(|r| r.auth) {
        let code = if r.function == Function::Review { "STAFF_UNAUTHENTICATED" } else { "UNAUTHENTICATED" };
        h.replay(r.event, None, 401, Some(code)).await;
    }
}

#[test]
fn cargo_lambda_watch_routes_every_path_to_its_function() {
    let manifest =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml")).unwrap();
    let router = manifest.split("[workspace.metadata.lambda.watch.router]").nth(1).expect("router section");
    for r in ROUTES {
        let line = format!("\"{}\" = \"{}\"", r.path, r.function.name());
        assert!(router.lines().any(|l| l.trim() == line), "Cargo.toml router lacks {line}");
    }
}

/// `infra/template.yaml` deploys every function crate and routes every path to its function.
#[test]
fn the_template_deploys_every_function_and_routes_every_path() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let template = std::fs::read_to_string(root.join("infra/template.yaml")).unwrap();
    let lines: Vec<&str> = template.lines().collect();
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            template.contains(&format!("CodeUri: ../functions/{name}\n")),
            "no function in the template builds functions/{name}"
        );
        assert!(template.contains(&format!("Binary: {name}\n")), "no BuildProperties.Binary for {name}");
    }
    // The resource a line belongs to: the nearest `  <Name>:` above it at resource indentation.
    let resource_of = |i: usize| {
        lines[..i]
            .iter()
            .rev()
            .find(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':'))
    };
    for r in ROUTES {
        let want =
            [format!("Path: {}, Method: {}", r.path, r.method), format!("Path: \"{}\", Method: {}", r.path, r.method)];
        let i = lines
            .iter()
            .position(|l| want.iter().any(|w| l.contains(w.as_str())))
            .unwrap_or_else(|| panic!("{} {} has no route in the HTTP API", r.method, r.path));
        let function = match r.function {
            Function::Login => "LoginFunction",
            Function::Application => "ApplicationFunction",
            Function::Review => "ReviewFunction",
            Function::Payment => "PaymentFunction",
            Function::Upload => "UploadFunction",
        };
        assert_eq!(resource_of(i), Some(function), "{} {} routes to the wrong function", r.method, r.path);
    }
    // The staff console's files are the review function's too.
    for path in review::console::PATHS {
        let want = [format!("Path: {path}, Method: GET"), format!("Path: \"{path}\", Method: GET")];
        let i = lines
            .iter()
            .position(|l| want.iter().any(|w| l.contains(w.as_str())))
            .unwrap_or_else(|| panic!("GET {path} (the staff console) has no route in the HTTP API"));
        assert_eq!(resource_of(i), Some("ReviewFunction"), "GET {path} routes to the wrong function");
    }
    let api_events = lines.iter().filter(|l| l.contains("Type: HttpApi")).count();
    assert_eq!(
        api_events,
        ROUTES.len() + review::console::PATHS.len(),
        "the template routes paths the handlers don't serve"
    );
}
