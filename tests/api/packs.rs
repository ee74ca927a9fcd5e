//! Evidence packs, as an auditor receives them: built from a practice with
//! two sites, a month-end checkpoint and a cosigning appliance; checked
//! by the pack's own `verify.sh` (bash and openssl), by the library
//! verifier and by the standalone `osiris-verify-pack` binary; then
//! tampered with the way someone who can rewrite the whole pack would
//! (the manifest recomputed each time), and each check must fail naming
//! the file that was changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, Utc};
use ed25519_dalek::SigningKey;
use poem::http::StatusCode;
use portal::admin::{self, SiteKey};
use portal::log::pack;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::appliances::{TestSite, create_site, ingest};
use crate::helpers::{Expect, Practice, Reply, TempDir, TestApp, spawn_app};
use crate::log_api::sign_now;

/// Cosigns the checkpoint of `size` leaves as `site`'s appliance.
async fn cosign(app: &TestApp, org: Uuid, site: Uuid, cosigner: &SigningKey, size: i64) {
    let db = app.db_client().await;
    let cp = portal::db::evidence_log::checkpoint_of_size(&**db, org, size).await.unwrap().unwrap();
    let text = portal::log::note::parse(&cp.note).unwrap().text;
    let origin = portal::db::evidence_log::origin(&**db, org).await.unwrap().unwrap();
    let c = portal::log::cosignature::Cosigner::new(
        &portal::evidence::witness::appliance_name(&origin, site),
        cosigner.clone(),
    )
    .unwrap();
    let at = Utc::now().timestamp();
    let line = c.cosign(&text, at as u64);
    portal::db::evidence_log::put_cosignature(&**db, org, size, site, at, &line).await.unwrap();
}

async fn latest_size(app: &TestApp, org: Uuid) -> i64 {
    let db = app.db_client().await;
    portal::db::evidence_log::latest_checkpoint(&**db, org).await.unwrap().unwrap().size
}

/// A practice with two sites: Main Street (whose appliance cosigns) with
/// six bundles and Annex with four; a month-end checkpoint after the
/// first seven, the final one after all.
pub async fn practice(app: &TestApp, dir: &Path) -> (Practice, TestSite, TestSite) {
    let p = app.practice("Oak Clinic").await;
    let key_path = dir.join("main.pem");
    let main_id =
        admin::create_site(&app.pool, p.org_id, "Main Street", SiteKey::Generate(&key_path))
            .await
            .unwrap();
    let main = TestSite {
        id: main_id,
        org_id: p.org_id,
        key: portal::appliance::read_key(&key_path).unwrap(),
    };
    let cosigner = portal::appliance::read_key(&admin::cosigner_path(&key_path)).unwrap();
    let annex = create_site(app, p.org_id, "Annex").await;
    let t = Utc::now() - Duration::hours(5);
    let checks = [
        ("bitlocker_status", "pass", "XRAY-01", Some("164.312(a)(2)(iv)")),
        ("ntp_sync", "fail", "SRV", None),
    ];
    for i in 0..4 {
        ingest(app, &main, &format!("MAIN-{i}"), t + Duration::minutes(i), &checks).await;
    }
    for i in 0..3 {
        ingest(app, &annex, &format!("ANNEX-{i}"), t + Duration::minutes(i), &checks).await;
    }
    sign_now(app, p.org_id).await;
    // The month-end checkpoint: signed at 00:00 UTC on the 1st after.
    let month_end = portal::reports::Month::of(Utc::now()).next().start() + Duration::seconds(30);
    portal::evidence::integrator::catch_up(&app.state, p.org_id, month_end).await.unwrap();
    let closing = latest_size(app, p.org_id).await;
    cosign(app, p.org_id, main.id, &cosigner, closing).await;
    for i in 4..6 {
        ingest(app, &main, &format!("MAIN-{i}"), t + Duration::minutes(10 + i), &checks).await;
    }
    ingest(app, &annex, "ANNEX-3", t + Duration::minutes(20), &checks).await;
    sign_now(app, p.org_id).await;
    let last = latest_size(app, p.org_id).await;
    assert!(last > closing);
    cosign(app, p.org_id, main.id, &cosigner, last).await;
    (p, main, annex)
}

