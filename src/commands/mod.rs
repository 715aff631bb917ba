//! One module per subcommand. Each is thin: load (`crate::load`), call the
//! domain, print. No command module imports another. Shared here is the
//! commands' own toolbox: writing to stdout (`outln!`, `write_stdout`),
//! tables, and saving an opened file with the warning about comments.

pub mod access;
pub mod apply;
pub mod check;
pub mod completions;
pub mod decrypt;
pub mod edit;
pub mod encrypt;
pub mod exec;
pub mod git;
pub mod gitops;
pub mod init;
pub mod keygen;
pub mod namespace;
pub mod recipients;
pub mod render;
pub mod set;
pub mod whoami;

use crate::crypto::sops::Opened;
use crate::error::{Code, Error, Result, sops_error};
use std::path::Path;

// Defined with the loading it steers; every command takes one.
pub use crate::load::Context;

/// Seal an opened file and write it back atomically.
pub fn save(path: &Path, opened: Opened) -> Result<()> {
    let sealed = opened.seal().map_err(|e| sops_error(path, e))?;
    let text = sealed.emit().map_err(|e| sops_error(path, e))?;
    crate::fsutil::write_atomic(path, text.as_bytes(), 0o644)
}

/// `--output json` or `yaml`: the data as JSON (`pretty`, or on one line,
/// as each command has always printed it), or as one YAML document laid
/// out as kubectl does.
pub fn print_data(
    format: crate::cli::OutputFormat,
    value: &serde_json::Value,
    pretty: bool,
) -> Result<()> {
    let text = match format {
        crate::cli::OutputFormat::Yaml => crate::render::emit::document(value),
        _ if pretty => format!(
            "{}\n",
            serde_json::to_string_pretty(value).expect("JSON values always serialise")
        ),
        _ => format!("{value}\n"),
    };
    write_stdout(text.as_bytes())
}

/// The data format of a list's `--output` (`name` is the command's own).
pub fn data_format(format: crate::cli::ListFormat) -> crate::cli::OutputFormat {
    match format {
        crate::cli::ListFormat::Json => crate::cli::OutputFormat::Json,
        crate::cli::ListFormat::Yaml => crate::cli::OutputFormat::Yaml,
        crate::cli::ListFormat::Text | crate::cli::ListFormat::Name => {
            crate::cli::OutputFormat::Text
        }
    }
}

/// `--output name`: one line each, as `kubectl … -o name` prints them.
pub fn print_names<S: AsRef<str>>(names: &[S]) -> Result<()> {
    let text: String = names.iter().map(|n| format!("{}\n", n.as_ref())).collect();
    write_stdout(text.as_bytes())
}

/// A write to stdout that failed for another reason than a closed pipe.
pub fn stdout_error(err: &std::io::Error) -> Error {
    Error::new(Code::Io, format!("cannot write to stdout: {err}"))
        .hint("check where stdout goes (a full disk, a closed file)")
}

/// `println!` that returns a failed write instead of panicking: a closed
/// pipe is fine, any other failure (a full disk) is an io error (see
/// [`write_stdout`]). Every line ksec prints on stdout goes through it or
/// `write_stdout` (`clippy::print_stdout` is denied).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::write_stdout(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}
pub(crate) use outln;

/// Write to stdout; a closed pipe (`ksec decrypt f | head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(stdout_error(&e)),
    }
}

/// The values someone who lost access may still hold (`access --exposed`,
/// `recipients remove`): a table, then the command rotating each.
pub fn exposure_text(values: &[crate::history::report::ExposedValue]) -> String {
    let (rows, commands) = crate::history::report::rows(values);
    let mut out = table(&rows);
    out.push_str("\nrotate them (a new random value, never shown; or `ksec set FILE KEY` with a value from its issuer):\n");
    for c in commands {
        out.push_str(&format!("  {c}\n"));
    }
    out
}

/// Rows as columns padded to their widest cell.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The access table of a pre-flight: one row per permission asked.
pub fn access_table(verdicts: &[crate::cluster::Verdict]) -> String {
    table(&access_rows(verdicts))
}

/// The access table of several clusters: a CLUSTER column in front
/// (`environment/context`).
pub fn clusters_access_table(per_cluster: &[(String, &[crate::cluster::Verdict])]) -> String {
    let mut rows: Vec<[String; 6]> = Vec::new();
    for (i, (cluster, verdicts)) in per_cluster.iter().enumerate() {
        for (j, [a, b, c, d, e]) in access_rows(verdicts).into_iter().enumerate() {
            if j == 0 && i > 0 {
                continue;
            }
            let first = if j == 0 {
                "CLUSTER".to_string()
            } else {
                cluster.clone()
            };
            rows.push([first, a, b, c, d, e]);
        }
    }
    table(&rows)
}

/// The header and one row per verdict.
fn access_rows(verdicts: &[crate::cluster::Verdict]) -> Vec<[String; 5]> {
    let mut rows = vec![[
        "NAMESPACE".to_string(),
        "RESOURCE".to_string(),
        "VERB".to_string(),
        "ALLOWED".to_string(),
        "REASON".to_string(),
    ]];
    for v in verdicts {
        let mut resource = if v.need.group.is_empty() {
            v.need.resource.clone()
        } else {
            format!("{}.{}", v.need.resource, v.need.group)
        };
        if !v.need.name.is_empty() {
            resource = format!("{resource}/{}", v.need.name);
        }
        rows.push([
            if v.need.namespace.is_empty() {
                "(cluster)".to_string()
            } else {
                v.need.namespace.clone()
            },
            resource,
            v.need.verb.clone(),
            if v.allowed { "yes" } else { "no" }.into(),
            v.reason.clone(),
        ]);
    }
    rows
}

/// A protected environment's confirmation: without a terminal, a refusal
/// with `hint`; on one, `lines` (what is about to happen) on stderr and a
/// yes/no `prompt`. Anything but yes: nothing is written.
pub fn confirm_protected(env: &str, lines: &[String], prompt: &str, hint: &str) -> Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::new(
            Code::NeedsConfirmation,
            format!("environment {env} is protected and there is no terminal to confirm on; nothing was written"),
        )
        .hint(hint));
    }
    eprintln!("environment {env} is protected. About to:");
    for line in lines {
        eprintln!("  {line}");
    }
    ask(prompt, "nothing was written")
}

/// A yes/no question on the terminal; anything but yes is a refusal that
/// says `nothing` (what was not done).
pub fn ask(question: &str, nothing: &str) -> Result<()> {
    let yes = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .unwrap_or(false);
    if yes {
        Ok(())
    } else {
        Err(Error::new(
            Code::NeedsConfirmation,
            format!("not confirmed; {nothing}"),
        ))
    }
}
