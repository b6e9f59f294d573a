//! The upload sweeper against a real store (the embedded one): records of uploads the
//! upstream no longer knows are forgotten once stale; live uploads and young records stay.

use std::sync::Arc;

use http::Method;
use http_body_util::BodyExt;
use s3kms::crypto::Key256;
use s3kms::kms::store::{FileStore, KeyStore};
use s3kms::s3::multipart::records::{UploadRecord, Uploads};
use s3kms::s3::sse::{Envelope, Layout, SseAlgorithm};
use s3kms::upstream::embedded;
use s3kms::upstream::{Upstream, UpstreamRequest};

fn request(method: Method, key: Option<&str>, query: &[(&str, &str)]) -> UpstreamRequest {
    UpstreamRequest {
        method,
        bucket: Some("sweep".to_owned()),
        key: key.map(str::to_owned),
        query: query.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        headers: http::HeaderMap::new(),
        body: None,
    }
}

fn record(upload_id: &str, initiated: i64) -> UploadRecord {
    let envelope = Envelope {
        layout: Layout::Multipart,
        algorithm: SseAlgorithm::Aes256,
        key_arn: "arn:s3kms:sse-s3:::managed-key/v1".to_owned(),
        wrapped_key: Key256::generate().expose().to_vec(),
        client_context: None,
        bucket_key: false,
    };
    let mut record = UploadRecord::new(upload_id, "sweep", "object", &envelope);
    record.initiated = initiated;
    record
}

#[tokio::test]
async fn stale_records_of_unknown_uploads_are_forgotten() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let store = embedded::start(data_dir.path(), "us-east-1").await.expect("store");
    let upstream = Upstream::new(&store.upstream).expect("upstream");
    assert!(
        upstream
            .send(request(Method::PUT, None, &[]))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let created = upstream
        .send(request(Method::POST, Some("object"), &[("uploads", "")]))
        .await
        .unwrap();
    let document = created.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&document);
    let live = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|rest| rest.split("</UploadId>").next())
        .expect("an upload id")
        .to_owned();

    let keys = Arc::new(KeyStore::File(FileStore::open(&data_dir.path().join("kms")).unwrap()));
    let uploads = Uploads::new(keys);
    let now = 1_000_000;
    uploads.create(&live, &record(&live, 0)).await.unwrap();
    uploads.create("gone-old", &record("gone-old", 0)).await.unwrap();
    uploads
        .create("gone-young", &record("gone-young", now - 10))
        .await
        .unwrap();

    assert_eq!(uploads.sweep(&upstream, 3600, now).await.unwrap(), 1);
    let mut left: Vec<String> = uploads
        .uploads()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.upload_id)
        .collect();
    left.sort();
    let mut expected = vec![live.clone(), "gone-young".to_owned()];
    expected.sort();
    assert_eq!(left, expected);
    assert!(uploads.upload("gone-old", "sweep", "object").await.is_err());
    assert!(uploads.upload(&live, "sweep", "object").await.is_ok());
}
