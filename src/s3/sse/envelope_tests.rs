use http::StatusCode;
use proptest::prelude::*;

use super::*;

const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// A KMS ciphertext blob of a 32-byte data key: 61-byte header + 32 + 16-byte tag.
const BLOB_LEN: usize = 109;

fn typical() -> Envelope {
    Envelope {
        layout: Layout::Single,
        algorithm: SseAlgorithm::AwsKms,
        key_arn: ARN.to_owned(),
        wrapped_key: vec![0xA5; BLOB_LEN],
        client_context: None,
        bucket_key: false,
    }
}

fn map(envelope: &Envelope) -> HeaderMap {
    envelope.to_headers().into_iter().collect()
}

fn metadata(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

#[test]
fn typical_envelope_size() {
    assert_eq!(typical().metadata_len(), 260);
    let headers = typical().to_headers();
    let names: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, [VERSION, ALGORITHM, KEY_ARN, WRAPPED_KEY]);
    assert_eq!(headers[0].1, "1s");
    assert_eq!(headers[3].1.len(), 148);
    // Smallest (77-byte) and a large (120-byte) blob, bucket key on, a small client context.
    let full = Envelope {
        wrapped_key: vec![1; 120],
        client_context: Some(EncryptionContext::from([("project".to_owned(), "apollo".to_owned())])),
        bucket_key: true,
        ..typical()
    };
    // `{"project":"apollo"}` is 20 bytes of JSON, 28 of base64.
    assert_eq!(full.metadata_len(), 9 + 14 + 82 + 7 + 160 + 7 + 28 + 8);
    let small = Envelope {
        wrapped_key: vec![1; 77],
        ..typical()
    };
    assert_eq!(small.metadata_len(), 9 + 14 + 82 + 7 + 104);
}

#[test]
fn round_trip_and_absence() {
    let envelope = Envelope {
        layout: Layout::Multipart,
        client_context: Some(EncryptionContext::new()),
        bucket_key: true,
        ..typical()
    };
    assert_eq!(Envelope::from_headers(&map(&envelope)).unwrap(), Some(envelope));
    assert_eq!(
        Envelope::from_headers(&metadata(&[("x-amz-meta-a", "b")])).unwrap(),
        None
    );
}

#[test]
fn malformed_envelopes_are_errors() {
    let good = map(&typical());
    let cases: Vec<(&str, &str, EnvelopeError)> = vec![
        (VERSION, "2s", EnvelopeError::UnsupportedVersion("2s".to_owned())),
        (VERSION, "1", EnvelopeError::UnsupportedVersion("1".to_owned())),
        (ALGORITHM, "aws:kms:dsse", malformed(ALGORITHM, "unknown algorithm")),
        (KEY_ARN, "alias/x", malformed(KEY_ARN, "not an ARN")),
        (WRAPPED_KEY, "%%%", malformed(WRAPPED_KEY, "not base64")),
        (WRAPPED_KEY, "", malformed(WRAPPED_KEY, "length out of range")),
        (CLIENT_CONTEXT, "e30", malformed(CLIENT_CONTEXT, "not base64")),
        (
            CLIENT_CONTEXT,
            "WzFd",
            malformed(CLIENT_CONTEXT, "not a JSON map of strings"),
        ),
        // `{ }` decodes but is not what s3kms writes.
        (CLIENT_CONTEXT, "eyB9", malformed(CLIENT_CONTEXT, "not canonical JSON")),
        (BUCKET_KEY, "true", malformed(BUCKET_KEY, "not 1")),
        (
            "x-amz-meta-s3kms-z",
            "1",
            malformed("x-amz-meta-s3kms-z", "unknown reserved name"),
        ),
    ];
    for (name, value, expected) in cases {
        let mut headers = good.clone();
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        assert_eq!(Envelope::from_headers(&headers), Err(expected), "{name}: {value}");
    }
    let mut repeated = good.clone();
    repeated.append(KEY_ARN, HeaderValue::from_static(ARN));
    assert_eq!(Envelope::from_headers(&repeated), Err(malformed(KEY_ARN, "repeated")));
    let oversized = Envelope {
        wrapped_key: vec![0; MAX_WRAPPED_KEY_LEN + 1],
        ..typical()
    };
    assert_eq!(
        Envelope::from_headers(&map(&oversized)),
        Err(malformed(WRAPPED_KEY, "length out of range"))
    );
    for missing in [VERSION, ALGORITHM, KEY_ARN, WRAPPED_KEY] {
        let mut headers = good.clone();
        headers.remove(missing);
        assert_eq!(Envelope::from_headers(&headers), Err(EnvelopeError::Missing(missing)));
    }
}

