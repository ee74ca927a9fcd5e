//! POST /api/appliance/evidence/batch: many signed bundles in one request,
//! each answered as the single-bundle endpoint would answer it.

use base64::Engine as _;
use chrono::{Duration, Utc};
use poem::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::appliances::{CheckSpec, TestSite, bundle, create_site, post_bundle, sign};
use crate::helpers::{TestApp, expect_json, spawn_app};

const PATH: &str = "/api/appliance/evidence/batch";

fn entry(bytes: &[u8], signature: &str) -> Value {
    json!({ "bundle": base64::engine::general_purpose::STANDARD.encode(bytes), "signature": signature })
}

fn signed(site: &TestSite, bytes: &[u8]) -> Value {
    entry(bytes, &sign(&site.key, bytes))
}

async fn post_batch(app: &TestApp, body: &Value) -> poem::test::TestResponse {
    post_raw(app, serde_json::to_vec(body).unwrap()).await
}

async fn post_raw(app: &TestApp, body: Vec<u8>) -> poem::test::TestResponse {
    app.client.post(PATH).content_type("application/json").body(body).send().await
}

fn statuses(answer: &Value) -> Vec<u64> {
    answer["answers"].as_array().unwrap().iter().map(|a| a["status"].as_u64().unwrap()).collect()
}

/// A day of a site's checks: the firewall fails at slots 2 and 3 and
/// passes again at 4, a warning appears at 5.
fn day(slot: i64) -> Vec<CheckSpec<'static>> {
    let firewall = if slot == 2 || slot == 3 { "non_compliant" } else { "compliant" };
    let av = if slot >= 5 { "warning" } else { "compliant" };
    vec![
        ("bitlocker_status", "compliant", "WS-01", Some("164.312(a)(2)(iv)")),
        ("firewall_status", firewall, "WS-01", None),
        ("antivirus_status", av, "WS-02", None),
    ]
}

/// What a site's bundles left behind, with nothing that names the site:
/// (position, bundle hash, result), check states, notifications.
async fn footprint(app: &TestApp, site: uuid::Uuid) -> Value {
    let db = app.db_client().await;
    let bundles = db
        .query(
            "SELECT chain_position, bundle_id, result, checks_count, failed_checks, warn_checks
               FROM evidence_bundles WHERE site_id = $1 ORDER BY chain_position",
            &[&site],
        )
        .await
        .unwrap();
    let bundles: Vec<Value> = bundles
        .iter()
        .map(|r| {
            let id: String = r.get(1);
            json!([
                r.get::<_, i64>(0),
                id.split('-').next_back(),
                r.get::<_, String>(2),
                r.get::<_, i32>(3),
                r.get::<_, i32>(4),
                r.get::<_, i32>(5)
            ])
        })
        .collect();
    let checks = db
        .query(
            "SELECT b.chain_position, c.check_type, c.host, c.status
               FROM evidence_checks c JOIN evidence_bundles b ON b.id = c.evidence_id
              WHERE c.site_id = $1 ORDER BY 1, 2, 3",
            &[&site],
        )
        .await
        .unwrap();
    let checks: Vec<Value> = checks
        .iter()
        .map(|r| {
            json!([
                r.get::<_, i64>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, String>(3)
            ])
        })
        .collect();
    let states = db
        .query(
            "SELECT s.check_type, s.host, s.last_status, s.changed_at, s.last_seen_at, b.chain_position
               FROM check_states s JOIN evidence_bundles b ON b.id = s.last_evidence_id
              WHERE s.site_id = $1 ORDER BY 1, 2",
            &[&site],
        )
        .await
        .unwrap();
    let states: Vec<Value> = states
        .iter()
        .map(|r| {
            json!([
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, chrono::DateTime<Utc>>(3).to_rfc3339(),
                r.get::<_, chrono::DateTime<Utc>>(4).to_rfc3339(),
                r.get::<_, i64>(5)
            ])
        })
        .collect();
    let notes = db
        .query(
            "SELECT type, severity, title, message, occurrences FROM client_notifications
              WHERE site_id = $1 ORDER BY type, title",
            &[&site],
        )
        .await
        .unwrap();
    let notes: Vec<Value> = notes
        .iter()
        .map(|r| {
            json!([
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, String>(3),
                r.get::<_, i32>(4)
            ])
        })
        .collect();
    let mail = db
        .query(
            "SELECT count(*) FROM email_outbox
              WHERE kind = 'critical_alert' AND digest_key LIKE 'critical_alert:' || $1::text || ':%'",
            &[&site.to_string()],
        )
        .await
        .unwrap();
    json!({ "bundles": bundles, "checks": checks, "states": states, "notifications": notes,
            "alerts": mail[0].get::<_, i64>(0) })
}

