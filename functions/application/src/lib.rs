//! The `application` function: the form steps of 网上报名 — choose project and district (R4),
//! agree to the notices (R5), fill the six pages in order (R6–R14), confirm or replace the photo
//! (R13), upload materials where confirmation is online (R41), submit (R15), withdraw (R17, R20),
//! change district (R19), read the application and the registration form; plus reference data
//! and the OpenAPI document. Handlers parse, call the application service, render.

pub mod compose;
pub mod pdf;

use edge::api::{Function, Params, RouteId, resolve};
use edge::http::{HttpResponse, body_value, candidate, json_response, no_route, parse_body, segments};
use edge::wire::{
    AgreeRequest, ApplicationView, ChangeDistrictRequest, ChoosePhotoRequest, CreateApplication, DistrictView,
    ProjectView, RegistrationForm, UploadedMaterial, parse_page,
};
use lambda_http::Request;
use services::applications::{Applications, Intent, Outcome, Target, Upload, material_kind};
use shared::domain::application::{Application, Command, PageKind, Pages, Warning};
use shared::domain::values::{DistrictCode, ProjectCode};
use shared::error::Refusal;
use shared::reference::Project;
use std::time::Instant;

/// What the function serves with: the application service, and the fonts of the printed form.
pub struct App {
    pub apps: Applications,
    pub fonts: pdf::FormFonts,
}

/// Handle one request. Never fails: every error becomes a response here.
pub async fn handle(app: &App, req: Request) -> HttpResponse {
    let started = Instant::now();
    let result = route(app, &req).await;
    edge::http::finish("application", &req, started, result)
}

/// The form as a PDF (R15): the same checks as the JSON form, then the accepted photo read
/// once from the object store and the page rendered.
async fn form_pdf(app: &App, req: &Request, p: &Params) -> Result<HttpResponse, Refusal> {
    let apps = &app.apps;
    let (principal, target) = own(apps, req, p)?;
    let loaded = apps.read(&principal, &target).await?;
    let a = &loaded.app()?.value;
    let form = RegistrationForm::of(a, &loaded.candidate.value, &apps.reference)?;
    let fonts = app.fonts.get()?;
    let photo = match &a.photo {
        Some(ph) => Some(
            apps.objects
                .read_prefix(&ph.photo.key, usize::try_from(apps.reference.photo().max_bytes).unwrap_or(usize::MAX))
                .await?,
        ),
        None => None,
    };
    let rendered = form::render(&pdf::document(&form, photo.as_deref(), apps.clock.now()), fonts).map_err(|e| {
        tracing::error!(error = %e, "registration form did not render");
        Refusal::internal()
    })?;
    let mut resp = lambda_http::Response::new(lambda_http::Body::Binary(rendered.pdf));
    let h = resp.headers_mut();
    h.insert("content-type", lambda_http::http::HeaderValue::from_static("application/pdf"));
    // The printed form carries the full ID number: never cached on the way.
    h.insert("cache-control", lambda_http::http::HeaderValue::from_static("no-store"));
    h.insert(
        "content-disposition",
        lambda_http::http::HeaderValue::from_static("inline; filename=\"registration-form.pdf\""),
    );
    if !rendered.missing.is_empty() {
        // Reported, not dropped: the page spells such a character as [U+XXXX]; the header lets
        // the mini-program say so, and the log (code points only, never the name) tells ops
        // which character a font update must bring.
        let list: Vec<String> = rendered.missing.iter().map(|c| format!("U+{:04X}", u32::from(*c))).collect();
        tracing::warn!(missing = %list.join(","), "registration form has characters no shipped font has");
        if let Ok(v) = lambda_http::http::HeaderValue::from_str(&list.join(",")) {
            h.insert("x-form-missing-glyphs", v);
        }
    }
    Ok(resp)
}

fn project<'a>(apps: &'a Applications, p: &Params) -> Result<&'a Project, Refusal> {
    apps.project(&ProjectCode::parse(p.get("project"), "project")?)
}

/// The candidate's own application under the path's project.
fn own(apps: &Applications, req: &Request, p: &Params) -> Result<(services::Principal, Target), Refusal> {
    let principal = candidate(req)?;
    let target = Target::own(&principal, project(apps, p)?.id.clone())?;
    Ok((principal, target))
}

fn view(
    apps: &Applications,
    status: u16,
    app: &Application,
    carried: Pages,
    warnings: Vec<Warning>,
) -> Result<HttpResponse, Refusal> {
    let (project, district) = apps.context(app)?;
    let view = ApplicationView::of(app, carried, (project, district, apps.reference.materials()), warnings);
    Ok(json_response(status, &view))
}

fn outcome(apps: &Applications, status: u16, o: Outcome) -> Result<HttpResponse, Refusal> {
    view(apps, status, &o.app, o.carried_over, o.warnings)
}

async fn change(apps: &Applications, req: &Request, p: &Params, intent: Intent) -> Result<HttpResponse, Refusal> {
    let (principal, target) = own(apps, req, p)?;
    outcome(apps, 200, apps.execute(&principal, &target, intent).await?)
}

