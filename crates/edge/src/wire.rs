//! Wire DTOs: what the mini-program sends and receives. Requests are plain strings with
//! `deny_unknown_fields`, converted once (`into_domain`) into domain types so a bad field gets
//! its own code; responses are views that mask what the screen doesn't need (PIPL).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::domain::account::{Candidate, DegreeRecord, EducationLevel};
use shared::domain::application::{
    Agreement, Application, ApplicationPhoto, BasicPage, ContactPage, ExamPage, Page, PageInput, PageKind, Pages,
    PhotoSource, SitePage, Status, Warning, WorkPage,
};
use shared::domain::history::SubjectResult;
use shared::domain::identity::{Gender, IdType};
use shared::domain::progress::{Node, progress};
use shared::domain::values::{
    CategoryCode, Fen, Phone, PointCode, Sensitive, SiteCode, SpecialtyCode, YearMonth, parse_date, parse_text, ymd,
};
use shared::error::Refusal;
use shared::reference::{District, Level, MaterialSpec, PracticeCategory, Project, Reference, Schedule};
use utoipa::ToSchema;

/// `local@domain`, exactly as the OpenAPI pattern says: one `@` with something on both sides,
/// no whitespace or control characters, at most 100 characters; empty means none.
fn parse_email(v: Option<String>) -> Result<Option<String>, Refusal> {
    let Some(e) = v.filter(|e| !e.is_empty()) else { return Ok(None) };
    let part = |p: &str| !p.is_empty() && !p.chars().any(|c| c == '@' || c.is_whitespace() || c.is_control());
    match e.split_once('@') {
        Some((local, domain)) if e.chars().count() <= 100 && part(local) && part(domain) => Ok(Some(e)),
        _ => Err(Refusal::bad("INVALID_EMAIL", "电子邮箱格式不正确").field("email")),
    }
}

fn opt_text(v: Option<String>, max: usize, field: &str) -> Result<Option<String>, Refusal> {
    v.filter(|s| !s.trim().is_empty()).map(|s| parse_text(&s, max, field)).transpose()
}

// ---------- account ----------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DegreeInput {
    pub level: EducationLevel,
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        max_length = 100
    )]
    pub school: String,
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        max_length = 100
    )]
    pub major: String,
    /// `YYYY-MM`
    #[schema(pattern = "^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")]
    pub graduated: String,
    #[serde(default)]
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", max_length = 20)]
    pub degree: Option<String>,
}

impl DegreeInput {
    pub fn into_record(self, id: String) -> Result<DegreeRecord, Refusal> {
        Ok(DegreeRecord {
            id,
            level: self.level,
            school: parse_text(&self.school, 100, "school")?,
            major: parse_text(&self.major, 100, "major")?,
            graduated: YearMonth::parse(&self.graduated, "graduated")?,
            degree: opt_text(self.degree, 20, "degree")?,
        })
    }
}

/// 考生管理平台注册 (R1).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 4–32 letters, digits or `_`.
    #[schema(pattern = "^[A-Za-z0-9_]{4,32}$")]
    pub account: String,
    /// At least 8 characters with a letter and a digit.
    #[schema(value_type = String, min_length = 8, max_length = 64, pattern = "^(?=.*[A-Za-z])(?=.*[0-9])")]
    pub password: Sensitive,
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    pub id_type: IdType,
    #[schema(value_type = String, min_length = 5, max_length = 20, pattern = "^[0-9A-Za-z]+$")]
    pub id_number: Sensitive,
    pub gender: Gender,
    /// `YYYY-MM-DD`; must agree with a resident ID number.
    #[schema(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$"
    )]
    pub birth_date: String,
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        max_length = 40
    )]
    pub nationality: String,
    #[schema(value_type = String, pattern = "^1[3-9][0-9]{9}$")]
    pub phone: Sensitive,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub degrees: Vec<DegreeInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordLogin {
    #[schema(min_length = 1, max_length = 64)]
    pub account: String,
    #[schema(value_type = String, min_length = 1, max_length = 128)]
    pub password: Sensitive,
}

/// Face login, step 1 (R2): the document of the account to log in to, and the `wx.login` code
/// of the WeChat user who will look into the camera.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceStartRequest {
    /// Only `resident_id` can be verified by face.
    pub id_type: IdType,
    #[schema(value_type = String, min_length = 1, max_length = 32)]
    pub id_number: Sensitive,
    /// The login code: `wx.login` (WeChat) or `swan.login` (Baidu).
    #[schema(min_length = 1, max_length = 128)]
    pub code: String,
}

