//! Lambda entry point for `application`: builds the dependencies once at cold start, then serves.

use lambda_http::{Error, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::deps::init_tracing();
    // Fail at cold start, not on the first request, when configuration is wrong.
    let deps = Arc::new(shared::Deps::from_env().await?);
    lambda_http::run(service_fn(move |req| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(application::handle(&deps, req).await) }
    }))
    .await
}
