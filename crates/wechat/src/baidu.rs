//! Baidu smart-program login (百度智能小程序, R2): the `swan.login` code → the user's openid, by
//! `POST https://spapi.baidu.com/oauth/jscode2sessionkey` (form `code`, `client_id` = the App
//! Key, `sk` = the App Secret). Baidu answers `{openid, session_key}`, or an OAuth-style error
//! `{error, error_description}` (newer answers add a numeric `errno`). Only the openid is read;
//! the session key is never parsed, kept or logged.

use crate::{Fault, exchange, plausible_code, usable_openid};
use bytes::Bytes;
use hyper_util::client::legacy::Client;
use serde_json::Value;
use services::config::{ConfigError, Env};
use services::ports::MiniProgramLogin;
use services::secret::Secret;
use shared::error::{Kind, Refusal};

/// Baidu's smart-program API host.
pub const API_BASE: &str = "https://spapi.baidu.com";

/// What the Baidu adapter needs.
#[derive(Clone)]
pub struct Settings {
    /// The smart program's App Key (`client_id`).
    pub app_key: String,
    pub app_secret: Secret,
    /// `https://spapi.baidu.com` on AWS; a loopback `http://` URL for the local protocol server.
    pub base: String,
}

// NOTE: hand-written so the app secret never reaches a log through `{:?}`.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings").field("app_key", &self.app_key).field("base", &self.base).finish_non_exhaustive()
    }
}

/// What a Baidu App Key or App Secret looks like (32 letters and digits in Baidu's examples;
/// a looser bound so a longer one issued later is not refused at cold start).
fn plausible_key(v: &str) -> bool {
    (16..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Checked when the App Secret arrives from the secret store.
pub fn check_app_secret(v: &str) -> Result<(), &'static str> {
    if plausible_key(v) { Ok(()) } else { Err("not a Baidu smart-program App Secret") }
}

impl Settings {
    /// `BAIDU_APP_KEY` and, optionally, `BAIDU_API_BASE`; the secret is read by the caller.
    pub fn from_env(env: &Env, app_secret: Secret) -> Result<Settings, ConfigError> {
        let app_key = env.require("BAIDU_APP_KEY")?;
        if !plausible_key(&app_key) {
            return Err(ConfigError::malformed("BAIDU_APP_KEY", "a smart-program App Key is 16–64 letters and digits"));
        }
        let base = crate::api_base(env, "BAIDU_API_BASE", API_BASE)?;
        Ok(Settings { app_key, app_secret, base })
    }
}

/// The Baidu API client: one per function.
pub struct Baidu {
    settings: Settings,
    http: std::sync::OnceLock<Client<crate::Https, http_body_util::Full<Bytes>>>,
}

fn unavailable(code: &'static str) -> Refusal {
    Refusal::new(Kind::Unavailable, code, "百度服务繁忙,请稍后再试")
}

fn code_invalid() -> Refusal {
    Refusal::new(Kind::Unauthorized, "BAIDU_CODE_INVALID", "百度登录凭证无效,请重新进入小程序")
}

impl Baidu {
    pub fn new(settings: Settings) -> Baidu {
        Baidu { settings, http: std::sync::OnceLock::new() }
    }
}

#[async_trait::async_trait]
impl MiniProgramLogin for Baidu {
    async fn openid(&self, code: &str) -> Result<String, Refusal> {
        if !plausible_code(code) {
            return Err(code_invalid());
        }
        let secret = self.settings.app_secret.get().await?;
        let form = format!(
            "code={}&client_id={}&sk={}",
            crate::encode(code),
            crate::encode(&self.settings.app_key),
            crate::encode(&secret)
        );
        let uri = format!("{}/oauth/jscode2sessionkey", self.settings.base);
        let body = Some(("application/x-www-form-urlencoded", Bytes::from(form)));
        // Baidu's OAuth endpoints may answer an error with HTTP 400 and the same JSON body.
        let v = exchange(&self.http, "POST", &uri, body, true).await.map_err(|f: Fault| {
            tracing::warn!(fault = ?f, "jscode2sessionkey: no answer");
            unavailable("BAIDU_UNAVAILABLE")
        })?;
        if let Some(error) = v.get("error").and_then(Value::as_str) {
            let errno = v.get("errno").and_then(Value::as_i64);
            return Err(match error {
                // RFC 6749's name for a code that is invalid, expired or already used: the
                // smart program must call swan.login again.
                "invalid_grant" => code_invalid(),
                // `invalid_client` and the rest are our configuration (App Key, App Secret) or
                // Baidu's fault: an operator's problem, loud in the log; the client retries later.
                _ => {
                    tracing::error!(error, errno, "jscode2sessionkey refused");
                    unavailable("BAIDU_UNAVAILABLE")
                }
            });
        }
        usable_openid(&v).map(str::to_string).ok_or_else(|| {
            tracing::error!("jscode2sessionkey answered without a usable openid");
            unavailable("BAIDU_UNAVAILABLE")
        })
    }
}