/// Asks for a pack of the last two days as `who`, waits for it and
/// downloads it into `dir`; returns the ZIP's path and the pack's status.
async fn build_pack(app: &TestApp, who: &crate::helpers::TestUser, dir: &Path) -> (PathBuf, Value) {
    let today = Utc::now().date_naive();
    let body = json!({ "from": (today - Duration::days(2)).to_string(), "to": today.to_string() });
    let started = app
        .post_json_as(who, "/api/client/audit-packs", &body)
        .expect_json(StatusCode::ACCEPTED)
        .await;
    let id: Uuid = started["pack_id"].as_str().unwrap().parse().unwrap();
    portal::packs::finished(id).await;
    let status =
        app.get_as(who, &format!("/api/client/audit-packs/{id}")).expect_json(StatusCode::OK).await;
    assert_eq!(status["status"], "ready", "{status}");
    let reply = app
        .get_as(who, &format!("/api/client/audit-packs/{id}/download"))
        .expect_status(StatusCode::OK)
        .await;
    assert_eq!(reply.header("content-type"), "application/zip");
    assert!(reply.header("content-disposition").contains("oak-clinic-audit-pack-"));
    assert_eq!(status["bytes"].as_i64().unwrap() as usize, reply.body.len());
    assert_eq!(status["sha256"].as_str().unwrap(), hex::encode(Sha256::digest(&reply.body)));
    let zip = dir.join("pack.zip");
    std::fs::write(&zip, &reply.body).unwrap();
    (zip, status)
}

