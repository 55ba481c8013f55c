//! The table port on DynamoDB: one table, items converted with serde_dynamo, every condition an
//! expression on `pk` or `ver`, transactions via TransactWriteItems, strongly consistent reads.
//!
//! Errors keep their meaning: a failed condition is `Conflict` (with the stored item where
//! DynamoDB returns it, and the failing position in a transaction), throttling that survived the
//! SDK's retries is `Throttled`, anything else `Unavailable` with the error chain for the log.

use crate::sdk::OnFirstUse;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use base64::Engine;
use std::collections::HashMap;
use store::{Cond, Item, Key, Query, QueryPage, StoreError, Table, Write};

type Attrs = HashMap<String, AttributeValue>;

pub struct DynamoTable {
    client: OnFirstUse<Client>,
    table: String,
}

impl DynamoTable {
    pub fn new(client: impl Into<OnFirstUse<Client>>, table: impl Into<String>) -> Self {
        DynamoTable { client: client.into(), table: table.into() }
    }

    /// One cheap data-plane read so the TLS connection is open before the first request
    /// (a miss on a key that never exists costs 0.5 RCU).
    pub async fn warm(&self) {
        let _ = self.get(&Key::new("WARMUP", "WARMUP")).await;
    }
}

fn key_attrs(k: &Key) -> Attrs {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(k.pk.clone())),
        ("sk".to_string(), AttributeValue::S(k.sk.clone())),
    ])
}

