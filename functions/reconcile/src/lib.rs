//! The `reconcile` function: on a schedule, the payment reconciler (R31 with payments in
//! flight) — asks WeChat Pay about orders still open (a notification may never come), records
//! payments it finds, closes orders at their expiry so the application may lapse, and refunds
//! payments the application could no longer take.

pub mod compose;

use serde::Deserialize;
use services::payments::{Payments, ReconcileReport};
use std::time::Duration;

/// The EventBridge scheduled event (only what is checked).
#[derive(Debug, Deserialize)]
pub struct ScheduledEvent {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
}

/// Why a run is reported failed (an invocation error: the `Errors` metric and its alarm).
#[derive(Debug, thiserror::Error)]
pub enum RunFailed {
    #[error("not a scheduled event: source {source_name}, detail-type {detail_type}")]
    NotScheduled { source_name: String, detail_type: String },
    /// The run could not read the index, or some orders could not be settled (their back-off
    /// has them looked at again): someone should know either way.
    #[error("reconcile: {0}")]
    Failed(String),
}

/// At most this many orders per run: one WeChat Pay call each (≈100 ms), well inside a minute.
pub const PER_RUN: u32 = 300;

/// Time kept back from the invocation's deadline for the order in hand and the report.
const MARGIN: Duration = Duration::from_secs(10);

pub async fn handle(
    payments: &Payments,
    event: &ScheduledEvent,
    remaining: Duration,
) -> Result<ReconcileReport, RunFailed> {
    if event.source != "aws.events" || event.detail_type != "Scheduled Event" {
        return Err(RunFailed::NotScheduled {
            source_name: event.source.clone(),
            detail_type: event.detail_type.clone(),
        });
    }
    let budget = remaining.saturating_sub(MARGIN);
    let report = match tokio::time::timeout(budget, payments.reconcile(PER_RUN)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::error!(code = e.code, "reconcile: run failed");
            return Err(RunFailed::Failed(format!("the order index could not be read ({})", e.code)));
        }
        Err(_) => {
            // Work left over is the next run's (the index keeps it); not a failure.
            tracing::warn!("reconcile: out of time; the next run continues");
            ReconcileReport::default()
        }
    };
    tracing::info!(report = %serde_json::to_string(&report).unwrap_or_default(), "reconcile run");
    if report.failed > 0 {
        return Err(RunFailed::Failed(format!("{} orders not settled this run", report.failed)));
    }
    Ok(report)
}
