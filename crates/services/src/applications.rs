//! The application service: every change to an application, by any principal, goes through
//! [`Applications::execute`] — load through the repository (one round trip, the candidate's
//! session included), check the principal's reach ([`crate::principal::authorise`]), the pure
//! `decide`, and one conditional transaction with the events. Two writers can't both win.

use crate::audit::AuditRecord;
use crate::photo::upload_policy;
use crate::ports::{Clock, ObjectStore, UploadPolicy, UploadTicket};
use crate::principal::{Principal, Staff, authorise, reaches};
use crate::session::{check_session, unauthorized};
use crate::staff_session::resolve;
use shared::domain::account::Candidate;
use shared::domain::application::{
    Application, ApplicationPhoto, Command, Ctx, Event, Material, PageInput, Pages, PhotoSource, UploadFor, Warning,
    decide_on,
};
use shared::domain::history::LastYear;
use shared::domain::reminder;
use shared::domain::upload::{self, UploadKey, UploadPurpose};
use shared::domain::values::{DistrictCode, ProjectCode};
use shared::error::Refusal;
use shared::reference::{District, Project, Proof, Reference};
use std::sync::Arc;
use store::layout::application_writes;
use store::{Cond, Key, StoreError, Table, Versioned, Write, decode, encode, keys};

/// The ports the application service uses (what the `application` function composes).
#[derive(Clone)]
pub struct Applications {
    pub table: Arc<dyn Table>,
    pub objects: Arc<dyn ObjectStore>,
    pub clock: Arc<dyn Clock>,
    pub reference: Arc<Reference>,
}

/// Which application: a candidate's, under one exam project.
#[derive(Debug, Clone)]
pub struct Target {
    pub candidate_id: String,
    pub project: ProjectCode,
}

impl Target {
    /// The principal's own application under `project` (candidates reach only their own).
    pub fn own(principal: &Principal, project: ProjectCode) -> Result<Target, Refusal> {
        let cid = principal.candidate_id().ok_or_else(unauthorized)?;
        Ok(Target { candidate_id: cid.to_string(), project })
    }
}

/// What a caller asks for; turned into a domain [`Command`] once the application and the
/// candidate are loaded (a page names the account's degree records, a photo may be the
/// registered one, an upload must be checked first).
#[derive(Debug, Clone)]
pub enum Intent {
    Command(Command),
    /// R4: create the application in this district.
    Create {
        district: DistrictCode,
    },
    SavePage(PageInput),
    ChoosePhoto {
        source: PhotoSource,
        key: Option<String>,
    },
    AddMaterial {
        kind: String,
        slot: u8,
        key: String,
    },
    /// R36: link last year's record (if one was found) filed under the candidate id `holder`
    /// (the previous document's); a staff decision like [`Command::MergeScores`], plus the claim
    /// that keeps one record to one application.
    MergeScores {
        record: Option<Box<LastYear>>,
        holder: String,
    },
}

/// One read: the candidate, their application (if any) and, for creation, last year's record.
pub struct Loaded {
    pub candidate: Versioned<Candidate>,
    pub app: Option<Versioned<Application>>,
    pub last_year: Option<LastYear>,
    /// Who asked, resolved: a staff token read in the same batch becomes `Principal::Staff`.
    pub principal: Principal,
    /// A staff session's idle-clock write, when due (sent with the request's own write).
    pub touch: Option<Write>,
    /// Other items the caller asked for in the same round trip ([`Applications::load_with`]).
    pub extra: Vec<Option<store::Item>>,
}

impl Loaded {
    pub fn app(&self) -> Result<&Versioned<Application>, Refusal> {
        self.app.as_ref().ok_or_else(|| Refusal::not_found("NO_APPLICATION", "尚未报名该考试项目"))
    }
}

