//! The registration form as the candidate prints it (R15): what each field of
//! [`RegistrationForm`] is called on paper, and where the fonts come from — a directory (the
//! Lambda layer's `/opt/fonts`, or the repository's `assets/fonts` locally), read on the first
//! download, not at cold start, so the function starts as fast as it did without it.

use edge::wire::RegistrationForm;
use form::{Document, Field, FontFile, Fonts, Section};
use shared::domain::account::EducationLevel;
use shared::domain::identity::{Gender, IdType};
use shared::domain::values::ymd;
use shared::error::Refusal;
use shared::reference::{Level, PracticeCategory};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// The shipped fonts, in the order each character is looked up: WenQuanYi Micro Hei (GB2312 and
/// far beyond, Latin), then Droid Sans Fallback Full for what it lacks (CJK Extension A, e.g. 䶮).
pub const FONT_FILES: [(&str, &str); 2] =
    [("wqy-microhei.ttc", "WenQuanYiMicroHei"), ("DroidSansFallbackFull.ttf", "DroidSansFallbackFull")];

/// Where the fonts are, loaded once per execution environment when first needed.
pub struct FormFonts {
    dir: PathBuf,
    loaded: OnceLock<Fonts>,
}

impl FormFonts {
    /// Fonts in `dir`. The files must be there (checked now: a stat, not a read), so a missing
    /// layer stops the cold start rather than a candidate's download.
    pub fn at(dir: PathBuf) -> Result<Self, String> {
        for (file, _) in FONT_FILES {
            if !dir.join(file).is_file() {
                return Err(format!("{} has no {file}", dir.display()));
            }
        }
        Ok(FormFonts { dir, loaded: OnceLock::new() })
    }

    pub fn get(&self) -> Result<&Fonts, Refusal> {
        if let Some(f) = self.loaded.get() {
            return Ok(f);
        }
        let files = FONT_FILES
            .iter()
            .map(|(file, name)| {
                std::fs::read(self.dir.join(file)).map(|d| FontFile { name, data: Arc::from(d), index: 0 })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                tracing::error!(error = %e, dir = %self.dir.display(), "form fonts unreadable");
                Refusal::internal()
            })?;
        let fonts = Fonts::new(files).map_err(|e| {
            tracing::error!(error = %e, "form fonts do not parse");
            Refusal::internal()
        })?;
        Ok(self.loaded.get_or_init(|| fonts))
    }
}

/// Beijing time, as printed on the form (ISO-like digits; reminders spell it 年月日).
fn beijing(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::macros::offset!(+8));
    format!("{:04}-{:02}-{:02} {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

fn id_type(t: IdType) -> &'static str {
    match t {
        IdType::ResidentId => "居民身份证",
        IdType::HkMacauPermit => "港澳居民来往内地通行证",
        IdType::TaiwanPermit => "台湾居民来往大陆通行证",
        IdType::Passport => "护照",
        IdType::ForeignPermanentResident => "外国人永久居留身份证",
    }
}

fn level(l: Level) -> &'static str {
    match l {
        Level::Junior => "初级(士)",
        Level::Primary => "初级(师)",
        Level::Intermediate => "中级",
        Level::Nurse => "护士执业资格",
    }
}

fn practice(p: PracticeCategory) -> &'static str {
    match p {
        PracticeCategory::Clinical => "临床",
        PracticeCategory::Dental => "口腔",
        PracticeCategory::Tcm => "中医",
        PracticeCategory::PublicHealth => "公共卫生",
        PracticeCategory::Nurse => "护士",
        PracticeCategory::None => "无",
    }
}

fn education(e: EducationLevel) -> &'static str {
    match e {
        EducationLevel::Secondary => "中专",
        EducationLevel::College => "大专",
        EducationLevel::Bachelor => "本科",
        EducationLevel::Master => "硕士研究生",
        EducationLevel::Doctor => "博士研究生",
    }
}

fn or_none(v: Option<String>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or_else(|| "—".into())
}

