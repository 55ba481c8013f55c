//! The `reminders` function: the consumer of the reminder queue. For each message, once (a
//! processed-marker claimed with a lease): the candidate's to-do item, and the WeChat
//! subscription message; WeChat's answer decides between done, refused for good (recorded) and
//! later (the message is reported failed, with a visibility back-off). A message that is not a
//! reminder is reported failed until the queue moves it to the dead-letter queue.

pub mod compose;

use serde::Deserialize;
use services::reminders::{BatchFailures, Consumer, Received};

/// An SQS event as Lambda delivers it (only the fields the consumer reads).
#[derive(Debug, Deserialize)]
pub struct SqsEvent {
    #[serde(rename = "Records")]
    pub records: Vec<SqsRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsRecord {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    #[serde(default)]
    pub attributes: Attributes,
}

#[derive(Debug, Default, Deserialize)]
pub struct Attributes {
    #[serde(rename = "ApproximateReceiveCount")]
    pub approximate_receive_count: Option<String>,
}

/// The messages as the consumer takes them.
pub fn received(event: SqsEvent) -> Vec<Received> {
    event
        .records
        .into_iter()
        .map(|r| Received {
            receive_count: r.attributes.approximate_receive_count.and_then(|n| n.parse().ok()).unwrap_or(1),
            message_id: r.message_id,
            receipt: r.receipt_handle,
            body: r.body,
        })
        .collect()
}

/// The longest one message can take: a token, a send, a refresh and a send again (3 s each),
/// and two table writes — no message starts with less than this left.
pub const PER_MESSAGE: std::time::Duration = std::time::Duration::from_secs(15);

/// Handle one batch, starting no message after `stop`: the ids of the messages to deliver again.
pub async fn handle(consumer: &Consumer, event: SqsEvent, stop: Option<std::time::Instant>) -> BatchFailures {
    let batch = received(event);
    let failed = consumer.consume_until(&batch, stop).await;
    tracing::info!(messages = batch.len(), failed = failed.len(), "reminders done");
    BatchFailures::of(failed)
}
