//! Secrets Manager: secrets read once at cold start (the ID pepper, the WeChat app secret), so
//! they never sit in a function's configuration in clear. The variable holds the secret's ARN.

use crate::Aws;
use services::config::{ConfigError, Env};

/// One client for every secret a function reads at cold start.
pub struct Secrets(aws_sdk_secretsmanager::Client);

impl Secrets {
    pub fn new(aws: &Aws) -> Secrets {
        Secrets(aws_sdk_secretsmanager::Client::new(&aws.sdk))
    }

    /// The secret string whose ARN is in `var`. A missing variable, an unreadable secret or one
    /// without a string value stops the cold start, naming `var`.
    pub async fn read(&self, env: &Env, var: &'static str) -> Result<String, ConfigError> {
        let arn = env.require(var)?;
        let out = self.0.get_secret_value().secret_id(&arn).send().await.map_err(|e| ConfigError::Unreadable {
            var,
            why: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
        out.secret_string
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError::Unreadable { var, why: "no string value".into() })
    }
}
