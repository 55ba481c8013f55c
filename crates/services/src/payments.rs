//! Online payment (R26–R31): the candidate's quote and order, the provider's word that an order
//! was paid (its notification, or our own query of the order), and the reconciler that finds
//! payments whose notification never came, closes orders before their application can lapse and
//! refunds payments that arrived too late. The provider is a port ([`PayGateway`]); WeChat Pay
//! v3 is its adapter (`wechat::pay`).
//!
//! Items: the application carries its one open order (`Application::order`); each order also
//! has its own item `ORDER#<out_trade_no>` ([`OrderRecord`]) — the provider's callbacks name
//! only the order — which sits in gsi3 under `PAYCHECK#<shard>` while it still needs a look from
//! the reconciler (open, or a refund owed).

use crate::applications::{Applications, Loaded, Target};
use crate::ports::Clock;
use crate::principal::{Principal, SystemActor};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::domain::application::{Command, Ctx, Order, payment_quote};
use shared::domain::values::{Fen, ProjectCode};
use shared::error::{Kind, Refusal};
use std::sync::Arc;
use store::{Cond, Key, Query, Versioned, Write, decode, encode, keys};
use time::{Duration, OffsetDateTime};

/// What the mini-program passes to `wx.requestPayment` (all strings, as WeChat wants them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestPayment {
    #[serde(rename = "appId")]
    pub app_id: String,
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `prepay_id=…`
    pub package: String,
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

/// A new order as the provider is asked for it.
#[derive(Debug, Clone)]
pub struct PrepayRequest {
    pub out_trade_no: String,
    pub description: String,
    pub amount: Fen,
    pub openid: String,
    pub expires_at: OffsetDateTime,
    /// Echoed back by the provider with the order: `<candidate id>/<project>`, so a callback
    /// finds the application and the order in one read.
    pub attach: String,
}

/// The provider's `trade_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeState {
    Success,
    NotPay,
    UserPaying,
    Closed,
    Refund,
    Revoked,
    PayError,
    Other(String),
}

impl TradeState {
    pub fn parse(s: &str) -> TradeState {
        match s {
            "SUCCESS" => TradeState::Success,
            "NOTPAY" => TradeState::NotPay,
            "USERPAYING" => TradeState::UserPaying,
            "CLOSED" => TradeState::Closed,
            "REFUND" => TradeState::Refund,
            "REVOKED" => TradeState::Revoked,
            "PAYERROR" => TradeState::PayError,
            other => TradeState::Other(other.chars().take(32).collect()),
        }
    }
}

/// An order as the provider reports it (a decrypted notification, or a query's answer), after
/// its signature was checked.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub trade_state: TradeState,
    pub success_time: Option<OffsetDateTime>,
    /// `amount.total`: what the order was for (compared with the order, R28).
    pub total: Option<Fen>,
    /// `amount.payer_total`: what the payer paid (less with a coupon); recorded, not compared.
    pub payer_total: Option<Fen>,
    /// `amount.currency` (CNY).
    pub currency: Option<String>,
    pub attach: Option<String>,
}

/// What closing an order found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Closed (or already closed): it can't be paid any more.
    Closed,
    /// The provider says it was paid meanwhile (`ORDER_PAID`): query it and record the payment.
    AlreadyPaid,
}

/// A refund as asked for (the same `out_refund_no` on every retry: one refund).
#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub amount: Fen,
    pub reason: String,
}

/// The payment provider. Every answer was signed by the provider and checked by the adapter;
/// an unchecked or unreadable answer is an error (`UNAVAILABLE`), never a guess.
#[async_trait]
pub trait PayGateway: Send + Sync {
    /// The merchant's `mchid` and the `appid` orders are made for.
    async fn merchant(&self) -> Result<(String, String), Refusal>;
    /// A `prepay_id` for the order (the same one again for the same order and parameters).
    async fn prepay(&self, order: &PrepayRequest) -> Result<String, Refusal>;
    /// The client's payment parameters for a `prepay_id`, signed with the merchant key.
    async fn request_payment(&self, prepay_id: &str, now: OffsetDateTime) -> Result<RequestPayment, Refusal>;
    /// The order as the provider has it; `None` if it has no such order.
    async fn query(&self, out_trade_no: &str) -> Result<Option<Transaction>, Refusal>;
    async fn close(&self, out_trade_no: &str) -> Result<Closed, Refusal>;
    /// Ask for a refund; answers the provider's refund status (`SUCCESS`, `PROCESSING`, …).
    async fn refund(&self, refund: &RefundRequest) -> Result<String, Refusal>;
}

