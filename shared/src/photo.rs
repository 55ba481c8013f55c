//! What a photo is, in bytes (R13, FACTS: JPEG, size and pixel minimums): a whole JPEG walked
//! for its structure and dimensions, and a synthetic JPEG for tests. The check of an uploaded object is in
//! the services (`services::photo`), which read the object through the storage port.

/// Why bytes are not a whole JPEG (the photo check's refusal says "must be JPEG").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotJpeg {
    NoStartOfImage,
    BadSegment,
    NoFrame,
    NoScan,
    /// The scan data runs off the end: the upload was cut short.
    Truncated,
}

/// Walk a whole JPEG — start of image, every marker segment to the first scan, the scans
/// (progressive files have several, with tables between them), end of image — and return its
/// dimensions as the picture is meant to be seen (a camera's EXIF orientation 5–8 turns it a
/// quarter: a portrait stored on its side is still a portrait). A file that only *starts* like a
/// JPEG, or was cut short, is refused: the bytes pinned for a photo must be an image a viewer can
/// open, not a prefix that passed a sniff.
pub fn jpeg_structure(b: &[u8]) -> Result<(u32, u32), NotJpeg> {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return Err(NotJpeg::NoStartOfImage);
    }
    let seg_len = |i: usize| -> Result<usize, NotJpeg> {
        let len = usize::from(u16::from_be_bytes([
            *b.get(i + 2).ok_or(NotJpeg::Truncated)?,
            *b.get(i + 3).ok_or(NotJpeg::Truncated)?,
        ]));
        if len < 2 {
            return Err(NotJpeg::BadSegment);
        }
        if i + 2 + len > b.len() {
            return Err(NotJpeg::Truncated);
        }
        Ok(len)
    };
    let mut dims = None;
    let mut i = 2;
    // Header segments, up to the first start of scan.
    loop {
        if i + 1 >= b.len() {
            return Err(NotJpeg::Truncated);
        }
        if b[i] != 0xFF {
            return Err(NotJpeg::BadSegment);
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0xD9 {
            return Err(if dims.is_some() { NotJpeg::NoScan } else { NotJpeg::NoFrame });
        }
        let len = seg_len(i)?;
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            if len < 7 {
                return Err(NotJpeg::BadSegment);
            }
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]);
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]);
            dims = Some((u32::from(w), u32::from(h)));
        }
        i += 2 + len;
        if marker == 0xDA {
            break;
        }
    }
    let dims = dims.ok_or(NotJpeg::NoFrame)?;
    // Entropy-coded data: stuffed 0xFF00 and restart markers are data; a table or another scan
    // (progressive) is a segment with a length; the end of image ends it.
    while i + 1 < b.len() {
        if b[i] != 0xFF {
            i += 1;
            continue;
        }
        match b[i + 1] {
            0x00 | 0xD0..=0xD7 | 0xFF => i += if b[i + 1] == 0xFF { 1 } else { 2 },
            0xD9 => {
                let turned = crate::jpeg::info(b).is_some_and(|j| j.orientation >= 5);
                return Ok(if turned { (dims.1, dims.0) } else { dims });
            }
            _ => i += 2 + seg_len(i)?,
        }
    }
    Err(NotJpeg::Truncated)
}

/// A structurally whole JPEG of the given size and dimensions (start, frame header, one scan
/// of padding, end) for tests and the demo seed. Not an image a decoder can paint: the checks
/// that matter about real encoders' files are tested against files a real encoder wrote.
pub fn synthetic_jpeg(width: u16, height: u16, total: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
    v.extend([0xFF, 0xC0, 0x00, 0x11, 0x08]);
    v.extend(height.to_be_bytes());
    v.extend(width.to_be_bytes());
    v.extend([0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01]);
    // Start of scan: three components, spectral 0–63.
    v.extend([0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3F, 0x00]);
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
        assert_eq!(jpeg_structure(&synthetic_jpeg(358, 441, 50_000)), Ok((358, 441)));
        assert!(jpeg_structure(b"\x89PNG\r\n\x1a\n").is_err());
        assert!(jpeg_structure(&[0xFF, 0xD8, 0xFF]).is_err(), "truncated");
    }

    #[test]
    fn r13_a_whole_jpeg_is_walked_to_its_end() {
        let ok = synthetic_jpeg(358, 441, 50_000);
        assert_eq!(jpeg_structure(&ok), Ok((358, 441)));
        assert_eq!(jpeg_structure(&ok[..ok.len() - 100]), Err(NotJpeg::Truncated), "cut short");
        assert_eq!(jpeg_structure(&ok[..30]), Err(NotJpeg::Truncated), "cut in the header");
        assert_eq!(jpeg_structure(b"\x89PNG\r\n\x1a\n0000"), Err(NotJpeg::NoStartOfImage));
        // Starts like a JPEG, then anything.
        let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        fake.extend(std::iter::repeat_n(0x41, 60_000));
        assert!(jpeg_structure(&fake).is_err());
    }
}
