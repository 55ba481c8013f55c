//! Adapters: the embedded default (SQLite file, local disk, in-process queue, local stand-ins).

pub mod local;
pub mod sqlite;
