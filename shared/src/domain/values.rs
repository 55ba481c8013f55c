//! Value newtypes parsed once at the edge: names, phones, dates, year-months, money, codes.
//!
//! Every constructor returns a [`Refusal`] naming the field, so a handler turns a wire DTO into
//! domain values with `?` and the client learns exactly which field is wrong.

use crate::error::Refusal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use time::{Date, Month};

fn bad(code: &'static str, message: &'static str, field: &str) -> Refusal {
    Refusal::bad(code, message).field(field.to_string())
}

/// A person's name as on the ID document: 1–50 characters — Chinese characters (CJK unified
/// ideographs with extension A, compatibility ideographs) or Latin letters (with the accented
/// ones of Latin-1 and Latin Extended-A/B), and inside the name `·` `•` `-` `.` or a space
/// (`阿依古丽·买买提`, `Anna-Maria Smith`). Starts and ends with a letter. Exactly
/// [`PERSON_NAME_PATTERN`], which the OpenAPI document declares.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

/// [`PersonName`]'s rule as a regular expression (ECMA-262 and Python alike).
pub const PERSON_NAME_PATTERN: &str = "^[A-Za-z\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff](?:[A-Za-z\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff \\u00b7\\u2022.\\-]{0,48}[A-Za-z\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff])?$";

fn name_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || matches!(c, '\u{c0}'..='\u{d6}' | '\u{d8}'..='\u{f6}' | '\u{f8}'..='\u{24f}')
        || matches!(c, '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}')
}

