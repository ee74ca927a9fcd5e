//! The `portal` command line. Logs go to stderr; commands that create
//! something print only its id on stdout, so scripts can capture it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{ArgGroup, Parser, Subcommand};
use uuid::Uuid;

use crate::admin::{self, SiteKey};
use crate::config::{Config, ConfigArgs};
use crate::db::{Database, migrate};
use crate::error::operator_error;
use crate::paths;
use crate::state::{AppState, Mode, Secrets};
use crate::{appliance, demo, mail, server};

#[derive(Parser)]
#[command(
    name = "portal",
    version,
    about = "OsirisCare client portal: HIPAA compliance evidence for healthcare practices"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the portal (migrates the database first).
    Serve,
    /// Serve with a seeded demo practice and a dev mailbox; no configuration needed.
    Demo,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Database roles: the server's least-privilege runtime role.
    #[command(subcommand)]
    Db(DbCommand),
    /// Operator commands: create partners, practices, users and sites.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The reference appliance client.
    #[command(subcommand)]
    Appliance(ApplianceCommand),
    /// Write a practice's monthly compliance report (PDF) to a file.
    Report(crate::reports::cli::ReportArgs),
    /// Verify an evidence pack (ZIP or folder) offline: no database needed.
    VerifyPack(crate::log::pack_cli::VerifyArgs),
    /// Verify a site's evidence chain from the stored bytes.
    VerifyChain {
        /// The site whose chain to verify.
        #[arg(long)]
        site: Uuid,
    },
    /// Verify a practice's whole evidence log against its signed
    /// checkpoints (what "Verify now" runs), and say how fast.
    VerifyLog {
        /// The practice whose log to verify.
        #[arg(long)]
        org: Uuid,
    },
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Print (or with --run, execute as the tables' owner) the SQL that makes
    /// the least-privilege role the server should log in as.
    CreateRuntimeRole {
        /// Name of the role to make.
        #[arg(long, default_value = crate::db::roles::MANAGED_RUNTIME_ROLE)]
        name: String,
        /// Execute it with PORTAL_MIGRATION_DATABASE_URL (or DATABASE_URL) and
        /// print the new role's connection string for DATABASE_URL.
        #[arg(long)]
        run: bool,
    },
}

#[derive(Subcommand)]
pub enum ApplianceCommand {
    /// Sign bundle files with a site's key and push them to a portal, in order.
    Push {
        /// The portal's base URL, e.g. http://127.0.0.1:8080
        #[arg(long)]
        url: String,
        /// The site the bundles belong to.
        #[arg(long)]
        site: Uuid,
        /// The site appliance's private key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// Bundle files (format v1 JSON), pushed byte for byte.
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
        /// Keep the last checkpoint this appliance accepted here, and after the
        /// push verify the log against it (consistency, each bundle's inclusion).
        #[arg(long)]
        state: Option<PathBuf>,
        /// The practice's log verifier key to pin (needed the first time a
        /// state file is made).
        #[arg(long)]
        log_key: Option<String>,
        /// The appliance's cosigner key (PKCS#8 PEM); default: <key>.cosigner.pem
        /// when it exists. With it the accepted checkpoint is cosigned.
        #[arg(long)]
        cosigner_key: Option<PathBuf>,
        /// How long to wait for a checkpoint that covers the pushed bundles.
        #[arg(long, default_value = "120")]
        wait_secs: u64,
    },
}

