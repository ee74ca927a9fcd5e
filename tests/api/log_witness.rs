//! Appliances as witnesses, through a real server and the reference client:
//! pinning the log key, verifying inclusion and consistency after each
//! push, cosigning, refusing a rewritten history; and the signed requests'
//! refusals (signature, timestamp, purpose, another site's bundle).

use chrono::Utc;
use ed25519_dalek::{Signer, SigningKey};
use portal::admin::{self, SiteKey};
use portal::appliance;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::appliances::bundle;
use crate::helpers::{Expect, TempDir, TestApp, spawn_app, spawn_server};
use crate::log_api::sign_now;

/// Writes bundle files for `site` and returns their paths.
fn bundle_files(dir: &TempDir, site: Uuid, ids: &[&str]) -> Vec<std::path::PathBuf> {
    ids.iter()
        .map(|id| {
            let path = dir.path().join(format!("{id}.json"));
            let bytes = bundle(site, id, Utc::now(), &[("ntp_sync", "pass", "SRV", None)]);
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

async fn vkey(app: &TestApp, user: &crate::helpers::TestUser) -> String {
    let key = app.get_as(user, "/api/client/log/key").expect_json(poem::http::StatusCode::OK).await;
    key["vkey"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_reference_client_pins_verifies_and_cosigns_and_refuses_a_rewritten_history() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let dir = TempDir::new();
    let key_path = dir.path().join("site.pem");
    let site = admin::create_site(&app.pool, p.org_id, "Main Street", SiteKey::Generate(&key_path))
        .await
        .unwrap();
    let cosigner_path = admin::cosigner_path(&key_path);
    assert!(cosigner_path.exists(), "--key-out writes the cosigner key too");
    let key = appliance::read_key(&key_path).unwrap();
    let cosigner = appliance::read_key(&cosigner_path).unwrap();
    let server = spawn_server(&app).await;
    let state = dir.path().join("appliance-state.json");
    let wait = std::time::Duration::ZERO;

    // First push: the log is made; the key is pinned from the practice.
    let files = bundle_files(&dir, site, &["W-1", "W-2"]);
    let pushed = appliance::push(&server.base_url, site, &key, &files).await.unwrap();
    sign_now(&app, p.org_id).await;
    let pinned = vkey(&app, &p.viewer).await;
    let no_pin =
        appliance::witness(&server.base_url, site, &key, None, &state, None, &pushed, wait)
            .await
            .unwrap_err()
            .to_string();
    assert!(no_pin.contains("--log-key"), "{no_pin}");
    let w = appliance::witness(
        &server.base_url,
        site,
        &key,
        Some(&cosigner),
        &state,
        Some(&pinned),
        &pushed,
        wait,
    )
    .await
    .unwrap();
    assert_eq!((w.old_size, w.size, w.proven, w.cosigned), (0, 3, 2, true));
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(kept["size"], 3);
    assert_eq!(kept["log_vkey"], pinned.as_str());

    // The portal serves the checkpoint with the appliance's cosignature,
    // which verifies with the cosigner key the policy lists.
    let served = app
        .get_as(&p.viewer, &format!("/log/{}/checkpoint", p.org_id))
        .expect_text(poem::http::StatusCode::OK)
        .await;
    let lines: Vec<&str> = served.lines().filter(|l| l.starts_with('—')).collect();
    assert_eq!(lines.len(), 2, "the log's signature and the appliance's: {served}");
    let key_doc =
        app.get_as(&p.viewer, "/api/client/log/key").expect_json(poem::http::StatusCode::OK).await;
    assert!(
        key_doc["policy"].as_str().unwrap().contains(&format!("/appliance/{site}")),
        "{key_doc}"
    );
    let origin = key_doc["origin"].as_str().unwrap();
    let text = portal::log::note::parse(&served).unwrap().text;
    let verifier = portal::log::cosignature::CosignatureVerifier::new(
        &portal::evidence::witness::appliance_name(origin, site),
        cosigner.verifying_key(),
    )
    .unwrap();
    verifier.verify(&text, lines[1]).expect("the served cosignature verifies");

    // A second push: consistent with the kept checkpoint.
    let files = bundle_files(&dir, site, &["W-3"]);
    let pushed = appliance::push(&server.base_url, site, &key, &files).await.unwrap();
    sign_now(&app, p.org_id).await;
    let w = appliance::witness(
        &server.base_url,
        site,
        &key,
        Some(&cosigner),
        &state,
        None,
        &pushed,
        wait,
    )
    .await
    .unwrap();
    assert_eq!((w.old_size, w.size, w.proven), (3, 4, 1));

    // A different pinned key is refused outright.
    let other = appliance::witness(
        &server.base_url,
        site,
        &key,
        None,
        &state,
        Some("example.com/x+00000000+AQ=="),
        &[],
        wait,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(other.contains("differs from the key pinned"), "{other}");

    // Someone with the database rewrites the history (a changed leaf, the
    // checkpoints removed) and the portal signs the new tree: the appliance
    // says so, cosigns nothing and keeps its state.
    app.db_client()
        .await
        .batch_execute(&format!(
            "ALTER TABLE evidence_log_leaves DISABLE TRIGGER evidence_log_leaves_no_update_delete;
             UPDATE evidence_log_leaves SET data = convert_to(replace(convert_from(data, 'UTF8'),
                    'position 0', 'position 9'), 'UTF8')
              WHERE client_org_id = '{org}' AND kind = 'evidence';
             ALTER TABLE evidence_log_leaves ENABLE TRIGGER evidence_log_leaves_no_update_delete;
             ALTER TABLE evidence_log_checkpoints DISABLE TRIGGER evidence_log_checkpoints_no_update_delete;
             DELETE FROM evidence_log_checkpoints WHERE client_org_id = '{org}';
             ALTER TABLE evidence_log_checkpoints ENABLE TRIGGER evidence_log_checkpoints_no_update_delete;",
            org = p.org_id
        ))
        .await
        .unwrap();
    let files = bundle_files(&dir, site, &["W-4"]);
    let pushed = appliance::push(&server.base_url, site, &key, &files).await.unwrap();
    sign_now(&app, p.org_id).await;
    let before = std::fs::read_to_string(&state).unwrap();
    let cosigs = app.count("SELECT count(*) FROM evidence_log_cosignatures", &[]).await;
    let err = appliance::witness(
        &server.base_url,
        site,
        &key,
        Some(&cosigner),
        &state,
        None,
        &pushed,
        wait,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("INCONSISTENT LOG"), "{err}");
    assert!(err.contains("not consistent with the kept one of 4"), "{err}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), before, "the kept checkpoint stays");
    assert_eq!(app.count("SELECT count(*) FROM evidence_log_cosignatures", &[]).await, cosigs);
    server.stop().await;
}

/// A signed request to one of the appliance log endpoints.
async fn request(app: &TestApp, path: &str, key: &SigningKey, body: &Value) -> (u16, String) {
    let bytes = serde_json::to_vec(body).unwrap();
    let sig = hex::encode(key.sign(&bytes).to_bytes());
    let reply = app
        .client
        .post(path)
        .header("content-type", "application/json")
        .header("x-agent-signature", sig)
        .body(bytes)
        .send()
        .await;
    let status = reply.0.status().as_u16();
    (status, crate::helpers::body_text(reply).await)
}

#[tokio::test]
async fn appliance_log_requests_are_signed_fresh_and_scoped_to_the_site() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let a = crate::appliances::create_site(&app, p.org_id, "A").await;
    let b = crate::appliances::create_site(&app, p.org_id, "B").await;
    crate::appliances::ingest(&app, &a, "A-1", Utc::now(), &[("ntp_sync", "pass", "SRV", None)])
        .await;
    crate::appliances::ingest(&app, &b, "B-1", Utc::now(), &[("ntp_sync", "pass", "SRV", None)])
        .await;
    sign_now(&app, p.org_id).await;
    let now = Utc::now().timestamp();
    let proof = |site: Uuid, id: &str, ts: i64| json!({"request": "log-proof", "site_id": site, "timestamp": ts, "bundle_id": id});

    let (status, body) =
        request(&app, "/api/appliance/log/proof", &a.key, &proof(a.id, "A-1", now)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("c2sp.org/tlog-proof@v1\n"), "{body}");
    // Another site's bundle, even in the same practice: not this site's.
    let (status, _) =
        request(&app, "/api/appliance/log/proof", &a.key, &proof(a.id, "B-1", now)).await;
    assert_eq!(status, 404);
    // Signed by another key, stale, for another purpose, malformed.
    let (status, body) =
        request(&app, "/api/appliance/log/proof", &b.key, &proof(a.id, "A-1", now)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) =
        request(&app, "/api/appliance/log/proof", &a.key, &proof(a.id, "A-1", now - 900)).await;
    assert_eq!(status, 401);
    assert!(body.contains("Check the appliance's clock"), "{body}");
    let witness_req =
        json!({"request": "log-witness", "site_id": a.id, "timestamp": now, "old_size": 0});
    let (status, body) = request(&app, "/api/appliance/log/proof", &a.key, &witness_req).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) =
        request(&app, "/api/appliance/log/witness", &a.key, &json!({"site_id": a.id})).await;
    assert_eq!(status, 400);

    // Witness: from 0, then a size beyond the log.
    let (status, body) = request(&app, "/api/appliance/log/witness", &a.key, &witness_req).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("old 0\n\n"), "{body}");
    let beyond =
        json!({"request": "log-witness", "site_id": a.id, "timestamp": now, "old_size": 99});
    let (status, body) = request(&app, "/api/appliance/log/witness", &a.key, &beyond).await;
    assert_eq!(status, 409, "{body}");

    // A cosignature from a site without a cosigner key, and a bad line.
    let cosig = json!({"request": "log-cosignature", "site_id": a.id, "timestamp": now, "size": 4, "cosignature": "— x AAAA"});
    let (status, body) = request(&app, "/api/appliance/log/cosignature", &a.key, &cosig).await;
    assert_eq!(status, 409, "{body}");
    let witness_key = SigningKey::from_bytes(&[3; 32]);
    admin::set_site_keys(
        &app.pool,
        a.id,
        None,
        Some(&hex::encode(witness_key.verifying_key().to_bytes())),
    )
    .await
    .unwrap();
    let none = json!({"request": "log-cosignature", "site_id": a.id, "timestamp": now, "size": 99, "cosignature": "— x AAAA"});
    let (status, body) = request(&app, "/api/appliance/log/cosignature", &a.key, &none).await;
    assert_eq!(status, 404, "no checkpoint of 99 leaves: {body}");
    assert_eq!(
        app.count("SELECT count(*) FROM client_audit_log WHERE action = 'site.keys_changed'", &[])
            .await,
        1
    );
    let (status, body) = request(&app, "/api/appliance/log/cosignature", &a.key, &cosig).await;
    assert_eq!(status, 400, "not a cosignature by this key: {body}");
    assert!(body.contains("does not verify with this site's cosigner key"), "{body}");
}
