//! End-to-end in headless Chromium through chromedriver. Without Chromium the
//! test says so and passes, unless PORTAL_REQUIRE_BROWSER=1 (as in CI).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::helpers::{spawn_app, spawn_server};

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")])
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A chromedriver process in a process group of its own, which the
/// Chromium it starts (browser, zygotes, renderers, GPU and utility
/// processes) joins. Dropping it, when a test ends, fails or panics, kills
/// the whole group: killing chromedriver alone leaves Chromium running with
/// parent 1 (its crash handlers exit with the browser). The profile
/// directory goes too.
pub struct Driver {
    child: Child,
    pub url: String,
    profile: PathBuf,
}

impl Driver {
    /// The process group chromedriver and its Chromium run in.
    pub fn process_group(&self) -> i32 {
        i32::try_from(self.child.id()).expect("a pid")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals the group; it touches
        // no memory of ours.
        unsafe {
            libc::kill(-self.process_group(), libc::SIGKILL);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Whether any process of group `pgid` is still running (zombies that
/// their parent has not reaped count as gone: they run nothing).
pub fn group_alive(pgid: i32) -> Vec<String> {
    let mut alive = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp …; comm may hold spaces, so split after ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            alive.push(format!("{head})"));
        }
    }
    alive
}

/// Starts chromedriver and a headless Chromium session, or explains why not.
pub async fn browser() -> Option<(Driver, Client)> {
    let required = std::env::var("PORTAL_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let chromium = find_binary(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = find_binary(&["chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        assert!(
            !required,
            "PORTAL_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "SKIPPED browser test: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    use std::os::unix::process::CommandExt;
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let profile =
        std::env::temp_dir().join(format!("portal-chromium-{}", uuid::Uuid::new_v4().simple()));
    let driver =
        Driver { child, url: format!("http://127.0.0.1:{port}"), profile: profile.clone() };

    // chromedriver takes a moment to listen; its own port is the readiness signal.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start listening");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let caps = caps.as_object().unwrap().clone();
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("open a Chromium session");
    Some((driver, client))
}

/// Puts `user`'s session cookie into the browser (replacing any other) and
/// opens `base_url` + `path`. The cookie is set on the origin 127.0.0.1
/// (chromedriver refuses a null domain; for an IP address the domain is the
/// host itself, so the cookie stays host-only as `__Host-` requires).
pub async fn open_as(client: &Client, base_url: &str, user: &crate::helpers::TestUser, path: &str) {
    use fantoccini::cookies::Cookie;
    use poem::web::cookie::SameSite;
    // A cookie can only be set for the page's current origin.
    client.goto(&format!("{base_url}/client/login")).await.unwrap();
    client.delete_all_cookies().await.unwrap();
    let (name, value) = user.cookie.split_once('=').unwrap();
    let cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .domain("127.0.0.1")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .build();
    client.add_cookie(cookie).await.unwrap();
    client.goto(&format!("{base_url}{path}")).await.unwrap();
}

/// A command of WebDriver's WebAuthn extension
/// (<https://www.w3.org/TR/webauthn-3/#sctn-automation>): `path` below the
/// session's URL, with a JSON body when it is a POST.
#[derive(Debug)]
struct WebAuthnCommand {
    path: String,
    body: Option<serde_json::Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.expect("a WebAuthn command needs a session");
        base_url.join(&format!("session/{session}/webauthn/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (poem::http::Method, Option<String>) {
        match &self.body {
            Some(body) => (poem::http::Method::POST, Some(body.to_string())),
            None => (poem::http::Method::GET, None),
        }
    }
}

/// Gives the browser a virtual platform authenticator (CTAP2, resident
/// keys, user verification that always succeeds), so passkey ceremonies
/// run without a person; returns its id. Chromium keeps it for the session.
pub async fn add_virtual_authenticator(client: &Client) -> String {
    let options = serde_json::json!({
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": true,
        "hasUserVerification": true,
        "isUserVerified": true,
    });
    let cmd = WebAuthnCommand { path: "authenticator".to_owned(), body: Some(options) };
    let id = client.issue_cmd(cmd).await.expect("add a virtual authenticator");
    id.as_str().unwrap_or_else(|| panic!("an authenticator id, not {id}")).to_owned()
}

/// The credentials the virtual authenticator holds, as WebDriver reports
/// them (`credentialId`, `rpId`, `userHandle`, `signCount`, …) but without
/// their `privateKey`, so a failing assertion cannot print one.
pub async fn virtual_credentials(
    client: &Client,
    authenticator_id: &str,
) -> Vec<serde_json::Value> {
    let cmd = WebAuthnCommand {
        path: format!("authenticator/{authenticator_id}/credentials"),
        body: None,
    };
    let credentials = client.issue_cmd(cmd).await.expect("the virtual authenticator's credentials");
    let serde_json::Value::Array(mut list) = credentials else {
        panic!("the virtual authenticator did not answer with a list of credentials");
    };
    for credential in &mut list {
        if let Some(fields) = credential.as_object_mut() {
            fields.remove("privateKey");
        }
    }
    list
}

/// The WCAG 2.0/2.1 A and AA rules axe-core (tests/vendor/axe.min.js)
/// finds broken on the page now open: one line per rule, with the first
/// offending element. Empty when the page passes.
pub async fn axe_violations(client: &Client) -> Vec<String> {
    let axe = std::fs::read_to_string(crate::helpers::repo_path("tests/vendor/axe.min.js"))
        .expect("tests/vendor/axe.min.js");
    client.execute(&axe, vec![]).await.expect("load axe-core into the page");
    let found = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
                                   rules: { "label-content-name-mismatch": { enabled: true } } })
                 .then(r => done(r.violations.map(v => v.id + ": " + v.help + " (" + v.nodes.length + "x, e.g. " + v.nodes[0].target.join(" ") + ")")))
                 .catch(e => done(["axe failed: " + e]));"#,
            vec![],
        )
        .await
        .expect("run axe-core");
    serde_json::from_value(found).expect("a list of violations")
}

/// Saves a PNG under target/screenshots/ for people to look at.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let dir = crate::helpers::repo_path("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(&path, png).unwrap();
    path
}

/// A browser test that fails leaves nothing running: the driver's drop
/// kills chromedriver and every Chromium process while the panic unwinds.
#[tokio::test]
async fn a_browser_test_that_panics_leaves_no_chromium_running() {
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = tokio::spawn(async move {
        let Some((driver, client)) = browser().await else { return };
        client.goto("about:blank").await.unwrap();
        tx.send(driver.process_group()).unwrap();
        panic!("a browser test fails here");
    })
    .await;
    let Ok(group) = rx.try_recv() else { return }; // no Chromium here (said so above)
    assert!(failed.is_err_and(|e| e.is_panic()), "the test panicked");
    crate::helpers::wait_for(
        || async { group_alive(group).is_empty() },
        "the failed test's chromedriver and Chromium are gone",
    )
    .await;
}

/// While a browser runs, its group holds chromedriver and Chromium (so the
/// check above can see them at all).
#[tokio::test]
async fn chromium_runs_in_its_drivers_process_group() {
    let Some((driver, client)) = browser().await else { return };
    client.goto("about:blank").await.unwrap();
    let alive = group_alive(driver.process_group());
    assert!(alive.iter().any(|p| p.contains("(chromedriver")), "{alive:?}");
    assert!(alive.iter().any(|p| p.contains("(chromium") || p.contains("(chrome")), "{alive:?}");
    client.close().await.unwrap();
}

#[tokio::test]
async fn the_login_page_loads_htmx_in_a_real_browser() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let app = spawn_app().await;
    let server = spawn_server(&app).await;

