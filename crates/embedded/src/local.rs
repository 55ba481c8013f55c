//! Embedded default adapters for one machine: local-disk object storage with signed, expiring
//! upload URLs (the local server accepts them), an in-process queue, clocks, and stand-ins for
//! the face-ID provider and WeChat login — each named as what it is, none used on AWS.

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use services::ports::{
    Clock, FaceQuery, FaceStart, FaceTicket, FaceVerdict, FaceVerifier, MiniProgramLogin, ObjectMeta, ObjectStore,
    ObjectVersion, Queue, QueueMessage, SendOutcome, Subscription, SubscriptionSender, UploadPolicy, UploadTicket,
};
use sha2::Sha256;
use shared::domain::account::MiniProgram;
use shared::error::{Kind, Refusal};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use store::StoreError;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

fn sign(secret: &[u8], parts: &[&str]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    for p in parts {
        mac.update(p.as_bytes());
        mac.update(b"\n");
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn verify(secret: &[u8], parts: &[&str], sig: &str) -> bool {
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else { return false };
    for p in parts {
        mac.update(p.as_bytes());
        mac.update(b"\n");
    }
    let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig) else { return false };
    mac.verify_slice(&sig).is_ok() // constant-time
}

/// Object keys are ours (`photos/<cid>/<rand>.jpg`); refuse anything that could leave the root.
fn safe_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('/')
        && key.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
}

/// Objects as files under a root directory. Upload URLs point at the local server's
/// `/local-uploads/<key>` and carry an HMAC over key, type, size range and expiry, so the server
/// enforces what S3's signed policy enforces on AWS.
pub struct LocalObjects {
    root: PathBuf,
    base_url: Mutex<String>,
    secret: Vec<u8>,
}

/// The query an upload URL carries.
#[derive(Debug, Clone)]
pub struct UploadGrant {
    pub content_type: String,
    pub min: u64,
    pub max: u64,
    pub expires: i64,
    pub sig: String,
}

impl UploadGrant {
    /// Read a grant from the query of an upload URL this adapter issued (missing or malformed
    /// parameters give a grant that fails verification, never a panic).
    pub fn from_query(query: &str) -> UploadGrant {
        let get = |name: &str| {
            query.split('&').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
        };
        UploadGrant {
            content_type: get("type").map(|t| shared::domain::values::percent_decode(&t)).unwrap_or_default(),
            min: get("min").and_then(|v| v.parse().ok()).unwrap_or(u64::MAX),
            max: get("max").and_then(|v| v.parse().ok()).unwrap_or(0),
            expires: get("expires").and_then(|v| v.parse().ok()).unwrap_or(0),
            sig: get("sig").unwrap_or_default(),
        }
    }
}

impl LocalObjects {
    pub fn new(root: &Path, base_url: &str, secret: &[u8]) -> Self {
        LocalObjects { root: root.to_path_buf(), base_url: Mutex::new(base_url.to_string()), secret: secret.to_vec() }
    }

    /// The server learns its port after binding; URLs issued afterwards use it.
    pub fn set_base_url(&self, url: &str) {
        if let Ok(mut b) = self.base_url.lock() {
            *b = url.to_string();
        }
    }

    fn base(&self) -> String {
        self.base_url.lock().map(|b| b.clone()).unwrap_or_default()
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        if !safe_key(key) {
            return Err(StoreError::Invalid("unsafe object key".into()));
        }
        Ok(self.root.join(key))
    }

    /// Accept an upload presented to the local server: signature, expiry, type and size must
    /// match what was signed. Writes the object only when all hold.
    pub fn accept_upload(
        &self,
        key: &str,
        grant: &UploadGrant,
        content_type: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        let denied = |code, msg| Refusal::new(Kind::Forbidden, code, msg);
        let (min, max, exp) = (grant.min.to_string(), grant.max.to_string(), grant.expires.to_string());
        if !safe_key(key) || !verify(&self.secret, &[key, &grant.content_type, &min, &max, &exp], &grant.sig) {
            return Err(denied("UPLOAD_SIGNATURE_INVALID", "上传地址无效"));
        }
        if now.unix_timestamp() > grant.expires {
            return Err(denied("UPLOAD_URL_EXPIRED", "上传地址已过期,请重新获取"));
        }
        if content_type != Some(grant.content_type.as_str()) {
            return Err(Refusal::bad("UPLOAD_TYPE_MISMATCH", "文件类型不符合要求"));
        }
        let n = body.len() as u64;
        if n < grant.min || n > grant.max {
            return Err(Refusal::bad("UPLOAD_SIZE_OUT_OF_RANGE", "文件大小不符合要求"));
        }
        let path = self.path(key).map_err(|_| denied("UPLOAD_SIGNATURE_INVALID", "上传地址无效"))?;
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Write then rename: a reader never sees half a file.
            let tmp = path.with_extension("part");
            std::fs::write(&tmp, body)?;
            std::fs::write(path.with_extension("type"), &grant.content_type)?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            tracing::error!(error = %e, "local upload write failed");
            Refusal::internal()
        })
    }

    /// Serve a download presented with a signed URL.
    pub fn accept_download(&self, key: &str, expires: i64, sig: &str, now: OffsetDateTime) -> Result<Vec<u8>, Refusal> {
        let exp = expires.to_string();
        if !safe_key(key) || !verify(&self.secret, &["GET", key, &exp], sig) || now.unix_timestamp() > expires {
            return Err(Refusal::new(Kind::Forbidden, "DOWNLOAD_URL_INVALID", "下载地址无效或已过期"));
        }
        let path = self.path(key).map_err(|_| Refusal::internal())?;
        std::fs::read(path).map_err(|_| Refusal::not_found("OBJECT_NOT_FOUND", "文件不存在"))
    }
}

