use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use uuid::Uuid;

use crate::helpers::{TempDir, TestDb, portal_cmd};

fn portal(db: &TestDb, args: &[&str]) -> Output {
    portal_cmd().env("DATABASE_URL", db.url()).args(args).output().expect("run portal")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a create-* command that must succeed and print only an id.
fn create(db: &TestDb, args: &[&str]) -> Uuid {
    let out = portal(db, args);
    assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
    stdout(&out).parse().unwrap_or_else(|_| panic!("stdout is not just an id: {:?}", stdout(&out)))
}

/// Runs a command that must fail with a message containing `expect`.
fn refuse(db: &TestDb, args: &[&str], expect: &str) {
    let out = portal(db, args);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(stdout(&out).is_empty(), "nothing on stdout: {}", stdout(&out));
    assert!(stderr(&out).contains(expect), "{args:?}: expected {expect:?} in {}", stderr(&out));
}

#[tokio::test]
async fn admin_commands_create_a_practice_and_print_only_ids() {
    let db = TestDb::new().await;
    let partner = create(
        &db,
        &["admin", "create-partner", "--name", "Acme IT", "--email", "help@acme.example"],
    );
    let org = create(
        &db,
        &[
            "admin",
            "create-org",
            "--name",
            "Oak Clinic",
            "--email",
            "Office@Oak.example",
            "--partner",
            &partner.to_string(),
        ],
    );
    let user = create(
        &db,
        &[
            "admin",
            "create-user",
            "--org",
            &org.to_string(),
            "--email",
            "doc@oak.example",
            "--role",
            "owner",
            "--name",
            "Dr Oak",
        ],
    );
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let hex_key = hex::encode(key.verifying_key().as_bytes());
    let site = create(
        &db,
        &[
            "admin",
            "create-site",
            "--org",
            &org.to_string(),
            "--name",
            "Main",
            "--public-key",
            &hex_key,
        ],
    );

    let client = db.client().await;
    let row = client
        .query_one(
            "SELECT o.current_partner_id, o.primary_email, u.role, u.client_org_id, s.agent_public_key
             FROM client_orgs o JOIN client_users u ON u.client_org_id = o.id JOIN sites s ON s.client_org_id = o.id
             WHERE o.id = $1 AND u.id = $2 AND s.id = $3",
            &[&org, &user, &site],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<Uuid>>(0), Some(partner));
    assert_eq!(row.get::<_, String>(1), "office@oak.example", "emails are stored lower-cased");
    assert_eq!(row.get::<_, String>(2), "owner");
    assert_eq!(row.get::<_, Vec<u8>>(4), key.verifying_key().as_bytes().to_vec());
}

#[tokio::test]
async fn a_direct_practice_needs_no_partner() {
    let db = TestDb::new().await;
    let org = create(
        &db,
        &["admin", "create-org", "--name", "Solo Practice", "--email", "solo@x.example"],
    );
    let client = db.client().await;
    let partner: Option<Uuid> = client
        .query_one("SELECT current_partner_id FROM client_orgs WHERE id = $1", &[&org])
        .await
        .unwrap()
        .get(0);
    assert_eq!(partner, None);
}

#[tokio::test]
async fn admin_commands_refuse_bad_input_with_a_clear_message() {
    let db = TestDb::new().await;
    let org = create(
        &db,
        &["admin", "create-org", "--name", "Oak Clinic", "--email", "office@oak.example"],
    )
    .to_string();
    let missing = Uuid::new_v4().to_string();
    create(
        &db,
        &["admin", "create-user", "--org", &org, "--email", "a@oak.example", "--role", "admin"],
    );

    refuse(
        &db,
        &["admin", "create-org", "--name", "X", "--email", "x@x.example", "--partner", &missing],
        "no partner with id",
    );
    refuse(
        &db,
        &[
            "admin",
            "create-user",
            "--org",
            &missing,
            "--email",
            "b@oak.example",
            "--role",
            "viewer",
        ],
        "no practice (org) with id",
    );
    refuse(
        &db,
        &["admin", "create-user", "--org", &org, "--email", "A@oak.example", "--role", "viewer"],
        "already exists",
    );
    refuse(
        &db,
        &["admin", "create-user", "--org", &org, "--email", "c@oak.example", "--role", "root"],
        "owner, admin or viewer",
    );
    refuse(
        &db,
        &["admin", "create-user", "--org", &org, "--email", "c@oak.example", "--role", "auditor"],
        "grants them access",
    );
    refuse(
        &db,
        &["admin", "create-user", "--org", &org, "--email", "not-an-email", "--role", "viewer"],
        "not an email address",
    );
    refuse(
        &db,
        &[
            "admin",
            "create-user",
            "--org",
            "nonsense",
            "--email",
            "c@oak.example",
            "--role",
            "viewer",
        ],
        "invalid value 'nonsense'",
    );
    refuse(
        &db,
        &["admin", "create-site", "--org", &org, "--name", "S", "--public-key", "abcd"],
        "32 bytes",
    );
    refuse(
        &db,
        &["admin", "create-site", "--org", &org, "--name", "S", "--public-key", "zz"],
        "must be hex",
    );
    refuse(&db, &["admin", "create-site", "--org", &org, "--name", "S"], "--public-key");
    refuse(&db, &["admin", "create-partner", "--name", "   "], "must not be empty");

    let client = db.client().await;
    let sites: i64 = client.query_one("SELECT count(*) FROM sites", &[]).await.unwrap().get(0);
    let users: i64 =
        client.query_one("SELECT count(*) FROM client_users", &[]).await.unwrap().get(0);
    assert_eq!((sites, users), (0, 1), "nothing half-written");
}

#[tokio::test]
async fn create_site_can_generate_the_appliance_key() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let org = create(
        &db,
        &["admin", "create-org", "--name", "Oak Clinic", "--email", "office@oak.example"],
    )
    .to_string();
    let key_path = dir.path().join("site.pem");
    let site = create(
        &db,
        &[
            "admin",
            "create-site",
            "--org",
            &org,
            "--name",
            "Main",
            "--key-out",
            key_path.to_str().unwrap(),
        ],
    );

    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pem = std::fs::read_to_string(&key_path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let key = SigningKey::from_pkcs8_pem(&pem).expect("PKCS#8 PEM");
    let client = db.client().await;
    let stored: Vec<u8> = client
        .query_one("SELECT agent_public_key FROM sites WHERE id = $1", &[&site])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, key.verifying_key().as_bytes().to_vec());
    // Finding 9: other tools read the file too (OpenSSL 3 and Python
    // `cryptography` refused the v2 encoding), and find the same key.
    let openssl = std::process::Command::new("openssl")
        .args(["pkey", "-in", key_path.to_str().unwrap(), "-pubout", "-outform", "DER"])
        .output()
        .expect("openssl is installed (scripts/test installs it)");
    assert!(openssl.status.success(), "{}", String::from_utf8_lossy(&openssl.stderr));
    assert_eq!(&openssl.stdout[12..], key.verifying_key().as_bytes(), "SPKI ends with the key");
    let python = std::process::Command::new(crate::helpers::repo_path(".venv/bin/python"))
        .args([
            "-c",
            "import sys\n\
             from cryptography.hazmat.primitives.serialization import load_pem_private_key, Encoding, PublicFormat\n\
             k = load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n\
             print(k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex())",
            key_path.to_str().unwrap(),
        ])
        .output()
        .expect("the test venv has Python cryptography (scripts/test makes it)");
    assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).trim(),
        hex::encode(key.verifying_key().as_bytes())
    );

    // An existing file is never overwritten, and no site is created.
    refuse(
        &db,
        &[
            "admin",
            "create-site",
            "--org",
            &org,
            "--name",
            "Second",
            "--key-out",
            key_path.to_str().unwrap(),
        ],
        "already exists",
    );
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), pem);
    let n: i64 = client.query_one("SELECT count(*) FROM sites", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_failed_insert_leaves_no_key_file_behind() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let org = create(
        &db,
        &["admin", "create-org", "--name", "Oak Clinic", "--email", "office@oak.example"],
    )
    .to_string();
    let first = dir.path().join("a.pem");
    create(
        &db,
        &[
            "admin",
            "create-site",
            "--org",
            &org,
            "--name",
            "Main",
            "--key-out",
            first.to_str().unwrap(),
        ],
    );
    let second = dir.path().join("b.pem");
    refuse(
        &db,
        &[
            "admin",
            "create-site",
            "--org",
            &org,
            "--name",
            "Main",
            "--key-out",
            second.to_str().unwrap(),
        ],
        "already has a site with that name",
    );
    assert!(!second.exists());
}

