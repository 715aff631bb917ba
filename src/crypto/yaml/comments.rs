//! YAML comments, found in the source while it is parsed and placed in the
//! tree where sops (go-yaml v3) puts them, so that ksec and `sops -d` print
//! the same document:
//!
//! - a whole-line comment is an entry of the map (or list) it stands in,
//!   before the key (or item) it precedes; comments after the last entry of
//!   a block, indented at least as far as the block, end that block;
//! - a comment at the end of a line (`key: value # why`) becomes a
//!   whole-line comment before its key (or list item), as sops 3.11 writes
//!   it back; after a flow collection (`key: {a: 1} # why`) it opens that
//!   collection.
//!
//! serde does not see comments: the parser reports where each scalar is,
//! and a `#` at the start of a line or after a blank that lies in no scalar
//! read so far starts a comment. Scalars are read in document order, so by
//! the time a comment's place is decided every scalar before it is known.
//! The source and the comments are plaintext: wiped when the parse ends.

use super::{Key, check_unique, refine, span_of};
use crate::crypto::tree::{Item, Value};
use secrecy::SecretString;
use serde::de::{MapAccess, SeqAccess};
use serde_saphyr::Spanned;
use std::cell::RefCell;
use std::collections::HashSet;
use zeroize::Zeroizing;

struct State {
    text: Zeroizing<String>,
    /// Offsets of each `#` at a line start or after a blank, in order.
    candidates: Vec<usize>,
    /// The first candidate not yet placed or discarded.
    next: usize,
    /// Byte ranges of the scalars read so far, by start.
    scalars: Vec<(usize, usize)>,
    /// The end of the last scalar read.
    last_end: usize,
    /// Where the last comment found starts and its line ends: a `#` in
    /// between is part of it.
    covered: (usize, usize),
    /// Set by a list before each of its items: a map or list that is an
    /// item hands the comments before its first entry to the list.
    item_start: bool,
    handoff: Vec<SecretString>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Finds comments while it lives (one parse); a text without `#` costs
/// nothing.
pub(super) struct Guard;

impl Guard {
    pub(super) fn set(text: &str) -> Guard {
        let bytes = text.as_bytes();
        let candidates: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|&(i, &b)| {
                b == b'#' && (i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'\r'))
            })
            .map(|(i, _)| i)
            .collect();
        let state = (!candidates.is_empty()).then(|| State {
            text: Zeroizing::new(text.to_string()),
            candidates,
            next: 0,
            scalars: Vec::new(),
            last_end: 0,
            covered: (0, 0),
            item_start: false,
            handoff: Vec::new(),
        });
        STATE.with(|s| *s.borrow_mut() = state);
        Guard
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        STATE.with(|s| *s.borrow_mut() = None);
    }
}

/// Whether comments are being looked for (the text has a `#`).
pub(super) fn active() -> bool {
    STATE.with(|s| s.borrow().is_some())
}

fn with<R: Default>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| s.borrow_mut().as_mut().map(f).unwrap_or_default())
}

impl State {
    fn in_scalar(&self, at: usize) -> bool {
        // scalars do not overlap: only the last ones starting at or before
        // `at` can hold it (an alias repeats its anchor's span)
        let before = self.scalars.partition_point(|&(start, _)| start <= at);
        self.scalars[..before]
            .iter()
            .rev()
            .take(4)
            .any(|&(start, end)| start <= at && at < end)
    }

    /// The comment at `at`, unless it is in a scalar or in a comment
    /// already found: its text, after the `#` to the end of the line.
    fn comment(&mut self, at: usize) -> Option<SecretString> {
        if self.is_covered(at) || self.in_scalar(at) {
            return None;
        }
        let end = self.line_end(at);
        self.covered = (at, end);
        Some(SecretString::from(self.text[at + 1..end].to_string()))
    }

    fn is_covered(&self, at: usize) -> bool {
        self.covered.0 < at && at < self.covered.1
    }

    /// YAML breaks lines at `\n`, `\r\n` and a lone `\r`.
    fn line_end(&self, at: usize) -> usize {
        self.text[at..]
            .find(['\n', '\r'])
            .map_or(self.text.len(), |n| at + n)
    }

