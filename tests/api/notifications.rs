//! The notifications area: API and pages. Read state is per user; "mark all
//! read" is a watermark per user; email preferences decide who is mailed.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use poem::http::{Method, StatusCode};
use portal::db::users::Owners;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Practice, TestApp, TestUser, body_json, body_text, expect_json, expect_text, spawn_app,
    wait_for,
};
use crate::matrix::Case;

/// This area's rows of the role x organisation matrix (see matrix.rs).
/// Everything but marking one notification read acts on the caller's own
/// practice and read state, so another practice's owner gets 200 there.
pub const MATRIX: &[Case] = &[
    Case {
        operation_id: "list_notifications",
        method: Method::GET,
        expect: [401, 200, 200, 200, 200, 403],
    },
    // A notification of practice A.
    Case {
        operation_id: "mark_notification_read",
        method: Method::POST,
        expect: [401, 200, 200, 200, 404, 403],
    },
    Case {
        operation_id: "mark_all_notifications_read",
        method: Method::POST,
        expect: [401, 200, 200, 200, 200, 403],
    },
    Case {
        operation_id: "get_notification_preferences",
        method: Method::GET,
        expect: [401, 200, 200, 200, 200, 403],
    },
    Case {
        operation_id: "set_notification_preferences",
        method: Method::PUT,
        expect: [401, 200, 200, 200, 200, 403],
    },
];

/// A fresh request for one of this area's operations against practice `a`,
/// or None when the operation is not this area's.
pub async fn matrix_request(
    app: &TestApp,
    a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    Some(match operation_id {
        "list_notifications" => {
            ("/api/client/notifications?unread_only=true&limit=10".into(), None)
        }
        "mark_notification_read" => {
            let id = notify(app, a.org_id, "Matrix notification", "warning", 0).await;
            (format!("/api/client/notifications/{id}/read"), None)
        }
        "mark_all_notifications_read" => {
            notify(app, a.org_id, "Matrix notification", "info", 0).await;
            ("/api/client/notifications/read-all".into(), None)
        }
        "get_notification_preferences" => ("/api/client/notification-preferences".into(), None),
        "set_notification_preferences" => (
            "/api/client/notification-preferences".into(),
            Some(json!({ "critical_alerts": false, "monthly_report": true })),
        ),
        _ => return None,
    })
}

/// A notification of `org_id` created `minutes_ago` minutes ago, through
/// the same insert ingest and the sweeper use.
async fn notify(
    app: &TestApp,
    org_id: Uuid,
    title: &str,
    severity: &str,
    minutes_ago: i64,
) -> Uuid {
    let db = app.db_client().await;
    let severity = match severity {
        "critical" => portal::db::notifications::Severity::Critical,
        "warning" => portal::db::notifications::Severity::Warning,
        _ => portal::db::notifications::Severity::Info,
    };
    let id = portal::db::notifications::insert(
        &**db,
        &portal::db::notifications::NewNotification {
            org_id,
            site_id: None,
            kind: "check_failed",
            severity,
            title: title.to_owned(),
            message: format!("Details of {title}"),
            action_url: Some(portal::paths::EVIDENCE.into()),
            action_label: Some("See the evidence".into()),
            dedupe_key: Uuid::new_v4().to_string(),
            check: None,
            repeats: false,
        },
    )
    .await
    .unwrap()
    .expect("a new notification");
    if minutes_ago > 0 {
        // Raw SQL on purpose: a notification from the past; the insert
        // stamps the present.
        db.execute(
            "UPDATE client_notifications SET created_at = now() - make_interval(mins => $2::int)
              WHERE id = $1",
            &[&id, &(minutes_ago as i32)],
        )
        .await
        .unwrap();
    }
    id
}

async fn list(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let resp = app.get_as(user, &format!("/api/client/notifications{query}")).send().await;
    expect_json(resp, StatusCode::OK).await
}

fn item(list: &Value, id: Uuid) -> &Value {
    list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id.to_string())
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

