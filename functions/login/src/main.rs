//! Lambda entry point for `login`: builds the dependencies once at cold start, then serves.

use lambda_http::{Error, service_fn};
use std::sync::Arc;

// One thread: Lambda sends an environment one invocation at a time, so worker threads would
// only add start-up time (and idle stacks) to every cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::deps::init_tracing();
    // Fail at cold start, not on the first request, when configuration is wrong.
    let deps = Arc::new(shared::Deps::from_env().await?);
    lambda_http::run(service_fn(move |req| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(login::handle(&deps, req).await) }
    }))
    .await
}
