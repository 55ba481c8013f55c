//! Index membership by state: the single-table layout's sparse indexes follow the application
//! through its life (the rule worlds come from `shared`'s `testkit`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shared::domain::application::{Application, Command};
use shared::domain::identity::IdType;
use shared::domain::rules_tests::{World, code, filled, reference, submitted};

/// Which sparse indexes an application is in, by state (the single-table design in `store`).
fn indexes(app: &Application) -> Vec<(String, String)> {
    let r = reference();
    store::layout::index_attrs(app, &r.projects()[&app.project], &r.districts()[&app.district])
        .into_iter()
        .filter(|(k, _)| k.ends_with("pk"))
        .map(|(k, v)| (k.to_string(), v.as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn index_membership_follows_the_state_and_leaves_with_it() {
    let w = World::new();
    let shard = store::layout::shard("c1");
    let mut app = filled(&w, "41");
    assert!(indexes(&app).is_empty(), "a draft is in no index");
    w.run(&mut app, Command::Submit { code: "CODE000001".into() });
    assert_eq!(
        indexes(&app),
        vec![
            ("gsi1pk".into(), "VCODE#CODE000001".into()),
            ("gsi2pk".into(), "Q#2025-health#ARRIVE#4101".into()),
            ("gsi3pk".into(), format!("DUE#2025-health#41#{shard}")),
        ],
        "R22 findable by code and on the site's to-confirm list; R23 due at the confirmation deadline"
    );
    w.run(&mut app, Command::Withdraw);
    assert!(indexes(&app).is_empty(), "R20: withdrawn leaves the code index and the sweep");
    w.run(&mut app, Command::Submit { code: "CODE000002".into() });
    w.run(&mut app, Command::Confirm { code: "CODE000002".into() });
    assert_eq!(
        indexes(&app),
        vec![("gsi1pk".into(), "VCODE#CODE000002".into()), ("gsi2pk".into(), "Q#2025-health#SITE#4101".into())]
    );
    w.run(&mut app, Command::ApproveSite);
    assert_eq!(indexes(&app)[1], ("gsi2pk".into(), format!("Q#2025-health#DISTRICT#41#{shard}")));
    w.run(&mut app, Command::ApproveDistrict);
    assert_eq!(indexes(&app)[1], ("gsi3pk".into(), format!("DUE#2025-health#41#{shard}")), "R31: due for payment");
    let due = app.amount_due(&reference().projects()[&code("2025-health")]).unwrap();
    let paid_at = time::macros::datetime!(2025-02-10 10:00 +08:00);
    let ordered = due;
    let cmd =
        Command::RecordPayment { out_trade_no: "P1".into(), amount: due, ordered, transaction_id: "t".into(), paid_at };
    w.run(&mut app, cmd);
    assert_eq!(indexes(&app).len(), 1, "paid: only the code remains, in no queue and not due");
}

#[test]
fn online_confirmation_applications_queue_at_their_registration_point() {
    let w = World::new();
    let app = submitted(&w, "12");
    assert!(indexes(&app).contains(&("gsi2pk".into(), "Q#2025-health#CONFIRM#1201P1".into())), "{:?}", indexes(&app));
}

#[test]
fn shards_spread_candidate_ids_evenly() {
    let mut counts = [0u32; store::layout::SHARDS as usize];
    for i in 0..8000 {
        let id = shared::domain::identity::IdDocument::parse(IdType::Passport, &format!("E{i:08}")).unwrap();
        counts[store::layout::shard(&id.candidate_id(b"pepper")) as usize] += 1;
    }
    assert!(counts.iter().all(|c| (850..1150).contains(c)), "{counts:?}");
}