    client.goto(&format!("{}/client/login", server.base_url)).await.unwrap();
    let title = client.title().await.unwrap();
    assert_eq!(title, "Sign in · OsirisCare");
    let version =
        client.execute("return window.htmx ? window.htmx.version : null;", vec![]).await.unwrap();
    assert_eq!(version, serde_json::json!("2.0.11"), "htmx loaded under the CSP");
    let styled = client
        .execute(
            "return getComputedStyle(document.querySelector('.auth-card')).backgroundColor;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(styled, serde_json::json!("rgb(255, 255, 255)"), "the stylesheet applied");
    client.find(Locator::Css("input[name=email]")).await.expect("email field");
    let shot = screenshot(&client, "login").await;
    eprintln!("screenshot: {}", shot.display());

    client.close().await.unwrap();
    server.stop().await;
}

/// The whole sign-in as a person does it, over real SMTP and with the
/// default (Secure, __Host-) cookie on http://127.0.0.1.
#[tokio::test]
async fn a_person_signs_in_with_a_magic_link_in_chromium() {
    let Some((_driver, client)) = browser().await else { return };
    let smtp = crate::smtp_server::SmtpServer::start(crate::smtp_server::Security::Plain).await;
    let app = crate::helpers::spawn_app_with(|c| c.smtp = Some(smtp.config())).await;
    let p = app.practice_with("Riverside Family Medicine", Some("Dr. Maria Santos")).await;
    let server = spawn_server(&app).await;
    let mailer =
        portal::mail::spawn_worker_with(app.pool.clone(), smtp.transport(), app.state.mail_waker());
    // As in `portal serve`: the worker answers the queued request at once.
    let links = portal::auth::flows::spawn_link_worker(server.state.clone());

    client.goto(&format!("{}/client/login", server.base_url)).await.unwrap();
    client.find(Locator::Id("magic-email")).await.unwrap().send_keys(&p.owner.email).await.unwrap();
    client.execute("window.__marker = 'same page';", vec![]).await.unwrap();
    client
        .find(Locator::Css("#magic-link-panel button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = client
        .wait()
        .for_element(Locator::Id("check-email"))
        .await
        .expect("htmx swapped in the notice");
    assert!(notice.text().await.unwrap().contains("Check your email"));
    let marker = client.execute("return window.__marker || null;", vec![]).await.unwrap();
    assert_eq!(marker, serde_json::json!("same page"), "htmx swapped a fragment; no full reload");
    screenshot(&client, "signin-1-check-email").await;

    // The mail, read back with a MIME parser (quoted-printable may split the link).
    let message = smtp.next_message().await;
    assert_eq!(message.rcpt_to, vec![p.owner.email.clone()]);
    let parsed = message.parsed();
    assert_eq!(parsed.subject(), Some("Your OsirisCare sign-in link"));
    let text = parsed.body_text(0).expect("a text part").into_owned();
    let html = parsed.body_html(0).expect("an HTML part").into_owned();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/client/verify?token="))
        .expect("link in the text")
        .to_owned();
    assert!(link.starts_with(&server.base_url), "{link}");
    assert!(html.contains(&link.replace('&', "&amp;")), "the HTML part has the same link");

    client.goto(&link).await.unwrap();
    client.wait().for_element(Locator::Id("continue")).await.unwrap();
    screenshot(&client, "signin-2-continue").await;
    client.find(Locator::Id("continue")).await.unwrap().click().await.unwrap();
    let name = client.wait().for_element(Locator::Id("user-name")).await.expect("the dashboard");
    assert_eq!(name.text().await.unwrap(), "Dr. Maria Santos");
    assert!(client.current_url().await.unwrap().as_str().ends_with(portal::paths::DASHBOARD));
    screenshot(&client, "signin-3-dashboard").await;

    let cookies = client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "__Host-osiris_session")
        .expect("the secure session cookie");
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.http_only(), Some(true));

    // Settings render for the signed-in user; sign out through the navigation.
    client.goto(&format!("{}/client/settings", server.base_url)).await.unwrap();
    client.wait().for_element(Locator::Id("sessions-section")).await.unwrap();
    screenshot(&client, "signin-4-settings").await;
    client.find(Locator::Css(".nav-right form button")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("magic-email")).await.expect("back on the sign-in page");
    let db = app.db_client().await;
    let live: i64 = db
        .query_one(
            "SELECT count(*) FROM client_sessions WHERE user_id = $1 AND revoked_at IS NULL",
            &[&p.owner.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 1, "only the helper's session is left; the browser's was revoked");

    client.close().await.unwrap();
    links.shutdown().await;
    mailer.shutdown().await;
    server.stop().await;
}

/// Resizes the window to the page's height, so a screenshot shows it all.
pub async fn fit_page(client: &Client) {
    fit_page_at(client, 1280).await
}

/// [`fit_page`] at a window width (390 for a phone).
pub async fn fit_page_at(client: &Client, width: u32) {
    client.set_window_size(width, 900).await.unwrap();
    let height = client
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap_or(900);
    // The window's height includes the browser's own frame.
    let height = u32::try_from(height.clamp(800, 4000)).unwrap() + 120;
    client.set_window_size(width, height).await.unwrap();
}

/// The compliance pages in Chromium: the dashboard's SVG chart, a site's
/// chain verification, and the evidence filters and "Load more" swapping
/// fragments in place (no full reload).
#[tokio::test]
async fn compliance_pages_render_and_filter_evidence_in_place_in_chromium() {
    use chrono::{Duration, Utc};
    use fantoccini::cookies::Cookie;
    use poem::web::cookie::SameSite;

    use crate::appliances::{create_site, ingest};

    let Some((_driver, client)) = browser().await else { return };
    let app = spawn_app().await;
    let p = app.practice_with("Riverside Family Medicine", Some("Dr. Maria Santos")).await;

    // Ten days of evidence from Main Street, some failing: the firewall on
    // the front desk for three days (fixed since), BitLocker on the X-ray
    // workstation for the last two (still failing). Harbor View passes.
    let main = create_site(&app, p.org_id, "Main Street Clinic").await;
    let harbor = create_site(&app, p.org_id, "Harbor View").await;
    // An hour ago, but never yesterday: just after midnight UTC the newest
    // bundle would fall on the day before and the chart would show eleven
    // days with data (today counts the latest results of the last 30 days).
    let midnight = Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let now = (Utc::now() - Duration::hours(1)).max(midnight);
    for day in (0..10i64).rev() {
        let at = now - Duration::days(day);
        let firewall = if (4..=6).contains(&day) { "non_compliant" } else { "compliant" };
        let bitlocker = if day <= 1 { "fail" } else { "pass" };
        let backup = if day == 3 { "warning" } else { "pass" };
        let checks = [
            ("bitlocker_status", "pass", "FRONTDESK-01", Some("164.312(a)(2)(iv)")),
            ("bitlocker_status", bitlocker, "XRAY-01", Some("164.312(a)(2)(iv)")),
            ("firewall_status", firewall, "FRONTDESK-01", Some("164.312(e)(1)")),
            ("firewall_status", "pass", "XRAY-01", Some("164.312(e)(1)")),
            ("windows_defender", "pass", "FRONTDESK-01", Some("164.308(a)(5)(ii)(B)")),
            ("audit_policy", "pass", "XRAY-01", Some("164.312(b)")),
            ("backup_status", backup, "SERVER-01", Some("164.308(a)(7)(ii)(A)")),
            ("ntp_sync", "pass", "SERVER-01", None),
        ];
        ingest(&app, &main, &format!("CB-MAIN-{day:02}"), at, &checks).await;
        if day % 4 == 0 {
            let checks = [
                ("bitlocker_status", "pass", "EXAM-01", Some("164.312(a)(2)(iv)")),
                ("firewall_status", "pass", "EXAM-01", Some("164.312(e)(1)")),
                ("mfa_enabled", "pass", "EXAM-01", Some("164.312(d)")),
            ];
            ingest(&app, &harbor, &format!("CB-HARBOR-{day:02}"), at, &checks).await;
        }
    }
    let server = spawn_server(&app).await;

    // Signed in with a helper's session: the cookie is set on the origin.
    // (chromedriver refuses a null domain; for an IP address the domain is
    // the host itself, so the cookie stays host-only as `__Host-` requires.)
    //
    // Signed out, then on the login page before the new cookie goes in: a
    // signed-in page's badge polls, and a poll answered 401 while the next
    // `goto` loads would send the browser to the login screen instead. The
    // login page does not poll (and sends signed-in users away, hence the
    // order).
    let sign_in_as = async |user: &crate::helpers::TestUser| {
        client.delete_all_cookies().await.unwrap();
        client.goto(&format!("{}/client/login", server.base_url)).await.unwrap();
        client.wait().for_element(Locator::Id("magic-email")).await.expect("the login page");
        let (name, value) = user.cookie.split_once('=').unwrap();
        let cookie = Cookie::build((name.to_owned(), value.to_owned()))
            .domain("127.0.0.1")
            .secure(true)
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .build();
        client.add_cookie(cookie).await.unwrap();
    };
    client.goto(&format!("{}/client/login", server.base_url)).await.unwrap();

    // A practice whose appliances have not reported yet.
    let empty = app.practice("Lakeside Pediatrics").await;
    sign_in_as(&empty.owner).await;
    client.goto(&format!("{}/client/dashboard", server.base_url)).await.unwrap();
    let notice = client.wait().for_element(Locator::Id("no-evidence")).await.unwrap();
    assert!(notice.text().await.unwrap().contains("No evidence yet"));
    let score = client.find(Locator::Css("#compliance-score .kpi-value")).await.unwrap();
    assert_eq!(score.text().await.unwrap(), "—", "no data, not 0 or 100");
    screenshot(&client, "compliance-0-empty-dashboard").await;

    sign_in_as(&p.owner).await;

    // The dashboard: its chart is drawn with a point per day of data.
    client.goto(&format!("{}/client/dashboard", server.base_url)).await.unwrap();
    let user = client.wait().for_element(Locator::Id("user-name")).await.unwrap();
    assert_eq!(user.text().await.unwrap(), "Dr. Maria Santos");
    client.wait().for_element(Locator::Css("#trend-chart svg circle.chart-dot")).await.unwrap();
    let drawn = client
        .execute(
            "const svg = document.querySelector('#trend-chart svg'); \
             const box = svg.getBoundingClientRect(); \
             return [svg.querySelectorAll('circle.chart-dot').length, \
                     Math.round(box.width), Math.round(box.height), \
                     getComputedStyle(svg.querySelector('.chart-line-path')).stroke];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(drawn[0], serde_json::json!(10), "ten days with data: {drawn}");
    assert!(drawn[1].as_u64().unwrap() > 600 && drawn[2].as_u64().unwrap() > 150, "{drawn}");
    assert_eq!(drawn[3], serde_json::json!("rgb(15, 94, 110)"), "styled from app.css: {drawn}");
    fit_page(&client).await;
    let shot = screenshot(&client, "compliance-1-dashboard").await;
    eprintln!("screenshot: {}", shot.display());
    let violations = axe_violations(&client).await;
    assert!(violations.is_empty(), "the dashboard: {violations:#?}");
    client.set_window_size(1280, 900).await.unwrap();

    // The to-do list says what to do; the owner acknowledges BitLocker in
    // place with a note, and the item stays on the list (still failing).
    let first = client.find(Locator::Css("#todo .todo-item .todo-title")).await.unwrap();
    assert_eq!(
        first.text().await.unwrap(),
        "Disk encryption (BitLocker) is off on XRAY-01 at Main Street Clinic"
    );
    client.find(Locator::Css("#todo .todo-ack-form summary")).await.unwrap().click().await.unwrap();
    let note = client.find(Locator::Css("#todo .todo-ack-form textarea")).await.unwrap();
    note.send_keys("Cascade re-enables BitLocker on Friday").await.unwrap();
    client.find(Locator::Css("#todo .todo-ack-form button")).await.unwrap().click().await.unwrap();
    let ack = client.wait().for_element(Locator::Css("#todo .todo-ack")).await.unwrap();
    assert!(ack.text().await.unwrap().contains("Cascade re-enables BitLocker on Friday"));
    let still = client.find(Locator::Css("#todo .todo-item .badge")).await.unwrap();
    assert_eq!(still.text().await.unwrap().to_lowercase(), "failing");
    client.find(Locator::Css("#todo .todo-why summary")).await.unwrap().click().await.unwrap();
    fit_page_at(&client, 390).await;
    screenshot(&client, "compliance-1b-dashboard-todo-390").await;
    let violations = axe_violations(&client).await;
    assert!(violations.is_empty(), "the dashboard at 390 px: {violations:#?}");
    client.set_window_size(1280, 900).await.unwrap();

    // A site: verify the practice's evidence in place.
    client.find(Locator::LinkText("Main Street Clinic")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("verify-log")).await.unwrap().click().await.unwrap();
    let verified = client.wait().for_element(Locator::Id("log-verified")).await.unwrap();
    assert!(verified.text().await.unwrap().contains("Verified: "), "the practice verified");
    fit_page(&client).await;
    screenshot(&client, "compliance-2-site").await;
    client.set_window_size(1280, 900).await.unwrap();

    // Evidence, filtered in place. Three rows a page, so "Load more" runs too.
    client.goto(&format!("{}/client/evidence?limit=3", server.base_url)).await.unwrap();
    client.wait().for_element(Locator::Id("evidence-rows")).await.unwrap();
    client.execute("window.__marker = 1;", vec![]).await.unwrap();
    client.find(Locator::Id("f-result")).await.unwrap().select_by_value("fail").await.unwrap();
    client
        .wait()
        .for_element(Locator::XPath(
            "//h2[@id='evidence-count' and normalize-space(.)='5 bundles match']",
        ))
        .await
        .expect("the results fragment swapped in");
    let url = client.current_url().await.unwrap();
    assert!(url.as_str().contains("result=fail"), "the filter is in the address: {url}");
    let rows_state = "return [window.__marker || null, \
         [...document.querySelectorAll('#evidence-rows tr')].map(tr => \
             tr.dataset.result + ':' + tr.querySelector('.result-badge').textContent)];";
    let state = client.execute(rows_state, vec![]).await.unwrap();
    assert_eq!(state[0], serde_json::json!(1), "no full reload");
    assert_eq!(state[1], serde_json::json!(["fail:fail", "fail:fail", "fail:fail"]), "{state}");

    client.find(Locator::Css("#load-more button")).await.unwrap().click().await.unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//div[@id='load-more' and contains(., 'End of the list')]"))
        .await
        .expect("the button replaced out of band");
    let state = client.execute(rows_state, vec![]).await.unwrap();
    assert_eq!(state[0], serde_json::json!(1), "still the same page");
    assert_eq!(state[1].as_array().unwrap().len(), 5, "rows appended: {state}");
    assert!(state[1].as_array().unwrap().iter().all(|r| r == "fail:fail"), "{state}");
    fit_page(&client).await;
    let shot = screenshot(&client, "compliance-3-evidence").await;
    eprintln!("screenshot: {}", shot.display());
    client.set_window_size(1280, 900).await.unwrap();

    // A failing bundle's detail.
    client.goto(&format!("{}/client/evidence/CB-MAIN-00", server.base_url)).await.unwrap();
    let status = client.wait().for_element(Locator::Id("signature-status")).await.unwrap();
    assert!(status.text().await.unwrap().contains("VALID"), "badges are upper-cased by CSS");
    fit_page(&client).await;
    screenshot(&client, "compliance-4-evidence-detail").await;

    client.close().await.unwrap();
    server.stop().await;
}