#[test]
fn strip_and_refuse_reserved() {
    let mut headers = map(&typical());
    headers.insert("x-amz-meta-s3kms-future", HeaderValue::from_static("x"));
    headers.insert("x-amz-meta-s3kmsx", HeaderValue::from_static("kept"));
    headers.insert("content-length", HeaderValue::from_static("5"));
    assert!(refuse_reserved(&headers).is_err());
    strip_reserved(&mut headers);
    let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&"x-amz-meta-s3kmsx") && left.contains(&"content-length"));
    assert!(refuse_reserved(&headers).is_ok());

    let err = refuse_reserved(&metadata(&[("x-amz-meta-s3kms-w", "AAAA")])).unwrap_err();
    assert_eq!((err.code(), err.status()), ("InvalidArgument", StatusCode::BAD_REQUEST));
}

#[test]
fn budget_counts_names_without_prefix_and_values() {
    let mut client = metadata(&[("x-amz-meta-ab", "cde"), ("content-type", "text/plain")]);
    assert_eq!(client_metadata_len(&client), 5);
    // Values count in UTF-8 bytes ("é" is two).
    client.append("x-amz-meta-x", HeaderValue::from_bytes("é".as_bytes()).unwrap());
    assert_eq!(client_metadata_len(&client), 5 + 1 + 2);
    let envelope = typical();
    let room = METADATA_LIMIT - envelope.metadata_len();
    let exact = metadata(&[("x-amz-meta-k", &"v".repeat(room - 1))]);
    assert!(check_metadata_budget(&exact, &envelope).is_ok());
    let over = metadata(&[("x-amz-meta-k", &"v".repeat(room))]);
    let err = check_metadata_budget(&over, &envelope).unwrap_err();
    assert_eq!(
        (err.code(), err.status()),
        ("MetadataTooLarge", StatusCode::BAD_REQUEST)
    );
    assert_eq!(
        err.to_string(),
        "Your metadata headers exceed the maximum allowed metadata size"
    );
    assert!(matches!(
        err,
        S3Error::MetadataTooLarge {
            size: 2049,
            max_size_allowed: 2048
        }
    ));
    // Reserved names a client sent are refused elsewhere, not counted twice.
    let reserved = metadata(&[("x-amz-meta-s3kms-w", &"v".repeat(3000))]);
    assert!(check_metadata_budget(&reserved, &envelope).is_ok());
}

fn context_strategy() -> impl Strategy<Value = Option<EncryptionContext>> {
    proptest::option::of(proptest::collection::btree_map("[^\u{0}]{0,12}", ".{0,20}", 0..4))
}

proptest! {
    #[test]
    fn envelope_round_trips(
        multipart in any::<bool>(),
        kms in any::<bool>(),
        arn_tail in "[A-Za-z0-9:/_-]{1,80}",
        wrapped_key in proptest::collection::vec(any::<u8>(), 1..300),
        client_context in context_strategy(),
        bucket_key in any::<bool>(),
    ) {
        let envelope = Envelope {
            layout: if multipart { Layout::Multipart } else { Layout::Single },
            algorithm: if kms { SseAlgorithm::AwsKms } else { SseAlgorithm::Aes256 },
            key_arn: format!("arn:{arn_tail}"),
            wrapped_key,
            client_context,
            bucket_key,
        };
        let headers = map(&envelope);
        let counted: usize = headers.iter().map(|(n, v)| n.as_str().len() - "x-amz-meta-".len() + v.len()).sum();
        prop_assert_eq!(counted, envelope.metadata_len());
        prop_assert_eq!(client_metadata_len(&headers), 0);
        prop_assert_eq!(Envelope::from_headers(&headers).unwrap(), Some(envelope));
    }

    #[test]
    fn budget_is_the_sum_of_client_and_envelope(
        pairs in proptest::collection::btree_map("[a-z0-9-]{1,40}", "[ -~]{0,400}", 0..8),
        wrapped_len in 77usize..200,
    ) {
        let client: HeaderMap = pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_bytes(format!("x-amz-meta-{k}").as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect();
        let envelope = Envelope { wrapped_key: vec![7; wrapped_len], ..typical() };
        let expected = pairs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() + envelope.metadata_len();
        prop_assert_eq!(client_metadata_len(&client) + envelope.metadata_len(), expected);
        match check_metadata_budget(&client, &envelope) {
            Ok(()) => prop_assert!(expected <= METADATA_LIMIT),
            Err(S3Error::MetadataTooLarge { size, max_size_allowed }) => {
                prop_assert!(expected > METADATA_LIMIT);
                prop_assert_eq!((size, max_size_allowed), (expected, METADATA_LIMIT));
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
