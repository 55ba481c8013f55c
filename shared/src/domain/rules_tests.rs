//! Rule-by-rule tests of the application state machine (`decide` + `apply`), named after the
//! rules of DOMAIN.md they check.

use super::account::{Candidate, DegreeRecord, EducationLevel, PhotoRef};
use super::application::*;
use super::history::{Historical, LastYear, historical};
use super::identity::{Gender, IdType, Identity};
use super::progress::{NodeKind, NodeState, progress};
use super::values::{Code, Fen, Phone, YearMonth};
use crate::error::Refusal;
use crate::reference::{Level, PracticeCategory, Reference};
use std::sync::OnceLock;
use time::macros::datetime;
use time::{Date, OffsetDateTime};

pub fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| Reference::load_default().unwrap())
}

pub fn code<K>(s: &str) -> Code<K> {
    Code::parse(s, "t").unwrap()
}

/// Inside the 2025 registration window.
const NOW: OffsetDateTime = datetime!(2024-12-01 10:00 +08:00);

fn degree() -> DegreeRecord {
    DegreeRecord {
        id: "d1".into(),
        level: EducationLevel::Bachelor,
        school: "郑州大学".into(),
        major: "护理学".into(),
        graduated: YearMonth::parse("2015-07", "g").unwrap(),
        degree: Some("学士".into()),
    }
}

pub fn candidate() -> Candidate {
    Candidate {
        id: "c1".into(),
        account: "li_si".into(),
        password_hash: Default::default(),
        identity: Identity::new("李四", IdType::ResidentId, "440524188001010014", Gender::Male, "1880-01-01", "中国")
            .unwrap(),
        phone: Phone::parse("13800000002", "p").unwrap(),
        degrees: vec![degree()],
        photo: Some(PhotoRef { key: "photos/c1/p.jpg".into(), bytes: 50_000, width: 358, height: 441 }),
        uploads: vec![],
        openid: Some("o1".into()),
        baidu_openid: None,
        created_at: NOW,
    }
}

pub struct World {
    candidate: Candidate,
    now: OffsetDateTime,
}

impl World {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        World { candidate: candidate(), now: NOW }
    }
    pub fn decide(&self, app: &Application, cmd: Command) -> Result<Decision, Refusal> {
        let r = reference();
        let project = &r.projects()[&app.project];
        let district = &r.districts()[&app.district];
        decide(app, &cmd, &Ctx { now: self.now, reference: r, project, district, candidate: &self.candidate })
    }
    /// Decide and apply, panicking on refusal (the step under test is the one after).
    pub fn run(&self, app: &mut Application, cmd: Command) -> Decision {
        let d = self.decide(app, cmd).unwrap_or_else(|e| panic!("refused: {e}"));
        for e in &d.events {
            app.apply(e, self.now);
        }
        d
    }
    pub fn refuse(&self, app: &Application, cmd: Command) -> Refusal {
        self.decide(app, cmd).expect_err("should be refused")
    }
}

fn new_app(district: &str) -> Application {
    Application::new("c1", code("2025-health"), code(district), None, NOW)
}

fn agree() -> Command {
    Command::Agree { important_version: "2025.1".into(), integrity_version: "2025.1".into() }
}

fn site(district: &str) -> Page {
    let online = reference().districts()[&code(district)].online_confirmation;
    let s = format!("{district}01");
    Page::Site(SitePage { site: code(&s), point: online.then(|| code(&format!("{s}P1"))) })
}
fn basic(valid_until: Option<Date>) -> Page {
    Page::Basic(BasicPage { id_valid_until: valid_until, ethnicity: "汉族".into(), political_status: None })
}
fn contact() -> Page {
    Page::Contact(ContactPage {
        phone: Phone::parse("13800000002", "p").unwrap(),
        address: "郑州市".into(),
        postcode: None,
        email: None,
    })
}
fn exam(specialty: &str, subjects: &[&str]) -> ExamPage {
    ExamPage {
        category: code("nursing"),
        level: Level::Intermediate,
        specialty: code(specialty),
        practice_category: PracticeCategory::Nurse,
        first_registration: Some(YearMonth::parse("2016-01", "f").unwrap()),
        has_residency_certificate: false,
        residency_certificate_issued: None,
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
    }
}
fn education() -> Page {
    Page::Education(EducationPage { degree_record_id: "d1".into(), record: degree() })
}
fn work(unit: &str) -> Page {
    Page::Work(WorkPage {
        unit_name: unit.into(),
        unit_category: None,
        started_work: YearMonth::parse("2015-08", "s").unwrap(),
    })
}
fn registered_photo() -> Command {
    Command::ChoosePhoto(ApplicationPhoto { source: PhotoSource::Registered, photo: candidate().photo.unwrap() })
}

/// An application with every page and the photo, ready to submit.
pub fn filled(w: &World, district: &str) -> Application {
    let mut app = new_app(district);
    w.run(&mut app, agree());
    for p in [
        site(district),
        basic(None),
        contact(),
        Page::Exam(exam("368", &["1", "2", "3", "4"])),
        education(),
        work("郑州市第一人民医院"),
    ] {
        w.run(&mut app, Command::SavePage(p));
    }
    w.run(&mut app, registered_photo());
    app
}

fn material(kind: &str, slot: u8) -> Command {
    Command::AddMaterial(Material { kind: kind.into(), slot, key: format!("k-{kind}-{slot}"), bytes: 9 })
}

/// Every file each proof of the district requires (R41), as many as it asks for.
fn upload_required(w: &World, app: &mut Application) {
    for p in reference().materials().proofs(&app.district) {
        for slot in 1..=p.min_files {
            w.run(app, material(&p.kind, slot));
        }
    }
}

pub fn submitted(w: &World, district: &str) -> Application {
    let mut app = filled(w, district);
    if reference().districts()[&code(district)].online_confirmation {
        upload_required(w, &mut app);
        w.run(&mut app, Command::CompleteMaterials);
    }
    w.run(&mut app, Command::Submit { code: "AAAAAAAAAA".into() });
    app
}

#[test]
fn r5_nothing_can_be_filled_before_agreeing() {
    let w = World::new();
    let app = new_app("41");
    assert_eq!(w.refuse(&app, Command::SavePage(site("41"))).code, "AGREEMENT_REQUIRED");
}

