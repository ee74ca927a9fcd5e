//! The transfer area: API, the staff command line and the page. Staff
//! approve, reject and complete with the real `portal` binary.

use std::process::Output;

use poem::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Expect, Practice, TestApp, TestUser, body_text, expect_json, expect_text, portal_cmd,
    spawn_app, spawn_app_with,
};
use crate::matrix::Case;

/// This area's rows of the role x organisation matrix (see matrix.rs).
/// Every operation acts on the caller's own practice, so another
/// practice's owner gets its own answer (nothing pending to cancel: 404).
pub const MATRIX: &[Case] = &[
    Case {
        operation_id: "create_transfer_request",
        method: Method::POST,
        expect: [401, 403, 403, 201, 201, 403],
    },
    Case {
        operation_id: "get_transfer_status",
        method: Method::GET,
        expect: [401, 403, 403, 200, 200, 403],
    },
    // A fresh pending request of practice A per call.
    Case {
        operation_id: "cancel_transfer_request",
        method: Method::POST,
        expect: [401, 403, 403, 200, 404, 403],
    },
    Case {
        operation_id: "list_transfer_partners",
        method: Method::GET,
        expect: [401, 403, 403, 200, 200, 403],
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
        "create_transfer_request" => {
            settle_open_requests(app, a.org_id).await;
            let partner = app.partner(&format!("Matrix IT {}", Uuid::new_v4())).await;
            (
                "/api/client/transfer/request".into(),
                Some(json!({ "to_partner_id": partner, "reason": "matrix" })),
            )
        }
        "get_transfer_status" => ("/api/client/transfer/status".into(), None),
        "cancel_transfer_request" => {
            // A fresh pending request for A, nothing open anywhere else (the
            // other practice's owner made one in the create row).
            // Raw SQL on purpose: closes approved requests too, of every
            // practice; the portal lets nobody cancel an approved request.
            let db = app.db_client().await;
            db.execute(
                "UPDATE partner_transfer_requests SET status = 'cancelled'
                  WHERE status IN ('pending', 'approved')",
                &[],
            )
            .await
            .unwrap();
            portal::db::transfers::insert_request(
                &**db,
                a.org_id,
                None,
                None,
                a.owner.id,
                Some("matrix"),
            )
            .await
            .unwrap()
            .expect("nothing open after the cancel");
            ("/api/client/transfer/cancel".into(), None)
        }
        "list_transfer_partners" => ("/api/client/transfer/partners".into(), None),
        _ => return None,
    })
}

/// Cancels whatever is open for the practice, straight in the database.
/// Raw SQL on purpose: approved requests too, which no portal function
/// cancels (only staff completing them close them).
async fn settle_open_requests(app: &TestApp, org: Uuid) {
    let db = app.db_client().await;
    db.execute(
        "UPDATE partner_transfer_requests SET status = 'cancelled'
          WHERE client_org_id = $1 AND status IN ('pending', 'approved')",
        &[&org],
    )
    .await
    .unwrap();
}

/// Puts the practice with `partner` (as an operator would have), a year ago.
async fn assign(app: &TestApp, org: Uuid, partner: Option<Uuid>) {
    app.assign_partner(org, partner).await;
    // Raw SQL on purpose: backdates the assignment; move_org stamps now.
    let db = app.db_client().await;
    db.execute(
        "UPDATE client_orgs SET partner_assigned_at = now() - interval '1 year' WHERE id = $1",
        &[&org],
    )
    .await
    .unwrap();
}

async fn request(app: &TestApp, user: &TestUser, body: Value) -> (StatusCode, Value) {
    let reply = app.post_json_as(user, "/api/client/transfer/request", &body).reply().await;
    (reply.status, reply.json())
}

async fn status_of(app: &TestApp, user: &TestUser) -> Value {
    app.get_as(user, "/api/client/transfer/status").expect_json(StatusCode::OK).await
}

async fn cancel(app: &TestApp, user: &TestUser) -> (StatusCode, Value) {
    let reply = app.post_as(user, "/api/client/transfer/cancel").reply().await;
    (reply.status, reply.json())
}

