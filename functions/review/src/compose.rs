//! The `review` function's composition root: DynamoDB (applications, staff, sessions, the audit
//! trail), S3 (signed download URLs of photos and proofs) and Secrets Manager (the ID pepper,
//! for the R36 score merge), from the variables `infra/template.yaml` sets. No WeChat, no queue. A missing or malformed variable
//! stops the cold start, naming it.

use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use aws_adapters::s3::S3Objects;
use services::applications::Applications;
use services::config::{ConfigError, Env};
use services::ports::{Clock, SystemClock};
use services::staff::StaffService;
use shared::reference::Reference;
use std::sync::Arc;

/// Build the function's service from `env`, on the wall clock.
pub async fn from_env(env: &Env) -> Result<StaffService, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

/// The same, on a given clock (tests drive the shipped exam year's dates).
pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<StaffService, ConfigError> {
    let aws = Aws::from_env(env)?;
    // R36 only: fetched when a score merge first needs it (services::secret says why).
    let id_pepper = aws_adapters::secrets::Secrets::new(&aws).deferred(
        env,
        "ID_PEPPER_SECRET_ARN",
        services::secret::check_pepper,
    )?;
    let table = Arc::new(DynamoTable::from_env(&aws, env).await?);
    let objects = Arc::new(S3Objects::from_env(&aws, env)?);
    let reference = Arc::new(Reference::load_default()?);
    let apps = Applications { table: table.clone(), objects, clock: clock.clone(), reference: reference.clone() };
    // TOTP codes come from a phone's wall clock: the business clock is a test's to move.
    Ok(StaffService { table, totp_clock: clock.clone(), clock, reference, apps, id_pepper })
}