async fn route(app: &App, req: &Request) -> Result<HttpResponse, Refusal> {
    let apps = &app.apps;
    let (route, p) = resolve(req.method().as_str(), &segments(req))?;
    if route.function != Function::Application {
        return Err(no_route());
    }
    if route.auth {
        // 401 before anything else is looked at: no path or body check answers an anonymous caller.
        edge::http::bearer(req)?;
    }
    let r = &apps.reference;
    match route.id {
        RouteId::ListProjects => {
            let now = apps.clock.now();
            let v: Vec<ProjectView> = r.projects().values().map(|p| ProjectView::of(p, r, now)).collect();
            Ok(json_response(200, &v))
        }
        RouteId::ListDistricts => {
            let project = project(apps, &p)?;
            let v: Vec<DistrictView> =
                r.districts().values().map(|d| DistrictView::of(d, project, r.materials())).collect();
            Ok(json_response(200, &v))
        }
        RouteId::ListSites => {
            project(apps, &p)?;
            let d = DistrictCode::parse(p.get("district"), "district")?;
            if !r.districts().contains_key(&d) {
                return Err(Refusal::not_found("UNKNOWN_DISTRICT", "考区不存在").field("district"));
            }
            let v: Vec<_> = r.sites().values().filter(|s| s.district == d).collect();
            Ok(json_response(200, &v))
        }
        RouteId::ListSpecialties => {
            let project = project(apps, &p)?;
            let v: Vec<_> = r.specialties().values().filter(|s| s.kind == project.kind).collect();
            Ok(json_response(200, &v))
        }
        RouteId::ListNotices => {
            let project = project(apps, &p)?;
            let v: Vec<_> = r.notices().values().filter(|n| n.project == project.id).collect();
            Ok(json_response(200, &v))
        }
        RouteId::OpenApi => Ok(json_response(200, &edge::api::openapi_with(r))),
        RouteId::CreateApplication => {
            let b: CreateApplication = parse_body(req)?;
            let principal = candidate(req)?;
            let target = Target::own(&principal, ProjectCode::parse(&b.project, "project")?)?;
            let district = DistrictCode::parse(&b.district, "district")?;
            outcome(apps, 201, apps.execute(&principal, &target, Intent::Create { district }).await?)
        }
        RouteId::GetApplication => {
            let (principal, target) = own(apps, req, &p)?;
            let loaded = apps.read(&principal, &target).await?;
            let app = &loaded.app()?.value;
            view(apps, 200, app, app.carried_over(&loaded.candidate.value), vec![])
        }
        RouteId::Agree => {
            let b: AgreeRequest = parse_body(req)?;
            let cmd = Command::Agree { important_version: b.important_version, integrity_version: b.integrity_version };
            change(apps, req, &p, Intent::Command(cmd)).await
        }
        RouteId::SavePage => {
            let kind = PageKind::parse(p.get("page"))
                .ok_or_else(|| Refusal::not_found("UNKNOWN_PAGE", "页面不存在").field("page"))?;
            // Parsed before any read: a malformed page costs no I/O.
            let page = parse_page(kind, body_value(req)?)?;
            change(apps, req, &p, Intent::SavePage(page)).await
        }
        RouteId::ApplicationPhotoUploadUrl => {
            let (principal, target) = own(apps, req, &p)?;
            Ok(json_response(200, &apps.upload_ticket(&principal, &target, Upload::Photo).await?))
        }
        RouteId::ChoosePhoto => {
            let b: ChoosePhotoRequest = parse_body(req)?;
            change(apps, req, &p, Intent::ChoosePhoto { source: b.source, key: b.key }).await
        }
        RouteId::MaterialUploadUrl => {
            let kind = material_kind(p.get("kind"))?;
            let (principal, target) = own(apps, req, &p)?;
            Ok(json_response(200, &apps.upload_ticket(&principal, &target, Upload::Material { kind }).await?))
        }
        RouteId::AddMaterial => {
            let kind = material_kind(p.get("kind"))?;
            let b: UploadedMaterial = parse_body(req)?;
            change(apps, req, &p, Intent::AddMaterial { kind, slot: b.slot, key: b.key }).await
        }
        RouteId::CompleteMaterials => change(apps, req, &p, Intent::Command(Command::CompleteMaterials)).await,
        RouteId::Submit => {
            let code = shared::vcode::new_code()?;
            change(apps, req, &p, Intent::Command(Command::Submit { code })).await
        }
        RouteId::Withdraw => change(apps, req, &p, Intent::Command(Command::Withdraw)).await,
        RouteId::ChangeDistrict => {
            let b: ChangeDistrictRequest = parse_body(req)?;
            let district = DistrictCode::parse(&b.district, "district")?;
            change(apps, req, &p, Intent::Command(Command::ChangeDistrict { district })).await
        }
        RouteId::ListTodos => {
            let principal = candidate(req)?;
            let after = edge::http::query_param(req, "after")
                .map(|a| services::reminders::parse_todo_position(&a))
                .transpose()?;
            let page =
                services::reminders::todos(apps.table.as_ref(), apps.clock.as_ref(), r, &principal, after).await?;
            Ok(json_response(200, &page))
        }
        RouteId::GetForm => {
            let (principal, target) = own(apps, req, &p)?;
            let loaded = apps.read(&principal, &target).await?;
            Ok(json_response(200, &RegistrationForm::of(&loaded.app()?.value, &loaded.candidate.value, r)?))
        }
        RouteId::GetFormPdf => form_pdf(app, req, &p).await,
        _ => Err(no_route()),
    }
}
