//! The `sweep` function's composition root: DynamoDB (the deadline index and the applications)
//! and the reference data, no object store, no queue (reminders go through the outbox), and its
//! pace from `SWEEP_RATE` and `SWEEP_IN_FLIGHT` (optional) — the variables `infra/template.yaml`
//! sets. A missing or malformed one stops the cold start, naming it.

use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use services::applications::Applications;
use services::config::{ConfigError, Env};
use services::ports::{Clock, NoObjects, SystemClock};
use services::sweep::{Pace, Sweep};
use shared::reference::Reference;
use std::sync::Arc;

pub async fn from_env(env: &Env) -> Result<Sweep, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<Sweep, ConfigError> {
    let aws = Aws::from_env(env)?;
    let pace = pace(env)?;
    let table = Arc::new(DynamoTable::from_env(&aws, env).await?);
    let reference = Arc::new(Reference::load_default()?);
    Ok(Sweep { apps: Applications { table, objects: Arc::new(NoObjects), clock, reference }, pace })
}

/// `SWEEP_RATE` (lapses per second, 1–1000) and `SWEEP_IN_FLIGHT` (1–128), defaults otherwise.
pub fn pace(env: &Env) -> Result<Pace, ConfigError> {
    let mut pace = Pace::default();
    if let Some(v) = env.get("SWEEP_RATE") {
        pace.per_second = v
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ConfigError::malformed("SWEEP_RATE", "a number of lapses per second, 1 to 1000"))?;
    }
    if let Some(v) = env.get("SWEEP_IN_FLIGHT") {
        pace.in_flight = v
            .parse()
            .ok()
            .filter(|n| (1..=128).contains(n))
            .ok_or_else(|| ConfigError::malformed("SWEEP_IN_FLIGHT", "a number of lapses at once, 1 to 128"))?;
    }
    Ok(pace)
}
