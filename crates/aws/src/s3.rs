//! Object storage on S3. Uploads use a signed **POST policy**: the mini-program's
//! `wx.uploadFile` sends multipart POST, and only a policy can bind the key, the content type
//! and a `content-length-range`; a presigned PUT cannot limit size. Downloads are presigned GETs.
//!
//! The policy is signed with the `aws-sigv4` signing-key primitives (the Rust SDK has no
//! presigned-POST API); `sign_policy` is checked against AWS's published example.

use crate::sdk::OnFirstUse;
use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use base64::Engine;
use services::ports::{ObjectMeta, ObjectStore, ObjectVersion, UploadPolicy, UploadTicket};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use store::StoreError;
use time::OffsetDateTime;
use time::macros::format_description;

pub struct S3Objects {
    /// Only reads (head, presigned GET) use the client; issuing an upload ticket signs locally.
    client: OnFirstUse<Client>,
    bucket: String,
    region: String,
    credentials: SharedCredentialsProvider,
    /// Where form uploads go: the virtual-hosted bucket URL on AWS, `<endpoint>/<bucket>` on an
    /// emulator.
    upload_url: String,
}

impl S3Objects {
    pub fn new(
        client: impl Into<OnFirstUse<Client>>,
        bucket: &str,
        region: &str,
        credentials: SharedCredentialsProvider,
        endpoint: Option<&str>,
    ) -> Self {
        let upload_url = match endpoint {
            Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
            // China regions live under amazonaws.com.cn.
            None if region.starts_with("cn-") => format!("https://{bucket}.s3.{region}.amazonaws.com.cn"),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        S3Objects {
            client: client.into(),
            bucket: bucket.to_string(),
            region: region.to_string(),
            credentials,
            upload_url,
        }
    }
}

/// SigV4 signature of a base64 POST policy: HMAC chain over date, region, `s3`, `aws4_request`.
pub fn sign_policy(policy_b64: &str, secret: &str, at: SystemTime, region: &str) -> String {
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, at, region, "s3");
    aws_sigv4::sign::v4::calculate_signature(key, policy_b64.as_bytes())
}

