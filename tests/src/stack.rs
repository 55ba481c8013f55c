//! The stack a deployed function sees, made on loopback: the resources `infra/template.yaml`
//! declares (table, bucket, queue, secrets) on moto, WeChat as a local protocol server, and each
//! function's environment read from the template with every reference resolved to them.

use crate::aws::{Provisioned, base_vars, provision, secret};
use crate::wechat_server::{self as wx, WechatServer};
use std::collections::BTreeMap;

const PEPPER: &str = "deployed-shape-test-pepper-0123456789abcdef";

/// `KEY: value` lines under `Environment: Variables:` of one function resource in the template.
pub fn template_env(function: &str) -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("infra/template.yaml")).unwrap();
    let mut lines = text.lines().skip_while(|l| *l != format!("  {function}:")).skip(1);
    let mut vars = vec![];
    let mut in_vars: Option<usize> = None;
    for line in lines.by_ref() {
        let indent = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && indent <= 2 {
            break; // the next resource
        }
        match in_vars {
            None if line.trim() == "Variables:" => in_vars = Some(indent),
            Some(i) if indent > i && !line.trim().is_empty() => {
                let (k, v) = line.trim().split_once(": ").unwrap();
                // YAML quotes a literal that must stay a string ("300"); the value has none.
                vars.push((k.to_string(), v.trim().trim_matches('"').to_string()));
            }
            Some(_) if !line.trim().is_empty() => in_vars = None,
            _ => {}
        }
    }
    assert!(!vars.is_empty(), "{function} has no Environment Variables in the template");
    vars
}

/// Resources made for one test, standing in for what the stack would create.
pub struct Stack {
    pub aws: Provisioned,
    pub pepper_arn: String,
    pub wechat_secret_arn: String,
    pub baidu_secret_arn: String,
    /// Speaks WeChat's APIs and Baidu's `jscode2sessionkey` (each on its own paths).
    pub wechat: WechatServer,
    /// Speaks WeChat Pay v3, with the keys in `wechatpay_secret_arn`.
    pub wechatpay: std::sync::Arc<local_server::wechatpay::WechatPayServer>,
    pub wechatpay_secret_arn: String,
}

impl Stack {
    pub async fn new() -> Stack {
        Stack {
            aws: provision().await,
            pepper_arn: secret("id-pepper", PEPPER).await,
            wechat_secret_arn: secret("wechat-app-secret", wx::APP_SECRET).await,
            baidu_secret_arn: secret("baidu-app-secret", wx::BAIDU_APP_SECRET).await,
            wechat: WechatServer::start().await,
            wechatpay: local_server::wechatpay::WechatPayServer::start(std::sync::Arc::new(
                embedded::local::ManualClock::new(crate::NOW),
            ))
            .await
            .unwrap(),
            wechatpay_secret_arn: secret("wechatpay", &local_server::wechatpay::secret_json()).await,
        }
    }

    /// The environment Lambda would give `function`: the template's variables with every
    /// reference resolved, plus what Lambda itself sets (region, keys) and the two endpoints
    /// that point at local protocol servers instead of AWS and WeChat.
    pub fn env(&self, function: &str) -> BTreeMap<String, String> {
        let mut env = base_vars();
        for (k, v) in template_env(function) {
            let value = match v.as_str() {
                "!Ref Table" => self.aws.table.clone(),
                "!Ref UploadBucket" => self.aws.bucket.clone(),
                // Named rather than referenced where the bucket's notification refers back.
                "!Sub exam-${Stage}-uploads-${AWS::AccountId}" => self.aws.bucket.clone(),
                "!Ref ReminderQueue" => self.aws.queue_url.clone(),
                "!Ref IdPepperSecret" => self.pepper_arn.clone(),
                "!Ref WechatAppSecret" => self.wechat_secret_arn.clone(),
                "!Ref WechatAppId" => wx::APP_ID.to_string(),
                "!Ref BaiduAppSecret" => self.baidu_secret_arn.clone(),
                "!Ref BaiduAppKey" => wx::BAIDU_APP_KEY.to_string(),
                "!Ref ReminderTemplates" => embedded::local::local_templates(),
                "!Ref WechatPaySecret" => self.wechatpay_secret_arn.clone(),
                v if v.starts_with("!If [DefaultNotifyUrl,") => "http://127.0.0.1:9/v1/payments/wechat/notify".into(),
                literal if !literal.starts_with('!') => literal.to_string(),
                other => panic!("{function}.{k}: the test does not know how to resolve {other}"),
            };
            env.insert(k, value);
        }
        if let Some(dir) = env.get("FORM_FONT_DIR") {
            // A layer's content is mounted at /opt: the template's layer is ../assets.
            let inside = dir.strip_prefix("/opt/").expect("FORM_FONT_DIR is inside the layer (/opt)");
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets").join(inside);
            env.insert("FORM_FONT_DIR".into(), root.display().to_string());
        }
        if env.contains_key("WECHAT_APP_ID") {
            env.insert("WECHAT_API_BASE".into(), self.wechat.base());
        }
        if env.contains_key("WECHATPAY_SECRET_ARN") {
            env.insert("WECHATPAY_API_BASE".into(), self.wechatpay.base());
        }
        if env.contains_key("BAIDU_APP_KEY") {
            env.insert("BAIDU_API_BASE".into(), self.wechat.base());
        }
        env
    }
}
