//! Uploads as the object store reported them and the check judged them (R13, R41). The upload
//! function records each judgement on the item that owns the upload — the candidate for the
//! registration photo, the application for its photo and proofs — so "use this upload" is
//! decided by the same read that loads the owner, and the candidate sees a rejection (and why) in
//! the application view. An upload key says whose it is and what for; nothing else is trusted.

use crate::domain::account::PhotoRef;
use crate::domain::values::ProjectCode;
use crate::error::Refusal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How many judgements an owner keeps: far more than a candidate needs at once (a photo and a
/// handful of proofs), small enough to keep the item far under DynamoDB's item-size limit.
pub const KEEP: usize = 12;

/// What an upload is for, as its key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadPurpose {
    /// The account's registration photo (R1, R13).
    AccountPhoto,
    /// An application's replacement photo (R13).
    Photo { project: ProjectCode },
    /// One proof of an online-confirmation district (R41).
    Material { project: ProjectCode, kind: String },
}

/// An upload key, as the upload tickets issue them:
/// `uploads/<candidate>/account/photo-<id>.jpg`, `uploads/<candidate>/<project>/photo-<id>.jpg`,
/// `uploads/<candidate>/<project>/material-<kind>-<id>.jpg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadKey {
    pub candidate_id: String,
    pub what: UploadPurpose,
}

fn token_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl UploadKey {
    pub const PREFIX: &'static str = "uploads/";

    /// The key a ticket names for `what`, with a fresh random `id`.
    pub fn key(candidate_id: &str, what: &UploadPurpose, id: &str) -> String {
        match what {
            UploadPurpose::AccountPhoto => format!("uploads/{candidate_id}/account/photo-{id}.jpg"),
            UploadPurpose::Photo { project } => format!("uploads/{candidate_id}/{project}/photo-{id}.jpg"),
            UploadPurpose::Material { project, kind } => {
                format!("uploads/{candidate_id}/{project}/material-{kind}-{id}.jpg")
            }
        }
    }

    /// `None` for anything a ticket could not have named.
    pub fn parse(key: &str) -> Option<UploadKey> {
        let rest = key.strip_prefix(Self::PREFIX)?;
        let mut parts = rest.split('/');
        let (cid, owner, file) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !token_ok(cid) {
            return None;
        }
        let stem = file.strip_suffix(".jpg")?;
        let what = if let Some(id) = stem.strip_prefix("photo-") {
            token_ok(id).then_some(())?;
            if owner == "account" {
                UploadPurpose::AccountPhoto
            } else {
                UploadPurpose::Photo { project: ProjectCode::parse(owner, "key").ok()? }
            }
        } else {
            let (kind, id) = stem.strip_prefix("material-")?.rsplit_once('-')?;
            if !token_ok(id) || !token_ok(kind) || owner == "account" {
                return None;
            }
            UploadPurpose::Material { project: ProjectCode::parse(owner, "key").ok()?, kind: kind.to_string() }
        };
        Some(UploadKey { candidate_id: cid.to_string(), what })
    }
}

/// The check's judgement on one upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UploadOutcome {
    /// Passed: the checked bytes are pinned at `photo.key` (named by their SHA-256); `version`
    /// is the object version (or ETag) that was read.
    Accepted { photo: PhotoRef, version: String },
    /// Refused, with the code and message the candidate is shown; the object was deleted.
    Rejected { code: String, message: String },
}

/// The codes a check refuses an upload with (stored as text on the owner, answered as these).
pub const REJECTIONS: [&str; 5] =
    ["PHOTO_SIZE", "PHOTO_NOT_JPEG", "PHOTO_TOO_SMALL", "MATERIAL_SIZE", "MATERIAL_NOT_JPEG"];

/// One judged upload, under the key its ticket named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckedUpload {
    pub key: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    #[serde(flatten)]
    pub outcome: UploadOutcome,
}

/// Record a judgement; the first for a key stands (a second upload to the same key, which the
/// ticket allows until it expires, changes nothing). Keeps the newest [`KEEP`].
pub fn record(list: &mut Vec<CheckedUpload>, c: CheckedUpload) {
    if list.iter().any(|u| u.key == c.key) {
        return;
    }
    list.push(c);
    if list.len() > KEEP {
        list.remove(0);
    }
}

pub fn judged<'a>(list: &'a [CheckedUpload], key: &str) -> Option<&'a CheckedUpload> {
    list.iter().find(|u| u.key == key)
}