fn parse_scope(raw: &str) -> Result<crate::auth::Scope, String> {
    raw.parse().map_err(|e: crate::auth::UnknownScope| e.to_string())
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Review partner transfer requests: list, approve, reject, complete.
    #[command(subcommand)]
    Transfer(crate::transfer::cli::TransferCommand),
    /// Create an MSP partner; prints its id.
    CreatePartner {
        #[arg(long)]
        name: String,
        /// Contact email of the partner.
        #[arg(long)]
        email: Option<String>,
    },
    /// Create a practice (client org); prints its id.
    CreateOrg {
        #[arg(long)]
        name: String,
        /// Primary contact email of the practice.
        #[arg(long)]
        email: String,
        /// Partner id; without it the practice is direct.
        #[arg(long)]
        partner: Option<Uuid>,
        /// The practice's US state (two letters, e.g. WA): its time zone
        /// until the owner chooses one.
        #[arg(long)]
        state: Option<String>,
    },
    /// Create a practice user; prints its id.
    CreateUser {
        #[arg(long)]
        org: Uuid,
        #[arg(long)]
        email: String,
        /// owner, admin or viewer.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Create an API token acting as a user; prints the token (shown once).
    CreateApiToken {
        /// The user the token acts as.
        #[arg(long)]
        user: Uuid,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// `read` (GET and verification) or `write` (also changes; never
        /// users, roles, tokens, sessions or passwords).
        #[arg(long, default_value = "read", value_parser = parse_scope)]
        scope: crate::auth::Scope,
    },
    /// Create a site with its appliance's Ed25519 key; prints its id.
    #[command(group(ArgGroup::new("key").required(true).args(["public_key", "key_out"])))]
    CreateSite {
        #[arg(long)]
        org: Uuid,
        /// Clinic name shown for the site.
        #[arg(long)]
        name: String,
        /// The appliance's raw 32-byte Ed25519 public key, as 64 hex digits.
        #[arg(long)]
        public_key: Option<String>,
        /// Generate the appliance's signing key pair and write the private key here
        /// (PKCS#8 PEM, mode 0600), and its cosigner key beside it (<name>.cosigner.pem).
        #[arg(long)]
        key_out: Option<PathBuf>,
    },
    /// Set or rotate a site's appliance keys; logged as a site-key leaf and audited.
    SetSiteKeys {
        #[arg(long)]
        site: Uuid,
        /// The new signing public key (64 hex digits).
        #[arg(long)]
        public_key: Option<String>,
        /// The new cosigner (witness) public key (64 hex digits).
        #[arg(long)]
        witness_key: Option<String>,
    },
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Verifying a pack needs no configuration, database or runtime.
    if let Command::VerifyPack(args) = &cli.command {
        return crate::log::pack_cli::run(args);
    }
    // One TLS crypto provider for the process (SMTP and the appliance client).
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_tracing();
    let config = match Config::from_args(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        // refinery narrates every run at info level; the portal logs what it applied.
        .unwrap_or_else(|_| EnvFilter::new("info,refinery_core=warn,refinery=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

async fn run(command: Command, config: Config) -> Result<()> {
    match command {
        Command::Appliance(ApplianceCommand::Push {
            url,
            site,
            key: key_path,
            bundles,
            state,
            log_key,
            cosigner_key,
            wait_secs,
        }) => {
            let key = appliance::read_key(&key_path)?;
            let pushed = appliance::push(&url, site, &key, &bundles).await?;
            for p in &pushed {
                let what = if p.created { "stored" } else { "already received" };
                println!(
                    "{}  {}  position {}  {what}",
                    p.file.display(),
                    p.bundle_id,
                    p.chain_position
                );
            }
            eprintln!("pushed {} bundle(s) to site {site}", pushed.len());
            let Some(state) = state else {
                eprintln!(
                    "not verified against the log: pass --state FILE (and --log-key the first time) to \
                     check the portal's log as this appliance's witness"
                );
                return Ok(());
            };
            let cosigner_path = cosigner_key.or_else(|| {
                let p = crate::admin::cosigner_path(&key_path);
                p.exists().then_some(p)
            });
            let cosigner = cosigner_path.as_deref().map(appliance::read_key).transpose()?;
            let w = appliance::witness(
                &url,
                site,
                &key,
                cosigner.as_ref(),
                &state,
                log_key.as_deref(),
                &pushed,
                std::time::Duration::from_secs(wait_secs),
            )
            .await?;
            let waiting = pushed.len() - w.proven;
            println!(
                "log verified: checkpoint of {} leaves, consistent with the {} this appliance kept; \
                 {} bundle(s) proven included{}{}",
                w.size,
                w.old_size,
                w.proven,
                if waiting > 0 {
                    format!(", {waiting} not yet in a signed checkpoint (run again later)")
                } else {
                    String::new()
                },
                if w.cosigned { "; cosigned" } else { "; not cosigned (no cosigner key)" }
            );
            Ok(())
        }
        Command::VerifyPack(args) => match crate::log::pack_cli::run(&args) {
            c if c == ExitCode::SUCCESS => Ok(()),
            _ => anyhow::bail!("the pack did not verify"),
        },
        Command::VerifyLog { org } => {
            let db = Database::open(&config).await?;
            let result = verify_log_command(&db, &config, org).await;
            db.shutdown().await?;
            result
        }
        Command::VerifyChain { site } => {
            let db = Database::open(&config).await?;
            let result = verify_chain_command(&db, site).await;
            db.shutdown().await?;
            result
        }
        Command::Report(args) => {
            let db = Database::open(&config).await?;
            let result = async {
                db.migrate().await?;
                crate::reports::cli::run(&db, &config, args).await
            }
            .await;
            db.shutdown().await?;
            result
        }
        Command::Admin(AdminCommand::Transfer(cmd)) => {
            let db = Database::open(&config).await?;
            let result = async {
                db.migrate().await?;
                crate::transfer::cli::run(&db, &config, cmd).await
            }
            .await;
            db.shutdown().await?;
            result
        }
        Command::Serve => serve(config, Mode::Serve).await,
        Command::Demo => serve(config, Mode::Demo).await,
        Command::Db(DbCommand::CreateRuntimeRole { name, run }) => {
            create_runtime_role(&config, &name, run).await
        }
        Command::Migrate => {
            let db = Database::open(&config).await?;
            let result = migrate_and_backfill(&db, &config.base_url).await;
            db.shutdown().await?;
            let (report, made) = result?;
            if report.applied.is_empty() {
                eprintln!("database is up to date");
            } else {
                eprintln!(
                    "applied {} migration(s): {}",
                    report.applied.len(),
                    report.applied.join(", ")
                );
            }
            if made > 0 {
                eprintln!(
                    "made the evidence log of {made} practice(s): their earlier site keys and bundles are logged \
                     first, marked backfilled (logged at today's date)"
                );
            }
            Ok(())
        }
        Command::Admin(cmd) => {
            let db = Database::open(&config).await?;
            let result = async {
                db.migrate().await?;
                admin_command(&db, &config, cmd).await
            }
            .await;
            db.shutdown().await?;
            println!("{}", result?);
            Ok(())
        }
    }
}

/// What an admin command prints: an id, or a secret shown once.
enum Created {
    Id(Uuid),
    Token(String),
}

impl std::fmt::Display for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Created::Id(id) => write!(f, "{id}"),
            Created::Token(t) => f.write_str(t),
        }
    }
}

/// The schema migrations, then the evidence-log backfill: every practice
/// whose evidence predates its log gets its log now.
async fn migrate_and_backfill(
    db: &Database,
    base_url: &str,
) -> Result<(migrate::MigrationReport, usize)> {
    let report = db.migrate().await?;
    let made = crate::evidence::log::make_missing_logs(&db.pool, base_url, |done, of| {
        eprintln!(
            "making the evidence log of practice {} of {of} (its evidence predates the log)…",
            done + 1
        )
    })
    .await
    .map_err(|e| anyhow::anyhow!("backfilling the evidence log: {e}"))?;
    Ok((report, made))
}

async fn verify_log_command(db: &Database, config: &Config, org: Uuid) -> Result<()> {
    let secrets = Secrets {
        session: server::load_secret(config, Mode::Serve)?,
        log_seed: server::load_log_seed(config)?,
    };
    let state = AppState::new(db.pool.clone(), config.clone(), secrets, Mode::Serve);
    eprintln!("verifying practice {org}'s evidence log (every leaf, bundle and checkpoint)...");
    let started = Instant::now();
    let job =
        crate::evidence::integrity::verify_now(&state, org, None).await.map_err(operator_error)?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "verified {} leaves in {secs:.2} s: {:.0} leaves/s",
        job.size,
        job.size as f64 / secs
    );
    if job.valid == Some(true) {
        println!("the evidence log of practice {org} is valid: {} leaves", job.size);
        return Ok(());
    }
    for p in job.problems.iter().take(20) {
        eprintln!("  log index {:?}: {}", p.log_index, p.reason);
    }
    anyhow::bail!(
        "the evidence log of practice {org} has {} problem(s) (the first are above); the \
         practice's Security page lists them all",
        job.problem_count
    )
}

async fn verify_chain_command(db: &Database, site: Uuid) -> Result<()> {
    let client = db.pool.get().await.context("connecting to the database")?;
    let (length, _) = crate::db::evidence::recorded_head(&**client, site)
        .await
        .map_err(operator_error)?
        .ok_or_else(|| operator_error(crate::reach::no_site_with_id(site)))?;
    drop(client);
    let bar = appliance::progress(u64::try_from(length).unwrap_or(0), "verifying");
    let started = Instant::now();
    let outcome = crate::evidence::verify::verify_site_snapshot(&db.pool, site, None, |done| {
        bar.set_position(done)
    })
    .await
    .map_err(operator_error)?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "verified {} link(s), {:.1} MB, in {secs:.2} s: {:.0} links/s, {:.1} MB/s",
        outcome.length,
        outcome.bytes as f64 / 1e6,
        outcome.length as f64 / secs,
        outcome.bytes as f64 / 1e6 / secs
    );
    match outcome.broken {
        None => {
            println!("chain of site {site} is valid: {} link(s)", outcome.length);
            Ok(())
        }
        Some(b) => {
            anyhow::bail!("chain of site {site} is BROKEN at position {}: {}", b.position, b.reason)
        }
    }
}

