//! The integrator: full tiles written once and resumed after a crash,
//! checkpoints signed when the log grew (at most once per interval) and at
//! the start of a month, and refused when the database no longer agrees
//! with the last checkpoint signed.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use portal::evidence::integrator;
use portal::log::checkpoint::Checkpoint;
use portal::log::merkle::{Hash, leaf_hash, root_of};
use portal::log::note;
use uuid::Uuid;

use crate::appliances::{create_site, ingest};
use crate::helpers::{TestApp, spawn_app};

/// A practice with a log of two leaves (a site's keys and one bundle).
async fn practice_with_log(app: &TestApp) -> Uuid {
    let p = app.practice("Oak Clinic").await;
    let site = create_site(app, p.org_id, "Main").await;
    ingest(app, &site, "B-1", Utc::now(), &[("ntp", "pass", "PC", None)]).await;
    p.org_id
}

/// Appends `n` synthetic leaves straight into the tables, as the
/// sequencer would (the integrator hashes bytes, it does not read them).
async fn append_synthetic(app: &TestApp, org: Uuid, n: i64) {
    let db = app.db_client().await;
    // Raw SQL on purpose: tens of thousands of leaves in one statement.
    db.batch_execute(&format!(
        "WITH l AS (SELECT size FROM evidence_logs WHERE client_org_id = '{org}' FOR UPDATE)
         INSERT INTO evidence_log_leaves (client_org_id, leaf_index, kind, data)
         SELECT '{org}', i, 'evidence', convert_to('synthetic leaf ' || i, 'UTF8')
           FROM l, generate_series(l.size, l.size + {n} - 1) AS i;
         UPDATE evidence_logs SET size = size + {n} WHERE client_org_id = '{org}';"
    ))
    .await
    .unwrap();
}

/// Every leaf hash of the practice's log, from the leaf bytes.
async fn leaf_hashes(app: &TestApp, org: Uuid) -> Vec<Hash> {
    let db = app.db_client().await;
    let size = portal::db::evidence_log::size(&**db, org).await.unwrap().unwrap();
    portal::db::evidence_log::leaf_data(&**db, org, 0, size)
        .await
        .unwrap()
        .iter()
        .map(|d| leaf_hash(d))
        .collect()
}

fn signer(app: &TestApp, org: Uuid) -> portal::log::note::NoteSigner {
    let origin = portal::evidence::log::origin_for(&app.state.config().base_url, org);
    app.state.log_signer(org, &origin).unwrap()
}

/// Opens a signed checkpoint with the practice's key.
fn open(app: &TestApp, org: Uuid, signed: &str) -> Checkpoint {
    let opened = note::open(signed, signer(app, org).verifier()).expect("signed by the log key");
    Checkpoint::parse(&opened.text).unwrap()
}

async fn checkpoints(app: &TestApp, org: Uuid) -> i64 {
    app.count("SELECT count(*) FROM evidence_log_checkpoints WHERE client_org_id = $1", &[&org])
        .await
}

fn later(secs: i64) -> DateTime<Utc> {
    Utc::now() + Duration::seconds(secs)
}

#[tokio::test]
async fn tiles_and_a_signed_checkpoint_match_the_leaves() {
    let app = spawn_app().await;
    let org = practice_with_log(&app).await;
    append_synthetic(&app, org, 598).await; // 600 leaves: two full tiles and 88
    let pass = integrator::catch_up(&app.state, org, Utc::now()).await.unwrap();
    assert_eq!(pass.tiles, 2);
    let signed = pass.signed.expect("a first checkpoint");
    assert_eq!(signed.size, 600);
    let hashes = leaf_hashes(&app, org).await;
    let head = open(&app, org, &signed.note);
    assert_eq!(head.size, 600);
    assert_eq!(head.root, root_of(&hashes), "the tree of the leaves");
    assert_eq!(head.origin, portal::evidence::log::origin_for(&app.state.config().base_url, org));

    let db = app.db_client().await;
    let rows = db
        .query(
            "SELECT level, tile_index, hashes, root FROM evidence_log_tiles
              WHERE client_org_id = $1 ORDER BY level, tile_index",
            &[&org],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "only full tiles are stored");
    for (n, r) in rows.iter().enumerate() {
        let (level, index): (i16, i64) = (r.get(0), r.get(1));
        assert_eq!((level, index), (0, n as i64));
        let expected = &hashes[n * 256..(n + 1) * 256];
        assert_eq!(r.get::<_, Vec<u8>>(2), expected.concat());
        assert_eq!(r.get::<_, Vec<u8>>(3), root_of(expected).to_vec());
    }
}

