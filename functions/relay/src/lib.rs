//! The `relay` function: the table's stream (new outbox items only, by the event source's
//! filter) → the reminder queue. It forwards each outbox item's message as it is, in order, ten
//! per SQS batch, and reports the first record it could not forward so the stream redelivers
//! from there (`ReportBatchItemFailures`); duplicates are the consumer's to absorb.

pub mod compose;

use serde::Deserialize;
use serde_json::{Map, Value};
use services::ports::Queue;
use services::reminders::{BatchFailures, StreamRecord, relay};
use store::Item;

/// A DynamoDB stream event as Lambda delivers it (only the fields the relay reads).
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records")]
    pub records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
pub struct Record {
    #[serde(rename = "eventName")]
    pub event_name: String,
    pub dynamodb: Change,
}

#[derive(Debug, Deserialize)]
pub struct Change {
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    /// DynamoDB JSON (`{"pk": {"S": "…"}}`); present for INSERT with view type NEW_IMAGE.
    #[serde(rename = "NewImage", default)]
    pub new_image: Option<Map<String, Value>>,
}

/// A new image's string and number attributes as a plain item (outbox items have no others).
pub fn plain(image: &Map<String, Value>) -> Item {
    image
        .iter()
        .filter_map(|(k, v)| {
            let v = v
                .get("S")
                .cloned()
                .or_else(|| v.get("N").and_then(Value::as_str).and_then(|n| n.parse::<i64>().ok()).map(Value::from))?;
            Some((k.clone(), v))
        })
        .collect()
}

/// The records as the relay service takes them: only inserts carry an item.
pub fn records(event: &StreamEvent) -> Vec<StreamRecord> {
    event
        .records
        .iter()
        .map(|r| StreamRecord {
            position: r.dynamodb.sequence_number.clone(),
            new_item: (r.event_name == "INSERT").then(|| r.dynamodb.new_image.as_ref().map(plain)).flatten(),
        })
        .collect()
}

/// Handle one stream batch.
pub async fn handle(queue: &dyn Queue, event: StreamEvent) -> BatchFailures {
    let records = records(&event);
    match relay(queue, &records).await {
        Ok(n) => {
            tracing::info!(records = records.len(), forwarded = n, "relay done");
            BatchFailures::default()
        }
        Err(position) => BatchFailures::of([position]),
    }
}
