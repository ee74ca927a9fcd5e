//! Test support: one PostgreSQL per test run (the portal's own managed-cluster
//! code, or `TEST_DATABASE_URL`), a template database migrated once, and a
//! fresh clone of it for every test. Apps run in process (`spawn_app`) or on
//! a real port (`spawn_server`).

#![allow(dead_code)] // each test module uses a different subset

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use deadpool_postgres::Pool;
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::{EndpointExt, Response};
use portal::config::{Config, ConfigArgs, Secret};
use portal::db::managed::{Cluster, ClusterOptions};
use portal::{AppState, Mode};
use tokio_postgres::config::Host;

struct Base {
    /// Connection to the maintenance database, for CREATE DATABASE.
    admin: tokio_postgres::Config,
    template: String,
    /// Kept for the whole run; the server stops when the test process exits.
    _cluster: Option<Cluster>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        // Its own thread and runtime: each #[tokio::test] has a runtime that
        // ends with the test, and this setup outlives all of them.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(init_base())
        })
        .join()
        .expect("test database setup panicked")
    })
}

async fn init_base() -> Base {
    let (admin, cluster) = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let admin: tokio_postgres::Config =
                url.parse().expect("TEST_DATABASE_URL is not a valid URL");
            (admin, None)
        }
        _ => {
            let dir = test_cluster_dir();
            let cluster = tokio::task::spawn_blocking(move || {
                Cluster::ensure(&dir, &ClusterOptions { ephemeral: true })
            })
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL: {e:#}"));
            (cluster.pg_config("postgres"), Some(cluster))
        }
    };
    let template = format!("portal_tpl_{}", uuid::Uuid::new_v4().simple());
    let client = portal::db::connect(&admin).await.expect("connect to the test cluster");
    client
        .batch_execute(&format!("CREATE DATABASE {template}"))
        .await
        .expect("create the template database");
    let mut tpl = admin.clone();
    tpl.dbname(&template);
    portal::db::migrate::run(&tpl).await.expect("migrate the template database");
    Base { admin, template, _cluster: cluster }
}

/// `<target>/tmp/test-pg/<pid>`: one cluster per test process. Directories
/// of earlier runs whose process is gone are removed first.
fn test_cluster_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-pg");
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let stale = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
                // SAFETY: kill with signal 0 only checks that the pid exists.
                .is_some_and(|pid| unsafe { libc::kill(pid, 0) } != 0);
            if stale {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    root.join(std::process::id().to_string())
}

/// A database of this test's own, cloned from the migrated template.
pub struct TestDb {
    pub name: String,
    pub pg_config: tokio_postgres::Config,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let base = base();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let client = portal::db::connect(&base.admin).await.expect("connect to the test cluster");
        client
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {}", base.template))
            .await
            .expect("clone the template database");
        let mut pg_config = base.admin.clone();
        pg_config.dbname(&name);
        TestDb { name, pg_config }
    }

    /// An empty database (no migrations), for migration tests.
    pub async fn empty() -> TestDb {
        let base = base();
        let name = format!("e_{}", uuid::Uuid::new_v4().simple());
        let client = portal::db::connect(&base.admin).await.expect("connect to the test cluster");
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
        let mut pg_config = base.admin.clone();
        pg_config.dbname(&name);
        TestDb { name, pg_config }
    }

    /// libpq key=value connection string, usable as `DATABASE_URL`.
    pub fn url(&self) -> String {
        conninfo(&self.pg_config)
    }

    pub fn pool(&self) -> Pool {
        portal::db::pool(self.pg_config.clone(), 8)
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        portal::db::connect(&self.pg_config).await.expect("connect to the test database")
    }
}

fn conninfo(c: &tokio_postgres::Config) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = Vec::new();
    for host in c.get_hosts() {
        let h = match host {
            Host::Tcp(h) => h.clone(),
            Host::Unix(p) => p.display().to_string(),
        };
        parts.push(format!("host={}", quote(&h)));
    }
    if let Some(port) = c.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = c.get_user() {
        parts.push(format!("user={}", quote(user)));
    }
    if let Some(pw) = c.get_password() {
        parts.push(format!("password={}", quote(&String::from_utf8_lossy(pw))));
    }
    if let Some(db) = c.get_dbname() {
        parts.push(format!("dbname={}", quote(db)));
    }
    parts.join(" ")
}

/// Secret used by every test app.
pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// A configuration pointing at `db`, with a private data dir.
pub fn test_config(db: &TestDb, data_dir: &Path) -> Config {
    let args = ConfigArgs {
        database_url: Some(db.url()),
        data_dir: Some(data_dir.to_path_buf()),
        session_secret: Some(TEST_SECRET.into()),
        ..ConfigArgs::default()
    };
    Config::from_args(&args).expect("test configuration is valid")
}

/// A fresh temporary directory under the target dir, removed with the value.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("t-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct TestApp {
    pub db: TestDb,
    pub pool: Pool,
    pub state: AppState,
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    pub data_dir: TempDir,
}

/// The portal in process on a fresh database.
pub async fn spawn_app() -> TestApp {
    let db = TestDb::new().await;
    app_on(db).await
}

/// The portal in process on a given database.
pub async fn app_on(db: TestDb) -> TestApp {
    let data_dir = TempDir::new();
    let config = test_config(&db, data_dir.path());
    let pool = db.pool();
    let state = AppState::new(
        pool.clone(),
        config,
        Secret::new(TEST_SECRET.as_bytes().to_vec()),
        Mode::Serve,
    );
    let client = TestClient::new(portal::app(state.clone()).map_to_response().boxed());
    TestApp { db, pool, state, client, data_dir }
}

