use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(ksec::run(std::env::args_os()))
}
