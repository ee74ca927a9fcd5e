//! The practice's time zone: where it comes from, who sets it, and that it
//! changes every rendered time (pages, the PDF) while the API stays UTC.

use chrono::{Duration, DurationRound, Utc};
use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::appliances::{create_site, ingest};
use crate::helpers::{Expect, Practice, TestApp, spawn_app};
use crate::matrix::Case;

pub const MATRIX: &[Case] = &[
    Case {
        operation_id: "get_org_settings",
        method: Method::GET,
        expect: [401, 200, 200, 200, 200, 200],
    },
    // Only the owner; another practice's owner sets their own practice's.
    Case {
        operation_id: "set_org_settings",
        method: Method::PUT,
        expect: [401, 403, 403, 200, 200, 403],
    },
];

pub async fn matrix_request(
    _app: &TestApp,
    _a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    match operation_id {
        "get_org_settings" => Some(("/api/client/org/settings".into(), None)),
        "set_org_settings" => Some((
            "/api/client/org/settings".into(),
            Some(json!({ "time_zone": "America/Chicago" })),
        )),
        _ => None,
    }
}

const PATH: &str = "/api/client/org/settings";

#[tokio::test]
async fn the_zone_comes_from_the_owner_then_the_state_then_utc() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let got = app.get_as(&p.viewer, PATH).expect_json(StatusCode::OK).await;
    assert_eq!(got, json!({ "time_zone": "UTC", "time_zone_source": "default", "state": null }));

    let db = app.db_client().await;
    portal::db::orgs::set_state(&**db, p.org_id, Some("WA")).await.unwrap();
    let got = app.get_as(&p.viewer, PATH).expect_json(StatusCode::OK).await;
    assert_eq!(got["time_zone"], "America/Los_Angeles");
    assert_eq!(got["time_zone_source"], "state");
    assert_eq!(got["state"], "WA");

    // Only the owner sets it; a name that is no zone is a 422 that says
    // what to send, a malformed one a 400; neither writes anything.
    let body = json!({ "time_zone": "America/New_York" });
    app.put_json_as(&p.admin, PATH, &body).expect_error(StatusCode::FORBIDDEN, "").await;
    let msg = app
        .put_json_as(&p.owner, PATH, &json!({ "time_zone": "Mars/Olympus_Mons" }))
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "")
        .await;
    assert!(msg.contains("IANA") && msg.contains("America/New_York"), "{msg}");
    for bad in [json!({ "time_zone": "" }), json!({ "time_zone": "New York" }), json!({})] {
        app.put_json_as(&p.owner, PATH, &bad).expect_error(StatusCode::BAD_REQUEST, "").await;
    }
    let audited = "SELECT count(*) FROM client_audit_log WHERE action = 'org.settings_changed'";
    assert_eq!(app.count(audited, &[]).await, 0);

    let got = app.put_json_as(&p.owner, PATH, &body).expect_json(StatusCode::OK).await;
    assert_eq!(got["time_zone"], "America/New_York");
    assert_eq!(got["time_zone_source"], "set");
    let row = db
        .query_one(
            "SELECT details FROM client_audit_log WHERE action = 'org.settings_changed'",
            &[],
        )
        .await
        .unwrap();
    let details: Value = row.get(0);
    assert_eq!(
        details,
        json!({ "time_zone": { "from": "America/Los_Angeles", "to": "America/New_York" } })
    );
    // Another practice is untouched.
    let other = app.practice("Elm Clinic").await;
    let theirs = app.get_as(&other.owner, PATH).expect_json(StatusCode::OK).await;
    assert_eq!(theirs["time_zone"], "UTC");
}

