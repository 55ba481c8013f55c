//! The account service (考生管理平台, R1–R3): registration, password / face / mini-program login
//! (R2), WeChat binding, logout, degree records (R11) and the registration photo. Every write is
//! conditional; sessions are table items so logout revokes them.

use crate::limits::{self, LOGIN_FAILURES, LOGIN_FAILURES_PER_SOURCE, REGISTRATIONS_PER_SOURCE};
use crate::password::{hash_password, verify_password};
use crate::ports::{Clock, FaceQuery, FaceStart, FaceVerdict, FaceVerifier, MiniProgramLogin};
use crate::session::{SESSION_HOURS, SessionToken, check_session, session_item};
use serde_json::json;
use shared::domain::account::{
    Candidate, DegreeRecord, MAX_DEGREES, MiniProgram, check_password_policy, parse_account_name,
};
use shared::domain::identity::{IdDocument, IdType, Identity};
use shared::domain::values::{Phone, Sensitive};
use shared::error::{Kind, Refusal};
use std::sync::Arc;
use store::{Cond, Item, Key, StoreError, Table, Versioned, Write, attr, decode, encode, keys};
use time::OffsetDateTime;

/// The ports the account service uses (what the `login` function composes).
#[derive(Clone)]
pub struct Accounts {
    pub table: Arc<dyn Table>,
    pub clock: Arc<dyn Clock>,
    pub wechat: Arc<dyn MiniProgramLogin>,
    pub baidu: Arc<dyn MiniProgramLogin>,
    pub face: Arc<dyn FaceVerifier>,
    /// Key for hashing ID documents into candidate ids; rotating it orphans every account.
    pub id_pepper: crate::secret::Secret,
    pub session_ttl: time::Duration,
}

/// A registration, parsed at the edge (R1).
pub struct NewAccount {
    pub account: String,
    pub password: Sensitive,
    pub identity: Identity,
    pub phone: Phone,
    pub degrees: Vec<DegreeRecord>,
}

/// A session just started.
pub struct NewSession {
    pub token: SessionToken,
    pub expires_at: OffsetDateTime,
    pub candidate: Candidate,
}

/// A face verification under way: what the mini-program needs for `wx.requestFacialVerify`,
/// and the attempt it sends back to finish the login: `<candidate id>.<out_seq_no>`, so the
/// finish reads the attempt and the account in one round trip.
pub struct FaceAttempt {
    pub attempt: String,
    pub verify_id: String,
    pub expires_at: OffsetDateTime,
}

/// How long a face attempt may be finished: the provider's own verify_id lifetime, capped so a
/// forgotten attempt can't be finished hours later from another screen.
const FACE_ATTEMPT_SECS: i64 = 600;

fn bad_credentials() -> Refusal {
    Refusal::new(Kind::Unauthorized, "BAD_CREDENTIALS", "账号或密码错误")
}

fn not_registered() -> Refusal {
    Refusal::new(Kind::Unauthorized, "NOT_REGISTERED", "尚未注册考生管理平台账号,请先注册")
}

fn face_failed() -> Refusal {
    Refusal::new(Kind::Unauthorized, "FACE_VERIFY_FAILED", "人脸核身未通过,请重试或使用账号密码登录")
}

fn marker(key: &Key, cid: &str) -> Result<Item, StoreError> {
    let mut m = encode(key, "marker", 1, &json!({}), &[("cid", json!(cid))])?;
    m.remove("data");
    Ok(m)
}

impl Accounts {
    pub fn default_session_ttl() -> time::Duration {
        time::Duration::hours(SESSION_HOURS)
    }