impl PersonName {
    pub fn parse(raw: &str, field: &str) -> Result<Self, Refusal> {
        let chars: Vec<char> = raw.chars().collect();
        let inner = |c: &char| name_letter(*c) || matches!(c, ' ' | '·' | '•' | '.' | '-');
        let ok = match chars.as_slice() {
            [] => false,
            [one] => name_letter(*one),
            [first, middle @ .., last] => {
                chars.len() <= 50 && name_letter(*first) && name_letter(*last) && middle.iter().all(inner)
            }
        };
        if !ok {
            return Err(bad("INVALID_NAME", "姓名格式不正确", field));
        }
        Ok(PersonName(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `张*`, `欧阳**`: enough for a clerk to recognise, not enough to identify.
    pub fn masked(&self) -> String {
        let mut chars = self.0.chars();
        let first = chars.next().map(String::from).unwrap_or_default();
        first + &"*".repeat(chars.count())
    }
}
impl TryFrom<String> for PersonName {
    type Error = Refusal;
    fn try_from(s: String) -> Result<Self, Refusal> {
        Self::parse(&s, "name")
    }
}
impl From<PersonName> for String {
    fn from(n: PersonName) -> String {
        n.0
    }
}
impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName({})", self.masked())
    }
}

/// A string that is personal information or a credential — an ID number, a phone number, a
/// password, a password hash — as it arrives or is stored, before or beside its parsed form.
/// Serialised as it is; `Debug` shows only its length, so a `{:?}` of a request, a record or an
/// error can never carry it into a log (PIPL). Reading it takes [`Sensitive::expose`], a
/// visible step.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(s: impl Into<String>) -> Self {
        Sensitive(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Sensitive {
    fn from(s: String) -> Self {
        Sensitive(s)
    }
}

impl From<&str> for Sensitive {
    fn from(s: &str) -> Self {
        Sensitive(s.to_string())
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sensitive(<{} chars>)", self.0.chars().count())
    }
}

/// A mainland mobile number: 11 digits, `1[3-9]…`. Debug output is masked (PIPL).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str, field: &str) -> Result<Self, Refusal> {
        let s = raw.trim();
        let b = s.as_bytes();
        if b.len() != 11 || b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) || !b.iter().all(u8::is_ascii_digit) {
            return Err(bad("INVALID_PHONE", "手机号码格式不正确", field));
        }
        Ok(Phone(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `138****5678`
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}
impl TryFrom<String> for Phone {
    type Error = Refusal;
    fn try_from(s: String) -> Result<Self, Refusal> {
        Self::parse(&s, "phone")
    }
}
impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

/// A calendar year and month, `YYYY-MM` on the wire (首次注册年月, 住培证书发证年月).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct YearMonth {
    year: u16,
    month: u8,
}

impl YearMonth {
    pub fn parse(raw: &str, field: &str) -> Result<Self, Refusal> {
        let err = || bad("INVALID_YEAR_MONTH", "年月格式应为YYYY-MM", field);
        let (y, m) = raw.trim().split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(err());
        }
        let year: u16 = y.parse().map_err(|_| err())?;
        let month: u8 = m.parse().map_err(|_| err())?;
        if !(1900..=2100).contains(&year) || !(1..=12).contains(&month) {
            return Err(err());
        }
        Ok(YearMonth { year, month })
    }
    pub fn new(year: u16, month: u8) -> Option<Self> {
        ((1..=12).contains(&month)).then_some(YearMonth { year, month })
    }
    pub fn year(self) -> u16 {
        self.year
    }
    /// The first day of this month, for comparing with dates.
    pub fn first_day(self) -> Date {
        Month::try_from(self.month)
            .ok()
            .and_then(|m| Date::from_calendar_date(self.year.into(), m, 1).ok())
            .unwrap_or(Date::MIN)
    }
}
impl TryFrom<String> for YearMonth {
    type Error = Refusal;
    fn try_from(s: String) -> Result<Self, Refusal> {
        Self::parse(&s, "year_month")
    }
}
impl From<YearMonth> for String {
    fn from(v: YearMonth) -> String {
        v.to_string()
    }
}
impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}
impl fmt::Debug for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parse a calendar date `YYYY-MM-DD` (birth date, document expiry).
pub fn parse_date(raw: &str, field: &str) -> Result<Date, Refusal> {
    let err = || bad("INVALID_DATE", "日期格式应为YYYY-MM-DD", field);
    let raw = raw.trim();
    let b = raw.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(err());
    }
    let y: i32 = raw[..4].parse().map_err(|_| err())?;
    let m: u8 = raw[5..7].parse().map_err(|_| err())?;
    let d: u8 = raw[8..].parse().map_err(|_| err())?;
    let month = Month::try_from(m).map_err(|_| err())?;
    Date::from_calendar_date(y, month, d).map_err(|_| err())
}

/// A date as `YYYY-MM-DD`, the one format dates take on the wire.
pub fn ymd(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Serde helpers for `time::Date` as `YYYY-MM-DD`.
pub mod date_fmt {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::ymd(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_date(&s, "date").map_err(|e| serde::de::Error::custom(e.message))
    }
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::Date;
        pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| super::super::parse_date(&s, "date").map_err(|e| serde::de::Error::custom(e.message))).transpose()
        }
    }
}

/// Money in 分 (1/100 元). Never floats (FACTS: amounts are integers in 分 everywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", schema(value_type = u64))]
pub struct Fen(pub u64);

impl Fen {
    pub fn times(self, n: u64) -> Option<Fen> {
        self.0.checked_mul(n).map(Fen)
    }
}
impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}元", self.0 / 100, self.0 % 100)
    }
}

/// A short reference-data code: ASCII letters, digits, `-` and `_`, 1–40 characters. The marker
/// `K` says what it names, so a site code can't be passed where a district is expected. Whether
/// it *exists* is checked against reference data.
pub struct Code<K>(String, PhantomData<fn() -> K>);

/// Markers for [`Code`].
pub mod kinds {
    #[derive(Debug)]
    pub enum Project {}
    #[derive(Debug)]
    pub enum District {}
    #[derive(Debug)]
    pub enum Site {}
    #[derive(Debug)]
    pub enum Point {}
    #[derive(Debug)]
    pub enum Specialty {}
    #[derive(Debug)]
    pub enum Category {}
}

