//! osiris-verify-pack: checks an OsirisCare evidence pack offline, with no
//! database and no server. Built from the portal's log module alone (the
//! public formats and the pack's layout), so an auditor can read all the
//! code it runs. `osiris-verify-pack PACK.zip --log-key '<vkey>'`.

#[allow(dead_code, unused_imports)]
#[path = "../log/mod.rs"]
mod log;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "osiris-verify-pack",
    version,
    about = "Verify an OsirisCare evidence pack offline"
)]
struct Cli {
    #[command(flatten)]
    args: log::pack_cli::VerifyArgs,
}

fn main() -> std::process::ExitCode {
    log::pack_cli::run(&Cli::parse().args)
}
