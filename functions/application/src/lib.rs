//! The `application` function: the form steps of 网上报名 — choose project and district (R4),
//! agree to the notices (R5), fill the six pages in order (R6–R14), confirm or replace the photo
//! (R13), upload materials where confirmation is online (R41), submit (R15), withdraw (R17, R20),
//! change district (R19), read the application and the registration form; plus reference data
//! and the OpenAPI document.
//!
//! Each change: one read of session + candidate + application (one round trip), the pure
//! `decide`, then one transaction writing the application conditioned on the version read
//! together with its events. Two writers can't both win.

use lambda_http::Request;
use shared::Deps;
use shared::api::{Function, Params, RouteId, resolve};
use shared::domain::account::Candidate;
use shared::domain::application::{
    Actor, Application, ApplicationPhoto, Command, Ctx, Event, Material, PageKind, PhotoSource, Warning, decide,
};
use shared::domain::history::{LastYear, historical};
use shared::domain::values::{DistrictCode, ProjectCode};
use shared::error::{Kind, Refusal};
use shared::http::{
    HttpResponse, SessionToken, bearer, body_value, check_session, json_response, parse_body, refusal_response,
    segments,
};
use shared::ports::{StoreError, UploadPolicy};
use shared::reference::{District, Project};
use shared::store::{Versioned, application_writes, decode, keys};
use shared::wire::{
    AgreeRequest, ApplicationView, ChangeDistrictRequest, ChoosePhotoRequest, CreateApplication, DistrictView,
    ProjectView, RegistrationForm, UploadedObject, parse_page,
};
use std::time::Instant;

/// Handle one request. Never fails: every error becomes a response here.
pub async fn handle(deps: &Deps, req: Request) -> HttpResponse {
    let started = Instant::now();
    let resp = route(deps, &req).await.unwrap_or_else(|r| refusal_response(&r));
    // Paths carry project/page codes only; bodies and headers (tokens, ID numbers) are never logged.
    tracing::info!(method = %req.method(), path = %req.uri().path(), status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "application");
    resp
}

