//! The git merge driver without its I/O: three texts of an encrypted file
//! (base, ours, theirs) in, the merged file sealed again out. The merge is
//! per key of the decrypted documents, under the checked-out side's data
//! key so that unchanged values keep their ciphertext; it never produces
//! plaintext. `ksec git merge` reads and writes the files around it; the
//! fuzzing targets call it directly. Must never print nor touch a file.

use crate::crypto::cipher::{ValueCipher, is_encrypted};
use crate::crypto::merge;
use crate::crypto::sops::{EncryptedFile, Format, Opened, SopsError, parse_plain};
use crate::crypto::tree::{Item, Value};
use crate::error::{Code, Error, Result, sops_error};
use crate::keys;
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};
/// The merge base: absent (added on both sides) is `None`.
enum Base {
    Encrypted(EncryptedFile),
    Plain(Value),
}

/// Which side of the merge.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Ours,
    Theirs,
}

/// The three texts the merge driver reads, and the file's name.
pub struct MergeInput<'a> {
    /// How errors name the file.
    pub name: &'a str,
    /// The path in the repository (%P), which picks the format.
    pub path: Option<&'a Path>,
    /// The merge base; empty when the file was added on both sides.
    pub base: &'a str,
    pub ours: &'a str,
    pub theirs: &'a str,
}

/// What the merge driver does with our side's file.
pub enum MergeResult {
    /// Neither side is encrypted: git's own line merge.
    LineMerge,
    /// Our side already holds the merge.
    Unchanged,
    /// Write this (encrypted) text over our side.
    Write(String),
}

pub struct MergeOutcome {
    pub result: MergeResult,
    /// Set when keys or recipients conflict: the driver's error, after the
    /// write.
    pub conflict: Option<Error>,
}

/// The merge driver without its I/O: parse the three texts, open them
/// with the identities `identities` returns (asked only once both sides
/// parse as encrypted), merge per key and seal the result.
pub fn merge_texts(
    input: &MergeInput,
    identities: impl FnOnce() -> Result<keys::Identities>,
) -> Result<MergeOutcome> {
    let name = input.name;
    let (ours_text, theirs_text, base_text) = (input.ours, input.theirs, input.base);
    let format = match input.path {
        Some(p) => Format::of_encrypted(p, ours_text),
        None if EncryptedFile::parse(ours_text, Format::Dotenv).is_ok() => Format::Dotenv,
        None => Format::Yaml,
    };
    let left = |e: Error| {
        e.detail(format!(
            "{name} was left as it is on this side; git marks it as conflicted"
        ))
    };
    let label = |side: &str| PathBuf::from(format!("{name} ({side})"));

    let ours = EncryptedFile::parse(ours_text, format);
    let theirs = EncryptedFile::parse(theirs_text, format);
    let (ours, theirs) = match (ours, theirs) {
        (Ok(o), Ok(t)) => (o, t),
        (Err(SopsError::NotEncrypted), Err(SopsError::NotEncrypted)) => {
            // Not encrypted on either side: an ordinary line merge.
            return Ok(MergeOutcome {
                result: MergeResult::LineMerge,
                conflict: None,
            });
        }
        (Err(e), _) => return Err(left(sops_error(&label("this side"), e))),
        (_, Err(e)) => return Err(left(sops_error(&label("their side"), e))),
    };
    let base = if base_text.trim().is_empty() {
        None
    } else {
        match EncryptedFile::parse(base_text, format) {
            Ok(file) => Some(Base::Encrypted(file)),
            // committed in plaintext once: those are the base values
            Err(SopsError::NotEncrypted) => Some(Base::Plain(
                parse_plain(base_text, format)
                    .map_err(|e| left(sops_error(&label("merge base"), e)))?,
            )),
            Err(e) => return Err(left(sops_error(&label("merge base"), e))),
        }
    };

    let identities = identities().map_err(left)?;
    let open = |file: EncryptedFile, side: &str| -> Result<Opened> {
        file.open(&identities)
            .map_err(|e| left(sops_error(&label(side), e)))
    };
    let recipients = |file: &EncryptedFile| {
        let mut r = file.recipients();
        r.sort();
        r.dedup();
        r
    };
    let (ours_recipients, theirs_recipients) = (recipients(&ours), recipients(&theirs));
    let base_recipients = match &base {
        Some(Base::Encrypted(file)) => Some(recipients(file)),
        _ => None,
    };
    let ours = open(ours, "this side")?;
    let theirs = open(theirs, "their side")?;
    let base_plain = match base {
        None => Value::Map(Vec::new()),
        Some(Base::Plain(plain)) => plain,
        Some(Base::Encrypted(file)) => {
            file.open_to_read(&identities)
                .map_err(|e| left(sops_error(&label("merge base"), e)))?
                .plain
        }
    };

    // The file keeps its recipients and data key, unless only their side
    // changed who can decrypt it (a rekey, a recipient removed): then theirs.
    let (container, recipients_conflict) = if ours_recipients == theirs_recipients
        || base_recipients.as_ref() == Some(&theirs_recipients)
    {
        (Side::Ours, false)
    } else if base_recipients.as_ref() == Some(&ours_recipients) {
        (Side::Theirs, false)
    } else {
        (Side::Ours, true)
    };

    let merged = merge::merge(&base_plain, &ours.plain, &theirs.plain);
    let (mut keep, other, keep_text) = match container {
        Side::Ours => (ours, theirs, ours_text),
        Side::Theirs => (theirs, ours, theirs_text),
    };
    let result = if merge::same(&merged.value, &keep.plain) {
        if container == Side::Theirs {
            MergeResult::Write(keep_text.to_string())
        } else {
            MergeResult::Unchanged
        }
    } else {
        // Same data key on both sides (the usual case): values taken from
        // the other side keep their exact ciphertext too.
        if keep.cipher.key().bytes() == other.cipher.key().bytes() {
            stash_ivs(&mut keep.cipher, &other.file.body, &mut Vec::new());
        }
        keep.plain = merged.value;
        let sealed = keep.seal().map_err(|e| sops_error(Path::new(name), e))?;
        let text = sealed.emit().map_err(|e| sops_error(Path::new(name), e))?;
        MergeResult::Write(text)
    };

    let conflict = (!merged.conflicts.is_empty() || recipients_conflict).then(|| {
        conflict_error(
            name,
            &merged.conflicts,
            recipients_conflict.then_some((&ours_recipients, &theirs_recipients)),
        )
    });
    Ok(MergeOutcome { result, conflict })
}

