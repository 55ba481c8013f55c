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
    /// The latest judged uploads of a registration photo (R13): what setting the photo accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<crate::domain::upload::CheckedUpload>,
    /// The bound WeChat mini-program user (R2): reminders go there.
    #[serde(default)]
    pub openid: Option<String>,
    /// The bound Baidu smart-program user (R2), for a candidate who uses that app.
    #[serde(default)]
    pub baidu_openid: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Candidate {
    pub fn degree(&self, id: &str) -> Option<&DegreeRecord> {
        self.degrees.iter().find(|d| d.id == id)
    }

    /// The user of `program` bound to this account, if any.
    pub fn mini_user(&self, program: MiniProgram) -> Option<&str> {
        match program {
            MiniProgram::Wechat => self.openid.as_deref(),
            MiniProgram::Baidu => self.baidu_openid.as_deref(),
        }
    }

    pub fn mini_user_mut(&mut self, program: MiniProgram) -> &mut Option<String> {
        match program {
            MiniProgram::Wechat => &mut self.openid,
            MiniProgram::Baidu => &mut self.baidu_openid,
        }
    }

    /// R2: a mini-program user is bound, so the candidate can be reached (R16).
    pub fn reachable(&self) -> bool {
        self.openid.is_some() || self.baidu_openid.is_some()
    }
}

/// The mini-programs a candidate registers from (R2: "binds the WeChat/Baidu user"). Each has
/// its own users (openids), its own login code and its own binding; one user of one program ↔
/// one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MiniProgram {
    Wechat,
    Baidu,
}

impl MiniProgram {
    /// The prefix of this program's stable error codes (`WECHAT_…`, `BAIDU_…`).
    pub fn code_prefix(self) -> &'static str {
        match self {
            MiniProgram::Wechat => "WECHAT",
            MiniProgram::Baidu => "BAIDU",
        }
    }

    /// How the candidate knows it, in messages.
    pub fn name(self) -> &'static str {
        match self {
            MiniProgram::Wechat => "微信",
            MiniProgram::Baidu => "百度账号",
        }
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
