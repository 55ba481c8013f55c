//! The `login` function: account registration (R1, R3), password / face-ID / mini-program login
//! (R2), WeChat binding, logout, degree records (R11) and the registration photo.
//!
//! Every request is parsed into types first; every write is conditional; sessions are items in
//! the table so logout (or an operator) can revoke them.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::Deps;
use shared::api::{Function, RouteId, resolve};
use shared::domain::account::Candidate;
use shared::domain::identity::{IdDocument, Identity};
use shared::domain::values::Phone;
use shared::error::{Kind, Refusal};
use shared::http::{
    HttpResponse, SessionToken, bearer, check_session, json_response, parse_body, refusal_response, segments,
};
use shared::ports::{Cond, Item, StoreError, Write};
use shared::store::{Versioned, attr, decode, encode, keys};
use shared::wire::{
    AccountView, DegreeInput, FaceLogin, PasswordLogin, RegisterRequest, SessionView, UploadedObject, WechatCode,
};
use std::time::Instant;

/// Handle one request. Never fails: every error becomes a response here.
pub async fn handle(deps: &Deps, req: Request) -> HttpResponse {
    let started = Instant::now();
    let result = route(deps, &req).await;
    let resp = result.unwrap_or_else(|r| refusal_response(&r));
    // The path may carry a degree id, never personal data; bodies and headers are not logged.
    tracing::info!(method = %req.method(), path = %req.uri().path(), status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "login");
    resp
}

async fn route(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let (route, params) = resolve(req.method().as_str(), &segments(req))?;
    if route.function != Function::Login {
        return Err(shared::http::no_route());
    }
    match route.id {
        RouteId::Register => register(deps, req).await,
        RouteId::LoginPassword => login_password(deps, req).await,
        RouteId::LoginFace => login_face(deps, req).await,
        RouteId::LoginWechat => login_wechat(deps, req).await,
        RouteId::Logout => logout(deps, req).await,
        RouteId::GetAccount => {
            let (_, c) = authenticate(deps, req).await?;
            Ok(json_response(200, &AccountView::of(&c.value)))
        }
        RouteId::BindWechat => bind_wechat(deps, req).await,
        RouteId::AddDegree => edit_degree(deps, req, None).await,
        RouteId::EditDegree => edit_degree(deps, req, Some(params.get("degree_id").to_string())).await,
        RouteId::AccountPhotoUploadUrl => photo_upload_url(deps, req).await,
        RouteId::SetAccountPhoto => set_photo(deps, req).await,
        _ => Err(shared::http::no_route()),
    }
}

/// Argon2id at the OWASP minimum (m = 19 MiB, t = 2, p = 1).
fn argon2() -> Result<Argon2<'static>, Refusal> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|_| Refusal::internal())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_password(password: &str) -> Result<String, Refusal> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| Refusal::internal())?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| Refusal::internal())?;
    Ok(argon2()?.hash_password(password.as_bytes(), &salt).map_err(|_| Refusal::internal())?.to_string())
}

fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
}

fn parse_account_name(raw: &str) -> Result<String, Refusal> {
    let s = raw.trim();
    if !(4..=32).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Refusal::bad("INVALID_ACCOUNT", "账号应为4-32位字母、数字或下划线").field("account"));
    }
    Ok(s.to_string())
}

fn check_password_strength(p: &str) -> Result<(), Refusal> {
    let n = p.chars().count();
    if !(8..=64).contains(&n) || !p.chars().any(|c| c.is_ascii_alphabetic()) || !p.chars().any(|c| c.is_ascii_digit()) {
        return Err(Refusal::bad("WEAK_PASSWORD", "密码应为8-64位,且同时包含字母和数字").field("password"));
    }
    Ok(())
}

fn session_item(deps: &Deps, token: &SessionToken) -> Result<(Item, time::OffsetDateTime), Refusal> {
    let now = deps.clock.now();
    let expires = now + deps.session_ttl;
    let key = token.key();
    let mut item = Item::new();
    item.insert("pk".into(), json!(key.pk));
    item.insert("sk".into(), json!(key.sk));
    item.insert("type".into(), json!("session"));
    item.insert("cid".into(), json!(token.candidate_id));
    item.insert("expires".into(), json!(expires.unix_timestamp()));
    // DynamoDB TTL removes dead sessions eventually; `expires` is what we check (TTL lags days).
    item.insert("ttl".into(), json!(expires.unix_timestamp() + 86_400));
    Ok((item, expires))
}

fn session_view(token: &SessionToken, expires_at: time::OffsetDateTime, c: &Candidate) -> SessionView {
    SessionView { token: token.as_str().to_string(), expires_at, account: AccountView::of(c) }
}

async fn start_session(deps: &Deps, c: &Candidate, status: u16) -> Result<HttpResponse, Refusal> {
    let token = SessionToken::new(&c.id);
    let (item, expires) = session_item(deps, &token)?;
    deps.table.put(item, Cond::NotExists).await?;
    Ok(json_response(status, &session_view(&token, expires, c)))
}

