//! The application (网上报名) aggregate and its complete state machine, as pure functions:
//! [`decide`] takes the current application, a command and the context (clock, reference data,
//! account) and returns the events the command causes or a typed [`Refusal`]; [`Application::apply`]
//! folds an event into the state. Nothing here does I/O, so every rule is unit-tested directly.
//!
//! States (DOMAIN.md): `draft → submitted → confirmed → site_approved → approved → paid`, plus
//! `confirm_rejected`, `rejected` and `lapsed`. Withdrawing is not a state: it returns to `draft`.

use super::account::{Candidate, DegreeRecord, PhotoRef};
use super::history::{Historical, LastYear, historical};
use super::upload::CheckedUpload;
use super::values::{
    CategoryCode, DistrictCode, Fen, Phone, PointCode, ProjectCode, SiteCode, SpecialtyCode, YearMonth, date_fmt,
};
use crate::error::{Kind, Refusal};
use crate::reference::{District, Level, NoticeKind, PracticeCategory, Project, Proof, Reference};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::{Date, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Submitted,
    Confirmed,
    ConfirmRejected,
    SiteApproved,
    Approved,
    Paid,
    Rejected,
    Lapsed,
}

/// The six pages, in the order R6 requires them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PageKind {
    Site,
    Basic,
    Contact,
    Exam,
    Education,
    Work,
}