#[tokio::test]
async fn migrate_reports_when_the_database_is_up_to_date() {
    let db = TestDb::empty().await;
    let first = portal(&db, &["migrate"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains(
            "applied 20 migration(s): V1__initial_schema, V2__scale_reads, V3__audit_indexes, \
             V4__evidence_log, V5__log_tiles_checkpoints, V6__log_verifications, V7__bundle_id_per_site, \
             V8__log_cosignatures, V9__log_vkey, V10__log_pending, \
             V11__log_append_in_ingest, V12__auditor_grants, V13__audit_packs, \
             V14__api_token_scopes, V15__bounded_anonymous_work, V16__alert_digests, V17__mfa, \
             V18__todo_acknowledgements, V19__notification_repeats, V20__practice_time_zone"
        ),
        "{}",
        stderr(&first)
    );
    let second = portal(&db, &["migrate"]);
    assert!(second.status.success());
    assert!(stderr(&second).contains("database is up to date"), "{}", stderr(&second));
}

/// The backfill is part of migrating: evidence stored before the log is
/// logged by `portal migrate`, with its progress and what it did.
#[tokio::test]
async fn migrate_logs_the_evidence_of_practices_without_a_log() {
    use crate::evidence_fixtures::{self as fixtures, check};
    let app = crate::helpers::app_on(TestDb::new().await).await;
    let p = app.practice("Oak Clinic").await;
    let site = fixtures::site(&app, p.org_id, "Main").await;
    let t = chrono::Utc::now() - chrono::Duration::days(2);
    fixtures::insert_bundle(&app, &site, t, &[check("ntp", "PC", "pass", None)]).await;
    let out = portal(&app.db, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("making the evidence log of practice 1 of 1"), "{err}");
    assert!(err.contains("made the evidence log of 1 practice(s)"), "{err}");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM evidence_log_leaves WHERE client_org_id = $1 AND backfilled",
            &[&p.org_id]
        )
        .await,
        2,
        "the site's keys and its bundle"
    );
    // Nothing left to do the second time.
    let again = portal(&app.db, &["migrate"]);
    assert!(!stderr(&again).contains("made the evidence log"), "{}", stderr(&again));
}

