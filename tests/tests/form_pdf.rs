//! The printable registration form (R15) as a PDF, read back with the tools a site or a phone
//! would use: poppler's `pdftotext`, `pdffonts`, `pdfimages` and `pdftoppm` (rendering with no
//! font installed at all: an empty fontconfig), and `zbarimg` for the QR code. On both backends:
//! the photo is read back from the object store the upload landed in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::steps::{P, code_of, fill_all, start};
use e2e::{Person, TestApp, desk};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A name with characters beyond GB2312: 喆 and 堃 (in the main font) and 䶮 (CJK Extension A,
/// only in the fallback font).
const LIU: Person = Person {
    account: "liu_yan",
    name: "刘喆堃䶮",
    id_number: "410102199206150035",
    gender: "male",
    birth_date: "1992-06-15",
};

fn tool(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        // No system font can stand in for an embedded one: fontconfig sees an empty font list.
        .env("FONTCONFIG_FILE", dir.join("fonts.conf"))
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/test installs poppler-utils and zbar-tools): {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A work directory holding `form.pdf`, with a fontconfig that knows no fonts.
fn workdir(pdf: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("form.pdf"), pdf).unwrap();
    let conf = format!(
        "<?xml version=\"1.0\"?><fontconfig><dir>{0}/no-fonts</dir><cachedir>{0}/cache</cachedir></fontconfig>",
        dir.path().display()
    );
    std::fs::write(dir.path().join("fonts.conf"), conf).unwrap();
    dir
}

/// A binary PPM (P6) as written by `pdftoppm`: width, height, RGB bytes.
fn ppm(path: &PathBuf) -> (usize, usize, Vec<u8>) {
    let b = std::fs::read(path).unwrap();
    let mut fields = vec![];
    let mut i = 0;
    while fields.len() < 4 {
        while b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !b[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&b[start..i]).into_owned());
    }
    assert_eq!(fields[0], "P6");
    let (w, h) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    (w, h, b[i + 1..].to_vec())
}

