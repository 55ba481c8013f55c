//! The printable registration form (报名申请表, R15) as one A4 PDF page that renders the same on
//! any viewer with no fonts installed: every font is embedded as a CID font subset to the glyphs
//! the page uses (with a ToUnicode map, so the text extracts and searches), the photo is the
//! accepted JPEG passed through as it is (DCTDecode, never re-encoded, turned by its EXIF
//! orientation), and the verification code is printed large and as a QR code for the site's
//! scanner. What the page says is the caller's ([`Document`]); how it looks is decided here.

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};
use qrcodegen::{QrCode, QrCodeEcc};
use shared::jpeg;
use std::collections::BTreeMap;
use std::sync::Arc;
use subsetter::GlyphRemapper;
use ttf_parser::{Face, GlyphId};

/// One font file (a face of a collection), in the order it is tried for each character.
#[derive(Clone)]
pub struct FontFile {
    /// The PostScript-style name written into the PDF (after the subset tag).
    pub name: &'static str,
    pub data: Arc<[u8]>,
    pub index: u32,
}

/// The fonts a form is set in: the first that has a character draws it.
#[derive(Clone)]
pub struct Fonts(Vec<FontFile>);

impl Fonts {
    /// Check each file parses as a font, so a broken deployment fails where it is composed
    /// rather than on a candidate's first download.
    pub fn new(files: Vec<FontFile>) -> Result<Self, FormError> {
        if files.is_empty() {
            return Err(FormError::Font("no font".into()));
        }
        for f in &files {
            Face::parse(&f.data, f.index).map_err(|e| FormError::Font(format!("{}: {e}", f.name)))?;
        }
        Ok(Fonts(files))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("font: {0}")]
    Font(String),
    #[error("the photo is not a JPEG a PDF can carry")]
    Photo,
}

/// What the form says. Labels and values are the caller's, in Chinese.
pub struct Document<'a> {
    pub title: String,
    /// A warning printed under the title (e.g. that a preview confirms nothing).
    pub banner: Option<String>,
    /// The verification code (R15, R22): printed large and as a QR code.
    pub code: Option<String>,
    /// A line beside the code (e.g. the submission time, which tells an old form from the current).
    pub code_note: Option<String>,
    pub sections: Vec<Section>,
    /// The accepted photo, as stored.
    pub photo: Option<&'a [u8]>,
    /// The declaration the candidate signs under.
    pub declaration: String,
    /// Small print at the foot of the page: when it was generated, what the code means.
    pub footer: Vec<String>,
}

pub struct Section {
    pub title: String,
    pub fields: Vec<Field>,
}

pub struct Field {
    pub label: String,
    pub value: String,
    /// Takes a whole row (addresses, unit names, subject lists).
    pub wide: bool,
}

impl Field {
    pub fn new(label: &str, value: impl Into<String>) -> Self {
        Field { label: label.into(), value: value.into(), wide: false }
    }
    pub fn wide(label: &str, value: impl Into<String>) -> Self {
        Field { label: label.into(), value: value.into(), wide: true }
    }
}

/// The PDF, and every character none of the fonts has (drawn as `[U+XXXX]`, never dropped).
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub missing: Vec<char>,
}

// A4 in points, and the page's margins.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const LEFT: f32 = 42.0;
const RIGHT: f32 = PAGE_W - 42.0;
const LABEL_W: f32 = 80.0;

/// One glyph as laid out: which font, its id there, the character it stands for.
#[derive(Clone, Copy)]
struct Glyph {
    font: usize,
    gid: u16,
    ch: char,
}

enum Op {
    Text { x: f32, y: f32, size: f32, glyphs: Vec<Glyph> },
    Rect { x: f32, y: f32, w: f32, h: f32, fill: Option<f32> },
    Image { matrix: [f32; 6] },
}

struct Layout<'f> {
    faces: Vec<Face<'f>>,
    ops: Vec<Op>,
    missing: Vec<char>,
}

impl<'f> Layout<'f> {
    /// The glyphs of `text`, each from the first font that has it; a character none has is
    /// spelled out as `[U+XXXX]` and reported.
    fn shape(&mut self, text: &str) -> Vec<Glyph> {
        let mut out = Vec::with_capacity(text.len());
        for ch in text.chars() {
            let ch = if ch.is_control() { ' ' } else { ch };
            match self.lookup(ch) {
                Some(g) => out.push(g),
                None => {
                    if !self.missing.contains(&ch) {
                        self.missing.push(ch);
                    }
                    let spelled = format!("[U+{:04X}]", u32::from(ch));
                    out.extend(spelled.chars().filter_map(|c| self.lookup(c)));
                }
            }
        }
        out
    }

