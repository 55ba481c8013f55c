//! The staff service (考点, 报名点, 考区, 中心): accounts with a password and a second factor
//! (TOTP, RFC 6238), lockout, sessions, staff provisioning by admins, work queues with counts,
//! finding and confirming an application by the code on its form (R22), and the audit trail.
//! Every decision on an application goes through [`Applications::execute`] — the one place a
//! principal's reach is checked — with the staff token resolved in the same read as the data.

use crate::applications::{Applications, Loaded, Outcome, Target};
use crate::audit::{self, AuditRecord};
use crate::limits::{self, Limit};
use crate::password::{hash_password, verify_password};
use crate::ports::Clock;
use crate::principal::{Principal, Role, Scope, Staff};
use crate::staff_session::{self, Resolved, StaffAccount, StaffToken, resolve, session_item, valid_account};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use shared::domain::application::{Application, Command};
use shared::domain::values::{DistrictCode, ProjectCode, Sensitive};
use shared::error::{Kind, Refusal};
use shared::reference::Reference;
use std::sync::Arc;
use store::layout::{SHARDS, keys};
use store::{Cond, Index, Item, Query, StoreError, Table, Write, decode, encode};
use time::OffsetDateTime;

/// Wrong passwords or codes per staff account: the fifth in a window locks it for 15 minutes
/// (等保 2.0: limit attempts; FACTS: 5 failures → 15 min is common practice).
pub const STAFF_LOGIN_FAILURES: Limit = Limit { scope: "staff-login-fail", max: 5, window_secs: 15 * 60 };
/// Failed staff logins per source address.
pub const STAFF_LOGIN_FAILURES_PER_SOURCE: Limit =
    Limit { scope: "staff-login-fail-src", max: 50, window_secs: 15 * 60 };
pub const STAFF_LOCK_SECS: i64 = 15 * 60;
/// Login attempts per staff account, right or wrong, taken before anything is checked: bounds
/// what parallel guessing gets per window (a clerk logs in a few times a day).
pub const STAFF_LOGIN_ATTEMPTS: Limit = Limit { scope: "staff-login-try", max: 10, window_secs: 15 * 60 };
/// TOTP: 30-second steps, 6 digits, one step of clock drift either way (RFC 6238 §5.2).
pub const TOTP_STEP_SECS: i64 = 30;
/// Counts stop here: a queue longer than this reads "10000+" (see [`StaffService::counts`]).
pub const COUNT_CAP: u64 = 10_000;
/// Queue pages: at most this many entries.
pub const MAX_PAGE: u32 = 100;
/// How long a signed download URL of a photo or proof lives: long enough to look, too short to
/// pass around.
pub const DOWNLOAD_SECS: u32 = 300;

/// The issuer an authenticator app shows next to the account.
const ISSUER: &str = "卫生资格报名";
/// Events returned by one history read (an application has a few dozen).
pub const MAX_HISTORY: usize = 500;

/// One step of an application's history as staff see it. Deliberately not the stored event:
/// page contents (phone, address, ID numbers) stay out — the view shows the current ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: OffsetDateTime,
    /// `candidate`, `point`, `site`, `district`, `payment`, `scheduler` or `system`.
    pub actor: &'static str,
    /// The staff account that acted (staff actors only).
    pub staff: Option<String>,
    /// The event's name as stored (`submitted`, `site_rejected`, …).
    pub event: String,
    /// A refusal's reason (R24, R25, R42) or why it lapsed.
    pub reason: Option<String>,
}

impl HistoryEntry {
    fn of(rec: store::layout::EventRecord) -> HistoryEntry {
        use shared::domain::application::Actor;
        let (actor, staff) = match rec.actor {
            Actor::Candidate(_) => ("candidate", None),
            Actor::PointStaff(s) => ("point", Some(s)),
            Actor::SiteStaff(s) => ("site", Some(s)),
            Actor::DistrictStaff(s) => ("district", Some(s)),
            Actor::PaymentProvider => ("payment", None),
            Actor::Scheduler => ("scheduler", None),
            Actor::System => ("system", None),
        };
        // The event's own tag and `reason` field, read from its serialised form so a new event
        // kind shows up by name without a change here.
        let v = serde_json::to_value(&rec.event).unwrap_or(Value::Null);
        let event = v.get("event").and_then(Value::as_str).unwrap_or("unknown").to_string();
        let reason = v.get("reason").and_then(Value::as_str).map(str::to_string);
        HistoryEntry { at: rec.at, actor, staff, event, reason }
    }
}

#[derive(Clone)]
pub struct StaffService {
    pub table: Arc<dyn Table>,
    pub clock: Arc<dyn Clock>,
    /// The clock TOTP codes are checked against: the wall clock wherever a person's phone makes
    /// the codes (Lambda, the local server even when its business clock is shifted); the
    /// tests' clock in tests.
    pub totp_clock: Arc<dyn Clock>,
    pub reference: Arc<Reference>,
    /// Decisions and reads of applications: the same service candidates go through.
    pub apps: Applications,
    /// Key of the candidate ids (an HMAC of the ID document): R36 finds last year's record
    /// under the document the candidate had then.
    pub id_pepper: crate::secret::Secret,
}

/// A new staff account, as an admin creates it: no password and no second factor — those are
/// its owner's alone (see [`StaffService::enrol`]), so an admin can't act as the staff they make.
pub struct NewStaffByAdmin {
    pub account: String,
    pub name: String,
    pub role: Role,
    pub area: String,
    pub admin: bool,
}

/// What an admin hands over: a one-time code with which the owner sets their own password and
/// TOTP key.
pub struct Invitation {
    pub account: StaffAccount,
    pub code: String,
    pub expires_at: OffsetDateTime,
}

