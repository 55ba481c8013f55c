//! Historical candidates (历史考生): last year's registration and results, the prefill they
//! give (R32) and the subjects that roll over (R35, R38, R39).
//!
//! Last year's records are imported (JSON Lines, one [`LastYear`] per line; see
//! `shared/reference/README.md`) into the table, keyed by a hash of the ID document.

use super::account::DegreeRecord;
use super::application::{BasicPage, ContactPage};
use super::identity::IdType;
use super::values::{CategoryCode, DistrictCode, PointCode, Sensitive, SiteCode, SpecialtyCode, YearMonth};
use crate::reference::{ExamKind, Level, PracticeCategory, Reference};
use serde::{Deserialize, Serialize};

/// A subject's result last year; `score` is `None` when it was not sat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubjectResult {
    pub subject: String,
    pub score: Option<u8>,
}

pub const PASS_MARK: u8 = 60;

/// One line of the import file: what a candidate registered and scored last year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LastYear {
    pub kind: ExamKind,
    pub year: u16,
    pub id_type: IdType,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id_number: Sensitive,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub district: DistrictCode,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub site: SiteCode,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub point: Option<PointCode>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub category: CategoryCode,
    pub level: Level,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub specialty: SpecialtyCode,
    pub practice_category: PracticeCategory,
    #[serde(default)]
    pub education: Option<DegreeRecord>,
    pub work_unit: String,
    #[serde(default)]
    pub work_unit_category: Option<String>,
    /// 参加工作年月 (R32 prefill of the work page; without it that page is not carried over).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub started_work: Option<YearMonth>,
    /// 首次注册年月 as on last year's 报考信息 page (R9).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub first_registration: Option<YearMonth>,
    /// 住培合格证书发证年月, when the candidate held the certificate (R10).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub residency_certificate_issued: Option<YearMonth>,
    /// Last year's 基本信息 page (R32 prefill); absent from records imported without it.
    #[serde(default)]
    pub basic: Option<BasicPage>,
    /// Last year's 联系方式 page (R32 prefill); the phone is masked wherever it is shown.
    #[serde(default)]
    pub contact: Option<ContactPage>,
    pub results: Vec<SubjectResult>,
    /// 缺考 (R38)
    #[serde(default)]
    pub absent: bool,
    /// 违纪 (R38)
    #[serde(default)]
    pub disqualified: bool,
}

/// What the application keeps about a historical candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Historical {
    /// Subjects the candidate must sit this year if they stay in the same specialty (R35).
    pub required_subjects: Vec<String>,
    /// Last year's record: prefill for the pages (R32) and the R33 comparison.
    pub last: LastYear,
}

/// R38: absent or disqualified last year is not historical. R35: passes roll only where the
/// exam kind rolls (卫生资格, not 护士); a subject passed last year need not be sat again.
pub fn historical(last: LastYear, reference: &Reference) -> Option<Historical> {
    if last.absent || last.disqualified {
        return None;
    }
    let subjects = reference.subjects(last.kind);
    let passed = |code: &str| {
        reference.rolls(last.kind)
            && last.results.iter().any(|r| r.subject == code && r.score.is_some_and(|s| s >= PASS_MARK))
    };
    let mut required: Vec<String> = subjects.iter().filter(|s| !passed(&s.code)).map(|s| s.code.clone()).collect();
    if required.is_empty() {
        // Everything passed last year: the qualification is complete; a new sitting starts over.
        required = subjects.iter().map(|s| s.code.clone()).collect();
    }
    Some(Historical { required_subjects: required, last })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::values::Code;

    pub(crate) fn last_year(results: &[(&str, Option<u8>)]) -> LastYear {
        LastYear {
            kind: ExamKind::Health,
            year: 2024,
            id_type: IdType::ResidentId,
            id_number: "440524188001010014".into(),
            name: "李四".into(),
            district: Code::parse("41", "d").unwrap(),
            site: Code::parse("4101", "s").unwrap(),
            point: None,
            category: Code::parse("nursing", "c").unwrap(),
            level: Level::Intermediate,
            specialty: Code::parse("368", "s").unwrap(),
            practice_category: PracticeCategory::Nurse,
            education: None,
            work_unit: "郑州市第一人民医院".into(),
            work_unit_category: None,
            started_work: None,
            first_registration: None,
            residency_certificate_issued: None,
            basic: None,
            contact: None,
            results: results.iter().map(|(s, sc)| SubjectResult { subject: s.to_string(), score: *sc }).collect(),
            absent: false,
            disqualified: false,
        }
    }

    #[test]
    fn last_years_record_and_the_candidate_record_never_print_an_id_number_phone_or_hash() {
        let last = format!("{:?}", last_year(&[("1", Some(75))]));
        assert!(!last.contains("440524188001010014") && !last.contains("18800101"), "{last}");
        let mut c = crate::domain::rules_tests::candidate();
        c.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into();
        let shown = format!("{c:?}");
        for clear in ["440524188001010014", "18800101", "13800000002", "argon2id", "aGFzaGhhc2hoYXNo"] {
            assert!(!shown.contains(clear), "{clear} in {shown}");
        }
        assert!(shown.contains("li_si"), "the record still prints what is not sensitive: {shown}");
    }

    #[test]
    fn r35_subjects_not_passed_last_year_are_preselected() {
        let r = Reference::load_default().unwrap();
        let h = historical(last_year(&[("1", Some(72)), ("2", Some(60)), ("3", Some(59)), ("4", None)]), &r).unwrap();
        assert_eq!(h.required_subjects, vec!["3", "4"]);
    }

    #[test]
    fn r38_absent_or_disqualified_last_year_is_not_historical() {
        let r = Reference::load_default().unwrap();
        let mut l = last_year(&[("1", Some(72))]);
        l.absent = true;
        assert!(historical(l, &r).is_none());
        let mut l = last_year(&[("1", Some(72))]);
        l.disqualified = true;
        assert!(historical(l, &r).is_none());
    }

    #[test]
    fn r35_nurse_results_do_not_roll() {
        let r = Reference::load_default().unwrap();
        let mut l = last_year(&[("1", Some(80)), ("2", Some(40))]);
        l.kind = ExamKind::Nurse;
        let h = historical(l, &r).unwrap();
        assert_eq!(h.required_subjects, vec!["1", "2"], "护士: both subjects in one sitting");
    }
}