/// Six bundles in one batch leave exactly what the same six pushed one by
/// one leave (chain, checks, check states, notifications, alert mail), and
/// the practice verifies against its log.
#[tokio::test]
async fn a_batch_leaves_what_the_same_bundles_pushed_one_by_one_leave() {
    let app = spawn_app().await;
    let batched = app.practice("Batch Clinic").await;
    let single = app.practice("Single Clinic").await;
    let a = create_site(&app, batched.org_id, "Main Street").await;
    let b = create_site(&app, single.org_id, "Main Street").await;
    let start = Utc::now() - Duration::hours(7);
    let mut entries = Vec::new();
    for slot in 0..6 {
        let at = start + Duration::hours(slot);
        let raw_a = bundle(a.id, &format!("CB-{slot}"), at, &day(slot));
        entries.push(signed(&a, &raw_a));
        let raw_b = bundle(b.id, &format!("CB-{slot}"), at, &day(slot));
        expect_json(post_bundle(&app, &raw_b, &sign(&b.key, &raw_b)).await, StatusCode::CREATED)
            .await;
    }
    let answer = expect_json(
        post_batch(&app, &json!({ "bundles": entries, "appliance": "ref-1.0" })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(statuses(&answer), [201; 6]);
    assert_eq!((answer["created"].as_u64(), answer["refused"].as_u64()), (Some(6), Some(0)));
    let first = &answer["answers"][0]["receipt"];
    let raw0 = bundle(a.id, "CB-0", start, &day(0));
    assert_eq!(first["bundle_hash"], hex::encode(Sha256::digest(&raw0)));
    assert_eq!(
        first["chain_hash"],
        hex::encode(portal::evidence::chain::chain_hash(
            a.id,
            0,
            &[0; 32],
            &Sha256::digest(&raw0).into()
        ))
    );
    // The practice's log: its site's key at 0, then the bundles in order.
    let indices: Vec<i64> = answer["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["receipt"]["log_index"].as_i64().unwrap())
        .collect();
    assert_eq!(indices, [1, 2, 3, 4, 5, 6]);
    let positions: Vec<i64> = answer["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["receipt"]["chain_position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, [0, 1, 2, 3, 4, 5]);
    assert!(first["log_origin"].as_str().unwrap().ends_with(&batched.org_id.to_string()));

    let (fa, fb) = (footprint(&app, a.id).await, footprint(&app, b.id).await);
    assert_eq!(fa, fb, "batched and one by one differ");
    assert!(fa["notifications"].as_array().unwrap().len() >= 3, "{fa}");

    let job =
        portal::evidence::integrity::verify_now(&app.state, batched.org_id, None).await.unwrap();
    assert_eq!(job.valid, Some(true), "{:?}", job.problems);
    assert_eq!(job.size, 7);
    // A later single bundle follows the batch's chain.
    let raw = bundle(a.id, "CB-6", start + Duration::hours(6), &day(6));
    let r =
        expect_json(post_bundle(&app, &raw, &sign(&a.key, &raw)).await, StatusCode::CREATED).await;
    assert_eq!((r["chain_position"].as_i64(), r["log_index"].as_i64()), (Some(6), Some(7)));
}

/// Each bundle is answered on its own: bad ones are refused with the
/// single endpoint's status and message, good ones are stored.
#[tokio::test]
async fn a_bad_bundle_never_sinks_the_good_ones() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let other = app.practice("Elm Clinic").await;
    let elsewhere = create_site(&app, other.org_id, "Elm Street").await;
    let at = Utc::now() - Duration::minutes(30);
    let checks = day(0);
    let earlier = bundle(site.id, "CB-early", at, &checks);
    let early = expect_json(
        post_bundle(&app, &earlier, &sign(&site.key, &earlier)).await,
        StatusCode::CREATED,
    )
    .await;

    let good = bundle(site.id, "CB-1", at, &checks);
    let good2 = bundle(site.id, "CB-2", at, &checks);
    let other_contents = bundle(site.id, "CB-1", at + Duration::seconds(1), &checks);
    let not_json = br#"{"site_id": "00000000-0000-0000-0000-000000000000"}"#.to_vec();
    let bad_format = {
        let mut v: Value = serde_json::from_slice(&good2).unwrap();
        v["bundle_id"] = json!("CB-bad");
        v["checks"] = json!([]);
        serde_json::to_vec(&v).unwrap()
    };
    let unknown_site = bundle(uuid::Uuid::new_v4(), "CB-x", at, &checks);
    let in_other_practice = bundle(elsewhere.id, "CB-e", at, &checks);
    let body = json!({ "bundles": [
        signed(&site, &good),                      // 201
        entry(&good2, &sign(&elsewhere.key, &good2)), // 401: another site's key
        signed(&site, &bad_format),                // 400: no checks
        signed(&site, &good),                      // 200: the same as item 0
        signed(&site, &other_contents),            // 409: CB-1 with other bytes
        signed(&site, &unknown_site),              // 401: no such site
        entry(&good2, "zz"),                       // 401: not a signature
        signed(&site, &earlier),                   // 200: stored before
        entry(&not_json, &sign(&site.key, &not_json)), // 401: site id of no site
        signed(&elsewhere, &in_other_practice),    // 201: another practice
        json!({ "bundle": "***", "signature": "00" }), // 400: not base64
        signed(&site, &good2),                     // 201
    ]});
    let answer = expect_json(post_batch(&app, &body).await, StatusCode::OK).await;
    assert_eq!(
        statuses(&answer),
        [201, 401, 400, 200, 409, 401, 401, 200, 401, 201, 400, 201],
        "{answer}"
    );
    assert_eq!(
        (
            answer["created"].as_u64(),
            answer["already_received"].as_u64(),
            answer["refused"].as_u64()
        ),
        (Some(3), Some(2), Some(7))
    );
    let a = &answer["answers"];
    assert_eq!(a[0]["receipt"], a[3]["receipt"], "a repeat gets the first's receipt");
    assert_eq!(a[7]["receipt"], early, "a resend gets the original receipt");
    assert_eq!(a[1]["error"], "unauthorized");
    assert_eq!(a[1]["message"].as_str().unwrap(), portal::evidence::ingest::NOT_AUTHENTICATED);
    assert_eq!(a[5]["message"], a[1]["message"], "an unknown site reads as a bad signature");
    assert!(a[2]["message"].as_str().unwrap().contains("check"), "{}", a[2]);
    assert!(a[4]["message"].as_str().unwrap().contains("already received with different contents"));
    assert!(a[0]["error"].is_null() && a[1]["receipt"].is_null());
    assert!(a[0].get("error").is_none() && a[1].get("receipt").is_none(), "absent, not null");
    assert_eq!(
        (a[0]["receipt"]["chain_position"].as_i64(), a[11]["receipt"]["chain_position"].as_i64()),
        (Some(1), Some(2))
    );
    assert!(a[10]["message"].as_str().unwrap().contains("not standard base64"), "{}", a[10]);
    assert_eq!(a[9]["receipt"]["chain_position"], 0);
    assert!(a[9]["receipt"]["log_origin"].as_str().unwrap().ends_with(&other.org_id.to_string()));

    let stored =
        app.count("SELECT count(*) FROM evidence_bundles WHERE site_id = $1", &[&site.id]).await;
    assert_eq!(stored, 3, "CB-early, CB-1, CB-2");
    for org in [p.org_id, other.org_id] {
        let job = portal::evidence::integrity::verify_now(&app.state, org, None).await.unwrap();
        assert_eq!(job.valid, Some(true), "{:?}", job.problems);
    }
}

/// A body that is not a batch is refused whole, with a message, and
/// stores nothing.
#[tokio::test]
async fn a_body_that_is_not_a_batch_is_refused_whole() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let good = bundle(site.id, "CB-1", Utc::now(), &day(0));
    let one = signed(&site, &good);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "not a batch"),
        (br#"{"bundles": "CB-1"}"#.to_vec(), "not a batch"),
        (br#"{"bundles": []}"#.to_vec(), "1 to 500"),
        (serde_json::to_vec(&json!({ "bundles": vec![one.clone(); 501] })).unwrap(), "1 to 500"),
        (
            serde_json::to_vec(&json!({ "bundles": [{ "signature": "00" }] })).unwrap(),
            "not a batch",
        ),
    ];
    for (body, says) in cases {
        let resp = post_raw(&app, body).await;
        let v = expect_json(resp, StatusCode::BAD_REQUEST).await;
        assert!(v["message"].as_str().unwrap().contains(says), "{v} should say {says}");
    }
    let resp = app
        .client
        .post(PATH)
        .content_type("text/plain")
        .body(serde_json::to_vec(&json!({"bundles": [one]})).unwrap())
        .send()
        .await;
    resp.assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = vec![b' '; portal::evidence::limits::MAX_BATCH_BYTES + 1];
    let resp = post_raw(&app, big).await;
    resp.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.rows_in("evidence_bundles").await, 0);
}

