//! The store: the table port every function keeps its state in, the single-table layout (every
//! key, item encoding and index attribute), and the contract suite each table backend must pass.
//! No backend lives here: DynamoDB is in `aws-adapters`, SQLite in `embedded`.

pub mod layout;
pub mod table;

#[cfg(feature = "contract")]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod contract;

pub use layout::{Versioned, attr, decode, encode, keys};
pub use table::{Cond, Index, Item, Key, Query, QueryPage, StoreError, Table, Write, request_token};
