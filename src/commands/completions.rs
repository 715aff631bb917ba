//! `ksec completions SHELL` and `ksec man`: generated from the clap
//! definitions, never written by hand. A closed pipe (`| head`) is fine.

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Result;
use clap::CommandFactory;

pub fn completions(args: CompletionsArgs) -> Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ksec", &mut out);
    super::write_stdout(&out)
}

pub fn man() -> Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| {
            crate::error::Error::new(
                crate::error::Code::Unexpected,
                format!("cannot render the man page: {e}"),
            )
        })?;
    super::write_stdout(&out)
}