    fn lookup(&self, ch: char) -> Option<Glyph> {
        self.faces
            .iter()
            .enumerate()
            .find_map(|(font, f)| f.glyph_index(ch).filter(|g| g.0 != 0).map(|g| Glyph { font, gid: g.0, ch }))
    }

    /// Advance of a glyph in text-space units per point of size.
    fn advance(&self, g: Glyph) -> f32 {
        let f = &self.faces[g.font];
        f32::from(f.glyph_hor_advance(GlyphId(g.gid)).unwrap_or(0)) / f32::from(f.units_per_em())
    }

    fn width(&self, glyphs: &[Glyph], size: f32) -> f32 {
        glyphs.iter().map(|g| self.advance(*g)).sum::<f32>() * size
    }

    fn text(&mut self, x: f32, y: f32, size: f32, text: &str) -> f32 {
        let glyphs = self.shape(text);
        let w = self.width(&glyphs, size);
        self.ops.push(Op::Text { x, y, size, glyphs });
        w
    }

    fn centred(&mut self, cx: f32, y: f32, size: f32, text: &str) {
        let glyphs = self.shape(text);
        let w = self.width(&glyphs, size);
        self.ops.push(Op::Text { x: cx - w / 2.0, y, size, glyphs });
    }

    /// Break `text` into lines no wider than `max` (CJK breaks anywhere; so does this).
    fn wrap(&mut self, text: &str, size: f32, max: f32) -> Vec<Vec<Glyph>> {
        let mut lines = vec![];
        let mut line: Vec<Glyph> = vec![];
        let mut w = 0.0;
        for g in self.shape(text) {
            let a = self.advance(g) * size;
            if w + a > max && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                w = 0.0;
            }
            line.push(g);
            w += a;
        }
        lines.push(line);
        lines
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, fill: Option<f32>) {
        self.ops.push(Op::Rect { x, y, w, h, fill });
    }
}

const VALUE_SIZE: f32 = 9.5;
const LINE: f32 = 12.0;

