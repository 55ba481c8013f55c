//! The `review` function: the staff side of the flow — staff login with password and TOTP,
//! work queues and counts, finding and confirming an application by the code on its form (R22,
//! R18, R34), the online confirmation at a registration point (R41, R42), the site and district
//! reviews (R24, R25), staff accounts, and the audit trail. Handlers parse, call the staff
//! service (decisions go through the one `Applications::execute`), render.

pub mod compose;
pub mod console;

use edge::api::{Function, Params, RouteId, resolve};
use edge::http::{HttpResponse, json_response, no_content, no_route, parse_body, query_param, segments, staff_bearer};
use edge::staff::{
    AuditPageView, AuditRecordView, DecisionKind, DecisionRequest, EnrolmentView, HistoryView, InvitationView,
    MaterialLink, NewStaffRequest, QueueCountView, QueueEntryView, QueuePageView, ScoreMergeRequest,
    StaffApplicationView, StaffEnrolRequest, StaffLoginRequest, StaffSessionView, StaffView,
};
use lambda_http::Request;
use services::applications::Target;
use services::staff::{
    Enrolment, Invitation, NewStaffByAdmin, StaffService, Stage, parse_audit_position, parse_position,
};
use services::staff_session::valid_account;
use shared::domain::account::Candidate;
use shared::domain::application::{Application, Command};
use shared::domain::values::{DistrictCode, ProjectCode, parse_text};
use shared::error::Refusal;
use std::time::Instant;

/// Handle one request. Never fails: every error becomes a response here.
pub async fn handle(staff: &StaffService, req: Request) -> HttpResponse {
    let started = Instant::now();
    let segments = segments(&req);
    let result = if console::is_console(&segments) {
        console::serve(staff, &req, &segments).await
    } else {
        route(staff, &req).await
    };
    edge::http::finish("review", &req, started, result)
}

fn project(staff: &StaffService, p: &Params) -> Result<ProjectCode, Refusal> {
    let code = ProjectCode::parse(p.get("project"), "project")?;
    if !staff.reference.projects().contains_key(&code) {
        return Err(Refusal::not_found("UNKNOWN_PROJECT", "考试项目不存在").field("project"));
    }
    Ok(code)
}

fn target(staff: &StaffService, p: &Params) -> Result<Target, Refusal> {
    let cid = p.get("candidate");
    if cid.len() != 32 || !cid.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(Refusal::bad("INVALID_CANDIDATE", "考生编号格式不正确").field("candidate"));
    }
    Ok(Target { candidate_id: cid.to_string(), project: project(staff, p)? })
}

fn code(p: &Params) -> Result<String, Refusal> {
    shared::vcode::parse_code(p.get("code"))
}

/// The application as staff see it, with signed links to its photo and proofs.
async fn view(staff: &StaffService, app: &Application, c: &Candidate) -> Result<HttpResponse, Refusal> {
    let (_, district) = staff.apps.context(app)?;
    let (photo, materials) = staff.downloads(app).await?;
    let materials = materials.into_iter().map(|(kind, slot, url)| MaterialLink { kind, slot, url }).collect();
    Ok(json_response(200, &StaffApplicationView::of(app, c, district, photo, materials)))
}

fn enrolment(status: u16, e: &Enrolment) -> HttpResponse {
    let v = EnrolmentView {
        staff: StaffView::of(&e.account),
        otpauth_uri: e.otpauth_uri.clone(),
        secret_base32: e.secret_base32.clone(),
    };
    json_response(status, &v)
}

fn invitation(status: u16, i: &Invitation) -> HttpResponse {
    let v =
        InvitationView { staff: StaffView::of(&i.account), enrolment_code: i.code.clone(), expires_at: i.expires_at };
    json_response(status, &v)
}

fn optional_district(req: &Request) -> Result<Option<DistrictCode>, Refusal> {
    query_param(req, "district").map(|d| DistrictCode::parse(&d, "district")).transpose()
}