/// Unzips `zip` into `dir/name` (the pack's top folder stripped).
fn unzip(zip: &Path, dir: &Path, name: &str) -> PathBuf {
    let mut files = pack::ZipFiles::open(zip).unwrap();
    let out = dir.join(name);
    for n in pack::Files::names(&files).to_vec() {
        let bytes = pack::Files::read(&mut files, &n).unwrap();
        let path = out.join(&n);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(out.join("verify.sh"), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Writes manifest.sha256 again for the pack's current files, as an
/// attacker rewriting the whole pack would.
fn remanifest(dir: &Path) {
    let files = pack::DirFiles::open(dir).unwrap();
    let mut out = String::new();
    for n in pack::Files::names(&files) {
        if n == pack::MANIFEST {
            continue;
        }
        let bytes = std::fs::read(dir.join(n)).unwrap();
        out.push_str(&format!("{}  {n}\n", hex::encode(Sha256::digest(&bytes))));
    }
    std::fs::write(dir.join(pack::MANIFEST), out).unwrap();
}

/// verify.sh's exit status, stdout and stderr.
fn verify_sh(dir: &Path, log_key: &str) -> (i32, String, String) {
    let out = Command::new("bash")
        .arg(dir.join("verify.sh"))
        .args(["--log-key", log_key])
        .output()
        .expect("bash runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn verify_lib(path: &Path, log_key: &str) -> Result<pack::Summary, pack::Failure> {
    let mut files = pack::open(path)?;
    let opts = pack::Options { log_key: Some(log_key.to_owned()), ..pack::Options::default() };
    pack::verify(files.as_mut(), &opts, &|_, _| {})
}

async fn log_key(app: &TestApp, p: &Practice) -> String {
    let key = app.get_as(&p.viewer, "/api/client/log/key").expect_json(StatusCode::OK).await;
    key["vkey"].as_str().unwrap().to_owned()
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

#[tokio::test]
async fn a_pack_verifies_with_openssl_and_both_verifiers_and_every_tamper_names_its_file() {
    let app = spawn_app().await;
    let dir = TempDir::new();
    let (p, main, annex) = practice(&app, dir.path()).await;
    let vkey = log_key(&app, &p).await;
    let (zip, status) = build_pack(&app, &p.owner, dir.path()).await;
    assert_eq!(status["bundles"], 10, "{status}");
    assert_eq!(status["progress"]["done"], status["progress"]["total"]);
    let clean = unzip(&zip, dir.path(), "clean");
    for f in [
        "README.md",
        "verify.sh",
        "policy.txt",
        "keys/log.vkey",
        "checks.csv",
        "manifest.sha256",
        "checkpoints/final.checkpoint",
    ] {
        assert!(clean.join(f).exists(), "{f}");
    }
    let readme = std::fs::read_to_string(clean.join("README.md")).unwrap();
    assert!(readme.contains(&vkey), "the README names the log key");
    assert!(readme.contains("Main Street") && readme.contains("Annex"));
    let policy = std::fs::read_to_string(clean.join("policy.txt")).unwrap();
    assert!(policy.contains(&format!("group cosigners all appliance-{}", main.id)), "{policy}");
    let csv = std::fs::read_to_string(clean.join("checks.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 10 * 2, "a header and two checks per bundle");
    assert!(csv.contains("\"164.312(a)(2)(iv)\""), "{csv}");

    // The untouched pack: verify.sh, the library (ZIP and folder) and the binary.
    let (code, stdout, stderr) = verify_sh(&clean, &vkey);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "10 bundles verified, 2 checkpoints, 2 cosignatures", "{stderr}");
    let summary = verify_lib(&zip, &vkey).unwrap();
    assert_eq!(summary.line(), stdout.trim());
    assert_eq!((summary.sites, summary.site_keys), (2, 2));
    verify_lib(&clean, &vkey).unwrap();
    let bin = Command::new(env!("CARGO_BIN_EXE_osiris-verify-pack"))
        .arg(&zip)
        .args(["--log-key", &vkey, "--json"])
        .output()
        .unwrap();
    assert!(bin.status.success(), "{}", String::from_utf8_lossy(&bin.stderr));
    let json: Value = serde_json::from_slice(&bin.stdout).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["summary"]["bundles_verified"], 10);
    let sampled = Command::new(env!("CARGO_BIN_EXE_osiris-verify-pack"))
        .arg(&zip)
        .args(["--log-key", &vkey, "--sample", "3", "--seed", "7"])
        .output()
        .unwrap();
    assert!(sampled.status.success());
    assert!(String::from_utf8_lossy(&sampled.stdout).starts_with("3 bundles verified"));

    // Another key than the practice's: refused by all.
    let other = "other.example/log+00000000+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let (code, _, stderr) = verify_sh(&clean, other);
    assert_eq!(code, 1);
    assert!(stderr.contains("FAILED: keys/log.vkey:"), "{stderr}");
    assert_eq!(verify_lib(&zip, other).unwrap_err().file, pack::LOG_VKEY);

    // Tampering, with the manifest written again each time.
    let (m, a) = (main.id, annex.id);
    type Tamper = Box<dyn Fn(&Path)>;
    let tampers: Vec<(&str, String, Tamper)> = vec![
        (
            "a bundle byte",
            format!("bundles/{m}/2.json"),
            Box::new(move |d| {
                edit(&d.join(format!("bundles/{m}/2.json")), |t| t.replacen("XRAY", "XRAZ", 1))
            }),
        ),
        (
            "a leaf",
            format!("leaves/{a}/1.leaf"),
            Box::new(move |d| {
                edit(&d.join(format!("leaves/{a}/1.leaf")), |t| {
                    t.replace("received 1", "received 2")
                })
            }),
        ),
        (
            "a proof hash",
            format!("proofs/{m}/3.tlog-proof"),
            Box::new(move |d| {
                edit(&d.join(format!("proofs/{m}/3.tlog-proof")), |t| {
                    let mut lines: Vec<String> = t.split('\n').map(str::to_owned).collect();
                    lines[3] = format!("A{}", &lines[3][1..]);
                    if lines[3] == t.split('\n').nth(3).unwrap() {
                        lines[3] = format!("B{}", &lines[3][1..]);
                    }
                    lines.join("\n")
                })
            }),
        ),
        (
            "a checkpoint size",
            "checkpoints/final.checkpoint".into(),
            Box::new(|d| {
                edit(&d.join("checkpoints/final.checkpoint"), |t| {
                    let mut lines: Vec<String> = t.split('\n').map(str::to_owned).collect();
                    let size: u64 = lines[1].parse().unwrap();
                    lines[1] = (size + 1).to_string();
                    lines.join("\n")
                })
            }),
        ),
        (
            "a removed cosignature",
            "checkpoints/final.checkpoint".into(),
            Box::new(|d| {
                edit(&d.join("checkpoints/final.checkpoint"), |t| {
                    t.split_inclusive('\n').filter(|l| !l.contains("/appliance/")).collect()
                })
            }),
        ),
        (
            "a swapped appliance key",
            format!("keys/{m}.hex"),
            Box::new(move |d| {
                let other = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
                std::fs::write(
                    d.join(format!("keys/{m}.hex")),
                    format!("{}\n", hex::encode(other)),
                )
                .unwrap();
                std::fs::write(d.join(format!("keys/{m}.pem")), pack::public_key_pem(&other))
                    .unwrap();
            }),
        ),
        (
            "a bundle removed from the middle",
            format!("bundles/{m}/3.json"),
            Box::new(move |d| {
                for f in [
                    format!("bundles/{m}/3.json"),
                    format!("leaves/{m}/3.leaf"),
                    format!("proofs/{m}/3.tlog-proof"),
                ] {
                    std::fs::remove_file(d.join(f)).unwrap();
                }
            }),
        ),
    ];
    for (i, (what, file, tamper)) in tampers.iter().enumerate() {
        let copy = dir.path().join(format!("tampered-{i}"));
        copy_dir(&clean, &copy);
        tamper(&copy);
        remanifest(&copy);
        let (code, stdout, stderr) = verify_sh(&copy, &vkey);
        assert_eq!(code, 1, "{what}: verify.sh passed: {stdout}{stderr}");
        assert!(stderr.contains(&format!("FAILED: {file}:")), "{what}: {stderr}");
        let failure = verify_lib(&copy, &vkey).unwrap_err();
        assert_eq!(failure.file, *file, "{what}: {failure}");
    }

    // Without rewriting the manifest, the manifest names the changed file.
    let copy = dir.path().join("tampered-manifest");
    copy_dir(&clean, &copy);
    edit(&copy.join("checks.csv"), |t| t.replacen("SRV", "SRW", 1));
    let (code, _, stderr) = verify_sh(&copy, &vkey);
    assert_eq!(code, 1);
    assert!(stderr.contains("FAILED: checks.csv:"), "{stderr}");
    assert_eq!(verify_lib(&copy, &vkey).unwrap_err().file, "checks.csv");
}

#[tokio::test]
async fn packs_are_for_owners_admins_and_auditors_within_their_grant() {
    let app = spawn_app().await;
    let dir = TempDir::new();
    let (p, main, annex) = practice(&app, dir.path()).await;
    let today = Utc::now().date_naive();
    let period =
        json!({ "from": (today - Duration::days(2)).to_string(), "to": today.to_string() });

    // A viewer may not; another practice's owner does not see the pack.
    app.post_json_as(&p.viewer, "/api/client/audit-packs", &period)
        .expect_status(StatusCode::FORBIDDEN)
        .await;
    let started = app
        .post_json_as(
            &p.admin,
            "/api/client/audit-packs",
            &json!({
                "from": period["from"], "to": period["to"], "site_ids": [annex.id],
            }),
        )
        .expect_json(StatusCode::ACCEPTED)
        .await;
    let id = started["pack_id"].as_str().unwrap().to_owned();
    // One at a time per practice.
    let busy = app.post_json_as(&p.owner, "/api/client/audit-packs", &period).send().await;
    let busy = Reply::read(busy).await;
    assert!(
        busy.status == StatusCode::CONFLICT || busy.status == StatusCode::ACCEPTED,
        "{}",
        busy.text()
    );
    if busy.status == StatusCode::ACCEPTED {
        portal::packs::finished(busy.json()["pack_id"].as_str().unwrap().parse().unwrap()).await;
    }
    portal::packs::finished(id.parse().unwrap()).await;
    let q = app.practice("Elm Clinic").await;
    for path in
        [format!("/api/client/audit-packs/{id}"), format!("/api/client/audit-packs/{id}/download")]
    {
        app.get_as(&q.owner, &path).expect_status(StatusCode::NOT_FOUND).await;
    }
    let pack = app
        .get_as(&p.owner, &format!("/api/client/audit-packs/{id}"))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(pack["bundles"], 4, "the Annex only: {pack}");
    assert_eq!(pack["site_ids"], json!([annex.id]));

    // Malformed and out-of-practice input.
    for (body, status) in [
        (json!({ "from": "2026-13-01", "to": today.to_string() }), StatusCode::BAD_REQUEST),
        (
            json!({ "from": today.to_string(), "to": (today - Duration::days(1)).to_string() }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "from": period["from"], "to": period["to"], "site_ids": [Uuid::new_v4()] }),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({ "from": (today + Duration::days(3)).to_string(), "to": (today + Duration::days(4)).to_string() }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "from": period["from"], "to": period["to"], "site_ids": [] }),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r =
            Reply::read(app.post_json_as(&p.owner, "/api/client/audit-packs", &body).send().await)
                .await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
    }

    // An auditor limited to Main Street and a period: inside it, a pack of
    // Main Street only; outside it, refused.
    let (_, auditor) = crate::auditors::auditor_of_scope(
        &app,
        &p.owner,
        p.org_id,
        json!({ "site_ids": [main.id], "from": (today - Duration::days(3)).to_string(), "to": today.to_string() }),
    )
    .await;
    let r = Reply::read(
        app.post_json_as(
            &auditor,
            "/api/client/audit-packs",
            &json!({
                "from": (today - Duration::days(5)).to_string(), "to": today.to_string(),
            }),
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = Reply::read(
        app.post_json_as(
            &auditor,
            "/api/client/audit-packs",
            &json!({
                "from": period["from"], "to": period["to"], "site_ids": [annex.id],
            }),
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let started = app
        .post_json_as(&auditor, "/api/client/audit-packs", &period)
        .expect_json(StatusCode::ACCEPTED)
        .await;
    let aid = started["pack_id"].as_str().unwrap().to_owned();
    portal::packs::finished(aid.parse().unwrap()).await;
    let mine = app.get_as(&auditor, "/api/client/audit-packs").expect_json(StatusCode::OK).await;
    let ids: Vec<&str> =
        mine["packs"].as_array().unwrap().iter().map(|p| p["pack_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [aid.as_str()], "an auditor sees their own packs only");
    app.get_as(&auditor, &format!("/api/client/audit-packs/{id}"))
        .expect_status(StatusCode::NOT_FOUND)
        .await;
    let got = app
        .get_as(&auditor, &format!("/api/client/audit-packs/{aid}"))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(got["site_ids"], json!([main.id]), "the grant's sites");
    assert_eq!(got["bundles"], 6);
    app.get_as(&auditor, &format!("/api/client/audit-packs/{aid}/download"))
        .expect_status(StatusCode::OK)
        .await;

    // Every request and download is in the practice's audit log.
    let actions: Vec<String> = app
        .db_client()
        .await
        .query(
            "SELECT action FROM client_audit_log WHERE client_org_id = $1 AND action LIKE 'audit_pack.%'
              AND actor_user_id = $2 ORDER BY id",
            &[&p.org_id, &auditor.id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(actions, ["audit_pack.requested", "audit_pack.downloaded"]);

    // Packs expire after 7 days: the file goes, the download is refused.
    app.db_client()
        .await
        .execute(
            "UPDATE audit_packs SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&aid.parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap();
    let part = |age: u64| {
        let path = portal::packs::file_path(&app.state, Uuid::new_v4()).with_extension("zip.part");
        std::fs::write(&path, b"half a pack").unwrap();
        let at = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(at).unwrap();
        path
    };
    let (stale, fresh) = (part(2 * 86_400), part(60));
    assert!(portal::packs::sweep(&app.state).await.unwrap() >= 1);
    assert!(!stale.exists(), "a half-written pack older than a day is removed");
    assert!(fresh.exists(), "one being written is left alone");
    assert!(!portal::packs::file_path(&app.state, aid.parse().unwrap()).exists());
    let gone = app
        .get_as(&auditor, &format!("/api/client/audit-packs/{aid}"))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(gone["status"], "expired");
    app.get_as(&auditor, &format!("/api/client/audit-packs/{aid}/download"))
        .expect_status(StatusCode::NOT_FOUND)
        .await;

    // The full export: the owner's alone.
    app.post_as(&p.admin, "/api/client/exports").expect_status(StatusCode::FORBIDDEN).await;
    app.post_as(&auditor, "/api/client/exports").expect_status(StatusCode::FORBIDDEN).await;
    let started =
        app.post_as(&p.owner, "/api/client/exports").expect_json(StatusCode::ACCEPTED).await;
    let eid: Uuid = started["pack_id"].as_str().unwrap().parse().unwrap();
    portal::packs::finished(eid).await;
    let export = app
        .get_as(&p.owner, &format!("/api/client/audit-packs/{eid}"))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(
        (export["kind"].as_str(), export["bundles"].as_i64()),
        (Some("full"), Some(10)),
        "{export}"
    );
    let reply = app
        .get_as(&p.owner, &format!("/api/client/audit-packs/{eid}/download"))
        .expect_status(StatusCode::OK)
        .await;
    let zip = dir.path().join("export.zip");
    std::fs::write(&zip, &reply.body).unwrap();
    let mut files = pack::ZipFiles::open(&zip).unwrap();
    let audit = String::from_utf8(pack::Files::read(&mut files, pack::AUDIT_LOG).unwrap()).unwrap();
    assert!(audit.contains("export.requested"), "the export's own request is in it");
    let vkey = log_key(&app, &p).await;
    verify_lib(&zip, &vkey).unwrap();
}

/// What the newcomer does: a pack of the demo's 90 days, checked
/// with the pack's verify.sh and the standalone verifier.
#[tokio::test]
async fn a_pack_of_the_demo_verifies_with_verify_sh_and_the_standalone_verifier() {
    let app = spawn_app().await;
    let dir = TempDir::new();
    portal::demo::seed(&app.pool, dir.path()).await.unwrap();
    let seeded = portal::demo::seed_evidence(&app.state, dir.path()).await.unwrap();
    let (org, owner_id): (Uuid, Uuid) = {
        let db = app.db_client().await;
        let r = db
            .query_one(
                "SELECT o.id, u.id FROM client_orgs o JOIN client_users u ON u.client_org_id = o.id
                  WHERE o.name = $1 AND u.role = 'owner'",
                &[&portal::demo::PRACTICE],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    sign_now(&app, org).await;
    let owner = app.sign_in(owner_id, portal::demo::PRACTICE_EMAIL, org).await;
    let today = Utc::now().date_naive();
    let body =
        json!({ "from": (today - Duration::days(100)).to_string(), "to": today.to_string() });
    let started = std::time::Instant::now();
    let id: Uuid = app
        .post_json_as(&owner, "/api/client/audit-packs", &body)
        .expect_json(StatusCode::ACCEPTED)
        .await["pack_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    portal::packs::finished(id).await;
    let built = started.elapsed();
    let status = app
        .get_as(&owner, &format!("/api/client/audit-packs/{id}"))
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(status["bundles"].as_u64(), Some(seeded as u64), "{status}");
    let zip = portal::packs::file_path(&app.state, id);
    let key = app.get_as(&owner, "/api/client/log/key").expect_json(StatusCode::OK).await;
    let vkey = key["vkey"].as_str().unwrap();
    let started = std::time::Instant::now();
    let bin = Command::new(env!("CARGO_BIN_EXE_osiris-verify-pack"))
        .arg(&zip)
        .args(["--log-key", vkey])
        .output()
        .unwrap();
    let standalone = started.elapsed();
    assert!(bin.status.success(), "{}", String::from_utf8_lossy(&bin.stderr));
    let line = format!("{seeded} bundles verified, 1 checkpoints, 0 cosignatures");
    assert_eq!(String::from_utf8_lossy(&bin.stdout).trim(), line);
    let summary = verify_lib(&zip, vkey).unwrap();
    assert!(summary.reports_verified >= 2, "the demo's finished months: {summary:?}");
    assert_eq!(summary.reports_unlogged, 0, "each report made for the pack is in its checkpoint");
    let folder = unzip(&zip, dir.path(), "demo-pack");
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = verify_sh(&folder, vkey);
    let script = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), line);
    eprintln!(
        "demo pack: {seeded} bundles, {} bytes, built in {:.1} s; osiris-verify-pack {:.2} s; verify.sh {:.1} s",
        status["bytes"],
        built.as_secs_f64(),
        standalone.as_secs_f64(),
        script.as_secs_f64()
    );
}

pub const MATRIX: &[crate::matrix::Case] = &[
    // Another practice's owner asks in their own practice, whose log has no
    // checkpoint: 409.
    crate::matrix::Case {
        operation_id: "create_audit_pack",
        method: poem::http::Method::POST,
        expect: [401, 403, 202, 202, 409, 202],
    },
    crate::matrix::Case {
        operation_id: "create_export",
        method: poem::http::Method::POST,
        expect: [401, 403, 403, 202, 409, 403],
    },
    crate::matrix::Case {
        operation_id: "list_audit_packs",
        method: poem::http::Method::GET,
        expect: [401, 403, 200, 200, 200, 200],
    },
    // A pack the owner asked for: an auditor sees only their own.
    crate::matrix::Case {
        operation_id: "get_audit_pack",
        method: poem::http::Method::GET,
        expect: [401, 403, 200, 200, 404, 404],
    },
    crate::matrix::Case {
        operation_id: "download_audit_pack",
        method: poem::http::Method::GET,
        expect: [401, 403, 200, 200, 404, 404],
    },
];

/// The matrix's request for a pack operation of practice `a`: the
/// practice has a checkpoint and no pack building; a ready pack of the
/// owner's for the reads.
pub async fn matrix_request(
    app: &TestApp,
    a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    if !MATRIX.iter().any(|c| c.operation_id == operation_id) {
        return None;
    }
    let db = app.db_client().await;
    if portal::db::evidence_log::latest_checkpoint(&**db, a.org_id).await.unwrap().is_none() {
        let site = create_site(app, a.org_id, &format!("Site {}", Uuid::new_v4())).await;
        ingest(
            app,
            &site,
            &format!("P-{}", Uuid::new_v4()),
            Utc::now(),
            &[("ntp_sync", "pass", "SRV", None)],
        )
        .await;
        sign_now(app, a.org_id).await;
    }
    if let Some(b) = portal::db::packs::building(&**db, a.org_id).await.unwrap() {
        portal::packs::finished(b.id).await;
    }
    let today = Utc::now().date_naive();
    Some(match operation_id {
        "create_audit_pack" => (
            "/api/client/audit-packs".into(),
            Some(
                json!({ "from": (today - Duration::days(1)).to_string(), "to": today.to_string() }),
            ),
        ),
        "create_export" => ("/api/client/exports".into(), None),
        "list_audit_packs" => ("/api/client/audit-packs".into(), None),
        _ => {
            let p = portal::db::packs::insert(
                &**db,
                &portal::db::packs::NewPack {
                    org_id: a.org_id,
                    kind: "period",
                    period_from: Some(today),
                    period_to: Some(today),
                    site_ids: None,
                    requested_by: a.owner.id,
                },
            )
            .await
            .unwrap()
            .unwrap();
            let path = portal::packs::file_path(&app.state, p.id);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"PK\x05\x06").unwrap();
            portal::db::packs::finish(&**db, p.id, 4, &Sha256::digest(b"PK\x05\x06"), 0)
                .await
                .unwrap();
            let tail = if operation_id == "download_audit_pack" { "/download" } else { "" };
            (format!("/api/client/audit-packs/{}{tail}", p.id), None)
        }
    })
}

#[tokio::test]
async fn the_packs_page_asks_for_a_pack_and_follows_it_until_its_download() {
    let app = spawn_app().await;
    let dir = TempDir::new();
    let (p, _, annex) = practice(&app, dir.path()).await;
    let page = app.get_as(&p.admin, portal::paths::AUDIT_PACKS).expect_text(StatusCode::OK).await;
    assert!(page.contains("Build the pack") && page.contains("Annex"), "{page}");
    assert!(!page.contains("Export everything"), "the full export is the owner's");
    assert!(
        app.get_as(&p.owner, portal::paths::AUDIT_PACKS)
            .expect_text(StatusCode::OK)
            .await
            .contains("Export everything")
    );
    app.get_as(&p.viewer, portal::paths::AUDIT_PACKS).expect_status(StatusCode::FORBIDDEN).await;

    // A date that is not one: the form again with the message, nothing started.
    let bad = Reply::read(
        app.post_form_as(
            &p.admin,
            portal::paths::AUDIT_PACKS,
            &[("from", "yesterday"), ("to", "2026-12-01")],
        )
        .header("hx-request", "true")
        .send()
        .await,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("From must be a date"), "{}", bad.text());
    assert_eq!(app.rows_in("audit_packs").await, 0);

    let today = Utc::now().date_naive().to_string();
    let from = (Utc::now().date_naive() - Duration::days(1)).to_string();
    let annex_id = annex.id.to_string();
    let fragment = app
        .post_form_as(
            &p.admin,
            portal::paths::AUDIT_PACKS,
            &[("from", &from), ("to", &today), ("site_id", &annex_id)],
        )
        .header("hx-request", "true")
        .expect_text(StatusCode::OK)
        .await;
    assert!(fragment.contains("id=\"pack-list\""), "{fragment}");
    let id: Uuid =
        app.db_client().await.query_one("SELECT id FROM audit_packs", &[]).await.unwrap().get(0);
    portal::packs::finished(id).await;
    let row =
        app.hx_get_as(&p.admin, &portal::paths::audit_pack(id)).expect_text(StatusCode::OK).await;
    assert!(row.contains(&format!("/api/client/audit-packs/{id}/download")), "{row}");
    assert!(!row.contains("hx-trigger"), "a ready pack's row stops polling: {row}");
    let q = app.practice("Elm Clinic").await;
    app.hx_get_as(&q.owner, &portal::paths::audit_pack(id))
        .expect_status(StatusCode::NOT_FOUND)
        .await;
    app.hx_get_as(&p.admin, "/client/audit-packs/not-a-uuid")
        .expect_status(StatusCode::BAD_REQUEST)
        .await;
    let zip = app
        .get_as(&p.admin, &format!("/api/client/audit-packs/{id}/download"))
        .expect_status(StatusCode::OK)
        .await;
    assert!(zip.body.starts_with(b"PK"));
}

/// The flow in Chromium, two browsers: the owner grants an auditor
/// on the users page; the auditor accepts the invitation in their own
/// browser, lands on the dashboard with the banner, cannot open users or
/// settings, builds a pack
/// and downloads it; the owner revokes, and the auditor's next page is the
/// sign-in page.
#[tokio::test]
async fn an_owner_grants_an_auditor_who_downloads_a_pack_until_revoked_in_chromium() {
    use crate::browser::{browser, fit_page_at, open_as, screenshot};
    use fantoccini::Locator;
    let Some((_owner_driver, owner_browser)) = browser().await else { return };
    let Some((_auditor_driver, auditor_browser)) = browser().await else { return };
    let app = spawn_app().await;
    let dir = TempDir::new();
    let (p, _, _) = practice(&app, dir.path()).await;
    let server = crate::helpers::spawn_server(&app).await;
    let base = server.base_url.clone();

    open_as(&owner_browser, &base, &p.owner, portal::paths::USERS).await;
    owner_browser
        .find(Locator::Id("grant-email"))
        .await
        .unwrap()
        .send_keys("kim@auditfirm.example")
        .await
        .unwrap();
    owner_browser
        .find(Locator::Id("grant-name"))
        .await
        .unwrap()
        .send_keys("Kim Auditor")
        .await
        .unwrap();
    owner_browser
        .find(Locator::Id("grant-firm"))
        .await
        .unwrap()
        .send_keys("Audit & Co")
        .await
        .unwrap();
    owner_browser
        .find(Locator::Css("#auditors form.form-row button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    owner_browser
        .wait()
        .for_element(Locator::Css("#auditors .alert-success"))
        .await
        .expect("the grant's notice");
    fit_page_at(&owner_browser, 1280).await;
    screenshot(&owner_browser, "auditors-1-users-page").await;

    let token = crate::auditors::mailed_token(&app, "kim@auditfirm.example").await;
    auditor_browser.goto(&format!("{base}/client/invite?token={token}")).await.unwrap();
    // The name field starts with the name the grant gave.
    let name = auditor_browser.find(Locator::Id("invite-name")).await.unwrap();
    assert_eq!(name.prop("value").await.unwrap().as_deref(), Some("Kim Auditor"));
    name.clear().await.unwrap();
    name.send_keys("Kim Auditor").await.unwrap();
    auditor_browser
        .find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let banner = auditor_browser
        .wait()
        .for_element(Locator::Id("auditor-banner"))
        .await
        .expect("the banner");
    assert!(banner.text().await.unwrap().contains("Auditor access to Oak Clinic"));
    assert!(
        auditor_browser.current_url().await.unwrap().as_str().ends_with("/client/dashboard"),
        "the auditor lands on the practice's dashboard"
    );
    let sites = auditor_browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    assert!(
        sites.contains("Main Street") && sites.contains("Annex"),
        "the auditor reads the dashboard: {sites}"
    );
    fit_page_at(&auditor_browser, 1280).await;
    screenshot(&auditor_browser, "auditors-2-dashboard-desktop").await;
    fit_page_at(&auditor_browser, 390).await;
    screenshot(&auditor_browser, "auditors-2-dashboard-390").await;
    fit_page_at(&auditor_browser, 1280).await;
    for page in [portal::paths::USERS, portal::paths::SETTINGS] {
        auditor_browser.goto(&format!("{base}{page}")).await.unwrap();
        let body = auditor_browser.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
        assert!(!body.contains("Kim Auditor") || body.contains("403"), "{page}: {body}");
        assert!(
            auditor_browser.find(Locator::Id("grant-email")).await.is_err(),
            "{page} is not shown"
        );
        assert!(
            auditor_browser.find(Locator::Id("sessions-section")).await.is_err(),
            "{page} is not shown"
        );
    }

    auditor_browser.goto(&format!("{base}/client/audit-packs")).await.unwrap();
    auditor_browser
        .find(Locator::Css("#packs form.form-row button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let link = auditor_browser
        .wait()
        .for_element(Locator::Css("#pack-list a[download]"))
        .await
        .expect("the pack's row follows it until its download link");
    let href = link.attr("href").await.unwrap().unwrap();
    fit_page_at(&auditor_browser, 1280).await;
    screenshot(&auditor_browser, "auditors-3-packs-desktop").await;
    fit_page_at(&auditor_browser, 390).await;
    screenshot(&auditor_browser, "auditors-4-packs-390").await;
    let cookie = auditor_browser
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name() == "__Host-osiris_session")
        .expect("the auditor's session cookie");
    let zip = app
        .client
        .get(&href)
        .header("cookie", format!("{}={}", cookie.name(), cookie.value()))
        .send()
        .await;
    let zip = Reply::read(zip).await;
    assert_eq!(zip.status, StatusCode::OK);
    assert!(zip.body.starts_with(b"PK"), "a ZIP");

    // The owner revokes (confirming the dialog); the auditor is signed out.
    owner_browser.goto(&format!("{base}/client/users")).await.unwrap();
    owner_browser
        .find(Locator::Css("#grant-list form[hx-confirm] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    owner_browser.accept_alert().await.unwrap();
    owner_browser
        .wait()
        .for_element(Locator::Css("#auditors .alert-success"))
        .await
        .expect("revoked");
    auditor_browser.goto(&format!("{base}/client/audit-packs")).await.unwrap();
    auditor_browser.wait().for_element(Locator::Id("magic-email")).await.expect("the sign-in page");

    owner_browser.close().await.unwrap();
    auditor_browser.close().await.unwrap();
    server.stop().await;
}