/// How long an enrolment code works.
pub const INVITE_SECS: i64 = 72 * 60 * 60;

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new staff account with its credentials given (the command line's first admin, demo staff).
pub struct NewStaff {
    pub account: String,
    pub name: String,
    pub role: Role,
    /// Point, site or district code; empty for the centre.
    pub area: String,
    pub admin: bool,
    pub password: Sensitive,
}

/// A started staff session.
pub struct StaffLogin {
    pub token: StaffToken,
    pub account: StaffAccount,
    pub idle_expires_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A second factor handed to its owner once: the key as an `otpauth://` URI (a QR code for an
/// authenticator app) and as base32 (to type in).
pub struct Enrolment {
    pub account: StaffAccount,
    pub otpauth_uri: String,
    pub secret_base32: String,
}

/// Which queue of the caller's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for confirmation: at the site's counter (R22, R34) or the point's online check (R41, R42).
    Confirm,
    /// Waiting for review: the site's (R24) or the district's (R25).
    Review,
}

impl Stage {
    pub fn parse(s: &str) -> Result<Stage, Refusal> {
        match s {
            "confirm" => Ok(Stage::Confirm),
            "review" => Ok(Stage::Review),
            _ => Err(Refusal::not_found("UNKNOWN_STAGE", "队列不存在").field("stage")),
        }
    }
}

/// One page of a queue: applications oldest first, and where the next page starts.
pub struct QueuePage {
    pub entries: Vec<Application>,
    /// The position after the last entry, if more may follow.
    pub next: Option<String>,
}

/// A queue position: `<12-digit unix seconds>#<32-hex candidate id>`, as the index sorts.
pub fn parse_position(raw: &str) -> Result<String, Refusal> {
    let ok = raw.len() == 45
        && raw.as_bytes()[12] == b'#'
        && raw[..12].bytes().all(|b| b.is_ascii_digit())
        && raw[13..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok { Ok(raw.to_string()) } else { Err(Refusal::bad("INVALID_CURSOR", "分页参数不正确").field("after")) }
}

/// An audit trail position: `<13-digit unix ms>#<staff account>#<8 hex>`, a record's sort key.
pub fn parse_audit_position(raw: &str) -> Result<String, Refusal> {
    let bad = || Refusal::bad("INVALID_CURSOR", "分页参数不正确").field("after");
    let mut parts = raw.split('#');
    let (Some(ms), Some(account), Some(tail), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let ok = ms.len() == 13
        && ms.bytes().all(|b| b.is_ascii_digit())
        && valid_account(account)
        && tail.len() == 8
        && tail.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok { Ok(raw.to_string()) } else { Err(bad()) }
}

/// Counts of one queue (capped at [`COUNT_CAP`]).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueCount {
    /// `confirm` or `review`.
    pub stage: &'static str,
    /// The site or point the queue belongs to; absent for the district's own review queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    pub count: u64,
    /// True when the count stopped at the cap: "at least".
    pub capped: bool,
}

/// A code that is live but outside the caller's scope answers like a code that isn't live: a
/// photographed form tells another site nothing.
fn unknown_code(e: Refusal) -> Refusal {
    if e.code == "NO_APPLICATION" { code_not_found() } else { e }
}

fn code_not_found() -> Refusal {
    Refusal::not_found("CODE_NOT_FOUND", "验证码无效:未找到对应的报名,或考生已撤回、重新提交(请以最新报名表为准)")
        .field("code")
}

/// The staff account is locked after repeated failures, until `until` (Unix seconds).
fn locked(until: i64) -> Refusal {
    Refusal::new(
        Kind::TooMany,
        "STAFF_ACCOUNT_LOCKED",
        format!("登录失败次数过多,账号已锁定至{}(北京时间)", limits::beijing_hhmm(until)),
    )
}

fn not_permitted() -> Refusal {
    Refusal::new(Kind::Forbidden, "NOT_PERMITTED", "无权进行此操作")
}

fn bad_credentials() -> Refusal {
    Refusal::new(Kind::Unauthorized, "STAFF_BAD_CREDENTIALS", "账号或密码错误").field("password")
}

fn staff_not_found() -> Refusal {
    Refusal::not_found("STAFF_NOT_FOUND", "工作人员账号不存在").field("account")
}

/// Staff passwords (等保 2.0 8.1.4.1 a, complex passwords): 12–64 characters from at least three
/// of lower case, upper case, digits and ASCII symbols, no control characters (the OpenAPI
/// pattern `STAFF_PASSWORD_PATTERN` says the same).
pub fn check_staff_password(p: &str) -> Result<(), Refusal> {
    let n = p.chars().count();
    let classes = [
        p.chars().any(|c| c.is_ascii_lowercase()),
        p.chars().any(|c| c.is_ascii_uppercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| c.is_ascii_punctuation()),
    ];
    if !(12..=64).contains(&n) || classes.iter().filter(|x| **x).count() < 3 || p.chars().any(char::is_control) {
        return Err(Refusal::bad("WEAK_PASSWORD", "密码应为12-64位,且包含大写字母、小写字母、数字、符号中的至少三类")
            .field("password"));
    }
    Ok(())
}

/// HOTP (RFC 4226) of one counter value, 6 digits: the HMAC is RustCrypto's, the truncation
/// is the RFC's.
pub fn hotp(key: &[u8], counter: u64) -> u32 {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(key) else { return u32::MAX };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    bin % 1_000_000
}

/// The TOTP time step of `t`.
pub fn totp_step(t: OffsetDateTime) -> u64 {
    (t.unix_timestamp().max(0) / TOTP_STEP_SECS) as u64
}

/// The step a code is good for at `now` (this step or one either side), if any.
pub fn totp_match(key: &[u8], code: &str, now: OffsetDateTime) -> Option<u64> {
    let code: u32 = code.parse().ok().filter(|_| code.len() == 6)?;
    let step = totp_step(now);
    [step, step.saturating_sub(1), step + 1].into_iter().find(|s| hotp(key, *s) == code)
}

/// RFC 4648 base32, no padding (what authenticator apps take).
pub fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for b in bytes {
        buf = (buf << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            out.push(A[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(A[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Percent-encoding of everything but RFC 3986's unreserved characters (for the URI's label).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// RFC 4648 base32 back to bytes (upper or lower case, no padding); `None` when malformed.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let (mut buf, mut bits, mut out) = (0u32, 0u32, vec![]);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buf = (buf << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The code an authenticator app shows at `at` for a base32 key (what `oathtool --totp` prints):
/// for the command-line tool and the tests.
pub fn current_code(secret_base32: &str, at: OffsetDateTime) -> Option<String> {
    Some(format!("{:06}", hotp(&base32_decode(secret_base32)?, totp_step(at))))
}

fn at_unix(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default()
}

fn new_totp_key() -> Result<Vec<u8>, Refusal> {
    let mut key = vec![0u8; 20];
    getrandom::fill(&mut key).map_err(|_| Refusal::internal())?;
    Ok(key)
}

fn enrolment(account: StaffAccount, key: &[u8]) -> Enrolment {
    let secret = base32(key);
    let label = percent_encode(&format!("{ISSUER}:{}", account.account));
    let issuer = percent_encode(ISSUER);
    let otpauth_uri =
        format!("otpauth://totp/{label}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits=6&period=30");
    Enrolment { account, otpauth_uri, secret_base32: secret }
}

/// The item a staff account is stored as; district staff are listed by district (gsi2).
fn staff_item(a: &StaffAccount, ver: u64) -> Result<Item, StoreError> {
    let mut extra = vec![];
    if let Some(d) = &a.district {
        extra.push(("gsi2pk", json!(format!("STAFFOF#{d}"))));
        extra.push(("gsi2sk", json!(a.account)));
    }
    encode(&keys::staff(&a.account), "staff", ver, a, &extra)
}

impl StaffService {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn record(&self, s: &Staff, action: &str, target: Option<String>, outcome: &str) -> AuditRecord {
        AuditRecord::of(s, action, target, outcome, self.now())
    }

    /// Resolve a token alone (one round trip) and move its idle clock when due.
    pub async fn authenticate(&self, token: &StaffToken) -> Result<Resolved, Refusal> {
        let got = self.table.get_many(&token.keys()).await?;
        let mut r = resolve(token, got[0].as_ref(), got[1].as_ref(), self.now())?;
        staff_session::touch(self.table.as_ref(), r.touch.take()).await?;
        Ok(r)
    }

    /// Password, then the TOTP code: both must be right. An unknown account costs the same hash
    /// as a wrong password. A code is accepted once (its step is recorded in the same
    /// transaction that starts the session, so two logins racing on one code can't both win).
    pub async fn login(&self, account: &str, password: &str, totp: &str, source: &str) -> Result<StaffLogin, Refusal> {
        let account = account.trim().to_ascii_lowercase();
        if !valid_account(&account) {
            return Err(bad_credentials());
        }
        let now = self.now();
        let got = self
            .table
            .get_many(&[
                keys::staff(&account),
                keys::staff_lock(&account),
                STAFF_LOGIN_FAILURES_PER_SOURCE.key(source, now),
            ])
            .await?;
        let lock = got[1].as_ref().and_then(|l| l.get("until")).and_then(Value::as_i64);
        if let Some(until) = lock.filter(|u| *u > now.unix_timestamp()) {
            return Err(locked(until));
        }
        if STAFF_LOGIN_FAILURES_PER_SOURCE.reached(got[2].as_ref()) {
            return Err(limits::too_many(STAFF_LOGIN_FAILURES_PER_SOURCE.window(now).1));
        }
        // Taken atomically before the password is checked: requests fired together can't all
        // be checked before the failures are counted (the lockout alone is counted after).
        STAFF_LOGIN_ATTEMPTS.take(self.table.as_ref(), &account, now).await?;
        let Some(stored) = got[0].as_ref() else {
            let _ = hash_password(password);
            return Err(self.failed_login(&account, source, now, None, bad_credentials()).await);
        };
        let v = decode::<StaffAccount>(stored)?;
        let (mut a, ver) = (v.value, v.ver);
        if a.password_hash.expose().is_empty() {
            // Not enrolled yet: the same hashing time and answer as a wrong password.
            let _ = hash_password(password);
            return Err(self.failed_login(&account, source, now, Some(&a), bad_credentials()).await);
        }
        if !verify_password(password, a.password_hash.expose()) {
            return Err(self.failed_login(&account, source, now, Some(&a), bad_credentials()).await);
        }
        let step = match totp_match(&unb64(a.totp_secret.expose()), totp, self.totp_clock.now()) {
            Some(step) if step > a.totp_step => step,
            Some(_) => {
                let e =
                    Refusal::new(Kind::Unauthorized, "TOTP_REUSED", "该动态口令已使用,请等待下一个口令").field("totp");
                return Err(self.failed_login(&account, source, now, Some(&a), e).await);
            }
            None => {
                let e = Refusal::new(Kind::Unauthorized, "TOTP_INVALID", "动态口令错误或已过期").field("totp");
                return Err(self.failed_login(&account, source, now, Some(&a), e).await);
            }
        };
        if a.disabled {
            return Err(Refusal::new(Kind::Forbidden, "STAFF_DISABLED", "账号已停用,请联系管理员"));
        }
        a.totp_step = step;
        let token = StaffToken::new(&a.account);
        let staff = a.principal()?;
        let writes = vec![
            Write::Put { item: staff_item(&a, ver + 1)?, cond: Cond::Version(ver) },
            Write::Put { item: session_item(&token, a.epoch, now), cond: Cond::NotExists },
            audit::write(staff.audit_area(), &self.record(&staff, "login", None, "ok"))?,
        ];
        match self.table.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(
                    Refusal::new(Kind::Unauthorized, "TOTP_REUSED", "该动态口令已使用,请等待下一个口令").field("totp")
                );
            }
            Err(e) => return Err(e.into()),
        }
        let t = now.unix_timestamp();
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(t + s).unwrap_or(now);
        Ok(StaffLogin {
            token,
            account: a,
            idle_expires_at: at(staff_session::IDLE_SECS),
            expires_at: at(staff_session::ABSOLUTE_SECS),
        })
    }

    /// Count a failure against the account and the source; the fifth locks the account.
    async fn failed_login(
        &self,
        account: &str,
        source: &str,
        now: OffsetDateTime,
        known: Option<&StaffAccount>,
        refusal: Refusal,
    ) -> Refusal {
        let (by_source, by_account) = tokio::join!(
            STAFF_LOGIN_FAILURES_PER_SOURCE.note(self.table.as_ref(), source, now),
            STAFF_LOGIN_FAILURES.note(self.table.as_ref(), account, now)
        );
        if let Some(staff) = known.and_then(|a| a.principal().ok()) {
            let rec = self.record(&staff, "login", None, refusal.code);
            audit::note_refusal(self.table.as_ref(), staff.audit_area(), &rec).await;
        }
        if let Err(e) = by_source {
            return e;
        }
        match by_account {
            Ok(n) if n >= STAFF_LOGIN_FAILURES.max => {
                let until = now.unix_timestamp() + STAFF_LOCK_SECS;
                let key = keys::staff_lock(account);
                let lock = json!({"pk": key.pk, "sk": key.sk, "until": until, "ttl": until});
                match self.table.put(lock.as_object().cloned().unwrap_or_default(), Cond::Always).await {
                    Ok(()) => locked(until),
                    Err(e) => e.into(),
                }
            }
            Ok(_) => refusal,
            Err(e) => e,
        }
    }

    /// End this session now.
    pub async fn logout(&self, token: &StaffToken) -> Result<(), Refusal> {
        let r = self.authenticate(token).await?;
        let rec = self.record(&r.staff, "logout", None, "ok");
        self.table
            .transact(vec![
                Write::Delete { key: token.key(), cond: Cond::Exists },
                audit::write(r.staff.audit_area(), &rec)?,
            ])
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => staff_session::staff_unauthenticated(),
                e => e.into(),
            })
    }

    /// Whether `admin` may manage `target` (an account of role, area and admin flag): the
    /// centre manages district staff (admins included) and its own; a district admin manages
    /// the non-admin staff of their district.
    fn manages(&self, admin: &Staff, role: Role, district: Option<&DistrictCode>, is_admin: bool) -> bool {
        match (&admin.scope, admin.admin) {
            (Scope::Centre, true) => matches!(role, Role::District | Role::Centre),
            (Scope::District(d), true) => !is_admin && district == Some(d) && role != Role::Centre,
            _ => false,
        }
    }

    /// The district an area code lies in, checked against the reference data.
    fn district_of(&self, role: Role, area: &str) -> Result<Option<DistrictCode>, Refusal> {
        let unknown = || Refusal::rule("UNKNOWN_AREA", "所属考点、报名点或考区不存在").field("area");
        let r = &self.reference;
        match role {
            Role::Centre if area.is_empty() => Ok(None),
            Role::Centre => Err(unknown()),
            Role::District => {
                let d = DistrictCode::parse(area, "area")?;
                r.districts().contains_key(&d).then_some(Some(d)).ok_or_else(unknown)
            }
            Role::Site => {
                let code = shared::domain::values::SiteCode::parse(area, "area")?;
                r.sites().get(&code).map(|s| Some(s.district.clone())).ok_or_else(unknown)
            }
            Role::Point => r
                .sites()
                .values()
                .find(|s| s.points.iter().any(|p| p.code.as_str() == area))
                .map(|s| Some(s.district.clone()))
                .ok_or_else(unknown),
        }
    }

    /// Create a staff account (admins only, within what they manage). The second factor's key
    /// is returned once, for its owner's authenticator app.
    pub async fn create(&self, token: &StaffToken, new: NewStaffByAdmin) -> Result<Invitation, Refusal> {
        let district = self.district_of(new.role, &new.area)?;
        let r = self.authenticate(token).await?;
        let action = "create_staff";
        if !self.manages(&r.staff, new.role, district.as_ref(), new.admin) {
            return Err(self.refuse(&r.staff, action, &new.account, not_permitted()).await);
        }
        let code = shared::random::token(32);
        let expires = self.now().unix_timestamp() + INVITE_SECS;
        let a = StaffAccount {
            account: new.account.clone(),
            name: new.name,
            role: new.role,
            area: new.area,
            district,
            admin: new.admin,
            password_hash: Sensitive::default(),
            totp_secret: Sensitive::default(),
            totp_step: 0,
            epoch: 0,
            disabled: false,
            invite_hash: Some(sha256_hex(&code)),
            invite_expires: expires,
            created_by: r.staff.id.clone(),
            created_at: self.now(),
        };
        let rec = self.record(&r.staff, action, Some(a.account.clone()), "ok");
        let writes = vec![
            Write::Put { item: staff_item(&a, 1)?, cond: Cond::NotExists },
            audit::write(r.staff.audit_area(), &rec)?,
        ];
        match self.table.transact(writes).await {
            Ok(()) => Ok(Invitation { account: a, code, expires_at: at_unix(expires) }),
            Err(StoreError::Conflict { .. }) => Err(self
                .refuse(
                    &r.staff,
                    action,
                    &new.account,
                    Refusal::conflict("STAFF_EXISTS", "该账号已存在").field("account"),
                )
                .await),
            Err(e) => Err(e.into()),
        }
    }

    /// The first centre admin, from the command line (no one exists yet to create it).
    pub async fn bootstrap_centre(&self, account: &str, name: &str, password: &str) -> Result<Enrolment, Refusal> {
        let new = NewStaff {
            account: account.into(),
            name: name.into(),
            role: Role::Centre,
            area: String::new(),
            admin: true,
            password: password.into(),
        };
        self.provision(new, "(command line)", None).await
    }

    /// Write an account without an admin's session: the command-line tool (the first centre
    /// admin) and the local server's demo staff (with a published key: `key`). Not reachable
    /// over HTTP.
    pub async fn provision(&self, new: NewStaff, by: &str, key: Option<&[u8]>) -> Result<Enrolment, Refusal> {
        check_staff_password(new.password.expose())?;
        if !valid_account(&new.account) {
            return Err(Refusal::bad("INVALID_ACCOUNT", "账号应为4-32位小写字母、数字或下划线").field("account"));
        }
        let district = self.district_of(new.role, &new.area)?;
        let key = match key {
            Some(k) => k.to_vec(),
            None => new_totp_key()?,
        };
        let a = StaffAccount {
            account: new.account,
            name: new.name,
            role: new.role,
            area: new.area,
            district,
            admin: new.admin,
            password_hash: hash_password(new.password.expose())?.into(),
            totp_secret: b64(&key).into(),
            totp_step: 0,
            epoch: 0,
            disabled: false,
            invite_hash: None,
            invite_expires: 0,
            created_by: by.into(),
            created_at: self.now(),
        };
        match self.table.put(staff_item(&a, 1)?, Cond::NotExists).await {
            Ok(()) => Ok(enrolment(a, &key)),
            Err(StoreError::Conflict { .. }) => Err(Refusal::conflict("STAFF_EXISTS", "该账号已存在").field("account")),
            Err(e) => Err(e.into()),
        }
    }

    async fn refuse(&self, s: &Staff, action: &str, target: &str, e: Refusal) -> Refusal {
        let rec = self.record(s, action, Some(target.to_string()), e.code);
        audit::note_refusal(self.table.as_ref(), s.audit_area(), &rec).await;
        e
    }

    /// The owner's first step (or after a reset): the one-time code from their admin, and a
    /// password of their own; answered with their TOTP key, shown this once. The code works once
    /// and for [`INVITE_SECS`]; attempts come from the same budget as logins.
    pub async fn enrol(&self, account: &str, code: &str, password: &str) -> Result<Enrolment, Refusal> {
        let invalid =
            || Refusal::new(Kind::Unauthorized, "ENROLMENT_INVALID", "激活码无效或已过期,请联系管理员重新发放");
        let account = account.trim().to_ascii_lowercase();
        if !valid_account(&account) {
            return Err(invalid());
        }
        check_staff_password(password)?;
        let now = self.now();
        STAFF_LOGIN_ATTEMPTS.take(self.table.as_ref(), &account, now).await?;
        let Some(stored) = self.table.get(&keys::staff(&account)).await? else { return Err(invalid()) };
        let v = decode::<StaffAccount>(&stored)?;
        let (mut a, ver) = (v.value, v.ver);
        let good =
            a.invite_hash.as_deref() == Some(sha256_hex(code).as_str()) && now.unix_timestamp() < a.invite_expires;
        if !good || a.disabled {
            return Err(invalid());
        }
        let key = new_totp_key()?;
        a.password_hash = hash_password(password)?.into();
        a.totp_secret = b64(&key).into();
        a.totp_step = 0;
        a.invite_hash = None;
        a.invite_expires = 0;
        a.epoch += 1;
        let staff = a.principal()?;
        let writes = vec![
            Write::Put { item: staff_item(&a, ver + 1)?, cond: Cond::Version(ver) },
            audit::write(staff.audit_area(), &self.record(&staff, "enrol", None, "ok"))?,
        ];
        self.table.transact(writes).await.map_err(|e| match e {
            StoreError::Conflict { .. } => invalid(),
            e => e.into(),
        })?;
        Ok(enrolment(a, &key))
    }

    /// Disable an account, or reset its credentials (a new enrolment code for its owner; the
    /// password and TOTP key are gone): either way its sessions end at once (the epoch moves).
    /// An account the admin doesn't manage is "not found".
    pub async fn change(&self, token: &StaffToken, account: &str, reset: bool) -> Result<Invitation, Refusal> {
        if !valid_account(account) {
            return Err(staff_not_found());
        }
        let got = self.table.get_many(&[token.key(), keys::staff(&token.account), keys::staff(account)]).await?;
        let mut r = resolve(token, got[0].as_ref(), got[1].as_ref(), self.now())?;
        let action = if reset { "reset_credentials" } else { "disable_staff" };
        if account == r.staff.id {
            // Not one's own: a centre admin could otherwise lock the last way in.
            return Err(self.refuse(&r.staff, action, account, not_permitted()).await);
        }
        let target = match got[2].as_ref().map(decode::<StaffAccount>).transpose()? {
            Some(t) if self.manages(&r.staff, t.value.role, t.value.district.as_ref(), t.value.admin) => t,
            _ => return Err(self.refuse(&r.staff, action, account, staff_not_found()).await),
        };
        let (mut a, ver) = (target.value, target.ver);
        a.epoch += 1;
        let code = shared::random::token(32);
        if reset {
            a.password_hash = Sensitive::default();
            a.totp_secret = Sensitive::default();
            a.totp_step = 0;
            a.invite_hash = Some(sha256_hex(&code));
            a.invite_expires = self.now().unix_timestamp() + INVITE_SECS;
        } else {
            a.disabled = true;
        }
        let rec = self.record(&r.staff, action, Some(a.account.clone()), "ok");
        let mut writes = vec![
            Write::Put { item: staff_item(&a, ver + 1)?, cond: Cond::Version(ver) },
            audit::write(r.staff.audit_area(), &rec)?,
        ];
        writes.extend(r.touch.take());
        self.table.transact(writes).await.map_err(|e| match e {
            StoreError::Conflict { .. } => Refusal::concurrent(),
            e => e.into(),
        })?;
        let expires_at = at_unix(a.invite_expires);
        Ok(Invitation { account: a, code: if reset { code } else { String::new() }, expires_at })
    }

    /// The staff of the admin's district (the centre: of a district it names).
    pub async fn list_staff(
        &self,
        token: &StaffToken,
        district: Option<DistrictCode>,
    ) -> Result<Vec<StaffAccount>, Refusal> {
        let r = self.authenticate(token).await?;
        let d = match (&r.staff.scope, r.staff.admin, district) {
            (Scope::District(d), true, None) => d.clone(),
            (Scope::District(d), true, Some(x)) if x == *d => x,
            (Scope::Centre, true, Some(x)) => x,
            _ => return Err(not_permitted()),
        };
        let mut q = Query::of(Some(Index::Gsi2), format!("STAFFOF#{d}"), 200);
        let mut out = vec![];
        loop {
            let page = self.table.query(&q).await?;
            for item in &page.items {
                out.push(decode::<StaffAccount>(item)?.value);
            }
            match page.cursor {
                Some(c) if out.len() < 2000 => q.cursor = Some(c),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The queue keys of the caller's scope for `stage` (the district's review queue is sharded).
    fn queue_keys(&self, s: &Staff, project: &ProjectCode, stage: Stage) -> Result<Vec<String>, Refusal> {
        let p = project.as_str();
        Ok(match (stage, &s.scope) {
            (Stage::Confirm, Scope::Point(pt)) => vec![keys::confirm_queue(p, pt.as_str())],
            (Stage::Confirm, Scope::Site(site)) => vec![keys::arrive_queue(p, site.as_str())],
            (Stage::Review, Scope::Site(site)) => vec![keys::site_queue(p, site.as_str())],
            (Stage::Review, Scope::District(d)) => {
                (0..SHARDS).map(|n| keys::district_queue(p, d.as_str(), n)).collect()
            }
            _ => return Err(not_permitted()),
        })
    }

    /// A page of the caller's queue, oldest first, after `after` (a position from the previous
    /// page). One query per shard (one for a site or point); the entries come from the index,
    /// which lags the table: a decision re-reads the application and says 409 if it moved on.
    pub async fn queue(
        &self,
        token: &StaffToken,
        project: &ProjectCode,
        stage: Stage,
        after: Option<String>,
        limit: u32,
    ) -> Result<QueuePage, Refusal> {
        let r = self.authenticate(token).await?;
        let pks = self.queue_keys(&r.staff, project, stage)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let mut found: Vec<(String, Application)> = vec![];
        let mut more = false;
        // The smallest last position among shards that stopped early (`limit`, or DynamoDB's 1 MB
        // cap): past it one of them may still hold entries, so the page must end there.
        let mut cut: Option<String> = None;
        let mut tasks = tokio::task::JoinSet::new();
        for pk in pks {
            let table = self.table.clone();
            let q = Query { sk_after: after.clone(), ..Query::of(Some(Index::Gsi2), pk, limit) };
            tasks.spawn(async move { table.query(&q).await });
        }
        while let Some(done) = tasks.join_next().await {
            let page = done.map_err(|_| Refusal::internal())??;
            let mut last = None;
            for item in &page.items {
                let sk = item.get("gsi2sk").and_then(Value::as_str).unwrap_or_default().to_string();
                last = Some(sk.clone());
                found.push((sk, decode::<Application>(item)?.value));
            }
            if page.cursor.is_some() {
                more = true;
                if let Some(l) = last {
                    cut = Some(cut.map_or(l.clone(), |c: String| c.min(l)));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(cut) = &cut {
            found.retain(|(sk, _)| sk <= cut);
        }
        more |= found.len() > limit as usize;
        found.truncate(limit as usize);
        let next = if more { found.last().map(|(sk, _)| sk.clone()) } else { None };
        Ok(QueuePage { entries: found.into_iter().map(|(_, a)| a).collect(), next })
    }

    /// How many wait in each queue of the caller's scope: a site's two, a point's one; for a
    /// district, every site's and point's and its own review queue. Bounded index counts, not
    /// maintained counters: no extra write (or hot counter item) on the busiest path, the
    /// decision; the price is paid by the rarer reader, and stops at [`COUNT_CAP`].
    pub async fn counts(&self, token: &StaffToken, project: &ProjectCode) -> Result<Vec<QueueCount>, Refusal> {
        let r = self.authenticate(token).await?;
        let p = project.as_str();
        let online = |d: &DistrictCode| self.reference.districts().get(d).is_some_and(|x| x.online_confirmation);
        let mut wanted: Vec<(QueueCount, Vec<String>)> = vec![];
        let count = |stage, site: Option<&str>, point: Option<&str>| QueueCount {
            stage,
            site: site.map(str::to_string),
            point: point.map(str::to_string),
            count: 0,
            capped: false,
        };
        let site_queues = |site: &shared::reference::Site, wanted: &mut Vec<(QueueCount, Vec<String>)>| {
            let s = site.code.as_str();
            if online(&site.district) {
                for pt in &site.points {
                    let c = count("confirm", Some(s), Some(pt.code.as_str()));
                    wanted.push((c, vec![keys::confirm_queue(p, pt.code.as_str())]));
                }
            } else {
                wanted.push((count("confirm", Some(s), None), vec![keys::arrive_queue(p, s)]));
            }
            wanted.push((count("review", Some(s), None), vec![keys::site_queue(p, s)]));
        };
        match &r.staff.scope {
            Scope::Point(pt) => {
                wanted.push((count("confirm", None, Some(pt.as_str())), vec![keys::confirm_queue(p, pt.as_str())]))
            }
            Scope::Site(code) => {
                let site = self.reference.sites().get(code).ok_or_else(Refusal::internal)?;
                site_queues(site, &mut wanted);
            }
            Scope::District(d) => {
                for site in self.reference.sites().values().filter(|s| s.district == *d) {
                    site_queues(site, &mut wanted);
                }
                let shards = (0..SHARDS).map(|n| keys::district_queue(p, d.as_str(), n)).collect();
                wanted.push((count("review", None, None), shards));
            }
            Scope::Centre => return Err(not_permitted()),
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (_, pks)) in wanted.iter().enumerate() {
            for pk in pks {
                let table = self.table.clone();
                let q = Query::of(Some(Index::Gsi2), pk.clone(), 1);
                tasks.spawn(async move { (i, table.count_items(&q, COUNT_CAP).await) });
            }
        }
        while let Some(done) = tasks.join_next().await {
            let (i, n) = done.map_err(|_| Refusal::internal())?;
            wanted[i].0.count += n?;
        }
        Ok(wanted
            .into_iter()
            .map(|(mut c, _)| {
                c.capped = c.count >= COUNT_CAP;
                c.count = c.count.min(COUNT_CAP);
                c
            })
            .collect())
    }

    /// The application whose live verification code is `code` (R18, R22): found through the
    /// code index, then read — with the session — from the table itself.
    async fn by_code(
        &self,
        token: &StaffToken,
        project: &ProjectCode,
        code: &str,
        action: &str,
    ) -> Result<Target, Refusal> {
        let page = self.table.query(&Query::of(Some(Index::Gsi1), keys::vcode(code), 2)).await?;
        let hit = page.items.first().and_then(|i| {
            let cid = i.get("pk")?.as_str()?.strip_prefix("CAND#")?;
            let project_sk = i.get("sk")?.as_str()?.strip_prefix("APP#")?;
            (project_sk == project.as_str()).then(|| cid.to_string())
        });
        match hit {
            Some(cid) => Ok(Target { candidate_id: cid, project: project.clone() }),
            None => {
                // Unknown to anyone who isn't signed in; audited for those who are.
                let r = self.authenticate(token).await?;
                let e = code_not_found();
                Err(self.refuse(&r.staff, action, code, e).await)
            }
        }
    }

    /// R22: the application behind the code on a printed form, for the clerk to check.
    pub async fn find_by_code(&self, token: &StaffToken, project: &ProjectCode, code: &str) -> Result<Loaded, Refusal> {
        let target = self.by_code(token, project, code, "find_by_code").await?;
        self.apps.read_for(&Principal::StaffToken(token.clone()), &target, "find_by_code").await.map_err(unknown_code)
    }

    /// R22: confirm by the code on the form; only the live code of the latest submission does
    /// (R18: the decision compares it with the application read from the table, not the index).
    pub async fn confirm_by_code(
        &self,
        token: &StaffToken,
        project: &ProjectCode,
        code: &str,
    ) -> Result<Outcome, Refusal> {
        let target = self.by_code(token, project, code, "confirm").await?;
        let cmd = Command::Confirm { code: code.to_string() };
        self.decide(token, &target, cmd).await.map_err(unknown_code)
    }

    /// Any decision on one application (R22–R25, R34, R42): the one `execute`.
    pub async fn decide(&self, token: &StaffToken, target: &Target, cmd: Command) -> Result<Outcome, Refusal> {
        self.apps
            .execute(&Principal::StaffToken(token.clone()), target, crate::applications::Intent::Command(cmd))
            .await
    }

    /// R36 score merge: the candidate's previous ID document (checked by the clerk against the
    /// proof they bring) names last year's record; the merge links it to this application, and
    /// rolling (R35) applies from then on. Without it last year's scores are forfeited.
    pub async fn merge_scores(
        &self,
        token: &StaffToken,
        target: &Target,
        previous: &shared::domain::identity::IdDocument,
    ) -> Result<Outcome, Refusal> {
        let project = self.apps.project(&target.project)?;
        let old = previous.candidate_id(self.id_pepper.get().await?.as_bytes());
        let key = keys::history(project.kind, &old, project.year - 1);
        let record =
            self.table.get(&key).await?.map(|i| decode::<shared::domain::history::LastYear>(&i)).transpose()?;
        // Found or not, the one `execute` decides: reach and role first, so only a site clerk
        // holding this application learns whether the document sat last year.
        let record = record.map(|r| Box::new(r.value));
        let intent = crate::applications::Intent::MergeScores { record, holder: old };
        self.apps.execute(&Principal::StaffToken(token.clone()), target, intent).await
    }

    /// The application's history, oldest first: when, by whom, what, and a refusal's reason —
    /// what a clerk needs before deciding again. Reached and audited like the view
    /// (`view_history`); then one query of the application's own events (its partition), newest
    /// first so that a history longer than [`MAX_HISTORY`] loses its oldest steps, never the
    /// latest decisions. `true` with the list when steps were left out.
    pub async fn history(&self, token: &StaffToken, target: &Target) -> Result<(Vec<HistoryEntry>, bool), Refusal> {
        self.apps.read_for(&Principal::StaffToken(token.clone()), target, "view_history").await?;
        let prefix = format!("APP#{}#EV#", target.project.as_str());
        let pk = keys::candidate(&target.candidate_id).pk;
        let mut q = Query { sk_prefix: Some(prefix), descending: true, ..Query::of(None, pk, MAX_HISTORY as u32) };
        let mut out = vec![];
        let more = loop {
            let page = self.table.query(&q).await?;
            for item in &page.items {
                out.push(HistoryEntry::of(decode::<store::layout::EventRecord>(item)?.value));
            }
            match page.cursor {
                Some(c) if out.len() < MAX_HISTORY => q.cursor = Some(c),
                Some(_) => break true,
                None => break false,
            }
        };
        let truncated = more || out.len() > MAX_HISTORY;
        out.truncate(MAX_HISTORY);
        out.reverse();
        Ok((out, truncated))
    }

    /// Signed, short-lived download URLs of the application's photo and proofs.
    pub async fn downloads(&self, app: &Application) -> Result<(Option<String>, Vec<(String, u8, String)>), Refusal> {
        let now = self.now();
        let photo = match &app.photo {
            Some(p) => Some(self.apps.objects.download_url(p.photo.key.as_str(), DOWNLOAD_SECS, now).await?),
            None => None,
        };
        let mut materials = vec![];
        for m in &app.materials {
            materials.push((m.kind.clone(), m.slot, self.apps.objects.download_url(&m.key, DOWNLOAD_SECS, now).await?));
        }
        Ok((photo, materials))
    }

    /// One day of the audit trail of the admin's district (the centre's own, for the centre),
    /// oldest first.
    pub async fn audit_log(
        &self,
        token: &StaffToken,
        day: &str,
        district: Option<DistrictCode>,
        after: Option<String>,
    ) -> Result<(Vec<AuditRecord>, Option<String>), Refusal> {
        let r = self.authenticate(token).await?;
        let area = match (&r.staff.scope, r.staff.admin, district) {
            (Scope::District(d), true, None) => d.as_str().to_string(),
            (Scope::District(d), true, Some(x)) if x == *d => x.as_str().to_string(),
            (Scope::Centre, true, Some(x)) => x.as_str().to_string(),
            (Scope::Centre, true, None) => audit::CENTRE.to_string(),
            _ => return Err(not_permitted()),
        };
        let q = Query { sk_after: after, ..Query::of(None, keys::audit_day(&area, day), MAX_PAGE) };
        let page = self.table.query(&q).await?;
        let recs = page.items.iter().map(|i| decode::<AuditRecord>(i).map(|v| v.value)).collect::<Result<_, _>>()?;
        // The next page starts after the last record's own sort key (checked like a queue position).
        let next = page.cursor.and_then(|_| page.items.last()?.get("sk")?.as_str().map(str::to_string));
        Ok((recs, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B (SHA-1 key "12345678901234567890"), last six digits.
    #[test]
    fn totp_matches_the_rfc_6238_test_vectors() {
        let key = b"12345678901234567890";
        for (t, code) in [(59, 287_082), (1_111_111_109, 81_804), (1_234_567_890, 5_924), (2_000_000_000, 279_037)] {
            let step = (t / 30) as u64;
            assert_eq!(hotp(key, step), code, "t = {t}");
        }
        let now = OffsetDateTime::from_unix_timestamp(1_111_111_109).unwrap();
        assert_eq!(totp_match(key, "081804", now), Some(1_111_111_109 / 30));
        assert_eq!(totp_match(key, "081805", now), None);
        assert_eq!(totp_match(key, "81804", now), None, "six digits, leading zeros included");
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(base32_decode(&base32(&[7u8; 20])).unwrap(), [7u8; 20]);
        assert!(base32_decode("M1").is_none());
    }

    #[test]
    fn staff_passwords_need_length_and_three_kinds_of_character() {
        assert!(check_staff_password("Abcdefgh1234").is_ok());
        assert!(check_staff_password("abcdefgh1234!").is_ok());
        for weak in ["Abc123!", "abcdefghijkl", "abcdefgh1234", "ABCDEFGH1234"] {
            assert_eq!(check_staff_password(weak).unwrap_err().code, "WEAK_PASSWORD", "{weak}");
        }
    }

    #[test]
    fn queue_positions_are_checked_before_use() {
        let ok = format!("{:012}#{}", 1_733_000_000, "ab".repeat(16));
        assert!(parse_position(&ok).is_ok());
        for bad in ["", "x", &ok.replace('#', "$"), &format!("{ok}0"), &ok.to_uppercase()] {
            assert_eq!(parse_position(bad).unwrap_err().code, "INVALID_CURSOR", "{bad}");
        }
    }
}
