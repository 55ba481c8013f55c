//! The AWS backend under test: a real protocol server (moto) on loopback, started by
//! `scripts/test`, which exports its address as `MOTO_ENDPOINT`. Every test provisions its own
//! table, bucket, queue and secrets, so tests run in parallel without seeing each other.

use services::config::Env;
use std::collections::BTreeMap;

/// The emulator's address. Tests that need it fail — never skip — when it is missing.
pub fn moto_endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!("MOTO_ENDPOINT is not set: run scripts/test, which installs and starts moto on loopback"),
    }
}

/// What a Lambda's environment gets from its execution role and the emulator: region, keys and
/// the endpoint (`scripts/with-moto` exports the region and keys).
pub fn base_vars() -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    for name in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        if let Ok(value) = std::env::var(name) {
            v.insert(name.to_string(), value);
        }
    }
    v.insert("AWS_ENDPOINT_URL".into(), moto_endpoint());
    v
}

/// The same hand-built SDK configuration the functions use, pointed at the emulator.
fn sdk() -> aws_types::SdkConfig {
    aws_adapters::Aws::from_env(&Env::Map(base_vars())).expect("scripts/with-moto exports AWS_REGION and keys").sdk
}

pub async fn dynamo_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk())
}

pub async fn s3_client() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk()).force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub async fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk())
}

pub async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk())
}

/// Resources made on the emulator for one test.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    pub bucket: String,
    pub queue_url: String,
    /// Where the bucket announces `ObjectCreated` under `uploads/` (moto delivers S3 notices to
    /// SQS; on AWS the bucket invokes the upload function directly).
    pub upload_events_url: String,
}

impl Provisioned {
    /// The environment a function would get for these resources (plus region, keys, endpoint).
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut v = base_vars();
        v.insert("TABLE_NAME".into(), self.table.clone());
        v.insert("BUCKET_NAME".into(), self.bucket.clone());
        v.insert("QUEUE_URL".into(), self.queue_url.clone());
        v
    }

    pub fn env(&self) -> Env {
        Env::Map(self.vars())
    }
}

/// A fresh table (single-table schema), bucket and queue on the emulator.
pub async fn provision() -> Provisioned {
    let suffix = shared::random::id();
    let table = format!("exam-{suffix}");
    let bucket = format!("uploads-{}", &suffix[..16]);
    aws_adapters::dynamo::create_table(&dynamo_client().await, &table).await.expect("create table on moto");
    s3_client().await.create_bucket().bucket(&bucket).send().await.expect("create bucket on moto");
    let queue =
        sqs_client().await.create_queue().queue_name(format!("reminders-{suffix}")).send().await.expect("create queue");
    let events = format!("upload-events-{suffix}");
    let events_url =
        sqs_client().await.create_queue().queue_name(&events).send().await.expect("create queue").queue_url;
    let s3 = s3_client().await;
    // As the template's bucket: versioned, announcing every object created under uploads/.
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning on moto");
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let rule = aws_sdk_s3::types::FilterRule::builder()
        .name(aws_sdk_s3::types::FilterRuleName::Prefix)
        .value("uploads/")
        .build();
    let filter = aws_sdk_s3::types::NotificationConfigurationFilter::builder()
        .key(aws_sdk_s3::types::S3KeyFilter::builder().filter_rules(rule).build())
        .build();
    let to_queue = aws_sdk_s3::types::QueueConfiguration::builder()
        .queue_arn(format!("arn:aws:sqs:{region}:123456789012:{events}"))
        .events(aws_sdk_s3::types::Event::from("s3:ObjectCreated:*"))
        .filter(filter)
        .build()
        .expect("queue configuration");
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder().queue_configurations(to_queue).build(),
        )
        .send()
        .await
        .expect("bucket notification on moto");
    Provisioned {
        table,
        bucket,
        queue_url: queue.queue_url.expect("queue url"),
        upload_events_url: events_url.expect("queue url"),
    }
}

