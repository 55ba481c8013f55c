//! The `login` function: account registration (R1, R3), password / face / mini-program login
//! (R2), WeChat and Baidu binding, logout, degree records (R11) and the registration photo. Handlers parse
//! into types, call the account service, render; the rules live in the service and the domain.

pub mod compose;

use edge::api::{Function, RouteId, resolve};
use edge::http::{HttpResponse, bearer, json_response, no_content, no_route, parse_body, segments};
use edge::wire::{
    AccountView, DegreeInput, FaceAttemptView, FaceLogin, FaceStartRequest, LoginCode, PasswordLogin, RegisterRequest,
    SessionView, UploadedObject,
};
use lambda_http::Request;
use services::accounts::{Accounts, NewAccount, NewSession};
use shared::domain::account::MiniProgram;
use shared::domain::identity::Identity;
use shared::domain::values::Phone;
use shared::error::Refusal;
use std::time::Instant;

/// Handle one request. Never fails: every error becomes a response here.
pub async fn handle(accounts: &Accounts, req: Request) -> HttpResponse {
    let started = Instant::now();
    let result = route(accounts, &req).await;
    edge::http::finish("login", &req, started, result)
}

fn session(status: u16, s: NewSession) -> HttpResponse {
    json_response(
        status,
        &SessionView {
            token: s.token.as_str().to_string(),
            expires_at: s.expires_at,
            account: AccountView::of(&s.candidate),
        },
    )
}

/// Which mini-program a login or binding route is for.
fn program(route: RouteId) -> MiniProgram {
    if matches!(route, RouteId::LoginBaidu | RouteId::BindBaidu) { MiniProgram::Baidu } else { MiniProgram::Wechat }
}

async fn route(a: &Accounts, req: &Request) -> Result<HttpResponse, Refusal> {
    let (route, params) = resolve(req.method().as_str(), &segments(req))?;
    if route.function != Function::Login {
        return Err(no_route());
    }
    if route.auth {
        // 401 before anything else is looked at: no path or body check answers an anonymous caller.
        bearer(req)?;
    }
    match route.id {
        RouteId::Register => {
            let b: RegisterRequest = parse_body(req)?;
            let identity =
                Identity::new(&b.name, b.id_type, b.id_number.expose(), b.gender, &b.birth_date, &b.nationality)?;
            let phone = Phone::parse(b.phone.expose(), "phone")?;
            let degrees = b
                .degrees
                .into_iter()
                .enumerate()
                .map(|(i, d)| d.into_record(format!("d{}", i + 1)))
                .collect::<Result<Vec<_>, _>>()?;
            let new = NewAccount { account: b.account, password: b.password, identity, phone, degrees };
            Ok(session(201, a.register(new, &edge::http::source(req)).await?))
        }
        RouteId::LoginPassword => {
            let b: PasswordLogin = parse_body(req)?;
            Ok(session(200, a.login_password(&b.account, b.password.expose(), &edge::http::source(req)).await?))
        }
        RouteId::LoginWechat | RouteId::LoginBaidu => {
            let b: LoginCode = parse_body(req)?;
            Ok(session(200, a.login_mini(program(route.id), b.code.trim()).await?))
        }
        RouteId::LoginFaceStart => {
            let b: FaceStartRequest = parse_body(req)?;
            let t = a.face_start(b.id_type, b.id_number.expose(), b.code.trim()).await?;
            Ok(json_response(
                200,
                &FaceAttemptView { verify_id: t.verify_id, attempt: t.attempt, expires_at: t.expires_at },
            ))
        }
        RouteId::LoginFace => {
            let b: FaceLogin = parse_body(req)?;
            Ok(session(200, a.face_finish(&b.attempt).await?))
        }
        RouteId::Logout => {
            a.logout(&bearer(req)?).await?;
            Ok(no_content())
        }
        RouteId::GetAccount => Ok(json_response(200, &AccountView::of(&a.authenticate(&bearer(req)?).await?.value))),
        RouteId::BindWechat | RouteId::BindBaidu => {
            let b: LoginCode = parse_body(req)?;
            let c = a.bind_mini(program(route.id), &bearer(req)?, b.code.trim()).await?;
            Ok(json_response(200, &AccountView::of(&c)))
        }
        RouteId::AddDegree | RouteId::EditDegree => {
            let b: DegreeInput = parse_body(req)?;
            let id = (route.id == RouteId::EditDegree).then(|| params.get("degree_id"));
            let (c, created) = a.edit_degree(&bearer(req)?, id, |id| b.into_record(id)).await?;
            Ok(json_response(if created { 201 } else { 200 }, &AccountView::of(&c)))
        }
        RouteId::SetAccountPhoto => {
            let b: UploadedObject = parse_body(req)?;
            Ok(json_response(200, &AccountView::of(&a.set_photo(&bearer(req)?, &b.key).await?)))
        }
        _ => Err(no_route()),
    }
}
