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
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ])
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A chromedriver process, killed on drop.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };

    // chromedriver takes a moment to listen; its own port is the readiness signal.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let profile =
        std::env::temp_dir().join(format!("portal-chromium-{}", uuid::Uuid::new_v4().simple()));
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

#[tokio::test]
async fn the_login_page_loads_htmx_in_a_real_browser() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let app = spawn_app().await;
    let server = spawn_server(&app).await;

    client
        .goto(&format!("{}/client/login", server.base_url))
        .await
        .unwrap();
    let title = client.title().await.unwrap();
    assert_eq!(title, "Sign in · OsirisCare");
    let version = client
        .execute("return window.htmx ? window.htmx.version : null;", vec![])
        .await
        .unwrap();
    assert_eq!(
        version,
        serde_json::json!("2.0.11"),
        "htmx loaded under the CSP"
    );
    let styled = client
        .execute(
            "return getComputedStyle(document.querySelector('.auth-card')).backgroundColor;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        styled,
        serde_json::json!("rgb(255, 255, 255)"),
        "the stylesheet applied"
    );
    client
        .find(Locator::Css("input[name=email]"))
        .await
        .expect("email field");
    let shot = screenshot(&client, "login").await;
    eprintln!("screenshot: {}", shot.display());

    client.close().await.unwrap();
    server.stop().await;
}
