//! `rampartctl`: the operator's CLI. The control socket it talks to arrives with issue 7; until
//! then it validates config files offline.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use rampart::setup::load_config;

/// Operate a rampart node.
#[derive(Debug, Parser)]
#[command(version = rampart::VERSION)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Configuration files.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate FILE whole and list every error with its element path.
    Check {
        /// A pfSense config.xml.
        file: PathBuf,
    },
}

fn main() {
    let args = Args::parse();
    let code = match args.command {
        Command::Config {
            action: ConfigAction::Check { file },
        } => match load_config(&file) {
            Ok(_) => {
                println!("{}: valid", file.display());
                0
            }
            Err(err) => {
                eprintln!("{err:#}");
                2
            }
        },
    };
    std::process::exit(code);
}
