//! The `upload` function's composition root: exactly the adapters it uses — DynamoDB (sessions,
//! the ticket counter, the owners it records judgements on) and S3 (tickets, the announced
//! version, pinned copies, deletes) — built from the variables `infra/template.yaml` sets. No
//! secret, no WeChat, no queue. A missing variable stops the cold start, naming it.

use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use aws_adapters::s3::S3Objects;
use services::applications::Applications;
use services::config::{ConfigError, Env};
use services::ports::{Clock, SystemClock};
use services::uploads::Uploads;
use shared::reference::Reference;
use std::sync::Arc;

/// Build the function's service from `env`, on the wall clock.
pub async fn from_env(env: &Env) -> Result<Uploads, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

/// The same, on a given clock (tests drive the shipped exam year's dates).
pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<Uploads, ConfigError> {
    let aws = Aws::from_env(env)?;
    let table = Arc::new(DynamoTable::from_env(&aws, env).await?);
    let objects = Arc::new(S3Objects::from_env(&aws, env)?);
    let apps = Applications { table, objects, clock, reference: Arc::new(Reference::load_default()?) };
    Ok(Uploads { apps })
}