#[test]
fn r5_agreement_records_the_versions_read_and_when() {
    let w = World::new();
    let mut app = new_app("41");
    let stale = Command::Agree { important_version: "2024.1".into(), integrity_version: "2025.1".into() };
    assert_eq!(w.refuse(&app, stale).code, "NOTICE_VERSION_OUTDATED");
    w.run(&mut app, agree());
    let a = app.agreement.unwrap();
    assert_eq!((a.important_version.as_str(), a.integrity_version.as_str(), a.agreed_at), ("2025.1", "2025.1", NOW));
}

#[test]
fn r6_pages_are_filled_in_order() {
    let w = World::new();
    let mut app = new_app("41");
    w.run(&mut app, agree());
    let e = w.refuse(&app, Command::SavePage(contact()));
    assert_eq!((e.code, e.field.as_deref()), ("PAGE_OUT_OF_ORDER", Some("site")));
    w.run(&mut app, Command::SavePage(site("41")));
    assert_eq!(w.refuse(&app, Command::SavePage(work("x"))).field.as_deref(), Some("basic"));
    w.run(&mut app, Command::SavePage(basic(None)));
    w.run(&mut app, Command::SavePage(contact()));
    assert!(app.pages.contact.is_some());
}

#[test]
fn r6_an_earlier_page_may_be_revised_while_in_draft() {
    let w = World::new();
    let mut app = filled(&w, "41");
    w.run(&mut app, Command::SavePage(Page::Site(SitePage { site: code("4102"), point: None })));
    assert_eq!(app.pages.site.unwrap().site, code("4102"));
}

#[test]
fn r7_an_id_expiring_before_the_exam_warns_but_does_not_block() {
    let w = World::new();
    let mut app = new_app("41");
    w.run(&mut app, agree());
    w.run(&mut app, Command::SavePage(site("41")));
    let d = w.run(&mut app, Command::SavePage(basic(Some(time::macros::date!(2025 - 03 - 01)))));
    assert_eq!(d.warnings.len(), 1);
    assert_eq!(d.warnings[0].code, "ID_EXPIRES_BEFORE_EXAM");
    assert!(app.pages.basic.is_some(), "saved despite the warning");
    let d = w.run(&mut app, Command::SavePage(basic(Some(time::macros::date!(2030 - 01 - 01)))));
    assert!(d.warnings.is_empty());
}

#[test]
fn r7_every_exam_day_counts_not_only_the_first() {
    let w = World::new();
    let days = reference().projects()[&code("2025-health")].exam_dates.clone();
    let (first, last) = (*days.iter().min().unwrap(), *days.iter().max().unwrap());
    assert!(first < last, "the shipped project spans several exam days");
    let mut app = new_app("41");
    w.run(&mut app, agree());
    w.run(&mut app, Command::SavePage(site("41")));
    // Valid on the first day but not on the last one: the candidate's exam may be that day.
    let d = w.run(&mut app, Command::SavePage(basic(Some(last.previous_day().unwrap()))));
    assert_eq!(d.warnings.iter().map(|w| w.code.as_str()).collect::<Vec<_>>(), ["ID_EXPIRES_BEFORE_EXAM"]);
    assert!(d.warnings[0].message.contains(&format!("{}", last.day())), "{}", d.warnings[0].message);
    // Valid through the last day (inclusive): no warning.
    let d = w.run(&mut app, Command::SavePage(basic(Some(last))));
    assert!(d.warnings.is_empty());
    let d = w.run(&mut app, Command::SavePage(basic(Some(first))));
    assert_eq!(d.warnings.len(), 1, "valid on the first day only");
}

fn at_exam_page(w: &World) -> Application {
    let mut app = new_app("41");
    w.run(&mut app, agree());
    for p in [site("41"), basic(None), contact()] {
        w.run(&mut app, Command::SavePage(p));
    }
    app
}

#[test]
fn r8_specialty_level_and_practice_category_must_match_the_category() {
    let w = World::new();
    let app = at_exam_page(&w);
    let mut p = exam("368", &["1", "2", "3", "4"]);
    p.category = code("pharmacy");
    assert_eq!(w.refuse(&app, Command::SavePage(Page::Exam(p))).code, "SPECIALTY_NOT_IN_CATEGORY");
    let mut p = exam("368", &["1", "2", "3", "4"]);
    p.level = Level::Primary;
    assert_eq!(w.refuse(&app, Command::SavePage(Page::Exam(p))).code, "LEVEL_MISMATCH");
    let mut p = exam("368", &["1", "2", "3", "4"]);
    p.practice_category = PracticeCategory::Clinical;
    assert_eq!(w.refuse(&app, Command::SavePage(Page::Exam(p))).code, "PRACTICE_CATEGORY_MISMATCH");
    let p = exam("999", &["1"]);
    assert_eq!(w.refuse(&app, Command::SavePage(Page::Exam(p))).code, "UNKNOWN_SPECIALTY");
}

#[test]
fn r9_first_registration_is_required_unless_the_practice_category_is_none() {
    let w = World::new();
    let app = at_exam_page(&w);
    let mut p = exam("368", &["1", "2", "3", "4"]);
    p.first_registration = None;
    let e = w.refuse(&app, Command::SavePage(Page::Exam(p)));
    assert_eq!((e.code, e.field.as_deref()), ("FIRST_REGISTRATION_REQUIRED", Some("first_registration")));
    // 药学(士) has practice category 无: no registration date needed.
    let p = ExamPage {
        category: code("pharmacy"),
        level: Level::Junior,
        specialty: code("101"),
        practice_category: PracticeCategory::None,
        first_registration: None,
        has_residency_certificate: false,
        residency_certificate_issued: None,
        subjects: vec!["1".into(), "2".into(), "3".into(), "4".into()],
    };
    assert!(w.decide(&app, Command::SavePage(Page::Exam(p))).is_ok());
}

#[test]
fn r10_a_residency_certificate_needs_its_issue_month() {
    let w = World::new();
    let app = at_exam_page(&w);
    let mut p = exam("368", &["1", "2", "3", "4"]);
    p.has_residency_certificate = true;
    assert_eq!(w.refuse(&app, Command::SavePage(Page::Exam(p.clone()))).code, "RESIDENCY_CERT_DATE_REQUIRED");
    p.residency_certificate_issued = Some(YearMonth::parse("2020-06", "r").unwrap());
    assert!(w.decide(&app, Command::SavePage(Page::Exam(p))).is_ok());
}

