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
use std::sync::OnceLock;
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

/// All reference data, indexed. Each file is parsed and indexed on first use: a cold start pays
/// only for the files its first request reads (`GET /v1/projects` reads one of seven). Data read
/// from `REFERENCE_DIR` is loaded and cross-checked whole at start-up; the compiled-in files are
/// cross-checked whole by this module's tests, in the same build that embeds them.
#[derive(Debug, Clone)]
pub struct Reference {
    projects: OnceLock<BTreeMap<ProjectCode, Project>>,
    districts: OnceLock<BTreeMap<DistrictCode, District>>,
    sites: OnceLock<BTreeMap<SiteCode, Site>>,
    specialties: OnceLock<Specialties>,
    /// The subjects per exam kind alone (the `kinds` of `specialties.json`): listing the
    /// projects needs them, not the whole catalogue of specialties.
    kinds: OnceLock<BTreeMap<ExamKind, KindRules>>,
    /// Current notice per project and kind (the highest version listed last in the file wins).
    notices: OnceLock<BTreeMap<(ProjectCode, NoticeKind), Notice>>,
    photo: OnceLock<PhotoSpec>,
    materials: OnceLock<MaterialSpec>,
}

/// `specialties.json`, indexed: the categories and the specialties (its `kinds` load apart).
#[derive(Debug, Clone)]
pub struct Specialties {
    pub categories: BTreeMap<CategoryCode, Category>,
    pub by_code: BTreeMap<(ExamKind, SpecialtyCode), Specialty>,
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

/// What one uploaded proof may be, how many an application may hold, and which proofs each
/// online-confirmation district requires (R41; configurable).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialSpec {
    /// Default size range of one file, for a proof that declares none.
    pub min_bytes: u64,
    pub max_bytes: u64,
    /// Files per application at most: keeps one application item far under DynamoDB's 400 KB.
    pub max_count: usize,
    #[serde(default)]
    pub source: Option<String>,
    /// The proofs each online-confirmation district requires (R41), by district code.
    #[serde(default)]
    pub districts: BTreeMap<DistrictCode, DistrictProofs>,
}

/// One district's declaration of the proofs it requires.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistrictProofs {
    pub proofs: Vec<Proof>,
    #[serde(default)]
    pub source: Option<String>,
}

/// One kind of proof a district asks for (R41): what it is, how many files, how large.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// The `{kind}` of the upload routes: `[a-z][a-z0-9_]{0,31}`.
    pub kind: String,
    pub name: String,
    /// Files of this kind "上传全部证明材料" needs; 0 = optional.
    pub min_files: u8,
    /// Files of this kind at most: slots `1..=max_files`.
    pub max_files: u8,
    /// Size range of one file of this kind; the file-wide defaults where absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Accepted content types: only `image/jpeg`, the one format whose whole structure the
    /// upload check walks before accepting a file.
    pub content_types: Vec<String>,
}

