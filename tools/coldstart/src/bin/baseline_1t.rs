//! The baseline on a single-threaded Tokio runtime, as the real functions run: printed beside
//! the stock baseline so the ratio's yardstick is visible, not only the flattering one.

use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|e: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(e.payload) })).await
}