async fn submitted_with_turned_photo(app: &TestApp) -> (String, String) {
    let token = start(app, &LIU, "41").await;
    fill_all(app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    let fixtures = e2e::photo_fixtures();
    let bytes = std::fs::read(fixtures.path().join("portrait-rotated.jpg")).unwrap();
    let (_, ticket) = app.call("POST", &format!("{P}/photo/upload-url"), Some(&token), None).await;
    assert!(local_server::upload::upload(&ticket, "image/jpeg", bytes).await.unwrap() < 300);
    app.await_judged(ticket["key"].as_str().unwrap()).await;
    let body = json!({"source": "replacement", "key": ticket["key"]});
    let (s, v) = e2e::steps::use_upload(app, &token, &format!("{P}/photo"), body).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    (token, v["verification_code"].as_str().unwrap().to_string())
}

/// R15: the whole form, self-contained: every label, the rare name, the full ID number and the
/// code extract as text; both fonts are embedded subsets with ToUnicode maps; the photo is the
/// JPEG that was accepted, turned upright; the QR code reads back as the code; and the page
/// renders with no font installed.
async fn r15_the_printed_form_is_a_self_contained_pdf(app: TestApp) {
    let (token, code) = submitted_with_turned_photo(&app).await;
    let (s, ct, pdf) = app.get_bytes(&format!("{P}/form.pdf"), &token).await;
    assert_eq!((s, ct.as_str()), (200, "application/pdf"), "{}", String::from_utf8_lossy(&pdf));
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = workdir(&pdf);
    let d = dir.path();
    if let Ok(keep) = std::env::var("FORM_PDF_KEEP") {
        std::fs::write(keep, &pdf).unwrap();
    }

    let text = tool(d, "pdftotext", &["-layout", "form.pdf", "-"]);
    for label in [
        "报名申请表",
        "验证码",
        "姓名",
        "证件号码",
        "考区",
        "考点",
        "报考专业",
        "报考科目",
        "执业类别",
        "毕业学校",
        "工作单位",
        "手机号码",
        "考生签名",
        "单位人事部门意见(盖章)",
        "生成时间",
    ] {
        assert!(text.contains(label), "label {label} in:\n{text}");
    }
    assert!(text.contains(LIU.name), "the name with 喆堃䶮 extracts:\n{text}");
    assert!(text.contains(LIU.id_number), "the printed form carries the full ID number");
    assert!(text.contains(&code), "the live code");
    assert!(text.contains("郑州市第一人民医院"));

    let fonts = tool(d, "pdffonts", &["form.pdf"]);
    let embedded: Vec<&str> = fonts.lines().filter(|l| l.contains("CID TrueType")).collect();
    assert_eq!(embedded.len(), 2, "main and fallback font:\n{fonts}");
    for l in &embedded {
        // emb sub uni
        assert!(l.contains("yes yes yes"), "embedded, subset, with ToUnicode: {l}");
        assert!(l.split_whitespace().next().unwrap().as_bytes()[6] == b'+', "subset tag: {l}");
    }

    let images = tool(d, "pdfimages", &["-list", "form.pdf"]);
    let photo: Vec<&str> = images.lines().skip(2).collect();
    assert_eq!(photo.len(), 1, "{images}");
    let cols: Vec<&str> = photo[0].split_whitespace().collect();
    // page num type width height color comp bpc enc: the JPEG as stored (turned, 441×358).
    assert_eq!((cols[3], cols[4], cols[5], cols[8]), ("441", "358", "rgb", "jpeg"), "{images}");
    tool(d, "pdfimages", &["-j", "form.pdf", "img"]);
    let fixtures = e2e::photo_fixtures();
    assert_eq!(
        std::fs::read(d.join("img-000.jpg")).unwrap(),
        std::fs::read(fixtures.path().join("portrait-rotated.jpg")).unwrap(),
        "the photo is the accepted JPEG, byte for byte"
    );

    // Rendered with no font on the machine (fontconfig lists none).
    assert_eq!(tool(d, "fc-list", &[]).trim(), "", "fontconfig sees no font");
    tool(d, "pdftoppm", &["-r", "72", "form.pdf", "page"]);
    let (w, h, px) = ppm(&d.join("page-1.ppm"));
    assert!((595..=596).contains(&w) && h == 842, "A4 at 72 dpi: {w}×{h}");
    let at = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        (px[i], px[i + 1], px[i + 2])
    };
    // The title (baseline 800 pt, 17 pt) is drawn: dark pixels in its band.
    let ink = (28..46).flat_map(|y| (0..w).map(move |x| (x, y))).filter(|&(x, y)| at(x, y).0 < 100).count();
    assert!(ink > 300, "the title's glyphs render from the embedded font ({ink} dark pixels)");
    // The photo box is x 457–553, y 76–204 from the top; the photo shown upright fills its
    // width (96 × 118) centred: red band at its top, blue at its bottom.
    let red = |(r, g, b): (u8, u8, u8)| r > 150 && g < 90 && b < 90;
    assert!(red(at(505, 86)), "top of the photo is the red band: {:?}", at(505, 86));
    assert!(!red(at(505, 190)), "bottom of the photo is not: {:?}", at(505, 190));
    assert!(!red(at(462, 140)) && !red(at(548, 140)), "the band is not on a side (EXIF orientation applied)");

    tool(d, "pdftoppm", &["-r", "150", "-png", "form.pdf", "scan"]);
    let scanned = tool(d, "zbarimg", &["-q", "--raw", "scan-1.png"]);
    assert_eq!(scanned.trim(), code, "the QR code reads back as the verification code");
}

