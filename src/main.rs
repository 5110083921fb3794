//! The `salur` command.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = salur::cli::Cli::parse();
    match salur::cli::main(cli) {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