impl PageKind {
    pub const ALL: [PageKind; 6] =
        [PageKind::Site, PageKind::Basic, PageKind::Contact, PageKind::Exam, PageKind::Education, PageKind::Work];
    pub fn parse(s: &str) -> Option<PageKind> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PageKind::Site => "site",
            PageKind::Basic => "basic",
            PageKind::Contact => "contact",
            PageKind::Exam => "exam",
            PageKind::Education => "education",
            PageKind::Work => "work",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            PageKind::Site => "考点信息",
            PageKind::Basic => "基本信息",
            PageKind::Contact => "联系方式",
            PageKind::Exam => "报考信息",
            PageKind::Education => "教育情况",
            PageKind::Work => "工作情况",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SitePage {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub site: SiteCode,
    /// 报名点: required in online-confirmation districts, forbidden elsewhere (R40).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub point: Option<PointCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BasicPage {
    /// 证件有效截止日期; `None` = 长期有效.
    #[serde(default, with = "date_fmt::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub id_valid_until: Option<Date>,
    pub ethnicity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub political_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactPage {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub phone: Phone,
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExamPage {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub category: CategoryCode,
    pub level: Level,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub specialty: SpecialtyCode,
    pub practice_category: PracticeCategory,
    /// 首次注册年月: required unless the practice category is `none` (R9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub first_registration: Option<YearMonth>,
    pub has_residency_certificate: bool,
    /// 住培合格证书发证年月: required with the certificate (R10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub residency_certificate_issued: Option<YearMonth>,
    /// Subject codes sat this year (R14, R35).
    pub subjects: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EducationPage {
    /// The account's degree record this application references (R11).
    pub degree_record_id: String,
    /// A copy of the record as it was when referenced: the form shows what was submitted.
    pub record: DegreeRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkPage {
    pub unit_name: String,
    /// Required when the unit name is `其它` (R12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_category: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub started_work: YearMonth,
}

/// One page's content, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "page", rename_all = "snake_case")]
pub enum Page {
    Site(SitePage),
    Basic(BasicPage),
    Contact(ContactPage),
    Exam(ExamPage),
    Education(EducationPage),
    Work(WorkPage),
}

impl Page {
    pub fn kind(&self) -> PageKind {
        match self {
            Page::Site(_) => PageKind::Site,
            Page::Basic(_) => PageKind::Basic,
            Page::Contact(_) => PageKind::Contact,
            Page::Exam(_) => PageKind::Exam,
            Page::Education(_) => PageKind::Education,
            Page::Work(_) => PageKind::Work,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pages {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SitePage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicPage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactPage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exam: Option<ExamPage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub education: Option<EducationPage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkPage>,
}

impl Pages {
    pub fn has(&self, kind: PageKind) -> bool {
        match kind {
            PageKind::Site => self.site.is_some(),
            PageKind::Basic => self.basic.is_some(),
            PageKind::Contact => self.contact.is_some(),
            PageKind::Exam => self.exam.is_some(),
            PageKind::Education => self.education.is_some(),
            PageKind::Work => self.work.is_some(),
        }
    }
    pub fn complete(&self) -> bool {
        PageKind::ALL.iter().all(|k| self.has(*k))
    }
    fn set(&mut self, page: Page) {
        match page {
            Page::Site(p) => self.site = Some(p),
            Page::Basic(p) => self.basic = Some(p),
            Page::Contact(p) => self.contact = Some(p),
            Page::Exam(p) => self.exam = Some(p),
            Page::Education(p) => self.education = Some(p),
            Page::Work(p) => self.work = Some(p),
        }
    }
}

/// Which photo the form carries (R13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PhotoSource {
    /// 确认使用照片: the account's registration photo.
    Registered,
    /// 更换考试照片: a replacement uploaded for this application.
    Replacement,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationPhoto {
    pub source: PhotoSource,
    pub photo: PhotoRef,
}

/// The versions of the notices the candidate agreed to, and when (R5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agreement {
    pub important_version: String,
    pub integrity_version: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub agreed_at: OffsetDateTime,
}

/// An uploaded proof (online-confirmation districts, R41).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Material {
    /// One of the proofs the district declares (R41).
    pub kind: String,
    /// Which file of that kind, `1..=max_files`; uploading to a slot replaces its file.
    #[serde(default = "first_slot")]
    pub slot: u8,
    pub key: String,
    pub bytes: u64,
}

fn first_slot() -> u8 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    pub candidate_id: String,
    pub project: ProjectCode,
    pub district: DistrictCode,
    pub status: Status,
    #[serde(default)]
    pub agreement: Option<Agreement>,
    #[serde(default)]
    pub pages: Pages,
    #[serde(default)]
    pub photo: Option<ApplicationPhoto>,
    #[serde(default)]
    pub materials: Vec<Material>,
    /// "上传全部证明材料" pressed since the last change to the materials (R41).
    #[serde(default)]
    pub materials_complete: bool,
    /// The live verification code; `None` whenever the application is not submitted (R18, R20).
    #[serde(default)]
    pub verification_code: Option<String>,
    #[serde(default)]
    pub submissions: u32,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    /// Historical candidate facts (R32, R35), from last year's record; `None` for first-timers.
    #[serde(default)]
    pub historical: Option<Historical>,
    /// Auto-confirmed on submit (R33): no more withdrawing or editing (R37).
    #[serde(default)]
    pub auto_confirmed: bool,
    /// Reason shown to the candidate for `rejected`, `confirm_rejected` or `lapsed`.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub lapse_reason: Option<LapseReason>,
    /// Each review stage's result (R24): kept, not derived from `status`, because `rejected`
    /// alone doesn't say which stage refused and `lapsed` hides how far review had come.
    #[serde(default)]
    pub review: ReviewResults,
    #[serde(default)]
    pub paid: Option<Payment>,
    /// The payable order (R26, R27): one at a time, its amount frozen when it was opened.
    #[serde(default)]
    pub order: Option<Order>,
    /// The latest judged uploads for this application's photo and proofs (R13, R41): what "use
    /// this upload" accepts, and the rejections the candidate is shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<CheckedUpload>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the application entered its current status: where it stands in a work queue, which
    /// other changes (a score merge while it waits) must not move.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub status_since: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    pub amount: Fen,
    pub transaction_id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub paid_at: OffsetDateTime,
    /// The order it paid (absent on payments recorded before orders existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
}

/// A payment order with the provider (R26–R28): the amount is frozen when it opens, so a fee
/// changed afterwards changes nothing already asked of the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub out_trade_no: String,
    pub amount: Fen,
    /// The provider's `prepay_id`: what the mini-program pays with.
    pub prepay_id: String,
    /// No payment after this (the provider's `time_expire`; never after the payment deadline).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Who caused an event: kept with every transition in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    Candidate(String),
    PointStaff(String),
    SiteStaff(String),
    DistrictStaff(String),
    PaymentProvider,
    Scheduler,
    System,
}

/// Where one review stage stands (R24: both stages are visible to the candidate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StageResult {
    /// Not decided yet (or not reached).
    #[default]
    Pending,
    Passed,
    Rejected,
}

/// The two review stages' results (R24, R25): a rejection says at which stage it happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewResults {
    /// 考点审核
    pub site: StageResult,
    /// 考区审核
    pub district: StageResult,
}

/// Why an application lapsed (视为放弃).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LapseReason {
    /// R16/R23: not confirmed by the confirmation deadline.
    NotConfirmed,
    /// R42: confirmation not passed and not resubmitted by the re-upload deadline.
    NotResubmitted,
    /// R31: not paid by the payment deadline.
    NotPaid,
}

/// A page as the candidate sent it, before the account's data it refers to is looked up: the
/// education page names one of the account's degree records (R11), resolved against the
/// candidate read in the same request.
#[derive(Debug, Clone)]
pub enum PageInput {
    Ready(Page),
    Education { degree_record_id: String },
}

impl PageInput {
    pub fn resolve(self, candidate: &Candidate) -> Result<Page, Refusal> {
        match self {
            PageInput::Ready(p) => Ok(p),
            PageInput::Education { degree_record_id } => {
                let record = candidate.degree(&degree_record_id).cloned().ok_or_else(|| {
                    Refusal::conflict("UNKNOWN_DEGREE_RECORD", "请选择已维护的学历学位信息").field("degree_record_id")
                })?;
                Ok(Page::Education(EducationPage { degree_record_id, record }))
            }
        }
    }
}

/// What a caller asks of an application.
#[derive(Debug, Clone)]
pub enum Command {
    /// R4: choose the project (the target) and the district. `last_year` is the candidate's
    /// record from last year's sitting, if one was imported (R32, R35, R38).
    Create {
        district: DistrictCode,
        last_year: Option<Box<LastYear>>,
    },
    /// R5
    Agree {
        important_version: String,
        integrity_version: String,
    },
    /// R6–R14
    SavePage(Page),
    /// R13
    ChoosePhoto(ApplicationPhoto),
    /// R41: record one uploaded proof.
    AddMaterial(Material),
    /// R41: 上传全部证明材料.
    CompleteMaterials,
    /// R15, R18: `code` is the fresh verification code (randomness stays outside this module).
    Submit {
        code: String,
    },
    /// R17, R20
    Withdraw,
    /// R19
    ChangeDistrict {
        district: DistrictCode,
    },
    /// R22: staff confirm with the code printed on the form.
    Confirm {
        code: String,
    },
    /// R41, R42: registration-point staff pass an online confirmation from their queue (no
    /// printed code: the candidate never came to the counter).
    ApproveConfirmation,
    /// R42: registration-point staff return 确认不通过.
    RejectConfirmation {
        reason: String,
    },
    /// R24
    ApproveSite,
    RejectSite {
        reason: String,
    },
    /// R25
    ApproveDistrict,
    RejectDistrict {
        reason: String,
    },
    /// R26–R28: open a payable order (the service has the provider's `prepay_id` already).
    OpenOrder {
        order: Order,
    },
    /// The provider closed the order unpaid (it expired, or was replaced).
    CloseOrder {
        out_trade_no: String,
    },
    /// R30: the provider says the order was paid. `ordered` is the amount frozen on the order,
    /// `amount` what the provider says was paid for it.
    RecordPayment {
        out_trade_no: String,
        amount: Fen,
        ordered: Fen,
        transaction_id: String,
        paid_at: OffsetDateTime,
    },
    /// R23, R31, R42: the sweep.
    Lapse,
    /// R36: site staff, having checked the candidate's proof, link last year's record made
    /// under the candidate's previous ID document; rolling (R35) then applies.
    MergeScores {
        /// `None` when no record exists under the document named: refused here, after the
        /// principal's reach and role were checked, so the answer is no oracle on who sat last
        /// year.
        record: Option<Box<LastYear>>,
    },
    /// R13, R41: the upload function records its judgement on an upload.
    RecordUpload(CheckedUpload),
}

/// What happened; the history of an application is the list of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// R4: the project and district were chosen; `historical` when last year's record applies.
    Created {
        district: DistrictCode,
        historical: bool,
        /// Last year's facts the application carries (R32, R35); absent for first-timers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<Box<Historical>>,
    },
    Agreed {
        agreement: Agreement,
    },
    PageSaved {
        page: Page,
    },
    PhotoChosen {
        photo: ApplicationPhoto,
    },
    MaterialAdded {
        material: Material,
    },
    MaterialsCompleted,
    Submitted {
        code: String,
    },
    AutoConfirmed,
    Withdrawn,
    DistrictChanged {
        from: DistrictCode,
        to: DistrictCode,
    },
    Confirmed,
    ConfirmationRejected {
        reason: String,
    },
    SiteApproved,
    SiteRejected {
        reason: String,
    },
    DistrictApproved,
    DistrictRejected {
        reason: String,
    },
    OrderOpened {
        order: Order,
    },
    OrderClosed {
        out_trade_no: String,
    },
    Paid {
        payment: Payment,
    },
    Lapsed {
        reason: LapseReason,
    },
    /// R36: last year's record (under a previous ID document) now applies.
    ScoresMerged {
        record: Box<Historical>,
    },
    /// R13, R41: the upload function judged an upload for this application.
    UploadChecked {
        upload: CheckedUpload,
    },
}