/// The result of a command: the application as written, and warnings that don't block (R7).
pub struct Outcome {
    pub app: Application,
    /// Last year's pages the candidate has not confirmed yet (R32).
    pub carried_over: Pages,
    pub warnings: Vec<Warning>,
    /// The candidate read with it (staff views show who the application is).
    pub candidate: Candidate,
}

/// What an upload ticket is for.
#[derive(Debug, Clone)]
pub enum Upload {
    Photo,
    Material { kind: String },
}

/// R41: a material kind names the proof (`diploma`, `practice_licence`, …): short, lowercase.
pub fn material_kind(raw: &str) -> Result<String, Refusal> {
    if raw.is_empty()
        || raw.len() > 32
        || !raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Refusal::bad("INVALID_MATERIAL_KIND", "材料类型不正确").field("kind"));
    }
    Ok(raw.to_string())
}

/// Proofs are JPEG scans; the district's declaration bounds what one upload may be (R41).
fn material_policy((min_bytes, max_bytes): (u64, u64)) -> UploadPolicy {
    UploadPolicy { content_type: "image/jpeg", min_bytes, max_bytes, expires_in_secs: 600 }
}

impl Applications {
    /// The exam project named in a path (404 when unknown).
    pub fn project(&self, code: &ProjectCode) -> Result<&Project, Refusal> {
        self.reference
            .projects()
            .get(code)
            .ok_or_else(|| Refusal::not_found("UNKNOWN_PROJECT", "考试项目不存在").field("project"))
    }

    /// The project and district an application was decided under. Reference data is validated
    /// at start; an application naming an unknown one means the data changed under live
    /// applications: an operator problem, not the client's.
    pub fn context(&self, app: &Application) -> Result<(&Project, &District), Refusal> {
        let project = self.reference.projects().get(&app.project).ok_or_else(Refusal::internal)?;
        let district = self.reference.districts().get(&app.district).ok_or_else(Refusal::internal)?;
        Ok((project, district))
    }

