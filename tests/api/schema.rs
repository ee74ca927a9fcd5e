use portal::auth::Role;
use portal::db::{migrate, orgs};
use portal::error::AppError;

use crate::helpers::TestDb;

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let db = TestDb::new().await;
    let report = migrate::run(&db.pg_config).await.unwrap();
    assert!(report.applied.is_empty(), "{report:?}");
}

#[tokio::test]
async fn concurrent_migrations_apply_each_migration_once() {
    let db = TestDb::empty().await;
    let runs = futures_util::future::join_all((0..4).map(|_| migrate::run(&db.pg_config))).await;
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(run.expect("every instance starts cleanly").applied);
    }
    let expected: Vec<String> = std::fs::read_dir(crate::helpers::repo_path("sql"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    assert_eq!(
        applied.len(),
        expected.len(),
        "each migration applied by exactly one instance: {applied:?}"
    );
    let client = db.client().await;
    let n: i64 =
        client.query_one("SELECT count(*) FROM refinery_schema_history", &[]).await.unwrap().get(0);
    assert_eq!(n as usize, expected.len());
}

async fn seed_org(db: &tokio_postgres::Client) -> uuid::Uuid {
    let partner = orgs::insert_partner(db, "Partner A", None).await.unwrap();
    orgs::insert_org(db, "Practice A", "office@a.example", Some(partner)).await.unwrap()
}

#[tokio::test]
async fn the_audit_log_refuses_update_delete_and_truncate() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let org = seed_org(&client).await;
    portal::db::audit::record(
        &client,
        &portal::db::audit::Entry {
            org_id: Some(org),
            action: "signin.succeeded",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Raw SQL on purpose: the writes the table must refuse.
    for sql in [
        "UPDATE client_audit_log SET action = 'forged'",
        "DELETE FROM client_audit_log",
        "TRUNCATE client_audit_log",
    ] {
        let err = client.batch_execute(sql).await.expect_err(sql);
        let msg = err.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
        assert!(msg.contains("append-only"), "{sql}: {msg}");
    }
    let n: i64 =
        client.query_one("SELECT count(*) FROM client_audit_log", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_not_a_crash() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let org = seed_org(&client).await;
    orgs::insert_user(&client, org, "jane@a.example", None, Role::Admin).await.unwrap();
    let err =
        orgs::insert_user(&client, org, "jane@a.example", None, Role::Viewer).await.unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn a_practice_has_at_most_one_active_owner() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let org = seed_org(&client).await;
    orgs::insert_user(&client, org, "owner1@a.example", None, Role::Owner).await.unwrap();
    let err =
        orgs::insert_user(&client, org, "owner2@a.example", None, Role::Owner).await.unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn constraints_refuse_malformed_rows() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let org = seed_org(&client).await;
    let short_key = vec![0u8; 31];
    // Raw SQL on purpose: rows the portal's functions would never write.
    let bad: Vec<(&str, Vec<&(dyn tokio_postgres::types::ToSql + Sync)>)> = vec![
        (
            "INSERT INTO sites (client_org_id, name, agent_public_key) VALUES ($1, 'X', $2)",
            vec![&org, &short_key],
        ),
        (
            "INSERT INTO client_users (client_org_id, email, role) VALUES ($1, 'x@a.example', 'superuser')",
            vec![&org],
        ),
        (
            "INSERT INTO client_users (client_org_id, email, role) VALUES ($1, 'Upper@A.example', 'viewer')",
            vec![&org],
        ),
        ("UPDATE client_orgs SET status = 'deleted' WHERE id = $1", vec![&org]),
    ];
    for (sql, params) in bad {
        let err = client.execute(sql, &params).await.expect_err(sql);
        assert!(err.as_db_error().is_some(), "{sql}: {err}");
    }
}

#[tokio::test]
async fn the_evidence_list_query_is_served_by_an_index() {
    let db = TestDb::new().await;
    let client = db.client().await;
    client.batch_execute("SET enable_seqscan = off").await.unwrap();
    let plan: String = client
        .query(
            "EXPLAIN SELECT id FROM evidence_bundles WHERE client_org_id = $1 \
             AND (checked_at, id) < ($2, $3) ORDER BY checked_at DESC, id DESC LIMIT 50",
            &[&uuid::Uuid::new_v4(), &chrono::Utc::now(), &uuid::Uuid::new_v4()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("evidence_bundles_org_checked_idx"), "{plan}");
    assert!(!plan.contains("Sort"), "keyset order comes from the index: {plan}");
}
