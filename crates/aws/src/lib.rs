//! The AWS adapters: DynamoDB (the table), S3 (objects), SQS (the reminder queue) and Secrets
//! Manager (secrets read at cold start), each behind its own cargo feature so a function links
//! only the SDK clients it uses. All share one hand-built SDK configuration ([`sdk`]).

pub mod sdk;

#[cfg(feature = "dynamodb")]
pub mod dynamo;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "sqs")]
pub mod sqs;

use services::config::{ConfigError, Env};

/// The SDK configuration and the endpoint every client of one function shares.
#[derive(Clone)]
pub struct Aws {
    pub sdk: aws_types::SdkConfig,
    /// An emulator's endpoint (`AWS_ENDPOINT_URL`, e.g. moto); `None` on AWS.
    pub endpoint: Option<String>,
}

impl Aws {
    /// From the variables Lambda sets (`AWS_REGION`, the access-key variables) and, for an
    /// emulator, `AWS_ENDPOINT_URL`.
    pub fn from_env(env: &Env) -> Result<Aws, ConfigError> {
        let endpoint = env.get("AWS_ENDPOINT_URL");
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(ConfigError::malformed("AWS_ENDPOINT_URL", "must be an http(s) URL"));
        }
        Ok(Aws { sdk: sdk::config(env, endpoint.as_deref())?, endpoint })
    }

    pub fn region(&self) -> String {
        self.sdk.region().map(ToString::to_string).unwrap_or_default()
    }
}

/// Whether init opens the table connection (DNS, TCP, TLS) before the first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmUp {
    /// On demand (the default): the invocation that caused the cold start is already waiting
    /// for init, and its first table call would wait for the same handshake, so an extra call in
    /// init only adds a round trip and CPU to the cold start (and one for a first request that
    /// never reads the table). The first table call opens the connection.
    Off,
    /// Provisioned concurrency: init runs ahead of any request and is pre-paid, so the
    /// handshake happens there and no request waits for it. `WARM_CONNECTIONS=1` forces it.
    Wait,
}

impl WarmUp {
    pub fn from_env(env: &Env) -> WarmUp {
        Self::decide(env.get("WARM_CONNECTIONS").as_deref(), env.get("AWS_LAMBDA_INITIALIZATION_TYPE").as_deref())
    }

    fn decide(warm: Option<&str>, init_type: Option<&str>) -> WarmUp {
        match (warm, init_type) {
            (Some("0"), _) => WarmUp::Off,
            (Some("1"), _) | (_, Some("provisioned-concurrency" | "snap-start")) => WarmUp::Wait,
            _ => WarmUp::Off,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WarmUp;

    #[test]
    fn warm_up_waits_only_where_init_is_prepaid() {
        assert_eq!(WarmUp::decide(None, Some("provisioned-concurrency")), WarmUp::Wait);
        assert_eq!(WarmUp::decide(None, Some("on-demand")), WarmUp::Off);
        assert_eq!(WarmUp::decide(None, None), WarmUp::Off);
        assert_eq!(WarmUp::decide(Some("1"), Some("on-demand")), WarmUp::Wait);
        // Switched off wins over every initialisation type.
        assert_eq!(WarmUp::decide(Some("0"), Some("provisioned-concurrency")), WarmUp::Off);
    }
}
