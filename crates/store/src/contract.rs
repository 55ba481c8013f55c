//! The table port's contract, written once and run against every backend: the SQLite table
//! and the DynamoDB adapter (on moto) pass the same functions (feature `contract`).

use crate::table::{Cond, Index, Item, Key, Query, StoreError, Table, Write};
use serde_json::json;

fn item(pk: &str, sk: &str, ver: u64, extra: &[(&str, &str)]) -> Item {
    let mut i = Item::new();
    i.insert("pk".into(), json!(pk));
    i.insert("sk".into(), json!(sk));
    i.insert("ver".into(), json!(ver));
    for (k, v) in extra {
        i.insert((*k).into(), json!(v));
    }
    i
}

fn ver(i: &Option<Item>) -> Option<u64> {
    i.as_ref().and_then(|i| i["ver"].as_u64())
}

/// A put that requires absence fails on a present item, reports it, and changes nothing.
pub async fn conditional_put(t: &dyn Table, ns: &str) {
    let k = Key::new(format!("{ns}#A"), "X");
    t.put(item(&k.pk, &k.sk, 1, &[("v", "first")]), Cond::NotExists).await.unwrap();
    match t.put(item(&k.pk, &k.sk, 1, &[("v", "second")]), Cond::NotExists).await {
        Err(StoreError::Conflict { at: 0, current }) => {
            let c = current.expect("the conflict carries the stored item");
            assert_eq!(c["v"], "first");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(t.get(&k).await.unwrap().unwrap()["v"], "first");
}

/// Version conditions: exactly one of two writers reading the same version wins.
pub async fn versioned_update(t: &dyn Table, ns: &str) {
    let k = Key::new(format!("{ns}#B"), "X");
    t.put(item(&k.pk, &k.sk, 1, &[]), Cond::NotExists).await.unwrap();
    t.put(item(&k.pk, &k.sk, 2, &[("by", "one")]), Cond::Version(1)).await.unwrap();
    let loser = t.put(item(&k.pk, &k.sk, 2, &[("by", "two")]), Cond::Version(1)).await;
    assert!(matches!(loser, Err(StoreError::Conflict { .. })), "{loser:?}");
    let now = t.get(&k).await.unwrap();
    assert_eq!((ver(&now), now.unwrap()["by"].as_str()), (Some(2), Some("one")));
    assert!(matches!(t.put(item(&k.pk, "absent", 1, &[]), Cond::Exists).await, Err(StoreError::Conflict { .. })));
}

pub async fn conditional_delete(t: &dyn Table, ns: &str) {
    let k = Key::new(format!("{ns}#C"), "X");
    assert!(matches!(t.delete(&k, Cond::Exists).await, Err(StoreError::Conflict { .. })));
    t.put(item(&k.pk, &k.sk, 3, &[]), Cond::NotExists).await.unwrap();
    assert!(matches!(t.delete(&k, Cond::Version(2)).await, Err(StoreError::Conflict { .. })));
    assert!(t.get(&k).await.unwrap().is_some());
    t.delete(&k, Cond::Version(3)).await.unwrap();
    assert!(t.get(&k).await.unwrap().is_none());
}

/// All or nothing: when the second write's condition fails, the first is not applied either,
/// and the error names the failing write.
pub async fn transaction_all_or_nothing(t: &dyn Table, ns: &str) {
    let taken = Key::new(format!("{ns}#D"), "taken");
    t.put(item(&taken.pk, &taken.sk, 1, &[]), Cond::NotExists).await.unwrap();
    let fresh = Key::new(format!("{ns}#D"), "fresh");
    let check = Key::new(format!("{ns}#D"), "check");
    let r = t
        .transact(vec![
            Write::Put { item: item(&fresh.pk, &fresh.sk, 1, &[]), cond: Cond::NotExists },
            Write::Put { item: item(&taken.pk, &taken.sk, 1, &[]), cond: Cond::NotExists },
            Write::Check { key: check.clone(), cond: Cond::NotExists },
        ])
        .await;
    match &r {
        Err(StoreError::Conflict { at: 1, current: Some(c) }) => assert_eq!(c["sk"], "taken", "the failing item"),
        other => panic!("expected a conflict at write 1 with the stored item, got {other:?}"),
    }
    assert!(t.get(&fresh).await.unwrap().is_none(), "nothing of a cancelled transaction is written");
    // A Check on another item gates the transaction too.
    t.put(item(&check.pk, &check.sk, 1, &[]), Cond::NotExists).await.unwrap();
    let r = t
        .transact(vec![
            Write::Put { item: item(&fresh.pk, &fresh.sk, 1, &[]), cond: Cond::NotExists },
            Write::Check { key: check.clone(), cond: Cond::NotExists },
        ])
        .await;
    assert!(matches!(r, Err(StoreError::Conflict { at: 1, .. })), "{r:?}");
    t.transact(vec![
        Write::Put { item: item(&fresh.pk, &fresh.sk, 1, &[]), cond: Cond::NotExists },
        Write::Delete { key: taken.clone(), cond: Cond::Version(1) },
        Write::Check { key: check, cond: Cond::Exists },
    ])
    .await
    .unwrap();
    assert!(t.get(&fresh).await.unwrap().is_some() && t.get(&taken).await.unwrap().is_none());
    let dup = t
        .transact(vec![
            Write::Put { item: item(&fresh.pk, &fresh.sk, 2, &[]), cond: Cond::Always },
            Write::Delete { key: fresh.clone(), cond: Cond::Always },
        ])
        .await;
    assert!(matches!(dup, Err(StoreError::Invalid(_))), "two writes to one key: {dup:?}");
}

pub async fn get_many_keeps_order(t: &dyn Table, ns: &str) {
    let a = Key::new(format!("{ns}#E"), "a");
    let b = Key::new(format!("{ns}#E"), "b");
    t.put(item(&a.pk, &a.sk, 1, &[]), Cond::Always).await.unwrap();
    t.put(item(&b.pk, &b.sk, 2, &[]), Cond::Always).await.unwrap();
    let got = t.get_many(&[b.clone(), Key::new("nope", "nope"), a.clone()]).await.unwrap();
    assert_eq!(got.iter().map(ver).collect::<Vec<_>>(), vec![Some(2), None, Some(1)]);
}

async fn all_pages(t: &dyn Table, mut q: Query) -> Vec<String> {
    let mut out = vec![];
    let mut pages = 0;
    loop {
        let page = t.query(&q).await.unwrap();
        pages += 1;
        out.extend(page.items.iter().map(|i| i["sk"].as_str().unwrap().to_string()));
        match page.cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
        assert!(pages < 100, "pagination does not end");
    }
    out
}

/// Sort-key prefix, both directions, pages of 2 across 5 items: every item once, in order.
pub async fn query_pages_in_order(t: &dyn Table, ns: &str) {
    let pk = format!("{ns}#F");
    for sk in ["APP#1", "APP#2", "APP#3", "APP#4", "APP#5", "OTHER"] {
        t.put(item(&pk, sk, 1, &[]), Cond::Always).await.unwrap();
    }
    let q = Query { sk_prefix: Some("APP#".into()), ..Query::of(None, pk.clone(), 2) };
    assert_eq!(all_pages(t, q.clone()).await, vec!["APP#1", "APP#2", "APP#3", "APP#4", "APP#5"]);
    let desc = Query { descending: true, ..q };
    assert_eq!(all_pages(t, desc).await, vec!["APP#5", "APP#4", "APP#3", "APP#2", "APP#1"]);
}

/// Index queries page across equal sort keys without loss; membership is sparse.
pub async fn index_is_sparse_and_pages(t: &dyn Table, ns: &str) {
    let ipk = format!("{ns}#QUEUE");
    for i in 0..5 {
        let sk = format!("item{i}");
        // Items 0–3 share one index sort key: page boundaries must not lose or repeat any.
        let isk = if i < 4 { "2024-12-01" } else { "2024-12-02" };
        t.put(item(&format!("{ns}#G{i}"), &sk, 1, &[("gsi2pk", &ipk), ("gsi2sk", isk)]), Cond::Always).await.unwrap();
    }
    t.put(item(&format!("{ns}#G9"), "item9", 1, &[("gsi2pk", &ipk)]), Cond::Always).await.unwrap();
    let q = Query::of(Some(Index::Gsi2), ipk.clone(), 2);
    let mut got = all_pages(t, q.clone()).await;
    assert_eq!(got.pop().as_deref(), Some("item4"), "later sort key last");
    got.sort();
    assert_eq!(got, vec!["item0", "item1", "item2", "item3"], "item9 lacks gsi2sk: not in the index");
    // Leaving the index: rewrite without the attributes.
    t.put(item(&format!("{ns}#G4"), "item4", 2, &[]), Cond::Version(1)).await.unwrap();
    let q = Query { sk_prefix: Some("2024-12-02".into()), ..q };
    assert!(all_pages(t, q).await.is_empty());
}

/// A position the caller states (`sk_after`) pages exclusively in both directions, and
/// `count_items` counts the same range, stopping at its cap.
pub async fn sk_after_bounds_and_counts(t: &dyn Table, ns: &str) {
    let ipk = format!("{ns}#WORK");
    for i in 1..=5 {
        let isk = format!("00{i}#c{i}");
        t.put(item(&format!("{ns}#W{i}"), "APP", 1, &[("gsi2pk", &ipk), ("gsi2sk", &isk)]), Cond::Always)
            .await
            .unwrap();
    }
    let q = Query { sk_after: Some("002#c2".into()), ..Query::of(Some(Index::Gsi2), ipk.clone(), 10) };
    assert_eq!(all_pages(t, q.clone()).await, vec!["APP", "APP", "APP"], "003, 004, 005");
    let page = t.query(&Query { limit: 1, ..q.clone() }).await.unwrap();
    assert_eq!(page.items[0]["gsi2sk"], "003#c3", "exclusive, ascending");
    let desc = t.query(&Query { descending: true, limit: 1, ..q.clone() }).await.unwrap();
    assert_eq!(desc.items[0]["gsi2sk"], "001#c1", "descending: before the position");
    assert_eq!(t.count_items(&q, 100).await.unwrap(), 3);
    assert_eq!(t.count_items(&Query::of(Some(Index::Gsi2), ipk.clone(), 1), 100).await.unwrap(), 5);
    assert_eq!(t.count_items(&Query::of(Some(Index::Gsi2), ipk, 1), 4).await.unwrap(), 4, "capped");
    let none = Query::of(Some(Index::Gsi2), format!("{ns}#EMPTY"), 1);
    assert_eq!(t.count_items(&none, 100).await.unwrap(), 0);
}

/// A bounded counter counts to its limit and no further, keys apart; concurrent callers take
/// exactly `limit` units between them.
pub async fn counter_is_bounded_and_atomic(t: &dyn Table, ns: &str) {
    let k = Key::new(format!("{ns}#COUNT"), "W#1");
    assert_eq!(t.count(&k, 2, 1_900_000_000).await.unwrap(), Some(1));
    assert_eq!(t.count(&k, 2, 1_900_000_000).await.unwrap(), Some(2));
    assert_eq!(t.count(&k, 2, 1_900_000_000).await.unwrap(), None, "at the limit");
    let stored = t.get(&k).await.unwrap().expect("the counter is an item");
    assert_eq!((stored["n"].as_u64(), stored["ttl"].as_i64()), (Some(2), Some(1_900_000_000)));
    let other = Key::new(format!("{ns}#COUNT"), "W#2");
    assert_eq!(t.count(&other, 2, 1_900_000_000).await.unwrap(), Some(1), "another window starts afresh");

    let k = Key::new(format!("{ns}#COUNT"), "W#race");
    let tries = (0..12).map(|_| t.count(&k, 5, 1_900_000_000));
    let got = futures_join_all(tries).await;
    let granted: Vec<u64> = got.iter().filter_map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(granted.len(), 5, "exactly the limit is granted: {got:?}");
    let mut sorted = granted.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3, 4, 5], "each unit once");
}

/// Await every future, concurrently, in order (no extra dependency for one helper).
async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut fs: Vec<_> = fs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..fs.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in fs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Run every contract check; `ns` keeps runs apart on a shared table.
pub async fn run_all(t: &dyn Table, ns: &str) {
    counter_is_bounded_and_atomic(t, ns).await;
    conditional_put(t, ns).await;
    versioned_update(t, ns).await;
    conditional_delete(t, ns).await;
    transaction_all_or_nothing(t, ns).await;
    get_many_keeps_order(t, ns).await;
    query_pages_in_order(t, ns).await;
    index_is_sparse_and_pages(t, ns).await;
    sk_after_bounds_and_counts(t, ns).await;
}