#[test]
fn r11_education_references_a_maintained_record_as_it_is_now() {
    let w = World::new();
    let mut app = at_exam_page(&w);
    w.run(&mut app, Command::SavePage(Page::Exam(exam("368", &["1", "2", "3", "4"]))));
    let unknown = Page::Education(EducationPage { degree_record_id: "d9".into(), record: degree() });
    assert_eq!(w.refuse(&app, Command::SavePage(unknown)).code, "UNKNOWN_DEGREE_RECORD");
    let mut stale = degree();
    stale.school = "旧名称".into();
    let stale = Page::Education(EducationPage { degree_record_id: "d1".into(), record: stale });
    assert_eq!(w.refuse(&app, Command::SavePage(stale)).code, "DEGREE_RECORD_STALE");
    w.run(&mut app, Command::SavePage(education()));
}

#[test]
fn r11_a_record_edited_or_removed_after_the_page_was_saved_is_caught_at_submit() {
    let mut w = World::new();
    let app = filled(&w, "41");
    // Edited on the account after the education page was saved.
    w.candidate.degrees[0].school = "郑州大学(更名后)".into();
    let e = w.refuse(&app, Command::Submit { code: "C".into() });
    assert_eq!((e.code, e.field.as_deref()), ("DEGREE_RECORD_CHANGED", Some("education")));
    assert!(e.message.contains("教育情况"), "{}", e.message);
    // Removed from the account.
    w.candidate.degrees.clear();
    assert_eq!(w.refuse(&app, Command::Submit { code: "C".into() }).code, "DEGREE_RECORD_CHANGED");
    // Re-saving the page with the record as it is now clears the way.
    let mut w = World::new();
    w.candidate.degrees[0].school = "郑州大学(更名后)".into();
    let mut app = filled(&World::new(), "41");
    let now = w.candidate.degrees[0].clone();
    w.run(
        &mut app,
        Command::SavePage(Page::Education(EducationPage { degree_record_id: now.id.clone(), record: now })),
    );
    w.run(&mut app, Command::Submit { code: "CODE000001".into() });
    assert_eq!(app.status, Status::Submitted);
}

#[test]
fn r12_unit_category_is_required_when_the_unit_is_other() {
    let w = World::new();
    let mut app = filled(&w, "41");
    let e = w.refuse(&app, Command::SavePage(work("其它")));
    assert_eq!((e.code, e.field.as_deref()), ("UNIT_CATEGORY_REQUIRED", Some("unit_category")));
    let ok = Page::Work(WorkPage {
        unit_name: "其它".into(),
        unit_category: Some("民营医院".into()),
        started_work: YearMonth::parse("2015-08", "s").unwrap(),
    });
    w.run(&mut app, Command::SavePage(ok));
}

#[test]
fn r13_the_photo_comes_after_the_pages_and_submit_needs_it() {
    let w = World::new();
    let app = at_exam_page(&w);
    assert_eq!(w.refuse(&app, registered_photo()).code, "PAGES_INCOMPLETE");
    let mut app = filled(&w, "41");
    app.photo = None;
    assert_eq!(w.refuse(&app, Command::Submit { code: "C".into() }).code, "PHOTO_REQUIRED");
}

#[test]
fn r14_a_first_time_candidate_sits_every_subject() {
    let w = World::new();
    let app = at_exam_page(&w);
    let e = w.refuse(&app, Command::SavePage(Page::Exam(exam("368", &["1", "2", "3"]))));
    assert_eq!(e.code, "SUBJECTS_REQUIRED");
    let e = w.refuse(&app, Command::SavePage(Page::Exam(exam("368", &["1", "2", "3", "4", "5"]))));
    assert_eq!(e.code, "INVALID_SUBJECTS");
    let e = w.refuse(&app, Command::SavePage(Page::Exam(exam("368", &["1", "1", "2", "3", "4"]))));
    assert_eq!(e.code, "INVALID_SUBJECTS", "duplicates");
}

#[test]
fn r15_submit_needs_every_page_and_issues_a_verification_code() {
    let w = World::new();
    let mut app = at_exam_page(&w);
    let e = w.refuse(&app, Command::Submit { code: "C".into() });
    assert_eq!((e.code, e.field.as_deref()), ("PAGES_INCOMPLETE", Some("exam")));
    app = filled(&w, "41");
    w.run(&mut app, Command::Submit { code: "CODE000001".into() });
    assert_eq!(app.status, Status::Submitted);
    assert_eq!(app.verification_code.as_deref(), Some("CODE000001"));
    assert_eq!(app.submissions, 1);
}

#[test]
fn r15_r41_online_confirmation_districts_need_all_materials_before_submit() {
    let w = World::new();
    let mut app = filled(&w, "12"); // 天津
    assert_eq!(w.refuse(&app, Command::Submit { code: "C".into() }).code, "MATERIALS_INCOMPLETE");
    assert_eq!(w.refuse(&app, Command::CompleteMaterials).code, "MATERIALS_MISSING");
    upload_required(&w, &mut app);
    w.run(&mut app, Command::CompleteMaterials);
    w.run(&mut app, Command::Submit { code: "C".into() });
    assert_eq!(app.status, Status::Submitted);
    let other = filled(&w, "41");
    assert_eq!(w.refuse(&other, material("diploma", 1)).code, "NO_ONLINE_CONFIRMATION");
}

#[test]
fn r41_each_district_declares_its_proofs_and_upload_all_checks_every_one() {
    let w = World::new();
    let mut app = filled(&w, "12"); // 天津: 身份证 ×2, 学历证书 ≥1, 工作年限证明 ×1, 执业证书 optional
    let proofs = reference().materials().proofs(&app.district);
    assert!(proofs.iter().any(|p| p.min_files == 0), "an optional proof is declared");
    // A kind the district does not declare, and a slot past the declared count, are refused.
    let e = w.refuse(&app, material("marriage_cert", 1));
    assert_eq!((e.code, e.field.as_deref()), ("UNKNOWN_MATERIAL_KIND", Some("kind")));
    let e = w.refuse(&app, material("id_card", 3));
    assert_eq!((e.code, e.field.as_deref()), ("MATERIAL_SLOT", Some("slot")));
    assert_eq!(w.refuse(&app, material("id_card", 0)).code, "MATERIAL_SLOT");
    // Upload all names the first proof still short of its count.
    w.run(&mut app, material("id_card", 1));
    let e = w.refuse(&app, Command::CompleteMaterials);
    assert_eq!(e.code, "MATERIALS_MISSING");
    assert!(e.message.contains("身份证") && e.message.contains("至少2份"), "{}", e.message);
    w.run(&mut app, material("id_card", 2));
    w.run(&mut app, material("diploma", 1));
    let e = w.refuse(&app, Command::CompleteMaterials);
    assert!(e.message.contains("工作年限证明"), "{}", e.message);
    w.run(&mut app, material("work_proof", 1));
    // Re-uploading a slot replaces its file; the optional proof is not needed.
    w.run(&mut app, material("id_card", 2));
    assert_eq!(app.materials.iter().filter(|m| m.kind == "id_card").count(), 2);
    w.run(&mut app, Command::CompleteMaterials);
    assert!(app.materials_complete);
    // Another district asks for its own list: 上海 has no 执业证书.
    let sh = filled(&w, "31");
    assert_eq!(w.refuse(&sh, material("practice_cert", 1)).code, "UNKNOWN_MATERIAL_KIND");
}