/// What `wx.requestFacialVerify` needs, and the attempt to finish with.
#[derive(Debug, Serialize, ToSchema)]
pub struct FaceAttemptView {
    /// Pass to `wx.requestFacialVerify({verifyId})`.
    pub verify_id: String,
    /// Send back to `POST /v1/sessions/face` after the face check.
    pub attempt: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: time::OffsetDateTime,
}

/// Face login, step 2 (R2): the attempt whose result the server asks the provider for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceLogin {
    /// The `attempt` from step 1.
    #[schema(pattern = "^[0-9a-f]{32}\\.[0-9a-f]{32}$")]
    pub attempt: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginCode {
    /// The login code: `wx.login` (WeChat) or `swan.login` (Baidu).
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadedObject {
    /// The `key` of the upload ticket the photo was uploaded with.
    pub key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadedMaterial {
    /// The `key` of the upload ticket the file was uploaded with.
    pub key: String,
    /// Which file of this kind (R41: the district declares how many); uploading to a slot again
    /// replaces its file. 1 when absent.
    #[serde(default = "first_slot", deserialize_with = "integral_slot")]
    #[schema(minimum = 1, maximum = 9)]
    pub slot: u8,
}

fn first_slot() -> u8 {
    1
}

/// JSON has one number type: `2.0` is the integer 2 to JSON Schema, so it is to us too.
fn integral_slot<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let v = n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
    v.filter(|v| (1..=9).contains(v))
        .map(|v| v as u8)
        .ok_or_else(|| serde::de::Error::custom("slot must be an integer from 1 to 9"))
}

/// The candidate's own account, masked where the screen doesn't need the value.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub candidate_id: String,
    pub account: String,
    pub name: String,
    pub id_type: IdType,
    /// e.g. `1101**********002X`
    pub id_number_masked: String,
    pub gender: Gender,
    pub birth_date: String,
    pub nationality: String,
    /// e.g. `138****5678`
    pub phone_masked: String,
    pub degrees: Vec<DegreeRecord>,
    pub has_photo: bool,
    pub wechat_bound: bool,
    pub baidu_bound: bool,
}

impl AccountView {
    pub fn of(c: &Candidate) -> Self {
        AccountView {
            candidate_id: c.id.clone(),
            account: c.account.clone(),
            name: c.identity.name.as_str().to_string(),
            id_type: c.identity.document.id_type,
            id_number_masked: c.identity.document.masked(),
            gender: c.identity.gender,
            birth_date: ymd(c.identity.birth_date),
            nationality: c.identity.nationality.clone(),
            phone_masked: c.phone.masked(),
            degrees: c.degrees.clone(),
            has_photo: c.photo.is_some(),
            wechat_bound: c.openid.is_some(),
            baidu_bound: c.baidu_openid.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// `Authorization: Bearer <token>` on every later call.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: time::OffsetDateTime,
    pub account: AccountView,
}

// ---------- application ----------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApplication {
    #[schema(pattern = "^[0-9A-Za-z_-]{1,40}$")]
    pub project: String,
    #[schema(pattern = "^[0-9A-Za-z_-]{1,40}$")]
    pub district: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreeRequest {
    /// The version of 《重要声明》 shown to the candidate.
    pub important_version: String,
    /// The version of 《考生诚信考试承诺书》 shown to the candidate.
    pub integrity_version: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SitePageInput {
    #[schema(pattern = "^[0-9A-Za-z_-]{1,40}$")]
    pub site: String,
    #[serde(default)]
    #[schema(pattern = "^[0-9A-Za-z_-]{1,40}$")]
    pub point: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicPageInput {
    /// `YYYY-MM-DD`, or absent/null for 长期有效.
    #[serde(default)]
    #[schema(
        pattern = "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$"
    )]
    pub id_valid_until: Option<String>,
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        max_length = 20
    )]
    pub ethnicity: String,
    #[serde(default)]
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", max_length = 20)]
    pub political_status: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPageInput {
    #[schema(value_type = String, pattern = "^1[3-9][0-9]{9}$")]
    pub phone: Sensitive,
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        max_length = 100
    )]
    pub address: String,
    #[serde(default)]
    #[schema(pattern = "^[0-9]{6}$")]
    pub postcode: Option<String>,
    /// `local@domain`: no spaces, one `@`; empty or absent for none.
    #[serde(default)]
    #[schema(
        pattern = "^(?:[^\\s@\\u0000-\\u001f\\u007f-\\u009f]+@[^\\s@\\u0000-\\u001f\\u007f-\\u009f]+)?$",
        max_length = 100
    )]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExamPageInput {
    #[schema(pattern = "^[0-9A-Za-z_-]{1,40}$")]
    pub category: String,
    pub level: Level,
    #[schema(pattern = "^[0-9A-Za-z_-]{1,40}$")]
    pub specialty: String,
    pub practice_category: PracticeCategory,
    /// `YYYY-MM`
    #[serde(default)]
    #[schema(pattern = "^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")]
    pub first_registration: Option<String>,
    pub has_residency_certificate: bool,
    /// `YYYY-MM`
    #[serde(default)]
    #[schema(pattern = "^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")]
    pub residency_certificate_issued: Option<String>,
    /// Subject codes, each once (R14).
    #[schema(min_items = 1, max_items = 8)]
    pub subjects: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EducationPageInput {
    #[schema(pattern = "^[0-9A-Za-z_-]{1,40}$")]
    pub degree_record_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkPageInput {
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        max_length = 100
    )]
    pub unit_name: String,
    #[serde(default)]
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", max_length = 40)]
    pub unit_category: Option<String>,
    /// `YYYY-MM`
    #[schema(pattern = "^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")]
    pub started_work: String,
}

