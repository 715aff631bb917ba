//! `ksec set` and `ksec unset`: change one value of a SOPS file. Every other
//! value keeps its exact ciphertext.

use super::Context;
use crate::cli::{SetArgs, UnsetArgs};
use crate::crypto::sops::Format;
use crate::crypto::tree::{Item, Leaf, Value};
use crate::error::{Error, Result};
use crate::load;
use std::io::{IsTerminal, Read};

pub fn set(args: SetArgs, ctx: &Context) -> Result<()> {
    let path = parse_key(&args.key)?;
    let value = match args.value.clone() {
        Some(v) => zeroize::Zeroizing::new(v),
        None if args.generate => generated(&args)?,
        None => {
            // Fail before the user types a secret into a prompt for nothing.
            if std::io::stdin().is_terminal() {
                load::open_to_read(&args.file, ctx)?;
            }
            read_value(&args.key)?
        }
    };
    if value.is_empty() && !args.allow_empty {
        let from = if args.value.is_some() {
            "the VALUE argument"
        } else {
            "the input"
        };
        return Err(Error::invalid(format!(
            "{}: refusing to set {} to an empty value ({from} is empty); the file was not changed",
            args.file.display(),
            args.key
        ))
        .hint("pass --allow-empty to store an empty value"));
    }
    // Read, change and write back under one lock: a concurrent writer
    // waits, and then sees this change.
    let _lock = crate::lock::lock(&args.file)?;
    let mut opened = load::open(&args.file, ctx)?;
    check_key(&path, opened.file.format, &args.key)?;
    let root = first_document(&mut opened.plain, opened.file.format);
    let target = slot(root, &path, true).ok_or_else(|| not_a_map(&args))?;
    let new = Leaf::str(value.as_str());
    if let Value::Leaf(old) = target
        && old.same_as(&new)
    {
        eprintln!("{}: {} unchanged", args.file.display(), args.key);
        return Ok(());
    }
    *target = Value::Leaf(new);
    super::save(&args.file, opened)?;
    eprintln!("{}: set {}", args.file.display(), args.key);
    Ok(())
}

pub fn unset(args: UnsetArgs, ctx: &Context) -> Result<()> {
    let path = parse_key(&args.key)?;
    let _lock = crate::lock::lock(&args.file)?;
    let mut opened = load::open(&args.file, ctx)?;
    let (last, parents) = path
        .split_last()
        .expect("parse_key never returns an empty path");
    let root = first_document(&mut opened.plain, opened.file.format);
    let parent = if parents.is_empty() {
        Some(root)
    } else {
        slot(root, parents, false)
    };
    let removed = match (parent, last) {
        (Some(Value::Map(items)), Step::Key(last)) => {
            // the first of a key given twice (JSON), as `sops unset` does
            match items
                .iter()
                .position(|item| matches!(item, Item::Pair(k, _) if k == last))
            {
                Some(at) => {
                    items.remove(at);
                    true
                }
                None => false,
            }
        }
        (Some(Value::Seq(values)), Step::Index(i)) => match position(values, *i) {
            Some(at) => {
                values.remove(at);
                true
            }
            None => false,
        },
        _ => false,
    };
    if !removed {
        return Err(
            Error::not_found(format!("{} has no key {}", args.file.display(), args.key))
                .hint("`ksec decrypt` shows the keys the file holds"),
        );
    }
    super::save(&args.file, opened)?;
    eprintln!("{}: removed {}", args.file.display(), args.key);
    Ok(())
}

/// `--generate`: a fresh value of `--length` characters of `--charset`.
fn generated(args: &SetArgs) -> Result<zeroize::Zeroizing<String>> {
    let refuse = |why: String| {
        let names: Vec<String> = crate::generate::NAMED
            .iter()
            .map(|(name, holds)| format!("{name} ({holds})"))
            .collect();
        Error::usage(format!("{}: {why}; the file was not changed", args.file.display())).hint(
            format!(
                "--length takes 1 to {} (default {}); --charset takes {}, or the characters to draw from",
                crate::generate::MAX_LENGTH,
                crate::generate::DEFAULT_LENGTH,
                names.join(", ")
            ),
        )
    };
    let length = crate::generate::length(args.length).map_err(refuse)?;
    let chars = crate::generate::charset(args.charset.as_deref()).map_err(refuse)?;
    Ok(crate::generate::value(&chars, length))
}

