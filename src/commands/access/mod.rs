//! `ksec access`: who can read each Secret. Without `--exposed`, today's
//! readers in git and in the cluster (`who`); with it, from the git
//! history, the values still current that someone who has lost access
//! could once decrypt (`exposed`).

mod exposed;
mod who;

use super::Context;
use crate::cli::AccessArgs;
use crate::error::Result;

pub fn run(args: AccessArgs, ctx: &Context) -> Result<()> {
    if args.exposed {
        exposed::run(args, ctx)
    } else {
        who::run(args, ctx)
    }
}
