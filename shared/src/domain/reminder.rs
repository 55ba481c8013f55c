//! Reminders (待办事项提醒, DOMAIN "Reminders"): which transition tells the candidate what, the
//! to-do it leaves in their list, and the subscription-message fields it fills — pure, so the
//! write path, the sweep, the consumer and the tests all derive the same ones.

use crate::domain::account::Candidate;
use crate::domain::application::{Application, Event, LapseReason, Status};
use crate::reference::{District, Project};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a reminder is about: each transition DOMAIN names, and the 24-hours-ahead warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    /// R16: submitted — confirm at the site by the deadline (or, online, wait for the point).
    Submitted,
    /// R33: confirmed at once on submit.
    AutoConfirmed,
    /// R34: a historical candidate whose form differs from last year's: the site confirms.
    NotAutoConfirmed,
    /// R22/R34/R42: confirmed by the site or the registration point.
    Confirmed,
    /// R42: 确认不通过 — re-upload and resubmit by the deadline.
    ConfirmRejected,
    /// R25/R26: review passed — pay by the deadline.
    ReviewPassed,
    /// R30: review passed in a district without online payment — registered.
    Registered,
    /// R24/R25: rejected at the site or district review.
    Rejected,
    /// R30: paid — registered.
    Paid,
    /// R16/R23, R31, R42: gave up (视为放弃).
    Lapsed,
    /// (design) 24 hours before a deadline that still needs the candidate.
    DeadlineSoon,
}

impl ReminderKind {
    pub const ALL: [ReminderKind; 11] = [
        ReminderKind::Submitted,
        ReminderKind::AutoConfirmed,
        ReminderKind::NotAutoConfirmed,
        ReminderKind::Confirmed,
        ReminderKind::ConfirmRejected,
        ReminderKind::ReviewPassed,
        ReminderKind::Registered,
        ReminderKind::Rejected,
        ReminderKind::Paid,
        ReminderKind::Lapsed,
        ReminderKind::DeadlineSoon,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::Submitted => "submitted",
            ReminderKind::AutoConfirmed => "auto_confirmed",
            ReminderKind::NotAutoConfirmed => "not_auto_confirmed",
            ReminderKind::Confirmed => "confirmed",
            ReminderKind::ConfirmRejected => "confirm_rejected",
            ReminderKind::ReviewPassed => "review_passed",
            ReminderKind::Registered => "registered",
            ReminderKind::Rejected => "rejected",
            ReminderKind::Paid => "paid",
            ReminderKind::Lapsed => "lapsed",
            ReminderKind::DeadlineSoon => "deadline_soon",
        }
    }

    pub fn parse(s: &str) -> Option<ReminderKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What the mini-program should open for a to-do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TodoAction {
    /// The registration form to print and take to the site (R15, R22).
    Form,
    /// The materials page: re-upload and resubmit (R42).
    Materials,
    /// Payment (R26, R27).
    Payment,
    /// The application: a result to read, nothing to do.
    Application,
}

impl TodoAction {
    /// The mini-program page a subscription message opens (WeChat's `page`).
    pub fn page(self, project: &str) -> String {
        let p = match self {
            TodoAction::Form => "pages/application/form",
            TodoAction::Materials => "pages/application/materials",
            TodoAction::Payment => "pages/application/payment",
            TodoAction::Application => "pages/application/index",
        };
        format!("{p}?project={project}")
    }
}

/// The state a to-do waits on: done once the application has left it (the candidate acted, or
/// someone else decided, or it lapsed) — derived when the list is read, never stored, so it
/// can't drift from the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Awaits {
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

impl Awaits {
    pub fn met_by(&self, app: Option<&Application>) -> bool {
        match app {
            Some(a) => a.status != self.status || a.status_since != Some(self.since),
            None => true,
        }
    }
}

/// One reminder, whole: the outbox carries it, the queue carries it, the consumer turns it into
/// the to-do item and the subscription message without reading anything else.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// Unique per transition (`<cid>.<project>.<version>.<n>`) or per deadline warning
    /// (`<cid>.<project>.soon.<deadline>`): the idempotency key from outbox to WeChat.
    pub id: String,
    pub candidate_id: String,
    pub project: String,
    pub project_name: String,
    pub kind: ReminderKind,
    /// One line, what to do (also the message's note).
    pub title: String,
    /// The sentence the to-do list shows.
    pub detail: String,
    /// ≤ 5 characters, for a `phrase` field.
    pub status: String,
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub deadline: Option<OffsetDateTime>,
    pub action: TodoAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaits: Option<Awaits>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The bound WeChat user when the transition happened; `None` (a Baidu-only candidate): the
    /// to-do list is the only channel (subscription messages are WeChat's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
}

