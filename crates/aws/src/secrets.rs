//! Secrets Manager: the secrets a function reads (the ID pepper, the WeChat AppSecret), so they
//! never sit in its configuration in clear. The variable holds the secret's ARN; it is required
//! at cold start; the value is fetched when first needed, or in init where init is pre-paid
//! ([`services::secret`] says why).

use crate::Aws;
use crate::sdk::OnFirstUse;
use aws_sdk_secretsmanager::Client;
use services::config::{ConfigError, Env};
use services::secret::Secret;
use std::sync::Arc;

/// One client for every secret a function reads, built when the first one is fetched: building
/// it parses the SDK's partition table, which a cold start whose first request needs no secret
/// should not pay for.
pub struct Secrets(Arc<OnFirstUse<Client>>);

impl Secrets {
    pub fn new(aws: &Aws) -> Secrets {
        let conf = aws.sdk.clone();
        Secrets(Arc::new(OnFirstUse::new(move || Client::new(&conf))))
    }

    /// The secret whose ARN is in `var` (which must be set: else the cold start stops, naming
    /// it), fetched when first needed; `check` says what a good value looks like.
    pub fn deferred(
        &self,
        env: &Env,
        var: &'static str,
        check: fn(&str) -> Result<(), &'static str>,
    ) -> Result<Secret, ConfigError> {
        let arn = env.require(var)?;
        let client = self.0.clone();
        let secret = Secret::deferred(
            var,
            check,
            Box::new(move || {
                let (client, arn) = (client.clone(), arn.clone());
                Box::pin(async move { read(client.get(), var, &arn).await })
            }),
        );
        Ok(secret)
    }
}

async fn read(client: &Client, var: &'static str, arn: &str) -> Result<String, ConfigError> {
    let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| ConfigError::Unreadable {
        var,
        why: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
    })?;
    out.secret_string.filter(|s| !s.is_empty()).ok_or(ConfigError::Unreadable { var, why: "no string value".into() })
}