#[tokio::test]
async fn the_zone_changes_every_rendered_time_and_the_api_stays_utc() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let site = create_site(&app, p.org_id, "Main Street").await;
    let at = (Utc::now() - Duration::days(2)).duration_trunc(Duration::hours(1)).unwrap();
    ingest(&app, &site, "TZ-1", at, &[("screen_lock", "fail", "SRV-01", None)]).await;

    let pages = [
        portal::paths::DASHBOARD.to_owned(),
        portal::paths::site(site.id),
        portal::paths::EVIDENCE.to_owned(),
        portal::paths::site_bundle("TZ-1", site.id),
    ];
    let utc = at.format("%Y-%m-%d %H:%M UTC").to_string();
    for path in &pages {
        let html = app.get_as(&p.owner, path).expect_text(StatusCode::OK).await;
        assert!(html.contains(&at.format("%Y-%m-%d %H:%M").to_string()), "{path}: {html}");
        assert!(html.contains(" UTC"), "{path} names its zone");
    }

    let tz: portal::zone::Tz = "America/Los_Angeles".parse().unwrap();
    let body = json!({ "time_zone": "America/Los_Angeles" });
    app.put_json_as(&p.owner, PATH, &body).expect_json(StatusCode::OK).await;
    let local = at.with_timezone(&tz);
    let shown = local.format("%Y-%m-%d %H:%M %Z").to_string();
    assert!(shown.ends_with("PST") || shown.ends_with("PDT"), "{shown}");
    for path in &pages {
        let html = app.get_as(&p.viewer, path).expect_text(StatusCode::OK).await;
        assert!(html.contains(&local.format("%Y-%m-%d %H:%M").to_string()), "{path}: {html}");
        assert!(!html.contains(&utc), "{path} still shows UTC: {html}");
        assert!(!html.contains(" UTC<") && !html.contains(" UTC\""), "{path}: {html}");
    }

    // The API keeps UTC.
    let evidence = app.get_as(&p.viewer, "/api/client/evidence").expect_json(StatusCode::OK).await;
    let checked = evidence["evidence"][0]["checked_at"].as_str().unwrap();
    assert!(checked.ends_with('Z') || checked.ends_with("+00:00"), "{checked}");

    // The PDF names the zone and shows times in it.
    let db = app.db_client().await;
    let data = portal::reports::data::ReportData::load(
        &**db,
        p.org_id,
        portal::reports::Month::of(Utc::now()),
        true,
    )
    .await
    .unwrap()
    .expect("this month has evidence");
    let pdf = portal::reports::pdf::render(&data);
    let path = crate::helpers::repo_path("target/screenshots/report-time-zone.pdf");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("America/Los_Angeles ("), "{text}");
    assert!(
        text.contains(&local.format("%b %-d %H:%M").to_string()),
        "the incident's start: {text}"
    );
}

#[tokio::test]
async fn the_owner_sets_the_zone_on_the_settings_page() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let html = app.get_as(&p.owner, portal::paths::SETTINGS).expect_text(StatusCode::OK).await;
    let section = html.split("id=\"time-zone-section\"").nth(1).expect("the time zone section");
    assert!(section.contains("<strong id=\"time-zone-current\">UTC</strong>"), "{section}");
    assert!(section.contains("<option value=\"America/Denver\">"), "zones offered");
    let viewer = app.get_as(&p.viewer, portal::paths::SETTINGS).expect_text(StatusCode::OK).await;
    assert!(!viewer.contains(portal::paths::SETTINGS_TIME_ZONE), "only the owner gets the form");
    app.post_form_as(&p.admin, portal::paths::SETTINGS_TIME_ZONE, &[("time_zone", "UTC")])
        .header("hx-request", "true")
        .expect_status(StatusCode::FORBIDDEN)
        .await;

    let refused = app
        .post_form_as(&p.owner, portal::paths::SETTINGS_TIME_ZONE, &[("time_zone", "Pacific Time")])
        .header("hx-request", "true")
        .expect_text(StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(refused.contains("aria-describedby=\"time-zone-error\""), "{refused}");
    assert!(refused.contains("value=\"Pacific Time\""), "keeps what was typed: {refused}");
    let saved = app
        .post_form_as(
            &p.owner,
            portal::paths::SETTINGS_TIME_ZONE,
            &[("time_zone", "America/Denver")],
        )
        .header("hx-request", "true")
        .expect_text(StatusCode::OK)
        .await;
    assert!(saved.contains("Times now show in America/Denver."), "{saved}");
    assert!(saved.contains("<strong id=\"time-zone-current\">America/Denver</strong>"), "{saved}");
}