fn to_attrs(item: &Item) -> Result<Attrs, StoreError> {
    serde_dynamo::to_item(item).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn from_attrs(attrs: Attrs) -> Result<Item, StoreError> {
    let key = Key::new(
        attrs.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default(),
        attrs.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default(),
    );
    serde_dynamo::from_item(attrs).map_err(|e| StoreError::Corrupt { key, detail: e.to_string() })
}

/// A condition as DynamoDB takes it: expression, attribute names and values (all `None` for
/// `Always`).
#[derive(Default)]
struct Condition {
    expr: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<Attrs>,
}

fn condition(cond: Cond) -> Condition {
    match cond {
        Cond::Always => Condition::default(),
        Cond::NotExists => Condition { expr: Some("attribute_not_exists(pk)".into()), ..Condition::default() },
        Cond::Exists => Condition { expr: Some("attribute_exists(pk)".into()), ..Condition::default() },
        Cond::Version(v) => Condition {
            expr: Some("#ver = :ver".into()),
            names: Some(HashMap::from([("#ver".to_string(), "ver".to_string())])),
            values: Some(HashMap::from([(":ver".to_string(), AttributeValue::N(v.to_string()))])),
        },
        Cond::LeaseBefore(t) => Condition {
            expr: Some("attribute_not_exists(pk) OR #lease < :lease".into()),
            names: Some(HashMap::from([("#lease".to_string(), "lease".to_string())])),
            values: Some(HashMap::from([(":lease".to_string(), AttributeValue::N(t.to_string()))])),
        },
    }
}

fn throttled(code: Option<&str>) -> bool {
    matches!(code, Some("ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded"))
}

fn other<E: std::error::Error + ProvideErrorMetadata + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    if throttled(e.code()) {
        return StoreError::Throttled;
    }
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor(HashMap<String, String>);

fn encode_cursor(last: &Attrs) -> Result<String, StoreError> {
    // Keys are all strings in this table; anything else is a bug, not data to carry.
    let map = last
        .iter()
        .map(|(k, v)| {
            v.as_s().map(|s| (k.clone(), s.clone())).map_err(|_| StoreError::Invalid("non-string key".into()))
        })
        .collect::<Result<HashMap<_, _>, _>>()?;
    let json = serde_json::to_vec(&Cursor(map)).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(c: &str) -> Result<Attrs, StoreError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| StoreError::Invalid("bad cursor".into()))?;
    let Cursor(map) = serde_json::from_slice(&bytes).map_err(|_| StoreError::Invalid("bad cursor".into()))?;
    Ok(map.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

impl DynamoTable {
    /// A Query on the table or one index, with the key condition, in the query's order.
    fn query_on(
        &self,
        q: &Query,
    ) -> Result<aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder, StoreError> {
        let (expr, names, values) = key_condition(q)?;
        Ok(self
            .client
            .get()
            .query()
            .table_name(&self.table)
            .set_index_name(q.index.map(|i| index_name(i).to_string()))
            .key_condition_expression(expr)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!q.descending))
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn count(&self, key: &Key, limit: u64, expires_at: i64) -> Result<Option<u64>, StoreError> {
        let r = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression("SET #n = if_not_exists(#n, :zero) + :one, #ttl = if_not_exists(#ttl, :ttl)")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match r {
            Ok(out) => {
                let n = out.attributes.as_ref().and_then(|a| a.get("n")).and_then(|v| v.as_n().ok());
                n.and_then(|n| n.parse().ok())
                    .map(Some)
                    .ok_or_else(|| StoreError::Corrupt { key: key.clone(), detail: "counter without n".into() })
            }
            Err(SdkError::ServiceError(se)) if se.err().is_conditional_check_failed_exception() => Ok(None),
            Err(e) => Err(other(e)),
        }
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get()
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(other)?;
        out.item.map(from_attrs).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.len() > 100 {
            return Err(StoreError::Invalid("more than 100 keys".into()));
        }
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup(); // BatchGetItem refuses duplicate keys
        let mut found: HashMap<Key, Item> = HashMap::new();
        let mut pending: Vec<Attrs> = unique.iter().map(|k| key_attrs(k)).collect();
        // UnprocessedKeys come back under load; retry them with a short backoff, bounded.
        for attempt in 0..6u32 {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let ka = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let out = self.client.get().batch_get_item().request_items(&self.table, ka).send().await.map_err(other)?;
            for attrs in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                let item = from_attrs(attrs)?;
                if let Some(k) = Key::of(&item) {
                    found.insert(k, item);
                }
            }
            if let Some(mut rest) = out.unprocessed_keys
                && let Some(ka) = rest.remove(&self.table)
            {
                pending = ka.keys;
            }
        }
        if !pending.is_empty() {
            return Err(StoreError::Throttled);
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn put(&self, item: Item, cond: Cond) -> Result<(), StoreError> {
        let Condition { expr, names, values } = condition(cond);
        let r = self
            .client
            .get()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(&item)?))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_conditional_check_failed_exception() => {
                let current = match se.into_err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                Err(StoreError::Conflict { at: 0, current: current.map(from_attrs).transpose()?.map(Box::new) })
            }
            Err(e) => Err(other(e)),
        }
    }

    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), StoreError> {
        let Condition { expr, names, values } = condition(cond);
        let r = self
            .client
            .get()
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_conditional_check_failed_exception() => {
                let current = match se.into_err() {
                    aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(c) => {
                        c.item
                    }
                    _ => None,
                };
                Err(StoreError::Conflict { at: 0, current: current.map(from_attrs).transpose()?.map(Box::new) })
            }
            Err(e) => Err(other(e)),
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > 100 {
            return Err(StoreError::Invalid(format!("{} writes in one transaction", writes.len())));
        }
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid(e.to_string());
        let mut items = Vec::with_capacity(writes.len());
        for w in &writes {
            let item = match w {
                Write::Put { item, cond } => {
                    let Condition { expr, names, values } = condition(*cond);
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_attrs(item)?))
                        .set_condition_expression(expr)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                        .build()
                        .map_err(invalid)?;
                    TransactWriteItem::builder().put(put).build()
                }
                Write::Delete { key, cond } => {
                    let Condition { expr, names, values } = condition(*cond);
                    let del = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(key)))
                        .set_condition_expression(expr)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                        .build()
                        .map_err(invalid)?;
                    TransactWriteItem::builder().delete(del).build()
                }
                Write::Check { key, cond } => {
                    // A ConditionCheck needs an expression; for `Always` use one that always holds.
                    let mut c = condition(*cond);
                    if c.expr.is_none() {
                        c = Condition {
                            expr: Some("attribute_not_exists(#nothing)".into()),
                            names: Some(HashMap::from([("#nothing".to_string(), "nothing".to_string())])),
                            values: None,
                        };
                    }
                    let Condition { expr, names, values } = c;
                    let check = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(key)))
                        .set_condition_expression(expr)
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                        .build()
                        .map_err(invalid)?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
            };
            items.push(item);
        }
        let token = store::request_token(&writes);
        match self
            .client
            .get()
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_transaction_canceled_exception() => {
                let reasons = match se.into_err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => {
                        t.cancellation_reasons.unwrap_or_default()
                    }
                    _ => vec![],
                };
                // The first item that failed its condition; a concurrent transaction on the same
                // items (TransactionConflict) is another writer winning too.
                for (at, r) in reasons.iter().enumerate() {
                    match r.code() {
                        Some("ConditionalCheckFailed") => {
                            let current = r.item.clone().map(from_attrs).transpose()?.map(Box::new);
                            return Err(StoreError::Conflict { at, current });
                        }
                        Some("TransactionConflict") => return Err(StoreError::Conflict { at, current: None }),
                        Some("ThrottlingError" | "ProvisionedThroughputExceeded") => return Err(StoreError::Throttled),
                        _ => {}
                    }
                }
                Err(StoreError::Unavailable(format!("transaction cancelled: {reasons:?}")))
            }
            Err(SdkError::ServiceError(se)) if se.err().code() == Some("ValidationException") => {
                Err(StoreError::Invalid(se.err().message().unwrap_or("validation").to_string()))
            }
            Err(e) => Err(other(e)),
        }
    }

    async fn count_items(&self, q: &Query, cap: u64) -> Result<u64, StoreError> {
        let mut n = 0u64;
        let mut start = None;
        // Pages of up to 1 MB each, counted server-side (`Select: COUNT` returns no items).
        loop {
            let out = self
                .query_on(q)?
                .select(aws_sdk_dynamodb::types::Select::Count)
                .limit(cap.clamp(1, 10_000) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(other)?;
            n += out.count.max(0) as u64;
            start = out.last_evaluated_key;
            if start.is_none() || n >= cap {
                return Ok(n.min(cap));
            }
        }
    }

    async fn query(&self, q: &Query) -> Result<QueryPage, StoreError> {
        let start = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let out = self
            .query_on(q)?
            .limit(q.limit.clamp(1, 1000) as i32)
            // Only the base table offers strongly consistent reads; indexes are eventual.
            .consistent_read(q.index.is_none())
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(other)?;
        let items = out.items.unwrap_or_default().into_iter().map(from_attrs).collect::<Result<Vec<_>, _>>()?;
        let cursor = out.last_evaluated_key.as_ref().map(encode_cursor).transpose()?;
        Ok(QueryPage { items, cursor })
    }
}

