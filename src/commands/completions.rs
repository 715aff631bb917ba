//! `ksec completions SHELL` and `ksec man`: generated from the clap
//! definitions, never written by hand. A closed pipe (`| head`) is fine.

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{Code, Error, Result};
use crate::fsutil;
use clap::CommandFactory;

pub fn completions(args: CompletionsArgs) -> Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ksec", &mut out);
    super::write_stdout(&out)
}

pub fn man(args: ManArgs) -> Result<()> {
    let command = Cli::command();
    let Some(dir) = args.out else {
        return super::write_stdout(&page(command)?);
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, &e))?;
    let mut pages = Vec::new();
    collect(command, "ksec", &mut pages);
    for (name, command) in pages {
        let path = dir.join(format!("{name}.1"));
        fsutil::write_atomic(&path, &page(command)?, 0o644)?;
    }
    Ok(())
}

/// Every command and subcommand, named `ksec`, `ksec-namespace`, `ksec-namespace-add`.
fn collect(command: clap::Command, name: &str, out: &mut Vec<(String, clap::Command)>) {
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let sub_name = format!("{name}-{}", sub.get_name());
        collect(sub.clone().name(sub_name.clone()), &sub_name, out);
    }
    out.push((name.to_string(), command));
}

fn page(command: clap::Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .map_err(|e| Error::new(Code::Unexpected, format!("cannot render the man page: {e}")))?;
    Ok(out)
}