/// Refuse keys that would leave a file that no reader can parse back.
fn check_key(path: &[Step], format: Format, key: &str) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::usage(format!("cannot set {key}: {why}"))
            .hint("choose another key name; the file was not changed"))
    };
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        })
        .collect();
    if keys.iter().any(|p| p.contains(['\n', '\r'])) {
        return refuse("a key cannot contain a line break");
    }
    let first = match &path[0] {
        Step::Key(k) => k.as_str(),
        Step::Index(_) => return refuse("the file's top level is a map of keys, not a list"),
    };
    match format {
        Format::Yaml | Format::Json if first == "sops" => {
            refuse("`sops` is reserved for the file's metadata")
        }
        Format::Yaml | Format::Json => Ok(()),
        Format::Ini if first == "sops" => refuse("`[sops]` is reserved for the file's metadata"),
        Format::Ini if path.len() != 2 || keys.len() != 2 => {
            refuse("an INI value is addressed as '[\"section\"][\"key\"]'")
        }
        Format::Ini => Ok(()),
        Format::YamlStream if first == "sops" => {
            refuse("`sops` is reserved for the file's metadata")
        }
        Format::YamlStream => Ok(()),
        // sops keeps a binary file as the one value `data`, and so does
        // `sops set FILE '["data"]' VALUE`: the whole content replaced
        Format::Binary if path.len() == 1 && first == "data" => Ok(()),
        Format::Binary => refuse(
            "a binary file is one value, `data`: set '[\"data\"]' to replace its whole content (or use `ksec edit`)",
        ),
        Format::Dotenv => {
            let k = first;
            if path.len() > 1 {
                refuse("a dotenv file has no nested keys")
            } else if k.contains('=') {
                refuse("a dotenv key cannot contain '='")
            } else if k.starts_with('#') {
                refuse("a dotenv key cannot start with '#'")
            } else if k.starts_with("sops_") {
                refuse("keys starting with sops_ are reserved for the file's metadata")
            } else {
                Ok(())
            }
        }
    }
}

/// Where a key path starts: the tree, or for a multi-document YAML file its
/// first document, as `sops set` and `sops unset` address it.
fn first_document(plain: &mut Value, format: Format) -> &mut Value {
    let stream =
        format == Format::YamlStream && matches!(plain, Value::Seq(docs) if !docs.is_empty());
    if !stream {
        return plain;
    }
    match plain {
        Value::Seq(docs) => &mut docs[0],
        other => other,
    }
}

fn not_a_map(args: &SetArgs) -> Error {
    Error::invalid(format!(
        "{}: cannot set {}: a key on its path holds a value, not a map",
        args.file.display(),
        args.key
    ))
}

/// One step of a key path: a map key or a list position.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// `KEY`, or a sops path: `["a"]["b"]`, `["hosts"][0]`.
pub fn parse_key(key: &str) -> Result<Vec<Step>> {
    let bad = || {
        Error::usage(format!("invalid key path {key}")).hint(
            "use a top-level key (DB_PASSWORD, tls.crt) or a path like '[\"db\"][\"password\"]' or '[\"hosts\"][0]'",
        )
    };
    if key.is_empty() {
        return Err(bad());
    }
    if !key.starts_with('[') {
        return Ok(vec![Step::Key(key.to_string())]);
    }
    let mut parts = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix("[\"") {
            let end = inner.find("\"]").ok_or_else(bad)?;
            parts.push(Step::Key(inner[..end].to_string()));
            rest = &inner[end + 2..];
        } else {
            let inner = rest.strip_prefix('[').ok_or_else(bad)?;
            let end = inner.find(']').ok_or_else(bad)?;
            let digits = &inner[..end];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            parts.push(Step::Index(digits.parse().map_err(|_| bad())?));
            rest = &inner[end + 1..];
        }
    }
    Ok(parts)
}