#[tokio::test]
async fn the_integrator_resumes_after_a_crash_and_writes_each_tile_once() {
    let app = spawn_app().await;
    let org = practice_with_log(&app).await;
    append_synthetic(&app, org, 256 * 256 + 300 - 2).await; // a level-1 tile completes
    let size = 256 * 256 + 300;

    // A pass that dies before committing leaves nothing behind.
    {
        let mut client = app.db_client().await;
        let tx = client.transaction().await.unwrap();
        let (written, more) = integrator::write_tiles(&*tx, org, size, 10).await.unwrap();
        assert_eq!((written, more), (10, true));
        drop(tx); // the crash: no commit
    }
    assert_eq!(app.count("SELECT count(*) FROM evidence_log_tiles", &[]).await, 0);

    // One that commits part of the work, then the rest in later passes.
    {
        let mut client = app.db_client().await;
        let tx = client.transaction().await.unwrap();
        integrator::write_tiles(&*tx, org, size, 100).await.unwrap();
        tx.commit().await.unwrap();
    }
    let pass = integrator::catch_up(&app.state, org, Utc::now()).await.unwrap();
    assert_eq!(pass.tiles, 256 - 100 + 1, "only the tiles not yet written");
    let level0 = app.count("SELECT count(*) FROM evidence_log_tiles WHERE level = 0", &[]).await;
    let level1 = app.count("SELECT count(*) FROM evidence_log_tiles WHERE level = 1", &[]).await;
    assert_eq!((level0, level1), (257, 1));
    let hashes = leaf_hashes(&app, org).await;
    let head = open(&app, org, &pass.signed.unwrap().note);
    assert_eq!(head.root, root_of(&hashes));
    let level1_root: Vec<u8> = app
        .db_client()
        .await
        .query_one("SELECT hashes FROM evidence_log_tiles WHERE level = 1", &[])
        .await
        .unwrap()
        .get(0);
    let expected: Vec<Hash> = hashes[..65_536].chunks(256).map(root_of).collect();
    assert_eq!(level1_root, expected.concat(), "level 1 holds the roots of the level-0 tiles");

    // A tile is written once: the table refuses a second write.
    let err = app
        .db_client()
        .await
        .execute("UPDATE evidence_log_tiles SET written_at = now() WHERE level = 0", &[])
        .await
        .unwrap_err();
    let err = err.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
    assert!(err.contains("append-only"), "{err}");
}

