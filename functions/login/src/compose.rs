//! The `login` function's composition root: exactly the adapters it uses — DynamoDB, S3 (photo
//! tickets and checks), Secrets Manager (the ID pepper and the WeChat AppSecret, read once) and
//! the WeChat server APIs (login and face verification) — built from the variables
//! `infra/template.yaml` sets. A missing or malformed one stops the cold start, naming it.

use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use aws_adapters::s3::S3Objects;
use services::accounts::Accounts;
use services::config::{ConfigError, Env};
use services::ports::{Clock, SystemClock};
use shared::reference::Reference;
use std::sync::Arc;

/// Build the function's service from `env`, on the wall clock.
pub async fn from_env(env: &Env) -> Result<Accounts, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

/// The same, on a given clock (tests drive the shipped exam year's dates; the clock is the one
/// thing a Lambda does not take from its environment).
pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<Accounts, ConfigError> {
    let aws = Aws::from_env(env)?;
    // Both secrets at once, through one client: two round trips in parallel, one wait in the
    // cold start.
    let secrets = aws_adapters::secrets::Secrets::new(&aws);
    let (pepper, app_secret) =
        tokio::join!(secrets.read(env, "ID_PEPPER_SECRET_ARN"), secrets.read(env, "WECHAT_APP_SECRET_ARN"));
    let (pepper, app_secret) = (pepper?, app_secret?);
    if pepper.len() < 32 {
        return Err(ConfigError::malformed("ID_PEPPER_SECRET_ARN", "the pepper must be at least 32 characters"));
    }
    let wechat = Arc::new(wechat::Wechat::new(wechat::Settings::from_env(env, app_secret)?));
    let table = Arc::new(DynamoTable::from_env(&aws, env).await?);
    let objects = Arc::new(S3Objects::from_env(&aws, env)?);
    Ok(Accounts {
        table,
        objects,
        clock,
        reference: Arc::new(Reference::load_default()?),
        wechat: wechat.clone(),
        face: wechat,
        id_pepper: Arc::from(pepper.as_bytes()),
        session_ttl: Accounts::default_session_ttl(),
    })
}
