//! Importing last year's registrations and results (JSON Lines, one `LastYear` per line) into
//! the table, keyed by the keyed hash of the ID document. Re-importing a line overwrites it.

use shared::domain::history::LastYear;
use shared::domain::identity::IdDocument;
use store::{Cond, Table};
use store::{encode, keys};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("history line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error("history store: {0}")]
    Store(#[from] store::StoreError),
}

/// Import every line of `text`; returns how many records were written. Stops at the first bad
/// line (naming it) so a half-valid file is noticed, not half-imported silently.
pub async fn import(table: &dyn Table, pepper: &[u8], text: &str) -> Result<usize, ImportError> {
    let mut records = vec![];
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with("//") {
            continue;
        }
        let rec: LastYear =
            serde_json::from_str(raw).map_err(|e| ImportError::Line { line, problem: e.to_string() })?;
        let doc = IdDocument::parse(rec.id_type, rec.id_number.expose())
            .map_err(|e| ImportError::Line { line, problem: e.message.into_owned() })?;
        records.push((keys::history(rec.kind, &doc.candidate_id(pepper), rec.year), rec));
    }
    let n = records.len();
    for (key, rec) in records {
        table.put(encode(&key, "history", 1, &rec, &[])?, Cond::Always).await?;
    }
    Ok(n)
}
