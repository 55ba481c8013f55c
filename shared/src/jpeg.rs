//! What a PDF needs to know of a JPEG to pass it through untouched (DCTDecode): its size, its
//! colour components, whether Adobe wrote it inverted (CMYK), and the EXIF orientation a camera
//! recorded — PDF viewers ignore EXIF, so the page turns the image itself.

/// The header facts of a baseline or progressive JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegInfo {
    pub width: u32,
    pub height: u32,
    /// 1 (grey), 3 (YCbCr/RGB) or 4 (CMYK/YCCK).
    pub components: u8,
    /// An Adobe APP14 segment: CMYK samples are stored inverted.
    pub adobe: bool,
    /// EXIF orientation 1–8 (1 when absent or unreadable).
    pub orientation: u8,
}

impl JpegInfo {
    /// The size as shown: orientations 5–8 turn the image by a quarter.
    pub fn shown(&self) -> (u32, u32) {
        if self.orientation >= 5 { (self.height, self.width) } else { (self.width, self.height) }
    }
}

/// Read the segments before the first scan. `None` for anything that is not a JPEG with a
/// frame header of 1, 3 or 4 eight-bit components.
pub fn info(b: &[u8]) -> Option<JpegInfo> {
    if b.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let (mut i, mut orientation, mut adobe, mut frame) = (2usize, 1u8, false, None);
    loop {
        // Fill bytes (0xFF) may precede a marker.
        while *b.get(i)? == 0xFF && *b.get(i + 1)? == 0xFF {
            i += 1;
        }
        if *b.get(i)? != 0xFF {
            return None;
        }
        let marker = *b.get(i + 1)?;
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]));
        let seg = b.get(i + 4..i + 2 + len)?;
        match marker {
            0xE1 if seg.starts_with(b"Exif\0\0") => orientation = exif_orientation(&seg[6..]).unwrap_or(1),
            0xEE if seg.starts_with(b"Adobe") => adobe = true,
            // Start of frame (not DHT C4, JPG C8, DAC CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let precision = *seg.first()?;
                let height = u32::from(u16::from_be_bytes([*seg.get(1)?, *seg.get(2)?]));
                let width = u32::from(u16::from_be_bytes([*seg.get(3)?, *seg.get(4)?]));
                let components = *seg.get(5)?;
                if precision != 8 || width == 0 || height == 0 || !matches!(components, 1 | 3 | 4) {
                    return None;
                }
                frame = Some((width, height, components));
            }
            _ => {}
        }
        i += 2 + len;
    }
    let (width, height, components) = frame?;
    Some(JpegInfo { width, height, components, adobe, orientation })
}

/// Tag 0x0112 of IFD0 in a TIFF structure (either byte order).
fn exif_orientation(t: &[u8]) -> Option<u8> {
    let le = match t.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u16> {
        let s = [*t.get(o)?, *t.get(o + 1)?];
        Some(if le { u16::from_le_bytes(s) } else { u16::from_be_bytes(s) })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let s = [*t.get(o)?, *t.get(o + 1)?, *t.get(o + 2)?, *t.get(o + 3)?];
        Some(if le { u32::from_le_bytes(s) } else { u32::from_be_bytes(s) })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let n = usize::from(u16_at(ifd)?);
    (0..n.min(256))
        .find_map(|k| {
            let e = ifd + 2 + 12 * k;
            (u16_at(e)? == 0x0112).then(|| u16_at(e + 8)).flatten()
        })
        .and_then(|v| u8::try_from(v).ok())
        .filter(|v| (1..=8).contains(v))
}

/// The matrix that draws the image's unit square into the box `(x, y, w, h)` (PDF units, y up)
/// the way EXIF `orientation` says it is meant to be seen.
pub fn placement(orientation: u8, (x, y, w, h): (f32, f32, f32, f32)) -> [f32; 6] {
    // Shown position as (right, down) fractions of the box, each an affine function
    // `cs·s + ct·t + c` of the stored image's (right, down) fractions (s, t).
    let (px, qd): ([f32; 3], [f32; 3]) = match orientation {
        2 => ([-1., 0., 1.], [0., 1., 0.]),
        3 => ([-1., 0., 1.], [0., -1., 1.]),
        4 => ([1., 0., 0.], [0., -1., 1.]),
        5 => ([0., 1., 0.], [1., 0., 0.]),
        6 => ([0., -1., 1.], [1., 0., 0.]),
        7 => ([0., -1., 1.], [-1., 0., 1.]),
        8 => ([0., 1., 0.], [-1., 0., 1.]),
        _ => ([1., 0., 0.], [0., 1., 0.]),
    };
    // Image space: u = s, v = 1 − t (the first row is drawn at the top).
    let in_uv = |[cs, ct, c]: [f32; 3]| [cs, -ct, c + ct];
    let [pu, pv, pc] = in_uv(px);
    let [qu, qv, qc] = in_uv(qd);
    // x = x + w·px; y = y + h·(1 − qd).
    [w * pu, -h * qu, w * pv, -h * qv, x + w * pc, y + h - h * qc]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(m: [f32; 6], (u, v): (f32, f32)) -> (f32, f32) {
        (m[0] * u + m[2] * v + m[4], m[1] * u + m[3] * v + m[5])
    }

    #[test]
    fn upright_is_the_box() {
        assert_eq!(placement(1, (10., 20., 30., 40.)), [30., 0., 0., 40., 10., 20.]);
    }

    #[test]
    fn orientation_6_puts_the_stored_top_row_on_the_right() {
        // Orientation 6 (rotate 90° clockwise to view): the stored top-left corner, (u, v) =
        // (0, 1), is shown at the top-right of the box; the stored top-right, (1, 1), at the
        // bottom-right.
        let m = placement(6, (0., 0., 100., 200.));
        assert_eq!(apply(m, (0., 1.)), (100., 200.));
        assert_eq!(apply(m, (1., 1.)), (100., 0.));
        assert_eq!(apply(m, (0., 0.)), (0., 200.));
    }

    #[test]
    fn orientation_3_turns_it_upside_down_and_8_the_other_quarter() {
        let m = placement(3, (0., 0., 10., 10.));
        assert_eq!(apply(m, (0., 1.)), (10., 0.));
        let m = placement(8, (0., 0., 10., 20.));
        // Stored top-left is shown bottom-left.
        assert_eq!(apply(m, (0., 1.)), (0., 0.));
    }

    #[test]
    fn not_a_jpeg_has_no_info() {
        assert_eq!(info(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(info(&[0xFF, 0xD8, 0xFF]), None);
    }
}
