//! The `payment` function's composition root: the payment service as the reconciler composes it
//! (`reconcile::compose::payments`: DynamoDB, the WeChat Pay keys from Secrets Manager read at
//! cold start, WeChat Pay's settings), plus the keys its webhook checks notifications with.

use aws_adapters::Aws;
use services::config::{ConfigError, Env};
use services::ports::{Clock, SystemClock};
use std::sync::Arc;

pub async fn from_env(env: &Env) -> Result<crate::PaymentFn, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

/// The same, on a given clock (tests drive the shipped exam year's dates).
pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<crate::PaymentFn, ConfigError> {
    let aws = Aws::from_env(env)?;
    let (payments, keys) = reconcile::compose::payments(&aws, env, clock).await?;
    Ok(crate::PaymentFn { payments, keys })
}
