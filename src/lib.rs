//! ksec keeps a Kubernetes team's secrets and configuration in git —
//! secrets encrypted with age in the SOPS format — and ships them to
//! clusters.
//!
//! Data flows one way: `cli` (clap types) -> `commands` (one per
//! subcommand; none imports another) -> `load` (project, identity,
//! decrypted sources) and the domain: `project` (ksec.yaml), `crypto` (SOPS
//! format), `keys` (identity lookup), `render` (pure: sources -> manifests),
//! `onboard` (namespace templates), `gitdriver` (the per-key merge),
//! `cluster` (the Kubernetes API; `cluster::plan` decides, without I/O).

// stdout goes through `commands::write_stdout`/`outln!`, which return a
// failed write (a full disk) as an error instead of panicking
#![deny(clippy::print_stdout)]

pub mod access;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod crypto;
pub mod error;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
pub mod gitdriver;
pub mod gitops;
pub mod guard;
pub mod history;
pub mod k8s;
pub mod keys;
pub mod load;
pub mod lock;
pub mod onboard;
pub mod parallel;
pub mod problem;
pub mod project;
pub mod render;
pub mod runenv;
pub mod statcache;
pub(crate) mod sys;

use clap::Parser;
use cli::{Cli, Command};
use std::ffi::OsString;

/// Print clap's help or version text and flush it, so a failed write is seen.
fn print_help(err: &clap::Error) -> std::io::Result<()> {
    use std::io::Write;
    err.print()?;
    std::io::stdout().flush()
}

/// Run ksec with these arguments; returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            if err.use_stderr() {
                let _ = err.print();
                return error::Code::Usage.exit_code();
            }
            // --help and --version print to stdout: a reader that closed
            // the pipe early is fine, any other failed write is an error.
            return match print_help(&err) {
                Ok(()) => 0,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
                Err(e) => {
                    eprintln!("{}", commands::stdout_error(&e));
                    error::Code::Io.exit_code()
                }
            };
        }
    };
    let ctx = load::Context {
        project_flag: cli.project,
        identity_flag: cli.identity,
    };
    match dispatch(cli.command, &ctx) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("{err}");
            err.code.exit_code()
        }
    }
}

/// Run the command; only `diff` answers more than "done".
fn dispatch(command: Command, ctx: &load::Context) -> error::Result<error::Outcome> {
    let done = match command {
        Command::Diff(args) => return commands::apply::diff(args, ctx),
        Command::Exec(args) => return commands::exec::run(args, ctx),
        Command::Init(args) => commands::init::run(args, ctx),
        Command::Keygen(args) => commands::keygen::run(args, ctx),
        Command::Whoami(args) => commands::whoami::run(args, ctx),
        Command::Encrypt(args) => commands::encrypt::run(args, ctx),
        Command::Decrypt(args) => commands::decrypt::run(args, ctx),
        Command::Edit(args) => commands::edit::run(args, ctx),
        Command::Set(args) => commands::set::set(args, ctx),
        Command::Unset(args) => commands::set::unset(args, ctx),
        Command::Render(args) => commands::render::run(args, ctx),
        Command::Apply(args) => commands::apply::apply(args, ctx),
        Command::Namespace(cmd) => commands::namespace::run(cmd, ctx),
        Command::Check(args) => commands::check::run(args, ctx),
        Command::Access(args) => commands::access::run(args, ctx),
        Command::Hook(cmd) => commands::check::hook(cmd, ctx),
        Command::Recipients(cmd) => commands::recipients::run(cmd, ctx),
        Command::Rekey(args) => commands::recipients::rekey(args, ctx),
        Command::Git(cmd) => commands::git::run(cmd, ctx),
        Command::Gitops(cmd) => commands::gitops::run(cmd, ctx),
        Command::Completions(args) => commands::completions::completions(args),
        Command::Man(args) => commands::completions::man(args),
    };
    done.map(|()| error::Outcome::Success)
}
