//! The to-do list: failing and warning checks as plain-language items with
//! how to fix them, in the API, on the dashboard, site and bundle pages and
//! in the critical-alert email; acknowledgements with a note (audited).

use chrono::{DateTime, Duration, Utc};
use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::appliances::{TestSite, create_site, ingest, post_bundle, sign};
use crate::helpers::{Expect, Practice, TestApp, spawn_app};
use crate::matrix::Case;

pub const MATRIX: &[Case] = &[
    Case { operation_id: "list_todo", method: Method::GET, expect: [401, 200, 200, 200, 404, 200] },
    // An open item of practice A; viewers and auditors may not write.
    Case {
        operation_id: "create_todo_acknowledgement",
        method: Method::POST,
        expect: [401, 403, 201, 201, 404, 403],
    },
];

/// A fresh request for one of this area's operations against practice `a`.
pub async fn matrix_request(
    app: &TestApp,
    a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    if !matches!(operation_id, "list_todo" | "create_todo_acknowledgement") {
        return None;
    }
    let site = create_site(app, a.org_id, &format!("Site {}", uuid::Uuid::new_v4())).await;
    ingest(
        app,
        &site,
        &format!("T-{}", uuid::Uuid::new_v4()),
        Utc::now(),
        &[("screen_lock", "fail", "SRV", None)],
    )
    .await;
    Some(match operation_id {
        "list_todo" => (format!("/api/client/todo?site_id={}", site.id), None),
        _ => (
            "/api/client/todo/acknowledgements".into(),
            Some(json!({
                "site_id": site.id, "check_type": "screen_lock", "host": "SRV",
                "note": "Policy fix scheduled"
            })),
        ),
    })
}

fn days_ago(n: i64) -> DateTime<Utc> {
    Utc::now() - Duration::days(n) - Duration::minutes(30)
}

/// Posts a signed bundle whose checks carry `details`, which must be stored.
async fn ingest_with_details(
    app: &TestApp,
    site: &TestSite,
    bundle_id: &str,
    at: DateTime<Utc>,
    checks: &[(&str, &str, &str, Option<&str>, Value)],
) {
    let word = |w: &str| portal::evidence::bundle::CheckStatus::from_word(w).unwrap();
    use portal::evidence::bundle::CheckStatus::*;
    let count = |s| checks.iter().filter(|c| word(c.1) == s).count();
    let list: Vec<Value> = checks
        .iter()
        .map(|(check, status, host, control, details)| {
            json!({ "check": check, "status": status, "host": host, "hipaa_control": control, "details": details })
        })
        .collect();
    let bytes = serde_json::to_vec(&json!({
        "bundle_id": bundle_id, "site_id": site.id, "checked_at": at.to_rfc3339(),
        "checks": list,
        "summary": { "total_checks": checks.len(), "compliant": count(Pass), "non_compliant": count(Fail), "errors": count(Warn) }
    }))
    .unwrap();
    let resp = post_bundle(app, &bytes, &sign(&site.key, &bytes)).await;
    assert_eq!(resp.0.status(), 201);
}

/// Westgate: MFA failing for 12 days with the appliance's finding, disk
/// encryption failing since 2 days ago, a clock warning, a passing
/// firewall; and an unknown check failing today at Annex.
async fn westgate(app: &TestApp, p: &Practice) -> (TestSite, TestSite) {
    let west = create_site(app, p.org_id, "Westgate").await;
    let annex = create_site(app, p.org_id, "Annex").await;
    let mfa = json!({ "agent": "a 1", "finding": "2 of 3 accounts use a password only" });
    ingest_with_details(
        app,
        &west,
        "W-1",
        days_ago(12),
        &[
            ("mfa_enabled", "non_compliant", "XRAY-01", Some("164.312(d)"), mfa.clone()),
            ("bitlocker_status", "pass", "XRAY-01", Some("164.312(a)(2)(iv)"), json!({})),
            ("firewall_status", "pass", "TRIAGE-01", Some("164.312(e)(1)"), json!({})),
        ],
    )
    .await;
    ingest_with_details(
        app,
        &west,
        "W-2",
        days_ago(2),
        &[
            ("mfa_enabled", "non_compliant", "XRAY-01", Some("164.312(d)"), mfa.clone()),
            (
                "bitlocker_status",
                "fail",
                "XRAY-01",
                Some("164.312(a)(2)(iv)"),
                json!({"drive": "C:", "protection": "off"}),
            ),
            ("firewall_status", "pass", "TRIAGE-01", Some("164.312(e)(1)"), json!({})),
            ("ntp_sync", "warning", "TRIAGE-01", Some("164.312(b)"), json!({})),
        ],
    )
    .await;
    ingest(app, &annex, "A-1", Utc::now(), &[("vpn_tunnel_up", "fail", "SRV-01", None)]).await;
    (west, annex)
}

