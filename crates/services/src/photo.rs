//! The check an uploaded photo or proof must pass before any record points at it (R13, R41): a
//! signed upload URL cannot prove what was uploaded, so the object version the store announced
//! is read, walked as a whole JPEG, measured, and the bytes that passed are pinned under their
//! own hash, outside the upload prefix.

use crate::ports::UploadPolicy;
use sha2::{Digest, Sha256};
use shared::domain::account::PhotoRef;
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

/// What a check requires of the bytes.
pub struct Requirement {
    pub min_bytes: u64,
    pub max_bytes: u64,
    /// Pixel minimums as the picture is seen (photos, R13); proofs have none.
    pub min_dims: Option<(u32, u32)>,
    /// "PHOTO" or "MATERIAL": the prefix of the refusal codes.
    pub what: &'static str,
}

impl Requirement {
    pub fn photo(spec: &PhotoSpec) -> Self {
        Requirement {
            min_bytes: spec.min_bytes,
            max_bytes: spec.max_bytes,
            min_dims: Some((spec.min_width, spec.min_height)),
            what: "PHOTO",
        }
    }
    pub fn material((min_bytes, max_bytes): (u64, u64)) -> Self {
        Requirement { min_bytes, max_bytes, min_dims: None, what: "MATERIAL" }
    }
}

/// Why the bytes were refused: a code of `shared::domain::upload::REJECTIONS`, and the message
/// the candidate is shown.
pub type Rejection = (&'static str, String);

/// Judge `bytes` (read with at most `max_bytes + 1`, so an oversized object is seen as such).
/// On success, the SHA-256 of the bytes (their pinned name) and their size as seen.
pub fn check(bytes: &[u8], r: &Requirement) -> Result<(String, (u32, u32)), Rejection> {
    let photo = r.what == "PHOTO";
    let n = bytes.len() as u64;
    if n < r.min_bytes || n > r.max_bytes {
        return Err(if photo {
            ("PHOTO_SIZE", format!("照片大小应在{}KB至{}KB之间", r.min_bytes / 1024, r.max_bytes / 1024))
        } else {
            ("MATERIAL_SIZE", format!("材料大小应在{}KB至{}KB之间", r.min_bytes / 1024, r.max_bytes / 1024))
        });
    }
    let dims = jpeg_structure(bytes).map_err(|_| {
        if photo {
            ("PHOTO_NOT_JPEG", "照片须为完整的JPG格式图片".to_string())
        } else {
            ("MATERIAL_NOT_JPEG", "材料须为完整的JPG格式图片".to_string())
        }
    })?;
    if let Some((w, h)) = r.min_dims
        && (dims.0 < w || dims.1 < h)
    {
        return Err(("PHOTO_TOO_SMALL", format!("照片像素应不小于{w}×{h}")));
    }
    let digest: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    Ok((digest, dims))
}

/// The pinned photo for checked bytes at `key`.
pub fn pinned(key: String, bytes: &[u8], (width, height): (u32, u32)) -> PhotoRef {
    PhotoRef { key, bytes: bytes.len() as u64, width, height }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::photo::synthetic_jpeg;

    fn spec() -> PhotoSpec {
        shared::reference::Reference::load_default().map(|r| r.photo().clone()).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn r13_a_photo_is_checked_for_size_structure_and_pixels() {
        let r = Requirement::photo(&spec());
        assert!(check(&synthetic_jpeg(358, 441, 60_000), &r).is_ok());
        assert_eq!(check(&synthetic_jpeg(358, 441, 1_000), &r).err().map(|e| e.0), Some("PHOTO_SIZE"));
        assert_eq!(check(&synthetic_jpeg(100, 120, 60_000), &r).err().map(|e| e.0), Some("PHOTO_TOO_SMALL"));
        let mut cut = synthetic_jpeg(358, 441, 60_000);
        cut.truncate(55_000);
        assert_eq!(check(&cut, &r).err().map(|e| e.0), Some("PHOTO_NOT_JPEG"));
    }

    #[test]
    fn r41_a_proof_has_its_districts_size_range_and_no_pixel_minimum() {
        let r = Requirement::material((1024, 30_000));
        assert!(check(&synthetic_jpeg(100, 100, 20_000), &r).is_ok());
        assert_eq!(check(&synthetic_jpeg(100, 100, 40_000), &r).err().map(|e| e.0), Some("MATERIAL_SIZE"));
    }
}
