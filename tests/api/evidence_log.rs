//! Sequencing into the practice's evidence log: receipts name their log
//! index, indices are gap-free under concurrency and after refusals, the
//! log's first leaves are the practice's past, and leaves are append-only.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use poem::http::StatusCode;
use portal::log::leaf::Leaf;
use uuid::Uuid;

use crate::appliances::{bundle, create_site, ingest, post_bundle, sign};
use crate::evidence_fixtures::{self as fixtures, check};
use crate::helpers::{TestApp, spawn_app};

/// Every leaf of the practice's log: (index, kind, parsed leaf, backfilled).
async fn leaves(app: &TestApp, org: Uuid) -> Vec<(i64, String, Leaf, bool)> {
    let db = app.db_client().await;
    let size = portal::db::evidence_log::size(&**db, org).await.unwrap().expect("a log");
    portal::db::evidence_log::leaves(&**db, org, 0, size)
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            (l.index, l.kind, Leaf::parse(&l.data).expect("a leaf in its exact form"), l.backfilled)
        })
        .collect()
}

#[tokio::test]
async fn the_first_bundle_makes_the_log_and_receipts_name_their_index() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let a = create_site(&app, p.org_id, "Main").await;
    let b = create_site(&app, p.org_id, "Annex").await;
    let now = Utc::now();
    let first = ingest(&app, &a, "B-1", now, &[("ntp", "pass", "PC", None)]).await;
    // Indices 0 and 1 are the two sites' keys, logged when the log was made.
    assert_eq!(first["log_index"], 2);
    let host = app.state.config().base_url.split_once("://").unwrap().1.to_owned();
    assert_eq!(first["log_origin"], format!("{host}/log/{}", p.org_id));
    let second = ingest(&app, &b, "B-2", now, &[("ntp", "pass", "PC", None)]).await;
    assert_eq!(second["log_index"], 3);

    // The same bundle again: the same index, nothing new logged.
    let bytes = bundle(a.id, "B-1", now, &[("ntp", "pass", "PC", None)]);
    let resp = post_bundle(&app, &bytes, &sign(&a.key, &bytes)).await;
    resp.assert_status(StatusCode::OK);
    let again: serde_json::Value =
        serde_json::from_str(&crate::helpers::body_text(resp).await).unwrap();
    assert_eq!(again["log_index"], 2);

    let logged = leaves(&app, p.org_id).await;
    assert_eq!(logged.len(), 4);
    let kinds: Vec<&str> = logged.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(kinds, ["site_key", "site_key", "evidence", "evidence"]);
    let Leaf::SiteKey(k) = &logged[0].2 else { panic!("site key first") };
    assert_eq!((k.site, k.key), (a.id, a.key.verifying_key().to_bytes()));
    let Leaf::Evidence(e) = &logged[2].2 else { panic!("evidence") };
    assert_eq!((e.site, e.position), (a.id, 0));
    assert_eq!(hex::encode(e.bundle), first["bundle_hash"].as_str().unwrap());
    assert_eq!(hex::encode(e.chain), first["chain_hash"].as_str().unwrap());
    assert_eq!(e.key, a.key.verifying_key().to_bytes());
    assert_eq!(hex::encode(e.signature), sign(&a.key, &bytes));
    assert!(logged.iter().all(|l| l.3 == (l.1 == "site_key")), "only the past is backfilled");
}