#[tokio::test]
async fn the_api_lists_failures_first_with_what_was_found_why_and_how_to_fix() {
    let app = spawn_app().await;
    let p = app.practice("Westgate Family Practice").await;
    let (west, annex) = westgate(&app, &p).await;

    let body = app.get_as(&p.viewer, "/api/client/todo").expect_json(StatusCode::OK).await;
    let items = body["items"].as_array().unwrap();
    let titles: Vec<&str> = items.iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "MFA is not enabled on XRAY-01 at Westgate",
            "Disk encryption (BitLocker) is off on XRAY-01 at Westgate",
            "VPN tunnel up failed on SRV-01 at Annex",
            "The clock's synchronisation could not be confirmed on TRIAGE-01 at Westgate",
        ],
        "failures first, the longest-failing first; the passing firewall is not listed"
    );
    let mfa = &items[0];
    assert_eq!(mfa["days_open"], 12);
    assert_eq!(mfa["status"], "fail");
    assert_eq!(mfa["check_type"], "mfa_enabled");
    assert_eq!(mfa["check_name"], "MFA enabled");
    assert_eq!(mfa["hipaa_control"], "164.312(d)");
    assert_eq!(mfa["control_name"], "Person or entity authentication");
    assert_eq!(mfa["found"], "2 of 3 accounts use a password only");
    assert_eq!(mfa["fixed_by"], "together");
    assert_eq!(mfa["generic_guidance"], false);
    assert_eq!(mfa["bundle_id"], "W-2");
    assert!(mfa["why"].as_str().unwrap().contains("stolen password"), "{mfa}");
    assert!(mfa["fix"].as_str().unwrap().contains("authenticator app"), "{mfa}");
    assert!(mfa["acknowledgement"].is_null());
    // Facts without a sentence are listed; no details at all say so.
    assert_eq!(items[1]["found"], "drive: C:; protection: off");
    assert_eq!(items[1]["days_open"], 2);
    assert_eq!(items[3]["status"], "warn");
    assert_eq!(
        items[3]["found"],
        "The check raised a warning; the appliance sent no further details."
    );

    // A check the catalogue does not know gets the generic guidance.
    let vpn = &items[2];
    assert_eq!(vpn["generic_guidance"], true);
    assert_eq!(vpn["fixed_by"], "partner");
    assert!(vpn["fix"].as_str().unwrap().contains("check's id"), "{vpn}");
    assert!(vpn["hipaa_control"].is_null() && vpn["control_name"].is_null());

    // One site's list; another practice's site is not found, and a site
    // id that is not one is a 400.
    let path = format!("/api/client/todo?site_id={}", annex.id);
    let only = app.get_as(&p.viewer, &path).expect_json(StatusCode::OK).await;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    let other = app.practice("Elm Clinic").await;
    let path = format!("/api/client/todo?site_id={}", west.id);
    app.get_as(&other.owner, &path).expect_error(StatusCode::NOT_FOUND, "not_found").await;
    let theirs = app.get_as(&other.owner, "/api/client/todo").expect_json(StatusCode::OK).await;
    assert_eq!(theirs["items"], json!([]), "another practice sees none of it");
    app.get_as(&p.viewer, "/api/client/todo?site_id=westgate")
        .expect_error(StatusCode::BAD_REQUEST, "")
        .await;

    // When the check passes, the item leaves the list.
    ingest(&app, &annex, "A-2", Utc::now(), &[("vpn_tunnel_up", "pass", "SRV-01", None)]).await;
    let body = app.get_as(&p.viewer, "/api/client/todo").expect_json(StatusCode::OK).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_acknowledgement_is_a_note_that_changes_no_status_and_lapses_with_the_streak() {
    let app = spawn_app().await;
    let p = app.practice("Westgate Family Practice").await;
    let (west, _) = westgate(&app, &p).await;
    let ack = |note: &str| json!({ "site_id": west.id, "check_type": "mfa_enabled", "host": "XRAY-01", "note": note });
    let path = "/api/client/todo/acknowledgements";

    // Viewers and auditors read; owners and admins write.
    app.post_json_as(&p.viewer, path, &ack("x")).expect_error(StatusCode::FORBIDDEN, "").await;
    let item = app
        .post_json_as(&p.admin, path, &ack("  Partner enrols the X-ray accounts on Friday  "))
        .expect_json(StatusCode::CREATED)
        .await;
    assert_eq!(item["acknowledgement"]["note"], "Partner enrols the X-ray accounts on Friday");
    assert_eq!(item["acknowledgement"]["by"], "admin");
    assert_eq!(item["status"], "fail", "a note does not change the status");
    let audited = app
        .count(
            "SELECT count(*) FROM client_audit_log WHERE action = 'todo.acknowledged'
               AND target_id = $1 AND details->>'check_type' = 'mfa_enabled'
               AND details->>'note' = 'Partner enrols the X-ray accounts on Friday'",
            &[&west.id.to_string()],
        )
        .await;
    assert_eq!(audited, 1);
    let list = app.get_as(&p.viewer, "/api/client/todo").expect_json(StatusCode::OK).await;
    assert_eq!(list["items"][0]["acknowledgement"]["note"], item["acknowledgement"]["note"]);
    let dash = app.get_as(&p.viewer, "/api/client/dashboard").expect_json(StatusCode::OK).await;
    assert_eq!(dash["kpis"]["status"], "needs_action", "still failing: {dash}");

    // Wrong input: another practice's site, a check not on the list, a
    // passing check, malformed bodies. Nothing is written by any of them.
    let other = app.practice("Elm Clinic").await;
    app.post_json_as(&other.owner, path, &ack("mine now"))
        .expect_error(StatusCode::NOT_FOUND, "not_found")
        .await;
    let passing = json!({ "site_id": west.id, "check_type": "firewall_status", "host": "TRIAGE-01", "note": "n" });
    let msg =
        app.post_json_as(&p.owner, path, &passing).expect_error(StatusCode::NOT_FOUND, "").await;
    assert!(msg.contains("not on this site's to-do list"), "{msg}");
    let unknown = json!({ "site_id": uuid::Uuid::new_v4(), "check_type": "mfa_enabled", "host": "XRAY-01", "note": "n" });
    app.post_json_as(&p.owner, path, &unknown).expect_error(StatusCode::NOT_FOUND, "").await;
    for bad in [
        ack(""),
        ack("   "),
        ack(&"x".repeat(1001)),
        json!({ "site_id": west.id, "check_type": "MFA Enabled", "host": "XRAY-01", "note": "n" }),
        json!({ "site_id": "westgate", "check_type": "mfa_enabled", "host": "XRAY-01", "note": "n" }),
        json!({ "site_id": west.id, "check_type": "mfa_enabled", "note": "n" }),
    ] {
        app.post_json_as(&p.owner, path, &bad).expect_error(StatusCode::BAD_REQUEST, "").await;
    }
    let msg = app
        .post_json_as(&p.owner, path, &ack("a\u{85}b"))
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "")
        .await;
    assert!(msg.contains("control characters"), "{msg}");
    assert_eq!(app.rows_in("todo_acknowledgements").await, 1);

    // The check passes, then fails again: the old note is for the old
    // streak and no longer shows.
    for (id, status, ago) in [("W-3", "pass", 1), ("W-4", "fail", 0)] {
        ingest(
            &app,
            &west,
            id,
            Utc::now() - Duration::hours(ago),
            &[("mfa_enabled", status, "XRAY-01", Some("164.312(d)"))],
        )
        .await;
    }
    let list = app.get_as(&p.viewer, "/api/client/todo").expect_json(StatusCode::OK).await;
    let mfa = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["check_type"] == "mfa_enabled")
        .unwrap()
        .clone();
    assert!(mfa["acknowledgement"].is_null(), "{mfa}");
    assert_eq!(mfa["days_open"], 0);
}