/// Fields that belong to the account's identity: never accepted by an application (R21).
const IDENTITY_FIELDS: [&str; 7] = ["name", "id_type", "id_number", "gender", "birth_date", "nationality", "identity"];

/// Parse a page body for `kind`: malformed input is refused here, before any read.
pub fn parse_page(kind: PageKind, body: Value) -> Result<PageInput, Refusal> {
    if let Some(obj) = body.as_object()
        && let Some(f) = IDENTITY_FIELDS.iter().find(|f| obj.contains_key(**f))
    {
        return Err(
            Refusal::rule("IDENTITY_IMMUTABLE", "姓名、证件类型、证件号码、性别、出生日期和国籍不可修改").field(*f)
        );
    }
    use crate::http::from_value;
    Ok(PageInput::Ready(match kind {
        PageKind::Site => {
            let i: SitePageInput = from_value(body)?;
            Page::Site(SitePage {
                site: SiteCode::parse(&i.site, "site")?,
                point: i.point.map(|p| PointCode::parse(&p, "point")).transpose()?,
            })
        }
        PageKind::Basic => {
            let i: BasicPageInput = from_value(body)?;
            Page::Basic(BasicPage {
                id_valid_until: i
                    .id_valid_until
                    .filter(|s| !s.trim().is_empty())
                    .map(|d| parse_date(&d, "id_valid_until"))
                    .transpose()?,
                ethnicity: parse_text(&i.ethnicity, 20, "ethnicity")?,
                political_status: opt_text(i.political_status, 20, "political_status")?,
            })
        }
        PageKind::Contact => {
            let i: ContactPageInput = from_value(body)?;
            let postcode = opt_text(i.postcode, 6, "postcode")?;
            if postcode.as_deref().is_some_and(|p| p.len() != 6 || !p.bytes().all(|b| b.is_ascii_digit())) {
                return Err(Refusal::bad("INVALID_POSTCODE", "邮政编码应为6位数字").field("postcode"));
            }
            let email = parse_email(i.email)?;
            Page::Contact(ContactPage {
                phone: Phone::parse(i.phone.expose(), "phone")?,
                address: parse_text(&i.address, 100, "address")?,
                postcode,
                email,
            })
        }
        PageKind::Exam => {
            let i: ExamPageInput = from_value(body)?;
            let distinct: std::collections::BTreeSet<&String> = i.subjects.iter().collect();
            if i.subjects.is_empty() || i.subjects.len() > 8 || distinct.len() != i.subjects.len() {
                return Err(Refusal::bad("INVALID_SUBJECTS", "报考科目不正确").field("subjects"));
            }
            Page::Exam(ExamPage {
                category: CategoryCode::parse(&i.category, "category")?,
                level: i.level,
                specialty: SpecialtyCode::parse(&i.specialty, "specialty")?,
                practice_category: i.practice_category,
                first_registration: i
                    .first_registration
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| YearMonth::parse(&s, "first_registration"))
                    .transpose()?,
                has_residency_certificate: i.has_residency_certificate,
                residency_certificate_issued: i
                    .residency_certificate_issued
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| YearMonth::parse(&s, "residency_certificate_issued"))
                    .transpose()?,
                subjects: i.subjects.iter().map(|s| s.trim().to_string()).collect(),
            })
        }
        PageKind::Education => {
            let i: EducationPageInput = from_value(body)?;
            if i.degree_record_id.is_empty() || i.degree_record_id.len() > 16 {
                return Err(Refusal::bad("INVALID_FIELD", "字段类型或格式不正确").field("degree_record_id"));
            }
            return Ok(PageInput::Education { degree_record_id: i.degree_record_id });
        }
        PageKind::Work => {
            let i: WorkPageInput = from_value(body)?;
            Page::Work(WorkPage {
                unit_name: parse_text(&i.unit_name, 100, "unit_name")?,
                unit_category: opt_text(i.unit_category, 40, "unit_category")?,
                started_work: YearMonth::parse(&i.started_work, "started_work")?,
            })
        }
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoosePhotoRequest {
    /// `registered` = 确认使用照片; `replacement` = 更换考试照片 (then `key` is required).
    pub source: PhotoSource,
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeDistrictRequest {
    #[schema(pattern = "^[0-9A-Za-z_-]{1,40}$")]
    pub district: String,
}

/// Last year's record as shown to a historical candidate to check page by page (R32).
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoricalView {
    pub last_year: u16,
    /// Pre-selected subjects (R35): the ones not passed last year.
    pub required_subjects: Vec<String>,
    pub results: Vec<SubjectResult>,
    #[schema(value_type = String)]
    pub site: SiteCode,
    #[schema(value_type = String)]
    pub specialty: SpecialtyCode,
    pub level: Level,
    pub work_unit: String,
}

/// One proof the district requires, and what of it is uploaded (R41).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProofView {
    pub kind: String,
    pub name: String,
    /// Files "上传全部证明材料" needs; 0 = optional.
    pub min_files: u8,
    pub max_files: u8,
    pub min_bytes: u64,
    pub max_bytes: u64,
    /// The slots (1..=max_files) that hold a file.
    pub uploaded: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoView {
    pub source: PhotoSource,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    pub project: String,
    pub project_name: String,
    pub district: String,
    pub district_name: String,
    pub status: Status,
    /// 报名成功 (R30).
    pub registered: bool,
    pub progress: Vec<Node>,
    /// Which page is next to fill (R6), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page: Option<PageKind>,
    pub agreement: Option<Agreement>,
    /// The pages as saved; for a historical candidate, a page not saved yet shows last year's
    /// content instead (R32), and is named in `carried_over`.
    pub pages: PagesView,
    /// Pages showing last year's content that the candidate has not confirmed yet (R32): the
    /// mini-program marks them 请核对; saving the page, changed or not, confirms it (in order,
    /// R6). The carried-over phone is masked like every other: send the number again to keep it.
    pub carried_over: Vec<PageKind>,
    pub photo: Option<PhotoView>,
    /// The proofs this district requires (R41, online-confirmation districts; empty elsewhere),
    /// each with the slots that hold a file.
    pub proofs: Vec<ProofView>,
    pub materials_complete: bool,
    /// Present while submitted: the code on the current form (R15, R18).
    pub verification_code: Option<String>,
    pub auto_confirmed: bool,
    pub reason: Option<String>,
    /// 考点审核 and 考区审核, each pending, passed or rejected (R24): which stage refused.
    pub review: shared::domain::application::ReviewResults,
    pub historical: Option<HistoricalView>,
    pub amount_due: Option<Fen>,
    /// The payment recorded (R30): amount, WeChat Pay's transaction id, when, which order.
    pub paid: Option<shared::domain::application::Payment>,
    pub schedule: Schedule,
    /// The latest judged uploads of this application (R13, R41): each accepted, or rejected
    /// with the code and reason — how the candidate learns an upload was refused.
    pub uploads: Vec<UploadView>,
    /// Non-blocking notices from the last change (R7).
    pub warnings: Vec<Warning>,
}

/// One judged upload, as the candidate sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    /// The key its ticket named (what "use this upload" refers to).
    pub key: String,
    /// `accepted` or `rejected`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: time::OffsetDateTime,
}

impl UploadView {
    pub fn of(u: &shared::domain::upload::CheckedUpload) -> Self {
        use shared::domain::upload::UploadOutcome;
        let (status, code, message) = match &u.outcome {
            UploadOutcome::Accepted { .. } => ("accepted", None, None),
            UploadOutcome::Rejected { code, message } => ("rejected", Some(code.clone()), Some(message.clone())),
        };
        UploadView { key: u.key.clone(), status, code, message, at: u.at }
    }
}

/// The pages as the application view shows them: as saved, but the contact phone masked (PIPL:
/// only the printed form carries it in full).
#[derive(Debug, Serialize, ToSchema)]
pub struct PagesView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SitePage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicPage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exam: Option<ExamPage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub education: Option<shared::domain::application::EducationPage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkPage>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    /// e.g. `139****5678`; to change it, save the page with the new number.
    pub phone_masked: String,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl PagesView {
    pub fn of(p: &Pages) -> Self {
        PagesView {
            site: p.site.clone(),
            basic: p.basic.clone(),
            contact: p.contact.as_ref().map(|c: &ContactPage| ContactView {
                phone_masked: c.phone.masked(),
                address: c.address.clone(),
                postcode: c.postcode.clone(),
                email: c.email.clone(),
            }),
            exam: p.exam.clone(),
            education: p.education.clone(),
            work: p.work.clone(),
        }
    }
}

impl ApplicationView {
    /// `carried` is what [`Application::carried_over`] gives for the candidate (R32).
    pub fn of(
        app: &Application,
        carried: Pages,
        (project, district, materials): (&Project, &District, &MaterialSpec),
        warnings: Vec<Warning>,
    ) -> Self {
        let carried_over: Vec<PageKind> = PageKind::ALL.into_iter().filter(|k| carried.has(*k)).collect();
        let saved = app.pages.clone();
        let shown = Pages {
            site: saved.site.or(carried.site),
            basic: saved.basic.or(carried.basic),
            contact: saved.contact.or(carried.contact),
            exam: saved.exam.or(carried.exam),
            education: saved.education.or(carried.education),
            work: saved.work.or(carried.work),
        };
        ApplicationView {
            project: app.project.to_string(),
            project_name: project.name.clone(),
            district: app.district.to_string(),
            district_name: district.name.clone(),
            status: app.status,
            registered: app.registered(district),
            progress: progress(app, district),
            next_page: (app.status == Status::Draft)
                .then(|| PageKind::ALL.into_iter().find(|k| !app.pages.has(*k)))
                .flatten(),
            agreement: app.agreement.clone(),
            pages: PagesView::of(&shown),
            carried_over,
            photo: app.photo.as_ref().map(|p: &ApplicationPhoto| PhotoView { source: p.source }),
            proofs: materials
                .proofs(&app.district)
                .iter()
                .map(|p| {
                    let (min_bytes, max_bytes) = materials.size_range(p);
                    let mut uploaded: Vec<u8> =
                        app.materials.iter().filter(|m| m.kind == p.kind).map(|m| m.slot).collect();
                    uploaded.sort_unstable();
                    ProofView {
                        kind: p.kind.clone(),
                        name: p.name.clone(),
                        min_files: p.min_files,
                        max_files: p.max_files,
                        min_bytes,
                        max_bytes,
                        uploaded,
                    }
                })
                .collect(),
            materials_complete: app.materials_complete,
            verification_code: app.verification_code.clone(),
            auto_confirmed: app.auto_confirmed,
            reason: app.reason.clone(),
            review: app.review,
            historical: app.historical.as_ref().map(|h| HistoricalView {
                last_year: h.last.year,
                required_subjects: h.required_subjects.clone(),
                results: h.last.results.clone(),
                site: h.last.site.clone(),
                specialty: h.last.specialty.clone(),
                level: h.last.level,
                work_unit: h.last.work_unit.clone(),
            }),
            amount_due: app.amount_due(project),
            paid: app.paid.clone(),
            schedule: project.schedule(&app.district).clone(),
            uploads: app.uploads.iter().rev().map(UploadView::of).collect(),
            warnings,
        }
    }
}

/// 报名申请表: what the candidate prints and the site checks. It carries the full ID number
/// (the clerk compares it with the document) — this is the one response that does.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationForm {
    pub project_name: String,
    pub district_name: String,
    pub site_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_name: Option<String>,
    /// True for the preview an online-confirmation district shows before submitting (R41): it
    /// carries no verification code and no submission time, and confirms nothing.
    pub preview: bool,
    /// The code on the current form (R15, R18); absent on a preview.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_code: Option<String>,
    pub name: String,
    pub id_type: IdType,
    #[schema(value_type = String)]
    pub id_number: Sensitive,
    pub gender: Gender,
    pub birth_date: String,
    pub nationality: String,
    pub specialty_code: String,
    pub specialty_name: String,
    pub level: Level,
    pub subjects: Vec<String>,
    pub pages: Pages,
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub submitted_at: Option<time::OffsetDateTime>,
}

impl RegistrationForm {
    /// The submitted form; or, in an online-confirmation district, a preview once every page is
    /// filled — the guide has the candidate view and download it before uploading (R41).
    pub fn of(app: &Application, c: &Candidate, r: &Reference) -> Result<Self, Refusal> {
        let not_submitted = || Refusal::conflict("NOT_SUBMITTED", "报名信息提交后方可查看报名表");
        let online = r.districts().get(&app.district).is_some_and(|d| d.online_confirmation);
        let (code, at) = match (&app.verification_code, app.submitted_at) {
            (Some(code), Some(at)) => (Some(code.clone()), Some(at)),
            _ if online && PageKind::ALL.iter().all(|k| app.pages.has(*k)) => (None, None),
            _ => return Err(not_submitted()),
        };
        let (Some(site), Some(exam)) = (&app.pages.site, &app.pages.exam) else {
            return Err(not_submitted());
        };
        let project = r.projects().get(&app.project).ok_or_else(Refusal::internal)?;
        let s = r.sites().get(&site.site).ok_or_else(Refusal::internal)?;
        let spec = r.specialties().get(&(project.kind, exam.specialty.clone())).ok_or_else(Refusal::internal)?;
        let subject_names = r
            .subjects(project.kind)
            .iter()
            .filter(|s| exam.subjects.contains(&s.code))
            .map(|s| s.name.clone())
            .collect();
        Ok(RegistrationForm {
            project_name: project.name.clone(),
            district_name: r.districts().get(&app.district).map(|d| d.name.clone()).unwrap_or_default(),
            site_name: s.name.clone(),
            point_name: site
                .point
                .as_ref()
                .and_then(|p| s.points.iter().find(|x| &x.code == p))
                .map(|p| p.name.clone()),
            preview: code.is_none(),
            verification_code: code,
            name: c.identity.name.as_str().to_string(),
            id_type: c.identity.document.id_type,
            id_number: Sensitive::new(c.identity.document.number()),
            gender: c.identity.gender,
            birth_date: ymd(c.identity.birth_date),
            nationality: c.identity.nationality.clone(),
            specialty_code: spec.code.to_string(),
            specialty_name: spec.name.clone(),
            level: spec.level,
            subjects: subject_names,
            pages: app.pages.clone(),
            submitted_at: at,
        })
    }
}

/// The envelope of list responses.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub kind: shared::reference::ExamKind,
    pub year: u16,
    pub exam_dates: Vec<String>,
    /// The subjects of this exam (R14).
    pub subjects: Vec<shared::reference::Subject>,
    pub schedule: Schedule,
    /// Registration is open now.
    pub open: bool,
}

