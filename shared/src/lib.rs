//! The types crate: the registration domain (values, identity, application state machine,
//! history, progress), reference data, ports and their embedded adapters, and the HTTP edge
//! every function shares. Rules are cited as `R<n>` from `DOMAIN.md`.

pub mod adapters;
pub mod api;
pub mod deps;
pub mod domain;
pub mod error;
pub mod history_import;
pub mod http;
pub mod photo;
pub mod ports;
pub mod random;
pub mod reference;
pub mod store;
pub mod vcode;
pub mod wire;

pub use deps::Deps;
pub use error::{Kind, Refusal};
