//! Reference data — exam projects, districts, sites, specialties, notices — loaded from files
//! and validated once at start-up, so a new exam year is a data change, not a code change.
//!
//! The files in `shared/reference/` are compiled in as the default (a Lambda has no other
//! filesystem to read); `REFERENCE_DIR` points at a directory of replacements. A file that does
//! not parse, or that contradicts another (a site in an unknown district, a specialty code whose
//! first digit disagrees with its level), stops start-up with a message naming file and entry.

use crate::domain::values::{CategoryCode, DistrictCode, Fen, PointCode, ProjectCode, SiteCode, SpecialtyCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use time::{Date, OffsetDateTime};

/// Which national exam a project belongs to: decides subjects and whether results roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExamKind {
    /// 卫生专业技术资格考试: four subjects, results roll over two consecutive years.
    Health,
    /// 护士执业资格考试: two subjects, both in one sitting, no rolling.
    Nurse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 初级(士), specialty codes 1xx
    Junior,
    /// 初级(师), specialty codes 2xx
    Primary,
    /// 中级, specialty codes 3xx
    Intermediate,
    /// 护士执业资格 (one level)
    Nurse,
}

impl Level {
    fn code_digit(self) -> Option<u8> {
        match self {
            Level::Junior => Some(b'1'),
            Level::Primary => Some(b'2'),
            Level::Intermediate => Some(b'3'),
            Level::Nurse => None,
        }
    }
}

/// 执业类别 (R8, R9): `none` means the candidate has no practice registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PracticeCategory {
    Clinical,
    Dental,
    Tcm,
    PublicHealth,
    Nurse,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Subject {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindRules {
    pub subjects: Vec<Subject>,
    /// How many consecutive exam years passes count for (2 for 卫生资格; 1 = no rolling).
    pub rolling_years: u8,
}

/// The dates of one district's flow for one project. Instants carry their offset (+08:00).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub registration_opens: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub registration_closes: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub confirmation_deadline: OffsetDateTime,
    /// Online-confirmation districts: last moment to re-upload after 确认不通过 (R42).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub reupload_deadline: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub review_deadline: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub payment_opens: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub payment_deadline: OffsetDateTime,
}

impl Schedule {
    /// R4, R15: whether the registration window is open at `now` (both ends included).
    pub fn registration_open(&self, now: OffsetDateTime) -> bool {
        now >= self.registration_opens && now <= self.registration_closes
    }
}

/// Per-district differences from the project's defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistrictOverride {
    #[serde(default)]
    pub schedule: Option<Schedule>,
    #[serde(default)]
    pub fee_per_subject: Option<Fen>,
    /// Where the figure comes from, for the humans maintaining the file.
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub id: ProjectCode,
    pub name: String,
    pub kind: ExamKind,
    pub year: u16,
    #[serde(with = "dates")]
    pub exam_dates: Vec<Date>,
    pub schedule: Schedule,
    pub fee_per_subject: Fen,
    #[serde(default)]
    pub districts: BTreeMap<DistrictCode, DistrictOverride>,
}