/// An order's life, on its own item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Payable until `expires_at`.
    Open,
    /// Paid, and the application recorded it (R30).
    Paid,
    /// Closed unpaid.
    Closed,
    /// Paid, but not payment for the application: another amount than the order's, or an
    /// application that could no longer take it (lapsed, or paid by another order). The money
    /// goes back (README, "Payment").
    RefundDue,
    Refunded,
}

/// The order item (`ORDER#<out_trade_no>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRecord {
    pub out_trade_no: String,
    pub candidate_id: String,
    pub project: ProjectCode,
    pub amount: Fen,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub state: OrderState,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub paid_total: Option<Fen>,
    #[serde(default)]
    pub payer_total: Option<Fen>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub success_time: Option<OffsetDateTime>,
    #[serde(default)]
    pub refund_status: Option<String>,
    /// Why a refund is owed, or how the order ended, for staff.
    #[serde(default)]
    pub note: Option<String>,
    /// How many times the reconciler looked at it (its back-off).
    #[serde(default)]
    pub checks: u32,
    /// When the reconciler looks next (while open or a refund is owed).
    #[serde(with = "time::serde::rfc3339")]
    pub next_check: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl OrderRecord {
    fn target(&self) -> Target {
        Target { candidate_id: self.candidate_id.clone(), project: self.project.clone() }
    }
    /// One refund per order, the same number on every retry.
    pub fn out_refund_no(&self) -> String {
        format!("R{}", self.out_trade_no)
    }
}

/// How many shards the reconciler's index is spread over.
pub const CHECK_SHARDS: u8 = 4;

fn check_shard(out_trade_no: &str) -> u8 {
    out_trade_no.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % CHECK_SHARDS
}

/// The write of an order record at version `ver` (conditioned on `cond`), in the reconciler's
/// index while it still needs a look.
pub fn order_write(rec: &OrderRecord, ver: u64, cond: Cond) -> Result<Write, Refusal> {
    let mut extra = vec![];
    if matches!(rec.state, OrderState::Open | OrderState::RefundDue) {
        extra.push(("gsi3pk", json!(keys::pay_check(check_shard(&rec.out_trade_no)))));
        extra.push(("gsi3sk", json!(format!("{:012}#{}", rec.next_check.unix_timestamp().max(0), rec.out_trade_no))));
    }
    let item = encode(&keys::order(&rec.out_trade_no), "order", ver, rec, &extra)?;
    Ok(Write::Put { item, cond })
}

/// `out_trade_no`: 6–32 of `[0-9A-Za-z_*-]` (WeChat Pay), unguessable: `P` and 31 random hex
/// digits (124 bits).
pub fn new_out_trade_no() -> String {
    let id = shared::random::id();
    format!("P{}", &id[..31])
}

pub const OUT_TRADE_NO_PATTERN: &str = "^[0-9A-Za-z_*-]{6,32}$";

/// How long a prepay id lives at WeChat Pay (2 hours): an order never outlives it.
const ORDER_LIFE: Duration = Duration::hours(2);

/// When the reconciler first looks at an open order, and then how much later each time
/// (WeChat's guidance queries unpaid orders over the first half hour; then we wait for expiry).
const CHECK_AFTER: [Duration; 5] =
    [Duration::minutes(1), Duration::minutes(3), Duration::minutes(5), Duration::minutes(10), Duration::minutes(30)];

/// What the candidate sees before paying (R27): subjects, fee, amount, deadline, and the open
/// order if there is one.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentQuote {
    pub project: String,
    /// Subject codes sat (R28 counts them).
    pub subjects: Vec<String>,
    /// 分 per subject in the application's district.
    pub fee_per_subject: u64,
    /// 分: fee per subject × subjects (R28).
    pub amount: u64,
    /// The same, for display: `150.00元`.
    pub amount_text: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub payment_deadline: OffsetDateTime,
    /// The order already open, if any (asking to pay again returns it).
    pub open_order: Option<String>,
}

