//! `ksec whoami`: which identity source answers the lookup, the public
//! keys (recipients) of the identities it holds, and the sources looked at
//! before it. Never a private key.

use super::Context;
use super::outln;
use crate::cli::{OutputFormat, WhoamiArgs};
use crate::error::Result;
use crate::load::{self, NoIdentity};

pub fn run(args: WhoamiArgs, ctx: &Context) -> Result<()> {
    let lookup = load::identities(ctx, || NoIdentity::new("no age identity found"))?;
    let answered = lookup.answered.as_ref();
    let source = answered.map_or("", |a| a.name);
    let place = answered.map_or(String::new(), |a| a.describe.clone());
    let recipients: Vec<Option<&str>> = lookup.identities.iter().map(|i| i.public()).collect();
    // the last line of the report is the source that answered
    let before = &lookup.report[..lookup.report.len().saturating_sub(1)];
    match args.output {
        OutputFormat::Text => {
            outln!("source: {place}")?;
            for (identity, recipient) in lookup.identities.iter().zip(&recipients) {
                match (recipient, identity.plugin_program()) {
                    (Some(r), _) => outln!("recipient: {r}")?,
                    (None, Some(program)) => outln!(
                        "recipient: (not known: an age plugin identity of {program}; its recipient is in the plugin's identity file)"
                    )?,
                    (None, None) => outln!(
                        "recipient: (not known: an SSH key in PEM format holds no public key)"
                    )?,
                }
            }
            if !before.is_empty() {
                outln!("looked at before it:")?;
                for line in before {
                    outln!("  {line}")?;
                }
            }
        }
        OutputFormat::Json | OutputFormat::Yaml => {
            super::print_data(
                args.output,
                &serde_json::json!({
                    "source": source,
                    "location": place,
                    "recipients": recipients,
                    "looked_at_before": before,
                }),
                false,
            )?;
        }
    }
    Ok(())
}