impl Project {
    pub fn schedule(&self, district: &DistrictCode) -> &Schedule {
        self.districts.get(district).and_then(|o| o.schedule.as_ref()).unwrap_or(&self.schedule)
    }
    pub fn fee_per_subject(&self, district: &DistrictCode) -> Fen {
        self.districts.get(district).and_then(|o| o.fee_per_subject).unwrap_or(self.fee_per_subject)
    }
    /// The exam days an ID document valid until `until` does not cover (R7: the candidate's
    /// exam may fall on any of them, so each one counts, not only the first).
    pub fn exam_days_after(&self, until: Date) -> Vec<Date> {
        let mut days: Vec<Date> = self.exam_dates.iter().copied().filter(|d| *d > until).collect();
        days.sort();
        days
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct District {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: DistrictCode,
    pub name: String,
    /// 线上确认 (R40–R42): 天津, 上海, 新疆兵团.
    pub online_confirmation: bool,
    /// 历史考生自动确认 (R33).
    pub historical_auto_confirm: bool,
    /// 网上缴费 (R26, R30).
    pub online_payment: bool,
    /// 手机缴费 within online payment (R29).
    pub mobile_payment: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Point {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: PointCode,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Site {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: SiteCode,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub district: DistrictCode,
    pub name: String,
    /// 报名点, only in online-confirmation districts (R40).
    #[serde(default)]
    pub points: Vec<Point>,
    /// True for invented demo entries (not real sites).
    #[serde(default)]
    pub demo: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Specialty {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: SpecialtyCode,
    pub name: String,
    pub kind: ExamKind,
    /// 专业类别 code, one of `categories`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub category: CategoryCode,
    pub level: Level,
    /// The practice categories a candidate of this specialty may tick (R8).
    pub practice_categories: Vec<PracticeCategory>,
    /// True where the code/name is not verified against the official catalogue.
    #[serde(default)]
    pub demo: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Category {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: CategoryCode,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialtyFile {
    pub kinds: BTreeMap<ExamKind, KindRules>,
    pub categories: Vec<Category>,
    pub specialties: Vec<Specialty>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// 《重要声明》
    Important,
    /// 《考生诚信考试承诺书》
    Integrity,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Notice {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub project: ProjectCode,
    pub kind: NoticeKind,
    pub version: String,
    pub title: String,
    pub text: String,
}

/// All reference data, validated and indexed.
#[derive(Debug, Clone)]
pub struct Reference {
    pub projects: BTreeMap<ProjectCode, Project>,
    pub districts: BTreeMap<DistrictCode, District>,
    pub sites: BTreeMap<SiteCode, Site>,
    pub kinds: BTreeMap<ExamKind, KindRules>,
    pub categories: BTreeMap<CategoryCode, Category>,
    pub specialties: BTreeMap<(ExamKind, SpecialtyCode), Specialty>,
    /// Current notice per project and kind (the highest version listed last in the file wins).
    pub notices: BTreeMap<(ProjectCode, NoticeKind), Notice>,
    pub photo: PhotoSpec,
    pub materials: MaterialSpec,
}

/// Why reference data was refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("reference file {file}: cannot read: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("reference file {file}: does not parse: {source}")]
    Parse { file: String, source: serde_json::Error },
    #[error("reference file {file}: {entry}: {problem}")]
    Invalid { file: &'static str, entry: String, problem: String },
}

/// What a registration or exam photo must be (configurable: the 2026 notice raised the minimums).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoSpec {
    pub min_bytes: u64,
    pub max_bytes: u64,
    pub min_width: u32,
    pub min_height: u32,
    #[serde(default)]
    pub source: Option<String>,
}

/// What one uploaded proof may be, and how many an application may hold (R41; configurable).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialSpec {
    pub min_bytes: u64,
    pub max_bytes: u64,
    pub max_count: usize,
    #[serde(default)]
    pub source: Option<String>,
}

const FILES: [(&str, &str); 7] = [
    ("photo.json", include_str!("../reference/photo.json")),
    ("materials.json", include_str!("../reference/materials.json")),
    ("projects.json", include_str!("../reference/projects.json")),
    ("districts.json", include_str!("../reference/districts.json")),
    ("sites.json", include_str!("../reference/sites.json")),
    ("specialties.json", include_str!("../reference/specialties.json")),
    ("notices.json", include_str!("../reference/notices.json")),
];

mod dates {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};
    use time::Date;
    pub fn serialize<S: Serializer>(v: &[Date], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for d in v {
            seq.serialize_element(&crate::domain::values::ymd(*d))?;
        }
        seq.end()
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Date>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                crate::domain::values::parse_date(s, "exam_dates")
                    .map_err(|_| serde::de::Error::custom(format!("bad date {s:?}")))
            })
            .collect()
    }
}

fn parse<T: for<'de> Deserialize<'de>>(
    read: &impl Fn(&str) -> Result<String, ReferenceError>,
    file: &str,
) -> Result<T, ReferenceError> {
    serde_json::from_str(&read(file)?).map_err(|source| ReferenceError::Parse { file: file.to_string(), source })
}

/// Reads a reference file by name: the compiled-in one, or the one in `REFERENCE_DIR` when set.
fn default_source() -> impl Fn(&str) -> Result<String, ReferenceError> {
    let dir = std::env::var_os("REFERENCE_DIR");
    move |name: &str| match &dir {
        Some(dir) => dir_source(Path::new(dir))(name),
        None => FILES.iter().find(|(n, _)| *n == name).map(|(_, t)| t.to_string()).ok_or_else(|| {
            ReferenceError::Read { file: name.to_string(), source: std::io::Error::from(std::io::ErrorKind::NotFound) }
        }),
    }
}

fn dir_source(dir: &Path) -> impl Fn(&str) -> Result<String, ReferenceError> + '_ {
    move |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path)
            .map_err(|source| ReferenceError::Read { file: path.display().to_string(), source })
    }
}

