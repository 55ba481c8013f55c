//! The domain: values, identity, account, application state machine, history, progress.

pub mod account;
pub mod application;
pub mod history;
pub mod identity;
pub mod progress;
#[cfg(test)]
mod rules_tests;
pub mod values;
