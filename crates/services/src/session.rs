//! Candidate sessions: bearer tokens whose SHA-256 keys a session item in the table, so logout
//! (or an operator) revokes one at once. The token is `<candidate id>.<256-bit secret>`: the id
//! lets a request read the session together with the candidate's data in one round trip, while
//! only the secret proves the session.

use serde_json::{Value, json};
use shared::error::{Kind, Refusal};
use store::{Item, Key, attr, keys};
use time::OffsetDateTime;

/// Sessions last a working day: long enough to fill the form, short enough that a lost phone's
/// session dies the same day. Logout revokes earlier.
pub const SESSION_HOURS: i64 = 12;

#[derive(Clone)]
pub struct SessionToken {
    pub candidate_id: String,
    raw: String,
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionToken({}.***)", self.candidate_id)
    }
}

impl SessionToken {
    pub fn new(candidate_id: &str) -> Self {
        SessionToken {
            candidate_id: candidate_id.to_string(),
            raw: format!("{candidate_id}.{}", shared::random::token(32)),
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        let (cid, secret) = raw.split_once('.')?;
        let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let b64 = |s: &str| s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (hex(cid) && b64(secret)).then(|| SessionToken { candidate_id: cid.to_string(), raw: raw.to_string() })
    }
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn key(&self) -> Key {
        keys::session(&self.raw)
    }
}

pub fn unauthorized() -> Refusal {
    Refusal::new(Kind::Unauthorized, "UNAUTHENTICATED", "登录已失效,请重新登录")
}

/// Check a session item read under `token.key()`: present, the token's candidate, not expired.
pub fn check_session(item: Option<&Item>, token: &SessionToken, now: OffsetDateTime) -> Result<(), Refusal> {
    let item = item.ok_or_else(unauthorized)?;
    let expires = item.get("expires").and_then(Value::as_i64).unwrap_or(0);
    if attr(item, "cid") != Some(token.candidate_id.as_str()) || now.unix_timestamp() >= expires {
        return Err(unauthorized());
    }
    Ok(())
}

/// The item a new session is stored as, and when it expires.
pub fn session_item(token: &SessionToken, now: OffsetDateTime, ttl: time::Duration) -> (Item, OffsetDateTime) {
    let expires = now + ttl;
    let key = token.key();
    let mut item = Item::new();
    item.insert("pk".into(), json!(key.pk));
    item.insert("sk".into(), json!(key.sk));
    item.insert("type".into(), json!("session"));
    item.insert("cid".into(), json!(token.candidate_id));
    item.insert("expires".into(), json!(expires.unix_timestamp()));
    // DynamoDB TTL removes dead sessions eventually; `expires` is what we check (TTL lags days).
    item.insert("ttl".into(), json!(expires.unix_timestamp() + 86_400));
    (item, expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_have_one_shape() {
        let t = SessionToken::new("0123456789abcdef0123456789abcdef");
        assert!(SessionToken::parse(t.as_str()).is_some());
        assert!(SessionToken::parse("0123456789abcdef0123456789abcdef").is_none());
        assert!(SessionToken::parse("x.y").is_none());
        assert!(!format!("{t:?}").contains(&t.as_str()[33..]), "secret never in Debug");
    }
}