async fn route(staff: &StaffService, req: &Request) -> Result<HttpResponse, Refusal> {
    let (route, p) = resolve(req.method().as_str(), &segments(req))?;
    if route.function != Function::Review {
        return Err(no_route());
    }
    // 401 before anything else is looked at: no path or body check answers an anonymous caller.
    let token = if route.auth { Some(staff_bearer(req)?) } else { None };
    let token = || token.clone().ok_or_else(services::staff_session::staff_unauthenticated);
    match route.id {
        RouteId::StaffLogin => {
            let b: StaffLoginRequest = parse_body(req)?;
            if b.totp.len() != 6 || !b.totp.bytes().all(|c| c.is_ascii_digit()) {
                return Err(Refusal::bad("INVALID_TOTP", "动态口令应为6位数字").field("totp"));
            }
            let s = staff.login(&b.account, b.password.expose(), &b.totp, &edge::http::source(req)).await?;
            Ok(json_response(
                200,
                &StaffSessionView {
                    token: s.token.as_str().to_string(),
                    idle_expires_at: s.idle_expires_at,
                    expires_at: s.expires_at,
                    staff: StaffView::of(&s.account),
                },
            ))
        }
        RouteId::StaffLogout => {
            staff.logout(&token()?).await?;
            Ok(no_content())
        }
        RouteId::StaffMe => Ok(json_response(200, &StaffView::of(&staff.authenticate(&token()?).await?.account))),
        RouteId::StaffQueue => {
            let project = project(staff, &p)?;
            let stage = Stage::parse(p.get("stage"))?;
            let after = query_param(req, "after").map(|a| parse_position(&a)).transpose()?;
            let limit = match query_param(req, "limit") {
                None => 50,
                Some(l) => l
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| Refusal::bad("INVALID_LIMIT", "每页条数应为1至100").field("limit"))?,
            };
            let page = staff.queue(&token()?, &project, stage, after, limit).await?;
            let entries = page.entries.iter().map(QueueEntryView::of).collect();
            Ok(json_response(200, &QueuePageView { entries, next: page.next }))
        }
        RouteId::StaffCounts => {
            let project = project(staff, &p)?;
            let counts: Vec<QueueCountView> = staff
                .counts(&token()?, &project)
                .await?
                .into_iter()
                .map(|c| QueueCountView {
                    stage: c.stage.to_string(),
                    site: c.site,
                    point: c.point,
                    count: c.count,
                    capped: c.capped,
                })
                .collect();
            Ok(json_response(200, &counts))
        }
        RouteId::StaffFindByCode => {
            let (project, code) = (project(staff, &p)?, code(&p)?);
            let loaded = staff.find_by_code(&token()?, &project, &code).await?;
            view(staff, &loaded.app()?.value, &loaded.candidate.value).await
        }
        RouteId::StaffConfirmByCode => {
            let (project, code) = (project(staff, &p)?, code(&p)?);
            let outcome = staff.confirm_by_code(&token()?, &project, &code).await?;
            view(staff, &outcome.app, &outcome.candidate).await
        }
        RouteId::StaffGetApplication => {
            let target = target(staff, &p)?;
            let loaded = staff.apps.read(&services::Principal::StaffToken(token()?), &target).await?;
            view(staff, &loaded.app()?.value, &loaded.candidate.value).await
        }
        RouteId::StaffHistory => {
            let target = target(staff, &p)?;
            Ok(json_response(200, &HistoryView::of(staff.history(&token()?, &target).await?)))
        }
        RouteId::StaffDecide => {
            let target = target(staff, &p)?;
            let b: DecisionRequest = parse_body(req)?;
            let reason = || {
                let r = b
                    .reason
                    .as_deref()
                    .ok_or_else(|| Refusal::bad("REASON_REQUIRED", "请填写不通过的原因(将告知考生)").field("reason"))?;
                parse_text(r, 200, "reason")
            };
            let cmd = match b.decision {
                DecisionKind::ApproveConfirmation => Command::ApproveConfirmation,
                DecisionKind::RejectConfirmation => Command::RejectConfirmation { reason: reason()? },
                DecisionKind::ApproveSite => Command::ApproveSite,
                DecisionKind::RejectSite => Command::RejectSite { reason: reason()? },
                DecisionKind::ApproveDistrict => Command::ApproveDistrict,
                DecisionKind::RejectDistrict => Command::RejectDistrict { reason: reason()? },
            };
            if b.reason.is_some()
                && matches!(cmd, Command::ApproveConfirmation | Command::ApproveSite | Command::ApproveDistrict)
            {
                return Err(Refusal::bad("UNEXPECTED_REASON", "通过时无需填写原因").field("reason"));
            }
            let outcome = staff.decide(&token()?, &target, cmd).await?;
            view(staff, &outcome.app, &outcome.candidate).await
        }
        RouteId::StaffScoreMerge => {
            let target = target(staff, &p)?;
            let b: ScoreMergeRequest = parse_body(req)?;
            let previous = shared::domain::identity::IdDocument::parse(b.id_type, b.id_number.expose())?;
            let outcome = staff.merge_scores(&token()?, &target, &previous).await?;
            view(staff, &outcome.app, &outcome.candidate).await
        }
        RouteId::StaffCreate => {
            let b: NewStaffRequest = parse_body(req)?;
            if !valid_account(&b.account) {
                return Err(Refusal::bad("INVALID_ACCOUNT", "账号应为4-32位小写字母、数字或下划线").field("account"));
            }
            let new = NewStaffByAdmin {
                account: b.account,
                name: parse_text(&b.name, 40, "name")?,
                role: b.role,
                area: b.area,
                admin: b.admin,
            };
            Ok(invitation(201, &staff.create(&token()?, new).await?))
        }
        RouteId::StaffList => {
            let district = optional_district(req)?;
            let list: Vec<StaffView> = staff.list_staff(&token()?, district).await?.iter().map(StaffView::of).collect();
            Ok(json_response(200, &list))
        }
        RouteId::StaffDisable => {
            let e = staff.change(&token()?, p.get("account"), false).await?;
            Ok(json_response(200, &StaffView::of(&e.account)))
        }
        RouteId::StaffReset => Ok(invitation(200, &staff.change(&token()?, p.get("account"), true).await?)),
        RouteId::StaffEnrol => {
            let b: StaffEnrolRequest = parse_body(req)?;
            Ok(enrolment(200, &staff.enrol(&b.account, b.code.expose(), b.password.expose()).await?))
        }
        RouteId::StaffAudit => {
            let day = query_param(req, "day")
                .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| Refusal::bad("INVALID_DAY", "请以YYYYMMDD格式指定日期").field("day"))?;
            let after = query_param(req, "after").map(|a| parse_audit_position(&a)).transpose()?;
            let (records, next) = staff.audit_log(&token()?, &day, optional_district(req)?, after).await?;
            let records = records
                .into_iter()
                .map(|r| AuditRecordView {
                    staff: r.staff,
                    role: r.role,
                    action: r.action,
                    target: r.target,
                    outcome: r.outcome,
                    at: r.at,
                })
                .collect();
            Ok(json_response(200, &AuditPageView { records, next }))
        }
        _ => Err(no_route()),
    }
}