fn ids(list: &Value) -> Vec<String> {
    list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn read_rows(app: &TestApp, user_id: Uuid) -> i64 {
    let db = app.db_client().await;
    db.query_one("SELECT count(*) FROM client_notification_reads WHERE user_id = $1", &[&user_id])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn read_state_is_per_user_and_the_list_is_newest_first() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let old = notify(&app, p.org_id, "Old", "info", 30).await;
    let new = notify(&app, p.org_id, "New", "critical", 5).await;

    let resp = app.post_as(&p.owner, &format!("/api/client/notifications/{old}/read")).send().await;
    assert_eq!(expect_json(resp, StatusCode::OK).await, json!({ "status": "read" }));

    let mine = list(&app, &p.owner, "").await;
    assert_eq!(ids(&mine), vec![new.to_string(), old.to_string()], "newest first");
    assert_eq!(mine["unread_count"], 1);
    let o = item(&mine, old);
    assert_eq!(o["is_read"], true);
    assert!(o["read_at"].is_string(), "{o}");
    assert_eq!(o["type"], "check_failed");
    assert_eq!(o["severity"], "info");
    assert_eq!(o["title"], "Old");
    assert_eq!(o["message"], "Details of Old");
    assert_eq!(o["action_url"], portal::paths::EVIDENCE);
    assert_eq!(o["action_label"], "See the evidence");
    assert!(o["created_at"].is_string());
    let n = item(&mine, new);
    assert_eq!(n["is_read"], false);
    assert_eq!(n["read_at"], Value::Null);
    assert!(n.as_object().unwrap().contains_key("read_at"), "present as null: {n}");
    assert_eq!(n["severity"], "critical");

    // A colleague still has both unread, by session and by API token.
    let theirs = list(&app, &p.viewer, "").await;
    assert_eq!(theirs["unread_count"], 2);
    assert_eq!(item(&theirs, old)["is_read"], false);
    let token = app.bearer(&p.admin).await;
    let resp = app
        .client
        .get("/api/client/notifications")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    assert_eq!(expect_json(resp, StatusCode::OK).await["unread_count"], 2);
    // ... and a token can mark read too (no CSRF token needed).
    app.client
        .post(format!("/api/client/notifications/{new}/read"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .assert_status_is_ok();
    assert_eq!(list(&app, &p.admin, "").await["unread_count"], 1);
    assert_eq!(list(&app, &p.owner, "").await["unread_count"], 1);

    // The dashboard counts the same way.
    let dash = body_json(app.get_as(&p.viewer, "/api/client/dashboard").send().await).await;
    assert_eq!(dash["unread_notifications"], 2, "{dash}");
}

#[tokio::test]
async fn marking_read_twice_changes_nothing() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let id = notify(&app, p.org_id, "Failing backup", "critical", 1).await;
    let path = format!("/api/client/notifications/{id}/read");
    app.post_as(&p.admin, &path).send().await.assert_status_is_ok();
    let first = item(&list(&app, &p.admin, "").await, id)["read_at"].clone();
    assert!(first.is_string());
    let resp = app.post_as(&p.admin, &path).send().await;
    assert_eq!(expect_json(resp, StatusCode::OK).await, json!({ "status": "read" }));
    assert_eq!(item(&list(&app, &p.admin, "").await, id)["read_at"], first, "read_at unchanged");
    assert_eq!(read_rows(&app, p.admin.id).await, 1);

    // Under the watermark, marking read adds no row and keeps read_at:
    // still when it was first read, not when everything was marked read.
    let other = notify(&app, p.org_id, "Disk space", "warning", 1).await;
    app.post_as(&p.admin, "/api/client/notifications/read-all").send().await.assert_status_is_ok();
    let mine = list(&app, &p.admin, "").await;
    assert_eq!(item(&mine, id)["read_at"], first);
    let other_read_at = item(&mine, other)["read_at"].clone();
    assert!(other_read_at.is_string());
    app.post_as(&p.admin, &path).send().await.assert_status_is_ok();
    app.post_as(&p.admin, &format!("/api/client/notifications/{other}/read"))
        .send()
        .await
        .assert_status_is_ok();
    let mine = list(&app, &p.admin, "").await;
    assert_eq!(item(&mine, id)["read_at"], first);
    assert_eq!(item(&mine, other)["read_at"], other_read_at);
    assert_eq!(read_rows(&app, p.admin.id).await, 1, "no row for the one under the watermark");
}

#[tokio::test]
async fn another_practices_notification_is_not_found_and_bad_ids_are_400() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let theirs = notify(&app, b.org_id, "Elm only", "warning", 1).await;

    // API.
    let resp =
        app.post_as(&a.owner, &format!("/api/client/notifications/{theirs}/read")).send().await;
    let body = expect_json(resp, StatusCode::NOT_FOUND).await;
    assert_eq!(body["error"], "not_found");
    assert!(body["message"].as_str().unwrap().contains("notification"), "{body}");
    let unknown = Uuid::new_v4();
    app.post_as(&a.owner, &format!("/api/client/notifications/{unknown}/read"))
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let resp = app.post_as(&a.owner, "/api/client/notifications/not-a-uuid/read").send().await;
    assert_eq!(expect_json(resp, StatusCode::BAD_REQUEST).await["error"], "bad_request");

    // Pages, with htmx and without.
    let page = portal::paths::notification_read(theirs);
    app.post_as(&a.owner, &page)
        .header("hx-request", "true")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    app.post_as(&a.owner, &page).send().await.assert_status(StatusCode::NOT_FOUND);
    app.post_as(&a.owner, "/client/notifications/not-a-uuid/read")
        .header("hx-request", "true")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);

    // Nothing was written, and A's lists never show B's notification.
    let db = app.db_client().await;
    let rows: i64 =
        db.query_one("SELECT count(*) FROM client_notification_reads", &[]).await.unwrap().get(0);
    assert_eq!(rows, 0);
    assert!(ids(&list(&app, &a.owner, "").await).is_empty());
    let html = body_text(app.get_as(&a.owner, portal::paths::NOTIFICATIONS).send().await).await;
    assert!(!html.contains("Elm only"));
    // B's read-all leaves A's users alone.
    notify(&app, a.org_id, "Oak only", "info", 1).await;
    app.post_as(&b.owner, "/api/client/notifications/read-all").send().await.assert_status_is_ok();
    assert_eq!(list(&app, &a.owner, "").await["unread_count"], 1);
    assert_eq!(list(&app, &b.owner, "").await["unread_count"], 0);
}

