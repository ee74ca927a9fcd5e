//! What the benchmark examples share: the checks their synthetic bundles
//! carry, and a portal state over the configured database.

#![allow(dead_code)] // each example uses a part

/// The checks (and HIPAA controls) of every synthetic bundle.
pub const CHECKS: &[(&str, &str)] = &[
    ("bitlocker_status", "164.312(a)(2)(iv)"),
    ("windows_defender", "164.308(a)(5)(ii)(B)"),
    ("firewall_status", "164.312(e)(1)"),
    ("password_policy", "164.308(a)(5)(ii)(D)"),
    ("audit_policy", "164.312(b)"),
    ("patch_status", "164.308(a)(1)(ii)(B)"),
    ("ntp_sync", "164.312(b)"),
    ("screen_lock", "164.312(a)(2)(iii)"),
];

/// The database (DATABASE_URL, or a managed PostgreSQL in PORTAL_DATA_DIR),
/// migrated, and a portal state over it with fresh secrets.
pub async fn bench_state() -> (portal::db::Database, portal::state::AppState) {
    use portal::config::{Config, ConfigArgs, Secret};
    let cfg_args = ConfigArgs {
        database_url: std::env::var("DATABASE_URL").ok(),
        data_dir: std::env::var("PORTAL_DATA_DIR").ok().map(Into::into),
        // Throughput, not the per-site limit, is what a benchmark measures.
        ingest_per_site: Some("0".into()),
        ..Default::default()
    };
    let config = Config::from_args(&cfg_args).expect("configuration");
    let database = portal::db::Database::open(&config).await.expect("database");
    portal::db::migrate::run(&database.pg_config).await.expect("migrations");
    let state = portal::state::AppState::new(
        database.pool.clone(),
        config,
        portal::state::Secrets {
            session: Secret::new(portal::auth::tokens::random_bytes().to_vec()),
            log_seed: Secret::new(portal::auth::tokens::random_bytes()),
        },
        portal::state::Mode::Serve,
    );
    (database, state)
}
