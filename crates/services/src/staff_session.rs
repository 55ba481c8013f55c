//! Staff sessions: what a staff request carries and how it becomes a [`Staff`] principal. The
//! token is `st-<account>.<256-bit secret>`, stored only as the SHA-256 key of its session item;
//! the account lets a request read the session, the staff account and the data it guards in one
//! round trip. A session dies after [`IDLE_SECS`] without a request, after [`ABSOLUTE_SECS`]
//! whatever happens, at logout, and — because the staff account is read with it every time —
//! at once when an admin disables the account or resets its second factor.

use crate::principal::{Role, Scope, Staff};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::domain::values::{DistrictCode, Sensitive};
use shared::error::{Kind, Refusal};
use store::{Cond, Item, Key, StoreError, Write, attr, decode, keys};
use time::OffsetDateTime;

/// 等保 2.0 asks operators to be logged out when idle; common practice is 10–30 minutes.
pub const IDLE_SECS: i64 = 30 * 60;
/// A working shift: a session never outlives it, active or not.
pub const ABSOLUTE_SECS: i64 = 10 * 60 * 60;
/// The idle clock is moved forward at most this often (a write), not on every request.
pub const TOUCH_SECS: i64 = 60;

/// A staff account as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct StaffAccount {
    pub account: String,
    /// The person's name, shown in the console and the audit trail.
    pub name: String,
    pub role: Role,
    /// The point, site or district code the account is scoped to; empty for the centre.
    pub area: String,
    /// The district the scope lies in (`None` for the centre): where its audit records go.
    #[serde(default)]
    pub district: Option<DistrictCode>,
    /// A district admin manages the staff of their district and reads its audit trail; the
    /// centre's accounts manage district admins.
    #[serde(default)]
    pub admin: bool,
    pub password_hash: Sensitive,
    /// The TOTP key (RFC 6238), base64.
    pub totp_secret: Sensitive,
    /// The last time step a code was accepted for: a code is good once (RFC 6238 §5.2).
    #[serde(default)]
    pub totp_step: u64,
    /// Sessions started under an earlier epoch are dead (password or TOTP reset, disabling).
    #[serde(default)]
    pub epoch: u32,
    #[serde(default)]
    pub disabled: bool,
    /// SHA-256 (hex) of the one-time enrolment code an admin handed over, while the owner has
    /// not yet set their password and second factor; `None` once enrolled.
    #[serde(default)]
    pub invite_hash: Option<String>,
    /// When the enrolment code stops working (Unix seconds).
    #[serde(default)]
    pub invite_expires: i64,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

// NOTE: hand-written so the password hash and the TOTP key never reach a log through `{:?}`.
impl std::fmt::Debug for StaffAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffAccount")
            .field("account", &self.account)
            .field("role", &self.role)
            .field("area", &self.area)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl StaffAccount {
    /// The principal this account acts as.
    pub fn principal(&self) -> Result<Staff, Refusal> {
        let code = || self.area.clone();
        let scope = match self.role {
            Role::Point => Scope::Point(shared::domain::values::PointCode::parse(&code(), "area")?),
            Role::Site => Scope::Site(shared::domain::values::SiteCode::parse(&code(), "area")?),
            Role::District => Scope::District(DistrictCode::parse(&code(), "area")?),
            Role::Centre => Scope::Centre,
        };
        Ok(Staff {
            id: self.account.clone(),
            role: self.role,
            scope,
            admin: self.admin,
            district: self.district.clone(),
        })
    }
}

#[derive(Clone)]
pub struct StaffToken {
    pub account: String,
    raw: String,
}

impl std::fmt::Debug for StaffToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaffToken({}.***)", self.account)
    }
}