#[tokio::test]
async fn read_all_counts_what_was_unread_and_moves_a_watermark() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let first = notify(&app, p.org_id, "One", "info", 30).await;
    notify(&app, p.org_id, "Two", "warning", 20).await;
    notify(&app, p.org_id, "Three", "critical", 10).await;
    app.post_as(&p.owner, &format!("/api/client/notifications/{first}/read"))
        .send()
        .await
        .assert_status_is_ok();
    assert_eq!(read_rows(&app, p.owner.id).await, 1);
    let first_read_at = item(&list(&app, &p.owner, "").await, first)["read_at"].clone();

    let resp = app.post_as(&p.owner, "/api/client/notifications/read-all").send().await;
    assert_eq!(
        expect_json(resp, StatusCode::OK).await,
        json!({ "status": "read_all", "count": 2 })
    );

    // One watermark, no row per notification; the earlier read keeps its
    // row and its read_at.
    assert_eq!(read_rows(&app, p.owner.id).await, 1);
    let db = app.db_client().await;
    let watermark: Option<chrono::DateTime<chrono::Utc>> = db
        .query_one(
            "SELECT notifications_read_through FROM client_users WHERE id = $1",
            &[&p.owner.id],
        )
        .await
        .unwrap()
        .get(0);
    let watermark = watermark.expect("a watermark");
    let mine = list(&app, &p.owner, "").await;
    assert_eq!(mine["unread_count"], 0);
    assert_eq!(item(&mine, first)["read_at"], first_read_at, "read earlier, kept");
    for n in mine["notifications"].as_array().unwrap() {
        assert_eq!(n["is_read"], true, "{n}");
        if n["id"] == first.to_string() {
            continue;
        }
        let read_at: chrono::DateTime<chrono::Utc> =
            n["read_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(read_at, watermark);
    }
    let first_read_at: chrono::DateTime<chrono::Utc> =
        first_read_at.as_str().unwrap().parse().unwrap();
    assert!(first_read_at < watermark);
    // Colleagues are untouched.
    assert_eq!(list(&app, &p.viewer, "").await["unread_count"], 3);

    // What arrives afterwards is unread again; read-all again counts only it.
    let later = notify(&app, p.org_id, "Four", "critical", 0).await;
    let mine = list(&app, &p.owner, "?unread_only=true").await;
    assert_eq!(ids(&mine), vec![later.to_string()]);
    assert_eq!(mine["unread_count"], 1);
    let resp = app.post_as(&p.owner, "/api/client/notifications/read-all").send().await;
    assert_eq!(body_json(resp).await["count"], 1);
    let resp = app.post_as(&p.owner, "/api/client/notifications/read-all").send().await;
    assert_eq!(body_json(resp).await, json!({ "status": "read_all", "count": 0 }));
}

/// A notification whose inserting transaction began before a "mark all
/// read" and commits after it must not be swallowed (read without ever
/// being seen or counted): "mark all read" waits for the insert to commit,
/// then counts it and marks it read; what is inserted afterwards arrives
/// unread.
#[tokio::test]
async fn read_all_waits_for_a_notification_being_inserted_and_counts_it() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    notify(&app, p.org_id, "Earlier", "info", 10).await;

    // An ingest-like transaction: begun, notification inserted, not committed.
    let mut ingest = app.db_client().await;
    let tx = ingest.transaction().await.unwrap();
    let pending = portal::db::notifications::insert(
        &*tx,
        &portal::db::notifications::NewNotification {
            org_id: p.org_id,
            site_id: None,
            kind: "check_failed",
            severity: portal::db::notifications::Severity::Critical,
            title: "Backup failing".into(),
            message: "Details of Backup failing".into(),
            action_url: None,
            action_label: None,
            dedupe_key: Uuid::new_v4().to_string(),
            check: None,
            repeats: false,
        },
    )
    .await
    .unwrap()
    .expect("a new notification");

    // "Mark all read" runs meanwhile; the insert commits once it is
    // waiting for the practice's notification lock.
    let read_all = async {
        let resp = app.post_as(&p.owner, "/api/client/notifications/read-all").send().await;
        expect_json(resp, StatusCode::OK).await
    };
    let commit_when_read_all_waits = async {
        let db = app.db_client().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let waiting: i64 = db
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                      WHERE datname = current_database()
                        AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "mark all read never waited for the uncommitted notification"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.commit().await.unwrap();
    };
    let (body, ()) = tokio::join!(read_all, commit_when_read_all_waits);
    assert_eq!(body, json!({ "status": "read_all", "count": 2 }), "the pending one was counted");
    let mine = list(&app, &p.owner, "").await;
    assert_eq!(item(&mine, pending)["is_read"], true);
    assert_eq!(mine["unread_count"], 0);

    // Inserted after "mark all read": unread.
    let later = notify(&app, p.org_id, "Later", "warning", 0).await;
    let mine = list(&app, &p.owner, "?unread_only=true").await;
    assert_eq!(ids(&mine), vec![later.to_string()]);
    // Colleagues still have all three unread.
    assert_eq!(list(&app, &p.viewer, "").await["unread_count"], 3);
}

