//! The types crate: the registration domain — values, identity, the application state machine,
//! history, progress — and the reference data it is decided against. Pure: no I/O beyond
//! reading reference files, no HTTP, no storage; OpenAPI schemas behind the `openapi` feature.
//! Rules are cited as `R<n>` from `DOMAIN.md`.

pub mod domain;
pub mod error;
pub mod jpeg;
pub mod photo;
pub mod random;
pub mod reference;
pub mod vcode;

pub use error::{Kind, Refusal};
