//! A secret a function needs on some requests (the ID pepper, the WeChat AppSecret): its
//! variable is checked at cold start; its value is fetched from the secret store once, by the
//! first request that needs it — or in init, where init is pre-paid (provisioned concurrency).
//!
//! NOTE: why not in every init. On demand, init is on the cold-start clock of a request that
//! usually doesn't need the secret (logout, account, password login), and a Secrets Manager
//! round trip is several times a whole Rust cold start. Measured with `scripts/coldstart-bench`
//! (login, first event needs no AWS call, moto on loopback): waiting for both secrets in init
//! 20.3 ms; fetching them in the background from init 9.0 ms (on one thread the fetch — SDK
//! client, TLS configuration, signing — competes with the first response); fetching on first
//! need, as here, is the README's figure. A missing variable still stops the cold start by
//! name; a fetch that fails (permissions, a malformed value) is logged with its variable and
//! answers 503 to the requests that need it, and the next such request tries again.

use crate::config::ConfigError;
use shared::error::Refusal;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::OnceCell;

type Fetch = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, ConfigError>> + Send>> + Send + Sync>;

/// What a fetched value must look like, checked once when it arrives.
type Check = fn(&str) -> Result<(), &'static str>;

#[derive(Clone)]
pub struct Secret(Arc<Inner>);

struct Inner {
    var: &'static str,
    value: OnceCell<Arc<str>>,
    fetch: Option<Fetch>,
    check: Check,
}

// NOTE: hand-written so a value never reaches a log through `{:?}`.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", self.0.var)
    }
}

impl Secret {
    /// A value known already (the local server's own key, tests).
    pub fn ready(var: &'static str, value: &[u8]) -> Secret {
        let value: Arc<str> = Arc::from(String::from_utf8_lossy(value).as_ref());
        Secret(Arc::new(Inner { var, value: OnceCell::new_with(Some(value)), fetch: None, check: |_| Ok(()) }))
    }

    /// A value fetched by `fetch` when first needed, checked by `check`.
    pub fn deferred(var: &'static str, check: Check, fetch: Fetch) -> Secret {
        Secret(Arc::new(Inner { var, value: OnceCell::new(), fetch: Some(fetch), check }))
    }

    /// The variable the secret is named by.
    pub fn var(&self) -> &'static str {
        self.0.var
    }

    /// The value: at once when fetched, else the fetch under way (or a new one after a failure).
    pub async fn get(&self) -> Result<Arc<str>, Refusal> {
        let inner = &self.0;
        inner
            .value
            .get_or_try_init(|| async {
                let fetch = inner.fetch.as_ref().ok_or_else(Refusal::internal)?;
                let value = fetch().await.map_err(|e| {
                    tracing::error!(error = %e, "secret not available");
                    Refusal::unavailable()
                })?;
                (inner.check)(&value).map_err(|why| {
                    tracing::error!(var = inner.var, why, "secret malformed");
                    Refusal::unavailable()
                })?;
                Ok(Arc::from(value))
            })
            .await
            .cloned()
    }
}

/// The ID pepper: at least 32 characters (the template generates 64).
pub fn check_pepper(v: &str) -> Result<(), &'static str> {
    if v.len() >= 32 { Ok(()) } else { Err("the pepper must be at least 32 characters") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_deferred_secret_is_fetched_once_checked_and_retried_after_a_failure() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let s = Secret::deferred(
            "X_SECRET_ARN",
            |v| if v.len() >= 4 { Ok(()) } else { Err("too short") },
            Box::new(move || {
                let n = c.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    match n {
                        0 => Err(ConfigError::Unreadable { var: "X_SECRET_ARN", why: "denied".into() }),
                        1 => Ok("abc".to_string()),
                        _ => Ok("abcdef".to_string()),
                    }
                })
            }),
        );
        assert_eq!(s.get().await.unwrap_err().code, "UNAVAILABLE", "a failed fetch is a 503");
        assert_eq!(s.get().await.unwrap_err().code, "UNAVAILABLE", "a malformed value is a 503");
        assert_eq!(&*s.get().await.unwrap(), "abcdef");
        assert_eq!(&*s.get().await.unwrap(), "abcdef");
        assert_eq!(calls.load(Ordering::SeqCst), 3, "fetched until good, then never again");
        assert!(!format!("{s:?}").contains("abcdef"));
    }
}
