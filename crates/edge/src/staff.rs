//! Wire DTOs of the staff API (`/v1/staff/...`): what the staff console sends and receives.
//! Requests deny unknown fields and declare the constraints the handlers enforce; views mask
//! what the screen doesn't need (the ID number is masked; the clerk checks the document itself).

use crate::wire::PagesView;
use serde::{Deserialize, Serialize};
use services::principal::Role;
use shared::domain::account::Candidate;
use shared::domain::application::{Application, Status};
use shared::domain::identity::{Gender, IdType};
use shared::domain::progress::{Node, progress};
use shared::domain::values::{Sensitive, ymd};
use shared::reference::District;
use utoipa::ToSchema;

/// `services::staff::check_staff_password`, as a pattern: three of four kinds, no control
/// characters (length is `minLength`/`maxLength`).
pub const STAFF_PASSWORD_PATTERN: &str = concat!(
    "^(?:(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])|(?=.*[a-z])(?=.*[A-Z])(?=.*[!-/:-@\\[-`{-~])",
    "|(?=.*[a-z])(?=.*[0-9])(?=.*[!-/:-@\\[-`{-~])|(?=.*[A-Z])(?=.*[0-9])(?=.*[!-/:-@\\[-`{-~]))",
    "[^\\u0000-\\u001f\\u007f-\\u009f]*$"
);

/// Staff account names: lower-case letters, digits, underscore.
pub const STAFF_ACCOUNT_PATTERN: &str = "^[a-z0-9_]{4,32}$";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffLoginRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub account: String,
    #[schema(value_type = String, min_length = 1, max_length = 128)]
    pub password: Sensitive,
    /// The 6-digit code of the authenticator app (TOTP, RFC 6238).
    #[schema(pattern = "^[0-9]{6}$")]
    pub totp: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    pub account: String,
    pub name: String,
    pub role: Role,
    /// The point, site or district code of the account's scope; empty for the centre.
    pub area: String,
    pub district: Option<String>,
    pub admin: bool,
    pub disabled: bool,
}