// NOTE: hand-written: the openid identifies a person's WeChat user; logs name the reminder only.
impl std::fmt::Debug for Reminder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reminder").field("id", &self.id).field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// Beijing time as WeChat's `time` fields and the candidate read it: `2025年01月10日 17:00`.
pub fn beijing(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::macros::offset!(+8));
    format!("{}年{:02}月{:02}日 {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

fn lapse_text(reason: LapseReason) -> &'static str {
    match reason {
        LapseReason::NotConfirmed => "逾期未进行报名确认,视为放弃考试",
        LapseReason::NotResubmitted => "逾期未重新上传材料并提交,视为放弃考试",
        LapseReason::NotPaid => "逾期未缴费,视为放弃考试",
    }
}

struct Draft {
    kind: ReminderKind,
    title: String,
    detail: String,
    status: &'static str,
    deadline: Option<OffsetDateTime>,
    action: TodoAction,
    awaits: bool,
}

/// The reminders one transition produces (DOMAIN "Reminders"), in event order. `after` is the
/// application with `events` applied and `ver` its new version; `candidate` gives the WeChat user.
pub fn on_transition(
    after: &Application,
    events: &[Event],
    ver: u64,
    candidate: &Candidate,
    (project, district): (&Project, &District),
    now: OffsetDateTime,
) -> Vec<Reminder> {
    let s = project.schedule(&after.district);
    let auto = events.iter().any(|e| matches!(e, Event::AutoConfirmed));
    let mut out = vec![];
    for (n, event) in events.iter().enumerate() {
        let draft = match event {
            // R33: confirmed at once — the AutoConfirmed event says so; no "confirm by".
            Event::Submitted { .. } if auto => None,
            Event::Submitted { .. } if district.online_confirmation => Some(Draft {
                kind: ReminderKind::Submitted,
                title: "材料已提交,等待报名点确认".into(),
                detail: format!(
                    "报名信息和证明材料已提交,报名点将在{}前完成确认,请留意确认结果",
                    beijing(s.confirmation_deadline)
                ),
                status: "待确认",
                deadline: Some(s.confirmation_deadline),
                action: TodoAction::Application,
                awaits: true,
            }),
            Event::Submitted { .. } => {
                // R34: a historical candidate in an R33 district who was not auto-confirmed.
                let historical = after.historical.is_some() && district.historical_auto_confirm;
                Some(Draft {
                    kind: if historical { ReminderKind::NotAutoConfirmed } else { ReminderKind::Submitted },
                    title: "请到考点进行报名确认".into(),
                    detail: format!(
                        "{}请于{}前携带报名表和证明材料到考点确认,逾期视为放弃考试",
                        if historical { "报名信息与去年不一致,未能自动确认。" } else { "" },
                        beijing(s.confirmation_deadline)
                    ),
                    status: "待确认",
                    deadline: Some(s.confirmation_deadline),
                    action: TodoAction::Form,
                    awaits: true,
                })
            }
            Event::AutoConfirmed => Some(Draft {
                kind: ReminderKind::AutoConfirmed,
                title: "报名已自动确认".into(),
                detail: "报名信息与去年一致,已自动确认,请等待资格审核".into(),
                status: "已确认",
                deadline: None,
                action: TodoAction::Application,
                awaits: false,
            }),
            Event::Confirmed => Some(Draft {
                kind: ReminderKind::Confirmed,
                title: "报名已确认".into(),
                detail: "报名已确认,请等待资格审核".into(),
                status: "已确认",
                deadline: None,
                action: TodoAction::Application,
                awaits: false,
            }),
            Event::ConfirmationRejected { reason } => Some(Draft {
                kind: ReminderKind::ConfirmRejected,
                title: "确认不通过,请重新上传材料".into(),
                detail: format!(
                    "确认不通过:{}。请于{}前重新上传材料并提交,逾期视为放弃考试",
                    reason.as_str(),
                    beijing(s.reupload_deadline)
                ),
                status: "未通过",
                deadline: Some(s.reupload_deadline),
                action: TodoAction::Materials,
                awaits: true,
            }),
            Event::SiteRejected { reason } | Event::DistrictRejected { reason } => Some(Draft {
                kind: ReminderKind::Rejected,
                title: "资格审核未通过".into(),
                detail: format!("资格审核未通过:{}", reason.as_str()),
                status: "未通过",
                deadline: None,
                action: TodoAction::Application,
                awaits: false,
            }),
            Event::DistrictApproved if district.online_payment => Some(Draft {
                kind: ReminderKind::ReviewPassed,
                title: "审核通过,请按时缴费".into(),
                detail: format!("资格审核已通过,请于{}前完成网上缴费,逾期视为放弃考试", beijing(s.payment_deadline)),
                status: "待缴费",
                deadline: Some(s.payment_deadline),
                action: TodoAction::Payment,
                awaits: true,
            }),
            Event::DistrictApproved => Some(Draft {
                kind: ReminderKind::Registered,
                title: "审核通过,报名成功".into(),
                detail: "资格审核已通过,报名成功。请按当地要求办理后续事项".into(),
                status: "报名成功",
                deadline: None,
                action: TodoAction::Application,
                awaits: false,
            }),
            Event::Paid { .. } => Some(Draft {
                kind: ReminderKind::Paid,
                title: "缴费成功,报名成功".into(),
                detail: "缴费成功,报名成功。请留意准考证打印时间".into(),
                status: "报名成功",
                deadline: None,
                action: TodoAction::Application,
                awaits: false,
            }),
            Event::Lapsed { reason } => Some(Draft {
                kind: ReminderKind::Lapsed,
                title: "已视为放弃考试".into(),
                detail: lapse_text(*reason).into(),
                status: "已放弃",
                deadline: None,
                action: TodoAction::Application,
                awaits: false,
            }),
            _ => None,
        };
        if let Some(d) = draft {
            out.push(build(
                after,
                format!("{}.{}.{ver}.{n}", after.candidate_id, after.project.as_str()),
                d,
                candidate,
                project,
                now,
            ));
        }
    }
    out
}

