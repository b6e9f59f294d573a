//! Reading the small XML documents S3 clients send (L0, pure).
//!
//! Owns: turning a document into its root element's name and the ordered list of its leaf
//! elements as `(path, text)` pairs, where the path is the element names below the root joined
//! with `/` (`Rule/ApplyServerSideEncryptionByDefault/SSEAlgorithm`). Namespaces are ignored,
//! entities and CDATA are decoded, comments and processing instructions skipped; a leaf's text
//! is kept exactly, whitespace included (an S3 key may begin or end with spaces). That is all
//! the S3 request bodies need (encryption configuration, tagging, CompleteMultipartUpload,
//! DeleteObjects), without a schema binding per document.
//!
//! Limits: documents are refused beyond [`MAX_DEPTH`] levels or [`MAX_LEAVES`] leaves, so a
//! hostile body cannot make the parser work without bound.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// Most leaf elements accepted (a DeleteObjects of 1,000 keys with versions has ~3,000).
pub const MAX_LEAVES: usize = 20_000;

/// A parsed document: the root element's local name and its leaves in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The root element's local name.
    pub root: String,
    /// `(path below the root, text)` of every element that has no child elements.
    pub leaves: Vec<(String, String)>,
    /// The path of every element below the root, leaf or not, in document order.
    pub elements: Vec<String>,
}

/// The document is not well-formed, or exceeds the limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(String);

impl Document {
    /// Parses a document.
    pub fn parse(bytes: &[u8]) -> Result<Document, XmlError> {
        let mut reader = Reader::from_reader(bytes);
        let mut parser = Parser::default();
        loop {
            match reader.read_event().map_err(|e| XmlError(e.to_string()))? {
                Event::Start(element) => {
                    parser.open(String::from_utf8_lossy(element.local_name().as_ref()).into_owned())?
                }
                Event::Empty(element) => {
                    parser.open(String::from_utf8_lossy(element.local_name().as_ref()).into_owned())?;
                    parser.close()?;
                }
                Event::Text(content) => {
                    let decoded = content.decode().map_err(|e| XmlError(e.to_string()))?;
                    let unescaped = quick_xml::escape::unescape(&decoded).map_err(|e| XmlError(e.to_string()))?;
                    parser.text.push_str(&unescaped);
                }
                Event::CData(content) => parser.text.push_str(&String::from_utf8_lossy(&content)),
                Event::GeneralRef(reference) => {
                    let name = reference.decode().map_err(|e| XmlError(e.to_string()))?;
                    let entity = format!("&{name};");
                    let unescaped = quick_xml::escape::unescape(&entity).map_err(|e| XmlError(e.to_string()))?;
                    parser.text.push_str(&unescaped);
                }
                Event::End(_) => parser.close()?,
                Event::Eof => break,
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        if !parser.open_elements.is_empty() {
            return Err(XmlError("the document ends inside an element".into()));
        }
        let root = parser.root.ok_or_else(|| XmlError("no root element".into()))?;
        Ok(Document {
            root,
            leaves: parser.leaves,
            elements: parser.elements,
        })
    }

    /// The texts of every leaf at `path`, in order.
    pub fn all(&self, path: &str) -> Vec<&str> {
        self.leaves
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, text)| text.as_str())
            .collect()
    }

    /// The text of the single leaf at `path`, if exactly one exists.
    pub fn one(&self, path: &str) -> Option<&str> {
        match self.all(path)[..] {
            [text] => Some(text),
            _ => None,
        }
    }

    /// How many elements (leaf or not) the document has at `path`.
    pub fn count(&self, path: &str) -> usize {
        self.elements.iter().filter(|p| *p == path).count()
    }
}

/// The parser's state: the open elements (root first), the text of the innermost one.
#[derive(Default)]
struct Parser {
    root: Option<String>,
    open_elements: Vec<(String, bool)>,
    text: String,
    leaves: Vec<(String, String)>,
    elements: Vec<String>,
}