/// R18, R17: an old printed form is dead — after withdrawing and resubmitting, the new form
/// carries a new code and the one printed before confirms nothing; a withdrawn application's
/// PDF is refused as its JSON form is; before submitting there is no form (outside online
/// districts).
async fn r18_an_old_printed_form_is_dead_and_a_withdrawn_one_is_refused(app: TestApp) {
    let token = start(&app, &e2e::ZHANG, "41").await;
    fill_all(&app, &token, "4101", &["1", "2", "3", "4"], "郑州市第一人民医院").await;
    app.call("PUT", &format!("{P}/photo"), Some(&token), Some(json!({"source": "registered"}))).await;
    let (s, _, body) = app.get_bytes(&format!("{P}/form.pdf"), &token).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((s, code_of(&v)), (409, "NOT_SUBMITTED"));
    let (_, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    let first = v["verification_code"].as_str().unwrap().to_string();
    let (_, _, old_pdf) = app.get_bytes(&format!("{P}/form.pdf"), &token).await;
    let old = workdir(&old_pdf);
    let old_text = tool(old.path(), "pdftotext", &["-layout", "form.pdf", "-"]);
    assert!(old_text.contains(&first));

    app.call("POST", &format!("{P}/withdraw"), Some(&token), None).await;
    let (s, _, body) = app.get_bytes(&format!("{P}/form.pdf"), &token).await;
    let pdf_refusal: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let (js, json_refusal) = app.call("GET", &format!("{P}/form"), Some(&token), None).await;
    assert_eq!((s, code_of(&pdf_refusal)), (js, code_of(&json_refusal)), "refused like the JSON form");
    assert!(s >= 400);

    let (_, v) = app.call("POST", &format!("{P}/submit"), Some(&token), None).await;
    let live = v["verification_code"].as_str().unwrap().to_string();
    assert_ne!(live, first);
    let (_, _, new_pdf) = app.get_bytes(&format!("{P}/form.pdf"), &token).await;
    let new = workdir(&new_pdf);
    let new_text = tool(new.path(), "pdftotext", &["-layout", "form.pdf", "-"]);
    assert!(new_text.contains(&live) && !new_text.contains(&first), "the new form carries only the live code");

    let (clerk, _, _) = e2e::steps::henan_staff(&app).await;
    let (s, v) = desk::confirm_code(&app, &clerk, &first).await;
    assert_eq!((s, code_of(&v)), (404, "CODE_NOT_FOUND"), "R18: the old printed code confirms nothing");
}

/// R41: in an online-confirmation district the form can be downloaded before submitting, as a
/// preview marked as such, with no code and no QR code.
async fn r41_an_online_district_downloads_a_preview_before_submitting(app: TestApp) {
    let token = start(&app, &e2e::ZHANG, "12").await;
    let pages = [
        ("site", json!({"site": "1201", "point": "1201P1"})),
        ("basic", e2e::steps::basic()),
        ("contact", e2e::steps::contact()),
        ("exam", e2e::steps::exam(&["1", "2", "3", "4"])),
        ("education", json!({"degree_record_id": "d1"})),
        ("work", e2e::steps::work("天津医院")),
    ];
    for (name, body) in pages {
        assert_eq!(e2e::steps::page(&app, &token, name, body).await.0, 200, "{name}");
    }
    let (s, ct, pdf) = app.get_bytes(&format!("{P}/form.pdf"), &token).await;
    assert_eq!((s, ct.as_str()), (200, "application/pdf"));
    let dir = workdir(&pdf);
    let text = tool(dir.path(), "pdftotext", &["-layout", "form.pdf", "-"]);
    assert!(text.contains("预览件") && text.contains("报名点"), "{text}");
    assert!(!text.contains("验证码(现场确认凭此码)"), "a preview carries no code");
}

e2e::on_both_backends!(
    r15_the_printed_form_is_a_self_contained_pdf,
    r18_an_old_printed_form_is_dead_and_a_withdrawn_one_is_refused,
    r41_an_online_district_downloads_a_preview_before_submitting,
);