impl PhotoSpec {
    /// The photo rules alone, from the same source as [`Reference::load_default`]: `login` needs
    /// nothing else, and parsing every project, site and specialty would be its cold start's
    /// largest cost.
    pub fn load_default() -> Result<Self, ReferenceError> {
        Self::from_sources(&default_source())
    }

    fn from_sources(read: &impl Fn(&str) -> Result<String, ReferenceError>) -> Result<Self, ReferenceError> {
        let photo: PhotoSpec = parse(read, "photo.json")?;
        if photo.min_bytes > photo.max_bytes || photo.min_width == 0 || photo.min_height == 0 {
            return Err(ReferenceError::Invalid {
                file: "photo.json",
                entry: "limits".into(),
                problem: "min above max or zero size".into(),
            });
        }
        Ok(photo)
    }
}

impl Reference {
    /// The compiled-in reference data, or the files in `REFERENCE_DIR` when it is set.
    pub fn load_default() -> Result<Self, ReferenceError> {
        Self::from_sources(default_source())
    }

    pub fn load_dir(dir: &Path) -> Result<Self, ReferenceError> {
        Self::from_sources(dir_source(dir))
    }

    fn from_sources(read: impl Fn(&str) -> Result<String, ReferenceError>) -> Result<Self, ReferenceError> {
        let projects: Vec<Project> = parse(&read, "projects.json")?;
        let districts: Vec<District> = parse(&read, "districts.json")?;
        let sites: Vec<Site> = parse(&read, "sites.json")?;
        let specialties: SpecialtyFile = parse(&read, "specialties.json")?;
        let notices: Vec<Notice> = parse(&read, "notices.json")?;
        let photo = PhotoSpec::from_sources(&read)?;
        let materials: MaterialSpec = parse(&read, "materials.json")?;
        if materials.min_bytes > materials.max_bytes || materials.max_count == 0 {
            return Err(ReferenceError::Invalid {
                file: "materials.json",
                entry: "limits".into(),
                problem: "min above max or no material allowed".into(),
            });
        }
        let mut r = Self::build(projects, districts, sites, specialties, notices)?;
        r.photo = photo;
        r.materials = materials;
        Ok(r)
    }

