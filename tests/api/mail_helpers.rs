//! Test support for mail: the portal in demo mode, and outbox rows as the
//! database holds them.

#![allow(dead_code)] // each test module uses a different subset

use chrono::{DateTime, Utc};
use poem::EndpointExt;
use poem::test::TestClient;
use portal::db::outbox::{self, NewMail};
use portal::{AppState, Mode};
use uuid::Uuid;

use crate::helpers::{TempDir, TestApp, TestDb, test_config};

/// The portal in process, in demo mode (dev mailbox on), on a fresh database.
pub async fn spawn_demo_app() -> TestApp {
    let db = TestDb::new().await;
    let data_dir = TempDir::new();
    let config = test_config(&db, data_dir.path());
    let pool = db.pool();
    let state = AppState::new(pool.clone(), config, crate::helpers::test_secrets(), Mode::Demo);
    let client = TestClient::new(portal::app(state.clone()).map_to_response().boxed());
    TestApp { db, pool, state, client, data_dir }
}

/// A plain message to `to`.
pub fn mail(to: &str, subject: &str, text: &str) -> NewMail {
    NewMail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: text.to_owned(),
        html: None,
        kind: "test",
        contains_secret: false,
    }
}

pub async fn enqueue(pool: &deadpool_postgres::Pool, mail: &NewMail) -> Uuid {
    let db = pool.get().await.unwrap();
    outbox::enqueue(&**db, mail).await.unwrap()
}

/// An outbox row, read straight from the table.
#[derive(Debug)]
pub struct Row {
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub contains_secret: bool,
    /// The database's clock when the row was read.
    pub now: DateTime<Utc>,
}

pub async fn row(pool: &deadpool_postgres::Pool, id: Uuid) -> Row {
    let db = pool.get().await.unwrap();
    let r = db
        .query_one(
            "SELECT status, attempts, max_attempts, next_attempt_at, last_error, locked_until,
                    sent_at, body_text, body_html, contains_secret, now()
               FROM email_outbox WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    Row {
        status: r.get(0),
        attempts: r.get(1),
        max_attempts: r.get(2),
        next_attempt_at: r.get(3),
        last_error: r.get(4),
        locked_until: r.get(5),
        sent_at: r.get(6),
        body_text: r.get(7),
        body_html: r.get(8),
        contains_secret: r.get(9),
        now: r.get(10),
    }
}

/// Makes retries due now, as if their backoff had passed.
pub async fn make_due(pool: &deadpool_postgres::Pool) {
    // Raw SQL on purpose: the backoff passes; no portal function moves time.
    let db = pool.get().await.unwrap();
    db.execute("UPDATE email_outbox SET next_attempt_at = now() WHERE status = 'pending'", &[])
        .await
        .unwrap();
}