/// The practice's state and the site's rate are each bundle's: a
/// suspended practice's bundles get 403, a site past its limit 429 with
/// when to retry, while the other bundles of the batch are stored.
#[tokio::test]
async fn suspended_practices_and_site_rates_are_answered_per_bundle() {
    let app = crate::helpers::spawn_app_with(|c| c.ingest_per_site = 3).await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let q = app.practice("Quiet Clinic").await;
    let suspended = create_site(&app, q.org_id, "Side Street").await;
    {
        let db = app.db_client().await;
        // Raw SQL on purpose: suspending a practice is an operator's act.
        db.execute("UPDATE client_orgs SET status = 'suspended' WHERE id = $1", &[&q.org_id])
            .await
            .unwrap();
    }
    let at = Utc::now() - Duration::minutes(10);
    let mut bundles: Vec<Value> =
        (0..4).map(|i| signed(&site, &bundle(site.id, &format!("CB-{i}"), at, &day(0)))).collect();
    bundles.push(signed(&suspended, &bundle(suspended.id, "CB-s", at, &day(0))));
    let answer =
        expect_json(post_batch(&app, &json!({ "bundles": bundles })).await, StatusCode::OK).await;
    assert_eq!(statuses(&answer), [201, 201, 201, 429, 403], "{answer}");
    let limited = &answer["answers"][3];
    assert!(limited["retry_after"].as_u64().unwrap() > 0);
    assert!(limited["message"].as_str().unwrap().contains("more than 3 bundles in a minute"));
    assert!(answer["answers"][4]["message"].as_str().unwrap().contains("not active"));
    assert_eq!(app.rows_in("evidence_bundles").await, 3);
}