#[async_trait]
impl ObjectStore for LocalObjects {
    async fn upload_url(&self, key: &str, p: &UploadPolicy, now: OffsetDateTime) -> Result<UploadTicket, StoreError> {
        self.path(key)?;
        let expires_at = now + time::Duration::seconds(p.expires_in_secs.into());
        let exp = expires_at.unix_timestamp().to_string();
        let (min, max) = (p.min_bytes.to_string(), p.max_bytes.to_string());
        let sig = sign(&self.secret, &[key, p.content_type, &min, &max, &exp]);
        let url = format!(
            "{}/local-uploads/{key}?type={}&min={min}&max={max}&expires={exp}&sig={sig}",
            self.base(),
            p.content_type.replace('/', "%2F")
        );
        Ok(UploadTicket {
            key: key.to_string(),
            method: "PUT".into(),
            url,
            headers: BTreeMap::from([("Content-Type".to_string(), p.content_type.to_string())]),
            fields: BTreeMap::new(),
            expires_at,
        })
    }

    async fn download_url(&self, key: &str, expires_in_secs: u32, now: OffsetDateTime) -> Result<String, StoreError> {
        self.path(key)?;
        let exp = (now.unix_timestamp() + i64::from(expires_in_secs)).to_string();
        let sig = sign(&self.secret, &["GET", key, &exp]);
        Ok(format!("{}/local-uploads/{key}?expires={exp}&sig={sig}", self.base()))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let path = self.path(key)?;
        match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(ObjectMeta {
                bytes: m.len(),
                content_type: std::fs::read_to_string(path.with_extension("type")).ok(),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let unavailable = |e: std::io::Error| StoreError::Unavailable(e.to_string());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(unavailable)?;
        }
        let tmp = path.with_extension("part");
        std::fs::write(&tmp, bytes).map_err(unavailable)?;
        std::fs::write(path.with_extension("type"), content_type).map_err(unavailable)?;
        std::fs::rename(&tmp, &path).map_err(unavailable)
    }

    async fn read_prefix(&self, key: &str, max: usize) -> Result<Vec<u8>, StoreError> {
        use std::io::Read;
        let f = std::fs::File::open(self.path(key)?).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut buf = Vec::with_capacity(max.min(1 << 20));
        f.take(max as u64).read_to_end(&mut buf).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(buf)
    }

    /// Local disk keeps no versions: the arrival is announced right after the write, so the
    /// file is the version announced.
    async fn read_version(&self, key: &str, _: &ObjectVersion, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        if !self.path(key)?.is_file() {
            return Ok(None);
        }
        self.read_prefix(key, max).await.map(Some)
    }

    async fn delete(&self, key: &str, _: &ObjectVersion) -> Result<(), StoreError> {
        let path = self.path(key)?;
        for p in [path.with_extension("type"), path] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::Unavailable(e.to_string())),
            }
        }
        Ok(())
    }
}

/// An in-process queue: messages wait here until a local worker drains them.
#[derive(Default)]
pub struct LocalQueue {
    messages: Mutex<Vec<QueueMessage>>,
}

impl LocalQueue {
    pub fn drain(&self) -> Vec<QueueMessage> {
        self.messages.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default()
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, messages: Vec<QueueMessage>) -> Result<(), StoreError> {
        if messages.len() > 10 {
            return Err(StoreError::Invalid("more than 10 messages in one batch".into()));
        }
        self.messages.lock().map_err(|_| StoreError::Unavailable("queue lock poisoned".into()))?.extend(messages);
        Ok(())
    }

