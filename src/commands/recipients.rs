//! `ksec recipients list|add|remove` and `ksec rekey`.

use super::Context;
use crate::cli::{RecipientsCommand, RekeyArgs};
use crate::error::{Error, Result};

pub fn run(_cmd: RecipientsCommand, _ctx: &Context) -> Result<()> {
    Err(Error::invalid("ksec recipients is not built yet"))
}

pub fn rekey(_args: RekeyArgs, _ctx: &Context) -> Result<()> {
    Err(Error::invalid("ksec rekey is not built yet"))
}
