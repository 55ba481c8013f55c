//! Lambda entry point for `reconcile`: composes the payment service once at cold start, then
//! reconciles on each scheduled event within the invocation's remaining time.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// One thread: Lambda sends an environment one invocation at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    services::config::init_tracing();
    let payments = Arc::new(reconcile::compose::from_env(&services::config::Env::Process).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<reconcile::ScheduledEvent>| {
        let payments = payments.clone();
        async move {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
            let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
            Ok::<_, Error>(reconcile::handle(&payments, &event.payload, remaining).await?)
        }
    }))
    .await
}