#[tokio::test]
async fn twenty_concurrent_ingests_take_gap_free_indices() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let sites = [create_site(&app, p.org_id, "A").await, create_site(&app, p.org_id, "B").await];
    let now = Utc::now();
    let bodies: Vec<(Vec<u8>, String)> = (0..20)
        .map(|i| {
            let site = &sites[i % 2];
            let bytes = bundle(site.id, &format!("C-{i}"), now, &[("ntp", "pass", "PC", None)]);
            let sig = sign(&site.key, &bytes);
            (bytes, sig)
        })
        .collect();
    let answers = futures_util::future::join_all(
        bodies.iter().map(|(bytes, sig)| post_bundle(&app, bytes, sig)),
    )
    .await;
    let mut indices = BTreeSet::new();
    for resp in answers {
        resp.assert_status(StatusCode::CREATED);
        let body: serde_json::Value =
            serde_json::from_str(&crate::helpers::body_text(resp).await).unwrap();
        indices.insert(body["log_index"].as_i64().unwrap());
    }
    assert_eq!(indices, (2..22).collect(), "one index each, no gaps, after the two site keys");
    let logged = leaves(&app, p.org_id).await;
    assert_eq!(logged.iter().map(|l| l.0).collect::<Vec<_>>(), (0..22).collect::<Vec<_>>());
    // Each site's bundles are logged in chain order.
    for site in &sites {
        let positions: Vec<u64> = logged
            .iter()
            .filter_map(|l| match &l.2 {
                Leaf::Evidence(e) if e.site == site.id => Some(e.position),
                _ => None,
            })
            .collect();
        assert_eq!(positions, (0..10).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_refused_bundle_gives_its_index_back() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let a = create_site(&app, p.org_id, "Main").await;
    let now = Utc::now();
    assert_eq!(ingest(&app, &a, "R-1", now, &[("ntp", "pass", "PC", None)]).await["log_index"], 1);
    // Same id, other bytes: 409, and nothing logged.
    let bytes = bundle(a.id, "R-1", now, &[("ntp", "fail", "PC", None)]);
    post_bundle(&app, &bytes, &sign(&a.key, &bytes)).await.assert_status(StatusCode::CONFLICT);
    assert_eq!(ingest(&app, &a, "R-2", now, &[("ntp", "pass", "PC", None)]).await["log_index"], 2);
    assert_eq!(leaves(&app, p.org_id).await.len(), 3);
}

#[tokio::test]
async fn evidence_from_before_the_log_is_logged_first_in_the_order_received() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let main = fixtures::site(&app, p.org_id, "Main").await;
    let annex = fixtures::site(&app, p.org_id, "Annex").await;
    let t = Utc::now() - Duration::days(3);
    // Stored the way the portal stored bundles before it had a log.
    let old = [
        fixtures::insert_bundle(&app, &main, t, &[check("ntp", "PC", "pass", None)]).await,
        fixtures::insert_bundle(&app, &annex, t, &[check("ntp", "PC", "pass", None)]).await,
        fixtures::insert_bundle(&app, &main, t, &[check("ntp", "PC", "fail", None)]).await,
    ];
    let site = crate::appliances::TestSite { id: main.id, org_id: p.org_id, key: main.key.clone() };
    let new = ingest(&app, &site, "NEW-1", Utc::now(), &[("ntp", "pass", "PC", None)]).await;
    assert_eq!(new["log_index"], 5, "two site keys and three old bundles come first");

    let logged = leaves(&app, p.org_id).await;
    let backfilled: Vec<bool> = logged.iter().map(|l| l.3).collect();
    assert_eq!(backfilled, [true, true, true, true, true, false]);
    let db = app.db_client().await;
    for (n, stored) in old.iter().enumerate() {
        let index: Option<i64> = db
            .query_opt(
                "SELECT leaf_index FROM evidence_log_leaves WHERE bundle_row = $1",
                &[&stored.id],
            )
            .await
            .unwrap()
            .map(|r| r.get(0));
        assert_eq!(index, Some(2 + n as i64), "bundle {n} in the order received");
        let Leaf::Evidence(e) = &logged[2 + n].2 else { panic!("evidence") };
        assert_eq!(e.bundle, stored.bundle_hash);
    }
}

#[tokio::test]
async fn a_site_made_after_the_log_logs_its_keys_and_leaves_are_append_only() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let a = create_site(&app, p.org_id, "Main").await;
    ingest(&app, &a, "S-1", Utc::now(), &[("ntp", "pass", "PC", None)]).await;
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let hex_key = hex::encode(key.verifying_key().as_bytes());
    let annex = portal::admin::create_site(
        &app.pool,
        p.org_id,
        "Annex",
        portal::admin::SiteKey::Public(&hex_key),
    )
    .await
    .unwrap();
    let logged = leaves(&app, p.org_id).await;
    assert_eq!(logged.len(), 3);
    let Leaf::SiteKey(k) = &logged[2].2 else { panic!("the new site's keys") };
    assert_eq!((k.site, k.key, k.witness), (annex, key.verifying_key().to_bytes(), None));
    assert!(!logged[2].3);

    let db = app.db_client().await;
    for sql in [
        "UPDATE evidence_log_leaves SET data = 'x' WHERE leaf_index = 0",
        "DELETE FROM evidence_log_leaves WHERE leaf_index = 2",
        "TRUNCATE evidence_log_leaves CASCADE",
    ] {
        let err = db.batch_execute(sql).await.expect_err(sql);
        let message = err.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
        assert!(message.contains("append-only"), "{sql}: {err:?}");
    }
}