    fn line_start(&self, at: usize) -> usize {
        self.text[..at].rfind(['\n', '\r']).map_or(0, |n| n + 1)
    }

    /// Take the candidates before `end` (all of them, comments or not).
    fn take_until(&mut self, end: usize) -> Vec<usize> {
        let from = self.next;
        while self.next < self.candidates.len() && self.candidates[self.next] < end {
            self.next += 1;
        }
        self.candidates[from..self.next].to_vec()
    }

    fn comments(&mut self, offsets: &[usize]) -> Vec<SecretString> {
        offsets.iter().filter_map(|&at| self.comment(at)).collect()
    }
}

/// Note a scalar (key or value) at `start..end`.
fn scalar(start: usize, end: usize) {
    with(|s| {
        // in document order but for aliases: kept sorted
        let at = s.scalars.partition_point(|&(a, _)| a <= start);
        s.scalars.insert(at, (start, end));
        s.last_end = s.last_end.max(end);
    })
}

/// The comments before `at` (the start of a key or item).
fn before(at: usize) -> Vec<SecretString> {
    with(|s| {
        let taken = s.take_until(at);
        s.comments(&taken)
    })
}

/// The `#`s on the rest of the line from `at`, not yet known to be
/// comments (a value may follow): pass them to [`resolve`] once it is read.
fn rest_of_line(at: usize) -> Vec<usize> {
    with(|s| {
        if at > 0 && matches!(s.text.as_bytes().get(at - 1), Some(b'\n' | b'\r')) {
            return Vec::new(); // a block scalar's span ends at the next line
        }
        let end = s.line_end(at);
        s.take_until(end)
    })
}

/// The comments among `offsets` (those in no scalar).
fn resolve(offsets: &[usize]) -> Vec<SecretString> {
    with(|s| s.comments(offsets))
}

/// Whether `a` and `b` are on the same line.
fn same_line(a: usize, b: usize) -> bool {
    with(|s| {
        let (a, b) = (a.min(b), a.max(b));
        b <= s.text.len() && !s.text[a..b].contains(['\n', '\r'])
    })
}

/// The column of offset `at`.
fn column(at: usize) -> usize {
    with(|s| at.min(s.text.len()) - s.line_start(at.min(s.text.len())))
}

/// The whole-line comments that end a block whose entries start at
/// `column`: those right after the last scalar read (only blank and comment
/// lines between), indented at least as far.
fn foot(column: usize) -> Vec<SecretString> {
    with(|s| {
        let mut out = Vec::new();
        let mut from = s.last_end;
        while let Some(&at) = s.candidates.get(s.next) {
            if at < from {
                // inside the last scalar, or on its line after it (taken
                // by the caller as a line comment); not a foot comment
                s.next += 1;
                out.extend(s.comment(at));
                continue;
            }
            if s.is_covered(at) {
                s.next += 1; // a `#` inside the comment before
                continue;
            }
            let start = s.line_start(at);
            let after = s.line_end(from).min(start);
            let between_ok = s.text[after..start]
                .split(['\n', '\r'])
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
            let alone = s.text[start..at].trim().is_empty();
            if !alone || !between_ok || at - start < column {
                break;
            }
            out.extend(s.comment(at));
            s.next += 1;
            from = s.line_end(at);
        }
        out
    })
}

/// The comments of a document that holds nothing else (sops reads it as an
/// empty map with comments).
pub(super) fn only_comments() -> Vec<SecretString> {
    foot(0)
}

/// A list is about to read an item.
fn item_starts() {
    with(|s| s.item_start = true)
}

/// Whether this collection is a list item (and clear the mark).
fn is_item() -> bool {
    with(|s| std::mem::take(&mut s.item_start))
}

/// A collection that is a list item hands its leading comments to the list.
fn hand_off(comments: Vec<SecretString>) {
    with(|s| s.handoff.extend(comments))
}

/// The comments the item just read handed off.
fn handed_off() -> Vec<SecretString> {
    with(|s| std::mem::take(&mut s.handoff))
}