/// The reference client pushes through the batch endpoint: a week's
/// backlog of one site in requests of at most 500.
#[tokio::test]
async fn the_reference_client_flushes_a_backlog_in_batches() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = spawn_app().await;
    let server = crate::helpers::spawn_server(&app).await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let dir = crate::helpers::TempDir::new();
    let start = Utc::now() - Duration::days(7);
    let files: Vec<std::path::PathBuf> = (0..1100)
        .map(|i| {
            let path = dir.path().join(format!("b{i:04}.json"));
            let raw = bundle(
                site.id,
                &format!("CB-{i:04}"),
                start + Duration::minutes(9 * i),
                &day(i % 7),
            );
            std::fs::write(&path, raw).unwrap();
            path
        })
        .collect();
    let pushed =
        portal::appliance::push(&server.base_url, site.id, &site.key, &files).await.unwrap();
    assert_eq!(pushed.len(), 1100);
    assert!(pushed.iter().all(|p| p.created));
    assert_eq!(pushed[1099].chain_position, 1099);
    assert_eq!(pushed[0].log_index, 1);
    let requests = app
        .count(
            "SELECT count(DISTINCT received_at) FROM evidence_bundles WHERE site_id = $1",
            &[&site.id],
        )
        .await;
    assert_eq!(requests, 3, "500 + 500 + 100, one transaction each");
    // Pushed again: every bundle was received before.
    let again =
        portal::appliance::push(&server.base_url, site.id, &site.key, &files[..10]).await.unwrap();
    assert!(again.iter().all(|p| !p.created));
    assert_eq!(again[9].chain_position, 9);
}

