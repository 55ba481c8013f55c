//! The `relay` function's composition root: the reminder queue (SQS, `QUEUE_URL`) and nothing
//! else — no table (the stream brings the items), no secrets.

use aws_adapters::Aws;
use aws_adapters::sqs::SqsQueue;
use services::config::{ConfigError, Env};

pub fn from_env(env: &Env) -> Result<SqsQueue, ConfigError> {
    let aws = Aws::from_env(env)?;
    SqsQueue::from_env(&aws, env)
}
