use proptest::prelude::*;

use super::*;
use crate::format::{Manifest, ManifestPlacement, PartEntry, stored_len};

fn rewrite(xml: &str) -> Rewritten {
    rewrite_sizes(xml.as_bytes()).unwrap()
}

fn text(rewritten: &Rewritten) -> &str {
    std::str::from_utf8(&rewritten.xml).unwrap()
}

/// Bytes actually stored for a multipart object: every part stream plus the manifest.
fn multipart_stored(part_lens: &[u64], placement: ManifestPlacement) -> (u64, u32, u64) {
    let parts = part_lens
        .iter()
        .enumerate()
        .map(|(index, &plaintext_len)| PartEntry {
            part_number: index as u32 + 1,
            plaintext_len,
            crc64: 0,
        })
        .collect();
    let manifest = Manifest::new(parts, placement).unwrap();
    let streams: u64 = part_lens.iter().map(|&p| stored_len(p).unwrap()).sum();
    (
        streams + manifest.stored_len(),
        manifest.backend_part_count(),
        manifest.plaintext_len(),
    )
}

const V2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>a&amp;b.txt</Key><LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>145</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>big</Key><LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e-13"</ETag><Size>104885392</Size><Owner><ID>x</ID><DisplayName>Size</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>plain</Key><ETag>&#34;abc&#34;</ETag><Size>5</Size></Contents><CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes></ListBucketResult>"#;

#[test]
fn list_objects_v2_known_answers() {
    let got = rewrite(V2);
    assert_eq!((got.rewritten, got.foreign), (2, 1));
    let expected = V2
        .replace("<Size>145</Size>", "<Size>1</Size>")
        .replace("<Size>104885392</Size>", &format!("<Size>{}</Size>", 100u64 << 20));
    assert_eq!(text(&got), expected);
}

#[test]
fn list_object_versions_and_v1() {
    let versions = format!(
        "<ListVersionsResult><Version><Key>k</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest>\
         <ETag>&quot;e&quot;</ETag><Size>{}</Size></Version><DeleteMarker><Key>k</Key></DeleteMarker>\
         <Version><Key>k</Key><Size>128</Size><ETag>\"e\"</ETag></Version></ListVersionsResult>",
        stored_len(70_000).unwrap()
    );
    let got = rewrite(&versions);
    assert_eq!((got.rewritten, got.foreign), (2, 0));
    assert!(text(&got).contains("<Size>70000</Size>") && text(&got).contains("<Size>0</Size>"));
    let v1 = "<ListBucketResult><Marker></Marker><Contents><Key>k</Key><Size> 145\n</Size>\
              <ETag> &quot;x&quot; </ETag></Contents></ListBucketResult>";
    assert_eq!(text(&rewrite(v1)), v1.replace(" 145\n", " 1\n"));
}

#[test]
fn foreign_entries_keep_their_size() {
    let cases = [
        "<Contents><ETag>\"e\"</ETag><Size>140</Size></Contents>",
        "<Contents><ETag>\"e-3\"</ETag><Size>145</Size></Contents>",
        "<Contents><ETag>\"e-x\"</ETag><Size>1000</Size></Contents>",
        "<Contents><ETag>\"e-0\"</ETag><Size>1000</Size></Contents>",
        "<Contents><ETag>\"e-99999999999\"</ETag><Size>1000</Size></Contents>",
        "<Contents><ETag>&bogus;</ETag><Size>145</Size></Contents>",
        "<Contents><Size>145</Size></Contents>",
    ];
    for entry in cases {
        let xml = format!("<ListBucketResult>{entry}</ListBucketResult>");
        let got = rewrite(&xml);
        assert_eq!(
            (got.rewritten, got.foreign, text(&got)),
            (0, 1, xml.as_str()),
            "{entry}"
        );
    }
}

#[test]
fn only_entry_children_are_rewritten() {
    let xml = "<ListBucketResult><Size>145</Size><Contents><Owner><Size>145</Size></Owner>\
               <ETag>e</ETag><Size>145</Size></Contents><Contents/></ListBucketResult>";
    let got = rewrite(xml);
    assert_eq!(got.rewritten, 1);
    assert_eq!(
        text(&got),
        xml.replace("</Owner><ETag>e</ETag><Size>145", "</Owner><ETag>e</ETag><Size>1")
    );
}

#[test]
fn prefixes_comments_and_attributes_are_preserved() {
    let xml = "<?xml version=\"1.0\"?><!-- <Size>1</Size> --><s3:ListBucketResult xmlns:s3=\"urn:x\" a='>'>\
               <s3:Contents><s3:ETag>e</s3:ETag><s3:Size>145</s3:Size></s3:Contents></s3:ListBucketResult>";
    assert_eq!(text(&rewrite(xml)), xml.replace(">145<", ">1<"));
}

