//! Lambda entry point for `reminders`: composes the consumer once at cold start, then consumes.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

// One thread: Lambda sends an environment one invocation at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    services::config::init_tracing();
    let consumer = Arc::new(reminders::compose::from_env(&services::config::Env::Process).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<reminders::SqsEvent>| {
        let consumer = consumer.clone();
        async move { Ok::<_, Error>(reminders::handle(&consumer, event.payload).await) }
    }))
    .await
}