/// The value slot at `path`. With `create`, missing map keys are added
/// (maps and lists on the way, as the next step needs) and a list
/// position past the end appends, as `sops set` does.
fn slot<'a>(root: &'a mut Value, path: &[Step], create: bool) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let fresh = || match rest.first() {
        None => Value::Null,
        Some(Step::Key(_)) => Value::Map(Vec::new()),
        Some(Step::Index(_)) => Value::Seq(Vec::new()),
    };
    let value = match (root, first) {
        (Value::Map(items), Step::Key(first)) => {
            let pos = items
                .iter()
                .position(|item| matches!(item, Item::Pair(k, _) if k == first));
            let pos = match pos {
                Some(p) => p,
                None if create => {
                    items.push(Item::Pair(first.clone(), fresh()));
                    items.len() - 1
                }
                None => return None,
            };
            let Item::Pair(_, value) = &mut items[pos] else {
                unreachable!("position matched a pair")
            };
            value
        }
        (Value::Seq(values), Step::Index(i)) => match position(values, *i) {
            Some(at) => &mut values[at],
            None if create => {
                values.push(fresh());
                values.last_mut()?
            }
            None => return None,
        },
        _ => return None,
    };
    if rest.is_empty() {
        Some(value)
    } else {
        slot(value, rest, create)
    }
}

/// Where the `i`-th item of a list is: a list's comments (YAML) are not
/// items, as in sops's paths.
fn position(values: &[Value], i: usize) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| !matches!(v, Value::Comment(_)))
        .nth(i)
        .map(|(at, _)| at)
}

/// The new value: a hidden prompt on a terminal, else stdin.
fn read_value(key: &str) -> Result<zeroize::Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        let _interrupt = crate::sys::interrupt::exit_130_on_signal();
        let value = dialoguer::Password::new()
            .with_prompt(format!("value for {key}"))
            .allow_empty_password(true)
            .interact()
            .map_err(|e| {
                Error::usage(format!("could not read the value from the terminal: {e}"))
            })?;
        return Ok(zeroize::Zeroizing::new(value));
    }
    let mut value = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut value)
        .map_err(|e| Error::io("read", std::path::Path::new("<stdin>"), &e))?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lists_comments_are_not_counted_as_its_items() {
        let comment = || Value::Comment(secrecy::SecretString::from("# a note".to_string()));
        let leaf = |n: i64| Value::Leaf(crate::crypto::tree::Leaf::str(n.to_string()));
        let mut list = Value::Seq(vec![comment(), leaf(0), comment(), leaf(1)]);
        let Value::Seq(values) = &list else {
            unreachable!()
        };
        assert_eq!(position(values, 0), Some(1));
        assert_eq!(position(values, 1), Some(3));
        assert_eq!(position(values, 2), None);
        *slot(&mut list, &[Step::Index(1)], false).unwrap() = leaf(7);
        let Value::Seq(values) = &list else {
            unreachable!()
        };
        assert!(matches!(&values[2], Value::Comment(_)));
        assert_eq!(values[3].as_str(), Some("7"));
        assert_eq!(values[1].as_str(), Some("0"));
    }

    #[test]
    fn key_paths() {
        let key = |k: &str| Step::Key(k.to_string());
        assert_eq!(parse_key("tls.crt").unwrap(), vec![key("tls.crt")]);
        assert_eq!(
            parse_key("[\"db\"][\"pass word\"]").unwrap(),
            vec![key("db"), key("pass word")]
        );
        assert_eq!(
            parse_key("[\"hosts\"][0][\"name\"]").unwrap(),
            vec![key("hosts"), Step::Index(0), key("name")]
        );
        assert!(parse_key("[\"db\"").is_err());
        assert!(parse_key("[\"db\"][x]").is_err());
        assert!(parse_key("[\"db\"][-1]").is_err());
        assert!(parse_key("").is_err());
    }
}
