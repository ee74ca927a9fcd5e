//! Evidence-log benchmark (scripts/bench-log): three measurements, each as
//! a ratio against a reference taken in the same run on the same machine.
//!
//! 1. Ingest with the log vs. without it: the same bundles (same sizes,
//!    every site in parallel), in alternating rounds so drift hits both,
//!    in two layouts: ten sites of one practice (one log, whose lock every
//!    ingest takes) and ten practices of one site each (ten logs).
//! 2. Inclusion proofs at LEAVES leaves (default 1,000,000, synthetic
//!    leaves inserted by SQL and integrated into tiles): p50/p99 over 2,000
//!    random leaves, beside a `SELECT 1` round trip on the same pool.
//! 3. Whole-practice verification (the background job) of a practice with
//!    VERIFY_BUNDLES (default 1,000,000) signed, chained and logged bundles,
//!    loaded in bulk: leaves per second; the script puts `openssl speed
//!    ed25519` beside it.
//!
//! cargo run --release --example bench_log -- [BUNDLES] [LEAVES] [VERIFY_BUNDLES]
//! (PORTAL_DATA_DIR: where the managed PostgreSQL lives, or DATABASE_URL)

use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use ed25519_dalek::{Signer, SigningKey};
use portal::state::AppState;
use uuid::Uuid;

mod common;
use common::CHECKS;
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

