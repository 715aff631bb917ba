//! Three-way merge of decrypted documents, per key: the merge driver's
//! logic, pure and without I/O.
//!
//! Maps merge key by key, recursively; sequences and scalars are whole
//! values. A key changed on one side only takes that side; the same change
//! on both sides is taken once; different changes (or a delete against a
//! change) are a conflict at that key path, resolved provisionally with our
//! side. Whole-line comments (dotenv) merge as present or absent, so they
//! never conflict. Conflicts are reported as key paths, never values.

use super::tree::{Item, Value};
use secrecy::ExposeSecret;

/// The merged document and the key paths that conflicted (our side kept).
pub struct Merged {
    pub value: Value,
    pub conflicts: Vec<Vec<String>>,
}

/// Merge `ours` and `theirs`, both descended from `base` (an empty map when
/// the file is new on both sides).
pub fn merge(base: &Value, ours: &Value, theirs: &Value) -> Merged {
    let mut conflicts = Vec::new();
    let mut path = Vec::new();
    let value = merge_slot(
        Some(base),
        Some(ours),
        Some(theirs),
        &mut path,
        &mut conflicts,
    )
    .unwrap_or(Value::Map(Vec::new()));
    Merged { value, conflicts }
}

/// Same structure, same key order, same types and same plaintext.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Leaf(x), Value::Leaf(y)) => x.same_as(y),
        (Value::Comment(x), Value::Comment(y)) => x.expose_secret() == y.expose_secret(),
        (Value::Seq(xs), Value::Seq(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Map(xs), Value::Map(ys)) => {
            xs.len() == ys.len()
                && xs.iter().zip(ys).all(|pair| match pair {
                    (Item::Pair(k, x), Item::Pair(l, y)) => k == l && same(x, y),
                    (Item::Comment(x), Item::Comment(y)) => x.expose_secret() == y.expose_secret(),
                    _ => false,
                })
        }
        _ => false,
    }
}

fn same_slot(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => same(x, y),
        _ => false,
    }
}

/// One key's three versions (`None`: absent) -> the merged value (`None`:
/// deleted).
fn merge_slot(
    base: Option<&Value>,
    ours: Option<&Value>,
    theirs: Option<&Value>,
    path: &mut Vec<String>,
    conflicts: &mut Vec<Vec<String>>,
) -> Option<Value> {
    if same_slot(ours, base) {
        return theirs.cloned();
    }
    if same_slot(theirs, base) || same_slot(ours, theirs) {
        return ours.cloned();
    }
    if let (Some(Value::Map(o)), Some(Value::Map(t))) = (ours, theirs) {
        // A map on both sides merges per key; a base that was not a map (or
        // did not exist) counts as an empty one: both sides added keys.
        let empty = Vec::new();
        let b = match base {
            Some(Value::Map(b)) => b,
            _ => &empty,
        };
        return Some(Value::Map(merge_maps(b, o, t, path, conflicts)));
    }
    conflicts.push(path.clone());
    ours.cloned()
}

/// How a map entry is identified across the three versions: a key by its
/// name; a comment by its text and which occurrence of that text it is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry<'a> {
    Key(&'a str),
    Comment(&'a str, usize),
}

/// A comment's value: only its presence matters.
static COMMENT: Value = Value::Null;

fn entries(items: &[Item]) -> Vec<(Entry<'_>, &Value)> {
    let mut out: Vec<(Entry<'_>, &Value)> = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Pair(k, v) => out.push((Entry::Key(k), v)),
            Item::Comment(text) => {
                let text = text.expose_secret();
                let nth = out
                    .iter()
                    .filter(|(e, _)| matches!(e, Entry::Comment(t, _) if *t == text))
                    .count();
                out.push((Entry::Comment(text, nth), &COMMENT));
            }
        }
    }
    out
}

fn find<'a>(entries: &[(Entry<'_>, &'a Value)], entry: Entry<'_>) -> Option<&'a Value> {
    entries.iter().find(|(e, _)| *e == entry).map(|(_, v)| *v)
}

