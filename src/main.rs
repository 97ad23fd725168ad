//! The `shards` binary: parse the command line, run it, turn the outcome
//! into an exit code. Everything else lives in the library.

use shards::output::{self, Format};

fn main() {
    let cli = match shards::cli::parse() {
        Ok(cli) => cli,
        Err(refusal) => {
            // Under `--json` a script reads the error on stdout; clap's own
            // text still goes to stderr.
            if let Some(err) = refusal.json_error() {
                output::print_error_json(&err);
            }
            refusal.clap.exit()
        }
    };
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
