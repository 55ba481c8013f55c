//! The `reconcile` function's composition root — and the payment service's on AWS, which the
//! `payment` function composes too: DynamoDB, the WeChat Pay keys from Secrets Manager and
//! WeChat Pay's settings, from the variables `infra/template.yaml` sets. A missing or malformed
//! variable stops the cold start, naming it. The keys are read once per execution environment:
//! in init where init is pre-paid (provisioned concurrency — then a bad secret stops the start,
//! named), else by the first invocation that needs them (`services::secret` says why: a Secrets
//! Manager round trip is several Rust cold starts; `scripts/coldstart-bench` measured this
//! function at 5× the baseline reading it in every init).

use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use services::applications::Applications;
use services::config::{ConfigError, Env};
use services::payments::Payments;
use services::ports::{Clock, NoObjects, SystemClock};
use shared::reference::Reference;
use std::sync::Arc;
use wechat::pay::{PayKeySource, PaySettings, WechatPay, check_secret};

pub async fn from_env(env: &Env) -> Result<Payments, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<Payments, ConfigError> {
    let aws = Aws::from_env(env)?;
    Ok(payments(&aws, env, clock).await?.0)
}

/// The payment service on AWS, and the keys that check WeChat Pay's notifications.
pub async fn payments(
    aws: &Aws,
    env: &Env,
    clock: Arc<dyn Clock>,
) -> Result<(Payments, Arc<PayKeySource>), ConfigError> {
    let settings = PaySettings::from_env(env)?;
    let secret = aws_adapters::secrets::Secrets::new(aws).deferred(env, "WECHATPAY_SECRET_ARN", check_secret)?;
    let keys = Arc::new(PayKeySource::deferred(secret));
    if aws_adapters::WarmUp::from_env(env) == aws_adapters::WarmUp::Wait && keys.get().await.is_err() {
        return Err(ConfigError::malformed(
            "WECHATPAY_SECRET_ARN",
            "the WeChat Pay keys could not be read (see the log)",
        ));
    }
    let table = Arc::new(DynamoTable::from_env(aws, env).await?);
    let reference = Arc::new(Reference::load_default()?);
    // No object store: payment reads no photo or proof.
    let apps = Applications { table, objects: Arc::new(NoObjects), clock, reference };
    let gateway = Arc::new(WechatPay::new(keys.clone(), settings));
    Ok((Payments { apps, gateway }, keys))
}
