//! What a photo is, in bytes (R13, FACTS: JPEG, size and pixel minimums): the JPEG frame header
//! read for its dimensions, and a synthetic JPEG for tests. The check of an uploaded object is in
//! the services (`services::photo`), which read the object through the storage port.

/// How far into the file the frame header may sit (EXIF blocks come first and can be large).
pub const HEADER_WINDOW: usize = 256 * 1024;

/// Width and height from the first SOF marker of a baseline or progressive JPEG.
pub fn jpeg_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return None;
    }
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let h = u16::from_be_bytes([*b.get(i + 5)?, *b.get(i + 6)?]);
            let w = u16::from_be_bytes([*b.get(i + 7)?, *b.get(i + 8)?]);
            return Some((w.into(), h.into()));
        }
        if len < 2 {
            return None;
        }
        i += 2 + len;
    }
    None
}

/// A minimal valid-looking JPEG of the given size and dimensions (tests and the demo seed).
pub fn synthetic_jpeg(width: u16, height: u16, total: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
    v.extend([0xFF, 0xC0, 0x00, 0x11, 0x08]);
    v.extend(height.to_be_bytes());
    v.extend(width.to_be_bytes());
    v.extend([0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01]);
    v.extend([0xFF, 0xDA]);
    while v.len() + 2 < total {
        v.push(0x00);
    }
    v.extend([0xFF, 0xD9]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r13_dimensions_come_from_the_frame_header() {
        assert_eq!(jpeg_dimensions(&synthetic_jpeg(358, 441, 50_000)), Some((358, 441)));
        assert_eq!(jpeg_dimensions(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(jpeg_dimensions(&[0xFF, 0xD8, 0xFF]), None, "truncated");
    }
}