/// Staff account names: 4–32 of `[a-z0-9_]` (lower-case, so one person can't hold `Li` and `li`).
pub fn valid_account(s: &str) -> bool {
    (4..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl StaffToken {
    pub fn new(account: &str) -> Self {
        StaffToken { account: account.to_string(), raw: format!("st-{account}.{}", shared::random::token(32)) }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix("st-")?;
        let (account, secret) = rest.split_once('.')?;
        let b64 = secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (valid_account(account) && b64).then(|| StaffToken { account: account.to_string(), raw: raw.to_string() })
    }
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn key(&self) -> Key {
        keys::staff_session(&self.raw)
    }
    /// What to read, in one batch, to resolve the token: its session and its account.
    pub fn keys(&self) -> [Key; 2] {
        [self.key(), keys::staff(&self.account)]
    }
}

fn refused(code: &'static str, message: &'static str) -> Refusal {
    Refusal::new(Kind::Unauthorized, code, message)
}

pub fn staff_unauthenticated() -> Refusal {
    refused("STAFF_UNAUTHENTICATED", "登录已失效,请重新登录")
}

/// The item a new staff session is stored as.
pub fn session_item(token: &StaffToken, epoch: u32, now: OffsetDateTime) -> Item {
    let key = token.key();
    let t = now.unix_timestamp();
    let v = json!({"pk": key.pk, "sk": key.sk, "type": "staff_session", "account": token.account,
                   "epoch": epoch, "created": t, "seen": t, "ttl": t + ABSOLUTE_SECS + 86_400});
    v.as_object().cloned().unwrap_or_default()
}

/// A resolved staff session: the principal, its account, and the write that moves its idle
/// clock forward when due (sent with the request's own write, or alone).
pub struct Resolved {
    pub staff: Staff,
    pub account: StaffAccount,
    pub touch: Option<Write>,
}

/// Resolve a token from its session item and account item, read together.
pub fn resolve(
    token: &StaffToken,
    session: Option<&Item>,
    account: Option<&Item>,
    now: OffsetDateTime,
) -> Result<Resolved, Refusal> {
    let session = session.ok_or_else(staff_unauthenticated)?;
    if attr(session, "account") != Some(token.account.as_str()) {
        return Err(staff_unauthenticated());
    }
    let num = |k: &str| session.get(k).and_then(Value::as_i64).unwrap_or(0);
    let t = now.unix_timestamp();
    if t - num("created") >= ABSOLUTE_SECS {
        return Err(refused("STAFF_SESSION_EXPIRED", "登录已超过最长时限,请重新登录"));
    }
    if t - num("seen") >= IDLE_SECS {
        return Err(refused("STAFF_SESSION_IDLE", "长时间未操作,已自动退出,请重新登录"));
    }
    let account: StaffAccount = decode(account.ok_or_else(staff_unauthenticated)?).map_err(Refusal::from)?.value;
    if account.disabled || i64::from(account.epoch) != num("epoch") {
        return Err(refused("STAFF_SESSION_REVOKED", "账号已被停用或重置,请联系管理员"));
    }
    let touch = (t - num("seen") >= TOUCH_SECS).then(|| {
        let mut item = session.clone();
        item.insert("seen".into(), json!(t));
        Write::Put { item, cond: Cond::Exists }
    });
    Ok(Resolved { staff: account.principal()?, account, touch })
}

/// The session's write to the table when the idle clock must move and nothing else is written.
pub async fn touch(table: &dyn store::Table, touch: Option<Write>) -> Result<(), StoreError> {
    match touch {
        Some(Write::Put { item, cond }) => table.put(item, cond).await,
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_tokens_are_not_candidate_tokens_and_the_other_way_round() {
        let t = StaffToken::new("site_4101");
        assert!(StaffToken::parse(t.as_str()).is_some());
        assert!(crate::session::SessionToken::parse(t.as_str()).is_none());
        let c = crate::session::SessionToken::new(&"a".repeat(32));
        assert!(StaffToken::parse(c.as_str()).is_none());
        assert!(StaffToken::parse("st-Site.xxx").is_none());
    }
}
