//! The `salur` command.

use clap::Parser;

/// mimalloc keeps per-thread free lists: the request path allocates on the
/// async worker and frees on the database threads (and back), which makes
/// glibc's arenas contend for their locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
