//! The reminder queue on SQS: batches of up to ten, string message attributes, per-message delay.
//! Entries SQS refuses in a batch are retried once; SQS is at-least-once, so a retry that
//! duplicates a message is absorbed by the idempotent consumer.

use crate::sdk::OnFirstUse;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use services::ports::{Queue, QueueMessage};
use store::StoreError;

pub struct SqsQueue {
    client: OnFirstUse<Client>,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: impl Into<OnFirstUse<Client>>, queue_url: impl Into<String>) -> Self {
        SqsQueue { client: client.into(), queue_url: queue_url.into() }
    }

    /// Opens the connection at cold start with a cheap attribute read.
    pub async fn warm(&self) {
        let _ = self.client.get().get_queue_attributes().queue_url(&self.queue_url).send().await;
    }

    fn entry(id: usize, m: &QueueMessage) -> Result<SendMessageBatchRequestEntry, StoreError> {
        let mut e = SendMessageBatchRequestEntry::builder()
            .id(id.to_string())
            .message_body(&m.body)
            .delay_seconds(m.delay_secs.min(900) as i32);
        for (k, v) in &m.attributes {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            e = e.message_attributes(k, attr);
        }
        e.build().map_err(|e| StoreError::Invalid(e.to_string()))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, messages: Vec<QueueMessage>) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        if messages.len() > 10 {
            return Err(StoreError::Invalid("more than 10 messages in one batch".into()));
        }
        let mut pending: Vec<usize> = (0..messages.len()).collect();
        for _attempt in 0..2 {
            let entries = pending.iter().map(|i| Self::entry(*i, &messages[*i])).collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .get()
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
            pending = out.failed.iter().filter_map(|f| f.id.parse().ok()).collect();
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(format!("{} messages refused by SQS", pending.len())))
    }

    async fn retry_later(&self, receipt: &str, delay_secs: u32) -> Result<(), StoreError> {
        self.client
            .get()
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            // SQS's ceiling: 12 hours.
            .visibility_timeout(delay_secs.min(43_200) as i32)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

impl SqsQueue {
    /// The queue at `QUEUE_URL`, its client built on first use.
    pub fn from_env(aws: &crate::Aws, env: &services::config::Env) -> Result<Self, services::config::ConfigError> {
        let url = env.require("QUEUE_URL")?;
        let conf = aws.sdk.clone();
        Ok(SqsQueue::new(OnFirstUse::new(move || Client::new(&conf)), url))
    }
}