/// A real server on 127.0.0.1 with an OS-chosen port; stops when dropped.
pub struct RunningServer {
    pub base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl RunningServer {
    /// Stops accepting, lets requests finish, and waits for the server to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task panicked").expect("server failed");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A real server for `app` on 127.0.0.1:<free port>; its base URL (links in
/// mail, Origin checks) is the real address.
pub async fn spawn_server(app: &TestApp) -> RunningServer {
    let acceptor = portal::server::bind("127.0.0.1:0".parse().unwrap()).await.expect("bind port 0");
    let addr = portal::server::local_addr(&acceptor).expect("bound address");
    let mut config = app.state.config().clone();
    config.resolve_port(addr);
    let state = app.state.with_config(config);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        portal::server::run(acceptor, state, async {
            let _ = rx.await;
        })
        .await
    });
    RunningServer { base_url: format!("http://{addr}"), stop: Some(tx), task: Some(task) }
}

/// Path of the repository root (for committed files such as openapi.json).
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The built `portal` binary, with a clean environment for configuration.
pub fn portal_cmd() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_portal"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTAL_") || key == "DATABASE_URL" || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(std::process::Stdio::null());
    cmd
}

/// The portal in process with a tweaked configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut app = spawn_app().await;
    let mut config = app.state.config().clone();
    tweak(&mut config);
    app.state = app.state.with_config(config);
    app.client = TestClient::new(portal::app(app.state.clone()).map_to_response().boxed());
    app
}

/// A practice with one user of each role.
pub struct Practice {
    pub org_id: uuid::Uuid,
    pub owner: TestUser,
    pub admin: TestUser,
    pub viewer: TestUser,
}

/// A signed-in user: a live session cookie and its CSRF token.
#[derive(Clone)]
pub struct TestUser {
    pub id: uuid::Uuid,
    pub email: String,
    pub org_id: uuid::Uuid,
    /// `name=value` for a Cookie header.
    pub cookie: String,
    pub csrf: String,
    pub session_id: uuid::Uuid,
}

impl TestApp {
    pub async fn db_client(&self) -> deadpool_postgres::Object {
        self.pool.get().await.expect("pool connection")
    }

    /// Creates a practice named `name` with an owner, an admin and a viewer, all signed in.
    pub async fn practice(&self, name: &str) -> Practice {
        let slug: String =
            name.to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let db = self.db_client().await;
        let org_id =
            portal::db::orgs::insert_org(&**db, name, &format!("office@{slug}.example"), None)
                .await
                .unwrap();
        drop(db);
        let mut users = Vec::new();
        for role in
            [portal::auth::Role::Owner, portal::auth::Role::Admin, portal::auth::Role::Viewer]
        {
            let email = format!("{role}@{slug}.example");
            users.push(self.user(org_id, &email, role).await);
        }
        let viewer = users.pop().unwrap();
        let admin = users.pop().unwrap();
        let owner = users.pop().unwrap();
        Practice { org_id, owner, admin, viewer }
    }

    /// Creates a user and signs them in (a real session row and cookie).
    pub async fn user(
        &self,
        org_id: uuid::Uuid,
        email: &str,
        role: portal::auth::Role,
    ) -> TestUser {
        let db = self.db_client().await;
        let name = email.split('@').next().unwrap_or("user");
        let id =
            portal::db::orgs::insert_user(&**db, org_id, email, Some(name), role).await.unwrap();
        drop(db);
        self.sign_in(id, email, org_id).await
    }

    /// A new session for an existing user.
    pub async fn sign_in(&self, id: uuid::Uuid, email: &str, org_id: uuid::Uuid) -> TestUser {
        let db = self.db_client().await;
        let started =
            portal::auth::session::start(&**db, &self.state, id, None, Some("test-agent"))
                .await
                .unwrap();
        let cookie = started.set_cookie.split(';').next().unwrap().to_owned();
        TestUser {
            id,
            email: email.to_owned(),
            org_id,
            cookie,
            csrf: started.csrf_token,
            session_id: started.session_id,
        }
    }

    /// A live magic link for the user, straight into the database; returns its token.
    pub async fn magic_token(&self, user_id: uuid::Uuid) -> String {
        let token = portal::auth::tokens::generate();
        let db = self.db_client().await;
        portal::db::sessions::insert_magic_link(
            &**db,
            user_id,
            &portal::auth::tokens::hash(self.state.secret(), &token),
            std::time::Duration::from_secs(3600),
            None,
        )
        .await
        .unwrap();
        token
    }

    /// An API token acting as the user.
    pub async fn bearer(&self, user: &TestUser) -> String {
        portal::admin::create_api_token(
            &self.pool,
            self.state.secret(),
            user.id,
            &format!("test token {}", uuid::Uuid::new_v4()),
        )
        .await
        .unwrap()
    }

    /// Requests with this user's cookie (and, for unsafe methods, CSRF token) set.
    pub fn get_as(
        &self,
        user: &TestUser,
        path: &str,
    ) -> poem::test::TestRequestBuilder<'_, BoxEndpoint<'static, Response>> {
        self.client.get(path).header("cookie", &user.cookie)
    }

    pub fn post_as(
        &self,
        user: &TestUser,
        path: &str,
    ) -> poem::test::TestRequestBuilder<'_, BoxEndpoint<'static, Response>> {
        self.client
            .post(path)
            .header("cookie", &user.cookie)
            .header("x-csrf-token", &user.csrf)
            .header("sec-fetch-site", "same-origin")
    }
}

/// Reads a response body as text.
pub async fn body_text(resp: poem::test::TestResponse) -> String {
    resp.0.into_body().into_string().await.unwrap()
}

/// Reads a response body as JSON.
pub async fn body_json(resp: poem::test::TestResponse) -> serde_json::Value {
    serde_json::from_str(&body_text(resp).await).unwrap()
}
