//! Verification against the evidence log, tried as an attacker who can
//! write the database would: a changed check row, a changed result, a
//! swapped key with every bundle re-signed, a deleted row, a truncated
//! tail. Each is found, with its position, by the practice verification,
//! a one-bundle verification or a checkpoint kept earlier.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use ed25519_dalek::{Signer, SigningKey};
use poem::http::StatusCode;
use portal::evidence::integrity;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::appliances::{TestSite, create_site, ingest};
use crate::helpers::{Expect, Practice, TestApp, spawn_app};
use crate::log_api::sign_now;

/// A practice with two sites and six bundles, all logged and checkpointed.
async fn practice(app: &TestApp) -> (Practice, TestSite, TestSite) {
    let p = app.practice("Oak Clinic").await;
    let main = create_site(app, p.org_id, "Main Street").await;
    let annex = create_site(app, p.org_id, "Annex").await;
    let t = Utc::now() - Duration::hours(3);
    for i in 0..3 {
        let at = t + Duration::minutes(i);
        let bitlocker = if i == 2 { "fail" } else { "pass" };
        ingest(
            app,
            &main,
            &format!("MAIN-{i}"),
            at,
            &[
                ("bitlocker_status", bitlocker, "XRAY-01", Some("164.312(a)(2)(iv)")),
                ("ntp_sync", "pass", "SRV", None),
            ],
        )
        .await;
        ingest(app, &annex, &format!("ANNEX-{i}"), at, &[("ntp_sync", "pass", "PC-1", None)]).await;
    }
    sign_now(app, p.org_id).await;
    (p, main, annex)
}

async fn sql(app: &TestApp, statements: &str) {
    app.db_client().await.batch_execute(statements).await.unwrap();
}

fn reasons(job: &integrity::Job) -> Vec<String> {
    job.problems.iter().map(|p| p.reason.clone()).collect()
}

