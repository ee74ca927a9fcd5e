//! Pruning: expired sign-in links, old sessions, delivered mail and spent
//! rate-limit counters are deleted on schedule; what is still live, and
//! every record HIPAA asks to keep (the audit log here), stays. Two passes
//! at once (two instances) delete each row once.

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_deletes_what_expired_and_keeps_the_rest() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    {
        // Raw SQL on purpose: rows from the past, which no portal path writes.
        let db = app.db_client().await;
        db.batch_execute(&format!(
            "INSERT INTO rate_limits (bucket, window_start, count)
               SELECT 'old:' || g, now() - interval '2 days', 1 FROM generate_series(1, 12000) g;
             INSERT INTO rate_limits (bucket, window_start, count) VALUES ('live', now(), 1);
             INSERT INTO client_magic_links (user_id, token_hash, expires_at, created_at)
               VALUES ('{u}', sha256('old'), now() - interval '2 days', now() - interval '3 days'),
                      ('{u}', sha256('live'), now() + interval '1 hour', now());
             INSERT INTO client_sessions (user_id, token_hash, csrf_token, created_at, expires_at)
               VALUES ('{u}', sha256('s-old'), 'x', now() - interval '90 days', now() - interval '31 days'),
                      ('{u}', sha256('s-live'), 'x', now(), now() + interval '1 day');
             INSERT INTO email_outbox (to_address, subject, body_text, kind, status, sent_at, created_at)
               VALUES ('a@x.example', 'old', 'x', 'digest', 'sent', now() - interval '31 days', now() - interval '31 days'),
                      ('a@x.example', 'new', 'x', 'digest', 'sent', now(), now()),
                      ('a@x.example', 'waiting', 'x', 'digest', 'pending', NULL, now() - interval '200 days');
             INSERT INTO anonymous_sign_in_attempts (window_start, what, ip_key)
               VALUES (now() - interval '91 days', 'password_unknown_address', '192.0.2.1'),
                      (date_trunc('hour', now()), 'password_unknown_address', '192.0.2.1');
             INSERT INTO magic_link_requests (email, requested_at)
               VALUES ('left@x.example', now() - interval '2 days');
             INSERT INTO mfa_pending (user_id, token_hash, method, expires_at)
               VALUES ('{u}', sha256('p-old'), 'password', now() - interval '2 days'),
                      ('{u}', sha256('p-live'), 'password', now() + interval '5 minutes');
             INSERT INTO mfa_challenges (user_id, purpose, state, expires_at)
               VALUES ('{u}', 'register', '{{}}', now() - interval '2 days'),
                      ('{u}', 'reauthenticate', '{{}}', now() + interval '5 minutes');
             INSERT INTO client_audit_log (client_org_id, action, created_at)
               VALUES ('{o}', 'test.ancient', now() - interval '7 years');",
            u = p.owner.id,
            o = p.org_id,
        ))
        .await
        .unwrap();
    }
    let audit_before = app.rows_in("client_audit_log").await;
    // Two instances' passes at once.
    let (a, b) = tokio::join!(
        portal::evidence::sweeper::housekeeping(&app.pool, None),
        portal::evidence::sweeper::housekeeping(&app.pool, None)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let total = |table: &str| -> u64 {
        a.iter().chain(&b).filter(|(t, _)| *t == table).map(|(_, n)| n).sum()
    };
    assert_eq!(total("rate_limits"), 12000, "each old counter deleted once, in batches");
    assert_eq!(total("client_magic_links"), 1);
    assert_eq!(total("email_outbox"), 1);
    assert!(total("client_sessions") >= 1);
    assert_eq!(total("anonymous_sign_in_attempts"), 1);
    assert_eq!(total("magic_link_requests"), 1);
    assert_eq!(total("mfa_pending"), 1);
    assert_eq!(total("mfa_challenges"), 1);
    assert!(a.iter().all(|(t, _)| *t != "client_audit_log"), "no retention set: {a:?}");

    let left = |sql: &'static str| app.count(sql, &[]);
    assert_eq!(left("SELECT count(*) FROM rate_limits WHERE bucket = 'live'").await, 1);
    assert_eq!(left("SELECT count(*) FROM rate_limits WHERE bucket LIKE 'old:%'").await, 0);
    assert_eq!(
        left("SELECT count(*) FROM client_magic_links WHERE token_hash = sha256('live')").await,
        1
    );
    assert_eq!(
        left("SELECT count(*) FROM client_sessions WHERE token_hash = sha256('s-live')").await,
        1
    );
    assert_eq!(
        left("SELECT count(*) FROM client_sessions WHERE token_hash = sha256('s-old')").await,
        0
    );
    assert_eq!(
        left("SELECT count(*) FROM email_outbox WHERE subject IN ('new', 'waiting')").await,
        2
    );
    assert_eq!(left("SELECT count(*) FROM anonymous_sign_in_attempts").await, 1);
    assert_eq!(
        left("SELECT count(*) FROM mfa_pending WHERE token_hash = sha256('p-live')").await,
        1
    );
    assert_eq!(
        left("SELECT count(*) FROM mfa_challenges WHERE purpose = 'reauthenticate'").await,
        1
    );
    assert_eq!(app.rows_in("client_audit_log").await, audit_before, "the audit log is kept");
}

/// With `PORTAL_RETENTION_YEARS` set, audit rows older than it go and
/// younger ones stay; the database itself refuses to delete a row younger
/// than six years, whoever asks, and any UPDATE.
#[tokio::test]
async fn the_audit_log_is_pruned_only_past_its_retention_and_never_before_six_years() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let db = app.db_client().await;
    db.batch_execute(&format!(
        "INSERT INTO client_audit_log (client_org_id, action, created_at)
           VALUES ('{o}', 'test.nine_years', now() - interval '9 years'),
                  ('{o}', 'test.seven_years', now() - interval '7 years'),
                  ('{o}', 'test.five_years', now() - interval '5 years');",
        o = p.org_id,
    ))
    .await
    .unwrap();
    let pruned = portal::evidence::sweeper::housekeeping(&app.pool, Some(8)).await.unwrap();
    assert!(pruned.contains(&("client_audit_log", 1)), "{pruned:?}");
    let app = &app;
    let left = |action: &'static str| async move {
        app.count("SELECT count(*) FROM client_audit_log WHERE action = $1", &[&action]).await
    };
    assert_eq!(left("test.nine_years").await, 0);
    assert_eq!(left("test.seven_years").await, 1);

    let pruned = portal::evidence::sweeper::housekeeping(&app.pool, Some(6)).await.unwrap();
    assert!(pruned.contains(&("client_audit_log", 1)), "{pruned:?}");
    assert_eq!(left("test.seven_years").await, 0);
    assert_eq!(left("test.five_years").await, 1, "younger than six years: kept");

    // Fewer than six years is refused by the database, not only by the config.
    let err = db.query_one("SELECT prune_audit_log(5, 100)", &[]).await.unwrap_err();
    assert!(format!("{err:?}").contains("at least 6 years"), "{err:?}");
    // Even the tables' owner (this connection is a superuser) cannot delete
    // a younger row or change any row.
    for sql in [
        "DELETE FROM client_audit_log WHERE action = 'test.five_years'",
        "UPDATE client_audit_log SET action = 'x' WHERE action = 'test.five_years'",
        "TRUNCATE client_audit_log",
    ] {
        let err = db.batch_execute(sql).await.unwrap_err();
        assert!(format!("{err:?}").contains("append-only"), "{sql}: {err:?}");
    }
    assert_eq!(left("test.five_years").await, 1);
}