/// A district as the candidate picks it (R4): its flags, fee, schedule and, where confirmation
/// is online, the proofs it requires (R41).
#[derive(Debug, Serialize, ToSchema)]
pub struct DistrictView {
    pub code: String,
    pub name: String,
    /// 线上确认 (R40–R42).
    pub online_confirmation: bool,
    /// 历史考生自动确认 (R33).
    pub historical_auto_confirm: bool,
    /// 网上缴费 (R26, R30).
    pub online_payment: bool,
    /// 手机缴费 (R29).
    pub mobile_payment: bool,
    pub fee_per_subject: Fen,
    pub schedule: Schedule,
    /// The proofs an online-confirmation district requires (R41); empty elsewhere.
    pub proofs: Vec<shared::reference::Proof>,
}

impl ProjectView {
    pub fn of(p: &Project, r: &Reference, now: time::OffsetDateTime) -> Self {
        ProjectView {
            id: p.id.to_string(),
            name: p.name.clone(),
            kind: p.kind,
            year: p.year,
            exam_dates: p.exam_dates.iter().map(|d| ymd(*d)).collect(),
            subjects: r.subjects(p.kind).to_vec(),
            schedule: p.schedule.clone(),
            open: p.schedule.registration_open(now),
        }
    }
}

impl DistrictView {
    pub fn of(d: &District, project: &Project, materials: &MaterialSpec) -> Self {
        DistrictView {
            code: d.code.to_string(),
            name: d.name.clone(),
            online_confirmation: d.online_confirmation,
            historical_auto_confirm: d.historical_auto_confirm,
            online_payment: d.online_payment,
            mobile_payment: d.mobile_payment,
            proofs: materials.proofs(&d.code).to_vec(),
            fee_per_subject: project.fee_per_subject(&d.code),
            schedule: project.schedule(&d.code).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_and_slot_are_read_as_the_document_declares_them() {
        for ok in ["a@b", "li.si@example.com", "张@例子.中国"] {
            assert_eq!(parse_email(Some(ok.into())).unwrap().as_deref(), Some(ok));
        }
        assert_eq!(parse_email(Some(String::new())).unwrap(), None, "empty means none");
        for bad in ["000000", "a@b@c", "@b", "a@", "a b@c", " a@b", "a@b\u{7}"] {
            assert_eq!(parse_email(Some(bad.into())).unwrap_err().code, "INVALID_EMAIL", "{bad:?}");
        }
        let slot = |v: Value| serde_json::from_value::<UploadedMaterial>(serde_json::json!({"key": "k", "slot": v}));
        assert_eq!(slot(serde_json::json!(2.0)).unwrap().slot, 2, "2.0 is the integer 2 in JSON");
        for bad in [serde_json::json!(0), serde_json::json!(10), serde_json::json!(1.5), serde_json::json!("1")] {
            assert!(slot(bad.clone()).is_err(), "{bad}");
        }
    }

    /// PIPL: a request logged with `{:?}` (a handler's span, an error's context) shows no ID
    /// number, phone or password.
    #[test]
    fn requests_carrying_personal_information_never_print_it() {
        let register: RegisterRequest = serde_json::from_value(serde_json::json!({
            "account": "zhang_san", "password": "Secret-pass-123", "name": "张三", "id_type": "resident_id",
            "id_number": "110105199003078475", "gender": "male", "birth_date": "1990-03-07",
            "nationality": "中国", "phone": "13912345678"
        }))
        .unwrap();
        let login: PasswordLogin =
            serde_json::from_value(serde_json::json!({"account": "zhang_san", "password": "Secret-pass-123"})).unwrap();
        let face: FaceStartRequest = serde_json::from_value(
            serde_json::json!({"id_type": "resident_id", "id_number": "110105199003078475", "code": "c"}),
        )
        .unwrap();
        let contact: ContactPageInput =
            serde_json::from_value(serde_json::json!({"phone": "13912345678", "address": "北京市"})).unwrap();
        let shown = format!("{register:?} {login:?} {face:?} {contact:?}");
        for clear in ["110105199003078475", "19900307", "13912345678", "Secret-pass-123"] {
            assert!(!shown.contains(clear), "{clear} in {shown}");
        }
        // The values themselves arrive intact.
        assert_eq!(register.id_number.expose(), "110105199003078475");
        assert_eq!(contact.phone.expose(), "13912345678");
    }
}

/// WeChat Pay's payment notification (支付通知), as WeChat Pay sends it. Documented for the
/// contract only: the handler checks the signature over the raw bytes before reading any of it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WechatPayNotification {
    id: String,
    create_time: String,
    /// `TRANSACTION.SUCCESS` for a payment.
    event_type: String,
    /// `encrypt-resource`
    resource_type: String,
    summary: Option<String>,
    resource: WechatPayResource,
}

/// The encrypted transaction inside a notification (AEAD_AES_256_GCM with the APIv3 key).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WechatPayResource {
    #[schema(pattern = "^AEAD_AES_256_GCM$")]
    algorithm: String,
    /// base64(ciphertext ‖ tag)
    ciphertext: String,
    associated_data: Option<String>,
    #[schema(min_length = 12, max_length = 12)]
    nonce: String,
    original_type: Option<String>,
}
