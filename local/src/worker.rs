//! The local server's background work, what the relay, reminders and sweep functions do on AWS,
//! composed from the same services: the embedded table's stream → the in-process queue (the
//! relay), the queue → to-do items and recorded subscription messages (the consumer), and the
//! deadline sweep — on timers, or at once through `POST /local/sweep` and [`Worker::pump`].

use embedded::local::{LocalQueue, LocalSubscriptionRecorder};
use embedded::sqlite::SqliteTable;
use services::reminders::{Consumer, Received, StreamRecord, relay};
use services::sweep::{Report, Sweep};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Deliveries before a message is given up (the queue's maxReceiveCount on AWS).
const MAX_RECEIVES: u32 = 5;

pub struct Worker {
    pub table: Arc<SqliteTable>,
    pub queue: Arc<LocalQueue>,
    pub consumer: Consumer,
    pub sweep: Sweep,
    pub recorder: Arc<LocalSubscriptionRecorder>,
    /// Messages to deliver again, and when.
    retries: Mutex<Vec<(Received, Instant)>>,
    /// Messages given up after [`MAX_RECEIVES`] (the dead-letter queue).
    pub dead: Mutex<Vec<Received>>,
    next_id: AtomicU64,
}

impl Worker {
    pub fn new(
        table: Arc<SqliteTable>,
        queue: Arc<LocalQueue>,
        consumer: Consumer,
        sweep: Sweep,
        recorder: Arc<LocalSubscriptionRecorder>,
    ) -> Worker {
        Worker {
            table,
            queue,
            consumer,
            sweep,
            recorder,
            retries: Mutex::new(vec![]),
            dead: Mutex::new(vec![]),
            next_id: AtomicU64::new(1),
        }
    }

    /// Relay new outbox items to the queue; how many were forwarded.
    pub async fn relay_once(&self) -> usize {
        let mut total = 0;
        loop {
            let batch = match self.table.stream_after(0, 100) {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => return total,
                Err(e) => {
                    tracing::warn!(error = %e, "local relay: stream unreadable");
                    return total;
                }
            };
            let last = batch.last().map(|(seq, _)| *seq).unwrap_or(0);
            let records: Vec<StreamRecord> = batch
                .into_iter()
                .map(|(seq, item)| StreamRecord { position: seq.to_string(), new_item: Some(item) })
                .collect();
            match relay(self.queue.as_ref(), &records).await {
                Ok(n) => total += n,
                Err(position) => {
                    // Trim what went through; the rest is read again next time.
                    let upto = position.parse::<i64>().map(|p| p - 1).unwrap_or(0);
                    let _ = self.table.trim_stream(upto);
                    return total;
                }
            }
            if let Err(e) = self.table.trim_stream(last) {
                tracing::warn!(error = %e, "local relay: stream not trimmed");
                return total;
            }
        }
    }

    /// Deliver the queued messages (and retries that are due) to the consumer, ten at a time;
    /// how many were delivered.
    pub async fn consume_once(&self) -> usize {
        let mut batch: Vec<Received> = self
            .queue
            .drain()
            .into_iter()
            .map(|m| {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                Received {
                    message_id: format!("local-{id}"),
                    receipt: format!("local-{id}"),
                    body: m.body,
                    receive_count: 1,
                }
            })
            .collect();
        {
            let mut retries = self.retries.lock().await;
            let now = Instant::now();
            let (due, later): (Vec<_>, Vec<_>) = retries.drain(..).partition(|(_, at)| *at <= now);
            *retries = later;
            batch.extend(due.into_iter().map(|(m, _)| m));
        }
        let n = batch.len();
        for chunk in batch.chunks(10) {
            let failed = self.consumer.consume(chunk).await;
            for m in chunk.iter().filter(|m| failed.contains(&m.message_id)) {
                let mut again = m.clone();
                again.receive_count += 1;
                if again.receive_count > MAX_RECEIVES {
                    tracing::error!(message_id = %m.message_id, "local queue: message given up (dead letter)");
                    self.dead.lock().await.push(again);
                } else {
                    let delay = Duration::from_secs(u64::from(services::reminders::backoff_secs(m.receive_count)));
                    self.retries.lock().await.push((again, Instant::now() + delay));
                }
            }
        }
        n
    }

    /// Relay and consume until nothing is left (retries waiting on their back-off stay).
    pub async fn pump(&self) {
        while self.relay_once().await > 0 || self.consume_once().await > 0 {}
    }

    /// Run the sweep now, then deliver what it caused.
    pub async fn sweep_now(&self, budget: Duration) -> Report {
        let report = self.sweep.run(budget).await;
        self.pump().await;
        report
    }

    /// The timers: relay and consume every `relay_every`, sweep every `sweep_every`.
    pub fn spawn(
        self: &Arc<Self>,
        relay_every: Duration,
        sweep_every: Option<Duration>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![];
        let w = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(relay_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                w.pump().await;
            }
        }));
        if let Some(every) = sweep_every {
            let w = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let r = w.sweep_now(every.mul_f32(0.8)).await;
                    if r.lapsed + r.warned > 0 {
                        tracing::info!(lapsed = r.lapsed, warned = r.warned, "local sweep");
                    }
                }
            }));
        }
        tasks
    }
}
