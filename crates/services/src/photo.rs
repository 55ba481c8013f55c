//! The check an uploaded photo must pass before any record points at it (R13): a signed upload
//! URL cannot prove what was uploaded, so the object is inspected — size from `head`, JPEG
//! magic bytes and pixel size from its first bytes.

use crate::ports::{ObjectStore, UploadPolicy};
use shared::domain::account::PhotoRef;
use shared::error::Refusal;
use shared::photo::{HEADER_WINDOW, jpeg_dimensions};
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
/// Inspect the object at `key` and describe it, or say what is wrong with it.
pub async fn check_photo(objects: &dyn ObjectStore, key: &str, spec: &PhotoSpec) -> Result<PhotoRef, Refusal> {
    let missing = || Refusal::rule("PHOTO_NOT_UPLOADED", "照片尚未上传成功,请重新上传").field("key");
    let meta = objects.head(key).await?.ok_or_else(missing)?;
    if meta.bytes < spec.min_bytes || meta.bytes > spec.max_bytes {
        return Err(Refusal::rule("PHOTO_SIZE", format!("照片大小应大于{}KB", spec.min_bytes / 1024)).field("key"));
    }
    let head = objects.read_prefix(key, HEADER_WINDOW).await?;
    let (width, height) =
        jpeg_dimensions(&head).ok_or_else(|| Refusal::rule("PHOTO_NOT_JPEG", "照片须为JPG格式").field("key"))?;
    if width < spec.min_width || height < spec.min_height {
        return Err(Refusal::rule(
            "PHOTO_TOO_SMALL",
            format!("照片像素应不小于{}×{}", spec.min_width, spec.min_height),
        )
        .field("key"));
    }
    Ok(PhotoRef { key: key.to_string(), bytes: meta.bytes, width, height })
}
