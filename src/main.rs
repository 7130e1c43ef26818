//! The `scrim` binary: parses arguments and hands them to [`scrim::cli`].

use clap::Parser;

fn main() {
    let cli = scrim::cli::Cli::parse();
    std::process::exit(scrim::cli::run(cli));
}
