//! POST /api/appliance/evidence: signed bundles into a per-site hash chain.

use chrono::{Duration, Utc};
use ed25519_dalek::SigningKey;
use poem::http::StatusCode;
use sha2::{Digest, Sha256};

use crate::appliances::{bundle, create_site, ingest, post_bundle, sign};
use crate::helpers::{Expect, TestApp, body_json, expect_json, spawn_app};

const BITLOCKER: &str = "164.312(a)(2)(iv)";

#[tokio::test]
async fn a_signed_bundle_is_stored_and_chained() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let at = Utc::now() - Duration::minutes(5);
    let bytes = bundle(
        site.id,
        "CB-1",
        at,
        &[
            ("bitlocker_status", "compliant", "FRONTDESK-01", Some(BITLOCKER)),
            ("firewall_status", "non_compliant", "FRONTDESK-01", None),
        ],
    );
    let resp = post_bundle(&app, &bytes, &sign(&site.key, &bytes)).await;
    let receipt = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(receipt["bundle_id"], "CB-1");
    assert_eq!(receipt["site_id"], site.id.to_string());
    assert_eq!(receipt["chain_position"], 0);
    assert_eq!(receipt["bundle_hash"], hex::encode(Sha256::digest(&bytes)));
    let expected_chain =
        portal::evidence::chain::chain_hash(site.id, 0, &[0; 32], &Sha256::digest(&bytes).into());
    assert_eq!(receipt["chain_hash"], hex::encode(expected_chain));

    let db = app.db_client().await;
    let row = db
        .query_one("SELECT raw, result, checks_count, failed_checks FROM evidence_bundles WHERE bundle_id = 'CB-1'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<u8>>(0), bytes, "the exact bytes, never re-serialized");
    assert_eq!(row.get::<_, String>(1), "fail", "the worst check");
    assert_eq!((row.get::<_, i32>(2), row.get::<_, i32>(3)), (2, 1));
    let checks = db
        .query(
            "SELECT check_type, status, raw_status FROM evidence_checks ORDER BY check_type",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, String)> =
        checks.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        got,
        [
            ("bitlocker_status".into(), "pass".into(), "compliant".into()),
            ("firewall_status".into(), "fail".into(), "non_compliant".into())
        ]
    );
    let site_row = db
        .query_one("SELECT chain_length, chain_head_hash FROM sites WHERE id = $1", &[&site.id])
        .await
        .unwrap();
    assert_eq!(site_row.get::<_, i64>(0), 1);
    assert_eq!(site_row.get::<_, Vec<u8>>(1), expected_chain.to_vec());
}

#[tokio::test]
async fn a_resend_is_idempotent_and_other_bytes_under_the_same_id_conflict() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let at = Utc::now();
    let bytes = bundle(site.id, "CB-2", at, &[("ntp_sync", "pass", "SRV-01", Some("164.312(b)"))]);
    let sig = sign(&site.key, &bytes);
    let first = body_json({
        let r = post_bundle(&app, &bytes, &sig).await;
        r.assert_status(StatusCode::CREATED);
        r
    })
    .await;
    let again = post_bundle(&app, &bytes, &sig).await;
    assert_eq!(expect_json(again, StatusCode::OK).await, first);

    let other = bundle(site.id, "CB-2", at, &[("ntp_sync", "fail", "SRV-01", Some("164.312(b)"))]);
    let resp = post_bundle(&app, &other, &sign(&site.key, &other)).await;
    assert!(
        expect_json(resp, StatusCode::CONFLICT).await["message"]
            .as_str()
            .unwrap()
            .contains("different contents")
    );
    assert_eq!(app.rows_in("evidence_bundles").await, 1);
}

