//! Evidence-pack benchmark (scripts/bench-pack): a year of a 3-site
//! practice (BUNDLES signed bundles, default 100,000, 24 checks each,
//! ingested through the real path), then a pack of the whole year built
//! (time, size; beside reading the same bundle bytes from PostgreSQL) and
//! verified by the offline verifier on every core (bundles per second;
//! the script puts `openssl speed ed25519` beside it).
//!
//! cargo run --release --example bench_pack -- [BUNDLES]
//! (PORTAL_DATA_DIR: where the managed PostgreSQL lives, or DATABASE_URL)

use std::time::Instant;

use chrono::{Duration, Utc};
use ed25519_dalek::{Signer, SigningKey};
use uuid::Uuid;

mod common;
use common::CHECKS;

fn bundle(site: Uuid, seq: u64, at: chrono::DateTime<Utc>) -> Vec<u8> {
    let mut checks = Vec::new();
    for host in ["WS-01", "WS-02", "SRV-01"] {
        for (i, (check, control)) in CHECKS.iter().enumerate() {
            let status = if (seq + i as u64).is_multiple_of(17) { "fail" } else { "pass" };
            checks.push(serde_json::json!({
                "check": check, "status": status, "host": host, "hipaa_control": control,
                "details": { "agent": "osiris-agent 3.4.1" }
            }));
        }
    }
    let failed = checks.iter().filter(|c| c["status"] == "fail").count();
    let total = checks.len();
    serde_json::to_vec(&serde_json::json!({
        "bundle_id": format!("BP-{seq:09}"), "site_id": site,
        "checked_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "checks": checks,
        "summary": { "total_checks": total, "compliant": total - failed, "non_compliant": failed, "errors": 0 }
    }))
    .unwrap()
}

#[tokio::main]
async fn main() {
    let bundles: u64 = std::env::args().nth(1).map_or(100_000, |a| a.parse().expect("BUNDLES"));
    let (database, state) = common::bench_state().await;
    let data_dir = state.config().data_dir.clone();
    let org =
        portal::admin::create_org(state.pool(), "Bench Pack Clinic", "a@bench.example", None, None)
            .await
            .unwrap();
    let mut sites = Vec::new();
    for name in ["Main Street", "Riverside", "Westgate"] {
        let key = SigningKey::from_bytes(&portal::auth::tokens::random_bytes());
        let db = state.pool().get().await.unwrap();
        let id = portal::db::orgs::insert_site(&**db, org, name, key.verifying_key().as_bytes())
            .await
            .unwrap();
        sites.push((id, key));
    }

    // A year of evidence, each site's chain in time order, sites in parallel.
    let per_site = bundles / sites.len() as u64;
    let start = Utc::now() - Duration::days(365);
    let step = Duration::seconds(365 * 86_400 / per_site as i64);
    let seeded = Instant::now();
    let jobs = sites.iter().enumerate().map(|(s, (id, key))| {
        let state = state.clone();
        let (id, key) = (*id, key.clone());
        async move {
            for i in 0..per_site {
                let bytes = bundle(id, s as u64 * per_site + i, start + step * i as i32);
                let sig = hex::encode(key.sign(&bytes).to_bytes());
                portal::evidence::ingest::ingest(&state, &bytes, &sig).await.expect("ingest");
            }
        }
    });
    futures_util::future::join_all(jobs).await;
    let total = per_site * sites.len() as u64;
    println!(
        "seeded {total} bundles in {:.0} s ({:.0}/s)",
        seeded.elapsed().as_secs_f64(),
        total as f64 / seeded.elapsed().as_secs_f64()
    );
    portal::evidence::integrator::catch_up(&state, org, Utc::now()).await.unwrap();

    // Reference: reading the same bundle bytes from PostgreSQL.
    let read = Instant::now();
    let db = state.pool().get().await.unwrap();
    let rows = db
        .query("SELECT raw FROM evidence_bundles WHERE client_org_id = $1", &[&org])
        .await
        .unwrap();
    let bytes: usize = rows.iter().map(|r| r.get::<_, &[u8]>(0).len()).sum();
    drop(db);
    let read_secs = read.elapsed().as_secs_f64();
    println!(
        "reference: reading {total} bundles ({bytes} bytes) from PostgreSQL: {read_secs:.2} s"
    );

    // The pack of the whole year.
    let out = data_dir.join("bench-pack.zip");
    let scope = portal::packs::build::Scope {
        period: Some((start.date_naive(), Utc::now().date_naive())),
        site_ids: None,
        audit_log: false,
    };
    let built_at = Instant::now();
    let progress =
        |_: u64, _: u64| -> futures_util::future::BoxFuture<'static, ()> { Box::pin(async {}) };
    let built =
        portal::packs::build::build(&state, org, &scope, &out, &progress).await.expect("pack");
    let build_secs = built_at.elapsed().as_secs_f64();
    println!(
        "pack: {} bundles, {} bytes ({:.1} MB, {:.0} bytes/bundle), built in {build_secs:.1} s ({:.0} bundles/s; {:.1} x the read)",
        built.bundles,
        built.bytes,
        built.bytes as f64 / 1e6,
        built.bytes as f64 / built.bundles as f64,
        built.bundles as f64 / build_secs,
        build_secs / read_secs
    );

    // Offline verification on every core.
    let verify_at = Instant::now();
    let mut files = portal::log::pack::open(&out).expect("pack opens");
    let summary = portal::log::pack::verify(files.as_mut(), &Default::default(), &|_, _| {})
        .expect("the pack verifies");
    let verify_secs = verify_at.elapsed().as_secs_f64();
    println!("verify: {} in {verify_secs:.1} s", summary.line());
    println!("VERIFY_RATE={:.0}", summary.bundles_verified as f64 / verify_secs);
    database.shutdown().await.expect("stopping the database");
}