#[test]
fn r41_r42_uploads_are_possible_only_where_and_when_they_can_be_used() {
    let mut w = World::new();
    let ctx_of = |w: &World, app: &Application| (w.now, app.district.clone());
    let may = |w: &World, app: &Application, what: UploadFor<'_>| {
        let r = reference();
        let (now, d) = ctx_of(w, app);
        let ctx = Ctx {
            now,
            reference: r,
            project: &r.projects()[&app.project],
            district: &r.districts()[&d],
            candidate: &w.candidate,
        };
        app.may_upload(what, &ctx).map(|p| p.map(|p| p.kind.clone()))
    };
    let app = filled(&w, "12");
    assert_eq!(may(&w, &app, UploadFor::Proof("diploma")).unwrap().as_deref(), Some("diploma"));
    assert_eq!(may(&w, &app, UploadFor::Proof("nope")).unwrap_err().code, "UNKNOWN_MATERIAL_KIND");
    assert_eq!(may(&w, &filled(&w, "41"), UploadFor::Proof("diploma")).unwrap_err().code, "NO_ONLINE_CONFIRMATION");
    // Submitted: nothing to upload until withdrawn (or returned, R42).
    let mut sent = submitted(&w, "12");
    assert_eq!(may(&w, &sent, UploadFor::Photo).unwrap_err().code, "WITHDRAW_FIRST");
    assert_eq!(may(&w, &sent, UploadFor::Proof("diploma")).unwrap_err().code, "WITHDRAW_FIRST");
    w.run(&mut sent, Command::RejectConfirmation { reason: "学历证书不清晰".into() });
    assert!(may(&w, &sent, UploadFor::Proof("diploma")).is_ok(), "R42: re-upload after 确认不通过");
    assert_eq!(may(&w, &sent, UploadFor::Photo).unwrap_err().code, "NOT_EDITABLE");
    // Past the re-upload deadline: no ticket, no upload, no upload-all, no resubmission.
    w.now = datetime!(2024-12-18 17:00:01 +08:00);
    assert_eq!(may(&w, &sent, UploadFor::Proof("diploma")).unwrap_err().code, "REUPLOAD_CLOSED");
    assert_eq!(w.refuse(&sent, material("diploma", 1)).code, "REUPLOAD_CLOSED");
    assert_eq!(w.refuse(&sent, Command::CompleteMaterials).code, "REUPLOAD_CLOSED");
    assert_eq!(w.refuse(&sent, Command::Submit { code: "C".into() }).code, "REUPLOAD_CLOSED");
    // A draft past the registration window (never submitted) takes no uploads either.
    let draft = filled(&World::new(), "12");
    assert_eq!(may(&w, &draft, UploadFor::Proof("diploma")).unwrap_err().code, "REGISTRATION_CLOSED");
}

#[test]
fn r41_r42_a_registration_point_passes_or_returns_an_online_confirmation_before_the_deadline() {
    let mut w = World::new();
    let app = submitted(&w, "12");
    let mut passed = app.clone();
    w.run(&mut passed, Command::ApproveConfirmation);
    assert_eq!(passed.status, Status::Confirmed, "no printed code needed online");
    // Site-confirmation districts confirm by the code at the site, not from a queue.
    let site = submitted(&w, "41");
    assert_eq!(w.refuse(&site, Command::ApproveConfirmation).code, "NO_ONLINE_CONFIRMATION");
    // R23: after the confirmation deadline neither pass nor return is possible.
    w.now = datetime!(2024-12-20 17:00:01 +08:00);
    assert_eq!(w.refuse(&app, Command::ApproveConfirmation).code, "CONFIRMATION_CLOSED");
    assert_eq!(w.refuse(&app, Command::RejectConfirmation { reason: "x".into() }).code, "CONFIRMATION_CLOSED");
}

#[test]
fn r17_a_submitted_application_is_edited_only_after_withdrawing() {
    let w = World::new();
    let mut app = submitted(&w, "41");
    assert_eq!(w.refuse(&app, Command::SavePage(contact())).code, "WITHDRAW_FIRST");
    w.run(&mut app, Command::Withdraw);
    assert_eq!(app.status, Status::Draft);
    w.run(&mut app, Command::SavePage(contact()));
}

#[test]
fn r17_withdrawing_and_resubmitting_last_until_the_confirmation_deadline() {
    let mut w = World::new();
    let mut app = submitted(&w, "41");
    // After registration closes but before the confirmation deadline: still allowed.
    w.now = datetime!(2024-12-15 10:00 +08:00);
    w.run(&mut app, Command::Withdraw);
    w.run(&mut app, Command::Submit { code: "SECOND0001".into() });
    w.now = datetime!(2024-12-21 10:00 +08:00);
    assert_eq!(w.refuse(&app, Command::Withdraw).code, "CONFIRMATION_CLOSED");
}

#[test]
fn r17_a_first_submission_needs_the_registration_window() {
    let mut w = World::new();
    let app = filled(&w, "41");
    w.now = datetime!(2024-12-10 10:00 +08:00);
    assert_eq!(w.refuse(&app, Command::Submit { code: "C".into() }).code, "REGISTRATION_CLOSED");
}

#[test]
fn r18_every_submission_has_a_new_code_and_only_the_latest_confirms() {
    let w = World::new();
    let mut app = submitted(&w, "41");
    let first = app.verification_code.clone().unwrap();
    w.run(&mut app, Command::Withdraw);
    w.run(&mut app, Command::Submit { code: "BBBBBBBBBB".into() });
    assert_ne!(app.verification_code.as_deref(), Some(first.as_str()));
    let e = w.refuse(&app, Command::Confirm { code: first });
    assert_eq!(e.code, "VERIFICATION_CODE_MISMATCH");
    w.run(&mut app, Command::Confirm { code: "BBBBBBBBBB".into() });
    assert_eq!(app.status, Status::Confirmed);
}