#[tokio::test]
async fn resending_a_bundle_from_before_the_log_makes_the_log_and_answers_its_index() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let main = fixtures::site(&app, p.org_id, "Main").await;
    let t = Utc::now() - Duration::days(3);
    let old = fixtures::insert_bundle(&app, &main, t, &[check("ntp", "PC", "pass", None)]).await;
    let resp = post_bundle(&app, &old.raw, &hex::encode(old.signature)).await;
    assert_eq!(resp.0.status(), StatusCode::OK, "the same bundle again");
    let receipt: serde_json::Value =
        serde_json::from_str(&crate::helpers::body_text(resp).await).unwrap();
    assert_eq!(receipt["log_index"], 1, "after the site's keys, backfilled by this resend");
    let host = app.state.config().base_url.split_once("://").unwrap().1.to_owned();
    assert_eq!(receipt["log_origin"], format!("{host}/log/{}", p.org_id));
    let logged = leaves(&app, p.org_id).await;
    assert_eq!(logged.len(), 2);
    assert!(logged.iter().all(|l| l.3), "both backfilled");
}

/// Sequencing once went through a queue (V10) and kept each bundle's index
/// on the bundle row. V11 moves those indices onto the leaves and gives
/// leaves still queued (an ingest that stopped between its commit and its
/// sequencing step) the next indices, in queue order.
#[tokio::test]
async fn migration_11_moves_bundle_indices_to_leaves_and_sequences_leaves_still_queued() {
    let db = crate::helpers::TestDb::empty().await;
    db.migrate_to(Some(10)).await;
    let app = crate::helpers::app_on(db).await;
    let p = app.practice("Oak Clinic").await;
    let main = fixtures::site(&app, p.org_id, "Main").await;
    let t = Utc::now() - Duration::hours(1);
    let logged = fixtures::insert_bundle(&app, &main, t, &[check("ntp", "PC", "pass", None)]).await;
    let queued = fixtures::insert_bundle(&app, &main, t, &[check("ntp", "PC", "fail", None)]).await;
    let key = main.key.verifying_key().to_bytes();
    let leaf_of = |b: &fixtures::Stored| {
        portal::evidence::log::evidence_leaf(&portal::evidence::log::EvidenceFacts {
            site_id: main.id,
            chain_position: b.position,
            bundle_hash: &b.bundle_hash,
            chain_hash: &b.chain_hash,
            key: &key,
            signature: &b.signature,
            received_at: t,
        })
        .unwrap()
        .encode()
    };
    let site_key = portal::evidence::log::site_key_leaf(main.id, &key, None, t).unwrap().encode();
    let origin = portal::evidence::log::origin_for(&app.state.config().base_url, p.org_id);
    // The V10 state, in SQL: leaves 0 (the site's keys) and 1 (a bundle,
    // its index on the bundle row), and two leaves still queued.
    let client = app.db_client().await;
    client
        .execute(
            "INSERT INTO evidence_logs (client_org_id, origin, size) VALUES ($1, $2, 2)",
            &[&p.org_id, &origin],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO evidence_log_leaves (client_org_id, leaf_index, kind, data)
             VALUES ($1, 0, 'site_key', $2), ($1, 1, 'evidence', $3)",
            &[&p.org_id, &site_key, &leaf_of(&logged)],
        )
        .await
        .unwrap();
    client
        .execute("UPDATE evidence_bundles SET log_index = 1 WHERE id = $1", &[&logged.id])
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO evidence_log_pending (client_org_id, kind, data, bundle_row)
             VALUES ($1, 'evidence', $2, $3), ($1, 'site_key', $4, NULL)",
            &[&p.org_id, &leaf_of(&queued), &queued.id, &site_key],
        )
        .await
        .unwrap();
    drop(client);

    app.db.migrate_to(None).await;
    let leaves = leaves(&app, p.org_id).await;
    let kinds: Vec<&str> = leaves.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(kinds, ["site_key", "evidence", "evidence", "site_key"], "in queue order");
    assert_eq!(leaves[2].2, Leaf::parse(&leaf_of(&queued)).unwrap());
    let client = app.db_client().await;
    for (bundle, index) in [(&logged, 1i64), (&queued, 2)] {
        let found: i64 = client
            .query_one(
                "SELECT leaf_index FROM evidence_log_leaves WHERE bundle_row = $1",
                &[&bundle.id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(found, index);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM pg_tables WHERE tablename = 'evidence_log_pending'", &[])
            .await,
        0
    );
    drop(client);
    // And the log goes on from there.
    let site = crate::appliances::TestSite { id: main.id, org_id: p.org_id, key: main.key.clone() };
    let next = ingest(&app, &site, "NEXT-1", Utc::now(), &[("ntp", "pass", "PC", None)]).await;
    assert_eq!(next["log_index"], 4);
}
