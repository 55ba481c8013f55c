//! One AWS SDK configuration for every client, built by hand from what Lambda puts in the
//! environment — so a cold start pays for none of the SDK's discovery machinery.
//!
//! Why not `aws_config::load()`: on a cold start it walks the profile files, sets up the
//! IMDS/SSO/STS credential chain (linking three more SDK clients into every binary), and its
//! default HTTPS client reads the platform's certificate bundle *and* every file in the
//! certificate directory, then re-parses all of them for each client built. Measured with
//! `scripts/coldstart-bench`, that was 8–10 ms of a 13 ms init. Lambda hands a function
//! everything it needs in variables (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, valid for the life of the execution environment), and the trust roots
//! are compiled in (Mozilla's root program, `webpki-root-certs`), so nothing touches the disk.
//!
//! The SDK's HTTP client also builds a full TLS configuration (parsing every trust root) each
//! time an SDK client is constructed, only to check that it can, and then again for the first
//! request. [`TlsOnFirstUse`] skips the check, so the roots are parsed once, when the first
//! connection is made — by the init warm-up, or by the first request that needs AWS.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_types::SdkConfig;
use aws_types::region::Region;
use base64::Engine;
use services::config::{ConfigError, Env};
use std::sync::OnceLock;

/// Where the credentials come from, named in the SDK's logs and errors.
const PROVIDER: &str = "LambdaEnvironment";

/// The SDK configuration from `AWS_REGION` (or `AWS_DEFAULT_REGION`), the access-key variables,
/// and `endpoint` (an emulator's address; `None` on AWS). A missing variable is a configuration
/// error at cold start, not a failed request later.
pub fn config(env: &Env, endpoint: Option<&str>) -> Result<SdkConfig, ConfigError> {
    let region =
        env.get("AWS_REGION").or_else(|| env.get("AWS_DEFAULT_REGION")).ok_or(ConfigError::Missing("AWS_REGION"))?;
    let access_key = env.require("AWS_ACCESS_KEY_ID")?;
    let secret_key = env.require("AWS_SECRET_ACCESS_KEY")?;
    let credentials = Credentials::new(access_key, secret_key, env.get("AWS_SESSION_TOKEN"), None, PROVIDER);
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(TlsOnFirstUse::default())
        .timeout_config(timeouts());
    if let Some(e) = endpoint {
        builder = builder.endpoint_url(e);
    }
    Ok(builder.build())
}

/// Every AWS call is bounded so a stuck dependency answers 503 inside the function's own time
/// budget (API functions run with 10 s): a connection within 2 s, one attempt within 3 s, the
/// call with its retries within 6 s.
fn timeouts() -> aws_smithy_types::timeout::TimeoutConfig {
    use std::time::Duration;
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(6))
        .build()
}

/// The SDK's HTTPS client, built when the first connection is needed and minus its eager check
/// at client construction (see the module note): connectors are still built by it, cached per
/// timeout settings, and shared by every SDK client.
#[derive(Debug, Default)]
struct TlsOnFirstUse(OnceLock<SharedHttpClient>);

impl HttpClient for TlsOnFirstUse {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.get_or_init(https_client).http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.get_or_init(https_client).connector_metadata()
    }
}

/// The SDK's rustls (aws-lc) HTTPS client trusting the compiled-in roots, not the platform's.
fn https_client() -> SharedHttpClient {
    let trust = TrustStore::empty().with_native_roots(false).with_pem_certificate(roots_pem());
    // `build` cannot fail (it only stores the trust store); were that to change, the SDK's
    // default context still verifies certificates, against the platform's roots.
    let context = TlsContext::builder().with_trust_store(trust).build().unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// An SDK client built the first time it is used. Building one costs a few hundred
/// microseconds of a cold start; a function that never touches S3 or SQS on a request should
/// not pay for them in init.
pub struct OnFirstUse<C> {
    client: OnceLock<C>,
    make: Box<dyn Fn() -> C + Send + Sync>,
}

impl<C> OnFirstUse<C> {
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        OnFirstUse { client: OnceLock::new(), make: Box::new(make) }
    }

    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.make)())
    }
}

impl<C: Clone + Send + Sync + 'static> From<C> for OnFirstUse<C> {
    /// An already built client (tests).
    fn from(client: C) -> Self {
        let copy = client.clone();
        OnFirstUse { client: OnceLock::from(client), make: Box::new(move || copy.clone()) }
    }
}

/// The SDK's trust store takes PEM only; the roots ship as DER, so wrap them (≈150 small
/// certificates, well under a millisecond).
fn roots_pem() -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2100);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let body = b64.encode(cert.as_ref());
        // PEM lines are 64 characters; base64 output is ASCII, so byte slicing is safe.
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[tokio::test]
    async fn lambda_variables_become_region_and_credentials() {
        let conf = config(
            &env(&[
                ("AWS_REGION", "cn-northwest-1"),
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("AWS_SESSION_TOKEN", "token"),
            ]),
            Some("http://127.0.0.1:5000"),
        )
        .unwrap();
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("cn-northwest-1"));
        assert_eq!(conf.endpoint_url(), Some("http://127.0.0.1:5000"));
        let creds = conf.credentials_provider().unwrap().provide_credentials().await.unwrap();
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(creds.session_token(), Some("token"));
    }

    #[test]
    fn a_missing_variable_is_named() {
        let only_region = env(&[("AWS_REGION", "cn-north-1")]);
        let err = config(&only_region, None).unwrap_err().to_string();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        let err =
            config(&env(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")]), None).unwrap_err().to_string();
        assert!(err.contains("AWS_REGION"), "{err}");
    }

    #[test]
    fn every_compiled_in_root_survives_the_pem_round_trip() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let parsed: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&roots_pem()).collect::<Result<_, _>>().unwrap();
        assert_eq!(parsed.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(parsed.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS).all(|(a, b)| a.as_ref() == b.as_ref()));
    }
}