/// Finding 8: details used to pass through f64, so the page and the API
/// showed numbers other than the signed ones. Now they keep every digit.
#[tokio::test]
async fn details_keep_the_exact_numbers_the_appliance_signed() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let exact = ["0.1000000000000000055511151231257827", "123456789012345678901234567890", "-7.25"];
    let bytes = format!(
        r#"{{"bundle_id":"CB-EXACT","site_id":"{site}","checked_at":"{at}","checks":[{{"check":"disk_free","status":"pass","host":"SRV-01","details":{{"ratio":{},"bytes":{},"delta":{}}}}}],"summary":{{"total_checks":1,"compliant":1,"non_compliant":0,"errors":0}}}}"#,
        exact[0],
        exact[1],
        exact[2],
        site = site.id,
        at = Utc::now().to_rfc3339(),
    )
    .into_bytes();
    post_bundle(&app, &bytes, &sign(&site.key, &bytes)).await.assert_status(StatusCode::CREATED);
    let api =
        app.get_as(&p.viewer, "/api/client/evidence/CB-EXACT").expect_text(StatusCode::OK).await;
    let page = app
        .get_as(&p.viewer, &format!("/client/evidence/CB-EXACT?site_id={}", site.id))
        .expect_text(StatusCode::OK)
        .await;
    let details = &serde_json::from_str::<serde_json::Value>(&api).unwrap()["checks"][0]["details"];
    for (field, n) in ["ratio", "bytes", "delta"].into_iter().zip(exact) {
        assert!(details[field].is_number(), "{field} stays a number: {details}");
        assert_eq!(details[field].to_string(), n);
    }
    for n in exact {
        assert!(api.contains(n), "the API shows {n}: {api}");
        assert!(page.contains(n), "the page shows {n}");
    }
}