#[test]
fn r19_the_district_changes_only_before_submitting_and_clears_the_application() {
    let w = World::new();
    let mut app = submitted(&w, "41");
    let change = || Command::ChangeDistrict { district: code("11") };
    assert_eq!(w.refuse(&app, change()).code, "DISTRICT_LOCKED");
    w.run(&mut app, Command::Withdraw);
    w.run(&mut app, change());
    assert_eq!(app.district, code("11"));
    assert_eq!(app.pages, Pages::default());
    assert!(app.agreement.is_none() && app.photo.is_none());
    assert_eq!(app.status, Status::Draft);
    assert_eq!(w.refuse(&app, Command::ChangeDistrict { district: code("99") }).code, "UNKNOWN_DISTRICT");
}

#[test]
fn r20_withdrawing_returns_to_draft_with_pages_kept_and_the_code_dead() {
    let w = World::new();
    let mut app = submitted(&w, "41");
    let pages = app.pages.clone();
    w.run(&mut app, Command::Withdraw);
    assert_eq!(app.status, Status::Draft);
    assert_eq!(app.pages, pages);
    assert_eq!(app.verification_code, None);
    assert_eq!(w.refuse(&app, Command::Confirm { code: "AAAAAAAAAA".into() }).code, "NOT_AWAITING_CONFIRMATION");
}

#[test]
fn r22_r24_r25_r30_confirm_then_two_reviews_then_pay() {
    let w = World::new();
    let mut app = submitted(&w, "41");
    let district = &reference().districts()[&code("41")];
    assert_eq!(w.refuse(&app, Command::ApproveSite).code, "NOT_AWAITING_SITE_REVIEW");
    w.run(&mut app, Command::Confirm { code: "AAAAAAAAAA".into() });
    assert_eq!(w.refuse(&app, Command::ApproveDistrict).code, "NOT_AWAITING_DISTRICT_REVIEW");
    w.run(&mut app, Command::ApproveSite);
    w.run(&mut app, Command::ApproveDistrict);
    assert_eq!(app.status, Status::Approved);
    assert!(!app.registered(district), "R30: online payment district: approval is not yet registration");
    // R28: 4 subjects × 50.00元 in 河南 (default fee).
    let due = app.amount_due(&reference().projects()[&code("2025-health")]).unwrap();
    assert_eq!(due, Fen(20000));
    // Checked against the amount frozen on the order, never a fee computed now.
    assert_eq!(w.refuse(&app, pay("P1", Fen(100), due)).code, "AMOUNT_MISMATCH");
    w.run(&mut app, pay("P1", due, due));
    assert!(app.registered(district));
    assert_eq!(app.paid.as_ref().and_then(|p| p.out_trade_no.as_deref()), Some("P1"));
    // A second payment (another order, a replayed notification) is no second transition.
    assert_eq!(w.refuse(&app, pay("P2", due, due)).code, "ALREADY_PAID");
}

fn pay(no: &str, amount: Fen, ordered: Fen) -> Command {
    Command::RecordPayment {
        out_trade_no: no.into(),
        amount,
        ordered,
        transaction_id: format!("4200{no}"),
        paid_at: datetime!(2025-02-10 10:00 +08:00),
    }
}

fn order(no: &str, amount: Fen, expires_at: time::OffsetDateTime) -> Command {
    Command::OpenOrder { order: Order { out_trade_no: no.into(), amount, prepay_id: format!("wx{no}"), expires_at } }
}

#[test]
fn r26_r28_r31_one_open_order_at_a_time_its_amount_frozen_and_no_lapse_while_it_is_open() {
    let mut w = World::new();
    let mut app = submitted(&w, "41");
    for c in [Command::Confirm { code: "AAAAAAAAAA".into() }, Command::ApproveSite, Command::ApproveDistrict] {
        w.run(&mut app, c);
    }
    // R26: not before the payment window opens.
    let due = Fen(20000);
    let in_two_hours = datetime!(2025-02-10 12:00 +08:00);
    assert_eq!(w.refuse(&app, order("P1", due, in_two_hours)).code, "PAYMENT_CLOSED");
    w.now = datetime!(2025-02-10 10:00 +08:00);
    w.run(&mut app, order("P1", due, in_two_hours));
    assert_eq!(app.order.as_ref().map(|o| o.amount), Some(due));
    // One payable order at a time: a second only once the first expired.
    assert_eq!(w.refuse(&app, order("P2", due, in_two_hours)).code, "ORDER_OPEN");
    // R31 can't overtake a payment in flight: no lapse while an order is open.
    let mut late = World { candidate: w.candidate.clone(), now: datetime!(2025-02-17 00:00 +08:00) };
    assert_eq!(late.refuse(&app, Command::Lapse).code, "ORDER_OPEN");
    // Closing another order changes nothing; closing this one lets the sweep lapse it.
    assert_eq!(late.refuse(&app, Command::CloseOrder { out_trade_no: "P9".into() }).code, "NOT_CURRENT_ORDER");
    let mut closed = app.clone();
    late.run(&mut closed, Command::CloseOrder { out_trade_no: "P1".into() });
    assert_eq!(closed.order, None);
    late.run(&mut closed, Command::Lapse);
    assert_eq!(closed.lapse_reason, Some(LapseReason::NotPaid));
    // A payment recorded closes the order too (R30).
    late.now = datetime!(2025-02-10 10:05 +08:00);
    late.run(&mut app, pay("P1", due, due));
    assert_eq!((app.status, app.order.as_ref()), (Status::Paid, None));
}

#[test]
fn r25_a_rejection_at_either_stage_ends_the_application_with_its_reason() {
    let w = World::new();
    let mut app = submitted(&w, "41");
    w.run(&mut app, Command::Confirm { code: "AAAAAAAAAA".into() });
    w.run(&mut app, Command::RejectSite { reason: "工作年限不足".into() });
    assert_eq!((app.status, app.reason.as_deref()), (Status::Rejected, Some("工作年限不足")));
    assert_eq!(w.refuse(&app, Command::ApproveDistrict).code, "NOT_AWAITING_DISTRICT_REVIEW");
    // R24: both stages are visible, so a rejection says which one refused.
    let site_only = ReviewResults { site: StageResult::Rejected, district: StageResult::Pending };
    assert_eq!(app.review, site_only);

    let mut app = submitted(&w, "41");
    w.run(&mut app, Command::Confirm { code: "AAAAAAAAAA".into() });
    assert_eq!(app.review, ReviewResults::default(), "nothing decided yet");
    w.run(&mut app, Command::ApproveSite);
    assert_eq!(app.review, ReviewResults { site: StageResult::Passed, district: StageResult::Pending });
    w.run(&mut app, Command::RejectDistrict { reason: "学历不符合报考条件".into() });
    assert_eq!(app.review, ReviewResults { site: StageResult::Passed, district: StageResult::Rejected });
    assert_eq!((app.status, app.reason.as_deref()), (Status::Rejected, Some("学历不符合报考条件")));
}

