//! Known-answer tests: the worked examples of the AWS S3 API reference ("Signature
//! Calculations for the Authorization Header", "Authenticating Requests: Using Query
//! Parameters", "Transferring Payload in Multiple Chunks"), driven end to end through the
//! parsers, the canonical request, the string to sign and the verifier.
//!
//! All use access key AKIAIOSFODNN7EXAMPLE, secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY,
//! 20130524T000000Z, us-east-1, s3.

use super::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Example<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    signed_headers: &'a str,
    canonical: &'a str,
    signature: &'a str,
}

/// Checks the canonical request text, then that the header built from the example
/// parses and verifies.
fn check(example: &Example<'_>) {
    let signed_headers = SignedHeaders::parse(example.signed_headers).unwrap();
    let content_sha256 = example
        .headers
        .iter()
        .find(|(name, _)| *name == "x-amz-content-sha256")
        .unwrap()
        .1;
    let payload = PayloadHash::parse(content_sha256).unwrap();
    let parts = RequestParts {
        method: example.method,
        raw_path: example.path,
        raw_query: example.query,
        headers: example.headers,
    };
    let canonical = canonical_request(&parts, &signed_headers, &payload, QueryMode::Header).unwrap();
    assert_eq!(canonical, example.canonical);

    let header = format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders={}, Signature={}",
        example.signed_headers, example.signature
    );
    let Ok(Authorization::V4(auth)) = Authorization::parse(&header) else {
        panic!("header did not parse")
    };
    let date = AmzDate::parse("20130524T000000Z").unwrap();
    assert!(auth.credential.scope.matches_date(date));
    let key = SigningKey::for_scope(&SecretKey::new(SECRET), &auth.credential.scope);
    let computed = key.sign(&string_to_sign(date, &auth.credential.scope, &canonical));
    assert_eq!(computed.to_string(), example.signature);
    assert!(computed.verify(&auth.signature));
}

#[test]
fn get_object() {
    check(&Example {
        method: "GET",
        path: "/test.txt",
        query: "",
        headers: &[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ],
        signed_headers: "host;range;x-amz-content-sha256;x-amz-date",
        canonical: "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    });
}

#[test]
fn put_object() {
    let body_sha256 = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    assert_eq!(PayloadHash::of_body(b"Welcome to Amazon S3.").to_string(), body_sha256);
    check(&Example {
        method: "PUT",
        path: "/test$file.text",
        query: "",
        headers: &[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", body_sha256),
        ],
        signed_headers: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        canonical: "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\nx-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\ndate;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    });
}

#[test]
fn get_bucket_lifecycle() {
    check(&Example {
        method: "GET",
        path: "/",
        query: "lifecycle",
        headers: &[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY_SHA256),
        ],
        signed_headers: "host;x-amz-content-sha256;x-amz-date",
        canonical: "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    });
}

#[test]
fn list_objects() {
    check(&Example {
        method: "GET",
        path: "/",
        query: "max-keys=2&prefix=J",
        headers: &[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY_SHA256),
        ],
        signed_headers: "host;x-amz-content-sha256;x-amz-date",
        canonical: "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    });
}

/// The seed signature of the multiple-chunks example (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`).
#[test]
fn put_object_multiple_chunks_seed() {
    check(&Example {
        method: "PUT",
        path: "/examplebucket/chunkObject.txt",
        query: "",
        headers: &[
            ("Host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
        ],
        signed_headers: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
        canonical: "PUT\n/examplebucket/chunkObject.txt\n\ncontent-encoding:aws-chunked\ncontent-length:66824\nhost:s3.amazonaws.com\nx-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD\nx-amz-date:20130524T000000Z\nx-amz-decoded-content-length:66560\nx-amz-storage-class:REDUCED_REDUNDANCY\n\ncontent-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class\nSTREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    });
}

#[test]
fn presigned_get_object() {
    let raw_query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    let presigned = PresignedV4::parse(&decode_query(raw_query)).unwrap().unwrap();
    let parts = RequestParts {
        method: "GET",
        raw_path: "/test.txt",
        raw_query,
        headers: &[("Host", "examplebucket.s3.amazonaws.com")],
    };
    let canonical = canonical_request(
        &parts,
        &presigned.signed_headers,
        &PayloadHash::Unsigned,
        QueryMode::Presigned,
    )
    .unwrap();
    assert_eq!(
        canonical,
        "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
    );
    let scope = &presigned.credential.scope;
    let sts = string_to_sign(presigned.amz_date, scope, &canonical);
    assert_eq!(
        sts.rsplit('\n').next(),
        Some("3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04")
    );
    let computed = SigningKey::for_scope(&SecretKey::new(SECRET), scope).sign(&sts);
    assert!(computed.verify(&presigned.signature));
}
