//! The upload function's service (R13, R41): upload tickets for the registration photo, an
//! application's photo and its proofs — issued only where the upload can be used, rate-limited
//! per candidate — and the judgement of every upload the object store announces: the announced
//! version is read, checked, its bytes pinned under their hash, the judgement recorded on the
//! owner (candidate or application) with one conditional write, and the upload object deleted.
//! A candidate's "use this upload" then only refers to a judgement (`shared::domain::upload`).

use crate::applications::{Applications, Target, Upload};
use crate::photo::{Requirement, check, pinned, upload_policy};
use crate::ports::{ObjectVersion, UploadTicket};
use crate::principal::{Principal, SystemActor};
use crate::session::check_session;
use shared::domain::account::Candidate;
use shared::domain::application::Command;
use shared::domain::upload::{CheckedUpload, UploadKey, UploadOutcome, UploadPurpose, judged, record};
use shared::error::Refusal;
use store::{Cond, StoreError, Versioned, Write, decode, encode, keys};

/// The service: the application service's ports are all it needs.
#[derive(Clone)]
pub struct Uploads {
    pub apps: Applications,
}

/// The object store's notice that an object arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub key: String,
    pub version: ObjectVersion,
}

/// What became of an arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    Accepted,
    Rejected(&'static str),
    /// A judgement for this key stands already (a repeated notice, or a second upload through
    /// the same ticket): nothing changes; the object is deleted.
    AlreadyJudged,
    /// The version announced is gone (replaced): its successor has its own notice.
    Gone,
    /// Not a key any ticket names, or its owner does not exist: ignored (deleted if an upload).
    Ignored,
}

/// Writes lost to a concurrent change of the owner are decided again this many times.
const ATTEMPTS: usize = 4;

impl Uploads {
    /// A ticket for the registration photo, under the candidate's own prefix (R1, R13).
    pub async fn account_ticket(&self, token: &crate::session::SessionToken) -> Result<UploadTicket, Refusal> {
        let a = &self.apps;
        let got = a.table.get_many(&[token.key(), keys::candidate(&token.candidate_id)]).await?;
        check_session(got[0].as_ref(), token, a.clock.now())?;
        got[1].as_ref().ok_or_else(Refusal::internal)?;
        let now = a.clock.now();
        crate::limits::UPLOAD_TICKETS.take(a.table.as_ref(), &token.candidate_id, now).await?;
        let key = UploadKey::key(&token.candidate_id, &UploadPurpose::AccountPhoto, &shared::random::id());
        Ok(a.objects.upload_url(&key, &upload_policy(a.reference.photo()), now).await?)
    }

    /// A ticket for an application's photo or one of its proofs (R13, R41, R42).
    pub async fn application_ticket(
        &self,
        principal: &Principal,
        target: &Target,
        what: Upload,
    ) -> Result<UploadTicket, Refusal> {
        self.apps.upload_ticket(principal, target, what).await
    }

    /// Judge the upload the object store announced. An error is for the store or the table
    /// being unavailable: the caller lets the notice be delivered again.
    pub async fn arrived(&self, a: &Arrival) -> Result<Judged, Refusal> {
        let Some(k) = UploadKey::parse(&a.key) else {
            tracing::warn!(key_len = a.key.len(), "an object arrived that no upload ticket names; ignored");
            return Ok(Judged::Ignored);
        };
        let mut verdict: Option<(CheckedUpload, Judged)> = None;
        for _ in 0..ATTEMPTS {
            let result = match &k.what {
                UploadPurpose::AccountPhoto => self.on_candidate(a, &k, &mut verdict).await,
                _ => self.on_application(a, &k, &mut verdict).await,
            };
            match result {
                Err(e) if e.code == Refusal::concurrent().code => continue,
                Err(e) => return Err(e),
                Ok(Judged::Gone) => return Ok(Judged::Gone),
                Ok(j) => {
                    // Judged now or before, or ownerless: nothing of this object will be read
                    // again (an accepted one was pinned).
                    self.apps.objects.delete(&a.key, &a.version).await?;
                    return Ok(j);
                }
            }
        }
        Err(Refusal::concurrent())
    }

