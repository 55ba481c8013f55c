//! The table port's contract, the same checks on both adapters: SQLite (file-backed, as the
//! local server runs it) and DynamoDB on moto.

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use embedded::sqlite::SqliteTable;

macro_rules! contract {
    ($($name:ident),*) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let t = SqliteTable::open(&dir.path().join("t.sqlite")).unwrap();
                    store::contract::$name(&t, "ns").await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    let settings = e2e::aws::provision().await;
                    let t = aws_adapters::dynamo::DynamoTable::new(e2e::aws::dynamo_client().await, settings.table);
                    store::contract::$name(&t, "ns").await;
                }
            )*
        }
    };
}

contract!(
    conditional_put,
    versioned_update,
    conditional_delete,
    transaction_all_or_nothing,
    get_many_keeps_order,
    query_pages_in_order,
    index_is_sparse_and_pages
);

#[tokio::test]
async fn a_corrupt_item_is_reported_with_its_key() {
    use store::{Key, StoreError, Table};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    drop(SqliteTable::open(&path).unwrap()); // creates the schema
    // Damage a row behind the adapter's back, as a bad migration or disk fault would.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("INSERT INTO items (pk, sk, body) VALUES ('CAND#x', 'PROFILE', '{not json')", []).unwrap();
    drop(conn);
    let t = SqliteTable::open(&path).unwrap();
    match t.get(&Key::new("CAND#x", "PROFILE")).await {
        Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, Key::new("CAND#x", "PROFILE")),
        other => panic!("{other:?}"),
    }
}
