//! Lambda entry point for `review`: composes the staff service once at cold start, then serves.

use lambda_http::{Error, service_fn};
use std::sync::Arc;

// One thread: Lambda sends an environment one invocation at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    services::config::init_tracing();
    // Fail at cold start, naming the variable, when configuration is wrong.
    let staff = Arc::new(review::compose::from_env(&services::config::Env::Process).await?);
    lambda_http::run(service_fn(move |req| {
        let staff = staff.clone();
        async move { Ok::<_, std::convert::Infallible>(edge::http::Ready(review::handle(&staff, req).await)) }
    }))
    .await
}
