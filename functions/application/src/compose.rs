//! The `application` function's composition root: exactly the adapters it uses — DynamoDB and
//! S3 (upload tickets, upload checks) — built from the variables `infra/template.yaml` sets. It
//! needs no secret (candidate ids come from the session, never from an ID number), no WeChat,
//! no queue. A missing or malformed variable stops the cold start, naming it.

use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use aws_adapters::s3::S3Objects;
use services::applications::Applications;
use services::config::{ConfigError, Env};
use services::ports::{Clock, SystemClock};
use shared::reference::Reference;
use std::sync::Arc;

/// Build the function's service from `env`, on the wall clock.
pub async fn from_env(env: &Env) -> Result<Applications, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

/// The same, on a given clock (tests drive the shipped exam year's dates; the clock is the one
/// thing a Lambda does not take from its environment).
pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<Applications, ConfigError> {
    let aws = Aws::from_env(env)?;
    let table = Arc::new(DynamoTable::from_env(&aws, env).await?);
    let objects = Arc::new(S3Objects::from_env(&aws, env)?);
    Ok(Applications { table, objects, clock, reference: Arc::new(Reference::load_default()?) })
}
