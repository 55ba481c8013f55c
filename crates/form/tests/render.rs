//! The form renders with the shipped fonts: rare name characters come from the fallback font,
//! a character no font has is reported, and the photo passes through as the same bytes.
#![allow(clippy::expect_used)]

use form::{Document, Field, FontFile, Fonts, Section, render};
use std::sync::Arc;

fn fonts() -> Fonts {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/fonts/");
    let read = |f: &str| -> Arc<[u8]> { std::fs::read(format!("{dir}{f}")).expect("font").into() };
    Fonts::new(vec![
        FontFile { name: "WenQuanYiMicroHei", data: read("wqy-microhei.ttc"), index: 0 },
        FontFile { name: "DroidSansFallbackFull", data: read("DroidSansFallbackFull.ttf"), index: 0 },
    ])
    .expect("fonts parse")
}

fn doc<'a>(name: &str, photo: Option<&'a [u8]>) -> Document<'a> {
    Document {
        title: "2026年度卫生专业技术资格考试 报名申请表".into(),
        banner: None,
        code: Some("ABCDE23456".into()),
        code_note: Some("提交时间:2026-03-05 10:00".into()),
        sections: vec![Section {
            title: "考生信息".into(),
            fields: vec![Field::new("姓名", name), Field::new("性别", "男"), Field::wide("通讯地址", "河南省郑州市")],
        }],
        photo,
        declaration: "本人承诺以上信息真实准确。".into(),
        footer: vec!["生成时间:2026-03-05 10:00".into()],
    }
}

#[test]
fn rare_name_characters_come_from_the_fallback_and_none_is_missing() {
    let r = render(&doc("张喆堃䶮", None), &fonts()).expect("renders");
    assert!(r.missing.is_empty(), "{:?}", r.missing);
    let s = String::from_utf8_lossy(&r.pdf);
    // Both fonts embedded as subsets (䶮 is only in the fallback).
    assert!(s.contains("+WenQuanYiMicroHei"), "main font");
    assert!(s.contains("+DroidSansFallbackFull"), "fallback font");
    assert!(s.contains("/FontFile2"));
    assert!(s.contains("/ToUnicode"));
    if let Ok(out) = std::env::var("FORM_TEST_OUT") {
        std::fs::write(out, &r.pdf).expect("write");
    }
}

#[test]
fn a_character_no_font_has_is_reported_and_spelled_out() {
    // U+2A6D6 (CJK Extension B) is in neither shipped font.
    let r = render(&doc("王\u{2A6D6}", None), &fonts()).expect("renders");
    assert_eq!(r.missing, vec!['\u{2A6D6}']);
}

#[test]
fn only_the_main_font_is_embedded_when_it_has_every_character() {
    let r = render(&doc("李明", None), &fonts()).expect("renders");
    let s = String::from_utf8_lossy(&r.pdf);
    assert!(s.contains("+WenQuanYiMicroHei"));
    assert!(!s.contains("DroidSansFallbackFull"));
}

#[test]
fn the_photo_is_carried_as_the_same_jpeg_bytes() {
    let jpeg = shared_like_jpeg();
    let r = render(&doc("李明", Some(&jpeg)), &fonts()).expect("renders");
    let at = r.pdf.windows(jpeg.len()).position(|w| w == jpeg.as_slice());
    assert!(at.is_some(), "the JPEG's bytes appear unchanged in the PDF");
    assert!(String::from_utf8_lossy(&r.pdf).contains("/DCTDecode"));
}

#[test]
fn a_photo_that_is_not_a_jpeg_is_refused() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    assert!(render(&doc("李明", Some(&png)), &fonts()).is_err());
}

/// A minimal JPEG header (SOI, SOF0 358×441 three components, SOS, EOI): what the PDF writer
/// reads of it; the viewer-side rendering is checked end to end with a real encoder's JPEG.
fn shared_like_jpeg() -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8];
    b.extend([0xFF, 0xC0, 0, 17, 8, 0x01, 0xB9, 0x01, 0x66, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    b.extend([0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3F, 0, 0x12, 0x34, 0xFF, 0xD9]);
    b
}
