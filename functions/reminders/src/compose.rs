//! The `reminders` function's composition root: DynamoDB (markers and to-do items), SQS (the
//! back-off of a retried message), Secrets Manager (the WeChat AppSecret, for the access token)
//! and the WeChat server API (subscription messages), with the template of each reminder kind
//! from `REMINDER_TEMPLATES` — the variables `infra/template.yaml` sets. A missing or malformed
//! one stops the cold start, naming it.

use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use aws_adapters::sqs::SqsQueue;
use services::config::{ConfigError, Env};
use services::ports::{Clock, SystemClock};
use services::reminders::{Consumer, Templates};
use std::sync::Arc;

pub async fn from_env(env: &Env) -> Result<Consumer, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<Consumer, ConfigError> {
    let aws = Aws::from_env(env)?;
    let templates = Arc::new(Templates::from_env(env)?);
    let app_secret =
        aws_adapters::secrets::Secrets::new(&aws).deferred(env, "WECHAT_APP_SECRET_ARN", wechat::check_app_secret)?;
    let wechat = Arc::new(wechat::Wechat::new(wechat::Settings::from_env(env, app_secret)?));
    let table = Arc::new(DynamoTable::from_env(&aws, env).await?);
    let queue = Arc::new(SqsQueue::from_env(&aws, env)?);
    Ok(Consumer { table, sender: wechat, queue, clock, templates })
}
