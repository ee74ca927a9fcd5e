//! Evidence-log benchmark (scripts/bench-log): three measurements, each as
//! a ratio against a reference taken in the same run on the same machine.
//!
//! 1. Ingest with the log vs. without it: the same bundles (same sizes,
//!    10 sites in parallel), in alternating rounds so drift hits both.
//! 2. Inclusion proofs at LEAVES leaves (default 1,000,000, synthetic
//!    leaves inserted by SQL and integrated into tiles): p50/p99 over 2,000
//!    random leaves, beside a `SELECT 1` round trip on the same pool.
//! 3. Whole-practice verification (the background job) over the logged
//!    bundles of (1): leaves per second; the script puts `openssl speed
//!    ed25519` beside it.
//!
//! cargo run --release --example bench_log -- [BUNDLES] [LEAVES]
//! (PORTAL_DATA_DIR: where the managed PostgreSQL lives, or DATABASE_URL)

use std::time::{Duration, Instant};

use chrono::Utc;
use ed25519_dalek::{Signer, SigningKey};
use portal::config::{Config, ConfigArgs, Secret};
use portal::state::{AppState, Mode, Secrets};
use uuid::Uuid;

const CHECKS: &[(&str, &str)] = &[
    ("bitlocker_status", "164.312(a)(2)(iv)"),
    ("windows_defender", "164.308(a)(5)(ii)(B)"),
    ("firewall_status", "164.312(e)(1)"),
    ("password_policy", "164.308(a)(5)(ii)(D)"),
    ("audit_policy", "164.312(b)"),
    ("patch_status", "164.308(a)(1)(ii)(B)"),
    ("ntp_sync", "164.312(b)"),
    ("screen_lock", "164.312(a)(2)(iii)"),
];
const SITES: usize = 10;
const ROUNDS: usize = 6;

