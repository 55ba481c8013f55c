//! Lambda entry point for `application`: composes the service once at cold start, then serves.

use lambda_http::{Error, service_fn};
use std::sync::Arc;

// One thread: Lambda sends an environment one invocation at a time, so worker threads would
// only add start-up time (and idle stacks) to every cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    services::config::init_tracing();
    // Fail at cold start, naming the variable, when configuration is wrong.
    let apps = Arc::new(application::compose::from_env(&services::config::Env::Process).await?);
    lambda_http::run(service_fn(move |req| {
        let apps = apps.clone();
        async move { Ok::<_, std::convert::Infallible>(edge::http::Ready(application::handle(&apps, req).await)) }
    }))
    .await
}