/// What asking to pay answers: the order and the parameters for `wx.requestPayment`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentStart {
    pub out_trade_no: String,
    /// 分, frozen on the order.
    pub amount: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
    pub request_payment: RequestPayment,
}

/// What the provider's word about an order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The application is now paid (R30): one transition, one reminder.
    Paid,
    /// Already recorded (a duplicate or a retried notification): nothing changed.
    Duplicate,
    /// The order isn't paid (a query's NOTPAY, …): nothing changed.
    NotPaid,
    /// Paid, but not payment for the application (another amount; or it could no longer take
    /// it): a refund is owed.
    RefundDue,
}

/// What one reconciler run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub looked_at: u32,
    pub paid: u32,
    pub closed: u32,
    pub refunded: u32,
    pub still_open: u32,
    pub failed: u32,
}

/// The payment service (what the `payment` and `reconcile` functions compose).
#[derive(Clone)]
pub struct Payments {
    pub apps: Applications,
    pub gateway: Arc<dyn PayGateway>,
}

fn provider() -> Principal {
    Principal::System(SystemActor::PaymentProvider)
}

fn unknown_order() -> Refusal {
    Refusal::not_found("UNKNOWN_ORDER", "订单不存在")
}

/// `<candidate id>/<project>` from an order's `attach`.
fn parse_attach(attach: &str) -> Option<Target> {
    let (cid, project) = attach.split_once('/')?;
    if cid.len() != 32 || !cid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let project = ProjectCode::parse(project, "attach").ok()?;
    Some(Target { candidate_id: cid.to_string(), project })
}

impl Payments {
    fn clock(&self) -> &dyn Clock {
        self.apps.clock.as_ref()
    }

    /// R27: the subjects and the amount, and whether payment can start (R26, R29).
    pub async fn quote(&self, principal: &Principal, project: ProjectCode) -> Result<PaymentQuote, Refusal> {
        let target = Target::own(principal, project)?;
        let loaded = self.apps.load_with(principal, &target, &[]).await?;
        let app = &loaded.app()?.value;
        let (proj, district) = self.apps.context(app)?;
        let ctx = Ctx {
            now: self.clock().now(),
            reference: &self.apps.reference,
            project: proj,
            district,
            candidate: &loaded.candidate.value,
        };
        let amount = payment_quote(app, &ctx)?;
        let subjects = app.pages.exam.as_ref().map(|e| e.subjects.iter().map(|s| s.as_str().to_string()).collect());
        Ok(PaymentQuote {
            project: app.project.as_str().to_string(),
            subjects: subjects.unwrap_or_default(),
            fee_per_subject: proj.fee_per_subject(&app.district).0,
            amount: amount.0,
            amount_text: amount.to_string(),
            payment_deadline: proj.schedule(&app.district).payment_deadline,
            open_order: app.order.as_ref().filter(|o| ctx.now < o.expires_at).map(|o| o.out_trade_no.clone()),
        })
    }

