//! The `shards` binary: parse the command line, run it, turn the outcome
//! into an exit code. Everything else lives in the library.

use clap::Parser;
use shards::output::{self, Format};

fn main() {
    let cli = shards::Cli::parse();
    if let Err(err) = shards::run(&cli) {
        let format = if cli.global.json {
            Format::Json
        } else {
            Format::Human
        };
        if !matches!(err, shards::Error::Child { .. }) {
            output::print_error(&err, format);
        }
        std::process::exit(err.exit_code());
    }
}