    /// R1/R3: one account per ID document (the candidate id derives from it) and per account
    /// name, written all-or-nothing with the profile and the first session.
    pub async fn register(&self, new: NewAccount, source: &str) -> Result<NewSession, Refusal> {
        let account = parse_account_name(&new.account)?;
        check_password_policy(new.password.expose())?;
        if new.degrees.len() > MAX_DEGREES {
            return Err(Refusal::bad("TOO_MANY_DEGREES", "学历学位信息最多10条").field("degrees"));
        }
        let now = self.clock.now();
        REGISTRATIONS_PER_SOURCE.take(self.table.as_ref(), source, now).await?;
        let candidate = Candidate {
            id: new.identity.document.candidate_id(self.id_pepper.get().await?.as_bytes()),
            account: account.clone(),
            password_hash: hash_password(new.password.expose())?.into(),
            identity: new.identity,
            phone: new.phone,
            degrees: new.degrees,
            photo: None,
            uploads: vec![],
            openid: None,
            baidu_openid: None,
            created_at: now,
        };
        let token = SessionToken::new(&candidate.id);
        let (session, expires_at) = session_item(&token, now, self.session_ttl);
        let writes = vec![
            Write::Put {
                item: encode(&keys::candidate(&candidate.id), "candidate", 1, &candidate, &[])?,
                cond: Cond::NotExists,
            },
            Write::Put { item: marker(&keys::account(&account), &candidate.id)?, cond: Cond::NotExists },
            Write::Put { item: session, cond: Cond::NotExists },
        ];
        match self.table.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::Conflict { at: 0, .. }) => {
                return Err(
                    Refusal::conflict("ID_ALREADY_REGISTERED", "该证件号码已注册,请直接登录").field("id_number")
                );
            }
            Err(StoreError::Conflict { at: 1, .. }) => {
                return Err(Refusal::conflict("ACCOUNT_TAKEN", "该账号已被使用").field("account"));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(candidate = %candidate.id, "account registered");
        Ok(NewSession { token, expires_at, candidate })
    }