/// A non-blocking notice returned with success (R7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    pub code: String,
    pub message: String,
    pub field: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub events: Vec<Event>,
    pub warnings: Vec<Warning>,
}

impl Decision {
    fn one(e: Event) -> Self {
        Decision { events: vec![e], warnings: vec![] }
    }
}

/// Everything `decide` may consult besides the application.
pub struct Ctx<'a> {
    pub now: OffsetDateTime,
    pub reference: &'a Reference,
    pub project: &'a Project,
    pub district: &'a District,
    pub candidate: &'a Candidate,
}

fn state(code: &'static str, message: &'static str) -> Refusal {
    Refusal::conflict(code, message)
}

impl Application {
    /// A fresh draft for `candidate` in `district` (R4). `historical` comes from last year's
    /// record when the candidate is a historical candidate (R32, R38).
    pub fn new(
        candidate_id: &str,
        project: ProjectCode,
        district: DistrictCode,
        historical: Option<Historical>,
        now: OffsetDateTime,
    ) -> Self {
        Application {
            candidate_id: candidate_id.to_string(),
            project,
            district,
            status: Status::Draft,
            agreement: None,
            pages: Pages::default(),
            photo: None,
            materials: vec![],
            materials_complete: false,
            verification_code: None,
            submissions: 0,
            submitted_at: None,
            historical,
            auto_confirmed: false,
            reason: None,
            lapse_reason: None,
            review: ReviewResults::default(),
            paid: None,
            order: None,
            uploads: vec![],
            created_at: now,
            updated_at: now,
            status_since: Some(now),
        }
    }

    /// The application a `Created` event starts (R4): a draft carrying last year's facts, if any.
    pub fn from_created(candidate_id: &str, project: ProjectCode, event: &Event, now: OffsetDateTime) -> Option<Self> {
        match event {
            Event::Created { district, record, .. } => {
                Some(Application::new(candidate_id, project, district.clone(), record.as_deref().cloned(), now))
            }
            _ => None,
        }
    }

    /// 报名成功 (R30): paid, or approved where the district has no online payment.
    pub fn registered(&self, district: &District) -> bool {
        self.status == Status::Paid || (self.status == Status::Approved && !district.online_payment)
    }

    /// Fold one event into the state.
    pub fn apply(&mut self, event: &Event, now: OffsetDateTime) {
        let before = self.status;
        self.apply_event(event, now);
        if self.status != before || matches!(event, Event::Submitted { .. }) {
            self.status_since = Some(now);
        }
    }

    fn apply_event(&mut self, event: &Event, now: OffsetDateTime) {
        self.updated_at = now;
        match event {
            Event::Created { .. } => {}
            Event::Agreed { agreement } => self.agreement = Some(agreement.clone()),
            Event::PageSaved { page } => self.pages.set(page.clone()),
            Event::PhotoChosen { photo } => self.photo = Some(photo.clone()),
            Event::MaterialAdded { material } => {
                self.materials.retain(|m| !(m.kind == material.kind && m.slot == material.slot));
                self.materials.push(material.clone());
                self.materials_complete = false;
            }
            Event::MaterialsCompleted => self.materials_complete = true,
            Event::Submitted { code } => {
                self.status = Status::Submitted;
                self.verification_code = Some(code.clone());
                self.submissions += 1;
                self.submitted_at = Some(now);
                self.reason = None;
            }
            Event::AutoConfirmed => {
                self.status = Status::Confirmed;
                self.auto_confirmed = true;
            }
            Event::Withdrawn => {
                self.status = Status::Draft;
                self.verification_code = None;
            }
            Event::DistrictChanged { to, .. } => {
                // R19: clears everything filled under this project; the account is untouched.
                let keep = self.historical.clone();
                *self = Application::new(&self.candidate_id, self.project.clone(), to.clone(), keep, self.created_at);
                self.updated_at = now;
            }
            Event::Confirmed => self.status = Status::Confirmed,
            Event::ConfirmationRejected { reason } => {
                self.status = Status::ConfirmRejected;
                self.verification_code = None;
                self.materials_complete = false;
                self.reason = Some(reason.clone());
            }
            Event::SiteApproved => {
                self.status = Status::SiteApproved;
                self.review.site = StageResult::Passed;
            }
            Event::DistrictApproved => {
                self.status = Status::Approved;
                self.review.district = StageResult::Passed;
            }
            Event::SiteRejected { reason } => {
                self.status = Status::Rejected;
                self.review.site = StageResult::Rejected;
                self.reason = Some(reason.clone());
            }
            Event::DistrictRejected { reason } => {
                self.status = Status::Rejected;
                self.review.district = StageResult::Rejected;
                self.reason = Some(reason.clone());
            }
            Event::OrderOpened { order } => self.order = Some(order.clone()),
            Event::OrderClosed { out_trade_no } => {
                if self.order.as_ref().is_some_and(|o| &o.out_trade_no == out_trade_no) {
                    self.order = None;
                }
            }
            Event::Paid { payment } => {
                self.status = Status::Paid;
                self.paid = Some(payment.clone());
                self.order = None;
            }
            Event::ScoresMerged { record } => self.historical = Some((**record).clone()),
            Event::UploadChecked { upload } => crate::domain::upload::record(&mut self.uploads, upload.clone()),
            Event::Lapsed { reason } => {
                self.status = Status::Lapsed;
                self.verification_code = None;
                self.lapse_reason = Some(*reason);
                self.reason = Some(
                    match reason {
                        LapseReason::NotConfirmed => "逾期未进行报名确认,视为放弃考试",
                        LapseReason::NotResubmitted => "逾期未重新上传材料并提交,视为放弃考试",
                        LapseReason::NotPaid => "逾期未缴费,视为放弃考试",
                    }
                    .to_string(),
                );
            }
        }
    }