async fn register(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let body: RegisterRequest = parse_body(req)?;
    let account = parse_account_name(&body.account)?;
    check_password_strength(&body.password)?;
    let identity =
        Identity::new(&body.name, body.id_type, &body.id_number, body.gender, &body.birth_date, &body.nationality)?;
    let phone = Phone::parse(&body.phone, "phone")?;
    if body.degrees.len() > 10 {
        return Err(Refusal::bad("TOO_MANY_DEGREES", "学历学位信息最多10条").field("degrees"));
    }
    let degrees = body
        .degrees
        .into_iter()
        .enumerate()
        .map(|(i, d)| d.into_record(format!("d{}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let now = deps.clock.now();
    let candidate = Candidate {
        id: identity.document.candidate_id(&deps.id_pepper),
        account: account.clone(),
        password_hash: hash_password(&body.password)?,
        identity,
        phone,
        degrees,
        photo: None,
        openid: None,
        created_at: now,
    };
    let marker = |key: shared::ports::Key| -> Result<Item, Refusal> {
        let mut m = encode(&key, "marker", 1, &json!({}), &[("cid", json!(candidate.id))])?;
        m.remove("data");
        Ok(m)
    };
    let token = SessionToken::new(&candidate.id);
    let (session, expires) = session_item(deps, &token)?;
    // R1/R3: one account per ID document (the candidate id derives from it) and per account
    // name, written all-or-nothing with the profile and the first session.
    let writes = vec![
        Write::Put {
            item: encode(&keys::candidate(&candidate.id), "candidate", 1, &candidate, &[])?,
            cond: Cond::NotExists,
        },
        Write::Put { item: marker(keys::account(&account))?, cond: Cond::NotExists },
        Write::Put { item: session, cond: Cond::NotExists },
    ];
    match deps.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::Conflict { at: 0, .. }) => {
            return Err(Refusal::conflict("ID_ALREADY_REGISTERED", "该证件号码已注册,请直接登录").field("id_number"));
        }
        Err(StoreError::Conflict { at: 1, .. }) => {
            return Err(Refusal::conflict("ACCOUNT_TAKEN", "该账号已被使用").field("account"));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(candidate = %candidate.id, "account registered");
    Ok(json_response(201, &session_view(&token, expires, &candidate)))
}

async fn load_candidate(deps: &Deps, cid: &str) -> Result<Versioned<Candidate>, Refusal> {
    let item = deps.table.get(&keys::candidate(cid)).await?.ok_or_else(Refusal::internal)?;
    Ok(decode(&item)?)
}

fn bad_credentials() -> Refusal {
    Refusal::new(Kind::Unauthorized, "BAD_CREDENTIALS", "账号或密码错误")
}

async fn login_password(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let body: PasswordLogin = parse_body(req)?;
    let account = parse_account_name(&body.account).map_err(|_| bad_credentials())?;
    let marker = deps.table.get(&keys::account(&account)).await?;
    let Some(cid) = marker.as_ref().and_then(|m| attr(m, "cid")) else {
        // Spend the same time as a real check, so response time doesn't reveal which accounts exist.
        let _ = hash_password(&body.password);
        return Err(bad_credentials());
    };
    let c = load_candidate(deps, cid).await?;
    if !verify_password(&body.password, &c.value.password_hash) {
        return Err(bad_credentials());
    }
    start_session(deps, &c.value, 200).await
}

async fn login_face(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let body: FaceLogin = parse_body(req)?;
    if body.face_token.len() > 2048 {
        return Err(Refusal::bad("INVALID_FIELD", "字段类型或格式不正确").field("face_token"));
    }
    let verified = deps.identity.verify(&body.face_token).await?;
    let doc = IdDocument::parse(verified.id_type, &verified.id_number)
        .map_err(|_| Refusal::new(Kind::Unauthorized, "FACE_TOKEN_INVALID", "人脸识别未通过,请重试"))?;
    let item = deps.table.get(&keys::candidate(&doc.candidate_id(&deps.id_pepper))).await?;
    let item =
        item.ok_or_else(|| Refusal::new(Kind::Unauthorized, "NOT_REGISTERED", "尚未注册考生管理平台账号,请先注册"))?;
    let c: Versioned<Candidate> = decode(&item)?;
    start_session(deps, &c.value, 200).await
}

async fn login_wechat(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let body: WechatCode = parse_body(req)?;
    let openid = deps.wechat.openid(body.code.trim()).await?;
    let marker = deps.table.get(&keys::wechat(&openid)).await?;
    let cid = marker.as_ref().and_then(|m| attr(m, "cid")).ok_or_else(|| {
        Refusal::new(Kind::Unauthorized, "WECHAT_NOT_BOUND", "微信尚未绑定考生账号,请先用账号密码或面容ID登录")
    })?;
    let c = load_candidate(deps, cid).await?;
    start_session(deps, &c.value, 200).await
}

/// Read the session and the candidate in one round trip; refuse unless the session is live.
async fn authenticate(deps: &Deps, req: &Request) -> Result<(SessionToken, Versioned<Candidate>), Refusal> {
    let token = bearer(req)?;
    let got = deps.table.get_many(&[token.key(), keys::candidate(&token.candidate_id)]).await?;
    check_session(got[0].as_ref(), &token, deps.clock.now())?;
    let item = got[1].as_ref().ok_or_else(Refusal::internal)?;
    Ok((token, decode(item)?))
}

async fn logout(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let (token, _) = authenticate(deps, req).await?;
    match deps.table.delete(&token.key(), Cond::Exists).await {
        // Two logouts racing: the session is gone either way.
        Ok(()) | Err(StoreError::Conflict { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = lambda_http::http::StatusCode::NO_CONTENT;
    Ok(resp)
}

/// Persist a changed candidate, conditioned on the version read.
async fn save_candidate(deps: &Deps, c: &Candidate, ver: u64, extra: Vec<Write>) -> Result<(), Refusal> {
    let mut writes = vec![Write::Put {
        item: encode(&keys::candidate(&c.id), "candidate", ver + 1, c, &[])?,
        cond: Cond::Version(ver),
    }];
    writes.extend(extra);
    match deps.table.transact(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict { at: 0, .. }) => Err(Refusal::concurrent()),
        Err(StoreError::Conflict { .. }) => Err(Refusal::conflict("WECHAT_BOUND_TO_OTHER", "该微信已绑定其他考生账号")),
        Err(e) => Err(e.into()),
    }
}

async fn bind_wechat(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let body: WechatCode = parse_body(req)?;
    let (_, mut c) = authenticate(deps, req).await?;
    let openid = deps.wechat.openid(body.code.trim()).await?;
    if c.value.openid.as_deref() == Some(openid.as_str()) {
        return Ok(json_response(200, &AccountView::of(&c.value))); // already bound: idempotent
    }
    let mut marker = encode(&keys::wechat(&openid), "marker", 1, &json!({}), &[("cid", json!(c.value.id))])?;
    marker.remove("data");
    // One WeChat user ↔ one candidate: the new marker must not exist; an old one is released.
    let mut extra = vec![Write::Put { item: marker, cond: Cond::NotExists }];
    if let Some(old) = &c.value.openid {
        extra.push(Write::Delete { key: keys::wechat(old), cond: Cond::Always });
    }
    c.value.openid = Some(openid);
    save_candidate(deps, &c.value, c.ver, extra).await?;
    Ok(json_response(200, &AccountView::of(&c.value)))
}

async fn edit_degree(deps: &Deps, req: &Request, id: Option<String>) -> Result<HttpResponse, Refusal> {
    let body: DegreeInput = parse_body(req)?;
    let (_, mut c) = authenticate(deps, req).await?;
    let status = match &id {
        Some(id) => {
            let rec = body.into_record(id.clone())?;
            let slot = c
                .value
                .degrees
                .iter_mut()
                .find(|d| d.id == *id)
                .ok_or_else(|| Refusal::not_found("UNKNOWN_DEGREE_RECORD", "学历学位信息不存在"))?;
            *slot = rec;
            200
        }
        None => {
            if c.value.degrees.len() >= 10 {
                return Err(Refusal::rule("TOO_MANY_DEGREES", "学历学位信息最多10条"));
            }
            let next =
                c.value.degrees.iter().filter_map(|d| d.id.strip_prefix('d')?.parse::<u32>().ok()).max().unwrap_or(0)
                    + 1;
            c.value.degrees.push(body.into_record(format!("d{next}"))?);
            201
        }
    };
    save_candidate(deps, &c.value, c.ver, vec![]).await?;
    Ok(json_response(status, &AccountView::of(&c.value)))
}

async fn photo_upload_url(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let (token, _) = authenticate(deps, req).await?;
    let key = format!("photos/{}/{}.jpg", token.candidate_id, shared::random::id());
    let policy = shared::photo::upload_policy(&deps.reference.photo);
    let ticket = deps.objects.upload_url(&key, &policy, deps.clock.now()).await?;
    Ok(json_response(200, &ticket))
}

async fn set_photo(deps: &Deps, req: &Request) -> Result<HttpResponse, Refusal> {
    let body: UploadedObject = parse_body(req)?;
    let (_, mut c) = authenticate(deps, req).await?;
    // Only objects issued to this candidate: the key prefix is the candidate's own.
    if !body.key.starts_with(&format!("photos/{}/", c.value.id)) || body.key.contains("..") {
        return Err(Refusal::new(Kind::Forbidden, "NOT_YOUR_UPLOAD", "照片不属于当前考生").field("key"));
    }
    let photo = shared::photo::check_photo(deps.objects.as_ref(), &body.key, &deps.reference.photo).await?;
    c.value.photo = Some(photo);
    save_candidate(deps, &c.value, c.ver, vec![]).await?;
    Ok(json_response(200, &AccountView::of(&c.value)))
}
