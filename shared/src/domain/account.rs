//! The candidate's account on 考生管理平台 (R1–R3): identity, contact, degree records, photo.

use super::identity::Identity;
use super::values::{Phone, Sensitive, YearMonth};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Highest education (学历), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EducationLevel {
    /// 中专
    Secondary,
    /// 大专
    College,
    /// 本科
    Bachelor,
    /// 硕士研究生
    Master,
    /// 博士研究生
    Doctor,
}

/// A maintained 学历学位信息 record (R1, R11). Applications reference one by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DegreeRecord {
    pub id: String,
    pub level: EducationLevel,
    pub school: String,
    pub major: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2018-07"))]
    pub graduated: YearMonth,
    /// 学位 (学士/硕士/博士), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degree: Option<String>,
}

impl DegreeRecord {
    /// What R33 compares: the same school, major and level as last year.
    pub fn same_education(&self, other: &DegreeRecord) -> bool {
        self.level == other.level && self.school == other.school && self.major == other.major
    }
}

/// Where a photo lives in object storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoRef {
    pub key: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    pub id: String,
    pub account: String,
    /// Argon2id PHC string; never leaves the server.
    pub password_hash: Sensitive,
    pub identity: Identity,
    pub phone: Phone,
    #[serde(default)]
    pub degrees: Vec<DegreeRecord>,
    #[serde(default)]
    pub photo: Option<PhotoRef>,
    /// The bound mini-program user (R2): reminders go there.
    #[serde(default)]
    pub openid: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Candidate {
    pub fn degree(&self, id: &str) -> Option<&DegreeRecord> {
        self.degrees.iter().find(|d| d.id == id)
    }
}

/// Account names (R1): 4–32 ASCII letters, digits or `_`, compared case-insensitively (the
/// marker key lower-cases them).
pub fn parse_account_name(raw: &str) -> Result<String, crate::error::Refusal> {
    let s = raw.trim();
    if !(4..=32).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(crate::error::Refusal::bad("INVALID_ACCOUNT", "账号应为4-32位字母、数字或下划线").field("account"));
    }
    Ok(s.to_string())
}

/// Password policy (R1): 8–64 characters with at least one letter and one digit.
pub fn check_password_policy(p: &str) -> Result<(), crate::error::Refusal> {
    let n = p.chars().count();
    if !(8..=64).contains(&n) || !p.chars().any(|c| c.is_ascii_alphabetic()) || !p.chars().any(|c| c.is_ascii_digit()) {
        return Err(
            crate::error::Refusal::bad("WEAK_PASSWORD", "密码应为8-64位,且同时包含字母和数字").field("password")
        );
    }
    Ok(())
}

/// At most this many degree records per account (R1, R11).
pub const MAX_DEGREES: usize = 10;