#[test]
fn refusals() {
    let too_large = vec![b' '; MAX_DOCUMENT_LEN + 1];
    assert_eq!(
        rewrite_sizes(&too_large),
        Err(ListingError::TooLarge(MAX_DOCUMENT_LEN + 1))
    );
    assert_eq!(
        rewrite_sizes(b"<Error><Code>x</Code></Error>"),
        Err(ListingError::UnexpectedRoot("Error".to_owned()))
    );
    let malformed = [
        "",
        "no markup",
        "<ListBucketResult>",
        "<ListBucketResult></ListVersionsResult>",
        "<ListBucketResult></ListBucketResult><ListBucketResult/>",
        "<!DOCTYPE x [<!ENTITY a 'b'>]><ListBucketResult/>",
        "<ListBucketResult><Contents><Size>1x</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Size>99999999999999999999</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Size><![CDATA[1]]></Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Size>1</Size><Size>2</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><ETag>a<b</ETag></Contents></ListBucketResult>",
        "<ListBucketResult><!-- open",
        "<ListBucketResult></>",
        "</ListBucketResult>",
    ];
    for xml in malformed {
        assert!(
            matches!(rewrite_sizes(xml.as_bytes()), Err(ListingError::Malformed { .. })),
            "{xml}"
        );
    }
    let deep = format!("<ListBucketResult>{}", "<a>".repeat(MAX_DEPTH));
    assert!(matches!(
        rewrite_sizes(deep.as_bytes()),
        Err(ListingError::Malformed { .. })
    ));
}

#[test]
fn layout_from_etag() {
    assert_eq!(layout_of(b"&quot;abc&quot;"), Layout::Single);
    assert_eq!(layout_of(b"&#x22;abc-2&#x22;"), Layout::Multipart(2));
    assert_eq!(layout_of(b"abc-10000"), Layout::Multipart(10_000));
    assert_eq!(layout_of(b"\"abc-\""), Layout::Unknown);
    assert_eq!(layout_of(b"&#xZZ;"), Layout::Unknown);
}

/// One generated listing entry: stored size, ETag, expected listed size.
#[derive(Debug, Clone)]
struct Generated {
    stored: u64,
    etag: String,
    plaintext: u64,
}

fn quote_style() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("&quot;"), Just("\""), Just("&#34;"), Just("&#x22;")]
}

fn single() -> impl Strategy<Value = Generated> {
    (0u64..(1 << 40), quote_style()).prop_map(|(p, q)| Generated {
        stored: stored_len(p).unwrap(),
        etag: format!("{q}0123abcd{q}"),
        plaintext: p,
    })
}

fn multipart() -> impl Strategy<Value = Generated> {
    let part = prop_oneof![0u64..200_000, (5u64 << 20)..(5u64 << 20) + 200_000];
    (proptest::collection::vec(part, 1..12), any::<bool>(), quote_style()).prop_map(|(parts, separate, q)| {
        let placement = if separate {
            ManifestPlacement::SeparatePart
        } else {
            ManifestPlacement::MergedWithLastPart
        };
        let (stored, backend_parts, plaintext) = multipart_stored(&parts, placement);
        Generated {
            stored,
            etag: format!("{q}feed-{backend_parts}{q}"),
            plaintext,
        }
    })
}

fn foreign() -> impl Strategy<Value = Generated> {
    (0u64..1_000_000).prop_map(|stored| Generated {
        stored,
        etag: "\"cafe\"".to_owned(),
        plaintext: plaintext_len(stored).unwrap_or(stored),
    })
}

fn document(entries: &[Generated], sizes: impl Fn(&Generated) -> u64, versions: bool) -> String {
    let (root, entry) = if versions {
        ("ListVersionsResult", "Version")
    } else {
        ("ListBucketResult", "Contents")
    };
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    );
    for (index, generated) in entries.iter().enumerate() {
        xml.push_str(&format!(
            "\n  <{entry}><Key>k{index}&lt;</Key><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></{entry}>",
            generated.etag,
            sizes(generated)
        ));
    }
    xml.push_str(&format!("\n</{root}>"));
    xml
}

proptest! {
    #[test]
    fn rewrite_inverts_sizes_and_keeps_every_other_byte(
        entries in proptest::collection::vec(prop_oneof![single(), multipart(), foreign()], 0..20),
        versions in any::<bool>(),
    ) {
        let stored = document(&entries, |g| g.stored, versions);
        let expected = document(&entries, |g| g.plaintext, versions);
        let got = rewrite_sizes(stored.as_bytes()).unwrap();
        prop_assert_eq!(std::str::from_utf8(&got.xml).unwrap(), expected.as_str());
        prop_assert_eq!(got.rewritten + got.foreign, entries.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = rewrite_sizes(&bytes);
    }
}
