//! Secrets Manager: the secrets a function reads (the ID pepper, the WeChat AppSecret), so they
//! never sit in its configuration in clear. The variable holds the secret's ARN; it is required
//! at cold start; the value is fetched when first needed, or in init where init is pre-paid
//! ([`services::secret`] says why).

use crate::Aws;
use services::config::{ConfigError, Env};
use services::secret::Secret;

/// One client for every secret a function reads.
pub struct Secrets(aws_sdk_secretsmanager::Client);

impl Secrets {
    pub fn new(aws: &Aws) -> Secrets {
        Secrets(aws_sdk_secretsmanager::Client::new(&aws.sdk))
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
                Box::pin(async move { read(&client, var, &arn).await })
            }),
        );
        Ok(secret)
    }
}

async fn read(client: &aws_sdk_secretsmanager::Client, var: &'static str, arn: &str) -> Result<String, ConfigError> {
    let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| ConfigError::Unreadable {
        var,
        why: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
    })?;
    out.secret_string.filter(|s| !s.is_empty()).ok_or(ConfigError::Unreadable { var, why: "no string value".into() })
}