    /// Whether an upload of `what` could be used on `app` now (R13, R41, R42), decided by the
    /// domain's rule on the application's own project and district; for a proof, its declaration.
    fn may_upload<'a>(
        &'a self,
        app: &Application,
        candidate: &'a Candidate,
        what: UploadFor<'_>,
    ) -> Result<Option<&'a Proof>, Refusal> {
        let (project, district) = self.context(app)?;
        let ctx = Ctx { now: self.clock.now(), reference: &self.reference, project, district, candidate };
        app.may_upload(what, &ctx)
    }

    /// The candidate and the application in one round trip; a candidate's session is read in
    /// the same batch and checked before anything else is looked at.
    async fn load(
        &self,
        principal: &Principal,
        target: &Target,
        last_year: bool,
        action: &str,
        extra: &[Key],
    ) -> Result<Loaded, Refusal> {
        let project = self.project(&target.project)?;
        let cid = target.candidate_id.as_str();
        let mut wanted: Vec<Key> = vec![keys::candidate(cid), keys::application(cid, project.id.as_str())];
        if last_year {
            // Candidate ids derive from the ID document, so last year's record is addressable too.
            wanted.push(keys::history(project.kind, cid, project.year - 1));
        }
        let extra_at = wanted.len();
        wanted.extend(extra.iter().cloned());
        match principal {
            Principal::Candidate(token) => wanted.push(token.key()),
            Principal::StaffToken(token) => wanted.extend(token.keys()),
            _ => {}
        }
        let got = self.table.get_many(&wanted).await?;
        let n = got.len();
        let (resolved, touch) = match principal {
            Principal::Candidate(token) => {
                check_session(got[n - 1].as_ref(), token, self.clock.now())?;
                (principal.clone(), None)
            }
            Principal::StaffToken(token) => {
                let r = resolve(token, got[n - 2].as_ref(), got[n - 1].as_ref(), self.clock.now())?;
                (Principal::Staff(r.staff), r.touch)
            }
            _ => (principal.clone(), None),
        };
        let candidate = match &got[0] {
            Some(item) => decode(item)?,
            // A live session always has its candidate; staff may name one that doesn't exist.
            None if matches!(principal, Principal::Candidate(_)) => return Err(Refusal::internal()),
            None => {
                if let Principal::Staff(s) = &resolved {
                    self.audit_refusal(s, action, target, None, "NO_APPLICATION").await;
                }
                return Err(crate::principal::not_found());
            }
        };
        let app = got[1].as_ref().map(decode).transpose()?;
        let last_year =
            if last_year { got[2].as_ref().map(decode::<LastYear>).transpose()?.map(|v| v.value) } else { None };
        let extra = got[extra_at..extra_at + extra.len()].to_vec();
        Ok(Loaded { candidate, app, last_year, principal: resolved, touch, extra })
    }

    /// Read an application the principal reaches (one round trip; for staff, the view is
    /// audited before anything is shown, so a second one).
    pub async fn read(&self, principal: &Principal, target: &Target) -> Result<Loaded, Refusal> {
        self.read_for(principal, target, "view_application").await
    }

    /// [`Self::read`], with the audit trail naming what staff looked at (`action`).
    pub async fn read_for(&self, principal: &Principal, target: &Target, action: &str) -> Result<Loaded, Refusal> {
        let mut loaded = self.load(principal, target, false, action, &[]).await?;
        let app = loaded.app.as_ref().map(|a| &a.value);
        let checked = reaches(&loaded.principal, &target.candidate_id, app).and_then(|()| loaded.app().map(|_| ()));
        if let Principal::Staff(s) = &loaded.principal {
            let area = app.map(|a| a.district.as_str().to_string());
            match &checked {
                Ok(()) => {
                    let rec = self.audit_record(s, action, target, "ok");
                    let mut writes = vec![crate::audit::write(area.as_deref().unwrap_or(s.audit_area()), &rec)?];
                    writes.extend(loaded.touch.take());
                    self.table.transact(writes).await?;
                }
                Err(e) => self.audit_refusal(s, action, target, area.as_deref(), e.code).await,
            }
        }
        checked?;
        Ok(loaded)
    }

    fn audit_record(&self, s: &Staff, action: &str, target: &Target, outcome: &str) -> AuditRecord {
        let target = Some(format!("{}/{}", target.candidate_id, target.project));
        AuditRecord::of(s, action, target, outcome, self.clock.now())
    }

    /// A refused staff action is recorded too (`audit::note_refusal`).
    async fn audit_refusal(&self, s: &Staff, action: &str, target: &Target, area: Option<&str>, code: &str) {
        let rec = self.audit_record(s, action, target, code);
        crate::audit::note_refusal(self.table.as_ref(), area.unwrap_or(s.audit_area()), &rec).await;
    }

    /// The one loop every change takes: load, turn the intent into a command, authorise,
    /// decide, write conditioned on the version read (or on absence, for a new application).
    pub async fn execute(&self, principal: &Principal, target: &Target, intent: Intent) -> Result<Outcome, Refusal> {
        let creating = matches!(intent, Intent::Create { .. });
        if creating && !self.reference.projects().contains_key(&target.project) {
            // Named in the body, not the path: a rule of the form, not a missing resource.
            return Err(Refusal::rule("UNKNOWN_PROJECT", "考试项目不存在").field("project"));
        }
        // Intents other than a plain command are the candidate's own acts (pages, photo,
        // uploads, creation): refused before any I/O for anyone else.
        if !matches!(intent, Intent::Command(_) | Intent::MergeScores { .. }) {
            authorise_own(principal, &target.candidate_id)?;
        }
        let action = match &intent {
            Intent::Command(cmd) => command_name(cmd),
            Intent::MergeScores { .. } => "merge_scores",
            _ => "change",
        };
        let mut loaded = self.load(principal, target, creating, action, &[]).await?;
        let result = self.decide_and_write(&mut loaded, target, intent, creating, vec![]).await;
        if let (Principal::Staff(s), Err(e)) = (&loaded.principal, &result) {
            let area = loaded.app.as_ref().map(|a| a.value.district.as_str().to_string());
            self.audit_refusal(s, action, target, area.as_deref(), e.code).await;
        }
        result
    }

    /// The application, its candidate and `extra` items in one round trip, for a caller that
    /// decides what to do from what it reads (the payment service: its order item) and then
    /// writes with [`Self::execute_loaded`]. For the system principals only: a candidate's
    /// session is checked as in [`Self::read`], but nothing is audited here.
    pub async fn load_with(&self, principal: &Principal, target: &Target, extra: &[Key]) -> Result<Loaded, Refusal> {
        let loaded = self.load(principal, target, false, "view_application", extra).await?;
        reaches(&loaded.principal, &target.candidate_id, loaded.app.as_ref().map(|a| &a.value))?;
        Ok(loaded)
    }

    /// Decide `cmd` on what [`Self::load_with`] read and write it, with `extra` writes in the
    /// same transaction (conditioned as the caller needs). A conflict on any of them is
    /// `CONCURRENT_UPDATE`: read again and decide again.
    pub async fn execute_loaded(
        &self,
        loaded: &mut Loaded,
        target: &Target,
        cmd: Command,
        extra: Vec<Write>,
    ) -> Result<Outcome, Refusal> {
        self.decide_and_write(loaded, target, Intent::Command(cmd), false, extra).await
    }

    async fn decide_and_write(
        &self,
        loaded: &mut Loaded,
        target: &Target,
        intent: Intent,
        creating: bool,
        extra: Vec<Write>,
    ) -> Result<Outcome, Refusal> {
        let principal = loaded.principal.clone();
        let principal = &principal;
        let current = loaded.app.as_ref().map(|a| &a.value);
        // Whose record a link uses: a merge names it; at creation it is the candidate's own.
        let holder = match &intent {
            Intent::MergeScores { holder, .. } => Some(holder.clone()),
            Intent::Create { .. } => Some(target.candidate_id.clone()),
            _ => None,
        };
        let cmd = self.command(loaded, target, intent).await?;
        authorise(principal, &target.candidate_id, current, &cmd)?;
        let now = self.clock.now();
        let project = self.project(&target.project)?;
        let district_code = match (&cmd, current) {
            (Command::Create { district, .. }, _) => district.clone(),
            (_, Some(app)) => app.district.clone(),
            (_, None) => return Err(Refusal::not_found("NO_APPLICATION", "尚未报名该考试项目")),
        };
        let district = match self.reference.districts().get(&district_code) {
            Some(d) => d,
            None if creating => return Err(Refusal::rule("UNKNOWN_DISTRICT", "考区不存在").field("district")),
            None => return Err(Refusal::internal()),
        };
        let ctx = Ctx { now, reference: &self.reference, project, district, candidate: &loaded.candidate.value };
        let decision = decide_on(current, &cmd, &ctx)?;
        let mut new = match current {
            Some(app) => app.clone(),
            None => decision
                .events
                .first()
                .and_then(|e| Application::from_created(&target.candidate_id, project.id.clone(), e, now))
                .ok_or_else(Refusal::internal)?,
        };
        for e in &decision.events {
            new.apply(e, now);
        }
        // The district may have changed (R19): index attributes follow the new one.
        let (project, district) = self.context(&new)?;
        let prev = loaded.app.as_ref().map(|a| a.ver);
        let mut writes =
            application_writes(&new, prev, &decision.events, &principal.actor(), now, (project, district))?;
        // The reminders this transition causes ride in its own transaction (the outbox): never a
        // state change without its reminder, nor a reminder without its state change.
        let ver = prev.map_or(1, |v| v + 1);
        for r in reminder::on_transition(&new, &decision.events, ver, &loaded.candidate.value, (project, district), now)
        {
            writes.push(store::layout::outbox_write(&r)?);
        }
        // R32/R36: a linked record is claimed in the same transaction, only if no application
        // holds it yet — two merges (or a merge and the owner's own creation) can't both use it.
        let linked = decision.events.iter().find_map(|e| match e {
            Event::Created { record: Some(r), .. } | Event::ScoresMerged { record: r } => Some(r),
            _ => None,
        });
        let claim_at = match (linked, &holder) {
            (Some(r), Some(holder)) => {
                let key = keys::history_claim(r.last.kind, holder, r.last.year);
                let by = serde_json::json!({"cid": target.candidate_id, "project": new.project.as_str()});
                writes.push(Write::Put { item: encode(&key, "history_claim", 1, &by, &[])?, cond: Cond::NotExists });
                Some(writes.len() - 1)
            }
            _ => None,
        };
        if let Principal::Staff(s) = principal {
            // The record of a decision rides in the decision's own transaction.
            let rec = self.audit_record(s, command_name(&cmd), target, "ok");
            writes.push(crate::audit::write(new.district.as_str(), &rec)?);
            writes.extend(loaded.touch.take());
        }
        writes.extend(extra);
        match self.table.transact(writes).await {
            Ok(()) => {
                let carried_over = new.carried_over(&loaded.candidate.value);
                Ok(Outcome {
                    app: new,
                    carried_over,
                    warnings: decision.warnings,
                    candidate: loaded.candidate.value.clone(),
                })
            }
            // The claim's condition failed on an existing claim (`current` holds it). A
            // DynamoDB TransactionConflict there (no `current`) is a racing writer that may
            // yet fail: the usual "changed meanwhile, retry" below.
            Err(StoreError::Conflict { at, current: Some(_) }) if Some(at) == claim_at => Err(Refusal::conflict(
                "RECORD_ALREADY_LINKED",
                "该证件去年的报考记录已关联到其他报名,请持证明材料到考点核实",
            )),
            Err(StoreError::Conflict { .. }) if creating => {
                Err(Refusal::conflict("APPLICATION_EXISTS", "已报名该考试项目"))
            }
            Err(StoreError::Conflict { .. }) => Err(Refusal::concurrent()),
            Err(e) => Err(e.into()),
        }
    }

    /// Turn an intent into the domain command, with what the load brought (R11, R13, R41).
    async fn command(&self, loaded: &Loaded, target: &Target, intent: Intent) -> Result<Command, Refusal> {
        let cid = &target.candidate_id;
        Ok(match intent {
            Intent::Command(cmd) => cmd,
            Intent::MergeScores { record, .. } => Command::MergeScores { record },
            Intent::Create { district } => {
                Command::Create { district, last_year: loaded.last_year.clone().map(Box::new) }
            }
            Intent::SavePage(page) => Command::SavePage(page.resolve(&loaded.candidate.value)?),
            Intent::ChoosePhoto { source, key } => {
                let app = loaded.app()?;
                let photo = match (source, key) {
                    (PhotoSource::Registered, None) => loaded.candidate.value.photo.clone().ok_or_else(|| {
                        Refusal::rule("NO_REGISTERED_PHOTO", "账号中没有注册照片,请更换考试照片").field("source")
                    })?,
                    (PhotoSource::Registered, Some(_)) => {
                        return Err(Refusal::bad("UNEXPECTED_KEY", "使用注册照片时无需提供照片").field("key"));
                    }
                    (PhotoSource::Replacement, None) => {
                        return Err(Refusal::bad("MISSING_FIELD", "缺少必填项").field("key"));
                    }
                    // Only an upload the upload function judged and accepted (R13).
                    (PhotoSource::Replacement, Some(key)) => {
                        let what = UploadPurpose::Photo { project: app.value.project.clone() };
                        upload::accepted(&app.value.uploads, &key, cid, &what)?.clone()
                    }
                };
                Command::ChoosePhoto(ApplicationPhoto { source, photo })
            }
            Intent::AddMaterial { kind, slot, key } => {
                let app = loaded.app()?;
                // Whether a proof of this kind can be used now, by the rules `decide` applies,
                // before the upload is read or pinned (`decide` checks again, and the slot).
                let proof = self
                    .may_upload(&app.value, &loaded.candidate.value, UploadFor::Proof(&kind))?
                    .ok_or_else(Refusal::internal)?;
                let _ = proof;
                // The upload function checked it against this kind's size range when it arrived.
                let what = UploadPurpose::Material { project: app.value.project.clone(), kind: kind.clone() };
                let pinned = upload::accepted(&app.value.uploads, &key, cid, &what)?;
                Command::AddMaterial(Material { kind, slot, key: pinned.key.clone(), bytes: pinned.bytes })
            }
        })
    }

    /// A signed upload ticket for the candidate's photo or one proof; only for a candidate's
    /// own existing application. The key is under the candidate's own prefix.
    pub async fn upload_ticket(
        &self,
        principal: &Principal,
        target: &Target,
        what: Upload,
    ) -> Result<UploadTicket, Refusal> {
        authorise_own(principal, &target.candidate_id)?;
        let loaded = self.load(principal, target, false, "upload_ticket", &[]).await?;
        let app = &loaded.app()?.value;
        let cid = &target.candidate_id;
        // Only where the upload can be used, by the rules that will decide on it: a photo while
        // the form may be changed; a declared proof also after 确认不通过, until the re-upload
        // deadline (R42). A ticket for nothing is a ticket for abuse.
        let proof = match &what {
            Upload::Photo => self.may_upload(app, &loaded.candidate.value, UploadFor::Photo)?,
            Upload::Material { kind } => self.may_upload(app, &loaded.candidate.value, UploadFor::Proof(kind))?,
        };
        let now = self.clock.now();
        crate::limits::UPLOAD_TICKETS.take(self.table.as_ref(), cid, now).await?;
        let project = app.project.clone();
        let (what, policy) = match (what, proof) {
            (Upload::Material { kind }, Some(proof)) => (
                UploadPurpose::Material { project, kind },
                material_policy(self.reference.materials().size_range(proof)),
            ),
            _ => (UploadPurpose::Photo { project }, upload_policy(self.reference.photo())),
        };
        let key = UploadKey::key(cid, &what, &shared::random::id());
        Ok(self.objects.upload_url(&key, &policy, now).await?)
    }
}