// ---------------------------------------------------------------------------
// Maps and lists read with their comments

/// A map read from a text with comments: each comment becomes an entry where
/// sops puts it (see the module documentation).
pub(super) fn read_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Value, A::Error> {
    let item = is_item();
    let mut items: Vec<Item> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut first_col = None;
    while let Some(key) = map.next_key::<Spanned<Key>>()? {
        let (key_start, key_end) = span_of(&key);
        let key = key.value.0;
        check_unique(&mut seen, &key)?;
        scalar(key_start, key_end);
        // a map that is a list item hands the comments before and on its
        // first line to the list: sops would write them before the dash,
        // where they read back as the list's
        let give = item && first_col.is_none();
        let head = before(key_start);
        if give {
            hand_off(head);
        } else {
            items.extend(head.into_iter().map(Item::Comment));
        }
        first_col.get_or_insert(column(key_start));
        let pending = rest_of_line(key_end);
        let value = map.next_value::<Spanned<Value>>()?;
        let (start, end) = span_of(&value);
        let mut value = refine(value);
        let flow = same_line(key_start, start);
        match &mut value {
            Value::Leaf(_) | Value::Null => {
                // an empty value's span may reach to the next token
                let end = if matches!(value, Value::Null) {
                    start
                } else {
                    end
                };
                scalar(start, end);
                let mut line = resolve(&pending);
                line.extend(resolve(&rest_of_line(end)));
                if give {
                    hand_off(line);
                } else {
                    items.extend(line.into_iter().map(Item::Comment));
                }
            }
            Value::Map(inner) if flow && !inner.is_empty() => {
                let line = resolve(&pending);
                inner.splice(0..0, line.into_iter().map(Item::Comment));
            }
            Value::Seq(inner) if flow && !inner.is_empty() => {
                let line = resolve(&pending);
                inner.splice(0..0, line.into_iter().map(Value::Comment));
            }
            _ => {
                let line = resolve(&pending);
                if give {
                    hand_off(line);
                } else {
                    items.extend(line.into_iter().map(Item::Comment));
                }
            }
        }
        items.push(Item::Pair(key, value));
    }
    is_item();
    // an empty map (`{}`) ends no block: what follows is its parent's
    if let Some(column) = first_col {
        items.extend(foot(column).into_iter().map(Item::Comment));
    }
    Ok(Value::Map(items))
}

/// A list read from a text with comments: each comment becomes an item
/// (`Value::Comment`) where sops puts it.
pub(super) fn read_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Value, A::Error> {
    let item = is_item();
    let mut values = Vec::new();
    let mut first_col = None;
    loop {
        item_starts();
        let Some(value) = seq.next_element::<Spanned<Value>>()? else {
            is_item();
            break;
        };
        let (start, end) = span_of(&value);
        let value = refine(value);
        let mut head = handed_off();
        head.extend(before(start));
        if matches!(value, Value::Leaf(_) | Value::Null) {
            let end = if matches!(value, Value::Null) {
                start
            } else {
                end
            };
            is_item();
            scalar(start, end);
            head.extend(resolve(&rest_of_line(end)));
        }
        if item && first_col.is_none() {
            hand_off(head);
        } else {
            values.extend(head.into_iter().map(Value::Comment));
        }
        // the dash is two columns before the item
        first_col.get_or_insert(column(start).saturating_sub(2));
        values.push(value);
    }
    // go-yaml ends a list with the comments after its last item only when
    // that item is a scalar; after a map or list they go to the parent
    if let Some(column) = first_col
        && !matches!(values.last(), Some(Value::Map(_) | Value::Seq(_)))
    {
        values.extend(foot(column).into_iter().map(Value::Comment));
    }
    Ok(Value::Seq(values))
}

#[cfg(test)]
mod tests {
    use crate::crypto::yaml::{emit, parse};

    fn reprint(doc: &str) -> String {
        emit(&parse(doc).unwrap())
    }

