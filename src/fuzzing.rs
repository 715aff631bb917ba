//! Fuzz targets: one function per input kind, each calling the code the
//! commands call on that input. The cargo-fuzz targets in `fuzz/` and the
//! corpus replay in `tests/it/fuzz_corpus.rs` both call these, so CI replays
//! exactly the fuzzed code.
//!
//! Every target returns `Ok` or an [`Error`] with a named exit code; a panic
//! is a bug. Besides "no panic" some targets check a round trip (what ksec
//! writes, it reads back the same) and that the fast path for encrypted
//! YAML builds the same tree as the full parser: a failed check panics.
//!
//! Not part of ksec's interface: hidden from the docs, free to change.

use crate::crypto::merge;
use crate::crypto::sops::{EncryptedFile, Format, emit_plain, parse_plain};
use crate::crypto::tree::{Item, Kind, Value};
use crate::error::{Error, Result, sops_error};
use crate::gitdriver::{MergeInput, merge_texts};
use crate::keys::{self, Identities};
use crate::project::Project;
use secrecy::ExposeSecret;
use std::path::Path;

/// A test identity, known to the world: the `decrypt` and `merge` seeds are
/// encrypted to its recipient, [`TEST_RECIPIENT`], so that mutations of them
/// reach the value decryption and the MAC check. Never use it for secrets.
/// An age identity file, kept with the other test fixtures.
pub const TEST_IDENTITY: &str = include_str!("../tests/fixtures/fuzz-identity.txt");
/// The recipient of [`TEST_IDENTITY`].
pub const TEST_RECIPIENT: &str = "age14p90wrznz65uq6pdvqqkqdjjmnex4ra3uvxt3rys332djqzs4fqsw7hq0g";

/// A fuzz target: bytes in, `Ok` or a named error out.
pub type Target = fn(&[u8]) -> Result<()>;

/// The fuzz targets by name, as `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/` name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("sops_yaml", sops_yaml),
    ("sops_dotenv", sops_dotenv),
    ("envfile", envfile),
    ("project", project),
    ("merge", merge),
    ("decrypt", decrypt),
];

fn text(data: &[u8]) -> Result<&str> {
    std::str::from_utf8(data).map_err(|_| Error::invalid("the input is not UTF-8 text"))
}

fn identities() -> Identities {
    keys::parse_identities(TEST_IDENTITY, "the fuzzing test identity")
        .expect("the fuzzing test identity parses")
}

/// A YAML file as `encrypt`, `decrypt`, `check` and `render` read it: the
/// encrypted form (fast path and full parser) and the plaintext form.
pub fn sops_yaml(data: &[u8]) -> Result<()> {
    let text = text(data)?;
    let name = Path::new("fuzz.yaml");
    fast_path_agrees(text);
    plain_round_trip(text, Format::Yaml, name)?;
    read_encrypted(text, Format::Yaml, name)
}

/// A dotenv file, encrypted and plain, as the same commands read it.
pub fn sops_dotenv(data: &[u8]) -> Result<()> {
    let text = text(data)?;
    let name = Path::new("fuzz.env");
    plain_round_trip(text, Format::Dotenv, name)?;
    read_encrypted(text, Format::Dotenv, name)
}

/// Plaintext parses, and what ksec writes of it reads back the same.
fn plain_round_trip(text: &str, format: Format, name: &Path) -> Result<()> {
    let value = parse_plain(text, format).map_err(|e| sops_error(name, e))?;
    let Ok(written) = emit_plain(&value, format) else {
        // a value the format cannot hold (a nested map in dotenv): refused
        return Ok(());
    };
    let again = parse_plain(&written, format)
        .unwrap_or_else(|e| panic!("ksec cannot read back what it wrote: {e:?}"));
    assert!(
        same_as_printed(&value, &again),
        "ksec reads back a different document from what it wrote"
    );
    Ok(())
}

/// `again` is what reading `value` back after ksec printed it gives: the
/// same document, except that a whole float is printed as go-yaml (so
/// `sops -d`) prints it, `2` for `2.0`, and reads back as that int.
fn same_as_printed(value: &Value, again: &Value) -> bool {
    match (value, again) {
        (Value::Leaf(x), Value::Leaf(y)) if x.kind == Kind::Float && y.kind == Kind::Int => {
            let whole = x.expose().parse::<f64>().ok();
            whole.is_some_and(|f| f.fract() == 0.0 && y.expose().parse::<f64>() == Ok(f))
        }
        (Value::Seq(xs), Value::Seq(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same_as_printed(x, y))
        }
        (Value::Map(xs), Value::Map(ys)) => {
            xs.len() == ys.len()
                && xs.iter().zip(ys).all(|pair| match pair {
                    (Item::Pair(k, x), Item::Pair(l, y)) => k == l && same_as_printed(x, y),
                    (Item::Comment(x), Item::Comment(y)) => x.expose_secret() == y.expose_secret(),
                    _ => false,
                })
        }
        _ => merge::same(value, again),
    }
}