async fn admin_command(db: &Database, config: &Config, cmd: AdminCommand) -> Result<Created> {
    let pool = &db.pool;
    if let AdminCommand::CreateApiToken { user, name, scope } = &cmd {
        let secret = server::resolve_secret(config)?;
        return admin::create_api_token(pool, &secret, *user, name, *scope)
            .await
            .map(Created::Token)
            .map_err(operator_error);
    }
    let id = match cmd {
        AdminCommand::CreatePartner { name, email } => {
            admin::create_partner(pool, &name, email.as_deref()).await
        }
        AdminCommand::CreateOrg { name, email, partner, state } => {
            admin::create_org(pool, &name, &email, partner, state.as_deref()).await
        }
        AdminCommand::CreateUser { org, email, role, name } => {
            admin::create_user(pool, org, &email, &role, name.as_deref()).await
        }
        AdminCommand::CreateSite { org, name, public_key, key_out } => {
            let key = match (&public_key, &key_out) {
                (Some(hex), _) => SiteKey::Public(hex),
                (None, Some(path)) => SiteKey::Generate(path),
                (None, None) => unreachable!("clap requires one of --public-key and --key-out"),
            };
            admin::create_site(pool, org, &name, key).await
        }
        AdminCommand::SetSiteKeys { site, public_key, witness_key } => {
            admin::set_site_keys(pool, site, public_key.as_deref(), witness_key.as_deref()).await
        }
        AdminCommand::CreateApiToken { .. } | AdminCommand::Transfer(_) => {
            unreachable!("handled above")
        }
    };
    id.map(Created::Id).map_err(operator_error)
}

