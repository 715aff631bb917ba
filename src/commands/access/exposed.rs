//! `ksec access --exposed`: from the git history of the selected encrypted
//! sources, every value still current that a recipient who has lost access
//! could once decrypt, since when, and the command that rotates it. The
//! list is a report, not a failure: the exit code is 0 (`check --rotation`
//! is the gate for CI).

use crate::cli::{AccessArgs, OutputFormat};
use crate::commands::{Context, write_stdout};
use crate::error::Result;
use crate::history::{read, report};
use crate::project::Project;
use std::collections::BTreeSet;

pub fn run(args: AccessArgs, ctx: &Context) -> Result<()> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let sources = crate::load::secret_sources(
        &project,
        args.target.env.as_deref(),
        &args.target.namespaces,
        args.secret.as_deref(),
    )?;
    for rel in &sources.left_out {
        eprintln!("{}", crate::load::left_out_note(rel));
    }
    let rels = sources.files.into_iter().map(|s| s.rel).collect::<Vec<_>>();
    let identities = crate::load::identities_or_none(ctx)?;
    let histories = read::read(&project.root, &rels, &identities)?;
    let names = crate::access::Names::new(&[&project]);
    let values = report::exposed(&histories, &names, &BTreeSet::new(), |_| true);
    for note in report::notes(&histories) {
        eprintln!("{note}");
    }
    if identities.is_empty() {
        eprintln!(
            "note: no age identity found: every version was compared by ciphertext only, so values whose data key changed are not listed"
        );
    }
    match args.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            super::super::print_data(args.output, &report::json(&values), true)
        }
        OutputFormat::Text => {
            if values.is_empty() {
                return write_stdout(
                    format!(
                        "no exposed value: every current value of the {} file{} was readable only by today's recipients\n",
                        rels.len(),
                        if rels.len() == 1 { "" } else { "s" }
                    )
                    .as_bytes(),
                );
            }
            write_stdout(crate::commands::exposure_text(&values).as_bytes())
        }
    }
}