    fn build(
        projects: Vec<Project>,
        districts: Vec<District>,
        sites: Vec<Site>,
        spec: SpecialtyFile,
        notices: Vec<Notice>,
    ) -> Result<Self, ReferenceError> {
        let invalid = |file: &'static str, entry: &dyn std::fmt::Display, problem: &str| ReferenceError::Invalid {
            file,
            entry: entry.to_string(),
            problem: problem.to_string(),
        };
        let mut r = Reference {
            projects: BTreeMap::new(),
            districts: BTreeMap::new(),
            sites: BTreeMap::new(),
            kinds: spec.kinds,
            categories: BTreeMap::new(),
            specialties: BTreeMap::new(),
            notices: BTreeMap::new(),
            photo: PhotoSpec { min_bytes: 0, max_bytes: 0, min_width: 0, min_height: 0, source: None },
            materials: MaterialSpec { min_bytes: 0, max_bytes: 0, max_count: 0, source: None },
        };
        for d in districts {
            if !d.online_payment && d.mobile_payment {
                return Err(invalid("districts.json", &d.code, "mobile_payment needs online_payment"));
            }
            let code = d.code.clone();
            if r.districts.insert(code.clone(), d).is_some() {
                return Err(invalid("districts.json", &code, "duplicate district"));
            }
        }
        for p in projects {
            check_schedule(&p.schedule).map_err(|e| invalid("projects.json", &p.id, e))?;
            if p.exam_dates.is_empty() {
                return Err(invalid("projects.json", &p.id, "no exam_dates"));
            }
            if !r.kinds.contains_key(&p.kind) {
                return Err(invalid("projects.json", &p.id, "kind has no subjects in specialties.json"));
            }
            for (code, o) in &p.districts {
                if !r.districts.contains_key(code) {
                    return Err(invalid("projects.json", &format!("{}/{code}", p.id), "unknown district"));
                }
                if let Some(s) = &o.schedule {
                    check_schedule(s).map_err(|e| invalid("projects.json", &format!("{}/{code}", p.id), e))?;
                }
            }
            let id = p.id.clone();
            if r.projects.insert(id.clone(), p).is_some() {
                return Err(invalid("projects.json", &id, "duplicate project"));
            }
        }
        for s in sites {
            let Some(d) = r.districts.get(&s.district) else {
                return Err(invalid("sites.json", &s.code, "unknown district"));
            };
            if d.online_confirmation && s.points.is_empty() {
                return Err(invalid(
                    "sites.json",
                    &s.code,
                    "online-confirmation district needs registration points (R40)",
                ));
            }
            if !d.online_confirmation && !s.points.is_empty() {
                return Err(invalid(
                    "sites.json",
                    &s.code,
                    "registration points only exist in online-confirmation districts",
                ));
            }
            let code = s.code.clone();
            if r.sites.insert(code.clone(), s).is_some() {
                return Err(invalid("sites.json", &code, "duplicate site"));
            }
        }
        for d in r.districts.values() {
            if !r.sites.values().any(|s| s.district == d.code) {
                return Err(invalid("sites.json", &d.code, "district has no site"));
            }
        }
        for (kind, rules) in &r.kinds {
            if rules.subjects.is_empty() || rules.rolling_years == 0 {
                return Err(invalid("specialties.json", &format!("{kind:?}"), "needs subjects and rolling_years >= 1"));
            }
        }
        for c in spec.categories {
            r.categories.insert(c.code.clone(), c);
        }
        for s in spec.specialties {
            if !r.categories.contains_key(&s.category) {
                return Err(invalid("specialties.json", &s.code, "unknown category"));
            }
            if s.practice_categories.is_empty() {
                return Err(invalid("specialties.json", &s.code, "no practice categories"));
            }
            match (s.kind, s.level.code_digit()) {
                (ExamKind::Health, Some(digit)) => {
                    let c = s.code.as_str().as_bytes();
                    if c.len() != 3 || !c.iter().all(u8::is_ascii_digit) || c[0] != digit {
                        return Err(invalid(
                            "specialties.json",
                            &s.code,
                            "卫生资格 codes are 3 digits, first digit = level",
                        ));
                    }
                }
                (ExamKind::Nurse, None) => {}
                _ => return Err(invalid("specialties.json", &s.code, "level does not belong to the exam kind")),
            }
            let key = (s.kind, s.code.clone());
            if r.specialties.insert(key, s.clone()).is_some() {
                return Err(invalid("specialties.json", &s.code, "duplicate specialty"));
            }
        }
        for n in notices {
            if !r.projects.contains_key(&n.project) {
                return Err(invalid("notices.json", &n.project, "unknown project"));
            }
            r.notices.insert((n.project.clone(), n.kind), n);
        }
        for p in r.projects.values() {
            for kind in [NoticeKind::Important, NoticeKind::Integrity] {
                if !r.notices.contains_key(&(p.id.clone(), kind)) {
                    return Err(invalid("notices.json", &p.id, "missing 重要声明 or 诚信承诺书 (R5)"));
                }
            }
            if !r.specialties.keys().any(|(k, _)| *k == p.kind) {
                return Err(invalid("specialties.json", &p.id, "project's exam kind has no specialty"));
            }
        }
        Ok(r)
    }

    pub fn subjects(&self, kind: ExamKind) -> &[Subject] {
        self.kinds.get(&kind).map(|k| k.subjects.as_slice()).unwrap_or(&[])
    }
    pub fn rolls(&self, kind: ExamKind) -> bool {
        self.kinds.get(&kind).is_some_and(|k| k.rolling_years > 1)
    }
}