/// The 24-hours-ahead warning for the deadline `app` waits on (`None` when it waits on none).
pub fn deadline_soon(
    app: &Application,
    candidate: &Candidate,
    (project, district): (&Project, &District),
    now: OffsetDateTime,
) -> Option<Reminder> {
    let (deadline, reason) = app.pending_deadline(project, district)?;
    let (what, action) = match reason {
        LapseReason::NotConfirmed if district.online_confirmation => ("报名点确认截止", TodoAction::Application),
        LapseReason::NotConfirmed => ("请尽快到考点确认", TodoAction::Form),
        LapseReason::NotResubmitted => ("请尽快重新上传材料", TodoAction::Materials),
        LapseReason::NotPaid => ("请尽快缴费", TodoAction::Payment),
    };
    let d = Draft {
        kind: ReminderKind::DeadlineSoon,
        title: what.into(),
        detail: format!("{what},截止时间{},逾期视为放弃考试", beijing(deadline)),
        status: "即将截止",
        deadline: Some(deadline),
        action,
        awaits: true,
    };
    let id = format!("{}.{}.soon.{}", app.candidate_id, app.project.as_str(), deadline.unix_timestamp());
    Some(build(app, id, d, candidate, project, now))
}

fn build(
    app: &Application,
    id: String,
    d: Draft,
    candidate: &Candidate,
    project: &Project,
    now: OffsetDateTime,
) -> Reminder {
    Reminder {
        id,
        candidate_id: app.candidate_id.clone(),
        project: app.project.as_str().to_string(),
        project_name: project.name.clone(),
        kind: d.kind,
        title: d.title,
        detail: d.detail,
        status: d.status.into(),
        deadline: d.deadline,
        action: d.action,
        awaits: d.awaits.then_some(()).and(app.status_since).map(|since| Awaits { status: app.status, since }),
        at: now,
        openid: candidate.openid.clone(),
    }
}

/// The values a subscription message can carry, by our names; configuration maps each to the
/// key of the chosen template (`thing1`, `time2`, …).
pub const VALUE_NAMES: [&str; 5] = ["project", "status", "deadline", "note", "detail"];

impl Reminder {
    pub fn value(&self, name: &str) -> Option<String> {
        Some(match name {
            "project" => self.project_name.clone(),
            "status" => self.status.clone(),
            "deadline" => self.deadline.map(beijing).unwrap_or_else(|| "无".into()),
            "note" => self.title.clone(),
            "detail" => self.detail.clone(),
            _ => return None,
        })
    }
}

/// Fit a value to a subscription-message field by the key's type (`thing3` is a `thing`):
/// WeChat refuses the whole message (47003) when one value is too long, and counts characters,
/// not bytes. Names in configuration are checked with [`field_limit`] at cold start.
pub fn fit(key: &str, value: &str) -> String {
    let limit = field_limit(key).unwrap_or(20);
    if value.chars().count() <= limit {
        return value.to_string();
    }
    // A cut sentence shows it was cut; a `phrase` (≤ 5 Chinese characters) has no room for that.
    if key.starts_with("thing") {
        value.chars().take(limit - 1).chain(['…']).collect()
    } else {
        value.chars().take(limit).collect()
    }
}