impl Parser {
    fn open(&mut self, name: String) -> Result<(), XmlError> {
        if name.contains('/') {
            return Err(XmlError(format!("{name:?} is not an element name")));
        }
        if let Some((_, has_children)) = self.open_elements.last_mut() {
            *has_children = true;
        } else if self.root.is_some() {
            return Err(XmlError("more than one root element".into()));
        }
        if self.root.is_none() {
            self.root = Some(name.clone());
        }
        self.open_elements.push((name, false));
        if self.open_elements.len() > MAX_DEPTH {
            return Err(XmlError(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        if self.open_elements.len() > 1 {
            if self.elements.len() >= MAX_LEAVES {
                return Err(XmlError(format!("more than {MAX_LEAVES} elements")));
            }
            self.elements.push(self.path());
        }
        self.text.clear();
        Ok(())
    }

    fn close(&mut self) -> Result<(), XmlError> {
        if self.open_elements.len() > 1 && !self.open_elements.last().is_some_and(|(_, children)| *children) {
            let path = self.path();
            push_leaf(&mut self.leaves, path, std::mem::take(&mut self.text))?;
        }
        self.open_elements
            .pop()
            .ok_or_else(|| XmlError("closing tag without an open element".into()))?;
        self.text.clear();
        Ok(())
    }

    /// The path of the innermost open element below the root.
    fn path(&self) -> String {
        let names: Vec<&str> = self
            .open_elements
            .iter()
            .skip(1)
            .map(|(name, _)| name.as_str())
            .collect();
        names.join("/")
    }
}

fn push_leaf(leaves: &mut Vec<(String, String)>, path: String, text: String) -> Result<(), XmlError> {
    if leaves.len() >= MAX_LEAVES {
        return Err(XmlError(format!("more than {MAX_LEAVES} elements")));
    }
    leaves.push((path, text));
    Ok(())
}

/// `text` with XML's five special characters escaped.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// Appends `text` with XML's five special characters escaped.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIGURATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Rule>
    <ApplyServerSideEncryptionByDefault>
      <SSEAlgorithm>aws:kms</SSEAlgorithm>
      <KMSMasterKeyID>alias/a&amp;b</KMSMasterKeyID>
    </ApplyServerSideEncryptionByDefault>
    <BucketKeyEnabled>true</BucketKeyEnabled>
  </Rule>
</ServerSideEncryptionConfiguration>"#;

    #[test]
    fn leaves_have_paths_below_the_root() {
        let document = Document::parse(CONFIGURATION.as_bytes()).unwrap();
        assert_eq!(document.root, "ServerSideEncryptionConfiguration");
        assert_eq!(
            document.one("Rule/ApplyServerSideEncryptionByDefault/SSEAlgorithm"),
            Some("aws:kms")
        );
        assert_eq!(
            document.one("Rule/ApplyServerSideEncryptionByDefault/KMSMasterKeyID"),
            Some("alias/a&b")
        );
        assert_eq!(document.one("Rule/BucketKeyEnabled"), Some("true"));
        assert_eq!(document.count("Rule"), 1);
    }

    #[test]
    fn repeated_elements_keep_their_order() {
        let xml = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"b\"</ETag></Part></CompleteMultipartUpload>";
        let document = Document::parse(xml).unwrap();
        assert_eq!(document.all("Part/PartNumber"), ["1", "2"]);
        assert_eq!(document.all("Part/ETag"), ["\"a\"", "\"b\""]);
        assert_eq!(document.count("Part"), 2);
        let two_rules = Document::parse(b"<C><Rule><A>1</A></Rule><Rule><A>2</A></Rule></C>").unwrap();
        assert_eq!(two_rules.count("Rule"), 2);
    }

    #[test]
    fn malformed_and_hostile_documents_are_refused() {
        assert!(Document::parse(b"<a><b></a>").is_err());
        assert!(Document::parse(b"").is_err());
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(Document::parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn text_beside_references_keeps_its_whitespace() {
        // Found by fuzzing: every text piece between two references was trimmed on its own, so
        // the key `a & b` of a DeleteObjects document was read as `a&b`.
        let document =
            Document::parse(b"<Delete><Object><Key>a &amp; b</Key></Object><Object><Key> c </Key></Object></Delete>")
                .unwrap();
        assert_eq!(document.all("Object/Key"), ["a & b", " c "]);
    }

    #[test]
    fn element_names_with_a_slash_are_refused() {
        // Found by fuzzing: `<Object/Key>` right below the root had the path of `Key` in `Object`.
        assert!(Document::parse(b"<Delete><Object></Object><Object/Key>k</Object/Key></Delete>").is_err());
        assert!(Document::parse(b"<Delete><Object/Key/></Delete>").is_err());
    }

    #[test]
    fn cdata_and_empty_elements() {
        let document = Document::parse(b"<T><K><![CDATA[x<y]]></K><E/></T>").unwrap();
        assert_eq!(document.one("K"), Some("x<y"));
        assert_eq!(document.one("E"), Some(""));
    }
}
