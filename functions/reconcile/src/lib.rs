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

#[derive(Debug, thiserror::Error)]
#[error("not a scheduled event: source {source_name}, detail-type {detail_type}")]
pub struct NotScheduled {
    source_name: String,
    detail_type: String,
}

/// At most this many orders per run: one WeChat Pay call each (≈100 ms), well inside a minute.
pub const PER_RUN: u32 = 300;

/// Time kept back from the invocation's deadline for the order in hand and the report.
const MARGIN: Duration = Duration::from_secs(10);

pub async fn handle(
    payments: &Payments,
    event: &ScheduledEvent,
    remaining: Duration,
) -> Result<ReconcileReport, NotScheduled> {
    if event.source != "aws.events" || event.detail_type != "Scheduled Event" {
        return Err(NotScheduled { source_name: event.source.clone(), detail_type: event.detail_type.clone() });
    }
    let budget = remaining.saturating_sub(MARGIN);
    let report = match tokio::time::timeout(budget, payments.reconcile(PER_RUN)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            // The index could not be read: the next run tries again; the alarm counts errors.
            tracing::error!(code = e.code, "reconcile: run failed");
            ReconcileReport { failed: 1, ..ReconcileReport::default() }
        }
        Err(_) => {
            tracing::warn!("reconcile: out of time; the next run continues");
            ReconcileReport::default()
        }
    };
    tracing::info!(report = %serde_json::to_string(&report).unwrap_or_default(), "reconcile run");
    Ok(report)
}
