//! The AWS backend under test: a real protocol server (moto) on loopback, started by
//! `scripts/test`, which exports its address as `MOTO_ENDPOINT`. Every test provisions its own
//! table, bucket and queue, so tests run in parallel without seeing each other.

use shared::deps::AwsSettings;

/// The emulator's address. Tests that need it fail — never skip — when it is missing.
pub fn moto_endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!("MOTO_ENDPOINT is not set: run scripts/test, which installs and starts moto on loopback"),
    }
}

/// The same hand-built SDK configuration the functions use (region and keys from the
/// environment `scripts/with-moto` sets), pointed at the emulator.
async fn sdk() -> aws_types::SdkConfig {
    shared::adapters::sdk::config(Some(&moto_endpoint())).expect("scripts/with-moto exports AWS_REGION and keys")
}

pub async fn dynamo_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk().await)
}

pub async fn s3_client() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk().await).force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub async fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk().await)
}

/// A fresh table (single-table schema), bucket and queue on the emulator.
pub async fn provision() -> AwsSettings {
    let suffix = shared::random::id();
    let table = format!("exam-{suffix}");
    let bucket = format!("uploads-{}", &suffix[..16]);
    shared::adapters::dynamo::create_table(&dynamo_client().await, &table).await.expect("create table on moto");
    s3_client().await.create_bucket().bucket(&bucket).send().await.expect("create bucket on moto");
    let queue =
        sqs_client().await.create_queue().queue_name(format!("reminders-{suffix}")).send().await.expect("create queue");
    AwsSettings { table, bucket, queue_url: queue.queue_url.expect("queue url"), endpoint: Some(moto_endpoint()) }
}
