//! Lambda entry point for `sweep`: composes the sweep once at cold start, then runs it on each
//! scheduled event within the invocation's remaining time.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// One thread: Lambda sends an environment one invocation at a time (the lapses it starts are
// network-bound and interleave on it).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    services::config::init_tracing();
    let sweep = Arc::new(sweep::compose::from_env(&services::config::Env::Process).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<sweep::ScheduledEvent>| {
        let sweep = sweep.clone();
        async move {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
            let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
            Ok::<_, Error>(sweep::handle(&sweep, &event.payload, remaining).await?)
        }
    }))
    .await
}