async fn route(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let (route, p) = resolve(req.method().as_str(), &segments(req))?;
    if route.function != Function::Application {
        return Err(shared::http::no_route());
    }
    match route.id {
        RouteId::ListProjects => Ok(json_response(200, &list_projects(deps))),
        RouteId::ListDistricts => {
            let project = project(deps, &p)?;
            let v: Vec<DistrictView> = deps
                .reference
                .districts
                .values()
                .map(|d| DistrictView {
                    district: d.clone(),
                    fee_per_subject: project.fee_per_subject(&d.code),
                    schedule: project.schedule(&d.code).clone(),
                })
                .collect();
            Ok(json_response(200, &v))
        }
        RouteId::ListSites => {
            project(deps, &p)?;
            let d = DistrictCode::parse(p.get("district"), "district")?;
            if !deps.reference.districts.contains_key(&d) {
                return Err(Refusal::not_found("UNKNOWN_DISTRICT", "考区不存在").field("district"));
            }
            let v: Vec<_> = deps.reference.sites.values().filter(|s| s.district == d).collect();
            Ok(json_response(200, &v))
        }
        RouteId::ListSpecialties => {
            let project = project(deps, &p)?;
            let v: Vec<_> = deps.reference.specialties.values().filter(|s| s.kind == project.kind).collect();
            Ok(json_response(200, &v))
        }
        RouteId::ListNotices => {
            let project = project(deps, &p)?;
            let v: Vec<_> = deps.reference.notices.values().filter(|n| n.project == project.id).collect();
            Ok(json_response(200, &v))
        }
        RouteId::OpenApi => Ok(json_response(200, &shared::api::openapi())),
        RouteId::CreateApplication => create(deps, req).await,
        RouteId::GetApplication => {
            let l = load(deps, req, &p).await?;
            let app = l.app()?;
            view(deps, &app.value, vec![])
        }
        RouteId::Agree => {
            let b: AgreeRequest = parse_body(req)?;
            let cmd = Command::Agree { important_version: b.important_version, integrity_version: b.integrity_version };
            change(deps, req, &p, |_| Ok(cmd)).await
        }
        RouteId::SavePage => {
            let kind = PageKind::parse(p.get("page"))
                .ok_or_else(|| Refusal::not_found("UNKNOWN_PAGE", "页面不存在").field("page"))?;
            // Parsed before any read: a malformed page costs no I/O.
            let parsed = parse_page(kind, body_value(req)?)?;
            change(deps, req, &p, move |c| Ok(Command::SavePage(parsed.resolve(c)?))).await
        }
        RouteId::ApplicationPhotoUploadUrl => {
            let l = load(deps, req, &p).await?;
            l.app()?;
            let key = format!("photos/{}/{}.jpg", l.token.candidate_id, shared::random::id());
            let policy = shared::photo::upload_policy(&deps.reference.photo);
            Ok(json_response(200, &deps.objects.upload_url(&key, &policy, deps.clock.now()).await?))
        }
        RouteId::ChoosePhoto => choose_photo(deps, req, &p).await,
        RouteId::MaterialUploadUrl => {
            let kind = material_kind(p.get("kind"))?;
            let l = load(deps, req, &p).await?;
            let app = l.app()?;
            let key =
                format!("materials/{}/{}/{kind}-{}.jpg", l.token.candidate_id, app.value.project, shared::random::id());
            let policy =
                UploadPolicy { content_type: "image/jpeg", min_bytes: 1024, max_bytes: 5 << 20, expires_in_secs: 600 };
            Ok(json_response(200, &deps.objects.upload_url(&key, &policy, deps.clock.now()).await?))
        }
        RouteId::AddMaterial => add_material(deps, req, &p).await,
        RouteId::CompleteMaterials => change(deps, req, &p, |_| Ok(Command::CompleteMaterials)).await,
        RouteId::Submit => {
            let code = shared::vcode::new_code()?;
            change(deps, req, &p, move |_| Ok(Command::Submit { code })).await
        }
        RouteId::Withdraw => change(deps, req, &p, |_| Ok(Command::Withdraw)).await,
        RouteId::ChangeDistrict => {
            let b: ChangeDistrictRequest = parse_body(req)?;
            let district = DistrictCode::parse(&b.district, "district")?;
            change(deps, req, &p, move |_| Ok(Command::ChangeDistrict { district })).await
        }
        RouteId::GetForm => {
            let l = load(deps, req, &p).await?;
            let app = l.app()?;
            Ok(json_response(200, &RegistrationForm::of(&app.value, &l.candidate.value, &deps.reference)?))
        }
        _ => Err(shared::http::no_route()),
    }
}

fn list_projects(deps: &Deps) -> Vec<ProjectView> {
    let now = deps.clock.now();
    deps.reference
        .projects
        .values()
        .map(|p| ProjectView {
            id: p.id.to_string(),
            name: p.name.clone(),
            kind: p.kind,
            year: p.year,
            exam_dates: p.exam_dates.iter().map(|d| shared::domain::values::ymd(*d)).collect(),
            subjects: deps.reference.subjects(p.kind).to_vec(),
            schedule: p.schedule.clone(),
            open: now >= p.schedule.registration_opens && now <= p.schedule.registration_closes,
        })
        .collect()
}

fn project<'a>(deps: &'a Deps, p: &Params) -> Result<&'a Project, Refusal> {
    let code = ProjectCode::parse(p.get("project"), "project")?;
    deps.reference
        .projects
        .get(&code)
        .ok_or_else(|| Refusal::not_found("UNKNOWN_PROJECT", "考试项目不存在").field("project"))
}

fn material_kind(raw: &str) -> Result<String, Refusal> {
    if raw.is_empty()
        || raw.len() > 32
        || !raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Refusal::bad("INVALID_MATERIAL_KIND", "材料类型不正确").field("kind"));
    }
    Ok(raw.to_string())
}

/// What one authenticated read returns.
struct Loaded {
    token: SessionToken,
    candidate: Versioned<Candidate>,
    app: Option<Versioned<Application>>,
}

impl Loaded {
    fn app(&self) -> Result<&Versioned<Application>, Refusal> {
        self.app.as_ref().ok_or_else(|| Refusal::not_found("NO_APPLICATION", "尚未报名该考试项目"))
    }
}