#[test]
fn a_bad_setting_names_the_variable_and_exits_2() {
    let out = portal_cmd().env("PORTAL_BIND", "localhost").arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("PORTAL_BIND") && err.contains("HOST:PORT"), "{err}");

    let out = portal_cmd().env("PORTAL_SMTP_TLS", "ssl").arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("PORTAL_SMTP_TLS: expected none, starttls or implicit"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn secrets_given_on_the_environment_never_reach_the_output() {
    let out = portal_cmd()
        .env("DATABASE_URL", "postgres://portal:hunter2@127.0.0.1:1/portal")
        .env("PORTAL_SESSION_SECRET", "supersecret-supersecret-supersecret-42")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success(), "nothing listens on port 1");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("hunter2") && !all.contains("supersecret"), "{all}");
    assert!(all.contains("connecting to PostgreSQL"), "{all}");
}

async fn run_async(cmd: std::process::Command) -> Output {
    tokio::process::Command::from(cmd).output().await.expect("run portal")
}

#[tokio::test]
async fn the_reference_appliance_pushes_signed_bundles_and_verify_chain_checks_them() {
    let app = crate::helpers::spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let dir = TempDir::new();
    let key = dir.path().join("site.pem");
    let site = create(
        &app.db,
        &[
            "admin",
            "create-site",
            "--org",
            &p.org_id.to_string(),
            "--name",
            "Main",
            "--key-out",
            key.to_str().unwrap(),
        ],
    );
    let server = crate::helpers::spawn_server(&app).await;

    let mut files = Vec::new();
    for i in 0..2 {
        let at = chrono::Utc::now() - chrono::TimeDelta::hours(2 - i);
        let bytes = crate::appliances::bundle(
            site,
            &format!("PUSH-{i}"),
            at,
            &[("ntp_sync", "pass", "SRV-01", None)],
        );
        let path = dir.path().join(format!("b{i}.json"));
        std::fs::write(&path, bytes).unwrap();
        files.push(path.to_str().unwrap().to_owned());
    }
    let push = |extra: &[&str]| {
        let mut cmd = portal_cmd();
        cmd.args([
            "appliance",
            "push",
            "--url",
            &server.base_url,
            "--site",
            &site.to_string(),
            "--key",
            key.to_str().unwrap(),
        ]);
        cmd.args(extra);
        cmd
    };
    let files_ref: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = run_async(push(&files_ref)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("PUSH-0  position 0  stored") && text.contains("PUSH-1  position 1  stored"),
        "{text}"
    );
    let again = run_async(push(&files_ref[..1])).await;
    assert!(stdout(&again).contains("position 0  already received"), "{}", stdout(&again));

    // A bundle of another site is refused before anything is sent.
    let stranger = dir.path().join("other.json");
    std::fs::write(
        &stranger,
        crate::appliances::bundle(
            Uuid::new_v4(),
            "X-1",
            chrono::Utc::now(),
            &[("ntp_sync", "pass", "H", None)],
        ),
    )
    .unwrap();
    let out = run_async(push(&[stranger.to_str().unwrap()])).await;
    assert!(!out.status.success() && stderr(&out).contains("not --site"), "{}", stderr(&out));

    let verify = || {
        let mut cmd = portal_cmd();
        cmd.env("DATABASE_URL", app.db.url()).args(["verify-chain", "--site", &site.to_string()]);
        cmd
    };
    let out = run_async(verify()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("is valid: 2 link(s)"), "{}", stdout(&out));
    assert!(stderr(&out).contains("MB/s"), "a throughput line: {}", stderr(&out));

    // Raw SQL on purpose: tampers with a stored bundle.
    let db = app.db_client().await;
    db.execute("UPDATE evidence_bundles SET raw = overlay(raw placing '7' from 40 for 1) WHERE bundle_id = 'PUSH-1'", &[])
        .await
        .unwrap();
    let out = run_async(verify()).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("BROKEN at position 1"), "{}", stderr(&out));
    server.stop().await;
}