#[test]
fn r24_r25_no_review_decision_after_the_review_deadline() {
    let mut w = World::new();
    let mut app = submitted(&w, "41");
    w.run(&mut app, Command::Confirm { code: "AAAAAAAAAA".into() });
    let deadline = reference().projects()[&code("2025-health")].schedule(&code("41")).review_deadline;
    w.now = deadline + time::Duration::seconds(1);
    assert_eq!(w.refuse(&app, Command::ApproveSite).code, "REVIEW_CLOSED");
    assert_eq!(w.refuse(&app, Command::RejectSite { reason: "x".into() }).code, "REVIEW_CLOSED");
    w.now = deadline;
    w.run(&mut app, Command::ApproveSite);
    w.now = deadline + time::Duration::seconds(1);
    assert_eq!(w.refuse(&app, Command::ApproveDistrict).code, "REVIEW_CLOSED");
}

#[test]
fn r36_a_score_merge_links_last_years_record_under_the_previous_document() {
    let w = World::new();
    let mut app = submitted(&w, "41");
    assert!(app.historical.is_none(), "a new document: no record found, last year's scores forfeited");
    assert_eq!(w.refuse(&app, Command::MergeScores { record: None }).code, "NO_LAST_YEAR_RECORD");
    let mut record = crate::domain::history::tests::last_year(&[("1", Some(70)), ("2", Some(65)), ("3", Some(40))]);
    // Last year under another document (the candidate has a new number since).
    record.id_number = "11010519491231002X".into();
    let other_specialty = LastYear { specialty: code("101"), ..record.clone() };
    assert_eq!(
        w.refuse(&app, Command::MergeScores { record: Some(Box::new(other_specialty)) }).code,
        "SCORE_MERGE_SPECIALTY",
        "R39: same specialty only"
    );
    let absent = LastYear { absent: true, ..record.clone() };
    assert_eq!(w.refuse(&app, Command::MergeScores { record: Some(Box::new(absent)) }).code, "NOT_HISTORICAL", "R38");
    record.specialty = app.pages.exam.as_ref().unwrap().specialty.clone();
    w.run(&mut app, Command::MergeScores { record: Some(Box::new(record.clone())) });
    let h = app.historical.as_ref().unwrap();
    assert_eq!(h.required_subjects, ["3", "4"], "R35 applies: subjects 1 and 2 roll");
    assert_eq!(w.refuse(&app, Command::MergeScores { record: Some(Box::new(record)) }).code, "ALREADY_HISTORICAL");
}

#[test]
fn r22_r41_online_confirmation_districts_confirm_in_the_points_queue_not_by_code() {
    let w = World::new();
    let mut app = submitted(&w, "12");
    let code_on_form = app.verification_code.clone().unwrap();
    assert_eq!(w.refuse(&app, Command::Confirm { code: code_on_form }).code, "ONLINE_CONFIRMATION");
    w.run(&mut app, Command::ApproveConfirmation);
    assert_eq!(app.status, Status::Confirmed);
    let henan = submitted(&w, "41");
    assert_eq!(w.refuse(&henan, Command::ApproveConfirmation).code, "NO_ONLINE_CONFIRMATION");
}

#[test]
fn r26_r29_r30_payment_depends_on_the_districts_channels() {
    let w = World::new();
    let approve = |d: &str| {
        let mut app = submitted(&w, d);
        w.run(&mut app, Command::Confirm { code: "AAAAAAAAAA".into() });
        w.run(&mut app, Command::ApproveSite);
        w.run(&mut app, Command::ApproveDistrict);
        app
    };
    let r = reference();
    let quote = |app: &Application, now| {
        let ctx = Ctx {
            now,
            reference: r,
            project: &r.projects()[&app.project],
            district: &r.districts()[&app.district],
            candidate: &w.candidate,
        };
        payment_quote(app, &ctx)
    };
    let in_payment = datetime!(2025-02-10 10:00 +08:00);
    // 山西 has no online payment: approval is registration (R30), and there is nothing to pay.
    let shanxi = approve("14");
    assert!(shanxi.registered(&r.districts()[&code("14")]));
    assert_eq!(quote(&shanxi, in_payment).unwrap_err().code, "NO_ONLINE_PAYMENT");
    // 西藏 (demo flag) pays online but not on mobile: a clear code telling the app to use the PC (R29).
    assert_eq!(quote(&approve("54"), in_payment).unwrap_err().code, "USE_PC_PAYMENT");
    // R26: only in the payment window.
    let henan = approve("41");
    assert_eq!(quote(&henan, NOW).unwrap_err().code, "PAYMENT_CLOSED");
    assert_eq!(quote(&henan, in_payment).unwrap(), Fen(20000));
    // R28: 甘肃 charges 70元 per subject.
    assert_eq!(quote(&approve("62"), in_payment).unwrap(), Fen(28000));
}

#[test]
fn r23_r31_r42_the_sweep_lapses_only_what_is_past_its_deadline() {
    let mut w = World::new();
    let app = submitted(&w, "41");
    assert_eq!(w.refuse(&app, Command::Lapse).code, "NOT_DUE");
    w.now = datetime!(2024-12-20 17:00:01 +08:00);
    let mut lapsed = app.clone();
    w.run(&mut lapsed, Command::Lapse);
    assert_eq!((lapsed.status, lapsed.lapse_reason), (Status::Lapsed, Some(LapseReason::NotConfirmed)));
    assert_eq!(lapsed.verification_code, None);
    // Unpaid past the payment deadline (R31).
    let mut w2 = World::new();
    let mut paying = submitted(&w2, "41");
    for c in [Command::Confirm { code: "AAAAAAAAAA".into() }, Command::ApproveSite, Command::ApproveDistrict] {
        w2.run(&mut paying, c);
    }
    w2.now = datetime!(2025-02-17 00:00 +08:00);
    w2.run(&mut paying, Command::Lapse);
    assert_eq!(paying.lapse_reason, Some(LapseReason::NotPaid));
    // A registered application is never lapsed.
    let mut w3 = World::new();
    let mut done = submitted(&w3, "14");
    for c in [Command::Confirm { code: "AAAAAAAAAA".into() }, Command::ApproveSite, Command::ApproveDistrict] {
        w3.run(&mut done, c);
    }
    w3.now = datetime!(2026-01-01 00:00 +08:00);
    assert_eq!(w3.refuse(&done, Command::Lapse).code, "NOT_DUE");
}

