//! Time to render one registration form (prints numbers, asserts none): a full page — about 30
//! fields, a rare-character name that needs the fallback font, the demo photo — with the shipped
//! fonts, as the application function renders it per download. `cargo bench -p form`.

use form::{Document, Field, FontFile, Fonts, Section, render};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/fonts/");
    let started = Instant::now();
    let read = |f: &str| -> Arc<[u8]> { std::fs::read(format!("{dir}{f}")).unwrap_or_default().into() };
    let fonts = match Fonts::new(vec![
        FontFile { name: "WenQuanYiMicroHei", data: read("wqy-microhei.ttc"), index: 0 },
        FontFile { name: "DroidSansFallbackFull", data: read("DroidSansFallbackFull.ttf"), index: 0 },
    ]) {
        Ok(f) => f,
        Err(e) => return eprintln!("fonts: {e}"),
    };
    println!("load fonts (read 9 MB + parse, once per environment): {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    let photo = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../local/demo-photo.jpg")).unwrap_or_default();
    let field = |l: &str, v: &str| Field::new(l, v);
    let doc = Document {
        title: "2025年度卫生专业技术资格考试 报名申请表".into(),
        banner: None,
        code: Some("7KQ2M9XH4C".into()),
        code_note: Some("提交时间:2024-12-01 10:00".into()),
        sections: vec![
            Section {
                title: "考生信息".into(),
                fields: vec![
                    field("姓名", "刘喆堃䶮"),
                    field("性别", "男"),
                    field("证件类型", "居民身份证"),
                    field("证件号码", "410102199206150035"),
                    field("出生日期", "1992-06-15"),
                    field("国籍", "中国"),
                    field("民族", "汉族"),
                    field("政治面貌", "群众"),
                ],
            },
            Section {
                title: "报考信息".into(),
                fields: vec![
                    Field::wide("考试项目", "2025年度卫生专业技术资格考试"),
                    field("考区", "河南"),
                    field("考点", "河南第一考点"),
                    field("级别", "中级"),
                    field("专业代码", "368"),
                    field("报考专业", "护理学(中级)"),
                    field("执业类别", "护士"),
                    Field::wide("报考科目", "基础知识、相关专业知识、专业知识、专业实践能力"),
                    field("首次注册时间", "2016-01"),
                    field("住培合格证书", "无"),
                ],
            },
            Section {
                title: "教育情况".into(),
                fields: vec![
                    field("学历", "本科"),
                    field("学位", "学士"),
                    field("毕业学校", "郑州大学"),
                    field("所学专业", "护理学"),
                    field("毕业时间", "2015-07"),
                ],
            },
            Section {
                title: "联系方式".into(),
                fields: vec![
                    field("手机号码", "13912345678"),
                    field("邮政编码", "450000"),
                    Field::wide("通讯地址", "河南省郑州市金水区经三路15号院3号楼2单元501室"),
                ],
            },
        ],
        photo: Some(&photo),
        declaration: "本人承诺:以上信息真实、准确,所提交材料真实有效,如有虚假,自愿承担相应责任。".into(),
        footer: vec!["生成时间:2024-12-01 10:05(北京时间)".into()],
    };
    let runs = 200;
    let mut ms = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        match render(&doc, &fonts) {
            Ok(r) => size = r.pdf.len(),
            Err(e) => return eprintln!("render: {e}"),
        }
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "render one form ({runs} runs): median {:.2} ms, p99 {:.2} ms, min {:.2} ms; PDF {} KB (photo {} KB)",
        ms[runs / 2],
        ms[runs * 99 / 100],
        ms[0],
        size / 1024,
        photo.len() / 1024
    );
}