    /// The deadline the application is currently waiting on, if any (for the sweep and reminders).
    pub fn pending_deadline(&self, project: &Project, district: &District) -> Option<(OffsetDateTime, LapseReason)> {
        let s = project.schedule(&self.district);
        match self.status {
            Status::Submitted => Some((s.confirmation_deadline, LapseReason::NotConfirmed)),
            Status::ConfirmRejected => Some((s.reupload_deadline, LapseReason::NotResubmitted)),
            Status::Approved if district.online_payment => Some((s.payment_deadline, LapseReason::NotPaid)),
            _ => None,
        }
    }

    /// R32: last year's pages, carried over for a historical candidate to check and confirm page
    /// by page (R6 still orders the saving). Only pages not saved yet, and only what still
    /// applies: the site in the same district alone (R39: a candidate who moved province picks a
    /// site there); the subjects as R35 pre-selects them; the education page only when the
    /// account holds the same degree record (R11: a page references the account's records); a
    /// page the record lacks a required field for is left empty rather than half-invented.
    pub fn carried_over(&self, candidate: &Candidate) -> Pages {
        let Some(h) = &self.historical else { return Pages::default() };
        let last = &h.last;
        let unsaved = |kind: PageKind| !self.pages.has(kind);
        Pages {
            site: (unsaved(PageKind::Site) && last.district == self.district)
                .then(|| SitePage { site: last.site.clone(), point: last.point.clone() }),
            basic: last.basic.clone().filter(|_| unsaved(PageKind::Basic)),
            contact: last.contact.clone().filter(|_| unsaved(PageKind::Contact)),
            exam: unsaved(PageKind::Exam).then(|| ExamPage {
                category: last.category.clone(),
                level: last.level,
                specialty: last.specialty.clone(),
                practice_category: last.practice_category,
                first_registration: last.first_registration,
                has_residency_certificate: last.residency_certificate_issued.is_some(),
                residency_certificate_issued: last.residency_certificate_issued,
                subjects: h.required_subjects.clone(),
            }),
            education: last
                .education
                .as_ref()
                .filter(|_| unsaved(PageKind::Education))
                .and_then(|e| candidate.degrees.iter().find(|d| d.same_education(e)))
                .map(|d| EducationPage { degree_record_id: d.id.clone(), record: d.clone() }),
            work: last.started_work.filter(|_| unsaved(PageKind::Work)).map(|started_work| WorkPage {
                unit_name: last.work_unit.clone(),
                unit_category: last.work_unit_category.clone(),
                started_work,
            }),
        }
    }

    /// The amount due (R28): fee per subject in the district × subjects sat.
    pub fn amount_due(&self, project: &Project) -> Option<Fen> {
        let n = self.pages.exam.as_ref()?.subjects.len() as u64;
        project.fee_per_subject(&self.district).times(n)
    }
}

/// Decide what `cmd` does to the candidate's application under the project, which may not exist
/// yet (`Create` needs it absent; every other command needs it present).
pub fn decide_on(app: Option<&Application>, cmd: &Command, ctx: &Ctx<'_>) -> Result<Decision, Refusal> {
    match (app, cmd) {
        (None, Command::Create { district, last_year }) => decide_create(district, last_year.as_deref(), ctx),
        (Some(_), Command::Create { .. }) => Err(state("APPLICATION_EXISTS", "已报名该考试项目")),
        (None, _) => Err(Refusal::not_found("NO_APPLICATION", "尚未报名该考试项目")),
        (Some(app), cmd) => decide(app, cmd, ctx),
    }
}

/// R4: a new application in `district`, inside the district's registration window, for a
/// candidate whose WeChat or Baidu user is bound (reminders must reach them, R2, R16); historical when last
/// year's record is of the same document and the candidate sat (R32, R38).
fn decide_create(district: &DistrictCode, last: Option<&LastYear>, ctx: &Ctx<'_>) -> Result<Decision, Refusal> {
    if !ctx.reference.districts().contains_key(district) {
        return Err(Refusal::rule("UNKNOWN_DISTRICT", "考区不存在").field("district"));
    }
    if !ctx.project.schedule(district).registration_open(ctx.now) {
        return Err(state("REGISTRATION_CLOSED", "不在报名时间内"));
    }
    if !ctx.candidate.reachable() {
        return Err(state("WECHAT_BINDING_REQUIRED", "请先绑定微信(或百度账号)后再选择考试"));
    }
    let doc = &ctx.candidate.identity.document;
    let record = last
        .filter(|l| l.id_type == doc.id_type && l.id_number.expose() == doc.number())
        .and_then(|l| historical(l.clone(), ctx.reference));
    Ok(Decision::one(Event::Created {
        district: district.clone(),
        historical: record.is_some(),
        record: record.map(Box::new),
    }))
}

/// Whether the candidate may change the form now: a draft, inside the registration window —
/// or, once submitted before, until the confirmation deadline (R17).
fn editable(app: &Application, ctx: &Ctx<'_>) -> Result<(), Refusal> {
    match app.status {
        Status::Draft => {}
        // R33/R37: an auto-confirmed application is final.
        _ if app.auto_confirmed => return Err(state("AUTO_CONFIRMED", "已自动确认,报名信息不能修改")),
        Status::Submitted => return Err(state("WITHDRAW_FIRST", "报名信息已提交,请先撤回再修改")),
        _ => return Err(state("NOT_EDITABLE", "当前状态下不能修改报名信息")),
    }
    let schedule = ctx.project.schedule(&app.district);
    let may_edit = if app.submissions > 0 {
        ctx.now <= schedule.confirmation_deadline
    } else {
        schedule.registration_open(ctx.now)
    };
    if !may_edit {
        return Err(state("REGISTRATION_CLOSED", "不在报名时间内"));
    }
    Ok(())
}

