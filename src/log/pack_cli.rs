//! The command line of the pack verifier, shared by `portal verify-pack`
//! and the standalone `osiris-verify-pack` binary (`src/bin/`), which is
//! built from this module alone: no database, no server.

use std::path::PathBuf;
use std::process::ExitCode;

use super::pack::{self, Failure, Options, Summary};

#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The pack: the .zip file the portal gave you, or the folder it unzips to.
    pub pack: PathBuf,
    /// The practice's log key as you received it outside this pack (its
    /// monthly email or PDF prints it): the pack must be signed by this key.
    #[arg(long)]
    pub log_key: Option<String>,
    /// Check only N bundles, chosen at random (everything else in full).
    #[arg(long)]
    pub sample: Option<u64>,
    /// The random seed for --sample (printed, so a run can be repeated).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print a JSON summary on stdout instead of the summary line.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

fn json_of(result: &Result<Summary, Failure>) -> String {
    let value = match result {
        Ok(s) => serde_json::json!({ "ok": true, "summary": s }),
        Err(f) => serde_json::json!({ "ok": false, "failure": f }),
    };
    serde_json::to_string_pretty(&value).expect("a summary is JSON")
}

/// Verifies the pack and reports: 0 when it verifies, 1 when not.
pub fn run(args: &VerifyArgs) -> ExitCode {
    let mut opts = Options { log_key: args.log_key.clone(), ..Options::default() };
    if let Some(t) = args.threads {
        opts.threads = t.max(1);
    }
    if let Some(n) = args.sample {
        opts.sample = Some(n);
        opts.seed = args.seed.unwrap_or_else(|| getrandom::u64().unwrap_or(0));
        if !args.json {
            eprintln!("checking {n} bundles at random (--seed {} repeats this choice)", opts.seed);
        }
    }
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} bundles ({per_sec}, {eta} left)",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_message("verifying");
    let started = std::time::Instant::now();
    let result = pack::open(&args.pack).and_then(|mut files| {
        pack::verify(files.as_mut(), &opts, &|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
    });
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        println!("{}", json_of(&result));
    }
    match result {
        Ok(s) => {
            if !args.json {
                eprintln!("log {} ({})", s.origin, s.log_vkey);
                if !s.log_key_pinned {
                    eprintln!(
                        "the log key was not compared with one you hold: pass --log-key with the key \
                         from the practice's monthly email or PDF"
                    );
                }
                eprintln!(
                    "final checkpoint: {} leaves; {} sites, {} site keys; {} of {} bundles checked; \
                     {} reports match the log, {} predate it; {} files; {secs:.1} s",
                    s.final_size,
                    s.sites,
                    s.site_keys,
                    s.bundles_verified,
                    s.bundles_in_pack,
                    s.reports_verified,
                    s.reports_unlogged,
                    s.files
                );
                println!("{}", s.line());
            }
            ExitCode::SUCCESS
        }
        Err(f) => {
            if !args.json {
                eprintln!("FAILED: {f}");
            }
            ExitCode::FAILURE
        }
    }
}
