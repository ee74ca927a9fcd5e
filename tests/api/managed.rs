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
    let http = crate::helpers::http_client();
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

/// The uid that runs the managed PostgreSQL: `postgres` under root.
fn server_uid() -> (u32, u32) {
    // SAFETY: geteuid has no preconditions; getpwnam's record is read at once.
    unsafe {
        if libc::geteuid() != 0 {
            return (libc::geteuid(), libc::getegid());
        }
        let pw = libc::getpwnam(c"postgres".as_ptr());
        assert!(!pw.is_null(), "running as root needs the postgres user");
        ((*pw).pw_uid, (*pw).pw_gid)
    }
}

/// A data dir whose `pg` directory is already there, made by the test as
/// `owner` with `mode`.
fn data_dir_with_pg(
    dir: &TempDir,
    owner: u32,
    mode: u32,
) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let pg = data.join("pg");
    std::fs::create_dir(&pg).unwrap();
    std::fs::set_permissions(&pg, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(&pg, Some(owner), None).unwrap();
    (data, pg)
}

#[test]
fn a_database_directory_that_is_a_link_or_open_to_others_is_refused() {
    let (uid, _) = server_uid();
    let dir = TempDir::new();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::symlink(dir.path(), data.join("pg")).unwrap();
    let err = Cluster::ensure(&data, &ClusterOptions { ephemeral: true }).unwrap_err();
    assert!(format!("{err:#}").contains("is a symbolic link"), "{err:#}");
    let dir = TempDir::new();
    let (data, _) = data_dir_with_pg(&dir, uid, 0o755);
    let err = Cluster::ensure(&data, &ClusterOptions { ephemeral: true }).unwrap_err();
    assert!(format!("{err:#}").contains("has mode 755, not 700"), "{err:#}");
}

/// Another local user's server answering in the socket directory the
/// portal would use (<data>/pg/run): the portal refuses it and connects to
/// nothing. Making a directory that belongs to someone else needs root,
/// which CI runs as.
#[test]
fn a_socket_in_a_directory_of_another_user_is_never_trusted() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to play the other local user");
        return;
    }
    let (uid, _) = server_uid();
    let nobody = 65534;
    let dir = TempDir::new();
    let (data, pg) = data_dir_with_pg(&dir, uid, 0o700);
    let run = pg.join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&run, Some(nobody), None).unwrap();
    let impostor = std::os::unix::net::UnixListener::bind(run.join(".s.PGSQL.5432")).unwrap();
    impostor.set_nonblocking(true).unwrap();
    let err = Cluster::ensure(&data, &ClusterOptions { ephemeral: true }).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("belongs to uid 65534"), "{message}");
    assert!(message.contains("PORTAL_DATA_DIR"), "says what to do: {message}");
    assert_eq!(
        impostor.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the portal never connected to the impostor"
    );
}