impl StaffView {
    pub fn of(a: &services::staff_session::StaffAccount) -> Self {
        StaffView {
            account: a.account.clone(),
            name: a.name.clone(),
            role: a.role,
            area: a.area.clone(),
            district: a.district.as_ref().map(|d| d.to_string()),
            admin: a.admin,
            disabled: a.disabled,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StaffSessionView {
    /// `Authorization: Bearer <token>` on every later staff call.
    pub token: String,
    /// Without a request before this moment the session ends (idle timeout).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub idle_expires_at: time::OffsetDateTime,
    /// The session ends at this moment whatever happens.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: time::OffsetDateTime,
    pub staff: StaffView,
}

/// One application waiting in a queue (from the index; re-read before any decision).
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueEntryView {
    pub candidate_id: String,
    pub project: String,
    pub status: Status,
    pub site: Option<String>,
    pub point: Option<String>,
    pub specialty: Option<String>,
    pub subjects: Vec<String>,
    pub submissions: u32,
    pub historical: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub waiting_since: time::OffsetDateTime,
}

impl QueueEntryView {
    pub fn of(app: &Application) -> Self {
        let site = app.pages.site.as_ref();
        let exam = app.pages.exam.as_ref();
        QueueEntryView {
            candidate_id: app.candidate_id.clone(),
            project: app.project.to_string(),
            status: app.status,
            site: site.map(|s| s.site.to_string()),
            point: site.and_then(|s| s.point.as_ref()).map(|p| p.to_string()),
            specialty: exam.map(|e| e.specialty.to_string()),
            subjects: exam.map(|e| e.subjects.clone()).unwrap_or_default(),
            submissions: app.submissions,
            historical: app.historical.is_some(),
            waiting_since: app.status_since.unwrap_or(app.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuePageView {
    pub entries: Vec<QueueEntryView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueCountView {
    /// `confirm` or `review`.
    pub stage: String,
    pub site: Option<String>,
    pub point: Option<String>,
    pub count: u64,
    /// The count stopped at its cap (10000): read as "at least".
    pub capped: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaterialLink {
    pub kind: String,
    pub slot: u8,
    /// Signed, expires in 5 minutes; each view is in the audit trail.
    pub url: String,
}

/// An application as staff see it: who (name, masked document), what they applied for, the
/// photo and proofs to check, and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffApplicationView {
    pub candidate_id: String,
    pub project: String,
    pub district: String,
    pub status: Status,
    pub progress: Vec<Node>,
    pub auto_confirmed: bool,
    /// Last year's record applies (R32–R35).
    pub historical: bool,
    pub submissions: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub submitted_at: Option<time::OffsetDateTime>,
    /// The reason of a rejection or return, as the candidate sees it.
    pub reason: Option<String>,
    /// Each review stage's result (R24).
    pub review: shared::domain::application::ReviewResults,
    pub name: String,
    pub id_type: IdType,
    /// e.g. `4101**********0019`: the clerk compares the document the candidate shows.
    pub id_number_masked: String,
    pub gender: Gender,
    pub birth_date: String,
    pub pages: PagesView,
    /// Signed, expires in 5 minutes.
    pub photo_url: Option<String>,
    pub materials: Vec<MaterialLink>,
}

impl StaffApplicationView {
    pub fn of(
        app: &Application,
        c: &Candidate,
        district: &District,
        photo_url: Option<String>,
        materials: Vec<MaterialLink>,
    ) -> Self {
        StaffApplicationView {
            candidate_id: app.candidate_id.clone(),
            project: app.project.to_string(),
            district: app.district.to_string(),
            status: app.status,
            progress: progress(app, district),
            auto_confirmed: app.auto_confirmed,
            historical: app.historical.is_some(),
            submissions: app.submissions,
            submitted_at: app.submitted_at,
            reason: app.reason.clone(),
            review: app.review,
            name: c.identity.name.as_str().to_string(),
            id_type: c.identity.document.id_type,
            id_number_masked: c.identity.document.masked(),
            gender: c.identity.gender,
            birth_date: ymd(c.identity.birth_date),
            pages: PagesView::of(&app.pages),
            photo_url,
            materials,
        }
    }
}

/// A decision on one application. `reason` is required to reject or return, at most 200
/// characters, and shown to the candidate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: DecisionKind,
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// R41, R42: the registration point passes the online confirmation.
    ApproveConfirmation,
    /// R42: 确认不通过; the candidate re-uploads and resubmits before the re-upload deadline.
    RejectConfirmation,
    /// R24: 考点审核通过.
    ApproveSite,
    RejectSite,
    /// R25: 考区审核通过 (资格审核 done).
    ApproveDistrict,
    RejectDistrict,
}

/// R36: the ID document the candidate had last year, as on the proof they bring to the site.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreMergeRequest {
    pub id_type: IdType,
    #[schema(value_type = String, min_length = 5, max_length = 20)]
    pub id_number: Sensitive,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffRequest {
    #[schema(pattern = "^[a-z0-9_]{4,32}$")]
    pub account: String,
    #[schema(
        min_length = 1,
        max_length = 40,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    pub role: Role,
    /// The point, site or district code (empty for a centre account).
    #[schema(pattern = "^[0-9A-Za-z_-]{0,40}$")]
    pub area: String,
    #[serde(default)]
    pub admin: bool,
}

/// What an admin hands to the new account's owner (once): the owner enrols with it.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    pub staff: StaffView,
    /// One-time enrolment code for `POST /v1/staff/enrolment`; the admin never sees the
    /// password or the TOTP key. Empty when the answer is not an invitation (disabling).
    pub enrolment_code: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: time::OffsetDateTime,
}

/// The owner's enrolment: the code from their admin and a password of their own.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffEnrolRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub account: String,
    #[schema(value_type = String, min_length = 1, max_length = 128)]
    pub code: Sensitive,
    /// 12–64 characters from at least three of: lower case, upper case, digits, ASCII symbols;
    /// no control characters.
    #[schema(value_type = String, min_length = 12, max_length = 64)]
    pub password: Sensitive,
}

/// A second factor, shown once: scan `otpauth_uri` as a QR code, or type `secret_base32`.
/// No `Debug`: the key must never reach a log (nor the session token, in `StaffSessionView`).
#[derive(Serialize, ToSchema)]
pub struct EnrolmentView {
    pub staff: StaffView,
    pub otpauth_uri: String,
    pub secret_base32: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordView {
    pub staff: String,
    pub role: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: time::OffsetDateTime,
}

/// Who acted in a history entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryActor {
    Candidate,
    Point,
    Site,
    District,
    Payment,
    Scheduler,
    System,
}

/// One step of an application's history: when, who, what, and a refusal's reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntryView {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: time::OffsetDateTime,
    pub actor: HistoryActor,
    /// The staff account that acted (staff actors only).
    pub staff: Option<String>,
    /// The event's name, e.g. `submitted`, `confirmed`, `site_rejected`, `district_approved`.
    #[schema(pattern = "^[a-z_]+$")]
    pub event: String,
    /// The reason of a refusal (R24, R25, R42), or why the application lapsed.
    pub reason: Option<String>,
}

/// An application's history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub entries: Vec<HistoryEntryView>,
    /// The oldest steps were left out (more than 500): the latest are always there.
    pub truncated: bool,
}

impl HistoryView {
    pub fn of((entries, truncated): (Vec<services::staff::HistoryEntry>, bool)) -> HistoryView {
        let entries = entries
            .into_iter()
            .map(|e| HistoryEntryView {
                at: e.at,
                actor: match e.actor {
                    "candidate" => HistoryActor::Candidate,
                    "point" => HistoryActor::Point,
                    "site" => HistoryActor::Site,
                    "district" => HistoryActor::District,
                    "payment" => HistoryActor::Payment,
                    "scheduler" => HistoryActor::Scheduler,
                    _ => HistoryActor::System,
                },
                staff: e.staff,
                event: e.event,
                reason: e.reason,
            })
            .collect();
        HistoryView { entries, truncated }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageView {
    pub records: Vec<AuditRecordView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}