impl MaterialSpec {
    /// The proofs `district` requires; none outside online-confirmation districts.
    pub fn proofs(&self, district: &DistrictCode) -> &[Proof] {
        self.districts.get(district).map(|d| d.proofs.as_slice()).unwrap_or(&[])
    }
    pub fn proof(&self, district: &DistrictCode, kind: &str) -> Option<&Proof> {
        self.proofs(district).iter().find(|p| p.kind == kind)
    }
    /// The size range one file of `proof` must be in.
    pub fn size_range(&self, proof: &Proof) -> (u64, u64) {
        (proof.min_bytes.unwrap_or(self.min_bytes), proof.max_bytes.unwrap_or(self.max_bytes))
    }
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
        None => compiled_source(name),
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

/// Parses one compiled-in section on first use. The compiled-in files are fixed at build time
/// and `the_shipped_reference_data_loads_and_is_complete` loads and cross-checks exactly these
/// bytes, so a failure here means an untested build: it stops the function loudly, as a bad
/// file at start-up would.
fn compiled<T>(
    name: &str,
    index: impl FnOnce(&dyn Fn(&str) -> Result<String, ReferenceError>) -> Result<T, ReferenceError>,
) -> T {
    index(&compiled_source).unwrap_or_else(|e| panic!("compiled-in reference data is invalid ({name}): {e}"))
}

fn compiled_source(name: &str) -> Result<String, ReferenceError> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, t)| t.to_string()).ok_or_else(|| ReferenceError::Read {
        file: name.to_string(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
}

type Read<'a> = &'a dyn Fn(&str) -> Result<String, ReferenceError>;

fn invalid(file: &'static str, entry: &dyn std::fmt::Display, problem: &str) -> ReferenceError {
    ReferenceError::Invalid { file, entry: entry.to_string(), problem: problem.to_string() }
}

fn load_materials(read: Read<'_>) -> Result<MaterialSpec, ReferenceError> {
    let materials: MaterialSpec = parse(&read, "materials.json")?;
    if materials.min_bytes > materials.max_bytes || materials.max_count == 0 {
        return Err(invalid("materials.json", &"limits", "min above max or no material allowed"));
    }
    for (district, declared) in &materials.districts {
        let mut files = 0usize;
        for (i, p) in declared.proofs.iter().enumerate() {
            let entry = format!("{district}/{}", p.kind);
            let b = p.kind.as_bytes();
            if b.is_empty()
                || b.len() > 32
                || !b[0].is_ascii_lowercase()
                || !b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
            {
                return Err(invalid("materials.json", &entry, "kind must match [a-z][a-z0-9_]{0,31}"));
            }
            if declared.proofs[..i].iter().any(|q| q.kind == p.kind) {
                return Err(invalid("materials.json", &entry, "duplicate proof kind"));
            }
            if p.max_files == 0 || p.min_files > p.max_files || p.name.trim().is_empty() {
                return Err(invalid("materials.json", &entry, "needs a name and 0 <= min_files <= max_files >= 1"));
            }
            let (lo, hi) = materials.size_range(p);
            if lo > hi {
                return Err(invalid("materials.json", &entry, "min_bytes above max_bytes"));
            }
            if p.content_types.is_empty() || p.content_types.iter().any(|t| t != "image/jpeg") {
                return Err(invalid("materials.json", &entry, "content_types: only image/jpeg can be checked"));
            }
            files += usize::from(p.max_files);
        }
        if declared.proofs.is_empty() || files > materials.max_count {
            return Err(invalid(
                "materials.json",
                district,
                "needs 1 or more proofs and at most max_count files in all",
            ));
        }
    }
    Ok(materials)
}

/// Index one entry by its code; a second entry with the same code stops the load, naming it.
fn insert_unique<K: Ord + std::fmt::Display, V>(
    out: &mut BTreeMap<K, V>,
    key: K,
    value: V,
    file: &'static str,
    problem: &str,
) -> Result<(), ReferenceError> {
    if out.contains_key(&key) {
        return Err(invalid(file, &key, problem));
    }
    out.insert(key, value);
    Ok(())
}

fn load_districts(read: Read<'_>) -> Result<BTreeMap<DistrictCode, District>, ReferenceError> {
    let mut out = BTreeMap::new();
    for d in parse::<Vec<District>>(&read, "districts.json")? {
        if !d.online_payment && d.mobile_payment {
            return Err(invalid("districts.json", &d.code, "mobile_payment needs online_payment"));
        }
        insert_unique(&mut out, d.code.clone(), d, "districts.json", "duplicate district")?;
    }
    Ok(out)
}

fn load_projects(read: Read<'_>) -> Result<BTreeMap<ProjectCode, Project>, ReferenceError> {
    let mut out = BTreeMap::new();
    for p in parse::<Vec<Project>>(&read, "projects.json")? {
        check_schedule(&p.schedule).map_err(|e| invalid("projects.json", &p.id, e))?;
        if p.exam_dates.is_empty() {
            return Err(invalid("projects.json", &p.id, "no exam_dates"));
        }
        for (code, o) in &p.districts {
            if let Some(s) = &o.schedule {
                check_schedule(s).map_err(|e| invalid("projects.json", &format!("{}/{code}", p.id), e))?;
            }
        }
        insert_unique(&mut out, p.id.clone(), p, "projects.json", "duplicate project")?;
    }
    Ok(out)
}

fn load_sites(read: Read<'_>) -> Result<BTreeMap<SiteCode, Site>, ReferenceError> {
    let mut out = BTreeMap::new();
    for s in parse::<Vec<Site>>(&read, "sites.json")? {
        insert_unique(&mut out, s.code.clone(), s, "sites.json", "duplicate site")?;
    }
    Ok(out)
}

fn load_specialties(read: Read<'_>) -> Result<Specialties, ReferenceError> {
    let spec: SpecialtyFile = parse(&read, "specialties.json")?;
    check_kinds(&spec.kinds)?;
    let categories: BTreeMap<_, _> = spec.categories.into_iter().map(|c| (c.code.clone(), c)).collect();
    let mut by_code = BTreeMap::new();
    for s in spec.specialties {
        if !categories.contains_key(&s.category) {
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
        let code = s.code.clone();
        if by_code.insert(key, s).is_some() {
            return Err(invalid("specialties.json", &code, "duplicate specialty"));
        }
    }
    Ok(Specialties { categories, by_code })
}

/// The `kinds` of `specialties.json` alone; the rest of the file is skipped, not built.
fn load_kinds(read: Read<'_>) -> Result<BTreeMap<ExamKind, KindRules>, ReferenceError> {
    #[derive(Deserialize)]
    struct KindsOnly {
        kinds: BTreeMap<ExamKind, KindRules>,
    }
    let kinds = parse::<KindsOnly>(&read, "specialties.json")?.kinds;
    check_kinds(&kinds)?;
    Ok(kinds)
}

fn check_kinds(kinds: &BTreeMap<ExamKind, KindRules>) -> Result<(), ReferenceError> {
    for (kind, rules) in kinds {
        if rules.subjects.is_empty() || rules.rolling_years == 0 {
            return Err(invalid("specialties.json", &format!("{kind:?}"), "needs subjects and rolling_years >= 1"));
        }
    }
    Ok(())
}

fn load_notices(read: Read<'_>) -> Result<BTreeMap<(ProjectCode, NoticeKind), Notice>, ReferenceError> {
    Ok(parse::<Vec<Notice>>(&read, "notices.json")?.into_iter().map(|n| ((n.project.clone(), n.kind), n)).collect())
}

impl Reference {
    /// The compiled-in reference data, each file parsed on first use; or, when `REFERENCE_DIR`
    /// is set, the files there, loaded and cross-checked now.
    pub fn load_default() -> Result<Self, ReferenceError> {
        match std::env::var_os("REFERENCE_DIR") {
            Some(dir) => Self::load_dir(Path::new(&dir)),
            None => Ok(Self::compiled_lazily()),
        }
    }

    /// The compiled-in files, each parsed and indexed on first use.
    pub fn compiled_lazily() -> Self {
        Reference {
            projects: OnceLock::new(),
            districts: OnceLock::new(),
            sites: OnceLock::new(),
            specialties: OnceLock::new(),
            kinds: OnceLock::new(),
            notices: OnceLock::new(),
            photo: OnceLock::new(),
            materials: OnceLock::new(),
        }
    }

    /// Every file in `dir`, loaded and cross-checked now.
    pub fn load_dir(dir: &Path) -> Result<Self, ReferenceError> {
        Self::load_all(&dir_source(dir))
    }

    /// Every file from `read`, loaded now, then cross-checked: a site in an unknown district, a
    /// notice for an unknown project, a district override for an unknown district.
    fn load_all(read: Read<'_>) -> Result<Self, ReferenceError> {
        let r = Reference {
            projects: OnceLock::from(load_projects(read)?),
            districts: OnceLock::from(load_districts(read)?),
            sites: OnceLock::from(load_sites(read)?),
            kinds: OnceLock::from(load_kinds(read)?),
            specialties: OnceLock::from(load_specialties(read)?),
            notices: OnceLock::from(load_notices(read)?),
            photo: OnceLock::from(PhotoSpec::from_sources(&read)?),
            materials: OnceLock::from(load_materials(read)?),
        };
        r.cross_check()?;
        Ok(r)
    }

    /// The checks that span files. Run at load for `REFERENCE_DIR`, and by the tests for the
    /// compiled-in files.
    pub fn cross_check(&self) -> Result<(), ReferenceError> {
        for p in self.projects().values() {
            if !self.kinds().contains_key(&p.kind) {
                return Err(invalid("projects.json", &p.id, "kind has no subjects in specialties.json"));
            }
            for code in p.districts.keys() {
                if !self.districts().contains_key(code) {
                    return Err(invalid("projects.json", &format!("{}/{code}", p.id), "unknown district"));
                }
            }
        }
        for s in self.sites().values() {
            let Some(d) = self.districts().get(&s.district) else {
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
        }
        for d in self.districts().values() {
            // R41: an online-confirmation district says which proofs it requires; no other does.
            if d.online_confirmation != self.materials().districts.contains_key(&d.code) {
                return Err(invalid(
                    "materials.json",
                    &d.code,
                    "proofs are declared for, and only for, online-confirmation districts",
                ));
            }
            if !self.sites().values().any(|s| s.district == d.code) {
                return Err(invalid("sites.json", &d.code, "district has no site"));
            }
        }
        for (project, _) in self.notices().keys() {
            if !self.projects().contains_key(project) {
                return Err(invalid("notices.json", project, "unknown project"));
            }
        }
        for p in self.projects().values() {
            for kind in [NoticeKind::Important, NoticeKind::Integrity] {
                if !self.notices().contains_key(&(p.id.clone(), kind)) {
                    return Err(invalid("notices.json", &p.id, "missing 重要声明 or 诚信承诺书 (R5)"));
                }
            }
            if !self.specialties().keys().any(|(k, _)| *k == p.kind) {
                return Err(invalid("specialties.json", &p.id, "project's exam kind has no specialty"));
            }
        }
        Ok(())
    }

    pub fn projects(&self) -> &BTreeMap<ProjectCode, Project> {
        self.projects.get_or_init(|| compiled("projects.json", load_projects))
    }
    pub fn districts(&self) -> &BTreeMap<DistrictCode, District> {
        self.districts.get_or_init(|| compiled("districts.json", load_districts))
    }
    pub fn sites(&self) -> &BTreeMap<SiteCode, Site> {
        self.sites.get_or_init(|| compiled("sites.json", load_sites))
    }
    fn specialty_file(&self) -> &Specialties {
        self.specialties.get_or_init(|| compiled("specialties.json", load_specialties))
    }
    pub fn kinds(&self) -> &BTreeMap<ExamKind, KindRules> {
        self.kinds.get_or_init(|| compiled("specialties.json", load_kinds))
    }
    pub fn categories(&self) -> &BTreeMap<CategoryCode, Category> {
        &self.specialty_file().categories
    }
    pub fn specialties(&self) -> &BTreeMap<(ExamKind, SpecialtyCode), Specialty> {
        &self.specialty_file().by_code
    }
    /// Current notice per project and kind (the highest version listed last in the file wins).
    pub fn notices(&self) -> &BTreeMap<(ProjectCode, NoticeKind), Notice> {
        self.notices.get_or_init(|| compiled("notices.json", load_notices))
    }
    pub fn photo(&self) -> &PhotoSpec {
        self.photo.get_or_init(|| compiled("photo.json", |read| PhotoSpec::from_sources(&read)))
    }
    pub fn materials(&self) -> &MaterialSpec {
        self.materials.get_or_init(|| compiled("materials.json", load_materials))
    }

    pub fn subjects(&self, kind: ExamKind) -> &[Subject] {
        self.kinds().get(&kind).map(|k| k.subjects.as_slice()).unwrap_or(&[])
    }
    pub fn rolls(&self, kind: ExamKind) -> bool {
        self.kinds().get(&kind).is_some_and(|k| k.rolling_years > 1)
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
    // R42: a resubmission after 确认不通过 must still be confirmable.
    if s.reupload_deadline > s.confirmation_deadline {
        return Err("reupload deadline after the confirmation deadline");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_reference_data_loads_and_is_complete() {
        // The compiled-in files, loaded whole and cross-checked: what the lazy sections of a
        // function parse one by one on first use.
        let r = Reference::load_all(&compiled_source).unwrap();
        let lazy = Reference::load_default().unwrap();
        assert_eq!(lazy.sites().len(), r.sites().len());
        assert_eq!(lazy.specialties().len(), r.specialties().len());
        assert_eq!(r.districts().len(), 32, "31 provinces + 新疆兵团");
        let online: Vec<_> =
            r.districts().values().filter(|d| d.online_confirmation).map(|d| d.name.as_str()).collect();
        assert_eq!(online.len(), 3, "R40: 天津, 上海, 新疆兵团 — got {online:?}");
        assert_eq!(r.districts().values().filter(|d| d.historical_auto_confirm).count(), 12, "R33 list");
        assert!(r.projects().len() >= 2);
        assert_eq!(r.subjects(ExamKind::Health).len(), 4, "R14");
        assert_eq!(r.subjects(ExamKind::Nurse).len(), 2, "R14");
        assert!(r.rolls(ExamKind::Health) && !r.rolls(ExamKind::Nurse));
        let nursing = r.specialties().get(&(ExamKind::Health, SpecialtyCode::parse("368", "c").unwrap())).unwrap();
        assert_eq!(nursing.level, Level::Intermediate);
        // `login` reads the photo rules alone: the same rules (R13's 2026 minimums).
        let photo = PhotoSpec::load_default().unwrap();
        assert_eq!(
            (photo.min_bytes, photo.max_bytes, photo.min_width),
            (r.photo().min_bytes, r.photo().max_bytes, r.photo().min_width)
        );
        assert!(photo.min_width > 0 && photo.min_bytes < photo.max_bytes);
    }

    #[test]
    fn the_codes_facts_md_verifies_are_shipped_unmarked_and_every_other_is_demo() {
        let r = Reference::load_default().unwrap();
        let verified = ["203", "216", "301", "304", "317", "332", "334", "352", "353", "368", "390", "392", "393"];
        for c in verified {
            let s = r.specialties().get(&(ExamKind::Health, SpecialtyCode::parse(c, "c").unwrap()));
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
        for ((kind, code), s) in r.specialties() {
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

    #[test]
    fn r41_proof_declarations_are_checked_at_load_naming_the_district() {
        let broken = |from: &str, to: &str| {
            let dir = tempdir_with_defaults();
            let m = std::fs::read_to_string(dir.join("materials.json")).unwrap();
            let changed = m.replacen(from, to, 1);
            assert_ne!(m, changed, "{from}");
            std::fs::write(dir.join("materials.json"), changed).unwrap();
            Reference::load_dir(&dir).unwrap_err().to_string()
        };
        // A site-confirmation district (河南) declares none; an online one must.
        let e = broken("\"66\": {", "\"41\": {");
        assert!(e.contains("materials.json") && (e.contains(": 41:") || e.contains(": 66:")), "{e}");
        let e = broken("\"content_types\": [\"image/jpeg\"]", "\"content_types\": [\"application/pdf\"]");
        assert!(e.contains("12/id_card") && e.contains("only image/jpeg"), "{e}");
        let e = broken("\"min_files\": 2, \"max_files\": 2", "\"min_files\": 3, \"max_files\": 2");
        assert!(e.contains("12/id_card"), "{e}");
        let e = broken("\"max_count\": 20", "\"max_count\": 4");
        assert!(e.contains("materials.json: 12") && e.contains("max_count"), "{e}");
    }

    #[test]
    fn r42_a_reupload_deadline_after_the_confirmation_deadline_is_refused() {
        let dir = tempdir_with_defaults();
        let p = std::fs::read_to_string(dir.join("projects.json")).unwrap();
        let changed = p.replacen(
            "\"reupload_deadline\": \"2024-12-18T17:00:00+08:00\"",
            "\"reupload_deadline\": \"2024-12-21T17:00:00+08:00\"",
            1,
        );
        assert_ne!(p, changed);
        std::fs::write(dir.join("projects.json"), changed).unwrap();
        let e = Reference::load_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("projects.json") && e.contains("reupload deadline after the confirmation deadline"), "{e}");
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