/// The accepted upload at `key` for `what`, or why it can't be used: not this candidate's or
/// not for this purpose (403 / 422), not judged yet (409 `UPLOAD_PENDING`: the object store
/// reports an arrival within seconds), or rejected (the check's own code and message).
pub fn accepted<'a>(
    list: &'a [CheckedUpload],
    key: &str,
    candidate_id: &str,
    what: &UploadPurpose,
) -> Result<&'a PhotoRef, Refusal> {
    let parsed = UploadKey::parse(key);
    match parsed {
        Some(k) if k.candidate_id == candidate_id && k.what == *what => {}
        Some(k) if k.candidate_id == candidate_id => {
            return Err(Refusal::rule("WRONG_UPLOAD", "该文件不是为此处上传的").field("key"));
        }
        _ => return Err(Refusal::new(crate::Kind::Forbidden, "NOT_YOUR_UPLOAD", "文件不属于当前考生").field("key")),
    }
    match judged(list, key).map(|u| &u.outcome) {
        None => Err(Refusal::conflict("UPLOAD_PENDING", "文件正在检查,请稍候再试").field("key")),
        Some(UploadOutcome::Accepted { photo, .. }) => Ok(photo),
        Some(UploadOutcome::Rejected { code, message }) => {
            let code = REJECTIONS.iter().find(|c| **c == code.as_str()).copied().unwrap_or("UPLOAD_REJECTED");
            Err(Refusal::rule(code, message.clone()).field("key"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> ProjectCode {
        ProjectCode::parse("2025-health", "p").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn keys_round_trip_and_nothing_else_parses() {
        for what in [
            UploadPurpose::AccountPhoto,
            UploadPurpose::Photo { project: project() },
            UploadPurpose::Material { project: project(), kind: "id_card".into() },
        ] {
            let key = UploadKey::key("c1", &what, "abc123");
            assert_eq!(UploadKey::parse(&key), Some(UploadKey { candidate_id: "c1".into(), what }), "{key}");
        }
        for bad in [
            "photos/c1/x.jpg",
            "uploads/c1/account/photo-.jpg",
            "uploads/c1/2025-health/photo-a/b.jpg",
            "uploads/../2025-health/photo-a.jpg",
            "uploads/c1/account/material-id_card-a.jpg",
            "uploads/c1/2025-health/photo-a.png",
            "uploads/c1/no pe/photo-a.jpg",
        ] {
            assert_eq!(UploadKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn r13_the_first_judgement_stands_and_the_list_is_bounded() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let rejected = |key: &str| CheckedUpload {
            key: key.into(),
            at,
            outcome: UploadOutcome::Rejected { code: "PHOTO_NOT_JPEG".into(), message: "m".into() },
        };
        let mut list = vec![];
        record(&mut list, rejected("k"));
        let photo = PhotoRef { key: "photos/c1/s.jpg".into(), bytes: 1, width: 1, height: 1 };
        record(
            &mut list,
            CheckedUpload { key: "k".into(), at, outcome: UploadOutcome::Accepted { photo, version: "v".into() } },
        );
        assert!(matches!(list[0].outcome, UploadOutcome::Rejected { .. }), "a second judgement changes nothing");
        for i in 0..30 {
            record(&mut list, rejected(&format!("k{i}")));
        }
        assert_eq!(list.len(), KEEP);
        assert_eq!(list.last().map(|u| u.key.as_str()), Some("k29"));
    }

    #[test]
    fn r13_only_an_accepted_upload_of_the_right_purpose_can_be_used() {
        let what = UploadPurpose::Photo { project: project() };
        let key = UploadKey::key("c1", &what, "a1");
        let refused = |r: Result<&PhotoRef, Refusal>| r.err().map(|e| e.code);
        assert_eq!(refused(accepted(&[], &key, "c1", &what)), Some("UPLOAD_PENDING"));
        assert_eq!(refused(accepted(&[], &key, "c2", &what)), Some("NOT_YOUR_UPLOAD"));
        assert_eq!(refused(accepted(&[], &key, "c1", &UploadPurpose::AccountPhoto)), Some("WRONG_UPLOAD"));
        let photo = PhotoRef { key: "photos/c1/s.jpg".into(), bytes: 1, width: 1, height: 1 };
        let list = vec![CheckedUpload {
            key: key.clone(),
            at: OffsetDateTime::UNIX_EPOCH,
            outcome: UploadOutcome::Accepted { photo: photo.clone(), version: "v".into() },
        }];
        assert_eq!(accepted(&list, &key, "c1", &what).ok(), Some(&photo));
    }
}
