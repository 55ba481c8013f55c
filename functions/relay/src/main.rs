//! Lambda entry point for `relay`: composes the queue once at cold start, then relays batches.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

// One thread: Lambda sends an environment one invocation at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    services::config::init_tracing();
    let queue = Arc::new(relay::compose::from_env(&services::config::Env::Process)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<relay::StreamEvent>| {
        let queue = queue.clone();
        async move { Ok::<_, Error>(relay::handle(queue.as_ref(), event.payload).await) }
    }))
    .await
}