/// R41, R42: proofs are uploaded while the form may be changed, or after 确认不通过 until the
/// district's re-upload deadline; only in online-confirmation districts.
fn may_upload_proofs(app: &Application, ctx: &Ctx<'_>) -> Result<(), Refusal> {
    if !ctx.district.online_confirmation {
        return Err(Refusal::conflict("NO_ONLINE_CONFIRMATION", "本考区不需要上传证明材料"));
    }
    if app.status != Status::ConfirmRejected {
        return editable(app, ctx);
    }
    if ctx.now > ctx.project.schedule(&app.district).reupload_deadline {
        return Err(state("REUPLOAD_CLOSED", "已超过重新上传材料的截止时间"));
    }
    Ok(())
}

/// What may be uploaded now, checked before an upload ticket is issued (a ticket for nothing
/// is a ticket for abuse): the same rules the command that records the upload decides by.
pub enum UploadFor<'k> {
    /// R13: a replacement photo, while the form may be changed.
    Photo,
    /// R41: one file of a declared proof.
    Proof(&'k str),
}

impl Application {
    /// R13, R41, R42: whether an upload of `what` could be used now; for a proof, its
    /// declaration (size range, how many).
    pub fn may_upload<'r>(&self, what: UploadFor<'_>, ctx: &Ctx<'r>) -> Result<Option<&'r Proof>, Refusal> {
        match what {
            UploadFor::Photo => editable(self, ctx).map(|_| None),
            UploadFor::Proof(kind) => {
                may_upload_proofs(self, ctx)?;
                declared_proof(self, kind, ctx).map(Some)
            }
        }
    }
}

fn declared_proof<'r>(app: &Application, kind: &str, ctx: &Ctx<'r>) -> Result<&'r Proof, Refusal> {
    ctx.reference
        .materials()
        .proof(&app.district, kind)
        .ok_or_else(|| Refusal::not_found("UNKNOWN_MATERIAL_KIND", "本考区不要求该类证明材料").field("kind"))
}