    async fn start_session(&self, candidate: Candidate, extra: Vec<Write>) -> Result<NewSession, Refusal> {
        let token = SessionToken::new(&candidate.id);
        let (item, expires_at) = session_item(&token, self.clock.now(), self.session_ttl);
        if extra.is_empty() {
            self.table.put(item, Cond::NotExists).await?;
        } else {
            let mut writes = vec![Write::Put { item, cond: Cond::NotExists }];
            writes.extend(extra);
            match self.table.transact(writes).await {
                Ok(()) => {}
                // The attempt was consumed by a racing request: the same token can't start two.
                Err(StoreError::Conflict { at, .. }) if at > 0 => return Err(face_failed()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(NewSession { token, expires_at, candidate })
    }

    async fn candidate(&self, cid: &str) -> Result<Option<Versioned<Candidate>>, Refusal> {
        Ok(self.table.get(&keys::candidate(cid)).await?.as_ref().map(decode).transpose()?)
    }

    /// R2: account + password. An unknown account costs the same hashing time as a wrong
    /// password, so response time doesn't reveal which accounts exist; it is locked the same way
    /// too. The lock, the source's counter and the account name are read in one batch; the
    /// failure counters are written only on a failure.
    pub async fn login_password(&self, account: &str, password: &str, source: &str) -> Result<NewSession, Refusal> {
        let account = parse_account_name(account).map_err(|_| bad_credentials())?;
        let now = self.clock.now();
        let got = self
            .table
            .get_many(&[
                keys::account(&account),
                keys::login_lock(&account),
                LOGIN_FAILURES_PER_SOURCE.key(source, now),
            ])
            .await?;
        let lock = got[1].as_ref().and_then(|l| l.get("until")).and_then(serde_json::Value::as_i64);
        if let Some(until) = lock.filter(|u| *u > now.unix_timestamp()) {
            return Err(limits::locked(until));
        }
        if LOGIN_FAILURES_PER_SOURCE.reached(got[2].as_ref()) {
            return Err(limits::too_many(LOGIN_FAILURES_PER_SOURCE.window(now).1));
        }
        let verified = match got[0].as_ref().and_then(|m| attr(m, "cid")) {
            None => {
                let _ = hash_password(password);
                None
            }
            Some(cid) => {
                let c = self.candidate(cid).await?.ok_or_else(Refusal::internal)?;
                verify_password(password, c.value.password_hash.expose()).then_some(c)
            }
        };
        match verified {
            Some(c) => self.start_session(c.value, vec![]).await,
            None => Err(self.failed_login(&account, source, now).await),
        }
    }

    /// Count a wrong password against the account and the source; the fifth in a window locks
    /// the account (until the lock's end, whatever the window).
    async fn failed_login(&self, account: &str, source: &str, now: OffsetDateTime) -> Refusal {
        // The two counters are independent: one round trip of latency, not two.
        let (by_source, by_account) = tokio::join!(
            LOGIN_FAILURES_PER_SOURCE.note(self.table.as_ref(), source, now),
            LOGIN_FAILURES.note(self.table.as_ref(), account, now)
        );
        if let Err(e) = by_source {
            return e;
        }
        match by_account {
            Ok(n) if n >= LOGIN_FAILURES.max => {
                let until = now.unix_timestamp() + limits::LOCK_SECS;
                let key = keys::login_lock(account);
                let lock = json!({"pk": key.pk, "sk": key.sk, "until": until, "ttl": until});
                let lock = lock.as_object().cloned().unwrap_or_default();
                match self.table.put(lock, Cond::Always).await {
                    Ok(()) => limits::locked(until),
                    Err(e) => e.into(),
                }
            }
            Ok(_) => bad_credentials(),
            Err(e) => e,
        }
    }

    fn mini(&self, program: MiniProgram) -> &dyn MiniProgramLogin {
        match program {
            MiniProgram::Wechat => self.wechat.as_ref(),
            MiniProgram::Baidu => self.baidu.as_ref(),
        }
    }

    /// R2: the mini-program's login code (`wx.login`, `swan.login`), for a user of that program
    /// already bound to an account.
    pub async fn login_mini(&self, program: MiniProgram, code: &str) -> Result<NewSession, Refusal> {
        let openid = self.mini(program).openid(code).await?;
        let marker = self.table.get(&keys::mini_user(program, &openid)).await?;
        let cid = marker.as_ref().and_then(|m| attr(m, "cid")).ok_or_else(|| {
            Refusal::new(
                Kind::Unauthorized,
                not_bound_code(program),
                format!("{}尚未绑定考生账号,请先用账号密码或面容ID登录", program.name()),
            )
        })?;
        let c = self.candidate(cid).await?.ok_or_else(Refusal::internal)?;
        self.start_session(c.value, vec![]).await
    }

    /// R2, face login, step 1 (WeChat 人脸核身 2.0 `getVerifyId`): the face must match the
    /// registered name and ID number of this document's account, looked at through this WeChat
    /// user. Only a resident ID card can be verified this way.
    pub async fn face_start(
        &self,
        id_type: IdType,
        id_number: &str,
        wechat_code: &str,
    ) -> Result<FaceAttempt, Refusal> {
        let doc = IdDocument::parse(id_type, id_number)?;
        if doc.id_type != IdType::ResidentId {
            return Err(Refusal::rule("FACE_DOCUMENT_UNSUPPORTED", "人脸核身仅支持居民身份证,请使用账号密码登录")
                .field("id_type"));
        }
        let openid = self.wechat.openid(wechat_code).await?;
        let cid = doc.candidate_id(self.id_pepper.get().await?.as_bytes());
        let c = self.candidate(&cid).await?.ok_or_else(not_registered)?;
        let (name, number) = (c.value.identity.name.as_str(), c.value.identity.document.number());
        let out_seq_no = shared::random::id();
        let ticket = self
            .face
            .start(&FaceStart {
                out_seq_no: out_seq_no.clone(),
                cert_name: name.to_string(),
                cert_no: number.to_string(),
                openid: openid.clone(),
            })
            .await?;
        let now = self.clock.now();
        let lifetime = i64::from(ticket.expires_in_secs).clamp(60, FACE_ATTEMPT_SECS);
        let expires_at = now + time::Duration::seconds(lifetime);
        let key = keys::face_attempt(&out_seq_no);
        let attempt = json!({
            "cid": c.value.id, "openid": openid, "verify_id": ticket.verify_id,
            // A hash of the certificate, never the ID number itself.
            "cert_hash": crate::ports::cert_hash("IDENTITY_CARD", name, number),
            "expires": expires_at.unix_timestamp(),
        });
        let extra = [("ttl", json!(expires_at.unix_timestamp() + 86_400))];
        self.table.put(encode(&key, "face_attempt", 1, &attempt, &extra)?, Cond::NotExists).await?;
        Ok(FaceAttempt { attempt: format!("{}.{out_seq_no}", c.value.id), verify_id: ticket.verify_id, expires_at })
    }

    /// R2, face login, step 2 (`queryVerifyInfo`): the provider, not the mini-program, says
    /// whether the face matched. The attempt is consumed by the same transaction that starts
    /// the session, so it starts at most one (no replay).
    pub async fn face_finish(&self, attempt: &str) -> Result<NewSession, Refusal> {
        let hex32 = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let Some((cid, seq)) = attempt.split_once('.').filter(|(c, s)| hex32(c) && hex32(s)) else {
            return Err(face_failed());
        };
        let key = keys::face_attempt(seq);
        let got = self.table.get_many(&[key.clone(), keys::candidate(cid)]).await?;
        let item = got[0].as_ref().ok_or_else(face_failed)?;
        let stored: Versioned<serde_json::Value> = decode(item)?;
        let field = |n: &str| stored.value.get(n).and_then(|v| v.as_str()).map(str::to_string);
        let expires = stored.value.get("expires").and_then(|v| v.as_i64()).unwrap_or(0);
        let (Some(owner), Some(openid), Some(verify_id), Some(cert_hash)) =
            (field("cid"), field("openid"), field("verify_id"), field("cert_hash"))
        else {
            return Err(Refusal::internal());
        };
        if owner != cid {
            return Err(face_failed()); // an attempt named with another candidate's id
        }
        if self.clock.now().unix_timestamp() >= expires {
            return Err(Refusal::new(Kind::Unauthorized, "FACE_ATTEMPT_EXPIRED", "人脸核身已超时,请重新开始"));
        }
        let candidate: Versioned<Candidate> = decode(got[1].as_ref().ok_or_else(Refusal::internal)?)?;
        let verdict =
            self.face.verdict(&FaceQuery { verify_id, out_seq_no: seq.to_string(), cert_hash, openid }).await?;
        if let FaceVerdict::Failed(code) = verdict {
            tracing::info!(verify_ret = code, "face verification not passed");
            return Err(face_failed());
        }
        self.start_session(candidate.value, vec![Write::Delete { key, cond: Cond::Version(stored.ver) }]).await
    }

    /// Read the session and the candidate in one round trip; refuse unless the session is live.
    pub async fn authenticate(&self, token: &SessionToken) -> Result<Versioned<Candidate>, Refusal> {
        let got = self.table.get_many(&[token.key(), keys::candidate(&token.candidate_id)]).await?;
        check_session(got[0].as_ref(), token, self.clock.now())?;
        let item = got[1].as_ref().ok_or_else(Refusal::internal)?;
        Ok(decode(item)?)
    }

    pub async fn logout(&self, token: &SessionToken) -> Result<(), Refusal> {
        self.authenticate(token).await?;
        match self.table.delete(&token.key(), Cond::Exists).await {
            // Two logouts racing: the session is gone either way.
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Persist a changed candidate, conditioned on the version read; `taken` is the refusal
    /// when one of the `extra` writes' conditions fails.
    async fn save(
        &self,
        c: &Candidate,
        ver: u64,
        extra: Vec<Write>,
        taken: impl FnOnce() -> Refusal,
    ) -> Result<(), Refusal> {
        let mut writes = vec![Write::Put {
            item: encode(&keys::candidate(&c.id), "candidate", ver + 1, c, &[])?,
            cond: Cond::Version(ver),
        }];
        writes.extend(extra);
        match self.table.transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { at: 0, .. }) => Err(Refusal::concurrent()),
            Err(StoreError::Conflict { .. }) => Err(taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// R2: bind the mini-program user so reminders reach them; one user of a program ↔ one
    /// candidate. Binding another user of the same program releases the old one.
    pub async fn bind_mini(
        &self,
        program: MiniProgram,
        token: &SessionToken,
        code: &str,
    ) -> Result<Candidate, Refusal> {
        let mut c = self.authenticate(token).await?;
        let openid = self.mini(program).openid(code).await?;
        if c.value.mini_user(program) == Some(openid.as_str()) {
            return Ok(c.value); // already bound: idempotent
        }
        // The new marker must not exist; an old one is released.
        let key = keys::mini_user(program, &openid);
        let mut extra = vec![Write::Put { item: marker(&key, &c.value.id)?, cond: Cond::NotExists }];
        if let Some(old) = c.value.mini_user(program) {
            extra.push(Write::Delete { key: keys::mini_user(program, old), cond: Cond::Always });
        }
        *c.value.mini_user_mut(program) = Some(openid);
        let taken = || {
            Refusal::conflict(
                match program {
                    MiniProgram::Wechat => "WECHAT_BOUND_TO_OTHER",
                    MiniProgram::Baidu => "BAIDU_BOUND_TO_OTHER",
                },
                format!("该{}已绑定其他考生账号", program.name()),
            )
        };
        self.save(&c.value, c.ver, extra, taken).await?;
        Ok(c.value)
    }

    /// R11: add a degree record (`id` None) or replace one; `make` builds the record for its id.
    pub async fn edit_degree(
        &self,
        token: &SessionToken,
        id: Option<&str>,
        make: impl FnOnce(String) -> Result<DegreeRecord, Refusal>,
    ) -> Result<(Candidate, bool), Refusal> {
        let mut c = self.authenticate(token).await?;
        let created = match id {
            Some(id) => {
                let rec = make(id.to_string())?;
                let slot = c
                    .value
                    .degrees
                    .iter_mut()
                    .find(|d| d.id == id)
                    .ok_or_else(|| Refusal::not_found("UNKNOWN_DEGREE_RECORD", "学历学位信息不存在"))?;
                *slot = rec;
                false
            }
            None => {
                if c.value.degrees.len() >= MAX_DEGREES {
                    // The account's state, not the record sent: a conflict, like a full slot.
                    return Err(Refusal::conflict("TOO_MANY_DEGREES", "学历学位信息最多10条,请修改已有记录"));
                }
                let next = c.value.degrees.iter().filter_map(|d| d.id.strip_prefix('d')?.parse::<u32>().ok()).max();
                c.value.degrees.push(make(format!("d{}", next.unwrap_or(0) + 1))?);
                true
            }
        };
        self.save(&c.value, c.ver, vec![], Refusal::concurrent).await?;
        Ok((c.value, created))
    }

    /// R1/R13: the registration photo — an upload the upload function judged and accepted
    /// (its ticket comes from the upload function too: `services::uploads`).
    pub async fn set_photo(&self, token: &SessionToken, key: &str) -> Result<Candidate, Refusal> {
        let mut c = self.authenticate(token).await?;
        let what = shared::domain::upload::UploadPurpose::AccountPhoto;
        let photo = shared::domain::upload::accepted(&c.value.uploads, key, &c.value.id, &what)?.clone();
        c.value.photo = Some(photo);
        self.save(&c.value, c.ver, vec![], Refusal::concurrent).await?;
        Ok(c.value)
    }
}

fn not_bound_code(program: MiniProgram) -> &'static str {
    match program {
        MiniProgram::Wechat => "WECHAT_NOT_BOUND",
        MiniProgram::Baidu => "BAIDU_NOT_BOUND",
    }
}