#[test]
fn r41_an_application_holds_at_most_the_reference_datas_number_of_materials() {
    let w = World::new();
    let spec = reference().materials();
    let mut app = filled(&w, "12");
    // Every slot of every declared proof filled, each one twice: the count never passes the
    // declarations, and they are bounded by max_count when the reference data loads.
    for _ in 0..2 {
        for p in spec.proofs(&app.district) {
            for slot in 1..=p.max_files {
                w.run(&mut app, material(&p.kind, slot));
            }
        }
    }
    let declared: usize = spec.proofs(&app.district).iter().map(|p| usize::from(p.max_files)).sum();
    assert_eq!(app.materials.len(), declared);
    assert!(declared <= spec.max_count);
}

#[test]
fn r42_not_passed_means_reupload_and_resubmit_before_the_deadline() {
    let mut w = World::new();
    let mut app = submitted(&w, "12");
    w.run(&mut app, Command::RejectConfirmation { reason: "学历证书不清晰".into() });
    assert_eq!(app.status, Status::ConfirmRejected);
    assert!(!app.materials_complete, "must upload again");
    assert_eq!(w.refuse(&app, Command::Submit { code: "C".into() }).code, "MATERIALS_INCOMPLETE");
    w.run(&mut app, material("diploma", 1));
    w.run(&mut app, Command::CompleteMaterials);
    w.run(&mut app, Command::Submit { code: "NEWCODE001".into() });
    assert_eq!(app.status, Status::Submitted);
    // Past the re-upload deadline the sweep lapses a rejected one.
    let mut again = app.clone();
    w.run(&mut again, Command::RejectConfirmation { reason: "仍不清晰".into() });
    w.now = datetime!(2024-12-18 17:00:01 +08:00);
    assert_eq!(w.refuse(&again, Command::Submit { code: "C".into() }).code, "REUPLOAD_CLOSED");
    w.run(&mut again, Command::Lapse);
    assert_eq!(again.lapse_reason, Some(LapseReason::NotResubmitted));
    // Site-confirmation districts have no 确认不通过.
    let site = submitted(&World::new(), "41");
    assert_eq!(w.refuse(&site, Command::RejectConfirmation { reason: "x".into() }).code, "NO_ONLINE_CONFIRMATION");
}

#[test]
fn r40_online_confirmation_districts_require_a_registration_point() {
    let w = World::new();
    let mut app = new_app("31"); // 上海
    w.run(&mut app, agree());
    let no_point = Page::Site(SitePage { site: code("3101"), point: None });
    assert_eq!(w.refuse(&app, Command::SavePage(no_point)).code, "POINT_REQUIRED");
    let wrong = Page::Site(SitePage { site: code("3101"), point: code("3102P1").into() });
    assert_eq!(w.refuse(&app, Command::SavePage(wrong)).code, "UNKNOWN_POINT");
    let mut henan = new_app("41");
    w.run(&mut henan, agree());
    let point = Page::Site(SitePage { site: code("4101"), point: Some(code("4101P1")) });
    assert_eq!(w.refuse(&henan, Command::SavePage(point)).code, "POINT_NOT_APPLICABLE");
    let other_district = Page::Site(SitePage { site: code("1101"), point: None });
    assert_eq!(w.refuse(&henan, Command::SavePage(other_district)).code, "UNKNOWN_SITE");
}

fn historical_app(district: &str) -> (World, Application) {
    let w = World::new();
    let last = super::history::LastYear {
        kind: crate::reference::ExamKind::Health,
        year: 2024,
        id_type: IdType::ResidentId,
        id_number: "440524188001010014".into(),
        name: "李四".into(),
        district: code("41"),
        site: code("4101"),
        point: None,
        category: code("nursing"),
        level: Level::Intermediate,
        specialty: code("368"),
        practice_category: PracticeCategory::Nurse,
        education: Some(degree()),
        work_unit: "郑州市第一人民医院".into(),
        work_unit_category: None,
        started_work: Some(YearMonth::parse("2015-08", "s").unwrap()),
        first_registration: Some(YearMonth::parse("2016-01", "f").unwrap()),
        residency_certificate_issued: None,
        basic: match basic(None) {
            Page::Basic(b) => Some(b),
            _ => None,
        },
        contact: match contact() {
            Page::Contact(c) => Some(c),
            _ => None,
        },
        results: [("1", Some(75)), ("2", Some(62)), ("3", Some(55)), ("4", None)]
            .iter()
            .map(|(s, sc)| super::history::SubjectResult { subject: s.to_string(), score: *sc })
            .collect(),
        absent: false,
        disqualified: false,
    };
    let h: Historical = historical(last, reference()).unwrap();
    let app = Application::new("c1", code("2025-health"), code(district), Some(h), NOW);
    (w, app)
}

fn fill(w: &World, app: &mut Application, district: &str, subjects: &[&str], unit: &str) {
    w.run(app, agree());
    for p in [site(district), basic(None), contact(), Page::Exam(exam("368", subjects)), education(), work(unit)] {
        w.run(app, Command::SavePage(p));
    }
    w.run(app, registered_photo());
}

#[test]
fn r32_last_years_pages_are_carried_over_for_checking_and_confirming_in_order() {
    let (w, mut app) = historical_app("41");
    w.run(&mut app, agree());
    let carried = app.carried_over(&w.candidate);
    assert!(PageKind::ALL.iter().all(|k| carried.has(*k)), "all six pages carried over: {carried:?}");
    let exam = carried.exam.clone().unwrap();
    assert_eq!(exam.subjects, ["3", "4"], "R35: the subjects not passed last year, pre-selected");
    assert_eq!(carried.education.as_ref().unwrap().degree_record_id, "d1", "R11: the account's own record");
    // R6 still holds: confirming the work page first is refused.
    let work_page = Page::Work(carried.work.clone().unwrap());
    assert_eq!(w.refuse(&app, Command::SavePage(work_page)).code, "PAGE_OUT_OF_ORDER");
    // Confirm each carried page as it is, in order; a confirmed page is no longer carried over.
    let pages = [
        Page::Site(carried.site.clone().unwrap()),
        Page::Basic(carried.basic.clone().unwrap()),
        Page::Contact(carried.contact.clone().unwrap()),
        Page::Exam(exam),
        Page::Education(carried.education.clone().unwrap()),
        Page::Work(carried.work.clone().unwrap()),
    ];
    for (i, p) in pages.into_iter().enumerate() {
        w.run(&mut app, Command::SavePage(p));
        let left = app.carried_over(&w.candidate);
        assert!(
            PageKind::ALL[..=i].iter().all(|k| !left.has(*k)) && PageKind::ALL[i + 1..].iter().all(|k| left.has(*k))
        );
    }
    // R33 compares what the candidate confirmed: unchanged, so confirmed on submit.
    w.run(&mut app, registered_photo());
    w.run(&mut app, Command::Submit { code: "AUTO000001".into() });
    assert!(app.auto_confirmed);
}