/// Decide what `cmd` does to `app` — the events it causes, or why it is refused.
pub fn decide(app: &Application, cmd: &Command, ctx: &Ctx<'_>) -> Result<Decision, Refusal> {
    let schedule = ctx.project.schedule(&app.district);
    let in_registration = schedule.registration_open(ctx.now);
    let editable = || editable(app, ctx);
    match cmd {
        Command::Agree { important_version, integrity_version } => {
            editable()?;
            for (kind, given) in
                [(NoticeKind::Important, important_version), (NoticeKind::Integrity, integrity_version)]
            {
                let current = ctx.reference.notices().get(&(app.project.clone(), kind));
                if current.map(|n| &n.version) != Some(given) {
                    return Err(Refusal::conflict("NOTICE_VERSION_OUTDATED", "声明内容已更新,请重新阅读后同意").field(
                        match kind {
                            NoticeKind::Important => "important_version",
                            NoticeKind::Integrity => "integrity_version",
                        },
                    ));
                }
            }
            Ok(Decision::one(Event::Agreed {
                agreement: Agreement {
                    important_version: important_version.clone(),
                    integrity_version: integrity_version.clone(),
                    agreed_at: ctx.now,
                },
            }))
        }
        Command::SavePage(page) => {
            editable()?;
            if app.agreement.is_none() {
                return Err(state("AGREEMENT_REQUIRED", "请先阅读并同意《重要声明》和《考生诚信考试承诺书》"));
            }
            let kind = page.kind();
            // R6: every earlier page must have been submitted first.
            if let Some(missing) = PageKind::ALL.iter().take_while(|k| **k < kind).find(|k| !app.pages.has(**k)) {
                return Err(Refusal::new(
                    Kind::Conflict,
                    "PAGE_OUT_OF_ORDER",
                    format!("请先填写“{}”", missing.title()),
                )
                .field(missing.as_str()));
            }
            let warnings = check_page(app, page, ctx)?;
            Ok(Decision { events: vec![Event::PageSaved { page: page.clone() }], warnings })
        }
        Command::ChoosePhoto(photo) => {
            editable()?;
            if !app.pages.complete() {
                return Err(state("PAGES_INCOMPLETE", "请先完成全部报名信息的填写"));
            }
            Ok(Decision::one(Event::PhotoChosen { photo: photo.clone() }))
        }
        Command::AddMaterial(m) => {
            may_upload_proofs(app, ctx)?;
            let proof = declared_proof(app, &m.kind, ctx)?;
            if m.slot == 0 || m.slot > proof.max_files {
                return Err(Refusal::rule(
                    "MATERIAL_SLOT",
                    format!("“{}”最多上传{}份,请选择第1至{}份", proof.name, proof.max_files, proof.max_files),
                )
                .field("slot"));
            }
            // Bounded, so the application item stays far under the table's item-size limit (the
            // declarations are bounded by the same number when the reference data loads).
            let max = ctx.reference.materials().max_count;
            let replaces = app.materials.iter().any(|x| x.kind == m.kind && x.slot == m.slot);
            if !replaces && app.materials.len() >= max {
                return Err(
                    Refusal::conflict("TOO_MANY_MATERIALS", format!("每份报名最多上传{max}份证明材料")).field("kind")
                );
            }
            Ok(Decision::one(Event::MaterialAdded { material: m.clone() }))
        }
        Command::CompleteMaterials => {
            may_upload_proofs(app, ctx)?;
            // 上传全部证明材料: every proof the district requires, as many files as it asks for.
            for proof in ctx.reference.materials().proofs(&app.district) {
                let have = app.materials.iter().filter(|m| m.kind == proof.kind).count();
                if have < usize::from(proof.min_files) {
                    return Err(Refusal::conflict(
                        "MATERIALS_MISSING",
                        format!("请上传“{}”(至少{}份,已上传{}份)", proof.name, proof.min_files, have),
                    )
                    .field("materials"));
                }
            }
            Ok(Decision::one(Event::MaterialsCompleted))
        }
        Command::Submit { code } => {
            match app.status {
                Status::Draft => editable()?,
                // R42: after 确认不通过, re-upload and resubmit before the re-upload deadline.
                Status::ConfirmRejected if ctx.now <= schedule.reupload_deadline => {}
                Status::ConfirmRejected => return Err(state("REUPLOAD_CLOSED", "已超过重新上传材料的截止时间")),
                Status::Submitted => return Err(state("ALREADY_SUBMITTED", "报名信息已提交")),
                _ => return Err(state("NOT_EDITABLE", "当前状态下不能提交报名信息")),
            }
            if app.agreement.is_none() {
                return Err(state("AGREEMENT_REQUIRED", "请先阅读并同意《重要声明》和《考生诚信考试承诺书》"));
            }
            if let Some(missing) = PageKind::ALL.iter().find(|k| !app.pages.has(**k)) {
                return Err(Refusal::conflict("PAGES_INCOMPLETE", format!("请先填写“{}”", missing.title()))
                    .field(missing.as_str()));
            }
            if app.photo.is_none() {
                return Err(Refusal::conflict("PHOTO_REQUIRED", "请确认使用照片或更换考试照片").field("photo"));
            }
            // R11: the education page holds the degree record as it was when the page was saved;
            // one edited or removed on the account since is caught here, naming the page.
            if let Some(edu) = &app.pages.education
                && ctx.candidate.degree(&edu.degree_record_id) != Some(&edu.record)
            {
                return Err(Refusal::conflict(
                    "DEGREE_RECORD_CHANGED",
                    "所引用的学历学位信息已在账号中修改或删除,请重新保存“教育情况”页面",
                )
                .field(PageKind::Education.as_str()));
            }
            if ctx.district.online_confirmation && !app.materials_complete {
                return Err(Refusal::conflict("MATERIALS_INCOMPLETE", "请上传全部证明材料后再提交").field("materials"));
            }
            let mut events = vec![Event::Submitted { code: code.clone() }];
            if ctx.district.historical_auto_confirm
                && app.status == Status::Draft
                && app.historical.as_ref().is_some_and(|h| same_as_last_year(app, &h.last, ctx.candidate))
            {
                events.push(Event::AutoConfirmed); // R33
            }
            Ok(Decision { events, warnings: vec![] })
        }
        Command::Withdraw => {
            if app.auto_confirmed {
                return Err(state("AUTO_CONFIRMED", "已自动确认,不能撤回"));
            }
            if app.status != Status::Submitted {
                return Err(state("NOT_SUBMITTED", "报名信息未提交,无需撤回"));
            }
            if ctx.now > schedule.confirmation_deadline {
                return Err(state("CONFIRMATION_CLOSED", "报名确认已结束,不能撤回"));
            }
            Ok(Decision::one(Event::Withdrawn))
        }
        Command::ChangeDistrict { district } => {
            if app.status != Status::Draft {
                return Err(state("DISTRICT_LOCKED", "报名信息已提交,不能修改考区"));
            }
            if !in_registration {
                return Err(state("REGISTRATION_CLOSED", "不在报名时间内"));
            }
            if !ctx.reference.districts().contains_key(district) {
                return Err(Refusal::rule("UNKNOWN_DISTRICT", "考区不存在").field("district"));
            }
            if *district == app.district {
                return Err(Refusal::conflict("SAME_DISTRICT", "新考区与当前考区相同").field("district"));
            }
            Ok(Decision::one(Event::DistrictChanged { from: app.district.clone(), to: district.clone() }))
        }
        Command::Confirm { code } => {
            // R41, R42: online-confirmation districts confirm at the registration point's queue.
            if ctx.district.online_confirmation {
                return Err(state("ONLINE_CONFIRMATION", "本考区为线上确认,请在报名点队列中审核"));
            }
            if app.status != Status::Submitted || app.auto_confirmed {
                return Err(state("NOT_AWAITING_CONFIRMATION", "该报名不在待确认状态"));
            }
            if ctx.now > schedule.confirmation_deadline {
                return Err(state("CONFIRMATION_CLOSED", "报名确认已结束"));
            }
            // R18: only the code of the latest submission confirms.
            if app.verification_code.as_deref() != Some(code.as_str()) {
                return Err(Refusal::rule(
                    "VERIFICATION_CODE_MISMATCH",
                    "验证码与最新报名表不一致,请考生重新打印报名表",
                )
                .field("code"));
            }
            Ok(Decision::one(Event::Confirmed))
        }
        Command::ApproveConfirmation | Command::RejectConfirmation { .. } => {
            if !ctx.district.online_confirmation {
                return Err(Refusal::conflict("NO_ONLINE_CONFIRMATION", "本考区为现场确认"));
            }
            if app.status != Status::Submitted || app.auto_confirmed {
                return Err(state("NOT_AWAITING_CONFIRMATION", "该报名不在待确认状态"));
            }
            // R23: confirmation, online too, ends at the district's confirmation deadline.
            if ctx.now > schedule.confirmation_deadline {
                return Err(state("CONFIRMATION_CLOSED", "报名确认已结束"));
            }
            Ok(Decision::one(match cmd {
                Command::RejectConfirmation { reason } => Event::ConfirmationRejected { reason: reason_text(reason)? },
                _ => Event::Confirmed,
            }))
        }
        Command::ApproveSite | Command::RejectSite { .. } => {
            if app.status != Status::Confirmed {
                return Err(state("NOT_AWAITING_SITE_REVIEW", "该报名不在考点审核阶段"));
            }
            review_open(ctx)?;
            Ok(Decision::one(match cmd {
                Command::RejectSite { reason } => Event::SiteRejected { reason: reason_text(reason)? },
                _ => Event::SiteApproved,
            }))
        }
        Command::ApproveDistrict | Command::RejectDistrict { .. } => {
            if app.status != Status::SiteApproved {
                return Err(state("NOT_AWAITING_DISTRICT_REVIEW", "该报名不在考区审核阶段"));
            }
            review_open(ctx)?;
            Ok(Decision::one(match cmd {
                Command::RejectDistrict { reason } => Event::DistrictRejected { reason: reason_text(reason)? },
                _ => Event::DistrictApproved,
            }))
        }
        Command::OpenOrder { order } => {
            let quoted = payment_quote(app, ctx)?;
            if let Some(open) = &app.order
                && ctx.now < open.expires_at
            {
                return Err(state("ORDER_OPEN", "已有未支付的订单"));
            }
            // R28: the order asks exactly the amount due now, and no later than the deadline.
            if order.amount != quoted || order.expires_at > ctx.project.schedule(&app.district).payment_deadline {
                return Err(Refusal::internal());
            }
            Ok(Decision::one(Event::OrderOpened { order: order.clone() }))
        }
        Command::CloseOrder { out_trade_no } => {
            if app.order.as_ref().map(|o| &o.out_trade_no) != Some(out_trade_no) {
                return Err(state("NOT_CURRENT_ORDER", "订单已不是当前订单"));
            }
            Ok(Decision::one(Event::OrderClosed { out_trade_no: out_trade_no.clone() }))
        }
        Command::RecordPayment { out_trade_no, amount, ordered, transaction_id, paid_at } => {
            if app.status == Status::Paid {
                return Err(state("ALREADY_PAID", "已缴费"));
            }
            if !ctx.district.online_payment {
                return Err(Refusal::rule("NO_ONLINE_PAYMENT", "本考区未开通网上缴费"));
            }
            if app.status != Status::Approved {
                return Err(state("NOT_AWAITING_PAYMENT", "资格审核通过后方可缴费"));
            }
            // Checked against the order, not a fee computed now (R28 froze it on the order).
            if amount != ordered {
                return Err(Refusal::rule("AMOUNT_MISMATCH", "缴费金额与订单金额不一致").field("amount"));
            }
            // A payment the provider took is recorded even if the news comes late: the money
            // moved before the order's `time_expire`, which is never after the deadline (R31).
            Ok(Decision::one(Event::Paid {
                payment: Payment {
                    amount: *amount,
                    transaction_id: transaction_id.clone(),
                    paid_at: *paid_at,
                    out_trade_no: Some(out_trade_no.clone()),
                },
            }))
        }
        Command::Create { .. } => Err(state("APPLICATION_EXISTS", "已报名该考试项目")),
        // A judgement is a fact about an object, in any state: whether the upload can be used
        // is decided when the candidate uses it (ChoosePhoto, AddMaterial). The first stands.
        Command::RecordUpload(upload) => {
            if crate::domain::upload::judged(&app.uploads, &upload.key).is_some() {
                return Err(state("UPLOAD_ALREADY_CHECKED", "该文件已检查"));
            }
            Ok(Decision::one(Event::UploadChecked { upload: upload.clone() }))
        }
        Command::MergeScores { record } => {
            // At the site, before its review: the candidate brings the proof with the form. The
            // state is checked before the record, so an application that can't take a merge
            // can't be used to ask whether a document sat last year.
            if !matches!(app.status, Status::Submitted | Status::Confirmed) {
                return Err(state("NOT_AT_SITE", "成绩合并须在考点审核完成前办理"));
            }
            if app.historical.is_some() {
                return Err(state("ALREADY_HISTORICAL", "该报名已关联去年成绩,无需合并"));
            }
            let Some(record) = record else {
                return Err(Refusal::not_found("NO_LAST_YEAR_RECORD", "未找到该证件去年的报考记录").field("id_number"));
            };
            let same_doc = {
                let doc = &ctx.candidate.identity.document;
                record.id_type == doc.id_type && record.id_number.expose() == doc.number()
            };
            if same_doc {
                return Err(state("SCORE_MERGE_NOT_NEEDED", "证件与去年一致,成绩自动滚动,无需合并"));
            }
            // R38: absent or disqualified last year: nothing to merge.
            let h = historical((**record).clone(), ctx.reference).ok_or_else(|| {
                Refusal::rule("NOT_HISTORICAL", "该证件去年缺考或违纪,成绩不能合并").field("id_number")
            })?;
            // R39: results combine within the same specialty only.
            if app.pages.exam.as_ref().map(|e| &e.specialty) != Some(&record.specialty) {
                return Err(
                    Refusal::rule("SCORE_MERGE_SPECIALTY", "报考专业与去年不同,成绩不能合并").field("id_number")
                );
            }
            Ok(Decision::one(Event::ScoresMerged { record: Box::new(h) }))
        }
        // R31 against a payment in flight: an order still open at the provider may yet be paid,
        // so it is closed (or found paid) first — by the payment reconciler — and only then can
        // the application lapse. The two can't both win: each is a conditional write.
        Command::Lapse if app.order.is_some() => Err(state("ORDER_OPEN", "缴费订单尚未关闭")),
        Command::Lapse => match app.pending_deadline(ctx.project, ctx.district) {
            Some((deadline, reason)) if ctx.now > deadline => Ok(Decision::one(Event::Lapsed { reason })),
            _ => Err(state("NOT_DUE", "未到截止时间或无需处理")),
        },
    }
}

