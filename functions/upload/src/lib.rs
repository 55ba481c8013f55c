//! The `upload` function: material upload to object storage as its own handler. Over HTTP it
//! issues upload tickets — the registration photo, an application's photo, a district's proofs
//! (R13, R41), only where the upload can be used, rate-limited; from S3 it takes `ObjectCreated`
//! notices for `uploads/` and judges each object: the announced version is read, checked (size,
//! whole JPEG, pixels), its bytes pinned, the judgement recorded on its owner, the upload object
//! deleted. The candidate's "use this upload" (login, application functions) reads only that
//! judgement.

pub mod compose;

use edge::api::{Function, RouteId, resolve};
use edge::http::{HttpResponse, bearer, candidate, json_response, no_route, segments};
use lambda_http::Request;
use serde::Deserialize;
use services::applications::{Target, Upload, material_kind};
use services::ports::ObjectVersion;
use services::uploads::{Arrival, Judged, Uploads};
use shared::domain::values::ProjectCode;
use shared::error::Refusal;
use std::time::Instant;

/// Handle one HTTP request (an upload ticket). Never fails: every error becomes a response.
pub async fn handle(u: &Uploads, req: Request) -> HttpResponse {
    let started = Instant::now();
    let result = route(u, &req).await;
    edge::http::finish("upload", &req, started, result)
}

async fn route(u: &Uploads, req: &Request) -> Result<HttpResponse, Refusal> {
    let (route, p) = resolve(req.method().as_str(), &segments(req))?;
    if route.function != Function::Upload {
        return Err(no_route());
    }
    // Every route here needs a session: 401 before anything else is looked at.
    let token = bearer(req)?;
    let own = |project: &str| -> Result<(services::Principal, Target), Refusal> {
        let principal = candidate(req)?;
        let project = ProjectCode::parse(project, "project")?;
        u.apps.project(&project)?;
        Ok((principal.clone(), Target::own(&principal, project)?))
    };
    let ticket = match route.id {
        RouteId::AccountPhotoUploadUrl => u.account_ticket(&token).await?,
        RouteId::ApplicationPhotoUploadUrl => {
            let (principal, target) = own(p.get("project"))?;
            u.application_ticket(&principal, &target, Upload::Photo).await?
        }
        RouteId::MaterialUploadUrl => {
            let kind = material_kind(p.get("kind"))?;
            let (principal, target) = own(p.get("project"))?;
            u.application_ticket(&principal, &target, Upload::Material { kind }).await?
        }
        _ => return Err(no_route()),
    };
    Ok(json_response(200, &ticket))
}

/// An S3 event notification (the fields this function reads).
#[derive(Debug, Deserialize)]
pub struct S3Event {
    #[serde(rename = "Records")]
    pub records: Vec<S3Record>,
}

#[derive(Debug, Deserialize)]
pub struct S3Record {
    #[serde(rename = "eventName")]
    pub event_name: String,
    pub s3: S3Entity,
}

#[derive(Debug, Deserialize)]
pub struct S3Entity {
    pub object: S3Object,
}

#[derive(Debug, Deserialize)]
pub struct S3Object {
    /// URL-encoded, as S3 sends it (`+` for a space).
    pub key: String,
    #[serde(rename = "eTag", default)]
    pub etag: Option<String>,
    #[serde(rename = "versionId", default)]
    pub version_id: Option<String>,
}

/// What arrived: S3 notices, or an HTTP request through API Gateway.
pub enum Incoming {
    Objects(S3Event),
    Http(Box<lambda_http::request::LambdaRequest>),
}

impl Incoming {
    /// Tell the two event sources apart by shape: S3 sends `Records`; API Gateway never does.
    pub fn parse(v: serde_json::Value) -> Result<Incoming, serde_json::Error> {
        if v.get("Records").is_some() {
            Ok(Incoming::Objects(serde_json::from_value(v)?))
        } else {
            Ok(Incoming::Http(Box::new(serde_json::from_value(v)?)))
        }
    }
}

/// An object key as S3 puts it in a notice: URL-encoded, `+` for a space.
pub fn decode_key(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Judge every created object in `event`. A record that could not be judged (the table or the
/// store unavailable) fails the invocation after the others are done, so Lambda delivers the
/// event again; the judgements already recorded stand (a repeat finds them and changes nothing).
pub async fn handle_objects(u: &Uploads, event: &S3Event) -> Result<Vec<Judged>, Refusal> {
    let mut judged = Vec::with_capacity(event.records.len());
    let mut failed = None;
    for r in &event.records {
        if !r.event_name.starts_with("ObjectCreated:") {
            continue;
        }
        let Some(key) = decode_key(&r.s3.object.key) else {
            tracing::warn!("an S3 notice with an undecodable key; ignored");
            continue;
        };
        let version = ObjectVersion { version_id: r.s3.object.version_id.clone(), etag: r.s3.object.etag.clone() };
        match u.arrived(&Arrival { key, version }).await {
            Ok(j) => {
                let outcome = match &j {
                    Judged::Accepted => "accepted",
                    Judged::Rejected(_) => "rejected",
                    Judged::AlreadyJudged => "already_judged",
                    Judged::Gone => "gone",
                    Judged::Ignored => "ignored",
                };
                tracing::info!(outcome, code = ?match &j { Judged::Rejected(c) => Some(*c), _ => None }, "upload judged");
                judged.push(j);
            }
            Err(e) => {
                tracing::error!(code = e.code, "upload could not be judged; the notice will be delivered again");
                failed = Some(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(judged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_as_s3_encodes_them() {
        assert_eq!(
            decode_key("uploads/c1/2025-health/photo-a1.jpg").as_deref(),
            Some("uploads/c1/2025-health/photo-a1.jpg")
        );
        assert_eq!(decode_key("a+b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(decode_key("bad%2"), None);
        assert_eq!(decode_key("bad%zz"), None);
    }

    #[test]
    fn the_two_event_sources_are_told_apart() {
        let s3 = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Post", "s3": {"object": {"key": "k"}}}]});
        assert!(matches!(Incoming::parse(s3), Ok(Incoming::Objects(e)) if e.records.len() == 1));
        let malformed = serde_json::json!({"Records": "nope"});
        assert!(Incoming::parse(malformed).is_err(), "a bad event is an error, not a panic");
    }
}