/// The audit trail's name for a command.
pub fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::Create { .. } => "create",
        Command::Agree { .. } => "agree",
        Command::SavePage(_) => "save_page",
        Command::ChoosePhoto(_) => "choose_photo",
        Command::AddMaterial(_) => "add_material",
        Command::CompleteMaterials => "complete_materials",
        Command::Submit { .. } => "submit",
        Command::Withdraw => "withdraw",
        Command::ChangeDistrict { .. } => "change_district",
        Command::Confirm { .. } => "confirm",
        Command::ApproveConfirmation => "approve_confirmation",
        Command::RejectConfirmation { .. } => "reject_confirmation",
        Command::ApproveSite => "approve_site",
        Command::RejectSite { .. } => "reject_site",
        Command::ApproveDistrict => "approve_district",
        Command::RejectDistrict { .. } => "reject_district",
        Command::OpenOrder { .. } => "open_order",
        Command::CloseOrder { .. } => "close_order",
        Command::RecordPayment { .. } => "record_payment",
        Command::Lapse => "lapse",
        Command::MergeScores { .. } => "merge_scores",
        Command::RecordUpload(_) => "record_upload",
    }
}

/// Acts only the candidate does on their own application (uploads, pages, creation).
fn authorise_own(principal: &Principal, candidate_id: &str) -> Result<(), Refusal> {
    match principal {
        Principal::Candidate(t) if t.candidate_id == candidate_id => Ok(()),
        _ => Err(Refusal::new(shared::Kind::Forbidden, "NOT_PERMITTED", "无权进行此操作")),
    }
}
