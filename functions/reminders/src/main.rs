//! Lambda entry point for `reminders`: composes the consumer once at cold start, then consumes.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// One thread: Lambda sends an environment one invocation at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    services::config::init_tracing();
    let consumer = Arc::new(reminders::compose::from_env(&services::config::Env::Process).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<reminders::SqsEvent>| {
        let consumer = consumer.clone();
        async move {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
            let left = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
            let stop = Instant::now() + left.saturating_sub(reminders::PER_MESSAGE);
            Ok::<_, Error>(reminders::handle(&consumer, event.payload, Some(stop)).await)
        }
    }))
    .await
}