    /// In process a message is handed over once; the local worker puts a message to retry back
    /// itself (see `local-server`), so there is no visibility to change.
    async fn retry_later(&self, _receipt: &str, _delay_secs: u32) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A stand-in for WeChat's subscription-message API, in process: it takes every message and
/// keeps it for the local server to show (`GET /local/wechat/messages`). Never in a Lambda.
#[derive(Default)]
pub struct LocalSubscriptionRecorder {
    sent: Mutex<Vec<serde_json::Value>>,
}

impl LocalSubscriptionRecorder {
    /// Every message taken so far, oldest first, as WeChat's API would have received it.
    pub fn sent(&self) -> Vec<serde_json::Value> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl SubscriptionSender for LocalSubscriptionRecorder {
    async fn send(&self, m: &Subscription) -> SendOutcome {
        let data: serde_json::Map<String, serde_json::Value> =
            m.data.iter().map(|(k, v)| (k.clone(), serde_json::json!({ "value": v }))).collect();
        let body = serde_json::json!({"touser": m.openid, "template_id": m.template_id, "page": m.page, "data": data});
        match self.sent.lock() {
            Ok(mut s) => {
                s.push(body);
                SendOutcome::Sent
            }
            Err(_) => SendOutcome::RetryLater("recorder lock poisoned".into()),
        }
    }
}

/// The template configuration of the local server: one made-up template id per reminder kind,
/// the same four fields each (what `REMINDER_TEMPLATES` holds on AWS, with real ids).
pub fn local_templates() -> String {
    let fields = r#"{"thing1":"project","phrase2":"status","time3":"deadline","thing4":"note"}"#;
    let kinds: Vec<String> = shared::domain::reminder::ReminderKind::ALL
        .iter()
        .map(|k| format!(r#""{0}":{{"id":"local-{1}","data":{fields}}}"#, k.as_str(), k.as_str().replace('_', "-")))
        .collect();
    format!("{{{}}}", kinds.join(","))
}

/// Time that starts at a chosen instant and then runs with the wall clock: lets the local
/// server demo a registration window that is not open today.
pub struct ShiftedClock {
    offset: time::Duration,
}
impl ShiftedClock {
    pub fn starting_at(start: OffsetDateTime) -> Self {
        ShiftedClock { offset: start - OffsetDateTime::now_utc() }
    }
}
impl Clock for ShiftedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.offset
    }
}

/// Time that moves only when told to (tests).
pub struct ManualClock(Mutex<OffsetDateTime>);
impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        ManualClock(Mutex::new(at))
    }
    pub fn set(&self, at: OffsetDateTime) {
        if let Ok(mut t) = self.0.lock() {
            *t = at;
        }
    }
}
impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.0.lock().map(|t| *t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// **Stand-in** for WeChat face verification, for the local server only: every face passes.
/// It keeps the real protocol's shape — an attempt is started for a certificate and a WeChat
/// user, and the verdict is only given for a query that names the same attempt, certificate
/// hash and user (`verify_id` is an HMAC over them) — so the service code it exercises is the
/// code that runs against WeChat. Never composed into a Lambda.
pub struct LocalFaceStandIn {
    secret: Vec<u8>,
}

impl LocalFaceStandIn {
    pub fn new(secret: &[u8]) -> Self {
        LocalFaceStandIn { secret: secret.to_vec() }
    }
}

#[async_trait]
impl FaceVerifier for LocalFaceStandIn {
    async fn start(&self, s: &FaceStart) -> Result<FaceTicket, Refusal> {
        let hash = services::ports::cert_hash("IDENTITY_CARD", &s.cert_name, &s.cert_no);
        let verify_id = sign(&self.secret, &["face", &s.out_seq_no, &hash, &s.openid]);
        Ok(FaceTicket { verify_id, expires_in_secs: 3600 })
    }

    async fn verdict(&self, q: &FaceQuery) -> Result<FaceVerdict, Refusal> {
        let ok = verify(&self.secret, &["face", &q.out_seq_no, &q.cert_hash, &q.openid], &q.verify_id);
        // 90002 is WeChat's "verification failed" family; the stand-in only fails mismatches.
        Ok(if ok { FaceVerdict::Passed } else { FaceVerdict::Failed(90002) })
    }
}

/// **Stand-in** for a mini-program's login API (WeChat `jscode2session`, Baidu
/// `jscode2sessionkey`), for the local server only: a code `local-<name>` logs in as that
/// program's user `<name>`. Anything else is refused the way the program refuses an invalid
/// code (WeChat 40029, Baidu `invalid_grant`), with the same stable code as the real adapter.
pub struct LocalMiniProgramStandIn(pub MiniProgram);

#[async_trait]
impl MiniProgramLogin for LocalMiniProgramStandIn {
    async fn openid(&self, code: &str) -> Result<String, Refusal> {
        let (prefix, invalid) = match self.0 {
            MiniProgram::Wechat => ("o", "WECHAT_CODE_INVALID"),
            MiniProgram::Baidu => ("b", "BAIDU_CODE_INVALID"),
        };
        match code.strip_prefix("local-") {
            Some(id)
                if (1..=64).contains(&id.len())
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                Ok(format!("{prefix}{id}"))
            }
            _ => Err(Refusal::new(
                Kind::Unauthorized,
                invalid,
                format!("{}登录凭证无效,请重新进入小程序", self.0.name()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_upload_url_accepts_only_what_it_signed() {
        let dir = tempdir();
        let objects = LocalObjects::new(&dir, "http://x", b"secret");
        let now = OffsetDateTime::now_utc();
        let policy = UploadPolicy { content_type: "image/jpeg", min_bytes: 3, max_bytes: 10, expires_in_secs: 60 };
        let t = objects.upload_url("photos/a/b.jpg", &policy, now).await.unwrap();
        let grant = |sig: &str, exp: i64| UploadGrant {
            content_type: "image/jpeg".into(),
            min: 3,
            max: 10,
            expires: exp,
            sig: sig.into(),
        };
        let sig = t.url.rsplit("sig=").next().unwrap().to_string();
        let exp = t.expires_at.unix_timestamp();
        let key = "photos/a/b.jpg";
        assert_eq!(
            objects.accept_upload(key, &grant(&sig, exp), Some("image/png"), b"12345", now).unwrap_err().code,
            "UPLOAD_TYPE_MISMATCH"
        );
        assert_eq!(
            objects.accept_upload(key, &grant(&sig, exp), Some("image/jpeg"), b"12", now).unwrap_err().code,
            "UPLOAD_SIZE_OUT_OF_RANGE"
        );
        assert_eq!(
            objects.accept_upload(key, &grant(&sig, exp + 1), Some("image/jpeg"), b"12345", now).unwrap_err().code,
            "UPLOAD_SIGNATURE_INVALID"
        );
        assert_eq!(
            objects
                .accept_upload("photos/a/c.jpg", &grant(&sig, exp), Some("image/jpeg"), b"12345", now)
                .unwrap_err()
                .code,
            "UPLOAD_SIGNATURE_INVALID"
        );
        let later = now + time::Duration::seconds(61);
        assert_eq!(
            objects.accept_upload(key, &grant(&sig, exp), Some("image/jpeg"), b"12345", later).unwrap_err().code,
            "UPLOAD_URL_EXPIRED"
        );
        assert_eq!(objects.head(key).await.unwrap(), None, "nothing written by refused uploads");
        objects.accept_upload(key, &grant(&sig, exp), Some("image/jpeg"), b"12345", now).unwrap();
        assert_eq!(
            objects.head(key).await.unwrap(),
            Some(ObjectMeta { bytes: 5, content_type: Some("image/jpeg".into()) })
        );
        assert_eq!(objects.read_prefix(key, 2).await.unwrap(), b"12");
    }

    #[test]
    fn object_keys_cannot_escape_the_root() {
        for k in ["../x", "/etc/passwd", "a//b", "a/./b", "a/b\\c", ""] {
            assert!(!safe_key(k), "{k}");
        }
        assert!(safe_key("photos/abc/0f.jpg"));
    }

    #[tokio::test]
    async fn the_face_stand_in_answers_only_for_the_attempt_it_started() {
        let f = LocalFaceStandIn::new(b"k");
        let start = FaceStart {
            out_seq_no: "0123456789abcdef0123456789abcdef".into(),
            cert_name: "张三".into(),
            cert_no: "410102199003070019".into(),
            openid: "o1".into(),
        };
        let t = f.start(&start).await.unwrap();
        let q = FaceQuery {
            verify_id: t.verify_id.clone(),
            out_seq_no: start.out_seq_no.clone(),
            cert_hash: services::ports::cert_hash("IDENTITY_CARD", "张三", "410102199003070019"),
            openid: "o1".into(),
        };
        assert_eq!(f.verdict(&q).await.unwrap(), FaceVerdict::Passed);
        let other_user = FaceQuery { openid: "o2".into(), ..q.clone() };
        assert_eq!(f.verdict(&other_user).await.unwrap(), FaceVerdict::Failed(90002));
        let other_cert = FaceQuery { cert_hash: services::ports::cert_hash("IDENTITY_CARD", "李四", "x"), ..q };
        assert_eq!(f.verdict(&other_cert).await.unwrap(), FaceVerdict::Failed(90002));
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("objects-{}", shared::random::token(8)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
