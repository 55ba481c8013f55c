//! The domain: values, identity, account, application state machine, history, progress.

pub mod account;
pub mod application;
pub mod history;
pub mod identity;
pub mod progress;
pub mod reminder;
pub mod upload;
// The rule tests, and their worlds for other crates' tests (feature `testkit`).
#[cfg(any(test, feature = "testkit"))]
#[allow(clippy::unwrap_used, clippy::expect_used, dead_code, unused_imports)]
pub mod rules_tests;
pub mod values;
