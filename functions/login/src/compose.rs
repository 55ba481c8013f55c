//! The `login` function's composition root: exactly the adapters it uses — DynamoDB, Secrets
//! Manager (the ID pepper, the WeChat AppSecret and the Baidu App
//! Secret, fetched from cold start on), the WeChat server APIs (login and face verification) and
//! Baidu's smart-program login — built from the variables
//! `infra/template.yaml` sets. A missing or malformed one stops the cold start, naming it.

use aws_adapters::Aws;
use aws_adapters::dynamo::DynamoTable;
use services::accounts::Accounts;
use services::config::{ConfigError, Env};
use services::ports::{Clock, SystemClock};
use std::sync::Arc;

/// Build the function's service from `env`, on the wall clock.
pub async fn from_env(env: &Env) -> Result<Accounts, ConfigError> {
    build(env, Arc::new(SystemClock)).await
}

/// The same, on a given clock (tests drive the shipped exam year's dates; the clock is the one
/// thing a Lambda does not take from its environment).
pub async fn build(env: &Env, clock: Arc<dyn Clock>) -> Result<Accounts, ConfigError> {
    let aws = Aws::from_env(env)?;
    // Fetched through one client when first needed — or here, where init is pre-paid
    // (services::secret says why).
    let secrets = aws_adapters::secrets::Secrets::new(&aws);
    let pepper = secrets.deferred(env, "ID_PEPPER_SECRET_ARN", services::secret::check_pepper)?;
    let app_secret = secrets.deferred(env, "WECHAT_APP_SECRET_ARN", wechat::check_app_secret)?;
    let baidu_secret = secrets.deferred(env, "BAIDU_APP_SECRET_ARN", wechat::baidu::check_app_secret)?;
    if aws_adapters::WarmUp::from_env(env) == aws_adapters::WarmUp::Wait {
        let unreadable =
            |s: &services::secret::Secret| ConfigError::Unreadable { var: s.var(), why: "see the log".into() };
        let (a, b, c) = tokio::join!(pepper.get(), app_secret.get(), baidu_secret.get());
        a.map_err(|_| unreadable(&pepper))?;
        b.map_err(|_| unreadable(&app_secret))?;
        c.map_err(|_| unreadable(&baidu_secret))?;
    }
    let wechat = Arc::new(wechat::Wechat::new(wechat::Settings::from_env(env, app_secret)?));
    let baidu = Arc::new(wechat::baidu::Baidu::new(wechat::baidu::Settings::from_env(env, baidu_secret)?));
    let table = Arc::new(DynamoTable::from_env(&aws, env).await?);
    Ok(Accounts {
        table,
        clock,
        wechat: wechat.clone(),
        baidu,
        face: wechat,
        id_pepper: pepper,
        session_ttl: Accounts::default_session_ttl(),
    })
}