fn merge_maps(
    base: &[Item],
    ours: &[Item],
    theirs: &[Item],
    path: &mut Vec<String>,
    conflicts: &mut Vec<Vec<String>>,
) -> Vec<Item> {
    let (b, o, t) = (entries(base), entries(ours), entries(theirs));
    let item = |entry: Entry<'_>, value: Value| match entry {
        Entry::Key(k) => Item::Pair(k.to_string(), value),
        Entry::Comment(text, _) => Item::Comment(text.to_string().into()),
    };
    let mut one = |entry: Entry<'_>, path: &mut Vec<String>| {
        if let Entry::Key(k) = entry {
            path.push(k.to_string());
        }
        let merged = merge_slot(
            find(&b, entry),
            find(&o, entry),
            find(&t, entry),
            path,
            conflicts,
        );
        if let Entry::Key(_) = entry {
            path.pop();
        }
        merged
    };

    // Our order first; what only their side has goes after the entry that
    // precedes it on their side.
    let mut out: Vec<(Entry<'_>, Item)> = Vec::new();
    for (entry, _) in &o {
        if let Some(value) = one(*entry, path) {
            out.push((*entry, item(*entry, value)));
        }
    }
    for (i, (entry, _)) in t.iter().enumerate() {
        if find(&o, *entry).is_some() {
            continue;
        }
        let Some(value) = one(*entry, path) else {
            continue;
        };
        let at = t[..i]
            .iter()
            .rev()
            .find_map(|(before, _)| out.iter().position(|(e, _)| e == before))
            .map_or(0, |p| p + 1);
        // after the keys only our side added there, as a line merge would
        let ours_only = |e: &Entry<'_>| find(&b, *e).is_none() && find(&t, *e).is_none();
        let at = at + out[at..].iter().take_while(|(e, _)| ours_only(e)).count();
        out.insert(at, (*entry, item(*entry, value)));
    }
    out.into_iter().map(|(_, item)| item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::sops::{Format, emit_plain, parse_plain};

    fn yaml(text: &str) -> Value {
        parse_plain(text, Format::Yaml).unwrap()
    }

    fn run(base: &str, ours: &str, theirs: &str) -> (String, Vec<String>) {
        let merged = merge(&yaml(base), &yaml(ours), &yaml(theirs));
        let conflicts = merged.conflicts.iter().map(|p| p.join(".")).collect();
        (emit_plain(&merged.value, Format::Yaml).unwrap(), conflicts)
    }

    #[test]
    fn a_change_on_one_side_is_taken() {
        let (out, c) = run("a: 1\nb: 2\n", "a: 1\nb: 2\n", "a: 9\nb: 2\n");
        assert_eq!((out.as_str(), c.len()), ("a: 9\nb: 2\n", 0));
        let (out, c) = run("a: 1\nb: 2\n", "a: 9\nb: 2\n", "a: 1\nb: 2\n");
        assert_eq!((out.as_str(), c.len()), ("a: 9\nb: 2\n", 0));
    }

    #[test]
    fn changes_of_different_keys_both_apply() {
        let (out, c) = run(
            "a: 1\nb: 2\nc: 3\n",
            "a: 8\nb: 2\nc: 3\n",
            "a: 1\nb: 2\nc: 9\n",
        );
        assert_eq!(out, "a: 8\nb: 2\nc: 9\n");
        assert!(c.is_empty());
    }

    #[test]
    fn the_same_change_on_both_sides_is_not_a_conflict() {
        let (out, c) = run("a: 1\n", "a: 2\n", "a: 2\n");
        assert_eq!(out, "a: 2\n");
        assert!(c.is_empty());
    }

    #[test]
    fn different_changes_of_one_key_conflict_and_keep_ours() {
        let (out, c) = run("a: 1\nb: 1\n", "a: 2\nb: 1\n", "a: 3\nb: 5\n");
        assert_eq!(out, "a: 2\nb: 5\n");
        assert_eq!(c, vec!["a"]);
    }

    #[test]
    fn additions_and_deletions() {
        // added on one side, deleted on the other (unchanged on ours)
        let (out, c) = run("a: 1\nb: 2\n", "a: 1\nb: 2\nx: 7\n", "a: 1\n");
        assert_eq!(out, "a: 1\nx: 7\n");
        assert!(c.is_empty());
        // deleted on both sides
        let (out, c) = run("a: 1\nb: 2\n", "a: 1\n", "a: 1\n");
        assert_eq!((out.as_str(), c.len()), ("a: 1\n", 0));
        // the same key added with different values
        let (_, c) = run("a: 1\n", "a: 1\nn: 1\n", "a: 1\nn: 2\n");
        assert_eq!(c, vec!["n"]);
    }

    #[test]
    fn delete_against_change_conflicts() {
        let (out, c) = run("a: 1\nb: 2\n", "a: 1\n", "a: 1\nb: 3\n");
        assert_eq!((out.as_str(), c), ("a: 1\n", vec!["b".to_string()]));
        let (out, c) = run("a: 1\nb: 2\n", "a: 1\nb: 3\n", "a: 1\n");
        assert_eq!((out.as_str(), c), ("a: 1\nb: 3\n", vec!["b".to_string()]));
    }

    #[test]
    fn nested_maps_merge_per_key_and_sequences_as_a_whole() {
        let base = "db:\n  user: u\n  pass: p\nl:\n- 1\n- 2\n";
        let (out, c) = run(
            base,
            "db:\n  user: U\n  pass: p\nl:\n- 1\n- 3\n",
            "db:\n  user: u\n  pass: P\nl:\n- 1\n- 4\n",
        );
        assert_eq!(out, "db:\n    user: U\n    pass: P\nl:\n    - 1\n    - 3\n");
        assert_eq!(c, vec!["l"]);
        let (_, c) = run(
            base,
            "db:\n  user: a\n  pass: p\nl: []\n",
            "db:\n  user: b\n  pass: p\nl: []\n",
        );
        assert_eq!(c, vec!["db.user"]);
    }

    #[test]
    fn keys_added_on_their_side_keep_their_place() {
        let (out, _) = run(
            "a: 1\nc: 3\n",
            "a: 1\nc: 3\nz: 0\n",
            "n: 0\na: 1\nb: 2\nc: 3\n",
        );
        assert_eq!(out, "\"n\": 0\na: 1\nb: 2\nc: 3\nz: 0\n");
    }

    #[test]
    fn a_file_added_on_both_sides_merges_against_nothing() {
        let merged = merge(
            &Value::Map(Vec::new()),
            &yaml("a: 1\nb: 2\n"),
            &yaml("a: 1\nc: 3\n"),
        );
        assert!(merged.conflicts.is_empty());
        assert_eq!(
            emit_plain(&merged.value, Format::Yaml).unwrap(),
            "a: 1\nb: 2\nc: 3\n"
        );
    }

    #[test]
    fn types_count_as_changes() {
        let (out, c) = run("a: 1\n", "a: 1\n", "a: '1'\n");
        assert_eq!((out.as_str(), c.len()), ("a: \"1\"\n", 0));
    }

    #[test]
    fn dotenv_comments_merge_as_lines() {
        let env = |t: &str| parse_plain(t, Format::Dotenv).unwrap();
        let merged = merge(
            &env("# one\nA=1\n# two\nB=2\n"),
            &env("# one\nA=1\nB=2\n"),
            &env("# one\nA=1\n# two\nB=2\n# three\n"),
        );
        assert!(merged.conflicts.is_empty());
        assert_eq!(
            emit_plain(&merged.value, Format::Dotenv).unwrap(),
            "# one\nA=1\nB=2\n# three\n"
        );
    }
}