pub type ProjectCode = Code<kinds::Project>;
pub type DistrictCode = Code<kinds::District>;
pub type SiteCode = Code<kinds::Site>;
pub type PointCode = Code<kinds::Point>;
pub type SpecialtyCode = Code<kinds::Specialty>;
pub type CategoryCode = Code<kinds::Category>;

impl<K> Code<K> {
    pub fn parse(raw: &str, field: &str) -> Result<Self, Refusal> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(bad("INVALID_CODE", "代码格式不正确", field));
        }
        Ok(Code(s.to_string(), PhantomData))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
// Manual impls: derives would demand the same traits of the marker `K`.
impl<K> Clone for Code<K> {
    fn clone(&self) -> Self {
        Code(self.0.clone(), PhantomData)
    }
}
impl<K> PartialEq for Code<K> {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl<K> Eq for Code<K> {}
impl<K> PartialOrd for Code<K> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<K> Ord for Code<K> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}
impl<K> std::hash::Hash for Code<K> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}
impl<K> Serialize for Code<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de, K> Deserialize<'de> for Code<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Code::parse(&s, "code").map_err(|e| serde::de::Error::custom(e.message))
    }
}
impl<K> fmt::Display for Code<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl<K> fmt::Debug for Code<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Free text with a length cap (address, unit name): trimmed, non-empty, no control characters.
pub fn parse_text(raw: &str, max_chars: usize, field: &str) -> Result<String, Refusal> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Refusal::bad("REQUIRED", "此项不能为空").field(field.to_string()));
    }
    if s.chars().count() > max_chars || s.chars().any(char::is_control) {
        return Err(Refusal::bad("INVALID_TEXT", "内容过长或含有非法字符").field(field.to_string()));
    }
    Ok(s.to_string())
}

/// Percent-decoding of a path segment or query value (bytes, then UTF-8, lossy).
pub fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Work on bytes, never on `str` slices: a `%` before a multi-byte character must not panic.
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_utf8_and_stray_percent() {
        assert_eq!(percent_decode("%E5%8C%97%E4%BA%AC"), "北京");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%北"), "%北");
    }

    #[test]
    fn phone_accepts_mainland_mobiles_and_masks_them() {
        let p = Phone::parse("13812345678", "phone").unwrap();
        assert_eq!(p.masked(), "138****5678");
        assert!(!format!("{p:?}").contains("1234"));
        for bad in ["1381234567", "12812345678", "138123456789", "1381234567a"] {
            assert_eq!(Phone::parse(bad, "phone").unwrap_err().code, "INVALID_PHONE", "{bad}");
        }
    }

    #[test]
    fn year_month_parses_strictly() {
        assert_eq!(YearMonth::parse("2020-07", "f").unwrap().to_string(), "2020-07");
        for bad in ["2020-13", "2020-7", "20-07", "2020/07", ""] {
            assert!(YearMonth::parse(bad, "f").is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_reject_impossible_days() {
        assert!(parse_date("2024-02-29", "d").is_ok());
        assert!(parse_date("2023-02-29", "d").is_err());
        assert!(parse_date("2023-2-01", "d").is_err());
    }

    #[test]
    fn names_mask_all_but_the_first_character() {
        let n = PersonName::parse("欧阳娜娜", "name").unwrap();
        assert_eq!(n.masked(), "欧***");
        assert!(PersonName::parse("张<script>", "name").is_err());
        assert!(PersonName::parse("", "name").is_err());
    }

    #[test]
    fn fen_multiplies_without_overflow_and_prints_yuan() {
        assert_eq!(Fen(7000).times(4), Some(Fen(28000)));
        assert_eq!(Fen(28000).to_string(), "280.00元");
        assert_eq!(Fen(u64::MAX).times(2), None);
    }
}