    #[test]
    fn comments_print_where_sops_prints_them() {
        // the input, and what `sops -d` (3.11) prints after `sops -e`
        let input = "#\n#nospace\na:\n  b:\n    c: 1\n    # foot c deep\n  # foot b\n# foot a top\nx:\n  - 1\n  # end of list x\ny:\n  - - 1\n    # inner end\n  - z: 2\n    # end of item map\n  # end of y\ns: |\n  block # not a comment\n  # not a comment either\nt: \"quoted # no\"\nu: 'single' # yes\nw: {p: 1} # flow trailing\nv: [1, 2] # flow list trailing\nq: last\n# eof1\n\n# eof2\n";
        let sops_d = "#\n#nospace\na:\n    b:\n        c: 1\n        # foot c deep\n    # foot b\n# foot a top\nx:\n    - 1\n    # end of list x\n\"y\":\n    - - 1\n      # inner end\n    - z: 2\n      # end of item map\n# end of y\ns: |\n    block # not a comment\n    # not a comment either\nt: 'quoted # no'\n# yes\nu: single\nw:\n    # flow trailing\n    p: 1\nv:\n    # flow list trailing\n    - 1\n    - 2\nq: last\n# eof1\n# eof2\n";
        assert_eq!(reprint(input), sops_d);
        assert_eq!(reprint(sops_d), sops_d);
    }

    #[test]
    fn comments_in_lists_and_trailing_ones_print_where_sops_prints_them() {
        let input = "# top comment\n# second top\n\na: 1 # trailing a\n# before b\nb:\n    # first in b\n    c: x # trailing c\n    d: y\n    # foot of b.d\n# before list\nlist: # after list key\n    # before item0\n    - one # trailing one\n    - two\n    # after two\n    - k: v # trailing k\n      # mid\n      m: n\nnested: # after nested key\n    e: 1\nempty:\n# the end\n";
        let sops_d = "# top comment\n# second top\n# trailing a\na: 1\n# before b\nb:\n    # first in b\n    # trailing c\n    c: x\n    d: \"y\"\n    # foot of b.d\n# before list\n# after list key\nlist:\n    # before item0\n    # trailing one\n    - one\n    - two\n    # after two\n    # trailing k\n    - k: v\n      # mid\n      m: \"n\"\n# after nested key\nnested:\n    e: 1\nempty: null\n# the end\n";
        assert_eq!(reprint(input), sops_d);
        assert_eq!(reprint(sops_d), sops_d);
    }

    #[test]
    fn a_hash_in_a_comment_is_part_of_it_and_a_lone_cr_ends_it() {
        assert_eq!(reprint("a: 1 # x # y\n#z #w\n"), "# x # y\na: 1\n#z #w\n");
        assert_eq!(reprint("- 1\n# c\r- 2\n"), "- 1\n# c\n- 2\n");
    }

    #[test]
    fn comments_after_an_empty_collection_stay_with_the_parent() {
        assert_eq!(
            reprint("a: {}\n# c\nb: []\n# d\n"),
            "a: {}\n# c\nb: []\n# d\n"
        );
    }

    #[test]
    fn comments_of_a_map_emptied_by_an_edit_are_not_lost() {
        let mut tree = parse("a:\n    # about b\n    b: 1\nc: 2\n").unwrap();
        if let crate::crypto::tree::Value::Map(items) = &mut tree
            && let Some(crate::crypto::tree::Item::Pair(_, crate::crypto::tree::Value::Map(inner))) =
                items.first_mut()
        {
            inner.retain(|i| matches!(i, crate::crypto::tree::Item::Comment(_)));
        }
        assert_eq!(emit(&tree), "a: {}\n    # about b\nc: 2\n");
        assert_eq!(reprint(&emit(&tree)), "a: {}\n# about b\nc: 2\n");
    }

    #[test]
    fn a_document_of_comments_only_is_an_empty_map_with_them() {
        assert_eq!(reprint("# just\n# comments\n"), "# just\n# comments\n{}\n");
        assert_eq!(
            reprint("# just\n# comments\n{}\n"),
            "# just\n# comments\n{}\n"
        );
        assert_eq!(reprint("#&3\u{e9}\r"), "#&3\u{e9}\n{}\n");
    }
}
