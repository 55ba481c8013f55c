//! Reminders end to end for a [`crate::TestApp`], on either backend: what the relay, the
//! consumer and WeChat do after a transition. Embedded: the local server's worker (its table's
//! stream, the in-process queue). Moto: the table's real stream read with `GetRecords` and fed to
//! the `relay` function's handler, the real SQS queue, and the `reminders` function's handler
//! on the messages `ReceiveMessage` gives — deleted when handled, as Lambda does, left for
//! redelivery when reported failed. Both record the subscription messages in a recorder.

use crate::aws::{StreamReader, sqs_client};
use embedded::local::LocalSubscriptionRecorder;
use serde_json::{Value, json};
use services::reminders::{Consumer, Templates};
use std::sync::Arc;
use tokio::sync::Mutex;

// One per test: the size difference between the variants doesn't matter.
#[allow(clippy::large_enum_variant)]
pub enum Mail {
    Embedded(Arc<local_server::worker::Worker>),
    Moto {
        stream: Mutex<StreamReader>,
        queue: aws_adapters::sqs::SqsQueue,
        queue_url: String,
        consumer: Consumer,
        recorder: Arc<LocalSubscriptionRecorder>,
    },
}

impl Mail {
    pub async fn moto(vars: &std::collections::BTreeMap<String, String>, deps: &local_server::System) -> Mail {
        let env = services::config::Env::Map(vars.clone());
        let aws = aws_adapters::Aws::from_env(&env).expect("aws");
        let recorder = Arc::new(LocalSubscriptionRecorder::default());
        let templates = Templates::parse(&embedded::local::local_templates()).expect("templates");
        let queue = Arc::new(aws_adapters::sqs::SqsQueue::from_env(&aws, &env).expect("queue"));
        let consumer = Consumer {
            table: deps.table.clone(),
            sender: recorder.clone(),
            queue,
            clock: deps.clock.clone(),
            templates: Arc::new(templates),
        };
        Mail::Moto {
            stream: Mutex::new(StreamReader::open(&vars["TABLE_NAME"]).await),
            queue: aws_adapters::sqs::SqsQueue::from_env(&aws, &env).expect("queue"),
            queue_url: vars["QUEUE_URL"].clone(),
            consumer,
            recorder,
        }
    }

    /// Relay and deliver everything pending now.
    pub async fn deliver(&self) {
        match self {
            Mail::Embedded(w) => w.pump().await,
            Mail::Moto { stream, queue, queue_url, consumer, .. } => {
                let mut stream = stream.lock().await;
                loop {
                    let records = stream.read().await;
                    if records.is_empty() {
                        break;
                    }
                    let event: relay::StreamEvent = serde_json::from_value(json!({ "Records": records }))
                        .expect("GetRecords output is a stream event");
                    let out = relay::handle(queue, event).await;
                    assert!(out.batch_item_failures.is_empty(), "relay failed: {out:?}");
                }
                drop(stream);
                let sqs = sqs_client().await;
                loop {
                    let got = sqs
                        .receive_message()
                        .queue_url(queue_url)
                        .max_number_of_messages(10)
                        .message_system_attribute_names(
                            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                        )
                        .send()
                        .await
                        .expect("receive");
                    let messages = got.messages.unwrap_or_default();
                    if messages.is_empty() {
                        break;
                    }
                    let records: Vec<Value> = messages
                        .iter()
                        .map(|m| {
                            let count = m
                                .attributes
                                .as_ref()
                                .and_then(|a| {
                                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                                })
                                .cloned()
                                .unwrap_or_else(|| "1".into());
                            json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                                   "attributes": {"ApproximateReceiveCount": count}})
                        })
                        .collect();
                    let event: reminders::SqsEvent =
                        serde_json::from_value(json!({ "Records": records })).expect("SQS event");
                    let out = reminders::handle(consumer, event, None).await;
                    let failed: Vec<&str> =
                        out.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
                    for m in &messages {
                        if !failed.contains(&m.message_id.as_deref().unwrap_or("")) {
                            sqs.delete_message()
                                .queue_url(queue_url)
                                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                                .send()
                                .await
                                .expect("delete");
                        }
                    }
                    if failed.len() == messages.len() {
                        break;
                    }
                }
            }
        }
    }

    /// The subscription messages WeChat was sent, oldest first.
    pub fn sent(&self) -> Vec<Value> {
        match self {
            Mail::Embedded(w) => w.recorder.sent(),
            Mail::Moto { recorder, .. } => recorder.sent(),
        }
    }
}
