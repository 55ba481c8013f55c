//! A real browser for the staff console's tests: Debian's headless Chromium driven through
//! chromedriver with the W3C WebDriver protocol (JSON over HTTP, the handful of commands the
//! tests use). `scripts/test` installs `chromium` and `chromium-driver`; `CHROMIUM` and
//! `CHROMEDRIVER` name other binaries. The page's Chinese is drawn with the repository's own
//! WenQuanYi font (fontconfig pointed at `assets/fonts`), so screenshots read on any machine.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::time::Duration;

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's key codes.
pub const ENTER: &str = "\u{E007}";
pub const ESCAPE: &str = "\u{E00C}";
pub const TAB: &str = "\u{E004}";

pub struct Browser {
    base: String,
    session: String,
    client: Client<HttpConnector, Full<Bytes>>,
    driver: tokio::process::Child,
    _dir: tempfile::TempDir,
}

fn binary(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

impl Browser {
    /// Start chromedriver on a free loopback port and open a headless Chromium window of
    /// `width`×`height` with an empty profile. Fails the test, saying what to install, when
    /// either binary is missing.
    pub async fn start(width: u32, height: u32) -> Browser {
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        let driver_bin = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        for b in [&chromium, &driver_bin] {
            assert!(
                std::path::Path::new(b).exists(),
                "{b} is missing: install Debian's chromium and chromium-driver (scripts/test does)"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let fonts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/fonts");
        let conf = dir.path().join("fonts.conf");
        std::fs::write(
            &conf,
            format!(
                "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<fontconfig>\n\
                 <include ignore_missing=\"yes\">/etc/fonts/fonts.conf</include>\n<dir>{}</dir>\n\
                 <cachedir>{}</cachedir>\n</fontconfig>\n",
                fonts.display(),
                dir.path().join("fontcache").display()
            ),
        )
        .expect("fonts.conf");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("addr").port()
        };
        let driver = tokio::process::Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .env("FONTCONFIG_FILE", &conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let client = Client::builder(TokioExecutor::new()).build_http();
        let mut b =
            Browser { base: format!("http://127.0.0.1:{port}"), session: String::new(), client, driver, _dir: dir };
        for _ in 0..100 {
            if let Ok(v) = b.raw("GET", "/status", None).await
                && v["value"]["ready"] == true
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = b._dir.path().join("profile");
        // As the machine's notes say Chromium runs here: headless, no sandbox (root), and none
        // of the background connections a closed network refuses.
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--lang=zh-CN".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "timeouts": {"implicit": 5000, "pageLoad": 20000, "script": 10000}
        }}});
        let v = b.raw("POST", "/session", Some(caps)).await.expect("a WebDriver session");
        b.session = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        b
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if status.is_success() { Ok(v) } else { Err(format!("{method} {path}: {status} {v}")) }
    }

    /// One command of this session; a WebDriver error fails the test with its message.
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        match self.raw(method, &path, body).await {
            Ok(v) => v["value"].clone(),
            Err(e) => panic!("WebDriver: {e}"),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).await;
    }

    /// The element `css` selects, waiting up to the implicit timeout for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css}))).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_string()
    }

    /// The element `css` selects, if there is one now (no panic: the caller tries again).
    async fn find_now(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.session);
        let v = self.raw("POST", &path, Some(json!({"using": "css selector", "value": css}))).await.ok()?;
        v["value"][ELEMENT].as_str().map(str::to_string)
    }

    /// How many elements `css` selects now (asked of the page: no implicit wait for none).
    pub async fn count(&self, css: &str) -> usize {
        let v = self.exec("return document.querySelectorAll(arguments[0]).length;", json!([css])).await;
        v.as_u64().unwrap_or(0) as usize
    }

    /// Type `text` (which may hold [`ENTER`], [`ESCAPE`], [`TAB`]) into the element `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    /// Press keys on whatever has the focus, as a clerk at the keyboard does.
    pub async fn keys(&self, text: &str) {
        let mut actions = vec![];
        for c in text.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.cmd("POST", "/actions", Some(body)).await;
        self.cmd("DELETE", "/actions", None).await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({}))).await;
    }

    /// The rendered text of the element `css`.
    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd("GET", &format!("/element/{id}/text"), None).await.as_str().unwrap_or_default().to_string()
    }

    /// Wait (up to 10 s) until the text of `css` contains `want` (and is not empty); returns it,
    /// or fails the test with what it showed instead.
    pub async fn wait_text(&self, css: &str, want: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            // An element replaced between finding it and reading it is a read to try again.
            if self.count(css).await > 0
                && let Some(id) = self.find_now(css).await
                && let Ok(v) = self.raw("GET", &format!("/session/{}/element/{id}/text", self.session), None).await
            {
                last = v["value"].as_str().unwrap_or_default().to_string();
                if !last.is_empty() && last.contains(want) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {want:?}; it showed {last:?}")
    }

    /// Wait (up to 10 s) until `script` (a function body) returns `true` in the page.
    pub async fn wait_until(&self, what: &str, script: &str) {
        for _ in 0..100 {
            if self.exec(script, json!([])).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never true: {what}")
    }

    /// The `id` of the element that has the keyboard focus, read in one step in the page: asking
    /// for the active element and then its attribute races a re-render that replaces it (a stale
    /// element reference, seen in CI right after login).
    pub async fn focused(&self) -> String {
        let v = self.exec("return document.activeElement ? document.activeElement.id : '';", json!([])).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Wait (up to 5 s) until the element with `id` has the focus.
    pub async fn wait_focus(&self, id: &str) {
        let mut now = String::new();
        for _ in 0..50 {
            now = self.focused().await;
            if now == id {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("focus is on #{now}, not #{id}")
    }

    /// Run `script` in the page (its `arguments` are `args`) and return its value.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.cmd("POST", "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let v = self.cmd("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).expect("PNG in base64")
    }

    pub async fn set_size(&self, width: u32, height: u32) {
        self.cmd("POST", "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// End the session and the driver (the browser with it).
    pub async fn quit(mut self) {
        let _ = self.raw("DELETE", &format!("/session/{}", self.session), None).await;
        let _ = self.driver.kill().await;
    }
}