#[tokio::test]
async fn unread_only_and_limit_select_and_bad_values_are_400() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(notify(&app, p.org_id, &format!("N{i}"), "info", 50 - i).await);
    }
    app.post_as(&p.owner, &format!("/api/client/notifications/{}/read", made[4]))
        .send()
        .await
        .assert_status_is_ok();
    app.post_as(&p.owner, &format!("/api/client/notifications/{}/read", made[1]))
        .send()
        .await
        .assert_status_is_ok();

    let unread = list(&app, &p.owner, "?unread_only=true").await;
    assert_eq!(ids(&unread), vec![made[3].to_string(), made[2].to_string(), made[0].to_string()]);
    assert_eq!(unread["unread_count"], 3);
    let all = list(&app, &p.owner, "?unread_only=false").await;
    assert_eq!(all["notifications"].as_array().unwrap().len(), 5);
    let two = list(&app, &p.owner, "?limit=2").await;
    assert_eq!(ids(&two), vec![made[4].to_string(), made[3].to_string()]);
    assert_eq!(two["unread_count"], 3, "the count covers the whole practice");
    let one = list(&app, &p.owner, "?unread_only=true&limit=1").await;
    assert_eq!(ids(&one), vec![made[3].to_string()]);
    list(&app, &p.owner, "?limit=200").await;

    for bad in ["?limit=0", "?limit=201", "?limit=ten", "?limit=-1", "?unread_only=maybe"] {
        let resp = app.get_as(&p.owner, &format!("/api/client/notifications{bad}")).send().await;
        let body = expect_json(resp, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["error"], "bad_request", "{bad}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
}

/// `GET /api/client/notifications` pages by keyset like the evidence list
/// and the audit log: every notification exactly once, newest first, across
/// pages, in both filters; a mangled cursor is a 400.
#[tokio::test]
async fn the_api_pages_notifications_with_a_cursor() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let mut made = Vec::new();
    for i in 0..7 {
        // Two pairs share a time, so the id breaks the tie inside a page and across pages.
        made.push(notify(&app, p.org_id, &format!("N{i}"), "info", 70 - (i / 2) * 10).await);
    }
    app.post_as(&p.owner, &format!("/api/client/notifications/{}/read", made[5]))
        .send()
        .await
        .assert_status_is_ok();
    for (filter, expected) in [("", 7usize), ("&unread_only=true", 6)] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let query = match &cursor {
                Some(c) => format!("?limit=3{filter}&cursor={c}"),
                None => format!("?limit=3{filter}"),
            };
            let page = list(&app, &p.owner, &query).await;
            pages += 1;
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages <= 3, "{filter}: more pages than notifications");
        }
        assert_eq!(seen.len(), expected, "{filter}: {seen:?}");
        let unique: std::collections::BTreeSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), expected, "{filter}: no notification twice");
        let all = list(&app, &p.owner, &format!("?limit=200{filter}")).await;
        assert_eq!(ids(&all), seen, "{filter}: pages in the order of one long page");
        assert!(all["next_cursor"].is_null(), "{filter}: one page holds them all");
    }
    for bad in ["abc", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", &"A".repeat(33)] {
        let resp =
            app.get_as(&p.owner, &format!("/api/client/notifications?cursor={bad}")).send().await;
        let body = expect_json(resp, StatusCode::BAD_REQUEST).await;
        assert!(body["message"].as_str().unwrap().contains("cursor"), "{bad}: {body}");
    }
}

