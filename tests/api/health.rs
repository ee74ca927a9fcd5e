use poem::http::StatusCode;
use portal::{AppState, Mode};

use crate::helpers::{TempDir, TestDb, spawn_app, test_config};

/// An app whose database is unreachable (a socket directory with no server).
async fn app_without_database() -> (poem::test::TestClient<impl poem::Endpoint>, TempDir) {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let config = test_config(&db, dir.path());
    let mut dead = tokio_postgres::Config::new();
    dead.host_path(dir.path()).port(1).user("nobody").dbname("nothing");
    let state = AppState::new(
        portal::db::pool(dead, 2, None),
        config,
        crate::helpers::test_secrets(),
        Mode::Serve,
    );
    (poem::test::TestClient::new(portal::app(state)), dir)
}

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = spawn_app().await;
    let resp = app.client.get("/healthz").send().await;
    resp.assert_status_is_ok();
    resp.assert_json(serde_json::json!({"status": "ok"})).await;
}

#[tokio::test]
async fn readyz_is_200_when_the_database_answers() {
    let app = spawn_app().await;
    let resp = app.client.get("/readyz").send().await;
    resp.assert_status_is_ok();
    resp.assert_json(serde_json::json!({"status": "ready", "database": "ok"})).await;
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_unreachable() {
    let (client, _dir) = app_without_database().await;
    let resp = client.get("/readyz").send().await;
    resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    resp.assert_json(serde_json::json!({"status": "unavailable", "database": "unreachable"})).await;
    // The process itself is still alive.
    client.get("/healthz").send().await.assert_status_is_ok();
}

#[tokio::test]
async fn api_status_reports_the_database_in_the_error_envelope() {
    let app = spawn_app().await;
    let ok = app.client.get("/api/status").send().await;
    ok.assert_status_is_ok();
    let body = ok.json().await;
    body.value().object().get("database").assert_string("ok");

    let (client, _dir) = app_without_database().await;
    let down = client.get("/api/status").send().await;
    down.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    let body = down.json().await;
    body.value().object().get("error").assert_string("unavailable");
}

/// Finding 9: `/readyz` took a connection from the pool, so while ingest
/// kept every pooled connection busy the probe waited and answered 503 (85
/// of 150 probes): a load balancer would have ejected a working instance.
/// The probe now has a connection of its own.
#[tokio::test]
async fn readyz_answers_ready_while_every_pooled_connection_is_busy() {
    let app = spawn_app().await;
    let size = app.pool.status().max_size;
    let mut held = Vec::with_capacity(size);
    for _ in 0..size {
        held.push(app.pool.get().await.unwrap());
    }
    assert_eq!(app.pool.status().available, 0, "the pool is exhausted");
    for _ in 0..3 {
        let resp = app.client.get("/readyz").send().await;
        resp.assert_status_is_ok();
        resp.assert_json(serde_json::json!({"status": "ready", "database": "ok"})).await;
    }
    app.client.get("/api/status").send().await.assert_status_is_ok();
    // The probe's connection is not one of the pool's.
    assert_eq!(app.pool.status().size, size);
    drop(held);
}

/// Finding 9: with no statement timeout a request waited as long as the
/// database did (a frozen database or a held lock meant a request hanging
/// for good). Now a statement is cancelled after `PORTAL_STATEMENT_TIMEOUT`
/// and the request answers 503, and the next one works once the lock goes.
#[tokio::test]
async fn a_statement_stuck_behind_a_lock_is_cancelled_and_answers_503() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.statement_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let p = app.practice("Oak Clinic").await;
    let mut owner = app.db.client().await;
    let lock = owner.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE client_notifications IN ACCESS EXCLUSIVE MODE").await.unwrap();
    // A bound, not a wait: without the timeout the request never returns.
    let stuck = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        app.get_as(&p.viewer, "/api/client/notifications").send(),
    )
    .await
    .expect("the request returns instead of hanging behind the lock");
    let body = crate::helpers::expect_json(stuck, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error"], "unavailable", "{body}");
    lock.rollback().await.unwrap();
    let again = app.get_as(&p.viewer, "/api/client/notifications").send().await;
    crate::helpers::expect_json(again, StatusCode::OK).await;

    // The owner's pool (migrations, fixtures) has no such limit.
    let slow = app.pool.get().await.unwrap();
    slow.batch_execute("SELECT pg_sleep(1.2)").await.unwrap();
}