async fn serve(mut config: Config, mode: Mode) -> Result<()> {
    let started = Instant::now();
    let acceptor = server::bind(config.bind).await?;
    if config.bind.port() == 0 {
        // Port 0 asks the OS for a free port: report (and link to) the real one.
        if let Some(actual) = server::local_addr(&acceptor) {
            config.resolve_port(actual);
        }
    }
    if mode == Mode::Demo {
        // So that passkeys work in the demo (browsers refuse them on an IP).
        config.prefer_localhost();
    }
    if mode == Mode::Demo && config.staff_email.is_none() {
        // Transfer requests email OsirisCare staff: in the demo that mail
        // lands in the dev mailbox with the rest.
        config.staff_email = Some(demo::STAFF_EMAIL.to_owned());
    }
    let db = Database::open(&config).await?;
    let outcome = async {
        db.migrate().await?;
        warn_if_privileged(&db, &config).await?;
        let seeded = if mode == Mode::Demo {
            Some(
                demo::seed(&db.pool, &config.data_dir)
                    .await
                    .map_err(anyhow::Error::from)?,
            )
        } else {
            None
        };
        let secrets = Secrets {
            session: server::load_secret(&config, mode)?,
            log_seed: server::load_log_seed(&config)?,
        };
        let state = AppState::new(db.pool.clone(), config.clone(), secrets, mode);
        tracing::info!(database = %db.describe(), "database ready");
        if mode == Mode::Demo {
            let seeded_at = Instant::now();
            let n = demo::seed_evidence(&state, &config.data_dir).await?;
            if n > 0 {
                tracing::info!(bundles = n, secs = format_args!("{:.1}", seeded_at.elapsed().as_secs_f64()), "seeded demo evidence");
            }
        }
        if config.smtp.is_none() && mode == Mode::Serve {
            tracing::warn!(
                "PORTAL_SMTP_HOST is not set: emails are written to this log instead of being sent, \
                 with their sign-in and invitation links redacted, so nobody can sign in by email. \
                 Configure PORTAL_SMTP_* (or try the portal with `portal demo`, whose dev mailbox \
                 shows the links)."
            );
        }
        let mailer = mail::spawn_worker_with(
            db.pool.clone(),
            mail::Transport::from_config(config.smtp.as_ref(), mode == Mode::Demo),
            state.mail_waker(),
        );
        print_banner(&config, mode, seeded.as_ref(), started);
        let links = crate::auth::flows::spawn_link_worker(state.clone());
        let sweeper = crate::evidence::sweeper::spawn(db.pool.clone(), config.retention_years);
        let reports = crate::reports::scheduler::spawn(state.clone());
        let integrator = crate::evidence::integrator::spawn(state.clone());
        let packs = crate::packs::spawn_expiry(state.clone());
        let served = server::run(acceptor, state, server::shutdown_signal()).await;
        packs.shutdown().await;
        integrator.shutdown().await;
        reports.shutdown().await;
        sweeper.shutdown().await;
        links.shutdown().await;
        mailer.shutdown().await;
        served
    }
    .await;
    let stopped = db.shutdown().await.context("stopping the database");
    outcome?;
    stopped?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// `portal db create-runtime-role`: the SQL on stdout, or run it and print
/// the role's connection string (the only secret, shown once).
async fn create_runtime_role(config: &Config, name: &str, run: bool) -> Result<()> {
    use crate::db::roles;
    if name.is_empty()
        || name.len() > 63
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        anyhow::bail!(
            "--name: expected a role name of letters, digits and _ (at most 63), got {name:?}"
        );
    }
    let password = crate::auth::tokens::generate();
    if !run {
        println!(
            "-- The portal's least-privilege runtime role. Run this as the owner of the portal's tables\n\
             -- after `portal migrate` (for example: psql \"$PORTAL_MIGRATION_DATABASE_URL\" -f file.sql),\n\
             -- then set PORTAL_MIGRATION_DATABASE_URL to the owner's URL and DATABASE_URL to this role\n\
             -- (user {name}, the password below). The portal repeats the grants after each migration.\n\
             {}\n{}",
            roles::create_sql(name, Some(&password)),
            roles::grant_sql(name)
        );
        return Ok(());
    }
    let db = Database::open(config).await?;
    let result = async {
        db.migrate().await?;
        if config.database_url.is_none() {
            eprintln!(
                "the managed cluster already serves through its runtime role {}; its rights are up to date",
                roles::MANAGED_RUNTIME_ROLE
            );
            return Ok(());
        }
        let owner = crate::db::connect(&db.migration_config).await?;
        if roles::exists(&owner, name).await? {
            anyhow::bail!(
                "a role named {name:?} exists already; choose another --name, or grant it with the SQL that \
                 `portal db create-runtime-role --name {name}` prints (without --run)"
            );
        }
        roles::create(&owner, name, &password)
            .await
            .map_err(operator_error)
            .context("creating the runtime role (the owner needs CREATEROLE)")?;
        let mut runtime = db.migration_config.clone();
        runtime.user(name).password(password.as_str());
        eprintln!(
            "made the role {name}. Set PORTAL_MIGRATION_DATABASE_URL to the current DATABASE_URL and \
             DATABASE_URL to the connection string below (it holds the password; it is shown once):"
        );
        println!("{}", crate::db::conninfo(&runtime));
        Ok(())
    }
    .await;
    db.shutdown().await?;
    result
}

