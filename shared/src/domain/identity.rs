//! Identity documents and the immutable identity of a candidate (R3, R21).
//!
//! The 居民身份证 number is checked with the GB 11643 / ISO 7064 MOD 11-2 check digit, and the
//! birth date and sex it encodes must agree with what the candidate typed. Debug output of every
//! ID number is masked: it is sensitive personal information under PIPL.

use super::values::{PersonName, date_fmt, parse_date};
use crate::error::Refusal;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use time::{Date, Month};

/// Accepted document types (design, DOMAIN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 居民身份证
    ResidentId,
    /// 港澳居民来往内地通行证
    HkMacauPermit,
    /// 台湾居民来往大陆通行证
    TaiwanPermit,
    /// 护照
    Passport,
    /// 外国人永久居留身份证
    ForeignPermanentResident,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

/// A validated document number of a given type. Serialised in clear only into storage.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdDocument {
    pub id_type: IdType,
    number: String,
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// Facts an 18-digit resident ID encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidentIdFacts {
    pub birth_date: Date,
    pub gender: Gender,
}

impl IdDocument {
    pub fn parse(id_type: IdType, raw: &str) -> Result<Self, Refusal> {
        let number = raw.trim().to_ascii_uppercase();
        let err = || Refusal::bad("INVALID_ID_NUMBER", "证件号码不正确").field("id_number");
        let ok = match id_type {
            IdType::ResidentId => resident_facts(&number).is_some(),
            // 港澳: H/M + 8 or 10 digits; 台湾: 8 digits (current card) or 10 with letter prefix.
            IdType::HkMacauPermit => {
                let b = number.as_bytes();
                (b.len() == 9 || b.len() == 11)
                    && (b[0] == b'H' || b[0] == b'M')
                    && b[1..].iter().all(u8::is_ascii_digit)
            }
            IdType::TaiwanPermit => {
                let n = number.len();
                (8..=10).contains(&n) && number.bytes().all(|b| b.is_ascii_alphanumeric())
            }
            IdType::Passport => {
                let n = number.len();
                (5..=20).contains(&n) && number.bytes().all(|b| b.is_ascii_alphanumeric())
            }
            // 外国人永久居留身份证: 15 (old) or 18 (2023 format) characters.
            IdType::ForeignPermanentResident => {
                let n = number.len();
                (n == 15 || n == 18) && number.bytes().all(|b| b.is_ascii_alphanumeric())
            }
        };
        if !ok {
            return Err(err());
        }
        Ok(IdDocument { id_type, number })
    }

    /// The number in clear: for storage and the printed form only.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// `1101**********002X`: first four and last four characters.
    pub fn masked(&self) -> String {
        let n = self.number.len();
        if n <= 8 {
            return "*".repeat(n);
        }
        format!("{}{}{}", &self.number[..4], "*".repeat(n - 8), &self.number[n - 4..])
    }

    /// The candidate id: HMAC-SHA256 keyed with a secret pepper over the document type and
    /// number, 128 bits in hex. Deriving the id from the document makes "one account per
    /// document" a property of the key itself, and lets every key on a request path — last
    /// year's record included — be computed from the session token without a lookup. A MAC, not
    /// a hash of key‖data: without the pepper the id reveals nothing and can't be forged; the
    /// pepper is a secret (Secrets Manager on AWS), and rotating it orphans ids.
    pub fn candidate_id(&self, pepper: &[u8]) -> String {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(pepper)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(serde_json::to_string(&self.id_type).unwrap_or_default().as_bytes());
        mac.update(&[0]);
        mac.update(self.number.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for IdDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdDocument({:?}, {})", self.id_type, self.masked())
    }
}

/// Check an 18-character resident ID (GB 11643) and return the birth date and sex it encodes.
pub fn resident_facts(number: &str) -> Option<ResidentIdFacts> {
    let b = number.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    if CHECK[(sum % 11) as usize] != b[17] {
        return None;
    }
    let y: i32 = number[6..10].parse().ok()?;
    let m: u8 = number[10..12].parse().ok()?;
    let d: u8 = number[12..14].parse().ok()?;
    let birth_date = Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()?;
    let gender = if (b[16] - b'0') % 2 == 1 { Gender::Male } else { Gender::Female };
    Some(ResidentIdFacts { birth_date, gender })
}

/// The identity of a candidate: fixed at registration, never editable through an application
/// (R3, R21). Every application shows these from the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: PersonName,
    pub document: IdDocument,
    pub gender: Gender,
    #[serde(with = "date_fmt")]
    pub birth_date: Date,
    /// Nationality as text (中国, or the country for foreign documents).
    pub nationality: String,
}