type Names = HashMap<String, String>;
type Values = HashMap<String, AttributeValue>;

/// The key condition of a query: the partition key, and a sort-key prefix or bound.
fn key_condition(q: &Query) -> Result<(String, Names, Values), StoreError> {
    let (pk_attr, sk_attr) = match q.index {
        None => ("pk", "sk"),
        Some(i) => i.attrs(),
    };
    let mut expr = "#pk = :pk".to_string();
    let mut names = HashMap::from([("#pk".to_string(), pk_attr.to_string())]);
    let mut values = HashMap::from([(":pk".to_string(), AttributeValue::S(q.pk.clone()))]);
    // DynamoDB takes one condition on the sort key.
    if let Some((lo, hi)) = &q.sk_between {
        if q.sk_prefix.is_some() || q.sk_after.is_some() {
            return Err(StoreError::Invalid("sk_between with another sort-key condition".into()));
        }
        expr.push_str(" AND #sk BETWEEN :lo AND :hi");
        values.insert(":lo".into(), AttributeValue::S(lo.clone()));
        values.insert(":hi".into(), AttributeValue::S(hi.clone()));
        names.insert("#sk".into(), sk_attr.into());
        return Ok((expr, names, values));
    }
    match (&q.sk_prefix, &q.sk_after) {
        (Some(_), Some(_)) => return Err(StoreError::Invalid("sk_prefix with sk_after".into())),
        (Some(prefix), None) => {
            expr.push_str(" AND begins_with(#sk, :sk)");
            values.insert(":sk".into(), AttributeValue::S(prefix.clone()));
        }
        (None, Some(after)) => {
            expr.push_str(if q.descending { " AND #sk < :sk" } else { " AND #sk > :sk" });
            values.insert(":sk".into(), AttributeValue::S(after.clone()));
        }
        (None, None) => return Ok((expr, names, values)),
    }
    names.insert("#sk".into(), sk_attr.into());
    Ok((expr, names, values))
}

/// Index names as the template declares them.
pub fn index_name(i: store::Index) -> &'static str {
    match i {
        store::Index::Gsi1 => "gsi1",
        store::Index::Gsi2 => "gsi2",
        store::Index::Gsi3 => "gsi3",
    }
}

/// Create the table with the single-table schema (on-demand; `pk`/`sk`; sparse `gsi1`–`gsi3`,
/// all projecting every attribute). For emulators and tests: on AWS the SAM template declares
/// the same schema.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, StreamSpecification, StreamViewType,
    };
    let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid(e.to_string());
    let attr = |n: &str| {
        AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().map_err(invalid)
    };
    let key = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build().map_err(invalid);
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        // The outbox relay reads new items from the stream (the template's StreamSpecification).
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .map_err(invalid)?,
        );
    for i in [store::Index::Gsi1, store::Index::Gsi2, store::Index::Gsi3] {
        let (p, s) = i.attrs();
        req = req.attribute_definitions(attr(p)?).attribute_definitions(attr(s)?).global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index_name(i))
                .key_schema(key(p, KeyType::Hash)?)
                .key_schema(key(s, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(invalid)?,
        );
    }
    req.send().await.map_err(other)?;
    Ok(())
}

impl DynamoTable {
    /// The table named by `TABLE_NAME`, its client built on first use; under provisioned
    /// concurrency the connection is opened here, in pre-paid init ([`crate::WarmUp`]).
    pub async fn from_env(
        aws: &crate::Aws,
        env: &services::config::Env,
    ) -> Result<Self, services::config::ConfigError> {
        let name = env.require("TABLE_NAME")?;
        let conf = aws.sdk.clone();
        let table = DynamoTable::new(OnFirstUse::new(move || Client::new(&conf)), name);
        if crate::WarmUp::from_env(env) == crate::WarmUp::Wait {
            table.warm().await;
        }
        Ok(table)
    }
}