async fn sites(state: &AppState, org: Uuid, tag: &str, n: usize) -> Vec<Site> {
    let mut out = Vec::new();
    for i in 0..n {
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

/// Stores `total` bundles over `sites` (signed, chained, their check rows
/// as ingest derives them, each logged) in transactions of a few thousand,
/// so that the verification has a million real bundles to check. Raw SQL
/// on purpose: multi-row inserts, which ingest does not have (yet).
async fn load_signed(state: &AppState, org: Uuid, sites: &[Site], total: u64) {
    use portal::evidence::{chain, derived, log};
    const BATCH: u64 = 2_000;
    let mut heads: Vec<(i64, [u8; 32])> = vec![(0, chain::GENESIS); sites.len()];
    let mut done = 0;
    while done < total {
        let n = BATCH.min(total - done);
        let received = Utc::now().trunc_subsecs(6);
        let mut b = BulkBundles::default();
        let mut leaves = Vec::new();
        for k in 0..n {
            let i = ((done + k) % sites.len() as u64) as usize;
            let site = &sites[i];
            let raw = bundle(site.id, 1_000_000_000 + done + k);
            let signature = site.key.sign(&raw).to_bytes();
            let rows = derived::derive(&raw).unwrap();
            let hash = chain::bundle_hash(&raw);
            let (position, prev) = heads[i];
            let link = chain::chain_hash(site.id, position as u64, &prev, &hash);
            heads[i] = (position + 1, link);
            let id = Uuid::new_v4();
            leaves.push(
                log::evidence_leaf(&log::EvidenceFacts {
                    site_id: site.id,
                    chain_position: position,
                    bundle_hash: &hash,
                    chain_hash: &link,
                    key: site.key.verifying_key().as_bytes(),
                    signature: &signature,
                    received_at: received,
                })
                .unwrap()
                .encode(),
            );
            b.push(id, site.id, &raw, &rows, &hash, &signature, position, &prev, &link);
        }
        let mut client = state.pool().get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        b.insert(&*tx, org, received).await;
        for (site, (length, head)) in sites.iter().zip(&heads) {
            portal::db::evidence::advance_chain(&*tx, site.id, *length, head, Utc::now())
                .await
                .unwrap();
        }
        // Last, as in ingest: the log's lock is held to the commit.
        let first =
            portal::db::evidence_log::take_indices(&*tx, org, n as i64).await.unwrap().unwrap();
        let kinds = vec!["evidence"; leaves.len()];
        let rows: Vec<Option<Uuid>> = b.id.iter().copied().map(Some).collect();
        portal::db::evidence_log::insert_leaves(
            &*tx,
            org,
            first,
            &portal::db::evidence_log::NewLeaves {
                kind: &kinds,
                data: &leaves,
                bundle_rows: &rows,
                backfilled: false,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        done += n;
        if done % 100_000 == 0 || done == total {
            eprintln!("a loader: {done} of {total} signed bundles");
        }
    }
}

/// Bundle and check rows, column by column, for multi-row inserts.
#[derive(Default)]
struct BulkBundles {
    id: Vec<Uuid>,
    bundle_id: Vec<String>,
    site: Vec<Uuid>,
    checked_at: Vec<chrono::DateTime<Utc>>,
    result: Vec<String>,
    counts: [Vec<i32>; 3],
    raw: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
    signature: Vec<Vec<u8>>,
    position: Vec<i64>,
    prev: Vec<Vec<u8>>,
    link: Vec<Vec<u8>>,
    checks: BulkChecks,
}

#[derive(Default)]
struct BulkChecks {
    bundle: Vec<Uuid>,
    site: Vec<Uuid>,
    checked_at: Vec<chrono::DateTime<Utc>>,
    check_type: Vec<String>,
    host: Vec<String>,
    control: Vec<Option<String>>,
    status: Vec<String>,
    raw_status: Vec<String>,
    details: Vec<serde_json::Value>,
}

impl BulkBundles {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: Uuid,
        site: Uuid,
        raw: &[u8],
        rows: &portal::evidence::derived::Rows,
        hash: &[u8; 32],
        signature: &[u8; 64],
        position: i64,
        prev: &[u8; 32],
        link: &[u8; 32],
    ) {
        let parsed: serde_json::Value = serde_json::from_slice(raw).unwrap();
        self.id.push(id);
        self.bundle_id.push(parsed["bundle_id"].as_str().unwrap().to_owned());
        self.site.push(site);
        self.checked_at.push(rows.checked_at);
        self.result.push(rows.result.clone());
        for (column, n) in
            self.counts.iter_mut().zip([rows.checks_count, rows.failed_checks, rows.warn_checks])
        {
            column.push(i32::try_from(n).unwrap());
        }
        self.raw.push(raw.to_vec());
        self.hash.push(hash.to_vec());
        self.signature.push(signature.to_vec());
        self.position.push(position);
        self.prev.push(prev.to_vec());
        self.link.push(link.to_vec());
        for c in &rows.checks {
            let k = &mut self.checks;
            k.bundle.push(id);
            k.site.push(site);
            k.checked_at.push(c.checked_at);
            k.check_type.push(c.check_type.clone());
            k.host.push(c.host.clone());
            k.control.push(c.hipaa_control.clone());
            k.status.push(c.status.clone());
            k.raw_status.push(c.raw_status.clone());
            k.details.push(c.details.clone());
        }
    }

    async fn insert(
        &self,
        db: &impl tokio_postgres::GenericClient,
        org: Uuid,
        received: chrono::DateTime<Utc>,
    ) {
        db.execute(
            "INSERT INTO evidence_bundles
               (id, bundle_id, site_id, client_org_id, checked_at, result, checks_count, failed_checks,
                warn_checks, raw, bundle_hash, signature, chain_position, prev_chain_hash, chain_hash, received_at)
             SELECT id, bundle_id, site_id, $1, checked_at, result, c, f, w, raw, h, s, p, prev, link, $2
               FROM unnest($3::uuid[], $4::text[], $5::uuid[], $6::timestamptz[], $7::text[], $8::int[],
                           $9::int[], $10::int[], $11::bytea[], $12::bytea[], $13::bytea[], $14::bigint[],
                           $15::bytea[], $16::bytea[])
                 AS u(id, bundle_id, site_id, checked_at, result, c, f, w, raw, h, s, p, prev, link)",
            &[
                &org, &received, &self.id, &self.bundle_id, &self.site, &self.checked_at, &self.result,
                &self.counts[0], &self.counts[1], &self.counts[2], &self.raw, &self.hash,
                &self.signature, &self.position, &self.prev, &self.link,
            ],
        )
        .await
        .unwrap();
        let k = &self.checks;
        db.execute(
            "INSERT INTO evidence_checks
               (evidence_id, site_id, client_org_id, checked_at, check_type, host, hipaa_control, status,
                raw_status, details)
             SELECT e, s, $1, t, ct, h, c, st, r, d
               FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                           $8::text[], $9::text[], $10::jsonb[])
                 AS u(e, s, t, ct, h, c, st, r, d)",
            &[
                &org, &k.bundle, &k.site, &k.checked_at, &k.check_type, &k.host, &k.control,
                &k.status, &k.raw_status, &k.details,
            ],
        )
        .await
        .unwrap();
    }
}

/// The sites ingested into with the log on, and those with it off.
struct Layout {
    name: &'static str,
    on: Vec<Site>,
    off: Vec<Site>,
}

/// Alternating rounds of ingest with the log on and off (so drift hits
/// both); prints the rates and their ratio.
async fn measure_ingest(state: &AppState, layout: &Layout, per_round: u64) {
    let (mut on, mut off) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::new();
    for r in 0..ROUNDS as u64 {
        let from = 20 + r * per_round;
        let (t_on, t_off) = if r % 2 == 0 {
            let t_on = ingest_round(state, &layout.on, from, per_round, true).await;
            (t_on, ingest_round(state, &layout.off, from, per_round, false).await)
        } else {
            let t_off = ingest_round(state, &layout.off, from, per_round, false).await;
            (ingest_round(state, &layout.on, from, per_round, true).await, t_off)
        };
        on += t_on;
        off += t_off;
        ratios.push(t_off.as_secs_f64() / t_on.as_secs_f64());
        eprintln!(
            "{}: round {}/{ROUNDS}, ratio on/off {:.3}",
            layout.name,
            r + 1,
            ratios[r as usize]
        );
    }
    ratios.sort_by(f64::total_cmp);
    let n = (per_round * ROUNDS as u64 * layout.on.len() as u64) as f64;
    let (rate_on, rate_off) = (n / on.as_secs_f64(), n / off.as_secs_f64());
    println!("ingest, {} ({n} bundles each way, every site in parallel)", layout.name);
    println!("  log off: {rate_off:.0} bundles/s");
    println!("  log on:  {rate_on:.0} bundles/s");
    println!(
        "  ratio on/off: {:.3} (overhead {:.1}%); per round {:.3} to {:.3}, median {:.3}",
        rate_on / rate_off,
        (1.0 - rate_on / rate_off) * 100.0,
        ratios[0],
        ratios[ratios.len() - 1],
        ratios[ratios.len() / 2]
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bundles: u64 = args.get(1).map_or(30_000, |a| a.parse().expect("BUNDLES"));
    let leaves: i64 = args.get(2).map_or(1_000_000, |a| a.parse().expect("LEAVES"));
    let verify_bundles: u64 = args.get(3).map_or(1_000_000, |a| a.parse().expect("VERIFY_BUNDLES"));
    let (db, state) = common::bench_state().await;

    // 1. Ingest, log on vs. off, in two layouts: ten sites of one practice
    //    (all appending to one log, the worst case for the log's lock) and
    //    ten practices of one site each (ten logs, as most practices are).
    let on_org =
        portal::admin::create_org(state.pool(), "Bench Logged", "a@bench.example", None, None)
            .await
            .unwrap();
    let off_org =
        portal::admin::create_org(state.pool(), "Bench Unlogged", "b@bench.example", None, None)
            .await
            .unwrap();
    let one_practice = Layout {
        name: "one practice, 10 sites (one log)",
        on: sites(&state, on_org, "Logged", SITES).await,
        off: sites(&state, off_org, "Unlogged", SITES).await,
    };
    let mut many = Layout { name: "10 practices, 1 site each (10 logs)", on: vec![], off: vec![] };
    for i in 0..SITES {
        for (logged, list) in [(true, &mut many.on), (false, &mut many.off)] {
            let org = portal::admin::create_org(
                state.pool(),
                &format!("Bench Practice {i} {logged}"),
                &format!("p{i}-{logged}@bench.example"),
                None,
                None,
            )
            .await
            .unwrap();
            list.extend(sites(&state, org, "Practice", 1).await);
        }
    }
    let per_round = (bundles / 2 / SITES as u64 / ROUNDS as u64).max(1);
    for layout in [&one_practice, &many] {
        // Warm-up (connections, caches): one small round each, not counted.
        ingest_round(&state, &layout.on, 0, 20, true).await;
        ingest_round(&state, &layout.off, 0, 20, false).await;
    }
    // Planner statistics as a running portal has them (autovacuum analyses
    // within a minute): on a fresh database, the foreign-key check of every
    // check row would otherwise use a plan made for empty tables and scan
    // the practice's bundles, which measures the empty-table plan, not the
    // log.
    state.pool().get().await.unwrap().batch_execute("ANALYZE").await.unwrap();
    for layout in [&one_practice, &many] {
        measure_ingest(&state, layout, per_round).await;
    }

    // 2. Proofs at `leaves` leaves.
    let big =
        portal::admin::create_org(state.pool(), "Bench Big Log", "c@bench.example", None, None)
            .await
            .unwrap();
    let big_site = &sites(&state, big, "Big", 1).await[0];
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

    // 3. Whole-practice verification of a practice with `verify_bundles`
    //    signed bundles (loaded in bulk: through ingest it would take most
    //    of an hour).
    let verify_org =
        portal::admin::create_org(state.pool(), "Bench Verified", "d@bench.example", None, None)
            .await
            .unwrap();
    let verify_sites = sites(&state, verify_org, "Verified", SITES).await;
    let t = Instant::now();
    {
        // The log first (it logs the sites' keys), then two loaders (one
        // per core), each with half the sites.
        let db = state.pool().get().await.unwrap();
        portal::evidence::log::ensure_log(&**db, &state.config().base_url, verify_org)
            .await
            .unwrap();
    }
    let mut halves = verify_sites.into_iter();
    let (a, b): (Vec<Site>, Vec<Site>) =
        (halves.by_ref().take(SITES / 2).collect(), halves.collect());
    let loaders =
        [(a, verify_bundles / 2), (b, verify_bundles - verify_bundles / 2)].map(|(sites, n)| {
            let state = state.clone();
            tokio::spawn(async move { load_signed(&state, verify_org, &sites, n).await })
        });
    for l in loaders {
        l.await.unwrap();
    }
    println!(
        "loaded {verify_bundles} signed bundles (16 checks each) into one practice in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    portal::evidence::integrator::catch_up(&state, verify_org, Utc::now()).await.unwrap();
    println!("  integrated into tiles and signed in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let job = portal::evidence::integrity::verify_now(&state, verify_org, None).await.unwrap();
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
