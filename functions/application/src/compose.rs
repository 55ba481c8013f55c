//! The `application` function's composition root: exactly the adapters it uses — DynamoDB, S3
//! (the accepted photo on the printed form) and the form's fonts (`FORM_FONT_DIR`, the fonts
//! layer) — built from the variables `infra/template.yaml` sets. It needs no secret (candidate
//! ids come from the session, never from an ID number), no WeChat, no queue. A missing or
//! malformed variable stops the cold start, naming it.

use crate::App;
use crate::pdf::FormFonts;
use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use aws_adapters::s3::S3Objects;
use services::applications::Applications;
use services::config::{ConfigError, Env};
use services::ports::{Clock, SystemClock};
use shared::reference::Reference;
use std::sync::Arc;

/// Build the function's service from `env`, on the wall clock.
pub async fn from_env(env: &Env) -> Result<App, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

/// The same, on a given clock (tests drive the shipped exam year's dates; the clock is the one
/// thing a Lambda does not take from its environment).
pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<App, ConfigError> {
    let fonts = FormFonts::at(env.require("FORM_FONT_DIR")?.into())
        .map_err(|why| ConfigError::malformed("FORM_FONT_DIR", why))?;
    let aws = Aws::from_env(env)?;
    let table = Arc::new(DynamoTable::from_env(&aws, env).await?);
    let objects = Arc::new(S3Objects::from_env(&aws, env)?);
    let apps = Applications { table, objects, clock, reference: Arc::new(Reference::load_default()?) };
    Ok(App { apps, fonts })
}