/// Session, candidate and the application under `project`: one round trip. The application key
/// is built from the session's own candidate id, so nobody reaches another candidate's data.
async fn load(deps: &Deps, req: &Request, p: &Params) -> Result<Loaded, Refusal> {
    let token = bearer(req)?;
    let project = project(deps, p)?;
    let cid = token.candidate_id.clone();
    let got = deps
        .table
        .get_many(&[token.key(), keys::candidate(&cid), keys::application(&cid, project.id.as_str())])
        .await?;
    check_session(got[0].as_ref(), &token, deps.clock.now())?;
    let candidate = decode(got[1].as_ref().ok_or_else(Refusal::internal)?)?;
    let app = got[2].as_ref().map(decode).transpose()?;
    Ok(Loaded { token, candidate, app })
}

fn context<'a>(deps: &'a Deps, app: &Application) -> Result<(&'a Project, &'a District), Refusal> {
    // Reference data is validated at start; an application naming an unknown project or
    // district means the data was changed under live applications: an operator problem.
    let project = deps.reference.projects.get(&app.project).ok_or_else(Refusal::internal)?;
    let district = deps.reference.districts.get(&app.district).ok_or_else(Refusal::internal)?;
    Ok((project, district))
}

fn view(deps: &Deps, app: &Application, warnings: Vec<Warning>) -> Result<HttpResponse, Refusal> {
    let (project, district) = context(deps, app)?;
    Ok(json_response(200, &ApplicationView::of(app, project, district, warnings)))
}

/// Load, decide, and write the result conditioned on the version read.
async fn change(
    deps: &Deps,
    req: &Request,
    p: &Params,
    make: impl FnOnce(&Candidate) -> Result<Command, Refusal>,
) -> Result<HttpResponse, Refusal> {
    let l = load(deps, req, p).await?;
    let app = l.app()?;
    let cmd = make(&l.candidate.value)?;
    let (new, warnings) = execute(deps, app, &l.candidate.value, &cmd).await?;
    view(deps, &new, warnings)
}

async fn execute(
    deps: &Deps,
    app: &Versioned<Application>,
    candidate: &Candidate,
    cmd: &Command,
) -> Result<(Application, Vec<Warning>), Refusal> {
    let (project, district) = context(deps, &app.value)?;
    let now = deps.clock.now();
    let ctx = Ctx { now, reference: &deps.reference, project, district, candidate };
    let decision = decide(&app.value, cmd, &ctx)?;
    let mut new = app.value.clone();
    for e in &decision.events {
        new.apply(e, now);
    }
    let writes = application_writes(
        &new,
        Some(app.ver),
        &decision.events,
        &Actor::Candidate(candidate.id.clone()),
        now,
        (project, district),
    )?;
    match deps.table.transact(writes).await {
        Ok(()) => Ok((new, decision.warnings)),
        Err(StoreError::Conflict { .. }) => Err(Refusal::concurrent()),
        Err(e) => Err(e.into()),
    }
}