/// Check a payment may start from the mini-program (R26, R29): the quote, or why not.
pub fn payment_quote(app: &Application, ctx: &Ctx<'_>) -> Result<Fen, Refusal> {
    if !ctx.district.online_payment {
        return Err(Refusal::rule("NO_ONLINE_PAYMENT", "本考区未开通网上缴费,请按当地要求缴费"));
    }
    if app.status != Status::Approved {
        return Err(state("NOT_AWAITING_PAYMENT", "资格审核通过后方可缴费"));
    }
    let s = ctx.project.schedule(&app.district);
    if ctx.now < s.payment_opens || ctx.now > s.payment_deadline {
        return Err(state("PAYMENT_CLOSED", "不在缴费时间内"));
    }
    if !ctx.district.mobile_payment {
        return Err(Refusal::rule("USE_PC_PAYMENT", "本考区尚未开通手机缴费,请使用电脑登录考生管理平台缴费"));
    }
    app.amount_due(ctx.project).ok_or_else(Refusal::internal)
}

/// R24, R25: reviews end at the district's review deadline (the schedule says when).
fn review_open(ctx: &Ctx<'_>) -> Result<(), Refusal> {
    if ctx.now > ctx.project.schedule(&ctx.district.code).review_deadline {
        return Err(state("REVIEW_CLOSED", "资格审核已结束"));
    }
    Ok(())
}

fn reason_text(reason: &str) -> Result<String, Refusal> {
    super::values::parse_text(reason, 200, "reason")
}

/// R33: identity, district, site, specialty, level, education and work equal last year's.
fn same_as_last_year(app: &Application, last: &LastYear, candidate: &Candidate) -> bool {
    let (Some(site), Some(exam), Some(edu), Some(work)) =
        (&app.pages.site, &app.pages.exam, &app.pages.education, &app.pages.work)
    else {
        return false;
    };
    candidate.identity.name.as_str() == last.name
        && app.district == last.district
        && site.site == last.site
        && exam.specialty == last.specialty
        && exam.level == last.level
        && last.education.as_ref().is_some_and(|e| edu.record.same_education(e))
        && work.unit_name == last.work_unit
}