#[tokio::test]
async fn the_dashboard_leads_with_what_to_fix_and_admins_acknowledge_in_place() {
    let app = spawn_app().await;
    let p = app.practice("Westgate Family Practice").await;
    let (west, _) = westgate(&app, &p).await;

    let html = app.get_as(&p.admin, portal::paths::DASHBOARD).expect_text(StatusCode::OK).await;
    let todo = html.split("id=\"todo\"").nth(1).expect("the to-do card");
    let trend = html.find("id=\"trend\"").unwrap();
    assert!(html.find("id=\"todo\"").unwrap() < trend, "the to-do list comes before the trend");
    let items: Vec<&str> = todo.split("<li class=\"todo-item").skip(1).collect();
    assert_eq!(items.len(), 4, "{todo}");
    for part in [
        "MFA is not enabled on XRAY-01 at Westgate",
        "failing for 12 days",
        "HIPAA 164.312(d) Person or entity authentication",
        "2 of 3 accounts use a password only",
        "How to fix",
        "authenticator app",
        "Usually fixed by your IT partner, with your staff.",
        "Why HIPAA asks for this",
        "Acknowledge",
    ] {
        assert!(items[0].contains(part), "{part}: {}", items[0]);
    }
    assert!(items[2].contains("VPN tunnel up failed on SRV-01 at Annex"), "{}", items[2]);
    assert!(items[2].contains("OsirisCare has no specific guidance"), "{}", items[2]);

    // A viewer reads the list but gets no form.
    let html = app.get_as(&p.viewer, portal::paths::DASHBOARD).expect_text(StatusCode::OK).await;
    assert!(html.contains("MFA is not enabled on XRAY-01"));
    assert!(!html.contains(portal::paths::TODO_ACKNOWLEDGE), "no acknowledge form for viewers");
    let form = [
        ("site_id", west.id.to_string()),
        ("check_type", "mfa_enabled".to_owned()),
        ("host", "XRAY-01".to_owned()),
        ("note", "Partner booked for Friday".to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.post_form_as(&p.viewer, portal::paths::TODO_ACKNOWLEDGE, &pairs)
        .header("hx-request", "true")
        .expect_status(StatusCode::FORBIDDEN)
        .await;

    // An admin acknowledges: htmx gets the item back with the note.
    let item = app
        .post_form_as(&p.admin, portal::paths::TODO_ACKNOWLEDGE, &pairs)
        .header("hx-request", "true")
        .expect_text(StatusCode::OK)
        .await;
    let id = portal::views::todo::item_id(west.id, "mfa_enabled", "XRAY-01");
    assert!(item.starts_with(&format!("<li class=\"todo-item todo-fail\" id=\"{id}\"")), "{item}");
    assert!(item.contains("Acknowledged") && item.contains("Partner booked for Friday"), "{item}");
    assert!(item.contains("still counts as failing"), "{item}");

    // An empty note is refused by its field, 422, with nothing written.
    let mut empty = pairs.clone();
    empty[3] = ("note", "  ");
    let refused = app
        .post_form_as(&p.admin, portal::paths::TODO_ACKNOWLEDGE, &empty)
        .header("hx-request", "true")
        .expect_text(StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(refused.contains(&format!("id=\"{id}-error\"")), "{refused}");
    assert!(refused.contains(&format!("aria-describedby=\"{id}-error\"")), "{refused}");
    assert!(refused.contains("write a note"), "{refused}");
    assert_eq!(app.rows_in("todo_acknowledgements").await, 1);

    // Without JavaScript: a plain form, then back to the site at the item.
    let resp = app
        .post_plain_form_as(&p.owner, portal::paths::TODO_ACKNOWLEDGE, &pairs)
        .expect_status(StatusCode::SEE_OTHER)
        .await;
    assert_eq!(resp.header("location"), format!("{}#{id}", portal::paths::site(west.id)));
    // Another practice's owner cannot write on this site.
    let other = app.practice("Elm Clinic").await;
    let refused = app
        .post_form_as(&other.owner, portal::paths::TODO_ACKNOWLEDGE, &pairs)
        .header("hx-request", "true")
        .expect_text(StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(refused.contains("no such site in your practice"), "{refused}");
    assert_eq!(app.rows_in("todo_acknowledgements").await, 2);
}

#[tokio::test]
async fn site_and_bundle_pages_put_failures_first_and_offer_failures_only() {
    let app = spawn_app().await;
    let p = app.practice("Westgate Family Practice").await;
    let (west, annex) = westgate(&app, &p).await;

    let site = portal::paths::site(west.id);
    let html = app.get_as(&p.viewer, &site).expect_text(StatusCode::OK).await;
    let todo = html.split("id=\"todo\"").nth(1).expect("the site's to-do list");
    assert!(todo.contains("MFA is not enabled on XRAY-01 at Westgate"), "{todo}");
    assert!(!todo.contains("Annex"), "only this site's items");
    let controls = html.split("id=\"controls\"").nth(1).unwrap();
    let rows: Vec<&str> = controls.split("<tr class=\"check-row\"").skip(1).collect();
    assert_eq!(rows.len(), 4, "{controls}");
    assert!(rows[0].contains("badge-red") && rows[1].contains("badge-red"), "failing first");
    assert!(rows[2].contains("badge-amber"), "then the warning: {}", rows[2]);
    assert!(rows[3].contains("firewall_status"), "the passing control last: {}", rows[3]);
    assert!(controls.contains("Failures only"));

    let only =
        app.get_as(&p.viewer, &format!("{site}?only=failures")).expect_text(StatusCode::OK).await;
    let controls = only.split("id=\"controls\"").nth(1).unwrap();
    let rows: Vec<&str> = controls.split("<tr class=\"check-row\"").skip(1).collect();
    assert_eq!(rows.len(), 2, "the two failing checks only: {controls}");
    assert!(!controls.contains("firewall_status") && !controls.contains("ntp_sync"));
    app.get_as(&p.viewer, &format!("{site}?only=everything"))
        .expect_status(StatusCode::BAD_REQUEST)
        .await;

    // The bundle page: failures first, each with what to do.
    let bundle = portal::paths::site_bundle("W-2", west.id);
    let html = app.get_as(&p.viewer, &bundle).expect_text(StatusCode::OK).await;
    let checks = html.split("id=\"checks\"").nth(1).unwrap();
    let rows: Vec<&str> = checks.split("<tr class=\"check-row\"").skip(1).collect();
    let results: Vec<&str> = rows.iter().map(|r| r.split('"').nth(1).unwrap()).collect::<Vec<_>>();
    assert_eq!(results, ["fail", "fail", "warn", "pass"], "{checks}");
    assert!(rows[0].contains("How to fix") && rows[0].contains("Found:"), "{}", rows[0]);
    assert!(!rows[3].contains("How to fix"), "a passing check needs no fix");
    let only =
        app.get_as(&p.viewer, &format!("{bundle}&only=failures")).expect_text(StatusCode::OK).await;
    let checks = only.split("id=\"checks\"").nth(1).unwrap();
    assert_eq!(checks.matches("<tr class=\"check-row\"").count(), 2, "{checks}");
    app.get_as(&p.viewer, &format!("{bundle}&only=1")).expect_status(StatusCode::BAD_REQUEST).await;

    // An unknown check's bundle gets the generic guidance.
    let html = app
        .get_as(&p.viewer, &portal::paths::site_bundle("A-1", annex.id))
        .expect_text(StatusCode::OK)
        .await;
    assert!(html.contains("ask your IT partner to look into it"), "{html}");
}

#[tokio::test]
async fn the_critical_alert_says_how_to_fix_each_failure() {
    let app = spawn_app().await;
    let p = app.practice("Westgate Family Practice").await;
    let site = create_site(&app, p.org_id, "Westgate").await;
    ingest(
        &app,
        &site,
        "OK-1",
        Utc::now() - Duration::hours(2),
        &[("screen_lock", "pass", "SRV-01", None)],
    )
    .await;
    ingest(
        &app,
        &site,
        "BAD-1",
        Utc::now() - Duration::minutes(30),
        &[("screen_lock", "fail", "SRV-01", None)],
    )
    .await;
    let db = app.db_client().await;
    let rows = db
        .query("SELECT body_text, body_html FROM email_outbox WHERE kind = 'critical_alert'", &[])
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let (text, html): (String, String) = (row.get(0), row.get(1));
        assert!(text.contains("  - Screen lock failing on SRV-01\n"), "{text}");
        assert!(text.contains("What to do:\n\n  Screen lock: Set the screen to lock"), "{text}");
        assert!(text.contains("Usually fixed by your IT partner, with your staff."), "{text}");
        assert!(html.contains("What to do") && html.contains("Windows+L"), "{html}");
    }

    // It passes, then fails again: the failure is counted on the day's
    // notification, and it is still news, so the waiting alert gets it.
    for (id, status, minutes) in [("OK-2", "pass", 20), ("BAD-2", "fail", 10)] {
        let at = Utc::now() - Duration::minutes(minutes);
        ingest(&app, &site, id, at, &[("screen_lock", status, "SRV-01", None)]).await;
    }
    let subjects: Vec<String> = db
        .query("SELECT subject FROM email_outbox WHERE kind = 'critical_alert'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!subjects.is_empty());
    for subject in subjects {
        assert_eq!(subject, "Compliance alert at Westgate: 2 checks failing");
    }
}