#[test]
fn r32_only_what_still_applies_is_carried_over() {
    // R39: moved to 北京, so last year's 河南 site is not offered; the rest is.
    let (w, app) = historical_app("11");
    let carried = app.carried_over(&w.candidate);
    assert!(carried.site.is_none() && carried.basic.is_some() && carried.exam.is_some());
    // R11: the degree record is no longer on the account, so the education page starts empty.
    let mut w2 = World::new();
    w2.candidate.degrees.clear();
    let (_, app) = historical_app("41");
    assert!(app.carried_over(&w2.candidate).education.is_none());
    // A record imported without a start-of-work month leaves the work page empty, not invented.
    let (w, mut app) = historical_app("41");
    app.historical.as_mut().unwrap().last.started_work = None;
    assert!(app.carried_over(&w.candidate).work.is_none());
    // A first-time candidate has nothing carried over.
    assert_eq!(new_app("41").carried_over(&w.candidate), Pages::default());
}

#[test]
fn r35_a_rolling_candidate_must_sit_the_subjects_not_passed_and_may_add_others() {
    let (w, mut app) = historical_app("41");
    w.run(&mut app, agree());
    for p in [site("41"), basic(None), contact()] {
        w.run(&mut app, Command::SavePage(p));
    }
    assert_eq!(w.refuse(&app, Command::SavePage(Page::Exam(exam("368", &["3"])))).code, "SUBJECTS_REQUIRED");
    w.run(&mut app, Command::SavePage(Page::Exam(exam("368", &["3", "4"]))));
    w.run(&mut app, Command::SavePage(Page::Exam(exam("368", &["2", "3", "4"]))));
    assert_eq!(app.amount_due(&reference().projects()[&code("2025-health")]), Some(Fen(15000)), "R28: 3 subjects");
}

#[test]
fn r39_rolling_follows_the_candidate_to_another_district_but_not_another_specialty() {
    let (w, mut app) = historical_app("11"); // moved from 河南 to 北京
    w.run(&mut app, agree());
    for p in [site("11"), basic(None), contact()] {
        w.run(&mut app, Command::SavePage(p));
    }
    w.run(&mut app, Command::SavePage(Page::Exam(exam("368", &["3", "4"]))));
    // 369 is a sub-specialty: passes in 368 don't combine with it.
    let e = w.refuse(&app, Command::SavePage(Page::Exam(exam("369", &["3", "4"]))));
    assert_eq!(e.code, "SUBJECTS_REQUIRED");
}

#[test]
fn r33_same_as_last_year_in_an_auto_confirm_district_is_confirmed_on_submit() {
    let (w, mut app) = historical_app("41");
    fill(&w, &mut app, "41", &["3", "4"], "郑州市第一人民医院");
    w.run(&mut app, Command::Submit { code: "AUTO000001".into() });
    assert_eq!(app.status, Status::Confirmed);
    assert!(app.auto_confirmed);
}

#[test]
fn r34_a_changed_application_or_a_district_without_auto_confirm_waits_for_the_site() {
    let (w, mut app) = historical_app("41");
    fill(&w, &mut app, "41", &["3", "4"], "河南省人民医院"); // work unit changed
    w.run(&mut app, Command::Submit { code: "MANUAL0001".into() });
    assert_eq!(app.status, Status::Submitted);
    let (w, mut app) = historical_app("13"); // 河北: no auto-confirm
    fill(&w, &mut app, "13", &["3", "4"], "郑州市第一人民医院");
    w.run(&mut app, Command::Submit { code: "MANUAL0002".into() });
    assert!(!app.auto_confirmed);
}

#[test]
fn r37_an_auto_confirmed_application_can_no_longer_be_withdrawn_or_edited() {
    let (w, mut app) = historical_app("41");
    fill(&w, &mut app, "41", &["3", "4"], "郑州市第一人民医院");
    w.run(&mut app, Command::Submit { code: "AUTO000001".into() });
    assert_eq!(w.refuse(&app, Command::Withdraw).code, "AUTO_CONFIRMED");
    let e = w.refuse(&app, Command::SavePage(Page::Exam(exam("368", &["1", "2", "3", "4"]))));
    assert_eq!(e.code, "AUTO_CONFIRMED");
}

#[test]
fn progress_nodes_follow_the_state_and_the_districts_flags() {
    let w = World::new();
    let states = |app: &Application, d: &str| -> Vec<(NodeKind, NodeState)> {
        progress(app, &reference().districts()[&code(d)]).iter().map(|n| (n.node, n.state)).collect()
    };
    use NodeKind::*;
    use NodeState::*;
    assert_eq!(
        states(&new_app("41"), "41"),
        vec![(Fill, Current), (Submit, Pending), (Confirm, Pending), (Review, Pending), (Pay, Pending)]
    );
    // 天津: an upload node; 山西: no payment node.
    let app = filled(&w, "12");
    assert_eq!(states(&app, "12")[..3], [(Fill, Done), (Upload, Current), (Submit, Pending)]);
    let mut app = submitted(&w, "14");
    assert_eq!(states(&app, "14"), vec![(Fill, Done), (Submit, Done), (Confirm, Current), (Review, Pending)]);
    // R22: after confirmation, 报名确认 done and 资格审核 current.
    w.run(&mut app, Command::Confirm { code: "AAAAAAAAAA".into() });
    assert_eq!(states(&app, "14")[2..], [(Confirm, Done), (Review, Current)]);
    // R25/R30: district approval completes review; without online payment that is the end.
    w.run(&mut app, Command::ApproveSite);
    w.run(&mut app, Command::ApproveDistrict);
    assert!(states(&app, "14").iter().all(|(_, s)| *s == Done));
}