/// The policy document for one upload, and the form fields that go with it (without the
/// signature). Conditions: exact bucket and key, exact content type, the size range, the
/// signing algorithm, credential and date, and the session token when credentials are temporary.
pub fn policy_document(
    bucket: &str,
    key: &str,
    p: &UploadPolicy,
    access_key: &str,
    session_token: Option<&str>,
    region: &str,
    now: OffsetDateTime,
) -> Result<(String, BTreeMap<String, String>), StoreError> {
    let now = now.to_offset(time::UtcOffset::UTC);
    let fmt =
        |f: &[time::format_description::FormatItem<'_>]| now.format(f).map_err(|e| StoreError::Invalid(e.to_string()));
    let date = fmt(format_description!("[year][month][day]"))?;
    let amz_date = fmt(format_description!("[year][month][day]T[hour][minute][second]Z"))?;
    let expiration = (now + time::Duration::seconds(p.expires_in_secs.into()))
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z"))
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let credential = format!("{access_key}/{date}/{region}/s3/aws4_request");
    let mut fields = BTreeMap::from([
        ("key".to_string(), key.to_string()),
        ("Content-Type".to_string(), p.content_type.to_string()),
        ("x-amz-algorithm".to_string(), "AWS4-HMAC-SHA256".to_string()),
        ("x-amz-credential".to_string(), credential.clone()),
        ("x-amz-date".to_string(), amz_date.clone()),
    ]);
    let mut conditions = vec![
        serde_json::json!({"bucket": bucket}),
        serde_json::json!({"key": key}),
        serde_json::json!({"Content-Type": p.content_type}),
        serde_json::json!(["content-length-range", p.min_bytes, p.max_bytes]),
        serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
        serde_json::json!({"x-amz-credential": credential}),
        serde_json::json!({"x-amz-date": amz_date}),
    ];
    if let Some(t) = session_token {
        conditions.push(serde_json::json!({"x-amz-security-token": t}));
        fields.insert("x-amz-security-token".into(), t.to_string());
    }
    let doc = serde_json::json!({"expiration": expiration, "conditions": conditions});
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
    fields.insert("policy".into(), b64.clone());
    Ok((b64, fields))
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn upload_url(&self, key: &str, p: &UploadPolicy, now: OffsetDateTime) -> Result<UploadTicket, StoreError> {
        // Credentials are fetched per ticket: on Lambda they are temporary and rotate.
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| StoreError::Unavailable(format!("credentials: {e}")))?;
        let (b64, mut fields) =
            policy_document(&self.bucket, key, p, creds.access_key_id(), creds.session_token(), &self.region, now)?;
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(now.unix_timestamp().max(0) as u64);
        fields.insert("x-amz-signature".into(), sign_policy(&b64, creds.secret_access_key(), at, &self.region));
        Ok(UploadTicket {
            key: key.to_string(),
            method: "POST".into(),
            url: self.upload_url.clone(),
            headers: BTreeMap::new(),
            fields,
            expires_at: now + time::Duration::seconds(p.expires_in_secs.into()),
        })
    }

    async fn download_url(&self, key: &str, expires_in_secs: u32, _now: OffsetDateTime) -> Result<String, StoreError> {
        let cfg = PresigningConfig::expires_in(Duration::from_secs(expires_in_secs.into()))
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let req =
            self.client.get().get_object().bucket(&self.bucket).key(key).presigned(cfg).await.map_err(unavailable)?;
        Ok(req.uri().to_string())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        match self.client.get().head_object().bucket(&self.bucket).key(key).send().await {
            Ok(o) => Ok(Some(ObjectMeta {
                bytes: o.content_length.unwrap_or(0).max(0) as u64,
                content_type: o.content_type,
            })),
            Err(SdkError::ServiceError(se)) if se.err().is_not_found() => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        // Encrypted with the bucket's default key (SSE-KMS), like every upload.
        self.client
            .get()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn read_version(&self, key: &str, v: &ObjectVersion, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        let mut get = self
            .client
            .get()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", max.saturating_sub(1)));
        get = match (&v.version_id, &v.etag) {
            (Some(id), _) => get.version_id(id),
            (None, Some(etag)) => get.if_match(format!("\"{}\"", etag.trim_matches('"'))),
            (None, None) => get,
        };
        match get.send().await {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?.into_bytes();
                Ok(Some(bytes.iter().take(max).copied().collect()))
            }
            // Gone, or replaced since (If-Match failed): the newer version has its own arrival.
            Err(SdkError::ServiceError(se)) if matches!(se.raw().status().as_u16(), 404 | 412) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, key: &str, v: &ObjectVersion) -> Result<(), StoreError> {
        let mut del = self.client.get().delete_object().bucket(&self.bucket).key(key);
        if let Some(id) = &v.version_id {
            del = del.version_id(id);
        }
        del.send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn read_prefix(&self, key: &str, max: usize) -> Result<Vec<u8>, StoreError> {
        let out = self
            .client
            .get()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", max.saturating_sub(1)))
            .send()
            .await
            .map_err(unavailable)?;
        let bytes = out.body.collect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?.into_bytes();
        Ok(bytes.iter().take(max).copied().collect())
    }
}

impl S3Objects {
    /// The bucket named by `BUCKET_NAME`; the client is built on first use (issuing an upload
    /// ticket signs locally and never needs it). Emulators serve buckets by path.
    pub fn from_env(aws: &crate::Aws, env: &services::config::Env) -> Result<Self, services::config::ConfigError> {
        let bucket = env.require("BUCKET_NAME")?;
        let credentials = aws
            .sdk
            .credentials_provider()
            .ok_or_else(|| services::config::ConfigError::Other("no AWS credentials provider".into()))?;
        let (conf, path_style) = (aws.sdk.clone(), aws.endpoint.is_some());
        let client = OnFirstUse::new(move || {
            Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(path_style).build())
        });
        Ok(S3Objects::new(client, &bucket, &aws.region(), credentials, aws.endpoint.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's worked example ("Example: Browser-Based Upload using HTTP POST (Using AWS Signature
    /// Version 4)", S3 API reference): the published base64 policy and the example credentials
    /// give the published signature.
    const AWS_EXAMPLE_POLICY: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    const AWS_EXAMPLE_SIGNATURE: &str = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";

    #[test]
    fn the_policy_signature_matches_aws_published_example() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_451_347_200); // 2015-12-29T00:00:00Z
        let sig = sign_policy(AWS_EXAMPLE_POLICY, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", at, "us-east-1");
        assert_eq!(sig, AWS_EXAMPLE_SIGNATURE);
        assert_ne!(sign_policy(AWS_EXAMPLE_POLICY, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ", at, "us-east-1"), sig);
    }

    #[test]
    fn our_policy_binds_key_type_size_and_expiry() {
        let now = time::macros::datetime!(2024-12-01 02:00:00 UTC);
        let p =
            UploadPolicy { content_type: "image/jpeg", min_bytes: 46_081, max_bytes: 2_097_152, expires_in_secs: 600 };
        let (b64, fields) =
            policy_document("uploads", "photos/c/1.jpg", &p, "AKID", Some("TOKEN"), "cn-north-1", now).unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(&b64).unwrap()).unwrap();
        assert_eq!(doc["expiration"], "2024-12-01T02:10:00.000Z");
        let conditions = doc["conditions"].as_array().unwrap();
        for c in [
            serde_json::json!({"bucket": "uploads"}),
            serde_json::json!({"key": "photos/c/1.jpg"}),
            serde_json::json!({"Content-Type": "image/jpeg"}),
            serde_json::json!(["content-length-range", 46_081, 2_097_152]),
            serde_json::json!({"x-amz-credential": "AKID/20241201/cn-north-1/s3/aws4_request"}),
            serde_json::json!({"x-amz-date": "20241201T020000Z"}),
            serde_json::json!({"x-amz-security-token": "TOKEN"}),
        ] {
            assert!(conditions.contains(&c), "missing {c}");
        }
        // Every form field S3 checks is covered by a condition, and the form carries the policy.
        assert_eq!(fields["policy"], b64);
        assert_eq!(fields["key"], "photos/c/1.jpg");
        assert_eq!(fields["x-amz-security-token"], "TOKEN");
    }
}