/// Says loudly when the server's connections could rewrite the audit log
/// (a superuser, or the tables' owner), and what to set instead.
async fn warn_if_privileged(db: &Database, config: &Config) -> Result<()> {
    let privileges = db.runtime_privileges().await?;
    if privileges.least() {
        return Ok(());
    }
    let problems = privileges.problems().join(" and ");
    let fix = if config.database_url.is_some() {
        "Make a least-privilege role with `portal db create-runtime-role --run` (as this owner), then set \
         DATABASE_URL to the URL it prints and PORTAL_MIGRATION_DATABASE_URL to the current DATABASE_URL."
    } else {
        "The managed cluster should use its runtime role portal_app; check that no one changed its rights."
    };
    tracing::warn!(
        role = %privileges.role,
        "SECURITY: the server's database role {:?} {problems}, so anyone who takes over this process could \
         disable the audit log's protection and rewrite it. {fix}",
        privileges.role
    );
    Ok(())
}

fn print_banner(config: &Config, mode: Mode, seeded: Option<&demo::Seeded>, started: Instant) {
    let base = &config.base_url;
    let label = if mode == Mode::Demo { "demo" } else { "serve" };
    println!();
    println!(
        "  OsirisCare client portal ({label}) is ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("    Sign in:   {base}{}", paths::LOGIN);
    println!("    API docs:  {base}/api/docs");
    println!("    Health:    {base}/readyz");
    if mode == Mode::Demo {
        println!();
        match seeded {
            Some(s) if s.created => {
                println!("  Seeded the demo practice \"{}\". Its users:", demo::PRACTICE)
            }
            _ => println!("  Demo practice \"{}\" (already seeded). Its users:", demo::PRACTICE),
        }
        for (email, name, role) in demo::USERS {
            println!("    {:<7} {email}  ({name})", role.as_str());
        }
        println!();
        if config.smtp.is_none() {
            println!("  Enter one of these addresses on the sign-in page, then open the link");
            println!("  from the dev mailbox: {base}/dev/mailbox");
        } else {
            println!(
                "  Enter one of these addresses on the sign-in page; the link arrives by email."
            );
        }
    }
    println!();
    println!("  Press Ctrl-C to stop.");
    println!();
}