impl Identity {
    /// Build an identity, requiring gender and birth date to agree with a resident ID number.
    pub fn new(
        name: &str,
        id_type: IdType,
        id_number: &str,
        gender: Gender,
        birth_date: &str,
        nationality: &str,
    ) -> Result<Self, Refusal> {
        let name = PersonName::parse(name, "name")?;
        let document = IdDocument::parse(id_type, id_number)?;
        let birth_date = parse_date(birth_date, "birth_date")?;
        let nationality = super::values::parse_text(nationality, 40, "nationality")?;
        if let Some(facts) = resident_facts(document.number()) {
            if facts.birth_date != birth_date {
                return Err(Refusal::bad("ID_BIRTH_DATE_MISMATCH", "出生日期与身份证号码不一致").field("birth_date"));
            }
            if facts.gender != gender {
                return Err(Refusal::bad("ID_GENDER_MISMATCH", "性别与身份证号码不一致").field("gender"));
            }
        }
        Ok(Identity { name, document, gender, birth_date, nationality })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r3_resident_id_check_digit_follows_gb11643() {
        // Examples from FACTS.md: two valid, one with a wrong check digit.
        assert!(resident_facts("11010519491231002X").is_some());
        assert!(resident_facts("440524188001010014").is_some());
        assert!(resident_facts("110105194912310021").is_none());
        assert!(IdDocument::parse(IdType::ResidentId, "110105194912310021").is_err());
    }

    #[test]
    fn r3_resident_id_encodes_birth_date_and_sex() {
        let f = resident_facts("11010519491231002X").unwrap();
        assert_eq!(f.birth_date, Date::from_calendar_date(1949, Month::December, 31).unwrap());
        assert_eq!(f.gender, Gender::Female); // 17th digit 2 is even
        let f = resident_facts("440524188001010014").unwrap();
        assert_eq!(f.gender, Gender::Male); // 17th digit 1 is odd
    }

    #[test]
    fn r3_gender_and_birth_date_must_agree_with_the_id_number() {
        let id = "11010519491231002X";
        assert!(Identity::new("张三", IdType::ResidentId, id, Gender::Female, "1949-12-31", "中国").is_ok());
        let e = Identity::new("张三", IdType::ResidentId, id, Gender::Male, "1949-12-31", "中国").unwrap_err();
        assert_eq!(e.code, "ID_GENDER_MISMATCH");
        let e = Identity::new("张三", IdType::ResidentId, id, Gender::Female, "1950-01-01", "中国").unwrap_err();
        assert_eq!(e.code, "ID_BIRTH_DATE_MISMATCH");
    }

    #[test]
    fn lowercase_x_is_accepted_as_the_check_character() {
        assert!(IdDocument::parse(IdType::ResidentId, "11010519491231002x").is_ok());
    }

    #[test]
    fn id_numbers_never_print_in_clear() {
        let d = IdDocument::parse(IdType::ResidentId, "11010519491231002X").unwrap();
        assert_eq!(d.masked(), "1101**********002X");
        assert!(!format!("{d:?}").contains("19491231"));
    }

    #[test]
    fn other_document_types_have_their_own_shapes() {
        assert!(IdDocument::parse(IdType::HkMacauPermit, "H12345678").is_ok());
        assert!(IdDocument::parse(IdType::HkMacauPermit, "X12345678").is_err());
        assert!(IdDocument::parse(IdType::Passport, "E12345678").is_ok());
        assert!(IdDocument::parse(IdType::Passport, "E1").is_err());
    }

    #[test]
    fn candidate_id_depends_on_pepper_type_and_number_and_has_the_token_shape() {
        let a = IdDocument::parse(IdType::ResidentId, "11010519491231002X").unwrap();
        let b = IdDocument::parse(IdType::Passport, "11010519491231002X").unwrap();
        assert_ne!(a.candidate_id(b"p"), b.candidate_id(b"p"));
        assert_ne!(a.candidate_id(b"p"), a.candidate_id(b"q"));
        assert_eq!(a.candidate_id(b"p"), a.candidate_id(b"p"));
        let id = a.candidate_id(b"p");
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !id.contains("1949"));
        // A keyed MAC (RFC 2104), not SHA-256(key‖data): the value Python's `hmac` module gives,
        // `hmac.new(b"pepper-0123", b'"resident_id"\x00' + number, sha256).hexdigest()[:32]`.
        assert_eq!(a.candidate_id(b"pepper-0123"), "04991abffbcf1bf9589d987895a5724f");
    }
}