#[tokio::test]
async fn checkpoints_follow_the_interval_and_the_month() {
    let app = spawn_app().await;
    let org = practice_with_log(&app).await;
    let first = integrator::catch_up(&app.state, org, Utc::now()).await.unwrap();
    assert_eq!(first.signed.expect("the first checkpoint").size, 2);

    // Not grown: nothing to sign, however long it has been.
    let idle = integrator::catch_up(&app.state, org, later(120)).await.unwrap();
    assert!(idle.signed.is_none());
    // Grown, but within the interval (60 s by default): not yet.
    append_synthetic(&app, org, 5).await;
    let soon = integrator::catch_up(&app.state, org, later(30)).await.unwrap();
    assert!(soon.signed.is_none());
    // After the interval: signed, consistent with the first.
    let due = integrator::catch_up(&app.state, org, later(61)).await.unwrap();
    let second = due.signed.expect("a second checkpoint");
    assert_eq!((second.size, second.month_end.as_deref()), (7, None));
    assert_eq!(checkpoints(&app, org).await, 2);

    // The first pass of a new month signs whether or not the log grew,
    // marked with the month it closes; the next pass does not repeat it.
    let now = Utc::now();
    let next_month = if now.month0() == 11 {
        Utc.with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 3).unwrap()
    } else {
        Utc.with_ymd_and_hms(now.year(), now.month() + 1, 1, 0, 0, 3).unwrap()
    };
    let closing = integrator::catch_up(&app.state, org, next_month).await.unwrap();
    let month_end = closing.signed.expect("a month-end checkpoint");
    assert_eq!(month_end.size, 7);
    assert_eq!(month_end.month_end, Some(now.format("%Y-%m").to_string()));
    let again =
        integrator::catch_up(&app.state, org, next_month + Duration::hours(1)).await.unwrap();
    assert!(again.signed.is_none());
    assert_eq!(checkpoints(&app, org).await, 3);
}

/// As an attacker who can write the database would: change a leaf, or
/// remove the tail, and the integrator refuses to sign what follows.
#[tokio::test]
async fn a_tree_inconsistent_with_the_last_checkpoint_is_never_signed() {
    let app = spawn_app().await;
    let org = practice_with_log(&app).await;
    append_synthetic(&app, org, 300).await;
    integrator::catch_up(&app.state, org, Utc::now()).await.unwrap().signed.unwrap();

    // A changed leaf inside the partial tile (its bytes are read again).
    let db = app.db_client().await;
    // Raw SQL on purpose: the attack bypasses the append-only trigger.
    db.batch_execute(&format!(
        "ALTER TABLE evidence_log_leaves DISABLE TRIGGER evidence_log_leaves_no_update_delete;
         UPDATE evidence_log_leaves SET data = convert_to('forged', 'UTF8')
          WHERE client_org_id = '{org}' AND leaf_index = 280;
         ALTER TABLE evidence_log_leaves ENABLE TRIGGER evidence_log_leaves_no_update_delete;"
    ))
    .await
    .unwrap();
    append_synthetic(&app, org, 3).await;
    let err = integrator::catch_up(&app.state, org, later(120)).await.unwrap_err().detail();
    assert!(err.contains("refusing to sign a checkpoint"), "{err}");
    assert!(err.contains("not consistent with the checkpoint"), "{err}");
    assert_eq!(checkpoints(&app, org).await, 1);

    // A truncated tail: fewer leaves than the last checkpoint.
    db.batch_execute(&format!(
        "ALTER TABLE evidence_log_leaves DISABLE TRIGGER evidence_log_leaves_no_update_delete;
         DELETE FROM evidence_log_leaves WHERE client_org_id = '{org}' AND leaf_index >= 290;
         ALTER TABLE evidence_log_leaves ENABLE TRIGGER evidence_log_leaves_no_update_delete;
         UPDATE evidence_logs SET size = 290 WHERE client_org_id = '{org}';"
    ))
    .await
    .unwrap();
    let err = integrator::catch_up(&app.state, org, later(240)).await.unwrap_err().detail();
    assert!(err.contains("fewer than the 302"), "{err}");

    // A forged checkpoint row (not signed by the log key) is not trusted
    // as the last one either.
    db.batch_execute(&format!(
        "INSERT INTO evidence_log_checkpoints (client_org_id, size, root, note)
         VALUES ('{org}', 290, '\\x{}', 'forged\n290\nAAAA\n\n— forged AAAAAAA=\n')",
        "00".repeat(32)
    ))
    .await
    .unwrap();
    append_synthetic(&app, org, 1).await;
    let err = integrator::catch_up(&app.state, org, later(360)).await.unwrap_err().detail();
    assert!(err.contains("does not verify"), "{err}");
    assert_eq!(checkpoints(&app, org).await, 2, "the forged row, nothing signed");
}
