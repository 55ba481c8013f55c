//! Lambda entry point for `payment`: composes the payment service once at cold start (the
//! WeChat Pay keys included), then serves.

use lambda_http::{Error, service_fn};
use std::sync::Arc;

// One thread: Lambda sends an environment one invocation at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    services::config::init_tracing();
    let f = Arc::new(payment::compose::from_env(&services::config::Env::Process).await?);
    lambda_http::run(service_fn(move |req| {
        let f = f.clone();
        async move { Ok::<_, std::convert::Infallible>(edge::http::Ready(payment::handle(&f, req).await)) }
    }))
    .await
}