fn check_schedule(s: &Schedule) -> Result<(), &'static str> {
    let order =
        [s.registration_opens, s.registration_closes, s.confirmation_deadline, s.review_deadline, s.payment_deadline];
    if order.windows(2).any(|w| w[0] > w[1]) {
        return Err("schedule must run opens <= closes <= confirmation <= review <= payment deadline");
    }
    if s.reupload_deadline < s.registration_closes || s.payment_opens > s.payment_deadline {
        return Err("reupload deadline before registration closes, or payment opens after its deadline");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_reference_data_loads_and_is_complete() {
        let r = Reference::load_default().unwrap();
        assert_eq!(r.districts.len(), 32, "31 provinces + 新疆兵团");
        let online: Vec<_> = r.districts.values().filter(|d| d.online_confirmation).map(|d| d.name.as_str()).collect();
        assert_eq!(online.len(), 3, "R40: 天津, 上海, 新疆兵团 — got {online:?}");
        assert_eq!(r.districts.values().filter(|d| d.historical_auto_confirm).count(), 12, "R33 list");
        assert!(r.projects.len() >= 2);
        assert_eq!(r.subjects(ExamKind::Health).len(), 4, "R14");
        assert_eq!(r.subjects(ExamKind::Nurse).len(), 2, "R14");
        assert!(r.rolls(ExamKind::Health) && !r.rolls(ExamKind::Nurse));
        let nursing = r.specialties.get(&(ExamKind::Health, SpecialtyCode::parse("368", "c").unwrap())).unwrap();
        assert_eq!(nursing.level, Level::Intermediate);
        // `login` reads the photo rules alone: the same rules (R13's 2026 minimums).
        let photo = PhotoSpec::load_default().unwrap();
        assert_eq!(
            (photo.min_bytes, photo.max_bytes, photo.min_width),
            (r.photo.min_bytes, r.photo.max_bytes, r.photo.min_width)
        );
        assert!(photo.min_width > 0 && photo.min_bytes < photo.max_bytes);
    }

    #[test]
    fn the_codes_facts_md_verifies_are_shipped_unmarked_and_every_other_is_demo() {
        let r = Reference::load_default().unwrap();
        let verified = ["203", "216", "301", "304", "317", "332", "334", "352", "353", "368", "390", "392", "393"];
        for c in verified {
            let s = r.specialties.get(&(ExamKind::Health, SpecialtyCode::parse(c, "c").unwrap()));
            let s = s.unwrap_or_else(|| panic!("{c} missing"));
            assert!(!s.demo, "{c} is verified");
            // 301–365 and 392 are physician specialties: a physician's practice category (R8).
            let physician = matches!(c.parse::<u16>().unwrap(), 301..=365 | 392);
            let doctor = |p: &PracticeCategory| {
                matches!(
                    p,
                    PracticeCategory::Clinical
                        | PracticeCategory::Dental
                        | PracticeCategory::Tcm
                        | PracticeCategory::PublicHealth
                )
            };
            assert_eq!(physician, s.practice_categories.iter().all(doctor), "{c}");
        }
        for ((kind, code), s) in &r.specialties {
            if *kind == ExamKind::Health && !verified.contains(&code.as_str()) {
                assert!(s.demo, "{code} is not in FACTS.md: it must stay marked demo");
            }
        }
    }

    #[test]
    fn a_site_in_an_unknown_district_stops_start_up_with_its_name() {
        let dir = tempdir_with_defaults();
        let sites = std::fs::read_to_string(dir.join("sites.json")).unwrap();
        let broken = sites.replacen("\"district\": \"11\"", "\"district\": \"99\"", 1);
        assert_ne!(sites, broken);
        std::fs::write(dir.join("sites.json"), broken).unwrap();
        let e = Reference::load_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("sites.json") && e.contains("unknown district"), "{e}");
    }

    #[test]
    fn a_file_that_does_not_parse_is_named() {
        let dir = tempdir_with_defaults();
        std::fs::write(dir.join("districts.json"), "[{\"code\": \"11\"").unwrap();
        let e = Reference::load_dir(&dir).unwrap_err().to_string();
        assert!(e.starts_with("reference file districts.json: does not parse"), "{e}");
    }

    #[test]
    fn a_specialty_code_must_start_with_its_level_digit() {
        let dir = tempdir_with_defaults();
        let s = std::fs::read_to_string(dir.join("specialties.json")).unwrap();
        std::fs::write(dir.join("specialties.json"), s.replacen("\"code\": \"368\"", "\"code\": \"268\"", 1)).unwrap();
        let e = Reference::load_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("268") && e.contains("first digit"), "{e}");
    }

    fn tempdir_with_defaults() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ref-test-{}", crate::random::token(8)));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in FILES {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }
}