#[tokio::test]
async fn an_untouched_practice_verifies_and_the_job_runs_in_the_background() {
    let app = spawn_app().await;
    let (p, _, _) = practice(&app).await;
    let started =
        app.post_as(&p.viewer, "/api/client/log/verify").expect_json(StatusCode::ACCEPTED).await;
    let job_id = started["job_id"].as_str().unwrap().to_owned();
    assert_eq!(started["started"], true);
    // Asked again while it runs, or after: the same job.
    let again =
        app.post_as(&p.viewer, "/api/client/log/verify").expect_json(StatusCode::ACCEPTED).await;
    assert_eq!(again["job_id"], job_id.as_str());

    // Waits on the job's own state (it runs on this runtime).
    let path = format!("/api/client/log/verify/{job_id}");
    let mut status: Value = Value::Null;
    for _ in 0..1500 {
        status = app.get_as(&p.viewer, &path).expect_json(StatusCode::OK).await;
        if status["status"] != "running" {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["valid"], true, "{status}");
    assert_eq!(status["size"], 8, "two site keys and six bundles");
    assert_eq!(status["progress"], json!({ "done": 8, "total": 8 }));
    assert_eq!(status["problems"], json!([]));
    // The result is kept until the log grows.
    let kept =
        app.post_as(&p.viewer, "/api/client/log/verify").expect_json(StatusCode::ACCEPTED).await;
    assert_eq!(
        (kept["job_id"].as_str(), kept["started"].as_bool()),
        (Some(job_id.as_str()), Some(false))
    );

    // Another practice cannot read it; a malformed id is a 400.
    let q = app.practice("Elm Clinic").await;
    app.get_as(&q.owner, &path).expect_status(StatusCode::NOT_FOUND).await;
    app.get_as(&p.viewer, "/api/client/log/verify/nope")
        .expect_status(StatusCode::BAD_REQUEST)
        .await;
    app.get_as(&p.viewer, &format!("/api/client/log/verify/{}", Uuid::new_v4()))
        .expect_status(StatusCode::NOT_FOUND)
        .await;

    // One bundle, in milliseconds.
    let one = app
        .post_as(&p.viewer, "/api/client/evidence/MAIN-1/verify")
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(one["valid"], true, "{one}");
    assert_eq!(one["included"], true);
    assert_eq!(one["checkpoint_size"], 8);
    app.post_as(&q.owner, "/api/client/evidence/MAIN-1/verify")
        .expect_status(StatusCode::NOT_FOUND)
        .await;
}

#[tokio::test]
async fn a_changed_check_row_or_result_is_found_with_its_position() {
    let app = spawn_app().await;
    let (p, main, _) = practice(&app).await;
    // Raw SQL on purpose: the attack.
    sql(
        &app,
        "UPDATE evidence_checks SET status = 'pass', raw_status = 'pass'
           WHERE check_type = 'bitlocker_status' AND status = 'fail';
         UPDATE evidence_bundles SET result = 'pass', failed_checks = 0 WHERE bundle_id = 'MAIN-2';",
    )
    .await;
    let job = integrity::verify_now(&app.state, p.org_id, None).await.unwrap();
    assert_eq!(job.valid, Some(false));
    let found: Vec<_> =
        job.problems.iter().filter(|p| p.bundle_id.as_deref() == Some("MAIN-2")).collect();
    assert!(found.len() >= 3, "{:?}", reasons(&job));
    assert!(
        found
            .iter()
            .all(|f| f.site_id == Some(main.id) && f.position == Some(2) && f.log_index.is_some())
    );
    let all = reasons(&job).join("\n");
    assert!(all.contains("result is stored as pass but the signed bundle says fail"), "{all}");
    assert!(
        all.contains(
            "check bitlocker_status on XRAY-01 is stored as pass but the signed bundle says fail"
        ),
        "{all}"
    );
    assert_eq!(job.problem_count, job.problems.len() as i64);

    let one = app
        .post_as(&p.viewer, "/api/client/evidence/MAIN-2/verify")
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(
        (one["valid"].clone(), one["rows_match"].clone(), one["included"].clone()),
        (json!(false), json!(false), json!(true))
    );
    assert!(one["reason"].as_str().unwrap().contains("bitlocker_status"), "{one}");
    // The old, database-only verification still says valid: why it is deprecated.
    let old = app
        .get_as(&p.viewer, "/api/client/evidence/verify/MAIN-2")
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(old["chain_valid"], true);
}

#[tokio::test]
async fn changed_stored_bytes_are_found_at_their_position() {
    let app = spawn_app().await;
    let (p, main, _) = practice(&app).await;
    // Raw SQL on purpose: one byte of a stored bundle changed.
    sql(
        &app,
        &format!(
            "UPDATE evidence_bundles SET raw = overlay(raw placing '7' from 40 for 1)
              WHERE site_id = '{}' AND chain_position = 1",
            main.id
        ),
    )
    .await;
    let job = integrity::verify_now(&app.state, p.org_id, None).await.unwrap();
    assert_eq!(job.valid, Some(false));
    let found: Vec<_> =
        job.problems.iter().filter(|p| p.bundle_id.as_deref() == Some("MAIN-1")).collect();
    assert!(!found.is_empty(), "{:?}", reasons(&job));
    assert!(found.iter().all(|f| f.site_id == Some(main.id) && f.position == Some(1)));
    assert!(
        job.problems.iter().all(|p| p.bundle_id.as_deref() == Some("MAIN-1")),
        "only the changed bundle: {:?}",
        reasons(&job)
    );
}

#[tokio::test]
async fn a_swapped_key_with_every_bundle_re_signed_is_found() {
    let app = spawn_app().await;
    let (p, main, _) = practice(&app).await;
    let forged = SigningKey::from_bytes(&[0x42; 32]);
    let db = app.db_client().await;
    let rows = db
        .query(
            "SELECT id, raw FROM evidence_bundles WHERE site_id = $1 ORDER BY chain_position",
            &[&main.id],
        )
        .await
        .unwrap();
    // Raw SQL on purpose: the attacker re-signs every bundle with a key of
    // their own and puts it in the sites table.
    for r in &rows {
        let (id, raw): (Uuid, Vec<u8>) = (r.get(0), r.get(1));
        let sig = forged.sign(&raw).to_bytes().to_vec();
        db.execute("UPDATE evidence_bundles SET signature = $2 WHERE id = $1", &[&id, &sig])
            .await
            .unwrap();
    }
    db.execute(
        "UPDATE sites SET agent_public_key = $2 WHERE id = $1",
        &[&main.id, &forged.verifying_key().to_bytes().to_vec()],
    )
    .await
    .unwrap();
    let job = integrity::verify_now(&app.state, p.org_id, None).await.unwrap();
    assert_eq!(job.valid, Some(false));
    let all = reasons(&job).join("\n");
    assert!(
        all.contains("Main Street's appliance key in the database is not the last key logged"),
        "{all}"
    );
    assert!(all.contains("stored signature is not the one that was logged"), "{all}");
    // With the database-only check, the forgery verifies: every signature
    // matches the (swapped) key.
    let one = app
        .post_as(&p.viewer, "/api/client/evidence/MAIN-0/verify")
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(
        (one["signature_valid"].clone(), one["included"].clone(), one["valid"].clone()),
        (json!(true), json!(false), json!(false)),
        "{one}"
    );

    // Going further and rewriting the logged leaves too: the tree no longer
    // matches the signed checkpoint.
    sql(
        &app,
        &format!(
            "ALTER TABLE evidence_log_leaves DISABLE TRIGGER evidence_log_leaves_no_update_delete;
             UPDATE evidence_log_leaves SET data = convert_to(replace(convert_from(data, 'UTF8'),
                    'key {}', 'key {}'), 'UTF8')
              WHERE client_org_id = '{}';
             ALTER TABLE evidence_log_leaves ENABLE TRIGGER evidence_log_leaves_no_update_delete;",
            hex::encode(main.key.verifying_key().to_bytes()),
            hex::encode(forged.verifying_key().to_bytes()),
            p.org_id
        ),
    )
    .await;
    let job = integrity::verify_now(&app.state, p.org_id, None).await.unwrap();
    let all = reasons(&job).join("\n");
    assert!(all.contains("no longer hash to the root the checkpoint of 8 leaves signed"), "{all}");
}

#[tokio::test]
async fn a_deleted_row_or_a_truncated_tail_is_found() {
    let app = spawn_app().await;
    let (p, main, _) = practice(&app).await;
    // A bundle from the middle of Main Street's chain, deleted.
    sql(&app, "DELETE FROM evidence_bundles WHERE bundle_id = 'MAIN-1';").await;
    let job = integrity::verify_now(&app.state, p.org_id, None).await.unwrap();
    let deleted = job
        .problems
        .iter()
        .find(|p| p.reason.contains("missing from the database (deleted)"))
        .unwrap_or_else(|| panic!("{:?}", reasons(&job)));
    assert_eq!((deleted.site_id, deleted.position), (Some(main.id), Some(1)));
    assert!(
        reasons(&job).iter().any(|r| r.contains("skips from position 0 to 2")),
        "{:?}",
        reasons(&job)
    );

    // The tail removed from the log and the bundles: the checkpoint signed
    // earlier still names 8 leaves.
    let kept = {
        let db = app.db_client().await;
        portal::evidence::proofs::latest(&**db, p.org_id).await.unwrap()
    };
    sql(
        &app,
        &format!(
            "DELETE FROM check_states WHERE site_id IN (SELECT id FROM sites WHERE client_org_id = '{org}');
             DELETE FROM evidence_bundles WHERE id IN (
                 SELECT bundle_row FROM evidence_log_leaves WHERE client_org_id = '{org}' AND leaf_index >= 6);
             ALTER TABLE evidence_log_leaves DISABLE TRIGGER evidence_log_leaves_no_update_delete;
             DELETE FROM evidence_log_leaves WHERE client_org_id = '{org}' AND leaf_index >= 6;
             ALTER TABLE evidence_log_leaves ENABLE TRIGGER evidence_log_leaves_no_update_delete;
             UPDATE evidence_logs SET size = 6 WHERE client_org_id = '{org}';",
            org = p.org_id
        ),
    )
    .await;
    let job = integrity::verify_now(&app.state, p.org_id, None).await.unwrap();
    let all = reasons(&job).join("\n");
    assert!(all.contains("signed 8 leaves but the log has only 6: leaves were removed"), "{all}");

    // The attacker removes the checkpoints too, and the portal signs the
    // shortened log afresh: only a checkpoint kept outside says so.
    sql(
        &app,
        &format!(
            "ALTER TABLE evidence_log_checkpoints DISABLE TRIGGER evidence_log_checkpoints_no_update_delete;
             DELETE FROM evidence_log_checkpoints WHERE client_org_id = '{}';
             ALTER TABLE evidence_log_checkpoints ENABLE TRIGGER evidence_log_checkpoints_no_update_delete;",
            p.org_id
        ),
    )
    .await;
    sign_now(&app, p.org_id).await;
    let check = app
        .post_json_as(
            &p.viewer,
            "/api/client/log/check-checkpoint",
            &json!({ "checkpoint": kept.note }),
        )
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(check["consistent"], false, "{check}");
    assert_eq!(check["signature_valid"], true);
    assert!(check["reason"].as_str().unwrap().contains("the log was rolled back"), "{check}");
}

/// The site page: its appliance key as the log holds it, and the practice
/// verification started from the page, whose fragment polls only while
/// the job runs.
#[tokio::test]
async fn the_site_page_shows_logged_keys_and_runs_the_verification_in_place() {
    let app = spawn_app().await;
    let (p, main, _) = practice(&app).await;
    let html =
        app.get_as(&p.viewer, &portal::paths::site(main.id)).expect_text(StatusCode::OK).await;
    let fp = portal::views::log::fingerprint(&main.key.verifying_key().to_bytes());
    assert!(html.contains(&fp), "the key fingerprint: {html}");
    assert!(html.contains("id=\"key-history\""), "{html}");
    assert!(!html.contains("not the last key logged"), "no key alarm for an untouched site");

    let started =
        app.hx_post_as(&p.viewer, portal::paths::LOG_VERIFY).expect_text(StatusCode::OK).await;
    assert!(started.contains("id=\"log-verification\""), "{started}");
    let job_id = {
        let db = app.db_client().await;
        portal::db::verifications::latest(&**db, p.org_id).await.unwrap().unwrap().id
    };
    // Follow the fragment as htmx would, until it stops polling.
    let path = portal::paths::log_verification(job_id);
    let mut fragment = started;
    for _ in 0..1500 {
        if !fragment.contains("hx-trigger") {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
        fragment = app.hx_get_as(&p.viewer, &path).expect_text(StatusCode::OK).await;
    }
    assert!(!fragment.contains("hx-trigger"), "a finished job does not poll: {fragment}");
    assert!(fragment.contains("id=\"log-verified\""), "{fragment}");

    // A swapped key shows on the site page at once.
    let forged = SigningKey::from_bytes(&[0x24; 32]);
    app.db_client()
        .await
        .execute(
            "UPDATE sites SET agent_public_key = $2 WHERE id = $1",
            &[&main.id, &forged.verifying_key().to_bytes().to_vec()],
        )
        .await
        .unwrap();
    let html =
        app.get_as(&p.viewer, &portal::paths::site(main.id)).expect_text(StatusCode::OK).await;
    assert!(html.contains("not the last key logged for it"), "{html}");

    // Another practice's job, and a malformed id.
    let q = app.practice("Elm Clinic").await;
    app.hx_get_as(&q.owner, &path).expect_status(StatusCode::NOT_FOUND).await;
    app.hx_get_as(&p.viewer, "/client/log/verify/nope")
        .expect_status(StatusCode::BAD_REQUEST)
        .await;
}

/// In Chromium: the verification runs in place from the site page, and
/// the pages are photographed at desktop and phone widths.
#[tokio::test]
async fn in_chromium_the_practice_verification_runs_from_the_site_page() {
    use fantoccini::Locator;
    let Some((_driver, client)) = crate::browser::browser().await else { return };
    let app = spawn_app().await;
    let (p, main, _) = practice(&app).await;
    let server = crate::helpers::spawn_server(&app).await;
    crate::browser::open_as(&client, &server.base_url, &p.viewer, &portal::paths::site(main.id))
        .await;
    client.find(Locator::Id("verify-log")).await.unwrap().click().await.unwrap();
    let done = client
        .wait()
        .for_element(Locator::Id("log-verified"))
        .await
        .expect("the verification finished in place");
    assert!(done.text().await.unwrap().contains("Verified: 8 leaves"));
    for (width, name) in [(1280, "log-site-desktop"), (390, "log-site-390")] {
        crate::browser::fit_page_at(&client, width).await;
        let shot = crate::browser::screenshot(&client, name).await;
        eprintln!("screenshot: {}", shot.display());
    }
    client.set_window_size(1280, 900).await.unwrap();
    client
        .goto(&format!("{}{}", server.base_url, portal::paths::evidence_bundle("MAIN-1")))
        .await
        .unwrap();
    let place = client.wait().for_element(Locator::Id("log-place")).await.unwrap();
    assert!(place.text().await.unwrap().starts_with("Leaf 4"), "{}", place.text().await.unwrap());
    client.find(Locator::Id("download-proof")).await.expect("a Download proof link");
    for (width, name) in [(1280, "log-bundle-desktop"), (390, "log-bundle-390")] {
        crate::browser::fit_page_at(&client, width).await;
        crate::browser::screenshot(&client, name).await;
    }
    client.close().await.unwrap();
    server.stop().await;
}