fn conflict_error(
    name: &str,
    conflicts: &[Vec<String>],
    recipients: Option<(&Vec<String>, &Vec<String>)>,
) -> Error {
    let n = conflicts.len();
    let what = match (n, recipients.is_some()) {
        (0, _) => "its recipients were changed differently on both sides".to_string(),
        (1, false) => "1 key was changed differently on both sides".to_string(),
        (n, false) => format!("{n} keys were changed differently on both sides"),
        (n, true) => format!(
            "{n} key{} and its recipients were changed differently on both sides",
            if n == 1 { "" } else { "s" }
        ),
    };
    let mut e = Error::new(Code::Conflict, format!("merge conflict in {name}: {what}"));
    for path in conflicts {
        e = e.detail(format!("  {}", crate::crypto::tree::set_path(path)));
    }
    if n > 0 {
        e = e.detail(format!(
            "the file stays encrypted and holds this side's value of {}; the other keys are merged",
            if n == 1 { "that key" } else { "those keys" }
        ));
    }
    let mut hint = format!(
        "`git diff :2:{name} :3:{name}` shows both sides; resolve with: ksec edit {name}, then git add {name}"
    );
    if let Some((ours, theirs)) = recipients {
        e = e.detail(format!("recipients on this side: {}", ours.join(", ")));
        e = e.detail(format!("recipients on their side: {}", theirs.join(", ")));
        e = e.detail("the file keeps this side's recipients");
        hint.push_str("; then `ksec rekey` makes the recipients match ksec.yaml");
    }
    e.hint(hint)
}

/// Teach `cipher` the IVs of the values in `body` (encrypted under the same
/// data key), so that re-encrypting one of those values reproduces its
/// exact ciphertext.
fn stash_ivs(cipher: &mut ValueCipher, body: &Value, path: &mut Vec<String>) {
    let aad = |path: &[String]| format!("{}:", path.join(":"));
    match body {
        Value::Leaf(leaf) if is_encrypted(leaf.expose()) => {
            // a value that does not decrypt simply is not remembered
            let _ = cipher.decrypt(leaf.expose(), &aad(path));
        }
        Value::Seq(values) => {
            for v in values {
                stash_ivs(cipher, v, path);
            }
        }
        Value::Map(items) => {
            for item in items {
                match item {
                    Item::Pair(key, value) => {
                        path.push(key.clone());
                        stash_ivs(cipher, value, path);
                        path.pop();
                    }
                    Item::Comment(text) if is_encrypted(text.expose_secret()) => {
                        let _ = cipher.decrypt(text.expose_secret(), &aad(path));
                    }
                    Item::Comment(_) => {}
                }
            }
        }
        Value::Comment(text) if is_encrypted(text.expose_secret()) => {
            let _ = cipher.decrypt(text.expose_secret(), &aad(path));
        }
        Value::Leaf(_) | Value::Null | Value::Comment(_) => {}
    }
}
