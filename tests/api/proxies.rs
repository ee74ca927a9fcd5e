//! Behind a reverse proxy: with `PORTAL_TRUSTED_PROXIES`, per-address limits
//! and audit rows name the client the proxy reports, not the proxy; without
//! it, the headers are ignored (anyone can send them). IPv6 clients share a
//! bucket per /64. Through a real server on loopback (the proxy's address).

use serde_json::json;

use crate::helpers::{RunningServer, TestApp, spawn_app, spawn_app_with, spawn_server};

/// Sign-in link requests a client address may make per window.
const MAGIC_PER_IP: usize = 30;

async fn request_link(server: &RunningServer, n: usize, forwarded: &str) -> u16 {
    request_link_for(server, &format!("nobody{n}@elsewhere.example"), forwarded).await
}

async fn request_link_for(server: &RunningServer, email: &str, forwarded: &str) -> u16 {
    crate::helpers::http_client()
        .post(format!("{}/api/client/auth/request-magic-link", server.base_url))
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Fills the bucket of `forwarded`; the status of one more request.
async fn fill_then_one_more(server: &RunningServer, forwarded: &str, next: &str) -> u16 {
    for n in 0..MAGIC_PER_IP {
        assert_eq!(request_link(server, n, forwarded).await, 200, "request {n}");
    }
    request_link(server, MAGIC_PER_IP, next).await
}

async fn behind_loopback_proxy() -> TestApp {
    spawn_app_with(|c| {
        c.trusted_proxies = portal::auth::forwarded::parse_proxies("127.0.0.1/32").unwrap();
    })
    .await
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket_and_audit_address() {
    let app = behind_loopback_proxy().await;
    let p = app.practice("Oak Clinic").await;
    let server = spawn_server(&app).await;
    // One client fills its bucket; another, through the same proxy, is
    // still served.
    assert_eq!(fill_then_one_more(&server, "203.0.113.7", "203.0.113.7").await, 429);
    assert_eq!(request_link_for(&server, &p.owner.email, "198.51.100.4").await, 200, "another");
    // The client's own left-most claim changes nothing: the proxy's entry counts.
    assert_eq!(request_link(&server, 98, "192.0.2.1, 203.0.113.7").await, 429);
    app.issue_links().await;
    let audited = app
        .count(
            "SELECT count(*) FROM client_audit_log
              WHERE action = 'auth.magic_link_requested' AND ip = '198.51.100.4'::inet",
            &[],
        )
        .await;
    assert_eq!(audited, 1, "the audit row names the client, not the proxy");
}

#[tokio::test]
async fn ipv6_clients_share_a_bucket_per_64() {
    let app = behind_loopback_proxy().await;
    let server = spawn_server(&app).await;
    assert_eq!(fill_then_one_more(&server, "2001:db8:1:2::1", "2001:db8:1:2:ffff::99").await, 429);
    assert_eq!(request_link(&server, 99, "2001:db8:1:3::1").await, 200, "the next /64");
}

#[tokio::test]
async fn without_trusted_proxies_forwarding_headers_are_ignored() {
    let app = spawn_app().await;
    let server = spawn_server(&app).await;
    for n in 0..MAGIC_PER_IP {
        let spoofed = format!("203.0.113.{n}");
        assert_eq!(request_link(&server, n, &spoofed).await, 200, "request {n}");
    }
    assert_eq!(
        request_link(&server, MAGIC_PER_IP, "198.51.100.200").await,
        429,
        "a made-up X-Forwarded-For does not buy a fresh bucket"
    );
    let spoofed =
        app.count("SELECT count(*) FROM client_audit_log WHERE ip <> '127.0.0.1'::inet", &[]).await;
    assert_eq!(spoofed, 0, "audit rows name the real peer");
}
