//! `ksec check` (the guard) and `ksec hook install`.

use super::Context;
use crate::cli::{CheckArgs, HookCommand};
use crate::error::{Error, Result};

pub fn run(_args: CheckArgs, _ctx: &Context) -> Result<()> {
    Err(Error::invalid("ksec check is not built yet"))
}

pub fn hook(_cmd: HookCommand, _ctx: &Context) -> Result<()> {
    Err(Error::invalid("ksec hook is not built yet"))
}
