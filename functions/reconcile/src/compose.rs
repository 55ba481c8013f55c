//! The `reconcile` function's composition root — and the payment service's on AWS, which the
//! `payment` function composes too: DynamoDB, the WeChat Pay keys from Secrets Manager (read at
//! cold start: every invocation of either function needs them) and WeChat Pay's settings, from
//! the variables `infra/template.yaml` sets. A missing or malformed one stops the cold start,
//! naming it.

use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use services::applications::Applications;
use services::config::{ConfigError, Env};
use services::payments::Payments;
use services::ports::{Clock, NoObjects, SystemClock};
use shared::reference::Reference;
use std::sync::Arc;
use wechat::pay::{PayKeys, PaySettings, WechatPay};

pub async fn from_env(env: &Env) -> Result<Payments, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<Payments, ConfigError> {
    let aws = Aws::from_env(env)?;
    Ok(payments(&aws, env, clock).await?.0)
}

/// The payment service on AWS, and the keys that check WeChat Pay's notifications.
pub async fn payments(aws: &Aws, env: &Env, clock: Arc<dyn Clock>) -> Result<(Payments, Arc<PayKeys>), ConfigError> {
    let settings = PaySettings::from_env(env)?;
    let secret = aws_adapters::secrets::Secrets::new(aws).read_now(env, "WECHATPAY_SECRET_ARN").await?;
    let keys =
        Arc::new(PayKeys::from_json(&secret).map_err(|why| ConfigError::malformed("WECHATPAY_SECRET_ARN", why))?);
    let table = Arc::new(DynamoTable::from_env(aws, env).await?);
    let reference = Arc::new(Reference::load_default()?);
    // No object store: payment reads no photo or proof.
    let apps = Applications { table, objects: Arc::new(NoObjects), clock, reference };
    let gateway = Arc::new(WechatPay::new(keys.clone(), settings));
    Ok((Payments { apps, gateway }, keys))
}
