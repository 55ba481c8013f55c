//! The one refusal type the domain returns, and its mapping to HTTP status classes.
//!
//! A refusal carries a stable machine `code` (the mini-program switches on it), a Chinese
//! `message` it can show as-is, and the `field` at fault. Handlers never invent error text:
//! everything a client sees is built here or in the domain through these constructors.

use serde::Serialize;
use std::borrow::Cow;

/// How a refusal maps to HTTP; decided once here, never in handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Malformed input: cannot be parsed into the types at all (400).
    BadRequest,
    /// No or expired credentials (401).
    Unauthorized,
    /// Authenticated, but not allowed to do this (403).
    Forbidden,
    /// The thing asked for does not exist for this caller (404).
    NotFound,
    /// The path exists, but not with this method (405).
    MethodNotAllowed,
    /// Well-formed, but the current state forbids it, or another writer won (409).
    Conflict,
    /// Well-formed, but breaks a rule of the flow (422).
    Rule,
    /// Body larger than we accept (413).
    TooLarge,
    /// Too many attempts from this caller or at this account; the message says when to retry (429).
    TooMany,
    /// Our fault or a dependency's; the detail goes to the log only (500/503).
    Internal,
    /// A dependency is busy; the client may retry (503).
    Unavailable,
}

impl Kind {
    pub fn status(self) -> u16 {
        match self {
            Kind::BadRequest => 400,
            Kind::Unauthorized => 401,
            Kind::Forbidden => 403,
            Kind::NotFound => 404,
            Kind::MethodNotAllowed => 405,
            Kind::Conflict => 409,
            Kind::Rule => 422,
            Kind::TooLarge => 413,
            Kind::TooMany => 429,
            Kind::Internal => 500,
            Kind::Unavailable => 503,
        }
    }
}

/// A typed refusal: what went wrong, in words for the candidate and a code for the program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    pub kind: Kind,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    pub field: Option<Cow<'static, str>>,
}

impl Refusal {
    pub fn new(kind: Kind, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Refusal { kind, code, message: message.into(), field: None }
    }
    pub fn field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn bad(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::BadRequest, code, message)
    }
    pub fn rule(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Rule, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Conflict, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::NotFound, code, message)
    }
    /// An internal failure: the client sees only a generic message; log the cause separately.
    pub fn internal() -> Self {
        Self::new(Kind::Internal, "INTERNAL", "系统繁忙,请稍后再试")
    }
    pub fn unavailable() -> Self {
        Self::new(Kind::Unavailable, "UNAVAILABLE", "系统繁忙,请稍后再试")
    }
    /// Another writer changed the record between our read and our write.
    pub fn concurrent() -> Self {
        Self::conflict("CONCURRENT_UPDATE", "信息已被其他操作修改,请刷新后重试")
    }
}

pub type Result<T, E = Refusal> = std::result::Result<T, E>;
