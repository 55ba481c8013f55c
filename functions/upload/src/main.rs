//! Lambda entry point for `upload`: one function, two event sources — API Gateway (upload
//! tickets) and S3 (`ObjectCreated` under `uploads/`, judged here). Composes once at cold start.

use lambda_runtime::{Error, LambdaEvent, Service, service_fn};
use std::sync::Arc;

// One thread: Lambda sends an environment one invocation at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    services::config::init_tracing();
    let uploads = Arc::new(upload::compose::from_env(&services::config::Env::Process).await?);
    let tickets = {
        let uploads = uploads.clone();
        lambda_http::Adapter::from(lambda_http::service_fn(move |req| {
            let uploads = uploads.clone();
            async move { Ok::<_, std::convert::Infallible>(edge::http::Ready(upload::handle(&uploads, req).await)) }
        }))
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (uploads, mut tickets) = (uploads.clone(), tickets.clone());
        async move {
            let LambdaEvent { payload, context } = event;
            match upload::Incoming::parse(payload)? {
                upload::Incoming::Objects(e) => {
                    upload::handle_objects(&uploads, &e).await?;
                    Ok::<_, Error>(serde_json::Value::Null)
                }
                upload::Incoming::Http(req) => {
                    let resp = tickets.call(LambdaEvent { payload: *req, context }).await?;
                    Ok(serde_json::to_value(resp)?)
                }
            }
        }
    }))
    .await
}
