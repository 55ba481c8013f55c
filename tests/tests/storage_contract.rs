//! Object storage and queue contracts, the same checks on the embedded adapters and on S3/SQS
//! (moto). moto does not verify S3 signatures or POST policies (FACTS.md), so the upload here
//! proves the form is accepted and stored, not that S3 would refuse a bad one: the policy
//! document and its signature are tested in `aws_adapters::s3`, and what protects us on any
//! backend is the check after upload (the upload function: `services::uploads`).

// Test support: a failed unwrap is a failed test, with the value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::{On, spawn_app_on};
use services::ports::{ObjectVersion, Queue, QueueMessage, UploadPolicy};
use std::collections::BTreeMap;

async fn objects_round_trip(on: On) {
    let app = spawn_app_on(on).await;
    let objects = app.running.deps.objects.clone();
    let policy = UploadPolicy { content_type: "image/jpeg", min_bytes: 10, max_bytes: 1 << 20, expires_in_secs: 600 };
    let cid = shared::random::id();
    let key = format!("uploads/{cid}/contract.jpg");
    assert_eq!(objects.head(&key).await.unwrap(), None, "absent before upload");
    let ticket = objects.upload_url(&key, &policy, e2e::NOW).await.unwrap();
    let ticket = serde_json::to_value(&ticket).unwrap();
    let jpeg = shared::photo::synthetic_jpeg(400, 600, 50_000);
    let status = local_server::upload::upload(&ticket, "image/jpeg", jpeg.clone()).await.unwrap();
    assert!((200..300).contains(&status), "{on:?}: upload answered {status}");
    let meta = objects.head(&key).await.unwrap().expect("present after upload");
    assert_eq!((meta.bytes, meta.content_type.as_deref()), (jpeg.len() as u64, Some("image/jpeg")));
    assert_eq!(objects.read_prefix(&key, 4).await.unwrap(), jpeg[..4]);
    // The download URL serves the same bytes.
    let url = objects.download_url(&key, 300, e2e::NOW).await.unwrap();
    let (status, _) = app.raw("GET", &url, &[], vec![]).await;
    assert_eq!(status, 200, "{on:?}: {url}");
    // The upload function reads the version an arrival names, pins with put, and deletes.
    let any = ObjectVersion::default();
    assert_eq!(objects.read_version(&key, &any, 1 << 20).await.unwrap().as_deref(), Some(jpeg.as_slice()));
    assert_eq!(objects.read_version(&key, &any, 4).await.unwrap().as_deref(), Some(&jpeg[..4]), "bounded read");
    if on == On::Moto {
        // A notice names the object by ETag: a replaced object (another ETag) reads as gone.
        let stale = ObjectVersion { version_id: None, etag: Some("0123456789abcdef0123456789abcdef".into()) };
        assert_eq!(objects.read_version(&key, &stale, 10).await.unwrap(), None, "If-Match on a replaced object");
    }
    let pinned = format!("photos/{cid}/pinned.jpg");
    objects.put(&pinned, jpeg.clone(), "image/jpeg").await.unwrap();
    assert_eq!(objects.read_prefix(&pinned, 1 << 20).await.unwrap(), jpeg);
    objects.delete(&key, &any).await.unwrap();
    assert_eq!(objects.read_version(&key, &any, 10).await.unwrap(), None, "gone once deleted");
    objects.delete(&key, &any).await.unwrap();
}

#[tokio::test]
async fn objects_on_local_disk() {
    objects_round_trip(On::Sqlite).await;
}

#[tokio::test]
async fn objects_on_s3() {
    objects_round_trip(On::Moto).await;
}

#[tokio::test]
async fn s3_tickets_are_signed_post_forms_bound_to_their_key() {
    let app = spawn_app_on(On::Moto).await;
    let policy = UploadPolicy { content_type: "image/jpeg", min_bytes: 10, max_bytes: 100, expires_in_secs: 600 };
    let t = app.running.deps.objects.upload_url("photos/x/1.jpg", &policy, e2e::NOW).await.unwrap();
    assert_eq!(t.method, "POST");
    for f in ["key", "policy", "x-amz-signature", "x-amz-credential", "x-amz-date", "x-amz-algorithm", "Content-Type"] {
        assert!(t.fields.contains_key(f), "missing form field {f}");
    }
    assert_eq!(t.fields["key"], "photos/x/1.jpg");
    assert!(t.url.starts_with(&e2e::aws::moto_endpoint()), "path-style bucket URL on the emulator: {}", t.url);
}

fn messages() -> Vec<QueueMessage> {
    (0..3)
        .map(|i| QueueMessage {
            body: format!("{{\"reminder\":{i}}}"),
            delay_secs: 0,
            attributes: BTreeMap::from([("kind".to_string(), "submitted".to_string())]),
        })
        .collect()
}

#[tokio::test]
async fn queue_on_local_memory() {
    let q = embedded::local::LocalQueue::default();
    q.send(messages()).await.unwrap();
    let got = q.drain();
    assert_eq!(got, messages());
    let too_many = (0..11).flat_map(|_| messages().into_iter().take(1)).collect();
    assert!(q.send(too_many).await.is_err(), "batches hold at most 10");
}

#[tokio::test]
async fn queue_on_sqs() {
    let settings = e2e::aws::provision().await;
    let client = e2e::aws::sqs_client().await;
    let q = aws_adapters::sqs::SqsQueue::new(client.clone(), settings.queue_url.clone());
    q.send(messages()).await.unwrap();
    let too_many = (0..11).flat_map(|_| messages().into_iter().take(1)).collect();
    assert!(q.send(too_many).await.is_err(), "batches hold at most 10");
    let mut delayed = messages().remove(0);
    delayed.body = "later".into();
    delayed.delay_secs = 2;
    q.send(vec![delayed]).await.unwrap();
    let receive = || async {
        client
            .receive_message()
            .queue_url(&settings.queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
    };
    let got = receive().await;
    let mut bodies: Vec<String> = got.iter().map(|m| m.body.clone().unwrap()).collect();
    bodies.sort();
    assert_eq!(
        bodies,
        vec!["{\"reminder\":0}", "{\"reminder\":1}", "{\"reminder\":2}"],
        "the delayed one is not visible yet"
    );
    for m in &got {
        let kind = m.message_attributes.as_ref().unwrap()["kind"].string_value.clone();
        assert_eq!(kind.as_deref(), Some("submitted"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let later = receive().await;
    assert!(later.iter().any(|m| m.body.as_deref() == Some("later")), "{later:?}");
}
