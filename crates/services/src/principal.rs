//! Who is asking: the principal every service call carries, and the one place its reach over an
//! application is checked — which applications it may touch and which commands it may give.
//! Candidates, staff, the payment provider and the sweep all pass through [`authorise`].

use crate::session::SessionToken;
use shared::domain::application::{Actor, Application, Command};
use shared::domain::values::{DistrictCode, PointCode, SiteCode};
use shared::error::{Kind, Refusal};

/// The caller of a service.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A candidate, proven by their session. The session is read in the same round trip as the
    /// data it guards, inside the service (one read per request), not by the edge beforehand.
    Candidate(SessionToken),
    /// Staff, authenticated (a session resolved: [`crate::staff_session::resolve`]).
    Staff(Staff),
    /// Staff, as the bearer token claims: resolved by the service in the same round trip as the
    /// data it guards, like a candidate's session.
    StaffToken(crate::staff_session::StaffToken),
    /// The system itself: the deadline sweep, or the payment provider after its signature was
    /// verified at the edge.
    System(SystemActor),
}

#[derive(Debug, Clone)]
pub struct Staff {
    pub id: String,
    pub role: Role,
    pub scope: Scope,
    /// Manages the staff of its area (district admins, the centre).
    pub admin: bool,
    /// The district the scope lies in; `None` for the centre.
    pub district: Option<DistrictCode>,
}

impl Staff {
    /// Where this account's own audit records are filed.
    pub fn audit_area(&self) -> &str {
        self.district.as_ref().map_or(crate::audit::CENTRE, |d| d.as_str())
    }
}

/// What a staff account does (DOMAIN: actors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 报名点: online confirmation (R41, R42).
    Point,
    /// 考点: confirmation by code (R22) and the site review (R24).
    Site,
    /// 考区: the district review (R25).
    District,
    /// 人才交流服务中心: reference data and district admins; decides no application.
    Centre,
}

impl Role {
    /// The name the API and the audit trail use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Point => "point",
            Role::Site => "site",
            Role::District => "district",
            Role::Centre => "centre",
        }
    }
}

/// Which applications a staff account reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Point(PointCode),
    Site(SiteCode),
    District(DistrictCode),
    Centre,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemActor {
    Sweep,
    PaymentProvider,
    /// The upload function, told by the object store that an upload arrived.
    ObjectStore,
}

impl Principal {
    /// The candidate this principal is, if it is one.
    pub fn candidate_id(&self) -> Option<&str> {
        match self {
            Principal::Candidate(t) => Some(&t.candidate_id),
            _ => None,
        }
    }

    /// Who the history records.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Candidate(t) => Actor::Candidate(t.candidate_id.clone()),
            Principal::Staff(s) => match s.role {
                Role::Point => Actor::PointStaff(s.id.clone()),
                Role::Site => Actor::SiteStaff(s.id.clone()),
                Role::District | Role::Centre => Actor::DistrictStaff(s.id.clone()),
            },
            // Never written: a token is resolved before anything is decided.
            Principal::StaffToken(t) => Actor::DistrictStaff(t.account.clone()),
            Principal::System(SystemActor::Sweep) => Actor::Scheduler,
            Principal::System(SystemActor::PaymentProvider) => Actor::PaymentProvider,
            Principal::System(SystemActor::ObjectStore) => Actor::System,
        }
    }
}

/// Which principal may give a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Giver {
    Candidate,
    Staff(&'static [Role]),
    System(SystemActor),
}

fn giver(cmd: &Command) -> Giver {
    match cmd {
        Command::Create { .. }
        | Command::Agree { .. }
        | Command::SavePage(_)
        | Command::ChoosePhoto(_)
        | Command::AddMaterial(_)
        | Command::CompleteMaterials
        | Command::Submit { .. }
        | Command::Withdraw
        | Command::ChangeDistrict { .. }
        | Command::OpenOrder { .. } => Giver::Candidate,
        // R22 at the site; R41/R42 at the registration point.
        Command::Confirm { .. } => Giver::Staff(&[Role::Site, Role::Point]),
        Command::ApproveConfirmation | Command::RejectConfirmation { .. } => Giver::Staff(&[Role::Point]),
        Command::ApproveSite | Command::RejectSite { .. } => Giver::Staff(&[Role::Site]),
        Command::ApproveDistrict | Command::RejectDistrict { .. } => Giver::Staff(&[Role::District]),
        Command::RecordPayment { .. } | Command::CloseOrder { .. } => Giver::System(SystemActor::PaymentProvider),
        Command::Lapse => Giver::System(SystemActor::Sweep),
        Command::RecordUpload(_) => Giver::System(SystemActor::ObjectStore),
        // R36: at the site, with the proof in hand.
        Command::MergeScores { .. } => Giver::Staff(&[Role::Site]),
    }
}

fn forbidden() -> Refusal {
    Refusal::new(Kind::Forbidden, "NOT_PERMITTED", "无权进行此操作")
}

fn out_of_scope() -> Refusal {
    Refusal::new(Kind::Forbidden, "OUT_OF_SCOPE", "该报名不在您的管辖范围内")
}

/// Staff outside their scope get exactly what a missing application gets: no existence oracle.
pub fn not_found() -> Refusal {
    Refusal::not_found("NO_APPLICATION", "报名信息不存在")
}

/// Whether `principal` reaches the application of candidate `candidate_id` (`app`, if it
/// exists yet) at all — for reads and commands alike.
pub fn reaches(principal: &Principal, candidate_id: &str, app: Option<&Application>) -> Result<(), Refusal> {
    match principal {
        Principal::Candidate(t) if t.candidate_id == candidate_id => Ok(()),
        // Keys are built from the session's own id, so this is defence in depth.
        Principal::Candidate(_) => Err(out_of_scope()),
        Principal::System(_) => Ok(()),
        Principal::StaffToken(_) => Err(crate::staff_session::staff_unauthenticated()),
        Principal::Staff(s) => {
            let Some(app) = app else { return Err(not_found()) };
            let site = app.pages.site.as_ref();
            let within = match &s.scope {
                Scope::Centre => true,
                Scope::District(d) => app.district == *d,
                Scope::Site(code) => site.is_some_and(|p| p.site == *code),
                Scope::Point(code) => site.and_then(|p| p.point.as_ref()).is_some_and(|p| p == code),
            };
            if within { Ok(()) } else { Err(not_found()) }
        }
    }
}

/// The one check before `decide`: the principal reaches the application and may give `cmd`.
pub fn authorise(
    principal: &Principal,
    candidate_id: &str,
    app: Option<&Application>,
    cmd: &Command,
) -> Result<(), Refusal> {
    reaches(principal, candidate_id, app)?;
    let allowed = match (giver(cmd), principal) {
        (Giver::Candidate, Principal::Candidate(_)) => true,
        (Giver::Staff(roles), Principal::Staff(s)) => roles.contains(&s.role),
        (Giver::System(who), Principal::System(actor)) => who == *actor,
        _ => false,
    };
    if allowed { Ok(()) } else { Err(forbidden()) }
}