fn bundle(site: Uuid, seq: u64) -> Vec<u8> {
    let mut checks = Vec::new();
    for host in ["WS-01", "WS-02"] {
        for (check, control) in CHECKS {
            checks.push(serde_json::json!({
                "check": check, "status": "pass", "host": host, "hipaa_control": control, "details": {}
            }));
        }
    }
    let total = checks.len();
    serde_json::to_vec(&serde_json::json!({
        "bundle_id": format!("BL-{seq:09}"), "site_id": site,
        "checked_at": (Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "checks": checks,
        "summary": { "total_checks": total, "compliant": total, "non_compliant": 0, "errors": 0 }
    }))
    .unwrap()
}

struct Site {
    id: Uuid,
    key: SigningKey,
}

async fn sites(state: &AppState, org: Uuid, tag: &str) -> Vec<Site> {
    let mut out = Vec::new();
    for i in 0..SITES {
        let key = SigningKey::from_bytes(&portal::auth::tokens::random_bytes());
        let db = state.pool().get().await.unwrap();
        let id = portal::db::orgs::insert_site(
            &**db,
            org,
            &format!("{tag} {i}"),
            key.verifying_key().as_bytes(),
        )
        .await
        .unwrap();
        out.push(Site { id, key });
    }
    out
}

/// Ingests `per_site` bundles on every site at once; the elapsed time.
async fn ingest_round(
    state: &AppState,
    sites: &[Site],
    from: u64,
    per_site: u64,
    logged: bool,
) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in sites {
        let (state, id, key) = (state.clone(), s.id, s.key.clone());
        tasks.push(tokio::spawn(async move {
            for n in from..from + per_site {
                let raw = bundle(id, n);
                let sig = hex::encode(key.sign(&raw).to_bytes());
                let r = if logged {
                    portal::evidence::ingest::ingest(&state, &raw, &sig).await
                } else {
                    portal::evidence::ingest::ingest_unlogged_for_benchmark(&state, &raw, &sig)
                        .await
                };
                r.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bundles: u64 = args.get(1).map_or(30_000, |a| a.parse().expect("BUNDLES"));
    let leaves: i64 = args.get(2).map_or(1_000_000, |a| a.parse().expect("LEAVES"));
    let cfg_args = ConfigArgs {
        database_url: std::env::var("DATABASE_URL").ok(),
        data_dir: std::env::var("PORTAL_DATA_DIR").ok().map(Into::into),
        ..Default::default()
    };
    let config = Config::from_args(&cfg_args).expect("configuration");
    let db = portal::db::Database::open(&config).await.expect("database");
    portal::db::migrate::run(&db.pg_config).await.expect("migrations");
    let state = AppState::new(
        db.pool.clone(),
        config,
        Secrets {
            session: Secret::new(portal::auth::tokens::random_bytes().to_vec()),
            log_seed: Secret::new(portal::auth::tokens::random_bytes()),
        },
        Mode::Serve,
    );

    // 1. Ingest, log on vs. off.
    let on_org = portal::admin::create_org(state.pool(), "Bench Logged", "a@bench.example", None)
        .await
        .unwrap();
    let off_org =
        portal::admin::create_org(state.pool(), "Bench Unlogged", "b@bench.example", None)
            .await
            .unwrap();
    let on_sites = sites(&state, on_org, "Logged").await;
    let off_sites = sites(&state, off_org, "Unlogged").await;
    let per_round = (bundles / SITES as u64 / ROUNDS as u64).max(1);
    // Warm-up (connections, caches): one small round each, not counted.
    ingest_round(&state, &on_sites, 0, 20, true).await;
    ingest_round(&state, &off_sites, 0, 20, false).await;
    let (mut on, mut off) = (Duration::ZERO, Duration::ZERO);
    for r in 0..ROUNDS as u64 {
        let from = 20 + r * per_round;
        if r % 2 == 0 {
            on += ingest_round(&state, &on_sites, from, per_round, true).await;
            off += ingest_round(&state, &off_sites, from, per_round, false).await;
        } else {
            off += ingest_round(&state, &off_sites, from, per_round, false).await;
            on += ingest_round(&state, &on_sites, from, per_round, true).await;
        }
        eprintln!("round {}/{ROUNDS}", r + 1);
    }
    let n = (per_round * ROUNDS as u64 * SITES as u64) as f64;
    let (rate_on, rate_off) = (n / on.as_secs_f64(), n / off.as_secs_f64());
    println!("ingest (in process, {SITES} sites in parallel, {n} bundles each way)");
    println!("  log off: {rate_off:.0} bundles/s");
    println!("  log on:  {rate_on:.0} bundles/s");
    println!(
        "  ratio on/off: {:.3} (overhead {:.1}%)",
        rate_on / rate_off,
        (1.0 - rate_on / rate_off) * 100.0
    );

    // 2. Proofs at `leaves` leaves.
    let big = portal::admin::create_org(state.pool(), "Bench Big Log", "c@bench.example", None)
        .await
        .unwrap();
    let big_site = &sites(&state, big, "Big").await[0];
    let raw = bundle(big_site.id, 0);
    portal::evidence::ingest::ingest(
        &state,
        &raw,
        &hex::encode(big_site.key.sign(&raw).to_bytes()),
    )
    .await
    .unwrap();
    {
        let db = state.pool().get().await.unwrap();
        // Synthetic leaves: the tree does not read them, it hashes them.
        db.batch_execute(&format!(
            "WITH l AS (SELECT size FROM evidence_logs WHERE client_org_id = '{big}' FOR UPDATE)
             INSERT INTO evidence_log_leaves (client_org_id, leaf_index, kind, data)
             SELECT '{big}', i, 'evidence', convert_to(repeat('synthetic leaf ', 30) || i, 'UTF8')
               FROM l, generate_series(l.size, {leaves} - 1) AS i;
             UPDATE evidence_logs SET size = {leaves} WHERE client_org_id = '{big}';"
        ))
        .await
        .unwrap();
    }
    let integrating = Instant::now();
    let pass = portal::evidence::integrator::catch_up(&state, big, Utc::now()).await.unwrap();
    let took = integrating.elapsed();
    println!(
        "integration: {leaves} leaves into {} level-0 tiles in {:.1} s ({:.0} leaves/s)",
        pass.tiles,
        took.as_secs_f64(),
        leaves as f64 / took.as_secs_f64()
    );
    let size = leaves as u64;
    let mut proof_times = Vec::new();
    let mut ping_times = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let index = seed % size;
        let db = state.pool().get().await.unwrap();
        let t = Instant::now();
        let proof = portal::evidence::proofs::inclusion(&**db, big, index, size).await.unwrap();
        proof_times.push(t.elapsed());
        assert!((1..=64).contains(&proof.len()), "a proof of {} hashes", proof.len());
        let t = Instant::now();
        db.query_one("SELECT 1", &[]).await.unwrap();
        ping_times.push(t.elapsed());
    }
    proof_times.sort();
    ping_times.sort();
    let (p50, p99) = (percentile(&proof_times, 0.5), percentile(&proof_times, 0.99));
    let (r50, r99) = (percentile(&ping_times, 0.5), percentile(&ping_times, 0.99));
    println!("inclusion proof at {leaves} leaves (2,000 random leaves, from tiles)");
    println!("  p50 {:.3} ms  p99 {:.3} ms", ms(p50), ms(p99));
    println!("  SELECT 1 round trip: p50 {:.3} ms  p99 {:.3} ms", ms(r50), ms(r99));
    println!(
        "  ratio to a round trip: p50 {:.1}x  p99 {:.1}x",
        ms(p50) / ms(r50),
        ms(p99) / ms(r99)
    );

    // 3. Whole-practice verification of the logged practice.
    portal::evidence::integrator::catch_up(&state, on_org, Utc::now()).await.unwrap();
    let t = Instant::now();
    let job = portal::evidence::integrity::verify_now(&state, on_org, None).await.unwrap();
    let took = t.elapsed();
    assert_eq!(job.valid, Some(true), "the benchmark's own evidence verifies: {:?}", job.problems);
    println!(
        "practice verification: {} leaves in {:.2} s = {:.0} leaves/s (each: Ed25519 verify, SHA-256s, row re-derivation)",
        job.size,
        took.as_secs_f64(),
        job.size as f64 / took.as_secs_f64()
    );
    println!("VERIFY_RATE={:.0}", job.size as f64 / took.as_secs_f64());
    drop(state);
    db.shutdown().await.unwrap();
}