    /// R26–R28: the candidate asks to pay. The open order again if there is one (idempotent);
    /// otherwise a new one: the provider's prepay first, then one transaction that puts the
    /// order on the application and writes its item. A racing second request loses the write
    /// and answers the winner's order (its own prepay was never handed out, and expires).
    pub async fn start(&self, principal: &Principal, project: ProjectCode) -> Result<PaymentStart, Refusal> {
        let target = Target::own(principal, project)?;
        for _ in 0..3 {
            let mut loaded = self.apps.load_with(principal, &target, &[]).await?;
            let now = self.clock().now();
            let app = loaded.app()?.value.clone();
            let (proj, district) = self.apps.context(&app)?;
            let ctx = Ctx {
                now,
                reference: &self.apps.reference,
                project: proj,
                district,
                candidate: &loaded.candidate.value,
            };
            let amount = payment_quote(&app, &ctx)?;
            if let Some(open) = &app.order {
                if now < open.expires_at {
                    return self.started(open, now).await;
                }
                // Expired: make sure it can't be paid any more before another replaces it.
                if self.gateway.close(&open.out_trade_no).await? == Closed::AlreadyPaid {
                    return match self.check(&open.out_trade_no).await? {
                        Settled::Paid | Settled::Duplicate => Err(Refusal::conflict("ALREADY_PAID", "已缴费")),
                        _ => Err(Refusal::new(Kind::Unavailable, "PAYMENT_PENDING", "支付结果确认中,请稍后再试")),
                    };
                }
            }
            let openid = loaded.candidate.value.openid.clone().ok_or_else(|| {
                Refusal::rule("WECHAT_NOT_BOUND", "请先在小程序中绑定微信账号后再缴费").field("openid")
            })?;
            let deadline = proj.schedule(&app.district).payment_deadline;
            let expires_at = (now + ORDER_LIFE).min(deadline);
            if expires_at - now < Duration::minutes(1) {
                return Err(Refusal::new(Kind::Conflict, "PAYMENT_CLOSED", "缴费即将截止,无法再发起支付"));
            }
            let out_trade_no = new_out_trade_no();
            let description: String = format!("{}报名费", proj.name).chars().take(40).collect();
            let prepay = PrepayRequest {
                out_trade_no: out_trade_no.clone(),
                description,
                amount,
                openid,
                expires_at,
                attach: format!("{}/{}", target.candidate_id, target.project.as_str()),
            };
            let prepay_id = self.gateway.prepay(&prepay).await?;
            let order = Order { out_trade_no: out_trade_no.clone(), amount, prepay_id, expires_at };
            let rec = OrderRecord {
                out_trade_no,
                candidate_id: target.candidate_id.clone(),
                project: target.project.clone(),
                amount,
                expires_at,
                created_at: now,
                state: OrderState::Open,
                transaction_id: None,
                paid_total: None,
                payer_total: None,
                success_time: None,
                refund_status: None,
                note: None,
                checks: 0,
                next_check: (now + CHECK_AFTER[0]).min(expires_at),
                updated_at: now,
            };
            let put = order_write(&rec, 1, Cond::NotExists)?;
            match self
                .apps
                .execute_loaded(&mut loaded, &target, Command::OpenOrder { order: order.clone() }, vec![put])
                .await
            {
                Ok(_) => return self.started(&order, now).await,
                Err(e) if e.code == "CONCURRENT_UPDATE" => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Refusal::concurrent())
    }

    async fn started(&self, order: &Order, now: OffsetDateTime) -> Result<PaymentStart, Refusal> {
        Ok(PaymentStart {
            out_trade_no: order.out_trade_no.clone(),
            amount: order.amount.0,
            expires_at: order.expires_at,
            request_payment: self.gateway.request_payment(&order.prepay_id, now).await?,
        })
    }

    /// The provider says this about an order (a verified notification, or a query). Checked
    /// against the order item — merchant, app, amount — then one conditional transaction:
    /// the application paid and the order paid, or the order owes a refund, or an anomaly.
    /// Duplicates and concurrent copies see the order already settled and change nothing.
    pub async fn settle(&self, tx: &Transaction) -> Result<Settled, Refusal> {
        let (mchid, appid) = self.gateway.merchant().await?;
        if tx.mchid != mchid || tx.appid != appid {
            return Err(Refusal::bad("MERCHANT_MISMATCH", "商户号或应用不匹配"));
        }
        if tx.trade_state != TradeState::Success {
            return Ok(Settled::NotPaid);
        }
        let target = match tx.attach.as_deref().and_then(parse_attach) {
            Some(t) => t,
            // Orders we make always carry it; without it the order item says whose it is.
            None => self.read_order(&tx.out_trade_no).await?.ok_or_else(unknown_order)?.value.target(),
        };
        for _ in 0..5 {
            let mut loaded = self.apps.load_with(&provider(), &target, &[keys::order(&tx.out_trade_no)]).await?;
            let order: Versioned<OrderRecord> = match loaded.extra.first().cloned().flatten() {
                Some(item) => decode(&item)?,
                None => return Err(unknown_order()),
            };
            if order.value.candidate_id != target.candidate_id || order.value.project != target.project {
                return Err(unknown_order());
            }
            match self.settle_once(&mut loaded, &target, order, tx).await {
                Err(e) if e.code == "CONCURRENT_UPDATE" => continue,
                other => return other,
            }
        }
        Err(Refusal::concurrent())
    }

    async fn settle_once(
        &self,
        loaded: &mut Loaded,
        target: &Target,
        order: Versioned<OrderRecord>,
        tx: &Transaction,
    ) -> Result<Settled, Refusal> {
        let now = self.clock().now();
        let mut rec = order.value.clone();
        let cond = Cond::Version(order.ver);
        let ver = order.ver + 1;
        if rec.state != OrderState::Open && rec.state != OrderState::Closed {
            // Paid, or a refund owed or made: this payment is known already.
            return Ok(Settled::Duplicate);
        }
        let transaction_id = tx.transaction_id.clone().unwrap_or_default();
        rec.transaction_id = Some(transaction_id.clone());
        rec.paid_total = tx.total;
        rec.payer_total = tx.payer_total;
        rec.success_time = tx.success_time;
        rec.updated_at = now;
        rec.next_check = now;
        rec.checks = 0;
        let cny = tx.currency.as_deref().is_none_or(|c| c == "CNY");
        let cmd = Command::RecordPayment {
            out_trade_no: rec.out_trade_no.clone(),
            // What WeChat Pay says was paid, against what the order froze (R28): the domain
            // refuses a payment of another amount.
            amount: tx.total.filter(|_| cny).unwrap_or(Fen(0)),
            ordered: order.value.amount,
            transaction_id,
            paid_at: tx.success_time.unwrap_or(now),
        };
        rec.state = OrderState::Paid;
        let write = order_write(&rec, ver, cond)?;
        let refused = match self.apps.execute_loaded(loaded, target, cmd, vec![write]).await {
            Ok(_) => return Ok(Settled::Paid),
            Err(e) if e.code == "CONCURRENT_UPDATE" => return Err(e),
            Err(e) if e.kind == Kind::Conflict || e.kind == Kind::Rule => e,
            Err(e) => return Err(e),
        };
        // The money moved but can't count: an amount (or currency) other than the order's, or an
        // application that can no longer take it (lapsed, R31; paid by another order). It goes
        // back (README "Payment"); the order leaves the application, which may then be paid
        // properly or lapse.
        rec.state = OrderState::RefundDue;
        rec.note = Some(match refused.code {
            "AMOUNT_MISMATCH" => format!(
                "amount.total {} {} ≠ order {}",
                tx.total.map_or_else(|| "absent".to_string(), |f| f.0.to_string()),
                tx.currency.as_deref().unwrap_or("CNY"),
                rec.amount.0
            ),
            code => format!("application refused the payment: {code}"),
        });
        tracing::warn!(out_trade_no = %rec.out_trade_no, refused = refused.code, "payment the application can't take: refund owed");
        self.close_on_application(loaded, target, &rec, order_write(&rec, ver, cond)?).await?;
        Ok(Settled::RefundDue)
    }

    /// Write `write` (the order item's new state) and, if the application still carries this
    /// order, take it off in the same transaction (`CloseOrder`).
    async fn close_on_application(
        &self,
        loaded: &mut Loaded,
        target: &Target,
        rec: &OrderRecord,
        write: Write,
    ) -> Result<(), Refusal> {
        let current = loaded.app.as_ref().and_then(|a| a.value.order.as_ref()).map(|o| o.out_trade_no.as_str())
            == Some(rec.out_trade_no.as_str());
        if current {
            let cmd = Command::CloseOrder { out_trade_no: rec.out_trade_no.clone() };
            self.apps.execute_loaded(loaded, target, cmd, vec![write]).await.map(|_| ())
        } else {
            self.apps.table.transact(vec![write]).await.map_err(Refusal::from)
        }
    }

    async fn read_order(&self, out_trade_no: &str) -> Result<Option<Versioned<OrderRecord>>, Refusal> {
        let got = self.apps.table.get_many(&[keys::order(out_trade_no)]).await?;
        Ok(got.into_iter().next().flatten().map(|i| decode(&i)).transpose()?)
    }

    /// Ask the provider about an order and record what it says.
    async fn check(&self, out_trade_no: &str) -> Result<Settled, Refusal> {
        match self.gateway.query(out_trade_no).await? {
            Some(tx) => self.settle(&tx).await,
            None => Ok(Settled::NotPaid),
        }
    }

    /// The reconciler: every order due a look, up to `max` (the scheduled job's budget). The
    /// shards are walked from a different one each minute, and an order whose look failed is
    /// looked at again later, so a few bad orders can't starve the rest. An order item that
    /// can't be read is counted failed and skipped.
    pub async fn reconcile(&self, max: u32) -> Result<ReconcileReport, Refusal> {
        let now = self.clock().now();
        let mut report = ReconcileReport::default();
        let first = (now.unix_timestamp() / 60).rem_euclid(i64::from(CHECK_SHARDS)) as u8;
        for shard in (0..CHECK_SHARDS).map(|n| (first + n) % CHECK_SHARDS) {
            let mut q = Query::of(Some(store::Index::Gsi3), keys::pay_check(shard), 50);
            q.sk_between = Some(("0".into(), format!("{:012}#~", now.unix_timestamp().max(0))));
            loop {
                if report.looked_at >= max {
                    return Ok(report);
                }
                let page = self.apps.table.query(&q).await?;
                for item in &page.items {
                    report.looked_at += 1;
                    // The index holds a copy: read the order itself, as of now.
                    let Some(key) = Key::of(item) else { continue };
                    let no = key.pk.trim_start_matches("ORDER#").to_string();
                    let order = match self.read_order(&no).await {
                        Ok(Some(order)) => order,
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::error!(out_trade_no = %no, code = e.code, "reconcile: order item unreadable");
                            report.failed += 1;
                            continue;
                        }
                    };
                    match self.look_at(order.clone(), now).await {
                        Ok(Look::Paid) => report.paid += 1,
                        Ok(Look::Closed) => report.closed += 1,
                        Ok(Look::Refunded) => report.refunded += 1,
                        Ok(Look::Open) => report.still_open += 1,
                        Err(e) => {
                            tracing::warn!(out_trade_no = %no, code = e.code, "reconcile: order not settled this run");
                            report.failed += 1;
                            self.later(order, now).await;
                        }
                    }
                }
                match page.cursor {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(report)
    }

    /// Look at an order again later (its back-off), never after its expiry while it is open.
    async fn later(&self, order: Versioned<OrderRecord>, now: OffsetDateTime) {
        let mut next = order.value.clone();
        next.checks += 1;
        let wait = CHECK_AFTER.get(next.checks as usize).copied().unwrap_or(Duration::minutes(30));
        next.next_check = if next.state == OrderState::Open && now < next.expires_at {
            (now + wait).min(next.expires_at)
        } else {
            now + wait
        };
        next.updated_at = now;
        let write = order_write(&next, order.ver + 1, Cond::Version(order.ver));
        // A racing writer moved it first: it is in hand elsewhere.
        if let Ok(w) = write {
            let _ = self.apps.table.transact(vec![w]).await;
        }
    }

    async fn look_at(&self, order: Versioned<OrderRecord>, now: OffsetDateTime) -> Result<Look, Refusal> {
        let rec = &order.value;
        match rec.state {
            OrderState::Open => {}
            OrderState::RefundDue => return self.refund(order, now).await,
            _ => return Ok(Look::Closed),
        }
        let state = self.gateway.query(&rec.out_trade_no).await?;
        match state.as_ref().map(|tx| &tx.trade_state) {
            Some(TradeState::Success) => {
                let tx = state.as_ref().ok_or_else(Refusal::internal)?;
                return self.settled(self.settle(tx).await?, order, now).await;
            }
            // Final at WeChat Pay: closed unpaid, or paid and refunded there (by staff in the
            // merchant platform): nothing to record, nothing owed.
            Some(TradeState::Closed) => return self.mark_closed(rec, now, None).await,
            Some(TradeState::Refund) => {
                return self.mark_closed(rec, now, Some("refunded at WeChat Pay, outside this system")).await;
            }
            // NOTPAY, USERPAYING, PAYERROR, REVOKED, anything else: not final until closed.
            _ => {}
        }
        if now < rec.expires_at {
            self.later(order, now).await;
            return Ok(Look::Open);
        }
        // Expired: close it, so it can never be paid, before the application may lapse (R31).
        match self.gateway.close(&rec.out_trade_no).await? {
            Closed::Closed => self.mark_closed(rec, now, None).await,
            // Paid after all: record it (or, if WeChat Pay then says otherwise, look later).
            Closed::AlreadyPaid => match self.check(&rec.out_trade_no).await? {
                Settled::NotPaid => {
                    self.later(order, now).await;
                    Ok(Look::Open)
                }
                s => self.settled(s, order, now).await,
            },
        }
    }

    async fn settled(&self, s: Settled, order: Versioned<OrderRecord>, now: OffsetDateTime) -> Result<Look, Refusal> {
        Ok(match s {
            Settled::Paid | Settled::Duplicate => Look::Paid,
            Settled::RefundDue => Look::Closed,
            Settled::NotPaid => {
                self.later(order, now).await;
                Look::Open
            }
        })
    }

    /// The order is closed unpaid: its item says so, and the application no longer carries it
    /// (then the sweep may lapse it, R31) — one transaction.
    async fn mark_closed(&self, rec: &OrderRecord, now: OffsetDateTime, note: Option<&str>) -> Result<Look, Refusal> {
        let target = rec.target();
        for _ in 0..5 {
            let mut loaded = self.apps.load_with(&provider(), &target, &[keys::order(&rec.out_trade_no)]).await?;
            let Some(item) = loaded.extra.first().cloned().flatten() else { return Err(unknown_order()) };
            let order: Versioned<OrderRecord> = decode(&item)?;
            if order.value.state != OrderState::Open {
                return Ok(Look::Closed);
            }
            let mut closed = order.value.clone();
            closed.state = OrderState::Closed;
            closed.updated_at = now;
            closed.note = note.map(str::to_string);
            let write = order_write(&closed, order.ver + 1, Cond::Version(order.ver))?;
            match self.close_on_application(&mut loaded, &target, &closed, write).await {
                Ok(()) => return Ok(Look::Closed),
                Err(e) if e.code == "CONCURRENT_UPDATE" => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Refusal::concurrent())
    }

    /// A payment the application could not take goes back, with the same refund number on
    /// every retry (the provider makes one refund of it; asking again also tells how it went).
    async fn refund(&self, order: Versioned<OrderRecord>, now: OffsetDateTime) -> Result<Look, Refusal> {
        let rec = &order.value;
        let ask = RefundRequest {
            out_trade_no: rec.out_trade_no.clone(),
            out_refund_no: rec.out_refund_no(),
            amount: rec.paid_total.unwrap_or(rec.amount),
            reason: "报名费退还".into(),
        };
        let status = self.gateway.refund(&ask).await?;
        let mut next = rec.clone();
        next.updated_at = now;
        next.refund_status = Some(status.clone());
        match status.as_str() {
            "SUCCESS" => {
                next.state = OrderState::Refunded;
                self.apps.table.transact(vec![order_write(&next, order.ver + 1, Cond::Version(order.ver))?]).await?;
                Ok(Look::Refunded)
            }
            // Under way: ask again (the same out_refund_no) later.
            "PROCESSING" => {
                next.checks += 1;
                next.next_check = now + Duration::minutes(5);
                self.apps.table.transact(vec![order_write(&next, order.ver + 1, Cond::Version(order.ver))?]).await?;
                Ok(Look::Open)
            }
            // ABNORMAL (the payer's account can't take it back) or CLOSED: staff act in the
            // merchant platform; the run counts it failed, so the alarm says so.
            other => {
                tracing::error!(out_trade_no = %rec.out_trade_no, status = other, "refund not made: staff must act");
                Err(Refusal::new(Kind::Unavailable, "REFUND_NOT_MADE", "退款未成功"))
            }
        }
    }

    /// The order item, for tests and operators.
    pub async fn order(&self, out_trade_no: &str) -> Result<Option<OrderRecord>, Refusal> {
        Ok(self.read_order(out_trade_no).await?.map(|v| v.value))
    }
}

enum Look {
    Paid,
    Closed,
    Refunded,
    Open,
}