/// The encrypted form: structure, recipients and key names, as `check`
/// and `recipients` read them without a key.
fn read_encrypted(text: &str, format: Format, name: &Path) -> Result<()> {
    let file = EncryptedFile::parse(text, format).map_err(|e| sops_error(name, e))?;
    let _ = file.recipients();
    let _ = file.other_key_types();
    file.encrypted_keys().map_err(|e| sops_error(name, e))?;
    file.emit().map_err(|e| sops_error(name, e))?;
    Ok(())
}

/// When the fast path takes a document, the full parser reads the same
/// body from it (the fast path must never change what a file means).
fn fast_path_agrees(text: &str) {
    let Some((fast, meta)) = crate::crypto::fast_yaml::split_and_parse(text) else {
        return;
    };
    if parse_plain(meta, Format::Yaml).is_err() {
        return;
    }
    let full = match parse_plain(text, Format::Yaml) {
        Ok(Value::Map(items)) => items,
        Ok(_) => panic!("the fast path read a map where the full parser reads none"),
        Err(e) => panic!("the fast path read a document the full parser refuses: {e:?}"),
    };
    let full: Vec<Item> = full
        .into_iter()
        .filter(|i| !matches!(i, Item::Pair(k, _) if k == "sops"))
        .collect();
    assert!(
        merge::same(&Value::Map(fast), &Value::Map(full)),
        "the fast path and the full parser read different trees"
    );
}

/// An env file of an `envFiles:` source, as `render` reads it.
pub fn envfile(data: &[u8]) -> Result<()> {
    crate::render::envfile::parse(data)
        .map(drop)
        .map_err(|e| Error::invalid(format!("fuzz.env:{}: {}", e.line, e.message)))
}

/// `ksec.yaml`, as every command loads it.
pub fn project(data: &[u8]) -> Result<()> {
    let root = Path::new("/nonexistent/ksec-fuzz");
    let text = text(data)?;
    let _ = Project::parse_located(root, text);
    Project::parse(root, text).map(drop)
}

/// The merge driver's three inputs, separated by NUL bytes: base, ours,
/// theirs, and optionally the path (`%P`, which picks the format).
pub fn merge(data: &[u8]) -> Result<()> {
    let mut parts = data.splitn(4, |&b| b == 0);
    let base = text(parts.next().unwrap_or_default())?;
    let ours = text(parts.next().unwrap_or_default())?;
    let theirs = text(parts.next().unwrap_or_default())?;
    let path = parts.next().map(text).transpose()?.map(Path::new);
    let input = MergeInput {
        name: "fuzz",
        path,
        base,
        ours,
        theirs,
    };
    let outcome = merge_texts(&input, || Ok(identities()))?;
    match outcome.conflict {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Arbitrary bytes as an encrypted file, in both formats: parse, open with
/// the test identity (data key, values, MAC), print, as `decrypt` does;
/// then seal it unchanged as `set` does and read it back.
pub fn decrypt(data: &[u8]) -> Result<()> {
    let text = text(data)?;
    let mut first = None;
    for (format, name) in [
        (Format::Yaml, Path::new("fuzz.yaml")),
        (Format::Dotenv, Path::new("fuzz.env")),
    ] {
        if let Err(e) = decrypt_as(text, format, name) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

fn decrypt_as(text: &str, format: Format, name: &Path) -> Result<()> {
    let ids = identities();
    let fail = |e| sops_error(name, e);
    let opened = EncryptedFile::parse(text, format)
        .map_err(fail)?
        .open_to_read(&ids)
        .map_err(fail)?;
    emit_plain(&opened.plain, format).map_err(fail)?;
    let opened = EncryptedFile::parse(text, format)
        .map_err(fail)?
        .open(&ids)
        .map_err(fail)?;
    let plain = opened.plain.clone();
    let sealed = opened.seal().map_err(fail)?;
    let written = sealed.emit().map_err(fail)?;
    let again = EncryptedFile::parse(&written, format)
        .and_then(|f| f.open_to_read(&ids))
        .unwrap_or_else(|e| panic!("ksec cannot open what it sealed: {e:?}"));
    assert!(
        merge::same(&plain, &again.plain),
        "a file sealed unchanged opens to a different document"
    );
    Ok(())
}
