//! The `sweep` function: on the EventBridge schedule, lapses every application past a deadline
//! it still needed (R16/R23, R31, R42) and sends the 24-hours-ahead reminders
//! (`services::sweep`), within the invocation's remaining time.

pub mod compose;

use serde::Deserialize;
use services::sweep::{Report, Sweep};
use std::time::Duration;

/// The scheduled event EventBridge sends (only what the sweep checks).
#[derive(Debug, Deserialize)]
pub struct ScheduledEvent {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
}

/// Why an event is not the schedule's.
#[derive(Debug, thiserror::Error)]
#[error("not a scheduled event: source {source_name}, detail-type {detail_type}")]
pub struct NotScheduled {
    source_name: String,
    detail_type: String,
}

/// Time kept back from the invocation's deadline: the pages in flight finish, the report is
/// logged and returned.
pub const MARGIN: Duration = Duration::from_secs(30);

/// Run the sweep for a scheduled event, with `remaining` time before the invocation's deadline.
pub async fn handle(sweep: &Sweep, event: &ScheduledEvent, remaining: Duration) -> Result<Report, NotScheduled> {
    if event.source != "aws.events" || event.detail_type != "Scheduled Event" {
        return Err(NotScheduled { source_name: event.source.clone(), detail_type: event.detail_type.clone() });
    }
    Ok(sweep.run(remaining.saturating_sub(MARGIN)).await)
}