/// Page rules R7–R14 against reference data and the account.
fn check_page(app: &Application, page: &Page, ctx: &Ctx<'_>) -> Result<Vec<Warning>, Refusal> {
    let mut warnings = vec![];
    match page {
        Page::Site(p) => {
            let site = ctx
                .reference
                .sites()
                .get(&p.site)
                .filter(|s| s.district == app.district)
                .ok_or_else(|| Refusal::conflict("UNKNOWN_SITE", "所选考点不属于当前考区").field("site"))?;
            match (&p.point, ctx.district.online_confirmation) {
                (None, true) => {
                    return Err(Refusal::conflict("POINT_REQUIRED", "本考区须选择报名点").field("point"));
                }
                (Some(point), true) if !site.points.iter().any(|x| &x.code == point) => {
                    return Err(Refusal::rule("UNKNOWN_POINT", "所选报名点不属于该考点").field("point"));
                }
                (Some(_), false) => {
                    return Err(Refusal::conflict("POINT_NOT_APPLICABLE", "本考区无需选择报名点").field("point"));
                }
                _ => {}
            }
        }
        Page::Basic(p) => {
            // R7: warn, never block.
            if let Some(until) = p.id_valid_until {
                let uncovered = ctx.project.exam_days_after(until);
                if let Some(first) = uncovered.first() {
                    warnings.push(Warning {
                        code: "ID_EXPIRES_BEFORE_EXAM".into(),
                        message: format!(
                            "证件有效截止日期早于考试日期({}-{:02}-{:02}起的考试日),不影响报名,请及时更换有效证件,以免影响参加考试",
                            first.year(),
                            u8::from(first.month()),
                            first.day()
                        ),
                        field: "id_valid_until".into(),
                    });
                }
            }
        }
        Page::Contact(_) => {}
        Page::Exam(p) => check_exam_page(app, p, ctx)?,
        Page::Education(p) => {
            // R11: only a record maintained on the account, exactly as it is there now.
            match ctx.candidate.degree(&p.degree_record_id) {
                Some(rec) if *rec == p.record => {}
                Some(_) => {
                    return Err(
                        Refusal::rule("DEGREE_RECORD_STALE", "学历学位信息已变更,请重新引用").field("degree_record_id")
                    );
                }
                None => {
                    return Err(Refusal::conflict("UNKNOWN_DEGREE_RECORD", "请选择已维护的学历学位信息")
                        .field("degree_record_id"));
                }
            }
        }
        Page::Work(p) => {
            // R12
            if p.unit_name == "其它" && p.unit_category.as_deref().is_none_or(|c| c.trim().is_empty()) {
                return Err(Refusal::rule("UNIT_CATEGORY_REQUIRED", "单位名称为“其它”时,单位类别不能为空")
                    .field("unit_category"));
            }
        }
    }
    Ok(warnings)
}

fn check_exam_page(app: &Application, p: &ExamPage, ctx: &Ctx<'_>) -> Result<(), Refusal> {
    let kind = ctx.project.kind;
    // R8: category first, then level and specialty within it, then the matching practice category.
    if !ctx.reference.categories().contains_key(&p.category) {
        return Err(Refusal::rule("UNKNOWN_CATEGORY", "专业类别不存在").field("category"));
    }
    let spec = ctx
        .reference
        .specialties()
        .get(&(kind, p.specialty.clone()))
        .ok_or_else(|| Refusal::rule("UNKNOWN_SPECIALTY", "报考专业不存在").field("specialty"))?;
    if spec.category != p.category {
        return Err(Refusal::rule("SPECIALTY_NOT_IN_CATEGORY", "报考专业不属于所选专业类别").field("specialty"));
    }
    if spec.level != p.level {
        return Err(Refusal::rule("LEVEL_MISMATCH", "报考级别与报考专业不一致").field("level"));
    }
    if !spec.practice_categories.contains(&p.practice_category) {
        return Err(
            Refusal::rule("PRACTICE_CATEGORY_MISMATCH", "请勾选与专业类别对应的执业类别").field("practice_category")
        );
    }
    // R9
    if p.practice_category != PracticeCategory::None && p.first_registration.is_none() {
        return Err(Refusal::rule("FIRST_REGISTRATION_REQUIRED", "执业类别不为“无”时,首次注册年月不能为空")
            .field("first_registration"));
    }
    // R10
    if p.has_residency_certificate && p.residency_certificate_issued.is_none() {
        return Err(Refusal::rule("RESIDENCY_CERT_DATE_REQUIRED", "已取得住培合格证书的,须填写证书发证年月")
            .field("residency_certificate_issued"));
    }
    if !p.has_residency_certificate && p.residency_certificate_issued.is_some() {
        return Err(Refusal::rule("RESIDENCY_CERT_DATE_UNEXPECTED", "未取得住培合格证书的,无需填写发证年月")
            .field("residency_certificate_issued"));
    }
    for ym in [p.first_registration, p.residency_certificate_issued].into_iter().flatten() {
        if ym.first_day() > ctx.now.date() {
            return Err(Refusal::rule("DATE_IN_FUTURE", "年月不能晚于当前日期").field("first_registration"));
        }
    }
    // R14, R35, R39: every subject of the kind for a first-timer; rolling candidates must sit at
    // least the subjects they did not pass last year in the same specialty, and may tick others.
    let all: BTreeSet<&str> = ctx.reference.subjects(kind).iter().map(|s| s.code.as_str()).collect();
    let chosen: BTreeSet<&str> = p.subjects.iter().map(String::as_str).collect();
    if chosen.len() != p.subjects.len() || !chosen.is_subset(&all) || chosen.is_empty() {
        return Err(Refusal::rule("INVALID_SUBJECTS", "报考科目不正确").field("subjects"));
    }
    let required: BTreeSet<&str> = match &app.historical {
        Some(h) if ctx.reference.rolls(kind) && h.last.specialty == p.specialty => {
            h.required_subjects.iter().map(String::as_str).collect()
        }
        _ => all.clone(),
    };
    if !required.is_subset(&chosen) {
        return Err(Refusal::rule("SUBJECTS_REQUIRED", "须报考全部未通过的科目").field("subjects"));
    }
    Ok(())
}