async fn audit_actions(app: &TestApp, org: Uuid, prefix: &str) -> Vec<(String, Option<String>)> {
    app.db_client()
        .await
        .query(
            "SELECT action, actor_email FROM client_audit_log
              WHERE client_org_id = $1 AND starts_with(action, $2) ORDER BY id",
            &[&org, &prefix],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// A practice served by "Acme IT", plus "Birch IT" to move to.
async fn setup(app: &TestApp, name: &str) -> (Practice, Uuid, Uuid) {
    let p = app.practice(name).await;
    let acme = app.partner(&format!("Acme IT for {name}")).await;
    let birch = app.partner(&format!("Birch IT for {name}")).await;
    assign(app, p.org_id, Some(acme)).await;
    (p, acme, birch)
}

#[tokio::test]
async fn an_owner_requests_follows_and_cancels_a_transfer() {
    let app = spawn_app().await;
    let (a, acme, birch) = setup(&app, "Oak Clinic").await;

    let empty = status_of(&app, &a.owner).await;
    assert_eq!(empty["has_request"], false);
    assert_eq!(empty["request"], Value::Null);
    assert_eq!(empty["current_partner"]["id"], acme.to_string());

    let (status, created) = request(
        &app,
        &a.owner,
        json!({ "to_partner_id": birch, "reason": "  One provider for all our IT.\nThanks  " }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "pending");
    assert!(created["message"].as_str().unwrap().contains("Birch IT for Oak Clinic"), "{created}");
    let id = created["request_id"].as_str().unwrap().to_owned();

    let s = status_of(&app, &a.owner).await;
    assert_eq!(s["has_request"], true);
    let r = &s["request"];
    assert_eq!(r["id"], id);
    assert_eq!(r["status"], "pending");
    assert_eq!(r["from_partner"], json!({ "id": acme, "name": "Acme IT for Oak Clinic" }));
    assert_eq!(r["to_partner"], json!({ "id": birch, "name": "Birch IT for Oak Clinic" }));
    assert_eq!(r["reason"], "One provider for all our IT.\nThanks", "trimmed, line break kept");
    assert_eq!(r["reviewed_at"], Value::Null);
    assert_eq!(r["review_notes"], Value::Null);
    assert!(r["created_at"].as_str().is_some());

    // One open request at a time.
    let (status, body) = request(&app, &a.owner, json!({ "to_partner_id": Value::Null })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "conflict");
    assert!(body["message"].as_str().unwrap().contains("cancel it"), "{body}");

    let (status, body) = cancel(&app, &a.owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["request_id"], id);
    let s = status_of(&app, &a.owner).await;
    assert_eq!(s["request"]["status"], "cancelled");
    assert_eq!(s["current_partner"]["id"], acme.to_string(), "cancelling moves nothing");

    let (status, body) = cancel(&app, &a.owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["message"].as_str().unwrap().contains("no pending transfer request"), "{body}");

    // Now a new one may be sent: to OsirisCare directly this time.
    let (status, body) = request(&app, &a.owner, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let s = status_of(&app, &a.owner).await;
    assert_eq!(s["request"]["to_partner"], Value::Null, "null = directly");
    assert_eq!(s["request"]["reason"], Value::Null);

    let actions: Vec<String> =
        audit_actions(&app, a.org_id, "transfer.").await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(actions, ["transfer.requested", "transfer.cancelled", "transfer.requested"]);
    let details: Value = app
        .db_client()
        .await
        .query_one(
            "SELECT details FROM client_audit_log WHERE client_org_id = $1
              AND action = 'transfer.requested' ORDER BY id LIMIT 1",
            &[&a.org_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(details["to_partner_id"], birch.to_string());
    assert_eq!(details["from_partner_id"], acme.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_make_exactly_one() {
    let app = spawn_app().await;
    let (a, _, birch) = setup(&app, "Race Clinic").await;
    let body = json!({ "to_partner_id": birch });
    let attempts = (0..5).map(|_| {
        let body = body.clone();
        let app = &app;
        let owner = &a.owner;
        async move { request(app, owner, body).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let conflicts = results.iter().filter(|(s, _)| *s == StatusCode::CONFLICT).count();
    assert_eq!((created, conflicts), (1, 4), "{results:?}");
    let rows = app
        .count(
            "SELECT count(*) FROM partner_transfer_requests WHERE client_org_id = $1",
            &[&a.org_id],
        )
        .await;
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn only_the_owner_may_ask_to_move() {
    let app = spawn_app().await;
    let (a, _, birch) = setup(&app, "Roles Clinic").await;
    for user in [&a.admin, &a.viewer] {
        let (status, body) = request(&app, user, json!({ "to_partner_id": birch })).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["message"].as_str().unwrap().contains("owner"), "{body}");
        for path in ["/api/client/transfer/status", "/api/client/transfer/partners"] {
            app.get_as(user, path).send().await.assert_status(StatusCode::FORBIDDEN);
        }
        let (status, _) = cancel(&app, user).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        app.get_as(user, portal::paths::TRANSFER).send().await.assert_status(StatusCode::FORBIDDEN);
    }
    assert_eq!(
        app.count(
            "SELECT count(*) FROM partner_transfer_requests WHERE client_org_id = $1",
            &[&a.org_id]
        )
        .await,
        0
    );
    // Even the owner's write token cannot move the practice (that needs a
    // browser session), but it reads the partners like the owner.
    let token = app.bearer(&a.owner).await;
    let resp = app
        .client
        .post("/api/client/transfer/request")
        .header("authorization", format!("Bearer {token}"))
        .body_json(&json!({ "to_partner_id": birch }))
        .send()
        .await;
    let message = expect_json(resp, StatusCode::FORBIDDEN).await["message"].to_string();
    assert!(message.contains("sign in with a browser"), "{message}");
    let resp = app
        .client
        .get("/api/client/transfer/partners")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    let partners = expect_json(resp, StatusCode::OK).await;
    let names: Vec<&str> = partners["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Birch IT for Roles Clinic"), "{names:?}");
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "partners come by name");
}

#[tokio::test]
async fn another_practices_request_is_never_visible() {
    let app = spawn_app().await;
    let (a, _, birch) = setup(&app, "Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let (status, created) = request(&app, &a.owner, json!({ "to_partner_id": birch })).await;
    assert_eq!(status, StatusCode::CREATED);
    let a_request = created["request_id"].as_str().unwrap().to_owned();

    let page = body_text(app.get_as(&b.owner, portal::paths::TRANSFER).send().await).await;
    assert!(!page.contains(&a_request), "B's page shows nothing of A's request");
    assert!(!page.contains("id=\"transfer-request\""), "B has no request to show");
    let s = status_of(&app, &b.owner).await;
    assert_eq!(s["has_request"], false, "{s}");
    assert_eq!(s["current_partner"], Value::Null);
    let (status, _) = cancel(&app, &b.owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "B cannot cancel A's request");
    assert_eq!(status_of(&app, &a.owner).await["request"]["status"], "pending");
    // B may ask for the same partner independently: one open request per practice.
    let (status, _) = request(&app, &b.owner, json!({ "to_partner_id": birch })).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn wrong_requests_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let (a, acme, _) = setup(&app, "Strict Clinic").await;
    let unknown = Uuid::new_v4();
    let (status, body) = request(&app, &a.owner, json!({ "to_partner_id": unknown })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["message"].as_str().unwrap().contains("no partner with id"), "{body}");
    let (status, body) = request(&app, &a.owner, json!({ "to_partner_id": acme })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("already served by"), "{body}");
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "to_partner_id": "not-a-uuid" }), ""),
        (json!({ "to_partner_id": 42 }), ""),
        (json!({ "reason": 42 }), ""),
        (json!({ "reason": ["a"] }), ""),
        (json!({ "reason": "x".repeat(2001) }), ""),
        (json!({ "reason": "bad\u{0}byte" }), ""),
        (json!([]), ""),
        (json!("request"), ""),
    ];
    for (body, expect) in cases {
        let (status, answer) = request(&app, &a.owner, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(expect), "{body}: {answer}");
    }
    let resp = app
        .post_as(&a.owner, "/api/client/transfer/request")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await;
    resp.assert_status(StatusCode::BAD_REQUEST);

    // 2,000 characters is fine (characters, not bytes).
    let (status, body) = request(&app, &a.owner, json!({ "reason": "é".repeat(2000) })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    settle_open_requests(&app, a.org_id).await;

    // A direct practice cannot ask to become direct.
    assign(&app, a.org_id, None).await;
    let (status, body) = request(&app, &a.owner, json!({ "to_partner_id": null })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("directly"), "{body}");
    assert_eq!(
        app.count("SELECT count(*) FROM partner_transfer_requests WHERE client_org_id = $1 AND status = 'pending'", &[&a.org_id])
        .await,
        0
    );
}

#[tokio::test]
async fn staff_are_emailed_about_requests_and_cancellations() {
    let app = spawn_app_with(|c| c.staff_email = Some("transfers@osiris.example".into())).await;
    let (a, _, birch) = setup(&app, "Mail Clinic").await;
    let (status, created) =
        request(&app, &a.owner, json!({ "to_partner_id": birch, "reason": "Closer support" }))
            .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["request_id"].as_str().unwrap().to_owned();

    let server = crate::smtp_server::SmtpServer::start(crate::smtp_server::Security::Plain).await;
    let sent = portal::mail::deliver_due(&app.pool, &server.transport()).await.unwrap();
    assert_eq!(sent, 1);
    let received = server.next_message().await;
    assert_eq!(received.rcpt_to, vec!["transfers@osiris.example".to_owned()]);
    let parsed = received.parsed();
    assert!(parsed.subject().unwrap().contains("Mail Clinic"), "{:?}", parsed.subject());
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains(&id), "{text}");
    assert!(text.contains("Closer support"), "{text}");
    assert!(text.contains(&format!("portal admin transfer approve {id}")), "{text}");
    assert!(text.contains(&a.owner.email), "{text}");

    let (status, _) = cancel(&app, &a.owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(portal::mail::deliver_due(&app.pool, &server.transport()).await.unwrap(), 1);
    let received = server.next_message().await;
    assert!(received.parsed().subject().unwrap().contains("cancelled"));
}

#[tokio::test]
async fn without_a_staff_address_requests_are_still_accepted() {
    let app = spawn_app().await;
    assert!(app.state.config().staff_email.is_none());
    let (a, _, birch) = setup(&app, "Quiet Clinic").await;
    let (status, _) = request(&app, &a.owner, json!({ "to_partner_id": birch })).await;
    assert_eq!(status, StatusCode::CREATED);
    let outbox: i64 = app
        .db_client()
        .await
        .query_one("SELECT count(*) FROM email_outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(outbox, 0);
}

// ---------------------------------------------------------------------------
// Staff command line
// ---------------------------------------------------------------------------

fn staff(app: &TestApp, args: &[&str]) -> Output {
    portal_cmd()
        .env("DATABASE_URL", app.db.url())
        .env("USER", "alice")
        .args(["admin", "transfer"])
        .args(args)
        .output()
        .expect("run portal")
}

fn ok(app: &TestApp, args: &[&str]) -> String {
    let out = staff(app, args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(app: &TestApp, args: &[&str], expect: &str) {
    let out = staff(app, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(stderr.contains(expect), "{args:?}: expected {expect:?} in {stderr}");
}

async fn partner_name(app: &TestApp, user: &TestUser) -> Value {
    app.get_as(user, "/api/client/dashboard").expect_json(StatusCode::OK).await["org"]["partner_name"]
        .clone()
}

async fn transfer_updates(app: &TestApp, org: Uuid) -> Vec<String> {
    app.db_client()
        .await
        .query(
            "SELECT title FROM client_notifications
              WHERE client_org_id = $1 AND type = 'transfer_update' ORDER BY created_at, title",
            &[&org],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn owner_mails(app: &TestApp, to: &str) -> Vec<String> {
    app.db_client()
        .await
        .query(
            "SELECT subject FROM email_outbox WHERE to_address = $1 AND kind = 'transfer_update'
              ORDER BY created_at",
            &[&to],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_approve_and_complete_a_transfer_with_the_cli() {
    let app = spawn_app().await;
    let (a, _, birch) = setup(&app, "Oak Clinic").await;
    let site = crate::appliances::create_site(&app, a.org_id, "Main Street").await;
    let (_, created) =
        request(&app, &a.owner, json!({ "to_partner_id": birch, "reason": "Closer support" }))
            .await;
    let id = created["request_id"].as_str().unwrap().to_owned();
    assert_eq!(partner_name(&app, &a.owner).await, "Acme IT for Oak Clinic");

    let table = ok(&app, &["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("PRACTICE"), "{table}");
    assert!(lines[1].starts_with(&id), "{table}");
    assert!(lines[1].contains("Oak Clinic"), "{table}");
    assert!(lines[1].contains("Acme IT for Oak Clinic → Birch IT for Oak Clinic"), "{table}");
    assert!(lines[1].contains("pending"), "{table}");

    // Completing before approving is refused, and changes nothing.
    refused(&app, &["complete", &id], "is pending; only approved requests can be completed");

    let out = ok(&app, &["approve", &id, "--notes", "Welcome to Birch"]);
    assert!(out.contains(&format!("approved transfer request {id}")), "{out}");
    let s = status_of(&app, &a.owner).await;
    assert_eq!(s["request"]["status"], "approved");
    assert_eq!(s["request"]["review_notes"], "Welcome to Birch");
    assert!(s["request"]["reviewed_at"].is_string());
    let reviewed_by: Option<String> = app
        .db_client()
        .await
        .query_one(
            "SELECT reviewed_by FROM partner_transfer_requests WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reviewed_by.as_deref(), Some("alice"));
    assert_eq!(transfer_updates(&app, a.org_id).await, ["Partner transfer approved"]);
    assert_eq!(owner_mails(&app, &a.owner.email).await.len(), 1);

    // Approved: neither cancellable by the owner nor replaceable. The cancel
    // answers 404 (nothing pending), saying why and whom to ask instead.
    let (status, body) = cancel(&app, &a.owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_found", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("already approved"), "{body}");
    assert!(message.contains("contact OsirisCare support"), "{body}");
    assert_eq!(status_of(&app, &a.owner).await["request"]["status"], "approved", "unchanged");
    // The page says so instead of offering a cancel button, and a stale
    // cancel form gets the same explanation.
    let page = body_text(app.get_as(&a.owner, portal::paths::TRANSFER).send().await).await;
    assert!(page.contains("data-status=\"approved\""), "{page}");
    assert!(!page.contains("id=\"cancel-transfer\""), "{page}");
    assert!(page.contains("can no longer be cancelled here"), "{page}");
    let resp = app
        .post_as(&a.owner, portal::paths::TRANSFER_CANCEL)
        .header("hx-request", "true")
        .send()
        .await;
    let fragment = expect_text(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(fragment.contains("contact OsirisCare support"), "{fragment}");
    assert!(fragment.contains("data-status=\"approved\""), "{fragment}");
    let (status, _) = request(&app, &a.owner, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    refused(&app, &["approve", &id], "is approved; only pending requests can be approved");
    refused(&app, &["reject", &id], "is approved; only pending requests can be rejected");
    assert_eq!(partner_name(&app, &a.owner).await, "Acme IT for Oak Clinic", "not moved yet");

    let out = ok(&app, &["complete", &id]);
    assert!(out.contains("is now served by Birch IT for Oak Clinic"), "{out}");
    assert_eq!(partner_name(&app, &a.owner).await, "Birch IT for Oak Clinic");
    let db = app.db_client().await;
    let row = db
        .query_one(
            "SELECT o.current_partner_id, o.partner_assigned_at > now() - interval '1 minute',
                    s.client_org_id
               FROM client_orgs o JOIN sites s ON s.client_org_id = o.id
              WHERE o.id = $1 AND s.id = $2",
            &[&a.org_id, &site.id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<Uuid>>(0), Some(birch));
    assert!(row.get::<_, bool>(1), "partner_assigned_at is set to the move");
    assert_eq!(row.get::<_, Uuid>(2), a.org_id, "the site moves with its practice");
    let s = status_of(&app, &a.owner).await;
    assert_eq!(s["request"]["status"], "completed");
    assert!(s["request"]["completed_at"].is_string());
    assert_eq!(s["current_partner"]["id"], birch.to_string());
    assert_eq!(
        transfer_updates(&app, a.org_id).await,
        ["Partner transfer approved", "Partner transfer completed"]
    );
    assert_eq!(owner_mails(&app, &a.owner.email).await.len(), 2);

    let audit = audit_actions(&app, a.org_id, "transfer.").await;
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["transfer.requested", "transfer.decided", "transfer.completed"]);
    assert_eq!(audit[1].1.as_deref(), Some("alice (OsirisCare staff)"));
    assert_eq!(audit[2].1.as_deref(), Some("alice (OsirisCare staff)"));

    refused(&app, &["complete", &id], "is completed; only approved requests can be completed");
    refused(&app, &["approve", &id], "is completed");
    refused(&app, &["approve", &Uuid::new_v4().to_string()], "no transfer request with id");
    refused(&app, &["approve", "not-an-id"], "invalid");

    let out = staff(&app, &["list"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no open transfer requests"));
    assert!(ok(&app, &["list", "--all"]).contains("completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_reject_and_move_a_practice_to_direct_with_the_cli() {
    let app = spawn_app().await;
    let (a, _, birch) = setup(&app, "Elm Clinic").await;
    let (_, created) = request(&app, &a.owner, json!({ "to_partner_id": birch })).await;
    let id = created["request_id"].as_str().unwrap().to_owned();

    refused(&app, &["reject", &id, "--notes", &"n".repeat(2001)], "keep it to 2000");
    let out = ok(&app, &["reject", &id, "--notes", "Birch does not serve your area"]);
    assert!(out.contains("rejected transfer request"), "{out}");
    let s = status_of(&app, &a.owner).await;
    assert_eq!(s["request"]["status"], "rejected");
    assert_eq!(s["request"]["review_notes"], "Birch does not serve your area");
    assert_eq!(transfer_updates(&app, a.org_id).await, ["Partner transfer rejected"]);
    refused(&app, &["complete", &id], "is rejected");
    let (status, _) = cancel(&app, &a.owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing pending after a rejection");

    // A new request to OsirisCare directly, approved and completed.
    let (status, created) = request(&app, &a.owner, json!({ "to_partner_id": null })).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["request_id"].as_str().unwrap().to_owned();
    ok(&app, &["approve", &id]);
    let out = ok(&app, &["complete", &id]);
    assert!(out.contains("OsirisCare (direct)"), "{out}");
    assert_eq!(partner_name(&app, &a.owner).await, Value::Null);
    let s = status_of(&app, &a.owner).await;
    assert_eq!(s["current_partner"], Value::Null);
    assert_eq!(s["request"]["review_notes"], Value::Null);
}

// ---------------------------------------------------------------------------
// Page
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_partner_page_requests_and_cancels() {
    let app = spawn_app().await;
    let (a, acme, birch) = setup(&app, "Page Clinic").await;

    let page = body_text(app.get_as(&a.owner, portal::paths::TRANSFER).send().await).await;
    assert!(page.contains("Acme IT for Page Clinic"), "current partner shown");
    assert!(page.contains(&format!("value=\"{birch}\"")), "partners offered");
    assert!(!page.contains(&format!("option value=\"{acme}\"")), "not the current one");
    assert!(page.contains("OsirisCare directly"));
    assert!(page.contains("id=\"transfer-form\""));

    // Without JavaScript: post, then back to the page.
    let birch_id = birch.to_string();
    let resp = app
        .post_plain_form_as(
            &a.owner,
            portal::paths::TRANSFER_REQUEST,
            &[("to_partner", &birch_id), ("reason", "Closer support")],
        )
        .send()
        .await;
    resp.assert_status(StatusCode::SEE_OTHER);
    resp.assert_header("location", portal::paths::TRANSFER);
    let page = body_text(app.get_as(&a.owner, portal::paths::TRANSFER).send().await).await;
    assert!(page.contains("data-status=\"pending\""), "{page}");
    assert!(page.contains("Closer support"));
    assert!(page.contains("hx-confirm"), "cancel asks first");
    assert!(!page.contains("id=\"transfer-form\""), "no second request while one is open");

    // With htmx: the cancel answers the section.
    let resp = app
        .post_as(&a.owner, portal::paths::TRANSFER_CANCEL)
        .header("hx-request", "true")
        .send()
        .await;
    let fragment = expect_text(resp, StatusCode::OK).await;
    assert!(fragment.starts_with("<div class=\"stack\" id=\"transfer-section\""), "{fragment}");
    assert!(fragment.contains("was cancelled"));
    assert!(fragment.contains("data-status=\"cancelled\""));
    assert!(fragment.contains("id=\"transfer-form\""), "the form is back");

    // A refused request comes back as 422 with the form and its message.
    let resp = app
        .post_form_as(
            &a.owner,
            portal::paths::TRANSFER_REQUEST,
            &[("to_partner", &Uuid::new_v4().to_string()), ("reason", "x")],
        )
        .header("hx-request", "true")
        .send()
        .await;
    let fragment = expect_text(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(fragment.contains("no partner with id"), "{fragment}");
    let resp = app
        .post_form_as(&a.owner, portal::paths::TRANSFER_REQUEST, &[("to_partner", "")])
        .header("hx-request", "true")
        .send()
        .await;
    assert!(
        expect_text(resp, StatusCode::UNPROCESSABLE_ENTITY).await.contains("choose the partner")
    );

    // Without the CSRF token nothing happens.
    let resp = app
        .client
        .post(portal::paths::TRANSFER_REQUEST)
        .header("cookie", &a.owner.cookie)
        .header("sec-fetch-site", "same-origin")
        .content_type("application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("to_partner", "direct")]).unwrap())
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT count(*) FROM partner_transfer_requests WHERE client_org_id = $1 AND status = 'pending'", &[&a.org_id])
        .await,
        0
    );
}

/// The partner page in Chromium: the request form swaps the section in
/// place (no reload), and cancelling asks first.
#[tokio::test]
async fn the_partner_page_works_in_chromium() {
    use fantoccini::Locator;

    use crate::browser::{browser, fit_page, open_as, screenshot};

    let Some((_driver, client)) = browser().await else { return };
    let app = spawn_app().await;
    let (a, _, birch) = setup(&app, "Riverside Family Medicine").await;
    let server = crate::helpers::spawn_server(&app).await;

    open_as(&client, &server.base_url, &a.owner, portal::paths::TRANSFER).await;
    let current = client.wait().for_element(Locator::Id("current-partner-name")).await.unwrap();
    assert_eq!(current.text().await.unwrap(), "Acme IT for Riverside Family Medicine");
    client.execute("window.__sameDocument = true;", vec![]).await.unwrap();

    let select = client.find(Locator::Id("to_partner")).await.unwrap();
    select.select_by_value(&birch.to_string()).await.unwrap();
    let reason = client.find(Locator::Id("reason")).await.unwrap();
    reason.send_keys("One provider for all our clinics.").await.unwrap();
    client
        .find(Locator::Css("#transfer-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let message = client.wait().for_element(Locator::Id("transfer-message")).await.unwrap();
    assert!(message.text().await.unwrap().contains("Request sent"));
    let badge = client.find(Locator::Css("#transfer-request [data-status]")).await.unwrap();
    assert_eq!(badge.attr("data-status").await.unwrap().as_deref(), Some("pending"));
    let same = client.execute("return window.__sameDocument === true;", vec![]).await.unwrap();
    assert_eq!(same, serde_json::Value::Bool(true), "htmx swapped the section, no reload");
    fit_page(&client).await;
    screenshot(&client, "transfer-pending").await;

    client.find(Locator::Id("cancel-transfer")).await.unwrap().click().await.unwrap();
    client.accept_alert().await.unwrap();
    client
        .wait()
        .for_element(Locator::Css("#transfer-request [data-status=cancelled]"))
        .await
        .unwrap();
    assert!(client.find(Locator::Id("transfer-form")).await.is_ok(), "the form is back");
    assert_eq!(status_of(&app, &a.owner).await["request"]["status"], "cancelled");
    screenshot(&client, "transfer-cancelled").await;
    server.stop().await;
}
