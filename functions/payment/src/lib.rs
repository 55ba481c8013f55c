//! The `payment` function: 网上缴费 (R26–R31) — the candidate's quote (subjects and amount,
//! R27, R28) and order (`wx.requestPayment` parameters; the same open order again on a retry),
//! and WeChat Pay's payment notifications: signature over the raw bytes, timestamp, decryption,
//! then the payment service records the payment against the order in one conditional
//! transaction. Handlers parse, call the payment service, render.

pub mod compose;

use edge::api::{Function, RouteId, resolve};
use edge::http::{HttpResponse, candidate, json_response, no_content, no_route, segments};
use lambda_http::Request;
use services::payments::{Payments, Settled};
use shared::domain::values::ProjectCode;
use shared::error::Refusal;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use wechat::pay::{PayKeySource, SignedHeaders, read_notification};

/// What the function composes: the payment service and the keys that check notifications.
pub struct PaymentFn {
    pub payments: Payments,
    pub keys: Arc<PayKeySource>,
}

/// Handle one request. Never fails: every error becomes a response here.
pub async fn handle(f: &PaymentFn, req: Request) -> HttpResponse {
    let started = Instant::now();
    let result = route(f, &req).await;
    edge::http::finish("payment", &req, started, result)
}

fn project(f: &PaymentFn, raw: &str) -> Result<ProjectCode, Refusal> {
    let code = ProjectCode::parse(raw, "project")?;
    f.payments.apps.project(&code)?;
    Ok(code)
}

async fn route(f: &PaymentFn, req: &Request) -> Result<HttpResponse, Refusal> {
    let (route, p) = resolve(req.method().as_str(), &segments(req))?;
    if route.function != Function::Payment {
        return Err(no_route());
    }
    if route.auth {
        edge::http::bearer(req)?;
    }
    match route.id {
        RouteId::GetPayment => {
            let q = f.payments.quote(&candidate(req)?, project(f, p.get("project"))?).await?;
            Ok(json_response(200, &q))
        }
        RouteId::StartPayment => {
            let s = f.payments.start(&candidate(req)?, project(f, p.get("project"))?).await?;
            Ok(json_response(200, &s))
        }
        RouteId::WechatPayNotify => Ok(notify(f, req).await),
        _ => Err(no_route()),
    }
}

/// WeChat Pay's error answer: `{"code": "FAIL", "message": …}` (its retry schedule follows).
fn fail(status: u16, message: &str) -> HttpResponse {
    json_response(status, &serde_json::json!({"code": "FAIL", "message": message}))
}

/// A payment notification: 204 once the payment is recorded (or was already, or needs no
/// record); otherwise WeChat Pay's failure body, and it retries.
async fn notify(f: &PaymentFn, req: &Request) -> HttpResponse {
    let get = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let headers = SignedHeaders::from_lookup(get);
    // The raw bytes as WeChat Pay signed them (API Gateway's base64 body is decoded already).
    let body: &[u8] = req.body().as_ref();
    // Signature freshness is wall-clock time, whatever the business clock says.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let keys = match f.keys.get().await {
        Ok(k) => k,
        // The secret is unreadable or malformed (logged with its variable): WeChat Pay retries.
        Err(e) => {
            tracing::warn!(code = e.code, "wechatpay notification not recorded");
            return fail(503, &e.message);
        }
    };
    let tx = match read_notification(&keys, &headers, body, now) {
        Ok(Some(tx)) => tx,
        Ok(None) => return no_content(),
        Err(r) => {
            // A refusal is an alarm's business (README, "Payment"): metric filter on this line.
            tracing::warn!(rejection = ?r, "wechatpay notification refused");
            return fail(r.status(), r.message());
        }
    };
    // WeChat Pay waits 5 s for an answer; past 4 s it gets a 503 and retries (the settle is one
    // read and one transaction; a retry finds whatever it wrote).
    let settled = tokio::time::timeout(std::time::Duration::from_secs(4), f.payments.settle(&tx))
        .await
        .unwrap_or_else(|_| Err(Refusal::unavailable()));
    match settled {
        Ok(s) => {
            if s != Settled::Duplicate {
                tracing::info!(settled = ?s, out_trade_no = %tx.out_trade_no, "wechatpay notification");
            }
            no_content()
        }
        Err(e) => {
            tracing::warn!(code = e.code, out_trade_no = %tx.out_trade_no, "wechatpay notification not recorded");
            fail(e.kind.status(), &e.message)
        }
    }
}
