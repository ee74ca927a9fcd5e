//! The audit area: the log's API (filters, keyset pages, CSV export), its
//! page, and the table's append-only rule.

use std::collections::HashSet;

use poem::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Expect, Practice, TestApp, TestUser, body_text, expect_text, spawn_app};
use crate::matrix::Case;

/// This area's rows of the role x organisation matrix (see matrix.rs).
/// The request filters by a user of practice A: another practice's owner
/// gets 404 (no such user in their practice).
pub const MATRIX: &[Case] = &[Case {
    operation_id: "list_audit_log",
    method: Method::GET,
    expect: [401, 403, 200, 200, 404, 200],
}];

/// A fresh request for one of this area's operations against practice `a`,
/// or None when the operation is not this area's.
pub async fn matrix_request(
    _app: &TestApp,
    a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    match operation_id {
        "list_audit_log" => {
            Some((format!("/api/client/audit-log?actor={}&limit=5", a.owner.id), None))
        }
        _ => None,
    }
}

/// One entry written straight into the table, at a chosen moment.
/// Raw SQL on purpose (in `seed` and the bulk inserts below): the log is
/// append-only and `portal::db::audit::record` stamps `created_at` with now,
/// so a past moment can only be written by hand, in the INSERT itself.
struct Seed<'a> {
    org: Uuid,
    user: Option<Uuid>,
    email: Option<&'a str>,
    action: &'a str,
    at: &'a str,
    target_id: Option<&'a str>,
    user_agent: Option<&'a str>,
    details: Value,
}

async fn seed(app: &TestApp, s: Seed<'_>) -> i64 {
    app.db_client()
        .await
        .query_one(
            "INSERT INTO client_audit_log
               (client_org_id, actor_user_id, actor_email, action, target_type, target_id,
                ip, user_agent, details, created_at)
             VALUES ($1, $2, $3, $4, 'thing', $5, '192.0.2.7', $6, $7, $8::text::timestamptz)
             RETURNING id",
            &[&s.org, &s.user, &s.email, &s.action, &s.target_id, &s.user_agent, &s.details, &s.at],
        )
        .await
        .unwrap()
        .get(0)
}

fn simple<'a>(org: Uuid, user: Option<&'a TestUser>, action: &'a str, at: &'a str) -> Seed<'a> {
    Seed {
        org,
        user: user.map(|u| u.id),
        email: user.map(|u| u.email.as_str()),
        action,
        at,
        target_id: None,
        user_agent: None,
        details: json!({}),
    }
}

async fn list(app: &TestApp, user: &TestUser, query: &str) -> (StatusCode, Value) {
    let reply = app.get_as(user, &format!("/api/client/audit-log?{query}")).reply().await;
    (reply.status, reply.json())
}

