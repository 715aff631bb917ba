//! Multi-document YAML (a stream of documents separated by `---`), as sops
//! reads and writes it: each document is a tree of its own and, encrypted,
//! carries the same `sops` metadata; the MAC covers the values of every
//! document in order, and a value's additional data is its path inside its
//! document. ksec holds a stream as a list of the documents' trees, which
//! sops's walks treat the same way (a list item has its parent's path).

use super::tree::Value;
use super::yaml::{self, YamlError};

/// Whether `line` (without its line break) is a document start marker.
fn is_marker(line: &str) -> bool {
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t")
}

/// A line that holds no content: blank, a comment or a directive.
fn is_empty_line(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t.starts_with('%')
}

/// The documents of a YAML text, each with the number of the line it
/// starts on. What comes before a first `---` is no document when it holds
/// no content; an empty document after a `---` is one (sops keeps it).
/// Stops after one more than [`MAX_DOCUMENTS`], so a stream of millions
/// of documents costs no memory before it is refused.
pub fn split(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_marker(bare) {
            if docs.len() > MAX_DOCUMENTS + 1 {
                return docs;
            }
            docs.push((start_line, &text[start..offset]));
            if bare.len() > 4 {
                // content after `--- ` on the marker line belongs to the document
                start = offset + 4;
                start_line = n + 1;
            } else {
                start = offset + line.len();
                start_line = n + 2;
            }
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start..]));
    if docs.len() > 1 && docs[0].1.lines().all(is_empty_line) {
        docs.remove(0);
    }
    docs
}

/// Whether a YAML text is a stream of several documents.
pub fn is_stream(text: &str) -> bool {
    // cheap test first: no marker line, one document
    (text.starts_with("---") || text.contains("\n---")) && split(text).len() > 1
}

/// The most documents a YAML stream may hold (serde-saphyr's own limit).
pub const MAX_DOCUMENTS: usize = 1024;

/// Parse every document; an error names the line in the whole text.
pub fn parse(text: &str) -> Result<Vec<Value>, YamlError> {
    let docs = split(text);
    if docs.len() > MAX_DOCUMENTS {
        return Err(YamlError {
            line: None,
            column: None,
            message: "the YAML is larger than ksec reads: more than 1,024 documents (---)".into(),
            limit: true,
        });
    }
    docs.into_iter()
        .map(|(first_line, doc)| {
            yaml::parse(doc).map_err(|mut e| {
                e.line = e.line.map(|l| l + first_line - 1);
                e
            })
        })
        .collect()
}

/// The documents as sops writes them: each in its layout, `---` between.
pub fn emit(docs: &[Value]) -> String {
    docs.iter()
        .map(yaml::emit)
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_as_sops_reads_them() {
        fn docs(t: &str) -> Vec<&str> {
            split(t).into_iter().map(|(_, d)| d).collect()
        }
        assert_eq!(docs("a: 1\n"), ["a: 1\n"]);
        assert_eq!(docs("---\na: 1\n"), ["a: 1\n"]);
        assert_eq!(docs("# top\n---\na: 1\n"), ["a: 1\n"]);
        assert_eq!(docs("a: 1\n---\nb: 2\n"), ["a: 1\n", "b: 2\n"]);
        assert_eq!(docs("a: 1\n---\n"), ["a: 1\n", ""]);
        assert_eq!(docs("a: |\n  ---\n  x\n"), ["a: |\n  ---\n  x\n"]);
        assert_eq!(docs("a: 1\n--- {b: 2}\n"), ["a: 1\n", "{b: 2}\n"]);
        assert!(is_stream("a: 1\n---\nb: 2\n"));
        assert!(!is_stream("---\na: 1\n"));
        assert!(!is_stream("a: '---'\n"));
    }

    #[test]
    fn errors_name_the_line_in_the_whole_text() {
        let err = parse("a: 1\n---\nb: 2\nc: [\n").unwrap_err();
        assert!(err.line.is_some_and(|l| l >= 3), "{:?}", err.line);
        assert_eq!(
            emit(&parse("a: 1\n---\n---\nb: x\n").unwrap()),
            "a: 1\n---\n{}\n---\nb: x\n"
        );
        let many = "---\na: 1\n".repeat(MAX_DOCUMENTS + 1);
        assert!(parse(&many).unwrap_err().limit);
    }
}