/// Single bundles pushed at the same moment, to two sites of one
/// practice: each is answered as if alone, a bad one sinks none of the
/// others, and every chain and the log stay whole.
#[tokio::test]
async fn single_bundles_pushed_at_once_are_each_answered_and_chained() {
    let app = spawn_app().await;
    let p = app.practice("Busy Clinic").await;
    let a = create_site(&app, p.org_id, "Main Street").await;
    let b = create_site(&app, p.org_id, "Side Street").await;
    let start = Utc::now() - Duration::hours(3);
    let mut pushes = Vec::new();
    for n in 0..24 {
        let site = if n % 2 == 0 { &a } else { &b };
        let raw = bundle(site.id, &format!("CB-{n}"), start + Duration::minutes(n), &day(n % 6));
        // Bundle 7 is signed with the other site's key.
        let key = if n == 7 { &a.key } else { &site.key };
        pushes.push((raw.clone(), sign(key, &raw)));
    }
    let answers = futures_util::future::join_all(pushes.iter().map(|(raw, sig)| async {
        let resp = post_bundle(&app, raw, sig).await;
        let status = resp.0.status();
        (status, crate::helpers::body_json(resp).await)
    }))
    .await;
    for (n, (status, body)) in answers.iter().enumerate() {
        let want = if n == 7 { StatusCode::UNAUTHORIZED } else { StatusCode::CREATED };
        assert_eq!(*status, want, "bundle {n}: {body}");
    }
    assert!(
        answers[7].1["message"].as_str().unwrap().contains("does not verify"),
        "{:?}",
        answers[7]
    );
    for site in [&a, &b] {
        let mut positions: Vec<i64> = answers
            .iter()
            .filter(|(s, body)| *s == StatusCode::CREATED && body["site_id"] == site.id.to_string())
            .map(|(_, body)| body["chain_position"].as_i64().unwrap())
            .collect();
        positions.sort();
        let want = if site.id == a.id { 12 } else { 11 };
        assert_eq!(positions, (0..want).collect::<Vec<i64>>(), "one chain, no gap");
    }
    let job = portal::evidence::integrity::verify_now(&app.state, p.org_id, None).await.unwrap();
    assert_eq!(job.valid, Some(true), "{:?}", job.problems);
    assert_eq!(job.size, 2 + 23, "two site keys and 23 bundles");
    // The same bundle again: its original receipt.
    let (raw, sig) = &pushes[0];
    let again = expect_json(post_bundle(&app, raw, sig).await, StatusCode::OK).await;
    assert_eq!(again["chain_hash"], answers[0].1["chain_hash"]);
}
