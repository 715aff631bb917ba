//! `ksec access --exposed`: not built yet (issue 16).

use crate::cli::AccessArgs;
use crate::commands::Context;
use crate::error::{Code, Error, Result};

pub fn run(_args: AccessArgs, _ctx: &Context) -> Result<()> {
    Err(Error::new(Code::Unexpected, "not built yet"))
}