/// The summary only repeats the checks: one that disagrees (here a warning
/// counted as neither compliant nor an error, and a wrong total) costs no
/// evidence. The bundle is stored as signed, the checks are what counts,
/// and the page and the API say what disagreed. Its shape still matters.
#[tokio::test]
async fn a_bundle_whose_summary_disagrees_is_stored_and_flagged_not_refused() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let body = |id: &str, summary: &str| {
        format!(
            r#"{{"bundle_id":"{id}","site_id":"{site}","checked_at":"{at}","checks":[{{"check":"ntp_sync","status":"pass","host":"SRV-01"}},{{"check":"backup_status","status":"warning","host":"NAS"}}],"summary":{summary}}}"#,
            site = site.id,
            at = Utc::now().to_rfc3339(),
        )
        .into_bytes()
    };
    let bytes =
        body("CB-SUMMARY", r#"{"total_checks":3,"compliant":1,"non_compliant":0,"errors":0}"#);
    post_bundle(&app, &bytes, &sign(&site.key, &bytes)).await.assert_status(StatusCode::CREATED);
    let api =
        app.get_as(&p.viewer, "/api/client/evidence/CB-SUMMARY").expect_json(StatusCode::OK).await;
    let warnings: Vec<&str> =
        api["format_warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("summary.total_checks says 3 but the bundle has 2"),
        "{warnings:?}"
    );
    assert!(warnings[1].starts_with("summary.errors says 0 but the bundle has 1"), "{warnings:?}");
    assert_eq!(api["warn_checks"], 1, "the checks count, not the summary");
    assert_eq!(api["result"], "warn");
    let page = app
        .get_as(&p.viewer, &format!("/client/evidence/CB-SUMMARY?site_id={}", site.id))
        .expect_text(StatusCode::OK)
        .await;
    assert!(page.contains("id=\"format-warnings\""), "{page}");
    assert!(page.contains("summary.total_checks says 3"));
    // The exact bytes are kept.
    let raw = app
        .get_as(&p.viewer, "/api/client/evidence/CB-SUMMARY/download")
        .expect_status(StatusCode::OK)
        .await;
    assert_eq!(raw.body, bytes);
    // An agreeing bundle has none.
    let fine = body("CB-FINE", r#"{"total_checks":2,"compliant":1,"non_compliant":0,"errors":1}"#);
    post_bundle(&app, &fine, &sign(&site.key, &fine)).await.assert_status(StatusCode::CREATED);
    let api =
        app.get_as(&p.viewer, "/api/client/evidence/CB-FINE").expect_json(StatusCode::OK).await;
    assert_eq!(api["format_warnings"], serde_json::json!([]));
    // A summary of the wrong shape is still refused.
    let bad = body("CB-BAD", r#"{"total_checks":2,"compliant":1,"non_compliant":0,"errors":-1}"#);
    post_bundle(&app, &bad, &sign(&site.key, &bad)).await.assert_status(StatusCode::BAD_REQUEST);
}

/// Ids are the site's own: another site (of this practice or another) may
/// use the same id without a conflict, and nothing tells an appliance
/// which ids exist elsewhere. Within a practice, a shared id needs the site.
#[tokio::test]
async fn bundle_ids_are_unique_per_site_and_lookups_stay_in_the_practice() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let q = app.practice("Elm Clinic").await;
    let main = create_site(&app, p.org_id, "Main Street").await;
    let annex = create_site(&app, p.org_id, "Annex").await;
    let elm = create_site(&app, q.org_id, "Elm").await;
    let at = Utc::now();
    for site in [&main, &annex, &elm] {
        let bytes = bundle(site.id, "CB-SAME", at, &[("ntp_sync", "pass", "SRV-01", None)]);
        post_bundle(&app, &bytes, &sign(&site.key, &bytes))
            .await
            .assert_status(StatusCode::CREATED);
    }
    assert_eq!(app.rows_in("evidence_bundles").await, 3);

    // Elm's owner sees its own bundle; Oak's id is shared by two sites.
    let elm_view =
        app.get_as(&q.owner, "/api/client/evidence/CB-SAME").expect_json(StatusCode::OK).await;
    assert_eq!(elm_view["site_id"], elm.id.to_string());
    let msg = app
        .get_as(&p.viewer, "/api/client/evidence/CB-SAME")
        .expect_error(StatusCode::CONFLICT, "site_id")
        .await;
    assert!(msg.contains("2 sites of your practice"), "{msg}");
    let annex_view = app
        .get_as(&p.viewer, &format!("/api/client/evidence/CB-SAME?site_id={}", annex.id))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(annex_view["site_id"], annex.id.to_string());
    // Another practice's site named: not found, as for any other id.
    app.get_as(&p.viewer, &format!("/api/client/evidence/CB-SAME?site_id={}", elm.id))
        .expect_status(StatusCode::NOT_FOUND)
        .await;
    app.get_as(&p.viewer, &format!("/client/evidence/CB-SAME?site_id={}", main.id))
        .expect_status(StatusCode::OK)
        .await;
    app.get_as(&p.viewer, "/client/evidence/CB-SAME?site_id=nope")
        .expect_status(StatusCode::BAD_REQUEST)
        .await;
}

#[tokio::test]
async fn bad_bundles_are_refused_with_a_reason_and_nothing_is_stored() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let good = bundle(site.id, "CB-3", Utc::now(), &[("ntp_sync", "pass", "SRV-01", None)]);

    let cases: Vec<(Vec<u8>, String, StatusCode, &str)> = vec![
        (b"{not json".to_vec(), sign(&site.key, b"{not json"), StatusCode::BAD_REQUEST, "JSON"),
        (
            br#"{"bundle_id":"x"}"#.to_vec(),
            sign(&site.key, br#"{"bundle_id":"x"}"#),
            StatusCode::BAD_REQUEST,
            "site_id",
        ),
        {
            let b = bundle(site.id, "CB-4", Utc::now(), &[("ntp_sync", "pass", "SRV-01", None)]);
            let b = String::from_utf8(b).unwrap().replace("\"pass\"", "\"maybe\"").into_bytes();
            let s = sign(&site.key, &b);
            (b, s, StatusCode::BAD_REQUEST, "checks[0].status")
        },
        {
            let b = bundle(
                uuid::Uuid::new_v4(),
                "CB-5",
                Utc::now(),
                &[("ntp_sync", "pass", "SRV-01", None)],
            );
            let s = sign(&site.key, &b);
            (b, s, StatusCode::UNAUTHORIZED, "no such site is registered")
        },
        (
            good.clone(),
            sign(&SigningKey::from_bytes(&[7; 32]), &good),
            StatusCode::UNAUTHORIZED,
            "signature",
        ),
        (good.clone(), "zz".repeat(64), StatusCode::UNAUTHORIZED, "128 hex"),
    ];
    for (bytes, sig, status, says) in cases {
        let resp = post_bundle(&app, &bytes, &sig).await;
        let body = expect_json(resp, status).await;
        assert!(body["message"].as_str().unwrap().contains(says), "{says}: {body}");
    }
    // An unknown site and a wrong key read the same: an unauthenticated
    // caller learns nothing about which site ids exist.
    let unknown =
        bundle(uuid::Uuid::new_v4(), "CB-6", Utc::now(), &[("ntp_sync", "pass", "SRV-01", None)]);
    let wrong_key = sign(&SigningKey::from_bytes(&[7; 32]), &good);
    let a = expect_json(
        post_bundle(&app, &unknown, &sign(&site.key, &unknown)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let b = expect_json(post_bundle(&app, &good, &wrong_key).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(a, b, "one answer");
    let resp = app
        .client
        .post("/api/appliance/evidence")
        .content_type("application/json")
        .body(good.clone())
        .send()
        .await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    let resp = app
        .client
        .post("/api/appliance/evidence")
        .content_type("text/plain")
        .header("x-agent-signature", sign(&site.key, &good))
        .body(good.clone())
        .send()
        .await;
    resp.assert_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for table in ["evidence_bundles", "evidence_checks", "check_states"] {
        assert_eq!(app.rows_in(table).await, 0, "{table}");
    }
}

#[tokio::test]
async fn a_bundle_over_one_mebibyte_is_413() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let big = vec![b' '; 1024 * 1024 + 1];
    let resp = post_bundle(&app, &big, &sign(&site.key, &big)).await;
    assert_eq!(
        expect_json(resp, StatusCode::PAYLOAD_TOO_LARGE).await["error"],
        "payload_too_large"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_appends_to_one_site_form_one_gapless_chain() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let bodies: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            bundle(
                site.id,
                &format!("CB-C{i}"),
                Utc::now(),
                &[("patch_status", "pass", "WS-01", None)],
            )
        })
        .collect();
    let signed: Vec<(Vec<u8>, String)> = bodies
        .into_iter()
        .map(|b| {
            let s = sign(&site.key, &b);
            (b, s)
        })
        .collect();
    let posts = signed.iter().map(|(b, s)| post_bundle(&app, b, s));
    let responses = futures_util::future::join_all(posts).await;
    let mut positions = Vec::new();
    for resp in responses {
        positions
            .push(expect_json(resp, StatusCode::CREATED).await["chain_position"].as_i64().unwrap());
    }
    positions.sort_unstable();
    assert_eq!(positions, (0..20).collect::<Vec<i64>>());
    let resp =
        app.post_as(&p.viewer, &format!("/api/client/sites/{}/verify-chain", site.id)).send().await;
    let verdict = body_json(resp).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["length"], 20);
}

async fn notifications(app: &TestApp) -> Vec<(String, String, String)> {
    let db = app.db_client().await;
    db.query(
        "SELECT type, severity, title FROM client_notifications ORDER BY created_at, title",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

#[tokio::test]
async fn checks_that_change_state_raise_one_notification_each() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let t0 = Utc::now() - Duration::hours(5);
    let check = |status| {
        [
            ("bitlocker_status", status, "FRONTDESK-01", Some(BITLOCKER)),
            ("screen_lock", "pass", "FRONTDESK-01", None),
        ]
    };
    ingest(&app, &site, "N-1", t0, &check("pass")).await;
    assert!(notifications(&app).await.is_empty(), "passing from the start is quiet");
    ingest(&app, &site, "N-2", t0 + Duration::hours(1), &check("fail")).await;
    ingest(&app, &site, "N-3", t0 + Duration::hours(2), &check("fail")).await;
    let n = notifications(&app).await;
    assert_eq!(n.len(), 1, "no repeat while it stays failing: {n:?}");
    assert_eq!((n[0].0.as_str(), n[0].1.as_str()), ("check_failed", "critical"));
    assert!(n[0].2.contains("FRONTDESK-01"));

    // Critical alerts are emailed to owners and admins, not viewers.
    let db = app.db_client().await;
    let mut to: Vec<String> = db
        .query("SELECT to_address FROM email_outbox WHERE kind = 'critical_alert'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    to.sort();
    assert_eq!(to, [p.admin.email.clone(), p.owner.email.clone()]);

    // A late, older bundle changes nothing; recovery is an info notification.
    ingest(&app, &site, "N-0", t0 - Duration::hours(1), &check("pass")).await;
    assert_eq!(notifications(&app).await.len(), 1);
    ingest(&app, &site, "N-4", t0 + Duration::hours(3), &check("pass")).await;
    let n = notifications(&app).await;
    assert_eq!((n[1].0.as_str(), n[1].1.as_str()), ("check_resolved", "info"));
    ingest(
        &app,
        &site,
        "N-5",
        t0 + Duration::hours(4),
        &[
            ("bitlocker_status", "pass", "FRONTDESK-01", Some(BITLOCKER)),
            ("screen_lock", "warning", "FRONTDESK-01", None),
        ],
    )
    .await;
    let n = notifications(&app).await;
    assert_eq!((n[2].0.as_str(), n[2].1.as_str()), ("check_warning", "warning"));
    assert_eq!(n.len(), 3);
}

type AlertRow = (String, String, String, String, chrono::DateTime<Utc>);

/// The critical-alert mails queued: recipient, subject, text, status and
/// when each is (or was) due.
async fn alerts(app: &TestApp) -> Vec<AlertRow> {
    let db = app.db_client().await;
    db.query(
        "SELECT to_address, subject, body_text, status, next_attempt_at FROM email_outbox
          WHERE kind = 'critical_alert' ORDER BY to_address, next_attempt_at",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

/// Finding 9: one bundle with 10,000 newly failing checks raised 10,000
/// notifications and a 520 KB email per owner and admin. Now a bundle
/// raises one notification that summarises, and each recipient gets at
/// most one alert email per site a minute, later failures folded in.
#[tokio::test]
async fn many_failing_checks_raise_one_notification_and_one_email_a_minute_per_site() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let hosts: Vec<String> = (0..10_000).map(|i| format!("WS-{i:05}")).collect();
    let checks: Vec<_> = hosts.iter().map(|h| ("ntp_sync", "fail", h.as_str(), None)).collect();
    ingest(&app, &site, "MANY-1", Utc::now() - Duration::minutes(3), &checks).await;
    let n = notifications(&app).await;
    assert_eq!(n.len(), 1, "one summary, not 10,000");
    assert_eq!((n[0].0.as_str(), n[0].1.as_str()), ("check_failed", "critical"));
    assert_eq!(n[0].2, "10,000 checks changed at Main Street: 10,000 failing");
    let message: String = app
        .db_client()
        .await
        .query_one("SELECT message FROM client_notifications", &[])
        .await
        .unwrap()
        .get(0);
    assert!(message.starts_with("NTP sync failed on WS-00000 at Main Street."), "{message}");
    assert!(message.ends_with("And 9,980 more: see the bundle for every check."), "{message}");

    let mail = alerts(&app).await;
    assert_eq!(
        mail.len(),
        2,
        "one per owner and admin: {:?}",
        mail.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
    for (_, subject, body, _, _) in &mail {
        assert_eq!(subject, "Compliance alert at Main Street: 10,000 checks failing");
        assert!(body.contains("  - NTP sync failing on WS-00019\n  - and 9,980 more\n"), "{body}");
        assert_eq!(
            body.matches("NTP sync: Point Windows Time").count(),
            1,
            "said once per kind of check: {body}"
        );
        assert!(!body.contains("WS-00020"), "only the first 20 are named");
        assert!(body.len() < 4_000, "{} bytes", body.len());
    }

    // A new failure while that email still waits joins it.
    ingest(
        &app,
        &site,
        "MANY-2",
        Utc::now() - Duration::minutes(2),
        &[("backup_status", "fail", "SRV-01", None)],
    )
    .await;
    let n = notifications(&app).await;
    assert_eq!(n.len(), 2, "{n:?}");
    let mail = alerts(&app).await;
    assert_eq!(mail.len(), 2, "folded into the waiting email");
    for (_, subject, body, _, _) in &mail {
        assert_eq!(subject, "Compliance alert at Main Street: 10,001 checks failing");
        assert!(body.contains("  - and 9,981 more\n"), "{body}");
        assert!(body.contains(&format!("/client/sites/{}", site.id)), "links the site: {body}");
    }
    let sent = portal::mail::deliver_due(&app.pool, &portal::mail::Transport::Log { demo: false })
        .await
        .unwrap();
    assert_eq!(sent, 2);

    // Once it has gone, the next failure waits a minute after it.
    ingest(
        &app,
        &site,
        "MANY-3",
        Utc::now() - Duration::minutes(1),
        &[("screen_lock", "fail", "SRV-01", None)],
    )
    .await;
    let mail = alerts(&app).await;
    assert_eq!(mail.len(), 4);
    for pair in mail.chunks(2) {
        let ((_, _, _, first, sent_at), (_, subject, _, second, due)) = (&pair[0], &pair[1]);
        assert_eq!((first.as_str(), second.as_str()), ("sent", "pending"));
        assert_eq!(subject, "Compliance alert at Main Street: Screen lock failing on SRV-01");
        assert!(*due >= *sent_at + Duration::seconds(60), "{sent_at} then {due}");
    }
    let sent = portal::mail::deliver_due(&app.pool, &portal::mail::Transport::Log { demo: false })
        .await
        .unwrap();
    assert_eq!(sent, 0, "not before its minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_silent_for_a_day_gets_one_warning_even_from_concurrent_sweeps() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let quiet = create_site(&app, p.org_id, "Quiet Clinic").await;
    let busy = create_site(&app, p.org_id, "Busy Clinic").await;
    ingest(
        &app,
        &quiet,
        "S-1",
        Utc::now() - Duration::hours(30),
        &[("ntp_sync", "pass", "SRV-01", None)],
    )
    .await;
    ingest(
        &app,
        &busy,
        "S-2",
        Utc::now() - Duration::hours(1),
        &[("ntp_sync", "pass", "SRV-01", None)],
    )
    .await;

    let sweeps =
        futures_util::future::join_all((0..3).map(|_| portal::evidence::sweeper::sweep(&app.pool)))
            .await;
    let raised: usize = sweeps.into_iter().map(|r| r.unwrap()).sum();
    assert_eq!(raised, 1);
    assert_eq!(portal::evidence::sweeper::sweep(&app.pool).await.unwrap(), 0, "once per silence");
    let db = app.db_client().await;
    let rows = db
        .query(
            "SELECT site_id, severity, title FROM client_notifications WHERE type = 'site_silent'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, uuid::Uuid>(0), quiet.id);
    assert_eq!(rows[0].get::<_, String>(1), "warning");
    assert!(rows[0].get::<_, String>(2).contains("Quiet Clinic"));

    // A new silence after the site spoke again is a new warning.
    ingest(
        &app,
        &quiet,
        "S-3",
        Utc::now() - Duration::hours(26),
        &[("ntp_sync", "pass", "SRV-01", None)],
    )
    .await;
    assert_eq!(portal::evidence::sweeper::sweep(&app.pool).await.unwrap(), 1);
}

/// A suspended practice's appliance is refused (403, nothing stored); a
/// site past its per-minute limit gets 429 with Retry-After; an address
/// that keeps sending refused bundles is slowed down too.
#[tokio::test]
async fn ingest_refuses_inactive_practices_and_bounds_each_site_and_address() {
    let app = crate::helpers::spawn_app_with(|c| c.ingest_per_site = 3).await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    for n in 0..3 {
        let b =
            bundle(site.id, &format!("L-{n}"), Utc::now(), &[("ntp_sync", "pass", "SRV", None)]);
        post_bundle(&app, &b, &sign(&site.key, &b)).await.assert_status(StatusCode::CREATED);
    }
    let b = bundle(site.id, "L-3", Utc::now(), &[("ntp_sync", "pass", "SRV", None)]);
    let resp = post_bundle(&app, &b, &sign(&site.key, &b)).await;
    resp.assert_status(StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 =
        resp.0.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(app.rows_in("evidence_bundles").await, 3, "the refused one is not stored");

    let other = create_site(&app, p.org_id, "Annex").await;
    {
        // Raw SQL on purpose: suspending a practice is an operator's act.
        let db = app.db_client().await;
        db.execute("UPDATE client_orgs SET status = 'suspended' WHERE id = $1", &[&p.org_id])
            .await
            .unwrap();
    }
    let b = bundle(other.id, "S-1", Utc::now(), &[("ntp_sync", "pass", "SRV", None)]);
    let text =
        expect_json(post_bundle(&app, &b, &sign(&other.key, &b)).await, StatusCode::FORBIDDEN)
            .await;
    assert!(text["message"].as_str().unwrap().contains("not active"), "{text}");
    assert_eq!(app.rows_in("evidence_bundles").await, 3);

    // Refused attempts from one address: 120 a minute, then 429 for all of
    // that address's bundles until the minute is over.
    let junk = b"{not json".to_vec();
    for _ in 0..portal::evidence::limits::FAILURES_PER_ADDRESS {
        post_bundle(&app, &junk, &sign(&other.key, &junk))
            .await
            .assert_status(StatusCode::BAD_REQUEST);
    }
    post_bundle(&app, &junk, &sign(&other.key, &junk))
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
}