async fn create(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let body: CreateApplication = parse_body(req)?;
    let token = bearer(req)?;
    let project_code = ProjectCode::parse(&body.project, "project")?;
    let project = deps
        .reference
        .projects
        .get(&project_code)
        .ok_or_else(|| Refusal::rule("UNKNOWN_PROJECT", "考试项目不存在").field("project"))?;
    let district_code = DistrictCode::parse(&body.district, "district")?;
    if !deps.reference.districts.contains_key(&district_code) {
        return Err(Refusal::rule("UNKNOWN_DISTRICT", "考区不存在").field("district"));
    }
    let now = deps.clock.now();
    let s = project.schedule(&district_code);
    if now < s.registration_opens || now > s.registration_closes {
        return Err(Refusal::conflict("REGISTRATION_CLOSED", "不在报名时间内"));
    }
    let cid = token.candidate_id.clone();
    // One round trip: candidate ids derive from the ID document, so last year's record is
    // addressable from the token alone.
    let got = deps
        .table
        .get_many(&[
            token.key(),
            keys::candidate(&cid),
            keys::application(&cid, project.id.as_str()),
            keys::history(project.kind, &cid, project.year - 1),
        ])
        .await?;
    check_session(got[0].as_ref(), &token, now)?;
    let candidate: Versioned<Candidate> = decode(got[1].as_ref().ok_or_else(Refusal::internal)?)?;
    if got[2].is_some() {
        return Err(Refusal::conflict("APPLICATION_EXISTS", "已报名该考试项目"));
    }
    if candidate.value.openid.is_none() {
        return Err(Refusal::conflict("WECHAT_BINDING_REQUIRED", "请先绑定微信后再选择考试"));
    }
    let doc = &candidate.value.identity.document;
    let last: Option<LastYear> = got[3].as_ref().map(decode::<LastYear>).transpose()?.map(|v| v.value);
    // R32/R38: prefill and rolling only for last year's candidates who sat and were not disqualified.
    let hist = last
        .filter(|l| l.id_type == doc.id_type && l.id_number == doc.number())
        .and_then(|l| historical(l, &deps.reference));
    let is_hist = hist.is_some();
    let app = Application::new(&cid, project.id.clone(), district_code.clone(), hist, now);
    let events = [Event::Created { district: district_code, historical: is_hist }];
    let district = deps.reference.districts.get(&app.district).ok_or_else(Refusal::internal)?;
    let writes = application_writes(&app, None, &events, &Actor::Candidate(cid), now, (project, district))?;
    match deps.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => return Err(Refusal::conflict("APPLICATION_EXISTS", "已报名该考试项目")),
        Err(e) => return Err(e.into()),
    }
    let (project, district) = context(deps, &app)?;
    Ok(json_response(201, &ApplicationView::of(&app, project, district, vec![])))
}

async fn choose_photo(deps: &Deps, req: &Request, p: &Params) -> Result<HttpResponse, Refusal> {
    let b: ChoosePhotoRequest = parse_body(req)?;
    let l = load(deps, req, p).await?;
    let app = l.app()?;
    let photo =
        match (b.source, b.key) {
            (PhotoSource::Registered, None) => l.candidate.value.photo.clone().ok_or_else(|| {
                Refusal::rule("NO_REGISTERED_PHOTO", "账号中没有注册照片,请更换考试照片").field("source")
            })?,
            (PhotoSource::Registered, Some(_)) => {
                return Err(Refusal::bad("UNEXPECTED_KEY", "使用注册照片时无需提供照片").field("key"));
            }
            (PhotoSource::Replacement, None) => return Err(Refusal::bad("MISSING_FIELD", "缺少必填项").field("key")),
            (PhotoSource::Replacement, Some(key)) => {
                own_key(&key, &format!("photos/{}/", l.candidate.value.id))?;
                shared::photo::check_photo(deps.objects.as_ref(), &key, &deps.reference.photo).await?
            }
        };
    let cmd = Command::ChoosePhoto(ApplicationPhoto { source: b.source, photo });
    let (new, warnings) = execute(deps, app, &l.candidate.value, &cmd).await?;
    view(deps, &new, warnings)
}

fn own_key(key: &str, prefix: &str) -> Result<(), Refusal> {
    if !key.starts_with(prefix) || key.contains("..") || key.len() > 300 {
        return Err(Refusal::new(Kind::Forbidden, "NOT_YOUR_UPLOAD", "文件不属于当前考生").field("key"));
    }
    Ok(())
}

async fn add_material(deps: &Deps, req: &Request, p: &Params) -> Result<HttpResponse, Refusal> {
    let kind = material_kind(p.get("kind"))?;
    let b: UploadedObject = parse_body(req)?;
    let l = load(deps, req, p).await?;
    let app = l.app()?;
    own_key(&b.key, &format!("materials/{}/{}/{kind}-", l.candidate.value.id, app.value.project))?;
    let meta = deps
        .objects
        .head(&b.key)
        .await?
        .ok_or_else(|| Refusal::rule("MATERIAL_NOT_UPLOADED", "材料尚未上传成功,请重新上传").field("key"))?;
    let head = deps.objects.read_prefix(&b.key, 3).await?;
    if head != [0xFF, 0xD8, 0xFF] {
        return Err(Refusal::rule("MATERIAL_NOT_JPEG", "材料须为JPG格式").field("key"));
    }
    let cmd = Command::AddMaterial(Material { kind, key: b.key, bytes: meta.bytes });
    let (new, warnings) = execute(deps, app, &l.candidate.value, &cmd).await?;
    view(deps, &new, warnings)
}