/// Lay out and write the form.
pub fn render(doc: &Document<'_>, fonts: &Fonts) -> Result<Rendered, FormError> {
    let faces = fonts
        .0
        .iter()
        .map(|f| Face::parse(&f.data, f.index).map_err(|e| FormError::Font(format!("{}: {e}", f.name))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut l = Layout { faces, ops: vec![], missing: vec![] };
    let photo = doc.photo.map(|p| jpeg::info(p).map(|i| (p, i)).ok_or(FormError::Photo)).transpose()?;

    // Title and banner.
    l.centred(PAGE_W / 2.0, 800.0, 17.0, &doc.title);
    if let Some(b) = &doc.banner {
        l.centred(PAGE_W / 2.0, 780.0, 10.0, b);
    }

    // The code, large, with its QR code; the photo at the top right.
    let top = 766.0;
    let qr_size = 92.0;
    let mut qr = None;
    if let Some(code) = &doc.code {
        qr = QrCode::encode_text(code, QrCodeEcc::Medium).ok();
        l.text(LEFT + qr_size + 14.0, top - 24.0, 10.0, "验证码(现场确认凭此码)");
        l.text(LEFT + qr_size + 14.0, top - 54.0, 24.0, code);
    }
    if let Some(note) = &doc.code_note {
        l.text(LEFT + qr_size + 14.0, top - 76.0, 9.0, note);
    }
    let (pw, ph) = (96.0, 128.0);
    let (px, py) = (RIGHT - pw, top - ph);
    l.rect(px, py, pw, ph, None);
    match photo {
        Some((_, info)) => {
            // Fit the picture as shown into the box, centred, keeping its proportions.
            let (sw, sh) = info.shown();
            let scale = (pw / sw as f32).min(ph / sh as f32);
            let (dw, dh) = (sw as f32 * scale, sh as f32 * scale);
            let matrix = jpeg::placement(info.orientation, (px + (pw - dw) / 2.0, py + (ph - dh) / 2.0, dw, dh));
            l.ops.push(Op::Image { matrix });
        }
        None => l.centred(px + pw / 2.0, py + ph / 2.0, 10.0, "(照片)"),
    }

    // The fields, section by section: two to a row, or one across the row.
    let mut y = py - 14.0;
    for s in &doc.sections {
        let h = 16.0;
        y -= h;
        l.rect(LEFT, y, RIGHT - LEFT, h, Some(0.88));
        l.text(LEFT + 6.0, y + 4.5, 10.0, &s.title);
        let mut i = 0;
        while i < s.fields.len() {
            let f = &s.fields[i];
            let pair = !f.wide && s.fields.get(i + 1).is_some_and(|n| !n.wide);
            let cells: Vec<(&Field, f32, f32)> = if pair {
                let half = (RIGHT - LEFT) / 2.0;
                vec![(f, LEFT, half), (&s.fields[i + 1], LEFT + half, half)]
            } else {
                vec![(f, LEFT, RIGHT - LEFT)]
            };
            i += cells.len();
            let wrapped: Vec<Vec<Vec<Glyph>>> =
                cells.iter().map(|(f, _, w)| l.wrap(&f.value, VALUE_SIZE, w - LABEL_W - 10.0)).collect();
            let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).clamp(1, 4);
            let h = (lines as f32 * LINE + 5.0).max(17.0);
            y -= h;
            for ((f, x, w), value) in cells.iter().zip(wrapped) {
                l.rect(*x, y, LABEL_W, h, Some(0.96));
                l.rect(*x + LABEL_W, y, w - LABEL_W, h, None);
                // A long label is set smaller rather than run into its value.
                let glyphs = l.shape(&f.label);
                let size = (9.0f32).min((LABEL_W - 8.0) / l.width(&glyphs, 1.0).max(1.0));
                l.ops.push(Op::Text { x: *x + 4.0, y: y + h - 12.0, size, glyphs });
                for (k, line) in value.into_iter().take(4).enumerate() {
                    l.ops.push(Op::Text {
                        x: *x + LABEL_W + 5.0,
                        y: y + h - 12.0 - k as f32 * LINE,
                        size: VALUE_SIZE,
                        glyphs: line,
                    });
                }
            }
        }
    }

    // The declaration, then room for the candidate's signature and the employer's stamp.
    y -= 18.0;
    l.text(LEFT, y, 9.5, &doc.declaration);
    let bh = 78.0;
    y -= bh + 8.0;
    let half = (RIGHT - LEFT) / 2.0;
    for (k, label) in ["考生签名:", "单位人事部门意见(盖章):"].iter().enumerate() {
        let x = LEFT + half * k as f32;
        l.rect(x, y, half, bh, None);
        l.text(x + 6.0, y + bh - 16.0, 10.0, label);
        l.text(x + half - 110.0, y + 10.0, 10.0, "年      月      日");
    }
    let mut fy = 52.0;
    for line in &doc.footer {
        l.text(LEFT, fy, 8.0, line);
        fy -= 11.0;
    }

    let missing = std::mem::take(&mut l.missing);
    Ok(Rendered { pdf: write(&l, fonts, photo, qr.as_ref(), (LEFT, top - qr_size, qr_size))?, missing })
}

/// A six-letter subset tag from the glyphs used: `pdffonts` and viewers read `ABCDEF+Name` as
/// "subset", and two different subsets never share a name.
fn subset_tag(gids: impl Iterator<Item = u16>) -> String {
    let mut h: u32 = 0x811C_9DC5;
    for g in gids {
        for b in g.to_be_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    (0..6).map(|i| char::from(b'A' + ((h >> (i * 5)) % 26) as u8)).collect()
}

fn write(
    l: &Layout<'_>,
    fonts: &Fonts,
    photo: Option<(&[u8], jpeg::JpegInfo)>,
    qr: Option<&QrCode>,
    (qx, qy, qs): (f32, f32, f32),
) -> Result<Vec<u8>, FormError> {
    // Which glyphs of which font the page uses, and their ids in each subset.
    let mut remap: Vec<GlyphRemapper> = (0..l.faces.len()).map(|_| GlyphRemapper::new()).collect();
    let mut chars: Vec<BTreeMap<u16, char>> = vec![BTreeMap::new(); l.faces.len()];
    for op in &l.ops {
        if let Op::Text { glyphs, .. } = op {
            for g in glyphs {
                remap[g.font].remap(g.gid);
            }
        }
    }
    for op in &l.ops {
        if let Op::Text { glyphs, .. } = op {
            for g in glyphs {
                if let Some(new) = remap[g.font].get(g.gid) {
                    chars[g.font].entry(new).or_insert(g.ch);
                }
            }
        }
    }

    let mut pdf = Pdf::new();
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let (catalog, pages, page, content_id, image_id) = (alloc(), alloc(), alloc(), alloc(), alloc());
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page]).count(1);

    // One Type0 font per font file the page uses.
    let mut font_names: Vec<Option<String>> = vec![None; l.faces.len()];
    let mut font_refs: Vec<Option<Ref>> = vec![None; l.faces.len()];
    for (i, face) in l.faces.iter().enumerate() {
        if chars[i].is_empty() {
            continue;
        }
        let file = &fonts.0[i];
        let (type0, cid, descriptor, data_id, cmap_id) = (alloc(), alloc(), alloc(), alloc(), alloc());
        let base = format!("{}+{}", subset_tag(remap[i].remapped_gids()), file.name);
        let bytes = subsetter::subset(&file.data, file.index, &remap[i])
            .map_err(|e| FormError::Font(format!("{}: {e:?}", file.name)))?;
        let em = f32::from(face.units_per_em());
        let scale = |v: i16| f32::from(v) * 1000.0 / em;
        pdf.type0_font(type0)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(cmap_id);
        let mut c = pdf.cid_font(cid);
        c.subtype(CidFontType::Type2)
            .base_font(Name(base.as_bytes()))
            .system_info(SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 })
            .font_descriptor(descriptor)
            .default_width(1000.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        {
            let mut w = c.widths();
            for old in remap[i].remapped_gids() {
                let new = remap[i].get(old).unwrap_or(0);
                let adv = face.glyph_hor_advance(GlyphId(old)).unwrap_or(0);
                w.consecutive(new, [f32::from(adv) * 1000.0 / em]);
            }
        }
        c.finish();
        let bbox = face.global_bounding_box();
        pdf.font_descriptor(descriptor)
            .name(Name(base.as_bytes()))
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(scale(bbox.x_min), scale(bbox.y_min), scale(bbox.x_max), scale(bbox.y_max)))
            .italic_angle(0.0)
            .ascent(scale(face.ascender()))
            .descent(scale(face.descender()))
            .cap_height(scale(face.capital_height().unwrap_or(face.ascender())))
            .stem_v(80.0)
            .font_file2(data_id);
        pdf.stream(data_id, &bytes).pair(Name(b"Length1"), bytes.len() as i32);
        let mut cmap = pdf_writer::types::UnicodeCmap::new(
            Name(b"Custom"),
            SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"UCS"), supplement: 0 },
        );
        for (gid, ch) in &chars[i] {
            cmap.pair(*gid, *ch);
        }
        let cmap = cmap.finish();
        pdf.cmap(cmap_id, &cmap);
        font_names[i] = Some(format!("F{i}"));
        font_refs[i] = Some(type0);
    }

    // The content stream.
    let mut c = Content::new();
    c.set_stroke_gray(0.0).set_line_width(0.6);
    for op in &l.ops {
        match op {
            Op::Rect { x, y, w, h, fill } => {
                c.save_state();
                if let Some(g) = fill {
                    c.set_fill_gray(*g);
                    c.rect(*x, *y, *w, *h).fill_nonzero_and_stroke();
                } else {
                    c.rect(*x, *y, *w, *h).stroke();
                }
                c.restore_state();
            }
            Op::Image { matrix } => {
                c.save_state().transform(*matrix).x_object(Name(b"Photo")).restore_state();
            }
            Op::Text { x, y, size, glyphs } => {
                // One text object per run of glyphs from the same font.
                let mut start = 0;
                let mut cx = *x;
                while start < glyphs.len() {
                    let font = glyphs[start].font;
                    let end = glyphs[start..].iter().position(|g| g.font != font).map_or(glyphs.len(), |p| start + p);
                    let run = &glyphs[start..end];
                    let bytes: Vec<u8> =
                        run.iter().flat_map(|g| remap[font].get(g.gid).unwrap_or(0).to_be_bytes()).collect();
                    let name = font_names[font].clone().unwrap_or_default();
                    c.begin_text()
                        .set_font(Name(name.as_bytes()), *size)
                        .next_line(cx, *y)
                        .show(Str(&bytes))
                        .end_text();
                    cx += l.width(run, *size);
                    start = end;
                }
            }
        }
    }
    if let Some(q) = qr {
        // Dark modules as filled squares, with the four-module quiet zone scanners need.
        let n = q.size();
        let m = qs / (n + 8) as f32;
        c.save_state().set_fill_gray(0.0);
        for yy in 0..n {
            for xx in 0..n {
                if q.get_module(xx, yy) {
                    c.rect(qx + (xx + 4) as f32 * m, qy + qs - (yy + 5) as f32 * m, m, m);
                }
            }
        }
        c.fill_nonzero().restore_state();
    }
    let content = c.finish();
    pdf.stream(content_id, &content);

    if let Some((bytes, info)) = photo {
        let mut img = pdf.image_xobject(image_id, bytes);
        img.filter(Filter::DctDecode);
        img.width(info.width as i32).height(info.height as i32).bits_per_component(8);
        match info.components {
            1 => {
                img.color_space().device_gray();
            }
            4 => {
                img.color_space().device_cmyk();
                if info.adobe {
                    img.decode([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
                }
            }
            _ => {
                img.color_space().device_rgb();
            }
        }
    }

    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H)).parent(pages).contents(content_id);
    let mut res = p.resources();
    {
        let mut f = res.fonts();
        for (name, r) in font_names.iter().zip(&font_refs) {
            if let (Some(name), Some(r)) = (name, r) {
                f.pair(Name(name.as_bytes()), *r);
            }
        }
    }
    if photo.is_some() {
        res.x_objects().pair(Name(b"Photo"), image_id);
    }
    res.finish();
    p.finish();
    Ok(pdf.finish())
}