fn ids(page: &Value) -> Vec<i64> {
    page["entries"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

/// 2020 keeps seeded entries apart from those the test's own sign-ins make.
const YEAR: &str = "from=2020-01-01&to=2020-12-31";

#[tokio::test]
async fn filters_by_actor_action_and_date() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let e1 = seed(
        &app,
        simple(a.org_id, Some(&a.owner), "auth.signin_succeeded", "2020-11-01T10:00:00Z"),
    )
    .await;
    let e2 =
        seed(&app, simple(a.org_id, Some(&a.admin), "auth.signout", "2020-11-02T10:00:00Z")).await;
    let e3 =
        seed(&app, simple(a.org_id, Some(&a.owner), "transfer.requested", "2020-11-03T10:00:00Z"))
            .await;
    let e4 = seed(
        &app,
        Seed {
            email: Some("stranger@nowhere.example"),
            ..simple(a.org_id, None, "auth.signin_failed", "2020-11-03T12:00:00Z")
        },
    )
    .await;

    let cases: Vec<(String, Vec<i64>)> = vec![
        (String::new(), vec![e4, e3, e2, e1]),
        (format!("actor={}", a.owner.id), vec![e3, e1]),
        (format!("actor={}", a.owner.email.to_uppercase()), vec![e3, e1]),
        ("actor=stranger@nowhere.example".into(), vec![e4]),
        ("action=auth.".into(), vec![e4, e2, e1]),
        ("action=auth.*".into(), vec![e4, e2, e1]),
        ("action=auth.signout".into(), vec![e2]),
        ("action=auth".into(), vec![]),
        ("action=auth.signin*".into(), vec![e4, e1]),
        (format!("actor={}&action=auth.", a.owner.id), vec![e1]),
    ];
    for (query, expected) in cases {
        let (status, page) = list(&app, &a.admin, &format!("{query}&{YEAR}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(ids(&page), expected, "{query}");
    }
    for (query, expected) in [
        ("from=2020-11-02&to=2020-11-03", vec![e4, e3, e2]),
        ("from=2020-11-02&to=2020-11-02", vec![e2]),
        ("from=2020-11-03T11:00:00Z&to=2020-12-01", vec![e4]),
        ("from=2020-11-01T00:00:00%2B02:00&to=2020-11-01T11:00:00Z", vec![e1]),
    ] {
        let (status, page) = list(&app, &a.admin, query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(ids(&page), expected, "{query}");
    }

    let (_, page) = list(&app, &a.owner, &format!("action=auth.signin_failed&{YEAR}")).await;
    let entry = &page["entries"][0];
    assert_eq!(entry["actor_user_id"], Value::Null);
    assert_eq!(entry["actor_email"], "stranger@nowhere.example");
    assert_eq!(entry["ip"], "192.0.2.7");
    assert_eq!(entry["target_type"], "thing");
    let at = chrono::DateTime::parse_from_rfc3339(entry["created_at"].as_str().unwrap()).unwrap();
    assert_eq!(at.to_utc().to_rfc3339(), "2020-11-03T12:00:00+00:00");
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn keyset_pages_have_no_duplicates_or_gaps() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let db = app.db_client().await;
    // 250 entries for A in groups of three sharing a created_at (ties are
    // broken by id), interleaved with B's. Raw SQL on purpose: chosen
    // created_at values (see `Seed`).
    for org in [a.org_id, b.org_id] {
        db.execute(
            "INSERT INTO client_audit_log (client_org_id, action, created_at)
             SELECT $1, CASE WHEN g % 2 = 0 THEN 'auth.signout' ELSE 'evidence.downloaded' END,
                    timestamptz '2020-06-01 00:00:00Z' + (g / 3) * interval '1 second'
               FROM generate_series(1, 250) g",
            &[&org],
        )
        .await
        .unwrap();
    }
    let expected: Vec<i64> = db
        .query(
            "SELECT id FROM client_audit_log WHERE client_org_id = $1
              ORDER BY created_at DESC, id DESC",
            &[&a.org_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(expected.len() >= 250);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=7&cursor={c}"),
            None => "limit=7".to_owned(),
        };
        let (status, page) = list(&app, &a.admin, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = ids(&page);
        assert!(got.len() <= 7);
        seen.extend(got);
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every entry once, newest first, nothing of B");
    assert_eq!(pages, expected.len().div_ceil(7));
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    // The same with a filter: only A's sign-outs.
    let (_, page) = list(&app, &a.admin, "action=auth.signout&limit=500").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 125);
    assert!(page["entries"].as_array().unwrap().iter().all(|e| e["action"] == "auth.signout"));
}

#[tokio::test]
async fn another_practices_entries_are_invisible_and_roles_are_enforced() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let secret =
        seed(&app, simple(b.org_id, Some(&b.owner), "auth.signout", "2020-03-03T03:03:03Z")).await;
    seed(&app, simple(a.org_id, Some(&a.owner), "auth.signout", "2020-03-03T03:03:03Z")).await;

    for user in [&a.owner, &a.admin] {
        let (status, page) = list(&app, user, &format!("limit=500&{YEAR}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!ids(&page).contains(&secret), "A never sees B's entries");
        assert_eq!(ids(&page).len(), 1);
    }
    // B's user id is no user of A: 404, like any id of another practice.
    let (status, body) = list(&app, &a.admin, &format!("actor={}", b.owner.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // An email is a plain filter: B's address finds nothing in A's log.
    let (status, page) = list(&app, &a.admin, &format!("actor={}", b.owner.email)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ids(&page).is_empty());

    let (status, body) = list(&app, &a.viewer, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let resp = app.get_as(&a.viewer, "/api/client/audit-log?format=csv").send().await;
    resp.assert_status(StatusCode::FORBIDDEN);
    app.get_as(&a.viewer, portal::paths::AUDIT).send().await.assert_status(StatusCode::FORBIDDEN);
    app.client.get("/api/client/audit-log").send().await.assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_parameters_are_400_with_a_message() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    for query in [
        "cursor=junk",
        "cursor=AAAAAAAAAAAAAAAAAAAAA!",
        "limit=0",
        "limit=501",
        "limit=ten",
        "from=yesterday",
        "to=2020-13-01",
        "actor=a%00b",
        "action=AUTH.",
        "action=a**",
        "action=a%20b",
        "format=xml",
    ] {
        let (status, body) = list(&app, &a.admin, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{query}: {body}");
    }
    for query in [
        "limit=500&format=json",
        "from=2020-02-01&to=2020-01-01",
        "actor=nobody",
        "action=auth*",
        "cursor=0000000000000000000000",
        "from=9999-12-31&to=0001-01-01T00:00:00Z",
    ] {
        let (status, body) = list(&app, &a.admin, query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert!(ids(&body).is_empty() || query.starts_with("limit"), "{query}: {body}");
    }
}

/// RFC 4180: quoted fields with doubled quotes and line breaks inside.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                other => field.push(other),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            other => field.push(other),
        }
    }
    assert!(!quoted, "unterminated quote");
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[tokio::test]
async fn the_csv_export_parses_back_and_is_itself_audited() {
    let app = spawn_app().await;
    let a = app.practice("CSV Clinic!").await;
    let tricky = [
        (
            Some("@evil@x.example"),
            "=HYPERLINK(\"http://evil.example\",\"click\")",
            "Agent, with \"quotes\"\nand a line break",
        ),
        (Some("plain@x.example"), "+1", "-2"),
        (None, "tab\there, comma", "ok"),
    ];
    for (i, (email, target, agent)) in tricky.iter().enumerate() {
        let at = format!("2020-05-0{}T10:00:00Z", i + 1);
        seed(
            &app,
            Seed {
                email: *email,
                target_id: Some(target),
                user_agent: Some(agent),
                details: json!({ "note": "a,b \"c\"", "n": i }),
                ..simple(a.org_id, None, "report.downloaded", &at)
            },
        )
        .await;
    }
    let query = "action=report.&from=2020-05-01&to=2020-05-31";
    let (_, page) = list(&app, &a.admin, query).await;
    let entries = page["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 3);

    let resp =
        app.get_as(&a.admin, &format!("/api/client/audit-log?{query}&format=csv")).send().await;
    resp.assert_status_is_ok();
    resp.assert_content_type("text/csv; charset=utf-8");
    let today = chrono::Utc::now().format("%Y-%m-%d");
    resp.assert_header(
        "content-disposition",
        format!("attachment; filename=\"audit-log-csv-clinic-{today}.csv\""),
    );
    resp.assert_header("x-audit-rows", "3");
    resp.assert_header("x-audit-truncated", "false");
    let text = body_text(resp).await;
    let rows = parse_csv(&text);
    assert_eq!(
        rows[0],
        [
            "id",
            "created_at",
            "actor_user_id",
            "actor_email",
            "action",
            "target_type",
            "target_id",
            "ip",
            "user_agent",
            "details"
        ]
    );
    assert_eq!(rows.len(), 4, "{text}");
    for (row, entry) in rows[1..].iter().zip(&entries) {
        assert_eq!(row.len(), 10, "{row:?}");
        assert_eq!(row[0], entry["id"].as_i64().unwrap().to_string());
        assert_eq!(row[4], "report.downloaded");
        assert_eq!(row[7], "192.0.2.7");
        let details: Value = serde_json::from_str(&row[9]).unwrap();
        assert_eq!(details, entry["details"]);
    }
    // Newest first: the third seed leads.
    assert_eq!(rows[1][6], "tab\there, comma");
    assert_eq!(rows[1][3], "");
    assert_eq!(rows[2][3], "plain@x.example");
    assert_eq!(rows[2][6], "'+1", "formula neutralised");
    assert_eq!(rows[2][8], "'-2");
    assert_eq!(rows[3][3], "'@evil@x.example");
    assert_eq!(rows[3][6], "'=HYPERLINK(\"http://evil.example\",\"click\")");
    assert_eq!(rows[3][8], "Agent, with \"quotes\"\nand a line break");

    let db = app.db_client().await;
    let exported = db
        .query(
            "SELECT actor_user_id, details FROM client_audit_log
              WHERE client_org_id = $1 AND action = 'audit.exported'",
            &[&a.org_id],
        )
        .await
        .unwrap();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].get::<_, Option<Uuid>>(0), Some(a.admin.id));
    let details: Value = exported[0].get(1);
    assert_eq!(details["rows"], 3);
    assert_eq!(details["filters"]["action"], "report.*");
}

#[tokio::test]
async fn a_large_export_is_capped_and_says_how_to_continue() {
    let app = spawn_app().await;
    let a = app.practice("Big Clinic").await;
    // Raw SQL on purpose: 50,001 entries at chosen moments in one statement.
    app.db_client()
        .await
        .execute(
            "INSERT INTO client_audit_log (client_org_id, action, created_at)
             SELECT $1, 'bulk.row', timestamptz '2020-01-01 00:00:00Z' + g * interval '1 second'
               FROM generate_series(1, 50001) g",
            &[&a.org_id],
        )
        .await
        .unwrap();
    let resp = app.get_as(&a.owner, "/api/client/audit-log?action=bulk.&format=csv").send().await;
    resp.assert_status_is_ok();
    resp.assert_header("x-audit-rows", "50000");
    resp.assert_header("x-audit-truncated", "true");
    let next = resp.0.headers().get("x-next-cursor").unwrap().to_str().unwrap().to_owned();
    let text = body_text(resp).await;
    let last = text.trim_end().lines().last().unwrap();
    assert!(last.starts_with("# Export cut at 50000 entries"), "{last}");
    assert!(last.contains(&format!("cursor={next}")), "{last}");
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), 1 + 50_000 + 1, "header, entries, note");

    let resp = app
        .get_as(&a.owner, &format!("/api/client/audit-log?action=bulk.&format=csv&cursor={next}"))
        .send()
        .await;
    resp.assert_header("x-audit-rows", "1");
    resp.assert_header("x-audit-truncated", "false");
    let rows = parse_csv(&body_text(resp).await);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][1], "2020-01-01T00:00:01.000000Z", "the oldest entry is the rest");
}

/// An export streams a page at a time from one snapshot: entries written
/// while it is being read (here among the oldest, which its last page
/// reads) are not in it, and its row count header matches its body.
#[tokio::test]
async fn an_export_reads_one_snapshot_while_it_streams() {
    let app = spawn_app().await;
    let a = app.practice("Stream Clinic").await;
    let db = app.db_client().await;
    // Raw SQL on purpose: 5,000 entries (five pages) in one statement.
    db.execute(
        "INSERT INTO client_audit_log (client_org_id, action, created_at)
         SELECT $1, 'bulk.row', timestamptz '2020-01-01 00:00:00Z' + g * interval '1 second'
           FROM generate_series(1, 5000) g",
        &[&a.org_id],
    )
    .await
    .unwrap();
    let resp = app.get_as(&a.owner, "/api/client/audit-log?action=bulk.&format=csv").send().await;
    resp.assert_status_is_ok();
    resp.assert_header("x-audit-rows", "5000");
    // The body is not read yet: at most its first pages are. Entries among
    // the oldest, which its last page would list, arrive now.
    db.execute(
        "INSERT INTO client_audit_log (client_org_id, action, created_at)
         SELECT $1, 'bulk.late', timestamptz '2020-01-01 00:00:00.5Z' + g * interval '1 second'
           FROM generate_series(1, 7) g",
        &[&a.org_id],
    )
    .await
    .unwrap();
    let rows = parse_csv(&body_text(resp).await);
    assert_eq!(rows.len(), 1 + 5000, "header and the entries of the snapshot");
    assert!(rows.iter().all(|r| r[4] != "bulk.late"), "written after the export began");
    assert_eq!(rows[5000][1], "2020-01-01T00:00:01.000000Z", "oldest last");
    let resp = app.get_as(&a.owner, "/api/client/audit-log?action=bulk.&format=csv").send().await;
    resp.assert_header("x-audit-rows", "5007");
    assert_eq!(parse_csv(&body_text(resp).await).len(), 1 + 5007, "a new export has them");
}

#[tokio::test]
async fn the_log_is_append_only() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    // Younger than the six years after which retention may delete rows.
    let at = (chrono::Utc::now() - chrono::Duration::days(365)).to_rfc3339();
    let id = seed(&app, simple(a.org_id, Some(&a.owner), "auth.signout", &at)).await;
    let db = app.db_client().await;
    // Raw SQL on purpose: the writes the table must refuse.
    for sql in [
        "UPDATE client_audit_log SET action = 'auth.nothing' WHERE id = $1",
        "DELETE FROM client_audit_log WHERE id = $1",
    ] {
        let err = db.execute(sql, &[&id]).await.unwrap_err();
        assert!(err.as_db_error().unwrap().message().contains("append-only"), "{err}");
    }
    let err = db.batch_execute("TRUNCATE client_audit_log").await.unwrap_err();
    assert!(err.to_string().contains("append-only") || err.as_db_error().is_some(), "{err}");
    let action: String = db
        .query_one("SELECT action FROM client_audit_log WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(action, "auth.signout");
}

#[tokio::test]
async fn the_audit_page_filters_and_loads_more_with_htmx() {
    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    for day in 1..=5 {
        seed(
            &app,
            simple(a.org_id, Some(&a.owner), "auth.signout", &format!("2020-02-0{day}T09:00:00Z")),
        )
        .await;
    }
    seed(&app, simple(a.org_id, Some(&a.admin), "api_token.created", "2020-02-03T10:00:00Z")).await;

    let page = body_text(app.get_as(&a.admin, portal::paths::AUDIT).send().await).await;
    assert!(page.contains("<h1>Audit log</h1>"), "{page}");
    assert!(page.contains(&format!("value=\"{}\"", a.owner.id)), "actors offered");
    assert!(page.contains("value=\"auth.\""), "action groups offered");
    assert!(page.contains("value=\"api_token.created\""), "actions of the log offered");
    assert!(page.contains("data-url-filters"), "Back restores the form from the address");
    assert!(page.contains("hx-include=\"closest form\" hx-trigger=\"change\""), "selects apply");
    assert!(page.contains("id=\"audit-export\""));
    // Each entry in a sentence, the raw entry behind an expander.
    let rows: Vec<&str> = page.split("class=\"audit-row\"").skip(1).collect();
    assert!(
        rows.iter().any(|r| r.contains("<div class=\"audit-sentence\">owner signed out</div>")),
        "{page}"
    );
    assert!(rows[0].contains("<details class=\"audit-raw\">") && rows[0].contains("auth.signout"));

    // A filter change: only the results fragment, with a matching export link.
    let resp = app
        .get_as(&a.admin, "/client/audit?action=auth.&from=2020-02-01&to=2020-02-28&limit=2")
        .header("hx-request", "true")
        .send()
        .await;
    let fragment = expect_text(resp, StatusCode::OK).await;
    assert!(fragment.starts_with("<section class=\"card\" id=\"audit-results\""), "{fragment}");
    assert_eq!(fragment.matches("class=\"audit-row\"").count(), 2);
    assert!(!fragment.contains("api_token.created"));
    assert!(
        fragment.contains("href=\"/api/client/audit-log?action=auth.&amp;from=2020-02-01&amp;to=2020-02-28&amp;format=csv\""),
        "{fragment}"
    );
    let next = fragment
        .split("hx-get=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    assert!(next.contains("cursor="), "{next}");

    // "Load more": rows to append and a new button out of band.
    let resp = app.get_as(&a.admin, &next).header("hx-request", "true").send().await;
    let more = expect_text(resp, StatusCode::OK).await;
    assert!(more.starts_with("<tr class=\"audit-row\""), "{more}");
    assert_eq!(more.matches("class=\"audit-row\"").count(), 2);
    assert!(more.contains("id=\"audit-load-more\" hx-swap-oob=\"true\""), "{more}");

    // Wrong input: a 400 that says what is wrong; another practice's user: 404.
    let resp = app.get_as(&a.admin, "/client/audit?from=someday").send().await;
    assert!(expect_text(resp, StatusCode::BAD_REQUEST).await.contains("is not a date"));
    let resp = app.get_as(&a.admin, &format!("/client/audit?actor={}", b.owner.id)).send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
}

/// The audit page in Chromium: a filter swaps the results and updates the
/// address; "Load more" appends older entries.
#[tokio::test]
async fn the_audit_page_works_in_chromium() {
    use fantoccini::Locator;

    use crate::browser::{browser, fit_page, open_as, screenshot};

    let Some((_driver, client)) = browser().await else { return };
    let app = spawn_app().await;
    let a = app.practice("Riverside Family Medicine").await;
    for minute in 0..60 {
        let action = if minute % 3 == 0 { "api_token.created" } else { "auth.signin_succeeded" };
        let at = format!("2020-02-03T10:{minute:02}:00Z");
        seed(
            &app,
            Seed {
                details: json!({ "method": "password" }),
                ..simple(a.org_id, Some(&a.owner), action, &at)
            },
        )
        .await;
    }
    let server = crate::helpers::spawn_server(&app).await;

    open_as(
        &client,
        &server.base_url,
        &a.admin,
        "/client/audit?from=2020-01-01&to=2020-12-31&limit=25",
    )
    .await;
    client.wait().for_element(Locator::Id("audit-rows")).await.unwrap();
    assert_eq!(client.find_all(Locator::Css(".audit-row")).await.unwrap().len(), 25);
    client.execute("window.__sameDocument = true;", vec![]).await.unwrap();

    client
        .find(Locator::Id("f-action"))
        .await
        .unwrap()
        .select_by_value("api_token.")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let url = client.current_url().await.unwrap();
        if url.as_str().contains("action=api_token.") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the address was not updated: {url}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rows = client.find_all(Locator::Css(".audit-row")).await.unwrap();
        let mut actions = Vec::new();
        for r in &rows {
            actions.push(r.attr("data-action").await.unwrap().unwrap_or_default());
        }
        if !actions.is_empty() && actions.iter().all(|a| a == "api_token.created") {
            assert_eq!(actions.len(), 20);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the results were not swapped");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let export = client.find(Locator::Id("audit-export")).await.unwrap();
    assert!(export.attr("href").await.unwrap().unwrap().contains("action=api_token.&"));

    client.find(Locator::Id("f-action")).await.unwrap().select_by_value("").await.unwrap();
    client
        .wait()
        .for_element(Locator::Css("#audit-load-more a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while client.find_all(Locator::Css(".audit-row")).await.unwrap().len() != 50 {
        assert!(std::time::Instant::now() < deadline, "Load more did not append 25 rows");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let same = client.execute("return window.__sameDocument === true;", vec![]).await.unwrap();
    assert_eq!(same, Value::Bool(true), "everything happened in place");
    fit_page(&client).await;
    screenshot(&client, "audit-log").await;
    server.stop().await;
}
