//! Reading the evidence log: the verifier key and policy, checkpoints,
//! consistency proofs, a bundle's tlog-proof file (checked by Go's sumdb
//! packages), the c2sp.org/tlog-tiles resources under /log/{org}/, and a
//! kept checkpoint checked against today's log.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{Duration, Utc};
use poem::http::{Method, StatusCode};
use portal::evidence::{integrator, integrity};
use portal::log::checkpoint::Checkpoint;
use portal::log::merkle::{self, leaf_hash};
use portal::log::note::{self, NoteVerifier};
use portal::log::proof::TlogProof;
use portal::log::tiles;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::appliances::{TestSite, create_site, ingest};
use crate::helpers::{Expect, Practice, TestApp, spawn_app};
use crate::matrix::Case;

pub const MATRIX: &[Case] = &[
    Case {
        operation_id: "get_evidence_proof",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
    // The other practice's own log does not exist yet: 404 too.
    Case {
        operation_id: "get_log_key",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
    Case {
        operation_id: "list_log_checkpoints",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
    Case {
        operation_id: "get_log_consistency",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
    Case {
        operation_id: "verify_log_checkpoint",
        method: Method::POST,
        expect: [401, 200, 200, 200, 404, 200],
    },
    Case {
        operation_id: "verify_bundle",
        method: Method::POST,
        expect: [401, 200, 200, 200, 404, 200],
    },
    // Any role may start one; the other practice has no log: 404.
    Case {
        operation_id: "verify_log",
        method: Method::POST,
        expect: [401, 202, 202, 202, 404, 403],
    },
    // A job of practice A.
    Case {
        operation_id: "get_log_verification",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 403],
    },
];

/// A logged, checkpointed bundle of practice `a`, and its id.
async fn checkpointed_bundle(app: &TestApp, a: &Practice) -> (TestSite, String) {
    let site = create_site(app, a.org_id, &format!("Site {}", Uuid::new_v4())).await;
    let id = format!("M-{}", Uuid::new_v4());
    ingest(app, &site, &id, Utc::now(), &[("ntp_sync", "pass", "SRV", None)]).await;
    sign_now(app, a.org_id).await;
    (site, id)
}

/// Integrates the log and signs a checkpoint now, as if the checkpoint
/// interval had passed since the last one.
pub async fn sign_now(app: &TestApp, org: Uuid) {
    let last = {
        let db = app.db_client().await;
        portal::db::evidence_log::latest_checkpoint(&**db, org).await.unwrap()
    };
    let now = last.map_or(Utc::now(), |l| l.signed_at.max(Utc::now())) + Duration::seconds(61);
    integrator::catch_up(&app.state, org, now).await.unwrap();
}

pub async fn matrix_request(
    app: &TestApp,
    a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    if !MATRIX.iter().any(|c| c.operation_id == operation_id) {
        return None;
    }
    let (_, id) = checkpointed_bundle(app, a).await;
    let db = app.db_client().await;
    let latest = portal::evidence::proofs::latest(&**db, a.org_id).await.unwrap();
    Some(match operation_id {
        "get_evidence_proof" => (format!("/api/client/evidence/{id}/proof"), None),
        "get_log_key" => ("/api/client/log/key".into(), None),
        "verify_bundle" => (format!("/api/client/evidence/{id}/verify"), None),
        "verify_log" => ("/api/client/log/verify".into(), None),
        "get_log_verification" => {
            // The verify_log rows start background jobs; one may still run,
            // and then it is the job to read.
            let id = match integrity::verify_now(&app.state, a.org_id, Some(a.owner.id)).await {
                Ok(job) => job.id,
                Err(portal::error::AppError::Conflict(_)) => {
                    portal::db::verifications::latest(&**db, a.org_id).await.unwrap().unwrap().id
                }
                Err(e) => panic!("{e}"),
            };
            (format!("/api/client/log/verify/{id}"), None)
        }
        "list_log_checkpoints" => ("/api/client/log/checkpoints".into(), None),
        "get_log_consistency" => {
            (format!("/api/client/log/consistency?old=1&new={}", latest.size), None)
        }
        _ => {
            ("/api/client/log/check-checkpoint".into(), Some(json!({ "checkpoint": latest.note })))
        }
    })
}

/// The evidence leaf of a stored bundle, rebuilt the way an auditor would:
/// from the bundle's bytes, its receipt and the site's key, not from the
/// log's copy.
async fn rebuilt_leaf(app: &TestApp, site: &TestSite, bundle_id: &str) -> Vec<u8> {
    let db = app.db_client().await;
    let row = db
        .query_one(
            "SELECT raw, chain_position, chain_hash, signature, floor(extract(epoch FROM received_at))::bigint
               FROM evidence_bundles WHERE bundle_id = $1",
            &[&bundle_id],
        )
        .await
        .unwrap();
    let raw: Vec<u8> = row.get(0);
    let position: i64 = row.get(1);
    let chain: Vec<u8> = row.get(2);
    let signature: Vec<u8> = row.get(3);
    let received: i64 = row.get(4);
    format!(
        "osiriscare.evidence/v1\nsite {}\nposition {position}\nbundle {}\nchain {}\nkey {}\n\
         signature {}\nreceived {received}\n",
        site.id,
        hex::encode(Sha256::digest(&raw)),
        hex::encode(chain),
        hex::encode(site.key.verifying_key().to_bytes()),
        hex::encode(signature),
    )
    .into_bytes()
}

#[tokio::test]
async fn a_bundles_proof_file_verifies_with_the_published_key_in_go_too() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (site, id) = checkpointed_bundle(&app, &p).await;

    let key = app.get_as(&p.viewer, "/api/client/log/key").expect_json(StatusCode::OK).await;
    let vkey = key["vkey"].as_str().unwrap().to_owned();
    let origin =
        format!("{}/log/{}", app.state.config().base_url.split_once("://").unwrap().1, p.org_id);
    assert_eq!(key["origin"], origin);
    assert!(vkey.starts_with(&format!("{origin}+")), "{vkey}");
    let policy = key["policy"].as_str().unwrap();
    assert!(policy.starts_with(&format!("log {vkey} ")), "{policy}");
    assert!(policy.ends_with("quorum none\n"), "{policy}");

    let resp = app.get_as(&p.viewer, &format!("/api/client/evidence/{id}/proof")).reply().await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let disposition = resp.headers.get("content-disposition").unwrap().to_str().unwrap();
    assert_eq!(disposition, format!("attachment; filename=\"{id}.tlog-proof\""));
    let file = resp.text();
    let proof = TlogProof::parse(&file).expect("a c2sp.org/tlog-proof@v1 file");
    let leaf = rebuilt_leaf(&app, &site, &id).await;
    assert_eq!(proof.extra.as_deref(), Some(leaf.as_slice()), "extra is the leaf");
    let verifier = NoteVerifier::parse(&vkey).unwrap();
    let head = proof.verify(&leaf, &verifier).expect("the proof verifies");
    assert_eq!(head.size, 2);

    // And with a verifier nobody here wrote.
    let case = json!({
        "vkey": vkey,
        "checkpoint": proof.checkpoint,
        "proof_files": [{ "file": file, "leaf": B64.encode(&leaf) }],
    });
    let (ok, out) = crate::log_interop::go_verify(&case);
    assert!(ok, "Go refused the portal's proof file: {out}");

    // A changed bundle does not verify against the same proof.
    let mut forged = leaf.clone();
    let n = forged.len() - 2;
    forged[n] = if forged[n] == b'1' { b'2' } else { b'1' };
    assert!(proof.verify(&forged, &verifier).is_err());
    let (ok, _) = crate::log_interop::go_verify(&json!({
        "vkey": key["vkey"],
        "checkpoint": proof.checkpoint,
        "proof_files": [{ "file": file, "leaf": B64.encode(&forged) }],
    }));
    assert!(!ok, "Go must refuse a changed leaf");
}

#[tokio::test]
async fn proofs_against_a_kept_checkpoint_and_consistency_between_checkpoints() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (site, first_id) = checkpointed_bundle(&app, &p).await;
    let first = {
        let db = app.db_client().await;
        portal::evidence::proofs::latest(&**db, p.org_id).await.unwrap()
    };
    // The log grows; a later checkpoint.
    for i in 0..5 {
        ingest(&app, &site, &format!("N-{i}"), Utc::now(), &[("ntp_sync", "pass", "SRV", None)])
            .await;
    }
    // Before the next checkpoint, the newest bundle cannot be proven yet.
    let err = app
        .get_as(&p.viewer, "/api/client/evidence/N-4/proof")
        .expect_json(StatusCode::CONFLICT)
        .await;
    assert!(err["message"].as_str().unwrap().contains("next checkpoint"), "{err}");
    sign_now(&app, p.org_id).await;

    let list =
        app.get_as(&p.viewer, "/api/client/log/checkpoints").expect_json(StatusCode::OK).await;
    let cps = list["checkpoints"].as_array().unwrap();
    assert_eq!(cps.len(), 2);
    assert_eq!(cps[0]["size"], 7);
    assert_eq!(cps[1]["note"], first.note.as_str());
    assert_eq!(list["next_before"], Value::Null);
    let paged = app
        .get_as(&p.viewer, "/api/client/log/checkpoints?limit=1")
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(paged["checkpoints"].as_array().unwrap().len(), 1);
    let older = format!("/api/client/log/checkpoints?limit=1&before={}", paged["next_before"]);
    let older = app.get_as(&p.viewer, &older).expect_json(StatusCode::OK).await;
    assert_eq!(older["checkpoints"][0]["size"], 2);

    // The first bundle, proven against the first checkpoint (kept by
    // someone) and against the latest.
    let kept = app
        .get_as(&p.viewer, &format!("/api/client/evidence/{first_id}/proof?size=2"))
        .reply()
        .await;
    let kept = TlogProof::parse(&kept.text()).unwrap();
    assert_eq!(kept.checkpoint, first.note);
    app.get_as(&p.viewer, &format!("/api/client/evidence/{first_id}/proof?size=3"))
        .expect_json(StatusCode::NOT_FOUND)
        .await;

    // Consistency from 2 to 7, checked by us and by Go.
    let c = app
        .get_as(&p.viewer, "/api/client/log/consistency?old=2&new=7")
        .expect_json(StatusCode::OK)
        .await;
    let proof: Vec<[u8; 32]> = c["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    let vkey = list["vkey"].as_str().unwrap();
    let verifier = NoteVerifier::parse(vkey).unwrap();
    let old = Checkpoint::parse(&note::open(&first.note, &verifier).unwrap().text).unwrap();
    let latest_note = c["latest_checkpoint"].as_str().unwrap();
    let new = Checkpoint::parse(&note::open(latest_note, &verifier).unwrap().text).unwrap();
    merkle::verify_consistency(2, 7, &old.root, &new.root, &proof).expect("consistent");
    let (ok, out) = crate::log_interop::go_verify(&json!({
        "vkey": vkey,
        "checkpoint": latest_note,
        "old_checkpoint": first.note,
        "consistency": c["proof"],
    }));
    assert!(ok, "Go: {out}");

    // Sizes out of order, or beyond the latest checkpoint: well-formed but
    // impossible, 422. Malformed sizes: 400.
    for impossible in ["old=7&new=2", "old=1&new=8"] {
        app.get_as(&p.viewer, &format!("/api/client/log/consistency?{impossible}"))
            .expect_json(StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    }
    for bad in ["old=x&new=2", "new=2", "old=1&new=-131", "old=9007199254740992&new=2"] {
        app.get_as(&p.viewer, &format!("/api/client/log/consistency?{bad}"))
            .expect_json(StatusCode::BAD_REQUEST)
            .await;
    }
}

#[tokio::test]
async fn a_kept_checkpoint_is_checked_against_todays_log() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (site, _) = checkpointed_bundle(&app, &p).await;
    let first = {
        let db = app.db_client().await;
        portal::evidence::proofs::latest(&**db, p.org_id).await.unwrap()
    };
    ingest(&app, &site, "LATER-1", Utc::now(), &[("ntp_sync", "pass", "SRV", None)]).await;
    sign_now(&app, p.org_id).await;

    let check = async |note: String| {
        app.post_json_as(
            &p.viewer,
            "/api/client/log/check-checkpoint",
            &json!({ "checkpoint": note }),
        )
        .expect_json(StatusCode::OK)
        .await
    };
    // As kept, even with CRLF line ends from an email client.
    let ok = check(first.note.replace('\n', "\r\n")).await;
    assert_eq!(ok["consistent"], true, "{ok}");
    assert_eq!((ok["kept_size"].as_u64(), ok["latest_size"].as_u64()), (Some(2), Some(3)));
    assert_eq!(ok["reason"], Value::Null);
    assert!(!ok["proof"].as_array().unwrap().is_empty());

    // An edited checkpoint (a different root) is not signed by the log.
    let text = note::parse(&first.note).unwrap().text;
    let edited = first.note.replacen(text.lines().nth(2).unwrap(), &B64.encode([7u8; 32]), 1);
    let bad = check(edited).await;
    assert_eq!(
        (bad["consistent"].clone(), bad["signature_valid"].clone()),
        (json!(false), json!(false))
    );
    assert!(
        bad["reason"].as_str().unwrap().contains("not a checkpoint signed by your practice"),
        "{bad}"
    );

    // Another practice's checkpoint: signed, but not by this log.
    let q = app.practice("Elm Clinic").await;
    let (_, _) = checkpointed_bundle(&app, &q).await;
    let other = {
        let db = app.db_client().await;
        portal::evidence::proofs::latest(&**db, q.org_id).await.unwrap()
    };
    let foreign = check(other.note).await;
    assert_eq!(foreign["consistent"], false);

    // Not a note at all, or empty: 400 / a clear refusal.
    let junk = check("hello".into()).await;
    assert_eq!(junk["consistent"], false);
    app.post_json_as(&p.viewer, "/api/client/log/check-checkpoint", &json!({ "checkpoint": "" }))
        .expect_status(StatusCode::BAD_REQUEST)
        .await;
}

#[tokio::test]
async fn tiles_are_served_for_the_callers_own_log_only() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (site, _) = checkpointed_bundle(&app, &p).await;
    for i in 0..3 {
        ingest(&app, &site, &format!("T-{i}"), Utc::now(), &[("ntp_sync", "pass", "SRV", None)])
            .await;
    }
    sign_now(&app, p.org_id).await;
    let base = portal::paths::log(p.org_id);

    let (status, cp) =
        app.get_as(&p.viewer, &format!("{base}/checkpoint")).reply().await.status_and_text();
    assert_eq!(status, 200);
    let db = app.db_client().await;
    let latest = portal::evidence::proofs::latest(&**db, p.org_id).await.unwrap();
    assert_eq!(cp, latest.note);
    assert_eq!(latest.size, 5);

    // The partial level-0 tile: the five leaf hashes; the entry bundle:
    // the five leaves.
    let leaves = portal::db::evidence_log::leaf_data(&**db, p.org_id, 0, 5).await.unwrap();
    let resp = app.get_as(&p.viewer, &format!("{base}/tile/0/000.p/5")).reply().await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers.get("cache-control").unwrap(), "private, max-age=31536000, immutable");
    let bytes = resp.body;
    let expected: Vec<u8> = leaves.iter().flat_map(|l| leaf_hash(l)).collect();
    assert_eq!(bytes, expected);
    let bytes = app.get_as(&p.viewer, &format!("{base}/tile/entries/000.p/5")).reply().await.body;
    let decoded = tiles::decode_bundle(&bytes).unwrap();
    assert_eq!(decoded, leaves.iter().map(Vec::as_slice).collect::<Vec<_>>());
    // A narrower partial tile is the prefix (tiles never change).
    let narrow = app.get_as(&p.viewer, &format!("{base}/tile/0/000.p/2")).reply().await.body;
    assert_eq!(narrow, expected[..64].to_vec());

    // Beyond the checkpoint, malformed, anonymous, another practice.
    for (path, status) in [
        (format!("{base}/tile/0/000.p/6"), 404),
        (format!("{base}/tile/0/000"), 404),
        (format!("{base}/tile/1/000.p/1"), 404),
        (format!("{base}/tile/0/0.p/5"), 404),
        (format!("{base}/tile/0/000.p/05"), 404),
        ("/log/not-a-uuid/checkpoint".to_owned(), 404),
    ] {
        let (got, body) = app.get_as(&p.viewer, &path).reply().await.status_and_text();
        assert_eq!(got.as_u16(), status, "{path}: {body}");
        let err: Value = serde_json::from_str(&body).expect("JSON errors");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let q = app.practice("Elm Clinic").await;
    let got = app.get_as(&q.owner, &format!("{base}/checkpoint")).reply().await.status;
    assert_eq!(got, 404, "another practice's log is not found");
    let got = app.get_as(&q.owner, &format!("{base}/tile/0/000.p/5")).reply().await.status;
    assert_eq!(got, 404);
    let resp = app.client.get(format!("{base}/checkpoint")).send().await;
    assert_eq!(resp.0.status(), 401, "anonymous");
}

#[tokio::test]
async fn a_practice_without_evidence_has_no_log_to_prove_from() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    for path in
        ["/api/client/log/key", "/api/client/log/checkpoints", "/api/client/evidence/NOPE/proof"]
    {
        let err = app.get_as(&p.viewer, path).expect_json(StatusCode::NOT_FOUND).await;
        assert!(!err["message"].as_str().unwrap().is_empty(), "{path}");
    }
    // A practice with a site but no log yet (its evidence predates the
    // log): the integrator makes the log without waiting for the next
    // bundle.
    create_site(&app, p.org_id, "Main").await;
    assert_eq!(
        portal::evidence::log::make_missing_logs(
            app.state.pool(),
            &app.state.config().base_url,
            |_, _| {}
        )
        .await
        .unwrap(),
        1
    );
    integrator::catch_up(&app.state, p.org_id, Utc::now()).await.unwrap();
    let key = app.get_as(&p.viewer, "/api/client/log/key").expect_json(StatusCode::OK).await;
    assert!(key["vkey"].as_str().unwrap().contains("/log/"));
}
