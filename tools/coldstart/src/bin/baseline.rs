//! The smallest useful Lambda function: `lambda_runtime` echoing its event. Built with the same
//! release profile as the real functions, it is the yardstick their cold start is compared to.

use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|e: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(e.payload) })).await
}
