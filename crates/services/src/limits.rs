//! Abuse limits — password guessing, mass registration, upload-ticket minting — as counters in
//! the table (`Table::count`: atomic, one round trip), so they hold across every Lambda instance.

use shared::error::{Kind, Refusal};
use store::Table;
use store::layout::keys;
use time::{OffsetDateTime, UtcOffset};

/// A limit: at most `max` in each fixed window of `window_secs`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub scope: &'static str,
    pub max: u64,
    pub window_secs: i64,
}

/// Failed password logins per account: the fifth in a window locks the account for
/// [`LOCK_SECS`] (等保 2.0 level 3 asks for lockout; the candidate can still log in with WeChat
/// or face verification, R2).
pub const LOGIN_FAILURES: Limit = Limit { scope: "login-fail", max: 5, window_secs: 15 * 60 };
pub const LOCK_SECS: i64 = 15 * 60;
/// Failed password logins per source address, whatever the account: stops one address trying
/// a few passwords on many accounts. Generous, because a hospital or a carrier-grade NAT puts
/// hundreds of candidates behind one address in the same fortnight.
pub const LOGIN_FAILURES_PER_SOURCE: Limit = Limit { scope: "login-fail-src", max: 100, window_secs: 15 * 60 };
/// Registrations per source address (same reasoning: generous).
pub const REGISTRATIONS_PER_SOURCE: Limit = Limit { scope: "register-src", max: 200, window_secs: 60 * 60 };
/// Upload tickets per candidate (photo and materials): a real upload needs a handful.
pub const UPLOAD_TICKETS: Limit = Limit { scope: "upload-ticket", max: 60, window_secs: 60 * 60 };

impl Limit {
    /// The window `now` falls in: its start and end (Unix seconds).
    pub fn window(&self, now: OffsetDateTime) -> (i64, i64) {
        let t = now.unix_timestamp();
        let start = t - t.rem_euclid(self.window_secs);
        (start, start + self.window_secs)
    }

    /// The counter item of `subject`'s current window (to read in a batch with other items).
    pub fn key(&self, subject: &str, now: OffsetDateTime) -> store::Key {
        keys::limit(self.scope, subject, self.window(now).0)
    }

    /// Whether a counter item read in a batch has reached the limit.
    pub fn reached(&self, counter: Option<&store::Item>) -> bool {
        counter.and_then(|i| i.get("n")).and_then(serde_json::Value::as_u64).is_some_and(|n| n >= self.max)
    }

    /// Take one unit for `subject`, or refuse with `TOO_MANY_REQUESTS` and when to try again.
    pub async fn take(&self, table: &dyn Table, subject: &str, now: OffsetDateTime) -> Result<u64, Refusal> {
        let (start, end) = self.window(now);
        match table.count(&keys::limit(self.scope, subject, start), self.max, end).await? {
            Some(n) => Ok(n),
            None => Err(too_many(end)),
        }
    }

    /// Count one more (a failure), not refusing: the count after, `max + 1` once past the limit.
    pub async fn note(&self, table: &dyn Table, subject: &str, now: OffsetDateTime) -> Result<u64, Refusal> {
        let (start, end) = self.window(now);
        Ok(table.count(&keys::limit(self.scope, subject, start), self.max, end).await?.unwrap_or(self.max + 1))
    }
}

/// Beijing time, `HH:MM`, for "try again after …" messages.
pub fn beijing_hhmm(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC));
    format!("{:02}:{:02}", t.hour(), t.minute())
}

pub fn too_many(until: i64) -> Refusal {
    Refusal::new(
        Kind::TooMany,
        "TOO_MANY_REQUESTS",
        format!("操作过于频繁,请于{}(北京时间)后再试", beijing_hhmm(until)),
    )
}

/// The account is locked after repeated wrong passwords, until `until`.
pub fn locked(until: i64) -> Refusal {
    Refusal::new(
        Kind::TooMany,
        "ACCOUNT_LOCKED",
        format!("密码错误次数过多,账号已锁定至{}(北京时间);可届时再试,或使用微信、面容ID登录", beijing_hhmm(until)),
    )
    .field("password")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_the_message_gives_beijing_time() {
        let now = OffsetDateTime::from_unix_timestamp(1_733_100_000).unwrap(); // 2024-12-02 00:40 UTC
        let (start, end) = LOGIN_FAILURES.window(now);
        assert_eq!((start % 900, end - start), (0, 900));
        assert!(start <= now.unix_timestamp() && now.unix_timestamp() < end);
        assert_eq!(beijing_hhmm(end), "08:45");
        assert!(locked(end).message.contains("08:45"));
        assert_eq!(locked(end).kind.status(), 429);
    }
}