#[tokio::test]
async fn email_preferences_round_trip_and_decide_who_gets_critical_alerts() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let get = |u: &TestUser| app.get_as(u, "/api/client/notification-preferences").send();
    let resp = get(&p.admin).await;
    assert_eq!(
        expect_json(resp, StatusCode::OK).await,
        json!({ "critical_alerts": true, "monthly_report": true })
    );

    let recipients = || async {
        let db = app.db_client().await;
        portal::db::notifications::critical_alert_recipients(&**db, p.org_id)
            .await
            .unwrap()
            .into_iter()
            .map(|(email, _)| email)
            .collect::<Vec<_>>()
    };
    assert_eq!(recipients().await, vec![p.admin.email.clone(), p.owner.email.clone()]);

    let put = |u: &TestUser, body: Value| {
        app.client
            .put("/api/client/notification-preferences")
            .header("cookie", &u.cookie)
            .header("x-csrf-token", &u.csrf)
            .body_json(&body)
            .send()
    };
    let resp = put(&p.admin, json!({ "critical_alerts": false, "monthly_report": true })).await;
    assert_eq!(
        expect_json(resp, StatusCode::OK).await,
        json!({ "critical_alerts": false, "monthly_report": true })
    );
    assert_eq!(
        body_json(get(&p.admin).await).await,
        json!({ "critical_alerts": false, "monthly_report": true })
    );
    // Only the admin's own preferences changed.
    assert_eq!(
        body_json(get(&p.owner).await).await,
        json!({ "critical_alerts": true, "monthly_report": true })
    );
    assert_eq!(recipients().await, vec![p.owner.email.clone()]);

    let resp = put(&p.owner, json!({ "critical_alerts": true, "monthly_report": false })).await;
    resp.assert_status_is_ok();
    {
        let db = app.db_client().await;
        let monthly =
            portal::db::users::active_owners(&**db, p.org_id, Owners::WantingMonthlyReport)
                .await
                .unwrap();
        assert!(monthly.is_empty(), "{monthly:?}");
    }

    // Saving the same values again is not a change.
    put(&p.admin, json!({ "critical_alerts": false, "monthly_report": true }))
        .await
        .assert_status_is_ok();
    let db = app.db_client().await;
    let audited = db
        .query(
            "SELECT actor_user_id, target_id, details FROM client_audit_log
              WHERE action = 'notification_preferences.updated' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(audited.len(), 2, "one row per change");
    assert_eq!(audited[0].get::<_, Option<Uuid>>(0), Some(p.admin.id));
    assert_eq!(audited[0].get::<_, Option<String>>(1), Some(p.admin.id.to_string()));
    let details: Value = audited[0].get(2);
    assert_eq!(details["critical_alerts"], json!({ "from": true, "to": false }));

    // Malformed bodies change nothing.
    for bad in [
        json!({ "critical_alerts": "no", "monthly_report": true }),
        json!({ "critical_alerts": false }),
        json!({ "critical_alerts": 0, "monthly_report": 1 }),
        json!([]),
    ] {
        let resp = put(&p.viewer, bad.clone()).await;
        assert_eq!(
            expect_json(resp, StatusCode::BAD_REQUEST).await["error"],
            "bad_request",
            "{bad}"
        );
    }
    let resp = app
        .client
        .put("/api/client/notification-preferences")
        .header("cookie", &p.viewer.cookie)
        .header("x-csrf-token", &p.viewer.csrf)
        .body("critical_alerts=true")
        .send()
        .await;
    assert!(resp.0.status().is_client_error(), "{}", resp.0.status());
    assert_eq!(
        body_json(get(&p.viewer).await).await,
        json!({ "critical_alerts": true, "monthly_report": true })
    );
    // Cookie callers need the CSRF token.
    let resp = app
        .client
        .put("/api/client/notification-preferences")
        .header("cookie", &p.viewer.cookie)
        .body_json(&json!({ "critical_alerts": false, "monthly_report": false }))
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_page_lists_filters_and_shows_empty_states() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;

    let html = body_text(app.get_as(&p.viewer, portal::paths::NOTIFICATIONS).send().await).await;
    assert!(html.contains("No notifications yet"), "{html}");

    let read = notify(&app, p.org_id, "Backup recovered", "info", 60).await;
    let unread = notify(&app, p.org_id, "Firewall <disabled>", "critical", 5).await;
    app.post_as(&p.viewer, &format!("/api/client/notifications/{read}/read"))
        .send()
        .await
        .assert_status_is_ok();

    let resp = app.get_as(&p.viewer, portal::paths::NOTIFICATIONS).send().await;
    resp.assert_status_is_ok();
    resp.assert_header("cache-control", "no-store");
    let html = body_text(resp).await;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Backup recovered") && html.contains("Firewall &lt;disabled&gt;"));
    assert!(!html.contains("Firewall <disabled>"), "escaped");
    assert!(html.contains(r#"aria-current="page""#));
    let unread_row = format!(r#"id="notification-{unread}" data-read="false""#);
    assert!(html.contains(&unread_row), "{html}");
    assert!(html.contains(&format!(r#"id="notification-{read}" data-read="true""#)));
    assert!(html.contains(&format!(r#"hx-post="/client/notifications/{unread}/read""#)));
    assert!(!html.contains(&format!(r#"hx-post="/client/notifications/{read}/read""#)));
    assert!(html.contains("Critical") && html.contains(r#"href="/client/evidence""#));
    assert!(html.contains("Mark all read") && html.contains("1 unread notification"));
    assert!(html.contains(r#"hx-push-url="true""#));

    // A direct load of the unread filter renders the whole page.
    let html =
        body_text(app.get_as(&p.viewer, "/client/notifications?unread=1").send().await).await;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Firewall") && !html.contains("Backup recovered"));
    // htmx gets the list fragment only.
    let resp = app
        .get_as(&p.viewer, "/client/notifications?unread=1")
        .header("hx-request", "true")
        .send()
        .await;
    resp.assert_status_is_ok();
    resp.assert_header("vary", "HX-Request");
    let html = body_text(resp).await;
    assert!(html.starts_with(r#"<section class="card" id="notification-list""#), "{html}");
    assert!(html.contains("Firewall") && !html.contains("Backup recovered"));
    // ... unless htmx restores history, which needs the whole page.
    let html = body_text(
        app.get_as(&p.viewer, "/client/notifications?unread=1")
            .header("hx-request", "true")
            .header("hx-history-restore-request", "true")
            .send()
            .await,
    )
    .await;
    assert!(html.starts_with("<!DOCTYPE html>"));

    // Other users still see both unread; nothing unread shows the caught-up state.
    app.post_as(&p.viewer, "/api/client/notifications/read-all").send().await.assert_status_is_ok();
    let html =
        body_text(app.get_as(&p.viewer, "/client/notifications?unread=1").send().await).await;
    assert!(html.contains("all caught up"), "{html}");
    let html = body_text(app.get_as(&p.owner, "/client/notifications?unread=1").send().await).await;
    assert!(html.contains("Backup recovered") && html.contains("Firewall"));

    for bad in ["?unread=perhaps", "?after=not-a-cursor"] {
        app.get_as(&p.viewer, &format!("/client/notifications{bad}"))
            .send()
            .await
            .assert_status(StatusCode::BAD_REQUEST);
    }
    // Signed out: to the sign-in page.
    let resp = app.client.get(portal::paths::NOTIFICATIONS).send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn mark_read_returns_the_row_and_the_badge_out_of_band() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let a = notify(&app, p.org_id, "Alpha", "warning", 30).await;
    notify(&app, p.org_id, "Beta", "warning", 20).await;
    notify(&app, p.org_id, "Gamma", "warning", 10).await;

    let badge =
        body_text(app.get_as(&p.admin, portal::paths::NOTIFICATIONS_BADGE).send().await).await;
    assert!(badge.starts_with("<span ") && badge.contains(r#"id="nav-unread""#), "{badge}");
    assert!(badge.contains(">3</span>") && !badge.contains("hx-swap-oob"), "{badge}");
    assert!(badge.contains("X-Portal-Background"), "its polls are marked as background: {badge}");

    let resp = app
        .post_as(&p.admin, &portal::paths::notification_read(a))
        .header("hx-request", "true")
        .send()
        .await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(
        html.starts_with(&format!(
            r#"<tr class="notification-row" id="notification-{a}" data-read="true""#
        )),
        "{html}"
    );
    assert!(!html.contains("Mark read"), "{html}");
    let oob = html.find(r#"id="nav-unread""#).expect("the badge");
    assert!(html[oob..].contains(r#"hx-swap-oob="true""#), "{html}");
    assert!(html[oob..].contains(">2</span>"), "{html}");
    assert!(html.contains(r#"aria-label="2 unread""#));
    let head = html.find(r#"id="notification-list-head" hx-swap-oob="true""#).expect("the head");
    assert!(html[head..].contains("Unread (2)") && html[head..].contains("2 unread notifications"));
    assert_eq!(list(&app, &p.admin, "").await["unread_count"], 2);

    // Without JavaScript: a plain form post (CSRF token in the form) goes back.
    let b = notify(&app, p.org_id, "Delta", "info", 0).await;
    let resp = app
        .post_plain_form_as(&p.admin, &portal::paths::notification_read(b), &[("unread", "1")])
        .send()
        .await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", "/client/notifications?unread=1");
    assert_eq!(item(&list(&app, &p.admin, "").await, b)["is_read"], true);
    // ... and without the token it is refused.
    let c = notify(&app, p.org_id, "Epsilon", "info", 0).await;
    let resp = app
        .client
        .post(portal::paths::notification_read(c))
        .header("cookie", &p.admin.cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[("unread", "1")])
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(item(&list(&app, &p.admin, "").await, c)["is_read"], false);
}

#[tokio::test]
async fn mark_all_read_on_the_page_returns_the_list_and_the_badge() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    for i in 0..3 {
        notify(&app, p.org_id, &format!("Check {i}"), "warning", 10 - i).await;
    }
    let resp = app
        .post_as(&p.owner, portal::paths::NOTIFICATIONS_READ_ALL)
        .header("hx-request", "true")
        .form(&[("unread", "1")])
        .send()
        .await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.starts_with(r#"<section class="card" id="notification-list""#), "{html}");
    assert!(html.contains("Marked 3 notifications read."), "{html}");
    assert!(html.contains("all caught up"), "the unread filter is kept: {html}");
    let oob = html.find(r#"id="nav-unread""#).expect("the badge");
    assert!(html[oob..].contains(r#"hx-swap-oob="true""#));
    assert!(!html[oob..].contains("aria-label"), "no count: {html}");

    notify(&app, p.org_id, "Later", "critical", 0).await;
    let resp = app.post_as(&p.owner, portal::paths::NOTIFICATIONS_READ_ALL).send().await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", portal::paths::NOTIFICATIONS);
    assert_eq!(list(&app, &p.owner, "").await["unread_count"], 0);
    assert_eq!(list(&app, &p.viewer, "").await["unread_count"], 4);
}

#[tokio::test]
async fn the_page_shows_the_newest_hundred_and_loads_more() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    {
        // Raw SQL on purpose: 105 notifications a minute apart in one
        // statement; the portal's insert stamps them all with the present.
        let db = app.db_client().await;
        db.execute(
            "INSERT INTO client_notifications (client_org_id, type, severity, title, message, created_at)
             SELECT $1, 'check_failed', 'info', 'Bulk ' || i, 'm', now() - make_interval(mins => i)
               FROM generate_series(1, 105) i",
            &[&p.org_id],
        )
        .await
        .unwrap();
    }
    let html = body_text(app.get_as(&p.viewer, portal::paths::NOTIFICATIONS).send().await).await;
    assert_eq!(html.matches(r#"class="notification-row"#).count(), 100);
    assert!(
        html.contains(">Bulk 1<") && html.contains(">Bulk 100<") && !html.contains(">Bulk 101<")
    );
    assert!(html.contains("Showing the newest 100."));
    let start = html.find(r#"hx-get="/client/notifications?after="#).expect("Load more") + 8;
    let url = &html[start..start + html[start..].find('"').unwrap()];

    let resp = app.get_as(&p.viewer, url).header("hx-request", "true").send().await;
    let more = expect_text(resp, StatusCode::OK).await;
    assert_eq!(more.matches(r#"class="notification-row"#).count(), 5, "{more}");
    assert!(more.contains(">Bulk 101<") && more.contains(">Bulk 105<"));
    assert!(more.contains(r#"id="notifications-more" hx-swap-oob="true""#));
    assert!(!more.contains("after="), "no further page");
    // The same link without JavaScript is a whole page of older ones.
    let page = body_text(app.get_as(&p.viewer, url).send().await).await;
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("Back to the newest"));
}

#[tokio::test]
async fn settings_has_email_preferences_that_save_in_place() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let html = body_text(app.get_as(&p.viewer, portal::paths::SETTINGS).send().await).await;
    assert!(html.contains(r#"id="email-notifications-section""#), "{html}");
    assert!(html.contains(r#"name="critical_alerts" value="on" checked"#), "{html}");
    assert!(html.contains("your role does not receive them"));

    // htmx: only monthly_report ticked.
    let resp = app
        .post_as(&p.owner, portal::paths::SETTINGS_NOTIFICATIONS)
        .header("hx-request", "true")
        .form(&[("monthly_report", "on")])
        .send()
        .await;
    let html = expect_text(resp, StatusCode::OK).await;
    assert!(html.starts_with(r#"<section class="card" id="email-notifications-section""#));
    assert!(html.contains("Email preferences saved."));
    assert!(!html.contains(r#"name="critical_alerts" value="on" checked"#), "{html}");
    assert!(html.contains(r#"name="monthly_report" value="on" checked"#), "{html}");
    let prefs =
        body_json(app.get_as(&p.owner, "/api/client/notification-preferences").send().await).await;
    assert_eq!(prefs, json!({ "critical_alerts": false, "monthly_report": true }));

    // Without JavaScript: 303 back to settings.
    let resp = app
        .post_plain_form_as(
            &p.owner,
            portal::paths::SETTINGS_NOTIFICATIONS,
            &[("critical_alerts", "on")],
        )
        .send()
        .await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", "/client/settings#email-notifications-section");
    let prefs =
        body_json(app.get_as(&p.owner, "/api/client/notification-preferences").send().await).await;
    assert_eq!(prefs, json!({ "critical_alerts": true, "monthly_report": false }));
    let db = app.db_client().await;
    let audited: i64 = db
        .query_one(
            "SELECT count(*) FROM client_audit_log WHERE action = 'notification_preferences.updated'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2);
}

// ---------------------------------------------------------------------------
// In a real browser
// ---------------------------------------------------------------------------

#[tokio::test]
async fn marking_a_notification_read_updates_the_badge_without_a_reload() {
    let Some((_driver, client)) = crate::browser::browser().await else { return };
    let app = spawn_app().await;
    let p = app.practice("Riverside Family Medicine").await;
    let first = notify(&app, p.org_id, "BitLocker is off on FRONTDESK-01", "critical", 30).await;
    notify(&app, p.org_id, "Backups have not run for 3 days", "warning", 20).await;
    notify(&app, p.org_id, "Windows updates are pending", "info", 10).await;
    let server = crate::helpers::spawn_server(&app).await;

    crate::browser::open_as(&client, &server.base_url, &p.owner, portal::paths::NOTIFICATIONS)
        .await;
    let badge_text = || async {
        client
            .execute("var b = document.getElementById('nav-unread'); return b ? b.textContent.trim() : null;", vec![])
            .await
            .unwrap()
    };
    // The navigation fetches the badge after load.
    wait_for(|| async { badge_text().await == json!("3") }, "the badge shows 3").await;
    client.execute("window.__marker = 1;", vec![]).await.unwrap();

    let row = format!("#notification-{first}");
    client
        .find(Locator::Css(&format!("{row} button.mark-read")))
        .await
        .expect("a Mark read button")
        .click()
        .await
        .unwrap();
    wait_for(|| async { badge_text().await == json!("2") }, "the badge shows 2").await;
    // The badge comes out of band in the same response; htmx may settle it
    // before the row itself.
    let read = || async {
        client
            .execute(&format!("return document.querySelector('{row}').dataset.read;"), vec![])
            .await
            .unwrap()
    };
    wait_for(|| async { read().await == json!("true") }, "the row was swapped").await;
    let marker = client.execute("return window.__marker || null;", vec![]).await.unwrap();
    assert_eq!(marker, json!(1), "no page reload");
    let summary = client.find(Locator::Id("unread-summary")).await.unwrap().text().await.unwrap();
    assert_eq!(summary, "2 unread notifications");
    let buttons = client.find_all(Locator::Css("button.mark-read")).await.unwrap();
    assert_eq!(buttons.len(), 2);
    let shot = crate::browser::screenshot(&client, "notifications").await;
    eprintln!("screenshot: {}", shot.display());
    assert_eq!(list(&app, &p.owner, "").await["unread_count"], 2);

    // Email preferences in settings save in place.
    client.goto(&format!("{}/client/settings", server.base_url)).await.unwrap();
    client.execute("window.__marker = 2;", vec![]).await.unwrap();
    client.find(Locator::Id("pref-critical")).await.unwrap().click().await.unwrap();
    client
        .find(Locator::Css("#email-notifications-section button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let saved = client
        .wait()
        .for_element(Locator::Css("#email-notifications-section .alert-success"))
        .await
        .expect("the saved message");
    assert_eq!(saved.text().await.unwrap(), "Email preferences saved.");
    let marker = client.execute("return window.__marker || null;", vec![]).await.unwrap();
    assert_eq!(marker, json!(2), "no page reload");
    crate::browser::screenshot(&client, "settings-email-notifications").await;
    let prefs =
        body_json(app.get_as(&p.owner, "/api/client/notification-preferences").send().await).await;
    assert_eq!(prefs, json!({ "critical_alerts": false, "monthly_report": true }));

    client.close().await.unwrap();
    server.stop().await;
}

/// A flapping check raises one notification per kind, check, host and day
/// with a count; criticals still failing are pinned above newer ones; the
/// list filters by severity.
#[tokio::test]
async fn flapping_collapses_per_day_criticals_still_failing_are_pinned_and_severity_filters() {
    use crate::appliances::{create_site, ingest};
    use crate::helpers::Expect;
    use chrono::{Duration, Utc};

    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    // A day's worth of clock drift: warn, pass, warn, pass, warn, all on
    // yesterday (UTC); then one more warning today.
    let yesterday =
        (Utc::now() - Duration::days(1)).date_naive().and_hms_opt(1, 0, 0).unwrap().and_utc();
    for (i, status) in ["pass", "warn", "pass", "warn", "pass", "warn"].iter().enumerate() {
        let at = yesterday + Duration::hours(i as i64 * 3);
        ingest(&app, &site, &format!("F-{i}"), at, &[("ntp_sync", status, "NURSE-01", None)]).await;
    }
    ingest(
        &app,
        &site,
        "F-today",
        Utc::now() - Duration::minutes(5),
        &[("ntp_sync", "pass", "NURSE-01", None)],
    )
    .await;
    ingest(
        &app,
        &site,
        "F-today-2",
        Utc::now() - Duration::minutes(4),
        &[("ntp_sync", "warn", "NURSE-01", None)],
    )
    .await;
    let body = list(&app, &p.viewer, "").await;
    let rows: Vec<(String, i64)> = body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["type"].as_str().unwrap().to_owned(), n["occurrences"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            ("check_warning".to_owned(), 1),
            ("check_resolved".to_owned(), 1),
            ("check_resolved".to_owned(), 2),
            ("check_warning".to_owned(), 3),
        ],
        "one row per kind and day, newest first, with its count: {body}"
    );

    // A critical from long ago, still failing, stays on top in `pinned`
    // however many newer notifications arrive.
    ingest(
        &app,
        &site,
        "M-1",
        Utc::now() - Duration::days(20),
        &[("mfa_enabled", "fail", "XRAY-01", Some("164.312(d)"))],
    )
    .await;
    for i in 0..5 {
        notify(&app, p.org_id, &format!("Newer {i}"), "info", 0).await;
    }
    let body = list(&app, &p.viewer, "?limit=3").await;
    let pinned = body["pinned"].as_array().unwrap();
    assert_eq!(pinned.len(), 1, "{body}");
    assert_eq!(pinned[0]["title"], "MFA enabled failing on XRAY-01");
    assert_eq!(pinned[0]["still_failing"], true);
    assert!(
        !body["notifications"].as_array().unwrap().iter().any(|n| n["title"] == pinned[0]["title"]),
        "the list itself is newest first: {body}"
    );
    let html =
        app.get_as(&p.viewer, portal::paths::NOTIFICATIONS).expect_text(StatusCode::OK).await;
    let pinned_html = html.split("id=\"pinned-criticals\"").nth(1).expect("pinned on the page");
    assert!(
        pinned_html.contains("MFA enabled failing on XRAY-01")
            && pinned_html.contains("Still failing")
    );
    assert!(html.contains("times that day"), "the count shows: {html}");
    // Later pages and the unread list do not repeat it.
    let cursor = body["next_cursor"].as_str().unwrap();
    let later = list(&app, &p.viewer, &format!("?limit=3&cursor={cursor}")).await;
    assert_eq!(later["pinned"], json!([]));

    // Only criticals; a bad severity is a 400 in the API and on the page.
    let critical = list(&app, &p.viewer, "?severity=critical").await;
    let severities: Vec<&str> = critical["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["critical"], "{critical}");
    app.get_as(&p.viewer, "/api/client/notifications?severity=urgent")
        .expect_error(StatusCode::BAD_REQUEST, "")
        .await;
    let page = app
        .get_as(&p.viewer, "/client/notifications?severity=critical")
        .expect_text(StatusCode::OK)
        .await;
    assert!(page.contains("aria-current=\"page\">Critical<"), "{page}");
    assert!(!page.contains("Newer 0"), "only criticals: {page}");
    for bad in ["?severity=urgent", "?severity=critical&unread=1"] {
        app.get_as(&p.viewer, &format!("/client/notifications{bad}"))
            .expect_status(StatusCode::BAD_REQUEST)
            .await;
    }

    // Once MFA passes, nothing is pinned.
    ingest(
        &app,
        &site,
        "M-2",
        Utc::now() - Duration::minutes(1),
        &[("mfa_enabled", "pass", "XRAY-01", Some("164.312(d)"))],
    )
    .await;
    let body = list(&app, &p.viewer, "").await;
    assert_eq!(body["pinned"], json!([]), "{body}");
}
