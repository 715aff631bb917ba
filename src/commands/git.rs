//! `ksec git setup|textconv|merge`: per-key diff and merge of encrypted files.

use super::Context;
use crate::cli::GitCommand;
use crate::error::{Error, Result};

pub fn run(_cmd: GitCommand, _ctx: &Context) -> Result<()> {
    Err(Error::invalid("ksec git is not built yet"))
}
