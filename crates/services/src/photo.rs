//! The check an uploaded photo or proof must pass before any record points at it (R13, R41): a
//! signed upload URL cannot prove what was uploaded, so the object is read, walked as a whole
//! JPEG, and the bytes that passed are pinned under their own hash.

use crate::ports::{ObjectStore, UploadPolicy};
use sha2::{Digest, Sha256};
use shared::domain::account::PhotoRef;
use shared::error::Refusal;
use shared::photo::jpeg_structure;
use shared::reference::PhotoSpec;

pub fn upload_policy(spec: &PhotoSpec) -> UploadPolicy {
    UploadPolicy {
        content_type: "image/jpeg",
        min_bytes: spec.min_bytes,
        max_bytes: spec.max_bytes,
        expires_in_secs: 600,
    }
}

/// Only objects issued to this candidate: upload keys start with the candidate's own prefix.
pub fn own_key(key: &str, prefix: &str) -> Result<(), Refusal> {
    if !key.starts_with(prefix) || key.contains("..") || key.len() > 300 {
        return Err(Refusal::new(shared::Kind::Forbidden, "NOT_YOUR_UPLOAD", "文件不属于当前考生").field("key"));
    }
    Ok(())
}
/// Where a candidate's upload tickets point: a short-lived prefix (the bucket expires it after a
/// day). Nothing under it is ever read for the record: an accepted upload is copied out.
pub fn upload_prefix(candidate_id: &str) -> String {
    format!("uploads/{candidate_id}/")
}

/// An upload that passed its check, pinned: the bytes that were checked, stored under a key
/// named by their SHA-256 outside the upload prefix. Uploading again to the same upload key —
/// the ticket allows it until it expires — changes nothing the record points at.
pub struct Pinned {
    pub key: String,
    pub bytes: u64,
    pub dims: (u32, u32),
}

/// Read the upload at `key` (the candidate's own, under [`upload_prefix`]), check its size and
/// that it is a whole JPEG, and store exactly those bytes at `pinned_key(sha256)`.
pub async fn pin_jpeg(
    objects: &dyn ObjectStore,
    key: &str,
    candidate_id: &str,
    (min, max): (u64, u64),
    refuse: &(dyn Fn(&'static str) -> Refusal + Sync),
    pinned_key: &(dyn Fn(&str) -> String + Sync),
) -> Result<Pinned, Refusal> {
    own_key(key, &upload_prefix(candidate_id))?;
    objects.head(key).await?.ok_or_else(|| refuse("NOT_UPLOADED"))?;
    // One read of at most max + 1 bytes: the size is that of the bytes checked, not of a head
    // taken before them.
    let bytes = objects.read_prefix(key, usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1)).await?;
    let n = bytes.len() as u64;
    if n < min || n > max {
        return Err(refuse("SIZE"));
    }
    let dims = jpeg_structure(&bytes).map_err(|_| refuse("NOT_JPEG"))?;
    let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let target = pinned_key(&digest);
    objects.put(&target, bytes, "image/jpeg").await?;
    Ok(Pinned { key: target, bytes: n, dims })
}

/// R13: check the registration or exam photo the candidate uploaded and pin it.
pub async fn accept_photo(
    objects: &dyn ObjectStore,
    key: &str,
    candidate_id: &str,
    spec: &PhotoSpec,
) -> Result<PhotoRef, Refusal> {
    let refuse = |what: &'static str| match what {
        "NOT_UPLOADED" => Refusal::conflict("PHOTO_NOT_UPLOADED", "照片尚未上传成功,请重新上传").field("key"),
        "SIZE" => Refusal::rule("PHOTO_SIZE", format!("照片大小应大于{}KB", spec.min_bytes / 1024)).field("key"),
        _ => Refusal::rule("PHOTO_NOT_JPEG", "照片须为完整的JPG格式图片").field("key"),
    };
    let pinned = pin_jpeg(objects, key, candidate_id, (spec.min_bytes, spec.max_bytes), &refuse, &|sha| {
        format!("photos/{candidate_id}/{sha}.jpg")
    })
    .await?;
    let (width, height) = pinned.dims;
    if width < spec.min_width || height < spec.min_height {
        return Err(Refusal::rule(
            "PHOTO_TOO_SMALL",
            format!("照片像素应不小于{}×{}", spec.min_width, spec.min_height),
        )
        .field("key"));
    }
    Ok(PhotoRef { key: pinned.key, bytes: pinned.bytes, width, height })
}
