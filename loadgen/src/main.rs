//! ringway-loadgen: the bundled load generator and reference upstream.
//!
//! Dispatches subcommands; all logic lives in the library. Exit codes: 0 done
//! and valid, 1 could not run, 2 bad command line, 3 ran but a result is
//! INVALID (the numbers are printed with the reason).

use clap::Parser;
use ringway_loadgen::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let res = match &cli.command {
        Command::Run(a) => ringway_loadgen::spec::run_command(a),
        Command::Serve(a) => ringway_loadgen::serve::run(a)
            .map(|_| 0)
            .map_err(Into::into),
        Command::Added(a) => ringway_loadgen::added::command(a),
        Command::Compare(a) => ringway_loadgen::compare::command(a),
    };
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ringway-loadgen: {e}");
            let refused = e.downcast_ref::<ringway_loadgen::spec::Refused>().is_some();
            std::process::exit(if refused { 2 } else { 1 });
        }
    }
}
