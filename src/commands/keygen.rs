//! `ksec keygen`: a new age identity, to a file (0600) or the OS keyring.

use super::Context;
use super::outln;
use crate::cli::{KeygenArgs, OutputFormat};
use crate::error::Result;
use crate::{fsutil, keys};

pub fn run(args: KeygenArgs, _ctx: &Context) -> Result<()> {
    let generated = keys::generate();
    let place = if let Some(path) = &args.out {
        fsutil::write_new(path, generated.file_text.as_bytes(), 0o600)?;
        path.display().to_string()
    } else {
        keys::keyring::store(&generated.secret)?;
        format!(
            "OS keyring (service {}, account {})",
            keys::keyring::SERVICE,
            keys::keyring::ACCOUNT
        )
    };
    match args.output {
        OutputFormat::Text => {
            outln!("{}", generated.recipient)?;
            eprintln!("identity written to {place}; the line above is its recipient (public key)");
        }
        OutputFormat::Json | OutputFormat::Yaml => {
            super::print_data(
                args.output,
                &serde_json::json!({ "recipient": generated.recipient, "stored_in": place }),
                false,
            )?;
        }
    }
    Ok(())
}
