//! Adapters: the embedded default (SQLite file, local disk, in-process queue, local stand-ins)
//! and AWS (DynamoDB, S3, SQS).

pub mod dynamo;
pub mod local;
pub mod s3;
pub mod sdk;
pub mod sqlite;
pub mod sqs;
