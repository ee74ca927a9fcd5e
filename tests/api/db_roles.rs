//! The least-privilege runtime role: apps serve through it (every test
//! app does), and it cannot undo the audit log's protection.

use crate::helpers::{TestDb, portal_cmd, spawn_app};

/// What the runtime role must be refused, and what in the message says so.
#[tokio::test]
async fn the_runtime_role_cannot_disable_triggers_rewrite_the_audit_log_or_replicate() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let runtime = app.state.pool().get().await.unwrap();
    // It may append to the audit log.
    portal::db::audit::record(
        &**runtime,
        &portal::db::audit::Entry {
            org_id: Some(p.org_id),
            action: "test.appended",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let privileges = portal::db::roles::inspect(&**runtime).await.unwrap();
    assert_eq!(privileges.role, crate::helpers::TEST_RUNTIME_ROLE);
    assert!(privileges.least(), "{privileges:?}");
    for (sql, refused) in [
        (
            "ALTER TABLE client_audit_log DISABLE TRIGGER client_audit_log_no_update_delete",
            "must be owner",
        ),
        ("ALTER TABLE client_audit_log DISABLE TRIGGER ALL", "must be owner"),
        ("UPDATE client_audit_log SET action = 'x'", "permission denied"),
        ("DELETE FROM client_audit_log", "permission denied"),
        ("TRUNCATE client_audit_log", "permission denied"),
        ("SET session_replication_role = replica", "permission denied"),
        ("DROP TABLE client_audit_log", "must be owner"),
        ("CREATE TABLE sneaky (x int)", "permission denied"),
        ("DELETE FROM refinery_schema_history", "permission denied"),
        ("ALTER TABLE client_orgs ADD COLUMN x int", "must be owner"),
    ] {
        let err = runtime.batch_execute(sql).await.expect_err(sql);
        let message = err.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
        assert!(message.contains(refused), "{sql}: {message}");
    }
    // It can do its work: append to and read the audit log, write rows.
    let n: i64 =
        runtime.query_one("SELECT count(*) FROM client_audit_log", &[]).await.unwrap().get(0);
    assert!(n > 0);
    // Retention runs through the one function that refuses under six years.
    let err = runtime.query_one("SELECT prune_audit_log(1, 10)", &[]).await.unwrap_err();
    assert!(format!("{err:?}").contains("at least 6 years"), "{err:?}");
    let pruned: i64 = runtime.query_one("SELECT prune_audit_log(6, 10)", &[]).await.unwrap().get(0);
    assert_eq!(pruned, 0, "nothing is six years old");
}

/// Given only an owner URL, the portal serves but says what to set; given
/// the runtime role and the owner apart, it says nothing.
#[tokio::test]
async fn serving_as_the_owner_warns_loudly_and_the_split_roles_do_not() {
    let db = TestDb::new().await;
    for (runtime, owner, warns) in
        [(db.url(), None, true), (db.runtime_url(), Some(db.url()), false)]
    {
        let dir = crate::helpers::TempDir::new();
        let mut cmd = portal_cmd();
        cmd.env("DATABASE_URL", &runtime)
            .env("PORTAL_DATA_DIR", dir.path())
            .env("PORTAL_BIND", "127.0.0.1:0")
            .env("PORTAL_SESSION_SECRET", crate::helpers::TEST_SECRET)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .arg("serve");
        if let Some(owner) = &owner {
            cmd.env("PORTAL_MIGRATION_DATABASE_URL", owner);
        }
        let mut child = cmd.spawn().unwrap();
        // The banner is printed once the server is up, after the check.
        let stdout = child.stdout.take().unwrap();
        let banner = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find(|l| l.contains("Sign in:"))
        })
        .await
        .unwrap();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().unwrap();
        assert!(banner.is_some(), "the portal served");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.contains("SECURITY: the server's database role"), warns, "{stderr}");
        if warns {
            assert!(stderr.contains("is a superuser"), "{stderr}");
            assert!(stderr.contains("portal db create-runtime-role"), "{stderr}");
            assert!(stderr.contains("PORTAL_MIGRATION_DATABASE_URL"), "{stderr}");
        }
    }
}

/// `portal db create-runtime-role` prints SQL that makes a role the portal
/// then serves through; with --run it makes it and prints its URL.
#[tokio::test]
async fn create_runtime_role_prints_sql_and_with_run_makes_a_working_role() {
    let db = TestDb::new().await;
    let printed = portal_cmd()
        .env("DATABASE_URL", db.url())
        .args(["db", "create-runtime-role", "--name", "portal_printed"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    let sql = String::from_utf8(printed.stdout).unwrap();
    assert!(sql.contains("CREATE ROLE \"portal_printed\" LOGIN NOSUPERUSER"), "{sql}");
    assert!(sql.contains("REVOKE UPDATE, DELETE, TRUNCATE"), "{sql}");

    let name = format!("portal_run_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let run = portal_cmd()
        .env("DATABASE_URL", db.url())
        .args(["db", "create-runtime-role", "--name", &name, "--run"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let url = String::from_utf8(run.stdout).unwrap();
    let config: tokio_postgres::Config = url.trim().parse().expect("a connection string");
    assert_eq!(config.get_user(), Some(name.as_str()));
    let client = portal::db::connect(&config).await.unwrap();
    let privileges = portal::db::roles::inspect(&client).await.unwrap();
    assert!(privileges.least(), "{privileges:?}");
    client.query_one("SELECT count(*) FROM client_orgs", &[]).await.unwrap();

    // Again with the same name: refused, with what to do.
    let again = portal_cmd()
        .env("DATABASE_URL", db.url())
        .args(["db", "create-runtime-role", "--name", &name, "--run"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let bad = portal_cmd()
        .env("DATABASE_URL", db.url())
        .args(["db", "create-runtime-role", "--name", "x; DROP TABLE y"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--name"));
}
