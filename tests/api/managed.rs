//! The managed PostgreSQL: what a newcomer gets with nothing configured.

use std::process::Stdio;

use portal::db::managed::{Cluster, ClusterOptions};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{TempDir, portal_cmd};

fn socket_answers(cluster_socket: &std::path::Path) -> bool {
    std::os::unix::net::UnixStream::connect(cluster_socket.join(".s.PGSQL.5432")).is_ok()
}

#[test]
fn a_second_start_on_the_same_data_dir_uses_the_running_cluster() {
    let dir = TempDir::new();
    let first = Cluster::ensure(dir.path(), &ClusterOptions { ephemeral: true }).unwrap();
    assert!(first.started_here());
    let second = Cluster::ensure(dir.path(), &ClusterOptions { ephemeral: true }).unwrap();
    assert!(!second.started_here(), "attached instead of starting another");
    assert_eq!(first.socket_dir, second.socket_dir);
    second.stop().unwrap();
    assert!(
        socket_answers(&first.socket_dir),
        "stopping a cluster it did not start leaves it running"
    );
    let socket = first.socket_dir.clone();
    first.stop().unwrap();
    assert!(!socket_answers(&socket), "the starter stops it");
}

#[test]
fn postgres_files_go_where_the_postgres_user_can_reach_them() {
    let dir = TempDir::new();
    let closed = dir.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let data_dir = closed.join("data");
    let cluster = Cluster::ensure(&data_dir, &ClusterOptions { ephemeral: true }).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // As root the server runs as 'postgres', which cannot enter a 0700 root directory.
        assert!(cluster.pg_dir.starts_with("/var/tmp"), "{}", cluster.pg_dir.display());
    } else {
        // An ordinary user runs the server itself, right in the data dir.
        assert_eq!(cluster.pg_dir, data_dir.canonicalize().unwrap().join("pg"));
    }
    let pg_dir = cluster.pg_dir.clone();
    cluster.stop().unwrap();
    if pg_dir.starts_with("/var/tmp") {
        let _ = std::fs::remove_dir_all(pg_dir);
    }
}

/// `portal serve` with nothing configured: its own PostgreSQL, the pages up,
/// a second command sharing the cluster, and a clean stop on SIGTERM.
#[tokio::test]
async fn serve_with_nothing_configured_runs_its_own_database_and_stops_cleanly() {
    let dir = TempDir::new();
    let data_dir = dir.path().join("data");
    let mut cmd = tokio::process::Command::from(portal_cmd());
    cmd.args(["serve"])
        .env("PORTAL_DATA_DIR", &data_dir)
        .env("PORTAL_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();

    // The banner is printed once the portal is ready; it names the real port.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(url) = line.trim().strip_prefix("Sign in:") {
            base = Some(url.trim().trim_end_matches(portal::paths::LOGIN).to_owned());
            break;
        }
    }
    let base = base.expect("serve printed its URL");
    let http = reqwest::Client::new();
    for path in ["/readyz", portal::paths::LOGIN, portal::paths::API_DOCS] {
        let status = http.get(format!("{base}{path}")).send().await.unwrap().status();
        assert_eq!(status, 200, "{path}");
    }

    // A second command on the same data dir uses the running cluster.
    let migrate = portal_cmd().arg("migrate").env("PORTAL_DATA_DIR", &data_dir).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    assert!(String::from_utf8_lossy(&migrate.stderr).contains("already running"));
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200, "still up");

    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    let status = child.wait().await.unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("PostgreSQL stopped"), "{stderr}");
    assert!(http.get(format!("{base}/healthz")).send().await.is_err(), "no longer listening");
    let socket = data_dir.canonicalize().unwrap().join("pg/run");
    if socket.exists() {
        assert!(!socket_answers(&socket), "the cluster it started is stopped");
    }
}
