//! The staff audit trail (等保 2.0 level 3, 8.1.4.3; Cybersecurity Law Art. 21: kept at least
//! six months): who did or looked at what, when, and with what outcome. One item per action,
//! written with `NotExists` so none is ever overwritten; no route edits or deletes one; a
//! district admin reads their district's, day by day. A decision's record is written in the
//! same transaction as the decision, so there is never one without the other.

use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{Cond, Item, Key, StoreError, Write, encode, keys};
use time::{OffsetDateTime, UtcOffset};

/// Records live 400 days: past the six months the law asks, and past one whole exam year, so
/// last year's season can be compared with this one's.
pub const KEEP_DAYS: i64 = 400;

/// The area a record is filed under when it has no district (the centre's own actions).
pub const CENTRE: &str = "CENTRE";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The staff account.
    pub staff: String,
    pub role: String,
    /// What was done or looked at: `confirm`, `approve_site`, `view_application`, `login`, ….
    pub action: String,
    /// `<candidate id>/<project>` for an application, the account for a staff account.
    #[serde(default)]
    pub target: Option<String>,
    /// `ok`, or the code of the refusal.
    pub outcome: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl AuditRecord {
    /// What `staff` did (`action`) to `target`, with what `outcome`, at `at`.
    pub fn of(
        staff: &crate::principal::Staff,
        action: &str,
        target: Option<String>,
        outcome: &str,
        at: OffsetDateTime,
    ) -> AuditRecord {
        AuditRecord {
            staff: staff.id.clone(),
            role: staff.role.as_str().to_string(),
            action: action.to_string(),
            target,
            outcome: outcome.to_string(),
            at,
        }
    }
}

/// File a refusal's record on its own write, after the refusal: a failure here is logged and
/// the refusal still answered (a decision's record, by contrast, rides in its transaction).
pub async fn note_refusal(table: &dyn store::Table, area: &str, rec: &AuditRecord) {
    let written = match item(area, rec) {
        Ok(item) => table.put(item, Cond::NotExists).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::error!(error = %e, staff = %rec.staff, action = %rec.action, "audit record of a refusal not written");
    }
}

/// The Beijing calendar day of `t`, `YYYYMMDD` (a clerk's "today" is Beijing's).
pub fn day(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC));
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The item of one record, filed under `area` (a district code, or [`CENTRE`]).
pub fn item(area: &str, rec: &AuditRecord) -> Result<Item, StoreError> {
    let ms = rec.at.unix_timestamp_nanos() / 1_000_000;
    let key =
        Key::new(keys::audit_day(area, &day(rec.at)), format!("{ms:013}#{}#{}", rec.staff, &shared::random::id()[..8]));
    let expires = rec.at.unix_timestamp() + KEEP_DAYS * 86_400;
    encode(&key, "audit", 1, rec, &[("ttl", json!(expires))])
}

/// The write that files `rec`: never over another record.
pub fn write(area: &str, rec: &AuditRecord) -> Result<Write, StoreError> {
    Ok(Write::Put { item: item(area, rec)?, cond: Cond::NotExists })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn records_are_filed_by_beijing_day_and_kept_past_six_months() {
        let rec = AuditRecord {
            staff: "site_clerk".into(),
            role: "site".into(),
            action: "confirm".into(),
            target: Some("c/2025-health".into()),
            outcome: "ok".into(),
            at: datetime!(2024-12-01 17:30 UTC), // 01:30 on the 2nd in Beijing
        };
        let item = item("41", &rec).unwrap();
        assert_eq!(item["pk"], "AUDIT#41#20241202");
        assert!(item["sk"].as_str().unwrap().starts_with("1733074200000#site_clerk#"));
        let kept_days = (item["ttl"].as_i64().unwrap() - rec.at.unix_timestamp()) / 86_400;
        assert!(kept_days >= 183, "{kept_days}");
    }
}