/// Deliver the bucket's upload notices to the upload function's handler, as S3 invokes it on
/// AWS: each SQS message is one S3 event; a message whose event fails stays for redelivery.
pub fn deliver_upload_notices(queue_url: String, uploads: services::uploads::Uploads) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let sqs = sqs_client().await;
        loop {
            let got = match sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                // Short polls: a long poll holds moto's SQS backend, and every other queue call
                // (the reminders' pump) would wait behind it.
                .wait_time_seconds(0)
                .visibility_timeout(2)
                .send()
                .await
            {
                Ok(g) => g,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            }
            for m in messages {
                let body = m.body.unwrap_or_default();
                let done = match serde_json::from_str::<upload::S3Event>(&body) {
                    Ok(event) => upload::handle_objects(&uploads, &event).await.is_ok(),
                    // Not an event notification (S3 sends a test event when configured).
                    Err(_) => true,
                };
                if done && let Some(h) = m.receipt_handle {
                    let _ = sqs.delete_message().queue_url(&queue_url).receipt_handle(h).send().await;
                }
            }
        }
    })
}

/// A secret on the emulator; returns its ARN.
pub async fn secret(name_prefix: &str, value: &str) -> String {
    let out = secrets_client()
        .await
        .create_secret()
        .name(format!("{name_prefix}-{}", shared::random::id()))
        .secret_string(value)
        .send()
        .await
        .expect("create secret on moto");
    out.arn.expect("secret arn")
}

/// A plain GET (a presigned S3 URL on moto): status and body bytes.
pub async fn http_get(url: &str) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = hyper::Request::get(url).body(http_body_util::Full::new(bytes::Bytes::new())).expect("request");
    let resp = client.request(req).await.expect("server answers");
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.expect("body").to_bytes().to_vec())
}

/// One call to the DynamoDB Streams API on the emulator (JSON 1.0 protocol; moto routes it by
/// the target and does not check signatures, so the SDK's streams client is not needed).
pub async fn streams_call(target: &str, body: serde_json::Value) -> serde_json::Value {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let req = hyper::Request::post(moto_endpoint())
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("DynamoDBStreams_20120810.{target}"))
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=test/20240101/{region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
        .expect("request");
    let resp = client.request(req).await.expect("moto answers");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(status, 200, "{target}: {}", String::from_utf8_lossy(&bytes));
    serde_json::from_slice(&bytes).expect("JSON")
}

/// Reads a table's stream from its start, as the relay's event source mapping does on AWS
/// (moto keeps one shard). Each read takes a fresh iterator after the last record seen: moto
/// rolls a failed transaction back by restoring a copy of its tables, and an iterator taken
/// before that keeps reading the old copy's shard, which no longer grows.
pub struct StreamReader {
    arn: String,
    shard: String,
    last: Option<String>,
}

impl StreamReader {
    pub async fn open(table: &str) -> StreamReader {
        let t = dynamo_client().await.describe_table().table_name(table).send().await.expect("describe table");
        let arn = t.table.and_then(|t| t.latest_stream_arn).expect("the table has a stream");
        let d = streams_call("DescribeStream", serde_json::json!({"StreamArn": arn})).await;
        let shard = d["StreamDescription"]["Shards"][0]["ShardId"].as_str().expect("a shard").to_string();
        StreamReader { arn, shard, last: None }
    }

    /// The next records (`GetRecords` output's `Records`), empty when caught up.
    pub async fn read(&mut self) -> Vec<serde_json::Value> {
        let mut req = serde_json::json!({"StreamArn": self.arn, "ShardId": self.shard});
        match &self.last {
            None => req["ShardIteratorType"] = "TRIM_HORIZON".into(),
            Some(seq) => {
                req["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER".into();
                req["SequenceNumber"] = seq.clone().into();
            }
        }
        let it = streams_call("GetShardIterator", req).await;
        let it = it["ShardIterator"].as_str().expect("an iterator").to_string();
        let out = streams_call("GetRecords", serde_json::json!({"ShardIterator": it, "Limit": 100})).await;
        let records = out["Records"].as_array().cloned().unwrap_or_default();
        if let Some(seq) = records.last().and_then(|r| r["dynamodb"]["SequenceNumber"].as_str()) {
            self.last = Some(seq.to_string());
        }
        records
    }
}