/// The length limit (in characters) of a template key's type, or `None` for a type we don't fill.
pub fn field_limit(key: &str) -> Option<usize> {
    let kind = key.trim_end_matches(|c: char| c.is_ascii_digit());
    Some(match kind {
        "thing" => 20,
        "phrase" => 5,
        "character_string" => 32,
        "number" => 32,
        "name" => 10,
        "phone_number" => 17,
        "time" | "date" => 30,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_cut_by_characters_not_bytes() {
        let long = "卫生专业技术资格考试报名确认截止时间即将到来请尽快处理";
        let thing = fit("thing1", long);
        assert_eq!(thing.chars().count(), 20);
        assert!(thing.ends_with('…'));
        assert_eq!(fit("phrase2", "即将截止了吗"), "即将截止了");
        assert_eq!(fit("thing1", "报名已确认"), "报名已确认");
        let code = "A".repeat(40);
        assert_eq!(fit("character_string4", &code).len(), 32);
        assert_eq!(field_limit("thing12"), Some(20));
        assert_eq!(field_limit("amount3"), None);
    }

    #[test]
    fn beijing_time_is_what_wechat_time_fields_take() {
        let t = time::macros::datetime!(2025-01-10 09:00 UTC);
        assert_eq!(beijing(t), "2025年01月10日 17:00");
    }

    /// DOMAIN "Reminders": each transition its reminder, and the rest none.
    #[test]
    fn each_transition_reminds_of_what_domain_says_and_nothing_else_does() {
        use crate::domain::application::{Event, Payment};
        use crate::domain::rules_tests::{World, candidate, code, reference, submitted};
        use ReminderKind as K;
        let r = reference();
        let app = submitted(&World::new(), "41");
        let kinds = |app: &Application, events: &[Event]| -> Vec<ReminderKind> {
            let (p, d) = (&r.projects()[&app.project], &r.districts()[&app.district]);
            on_transition(app, events, 7, &candidate(), (p, d), app.updated_at).iter().map(|x| x.kind).collect()
        };
        let submit = Event::Submitted { code: "A".into() };
        assert_eq!(kinds(&app, std::slice::from_ref(&submit)), [K::Submitted], "R16");
        assert_eq!(kinds(&app, &[submit.clone(), Event::AutoConfirmed]), [K::AutoConfirmed], "R33: confirmed at once");
        assert_eq!(kinds(&app, &[Event::Confirmed]), [K::Confirmed]);
        assert_eq!(kinds(&app, &[Event::ConfirmationRejected { reason: "x".into() }]), [K::ConfirmRejected], "R42");
        assert_eq!(kinds(&app, &[Event::SiteRejected { reason: "x".into() }]), [K::Rejected]);
        assert_eq!(kinds(&app, &[Event::DistrictRejected { reason: "x".into() }]), [K::Rejected]);
        assert_eq!(kinds(&app, &[Event::DistrictApproved]), [K::ReviewPassed], "河南 pays online: pay by …");
        let mut no_online_payment = app.clone();
        no_online_payment.district = code("14");
        assert!(!r.districts()[&no_online_payment.district].online_payment);
        assert_eq!(kinds(&no_online_payment, &[Event::DistrictApproved]), [K::Registered], "R30");
        let payment = Payment {
            amount: crate::domain::values::Fen(20_000),
            transaction_id: "t".into(),
            paid_at: app.updated_at,
            out_trade_no: None,
        };
        assert_eq!(kinds(&app, &[Event::Paid { payment }]), [K::Paid]);
        assert_eq!(kinds(&app, &[Event::Lapsed { reason: LapseReason::NotPaid }]), [K::Lapsed]);
        for quiet in [Event::Withdrawn, Event::SiteApproved, Event::MaterialsCompleted] {
            assert!(kinds(&app, std::slice::from_ref(&quiet)).is_empty(), "{quiet:?}");
        }
        // One id per transition and event: the outbox's put-if-absent can't merge two.
        let (p, d) = (&r.projects()[&app.project], &r.districts()[&app.district]);
        let two = on_transition(
            &app,
            &[Event::Confirmed, Event::Lapsed { reason: LapseReason::NotPaid }],
            7,
            &candidate(),
            (p, d),
            app.updated_at,
        );
        assert_eq!(two.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), ["c1.2025-health.7.0", "c1.2025-health.7.1"]);
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for k in ReminderKind::ALL {
            assert_eq!(ReminderKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ReminderKind::parse("other"), None);
    }
}