    /// Read and judge the announced version once; later attempts reuse the judgement.
    async fn judge(
        &self,
        a: &Arrival,
        k: &UploadKey,
        req: Requirement,
        verdict: &mut Option<(CheckedUpload, Judged)>,
    ) -> Result<Option<(CheckedUpload, Judged)>, Refusal> {
        if let Some(v) = verdict {
            return Ok(Some(v.clone()));
        }
        let objects = &self.apps.objects;
        let max = usize::try_from(req.max_bytes).unwrap_or(usize::MAX).saturating_add(1);
        let Some(bytes) = objects.read_version(&a.key, &a.version, max).await? else {
            return Ok(None);
        };
        let at = self.apps.clock.now();
        let cid = &k.candidate_id;
        let made = match check(&bytes, &req) {
            Ok((sha, dims)) => {
                let target = match &k.what {
                    UploadPurpose::Material { project, kind } => format!("materials/{cid}/{project}/{kind}-{sha}.jpg"),
                    _ => format!("photos/{cid}/{sha}.jpg"),
                };
                objects.put(&target, bytes.clone(), "image/jpeg").await?;
                let outcome =
                    UploadOutcome::Accepted { photo: pinned(target, &bytes, dims), version: a.version.label() };
                (CheckedUpload { key: a.key.clone(), at, outcome }, Judged::Accepted)
            }
            Err((code, message)) => (
                CheckedUpload {
                    key: a.key.clone(),
                    at,
                    outcome: UploadOutcome::Rejected { code: code.into(), message },
                },
                Judged::Rejected(code),
            ),
        };
        *verdict = Some(made.clone());
        Ok(Some(made))
    }

    async fn on_candidate(
        &self,
        a: &Arrival,
        k: &UploadKey,
        verdict: &mut Option<(CheckedUpload, Judged)>,
    ) -> Result<Judged, Refusal> {
        let table = &self.apps.table;
        let Some(item) = table.get(&keys::candidate(&k.candidate_id)).await? else {
            return Ok(Judged::Ignored);
        };
        let c: Versioned<Candidate> = decode(&item)?;
        if judged(&c.value.uploads, &a.key).is_some() {
            return Ok(Judged::AlreadyJudged);
        }
        let req = Requirement::photo(self.apps.reference.photo());
        let Some((upload, j)) = self.judge(a, k, req, verdict).await? else { return Ok(Judged::Gone) };
        let mut cand = c.value;
        record(&mut cand.uploads, upload);
        let write = Write::Put {
            item: encode(&keys::candidate(&cand.id), "candidate", c.ver + 1, &cand, &[])?,
            cond: Cond::Version(c.ver),
        };
        match table.transact(vec![write]).await {
            Ok(()) => Ok(j),
            Err(StoreError::Conflict { .. }) => Err(Refusal::concurrent()),
            Err(e) => Err(e.into()),
        }
    }

    async fn on_application(
        &self,
        a: &Arrival,
        k: &UploadKey,
        verdict: &mut Option<(CheckedUpload, Judged)>,
    ) -> Result<Judged, Refusal> {
        let (UploadPurpose::Photo { project } | UploadPurpose::Material { project, .. }) = &k.what else {
            return Ok(Judged::Ignored);
        };
        if !self.apps.reference.projects().contains_key(project) {
            return Ok(Judged::Ignored);
        }
        let principal = Principal::System(SystemActor::ObjectStore);
        let target = Target { candidate_id: k.candidate_id.clone(), project: project.clone() };
        let mut loaded = match self.apps.load_with(&principal, &target, &[]).await {
            Ok(l) => l,
            // No such candidate: nothing to record on.
            Err(e) if e.code == crate::principal::not_found().code => return Ok(Judged::Ignored),
            Err(e) => return Err(e),
        };
        let Some(app) = loaded.app.as_ref().map(|a| &a.value) else { return Ok(Judged::Ignored) };
        if judged(&app.uploads, &a.key).is_some() {
            return Ok(Judged::AlreadyJudged);
        }
        let req = match &k.what {
            UploadPurpose::Material { kind, .. } => {
                let materials = self.apps.reference.materials();
                match materials.proof(&app.district, kind) {
                    Some(p) => Requirement::material(materials.size_range(p)),
                    // The district no longer asks for it (tickets are only issued for declared
                    // kinds): the bounds of any proof.
                    None => Requirement::material((materials.min_bytes, materials.max_bytes)),
                }
            }
            _ => Requirement::photo(self.apps.reference.photo()),
        };
        let Some((upload, j)) = self.judge(a, k, req, verdict).await? else { return Ok(Judged::Gone) };
        self.apps.execute_loaded(&mut loaded, &target, Command::RecordUpload(upload), vec![]).await?;
        Ok(j)
    }
}