/// The page's content: every field of the form, in the guide's order.
pub fn document<'a>(f: &RegistrationForm, photo: Option<&'a [u8]>, now: OffsetDateTime) -> Document<'a> {
    let p = &f.pages;
    let mut sections = vec![Section {
        title: "考生信息".into(),
        fields: vec![
            Field::new("姓名", f.name.clone()),
            Field::new(
                "性别",
                match f.gender {
                    Gender::Male => "男",
                    Gender::Female => "女",
                },
            ),
            Field::new("证件类型", id_type(f.id_type)),
            // The printed form is the one place the full number appears (the site checks it
            // against the document).
            Field::new("证件号码", f.id_number.expose()),
            Field::new("出生日期", f.birth_date.clone()),
            Field::new("国籍", f.nationality.clone()),
            Field::new("民族", or_none(p.basic.as_ref().map(|b| b.ethnicity.clone()))),
            Field::new("政治面貌", or_none(p.basic.as_ref().and_then(|b| b.political_status.clone()))),
            Field::new(
                "证件有效期至",
                p.basic.as_ref().map_or("—".into(), |b| b.id_valid_until.map_or("长期有效".into(), ymd)),
            ),
        ],
    }];
    let mut exam = vec![
        Field::wide("考试项目", f.project_name.clone()),
        Field::new("考区", f.district_name.clone()),
        Field::new("考点", f.site_name.clone()),
    ];
    if let Some(point) = &f.point_name {
        exam.push(Field::wide("报名点", point.clone()));
    }
    exam.push(Field::new("级别", level(f.level)));
    exam.push(Field::new("专业代码", f.specialty_code.clone()));
    exam.push(Field::new("报考专业", f.specialty_name.clone()));
    if let Some(e) = &p.exam {
        exam.push(Field::new("执业类别", practice(e.practice_category)));
    }
    exam.push(Field::wide("报考科目", f.subjects.join("、")));
    if let Some(e) = &p.exam {
        exam.push(Field::new("首次注册时间", or_none(e.first_registration.map(|m| m.to_string()))));
        exam.push(Field::new(
            "住培合格证书",
            if e.has_residency_certificate {
                format!("有(发证时间 {})", or_none(e.residency_certificate_issued.map(|m| m.to_string())))
            } else {
                "无".into()
            },
        ));
    }
    sections.push(Section { title: "报考信息".into(), fields: exam });
    if let Some(e) = &p.education {
        let r = &e.record;
        sections.push(Section {
            title: "教育情况".into(),
            fields: vec![
                Field::new("学历", education(r.level)),
                Field::new("学位", or_none(r.degree.clone())),
                Field::new("毕业学校", r.school.clone()),
                Field::new("所学专业", r.major.clone()),
                Field::new("毕业时间", r.graduated.to_string()),
            ],
        });
    }
    if let Some(w) = &p.work {
        let mut fields = vec![Field::wide("工作单位", w.unit_name.clone())];
        if let Some(c) = &w.unit_category {
            fields.push(Field::new("单位类别", c.clone()));
        }
        fields.push(Field::new("参加工作时间", w.started_work.to_string()));
        sections.push(Section { title: "工作情况".into(), fields });
    }
    if let Some(c) = &p.contact {
        sections.push(Section {
            title: "联系方式".into(),
            fields: vec![
                Field::new("手机号码", c.phone.as_str()),
                Field::new("邮政编码", or_none(c.postcode.clone())),
                Field::wide("通讯地址", c.address.clone()),
                Field::wide("电子邮箱", or_none(c.email.clone())),
            ],
        });
    }
    let generated = format!("生成时间:{}(北京时间)", beijing(now));
    let (banner, code_note, footer) = match (&f.verification_code, f.submitted_at) {
        (Some(_), Some(at)) => (
            None,
            Some(format!("提交时间:{}", beijing(at))),
            vec![
                generated,
                "现场确认以验证码为准:每次提交生成新的验证码,重新提交后此前打印的报名表及其验证码作废。".into(),
            ],
        ),
        _ => (
            Some("预览件:尚未提交,无验证码,不能用于确认".to_string()),
            None,
            vec![generated, "提交后请重新下载报名表,以带验证码的报名表为准。".into()],
        ),
    };
    Document {
        title: format!("{} 报名申请表", f.project_name),
        banner,
        code: f.verification_code.clone(),
        code_note,
        sections,
        photo,
        declaration: "本人承诺:以上信息真实、准确,所提交材料真实有效,如有虚假,自愿承担相应责任。".into(),
        footer,
    }
}
