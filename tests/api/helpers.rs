//! Test support: one PostgreSQL per test run (the portal's own managed-cluster
//! code, or `TEST_DATABASE_URL`), a template database migrated once, and a
//! fresh clone of it for every test. Apps run in process (`spawn_app`) or on
//! a real port (`spawn_server`).

#![allow(dead_code)] // each test module uses a different subset

use std::future::Future;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use deadpool_postgres::Pool;
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::test::{TestClient, TestRequestBuilder, TestResponse};
use poem::{EndpointExt, Response};
use portal::config::{Config, ConfigArgs, Secret};
use portal::db::managed::{Cluster, ClusterOptions};
use portal::{AppState, Mode};
use serde_json::Value;
use tokio_postgres::types::ToSql;

/// A request to the in-process app, before it is sent.
pub type Request<'a> = TestRequestBuilder<'a, BoxEndpoint<'static, Response>>;

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
    // Apps serve through a least-privilege role, as deployments do; test
    // code writes fixtures as the owner. Clones keep the template's grants.
    let create = portal::db::roles::create_sql(TEST_RUNTIME_ROLE, Some(TEST_RUNTIME_ROLE));
    match client.batch_execute(&create).await {
        Ok(()) => {}
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_OBJECT) => {}
        Err(e) => panic!("create the test runtime role: {e:?}"),
    }
    let tpl_client = portal::db::connect(&tpl).await.expect("connect to the template");
    portal::db::roles::grant(&tpl_client, TEST_RUNTIME_ROLE).await.expect("grant the runtime role");
    Base { admin, template, _cluster: cluster }
}

/// The role (and password) test apps serve through.
pub const TEST_RUNTIME_ROLE: &str = "portal_test_app";

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

    /// libpq key=value connection string of the owner (a superuser),
    /// usable as `DATABASE_URL` or `PORTAL_MIGRATION_DATABASE_URL`.
    pub fn url(&self) -> String {
        portal::db::conninfo(&self.pg_config)
    }

    /// The runtime role's settings: what apps serve through.
    pub fn runtime_config(&self) -> tokio_postgres::Config {
        let mut c = self.pg_config.clone();
        c.user(TEST_RUNTIME_ROLE).password(TEST_RUNTIME_ROLE);
        c
    }

    /// The runtime role's connection string, for `DATABASE_URL`.
    pub fn runtime_url(&self) -> String {
        portal::db::conninfo(&self.runtime_config())
    }

    /// Migrates up to `version` (all when None) as the owner and grants the
    /// runtime role its rights, as `portal migrate` does.
    pub async fn migrate_to(&self, version: Option<u16>) {
        portal::db::migrate::run_to(&self.pg_config, version).await.expect("migrate");
        let owner = self.client().await;
        portal::db::roles::grant(&owner, TEST_RUNTIME_ROLE).await.expect("grant the runtime role");
    }

    /// Owner connections, for fixtures.
    pub fn pool(&self) -> Pool {
        portal::db::pool(self.pg_config.clone(), 8, None)
    }

    /// Runtime-role connections, for the app, with the server's default
    /// statement timeout.
    pub fn runtime_pool(&self) -> Pool {
        self.runtime_pool_with(portal::config::DEFAULT_STATEMENT_TIMEOUT)
    }

    /// Runtime-role connections whose statements are cancelled after `limit`.
    pub fn runtime_pool_with(&self, limit: std::time::Duration) -> Pool {
        portal::db::pool(self.runtime_config(), 8, Some(limit))
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        portal::db::connect(&self.pg_config).await.expect("connect to the test database")
    }
}

/// Secret used by every test app.
pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Log seed used by every test app.
pub const TEST_LOG_SEED: [u8; 32] = [0x5e; 32];

/// The secrets of every test app.
pub fn test_secrets() -> portal::state::Secrets {
    portal::state::Secrets {
        session: Secret::new(TEST_SECRET.as_bytes().to_vec()),
        log_seed: Secret::new(TEST_LOG_SEED),
    }
}

/// A configuration pointing at `db`, with a private data dir.
pub fn test_config(db: &TestDb, data_dir: &Path) -> Config {
    let args = ConfigArgs {
        database_url: Some(db.runtime_url()),
        migration_database_url: Some(db.url()),
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
    app_on_with(db, |_| {}).await
}

/// The portal in process on a given database, its configuration changed
/// by `tweak` before anything is built from it.
pub async fn app_on_with(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = TempDir::new();
    let mut config = test_config(&db, data_dir.path());
    tweak(&mut config);
    let pool = db.pool();
    let pool_for_app = db.runtime_pool_with(config.statement_timeout);
    let state = AppState::new(pool_for_app, config, crate::helpers::test_secrets(), Mode::Serve);
    let client = TestClient::new(portal::app(state.clone()).map_to_response().boxed());
    TestApp { db, pool, state, client, data_dir }
}

/// A real server on 127.0.0.1 with an OS-chosen port; stops when dropped.
pub struct RunningServer {
    pub base_url: String,
    /// The server's state (its configuration names the real port).
    pub state: AppState,
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
    serve_at(app, false).await
}

/// [`spawn_server`], with the base URL `http://localhost:<port>`: browsers
/// offer passkeys on localhost, never on an IP address.
pub async fn spawn_server_on_localhost(app: &TestApp) -> RunningServer {
    serve_at(app, true).await
}

async fn serve_at(app: &TestApp, localhost: bool) -> RunningServer {
    let acceptor = portal::server::bind("127.0.0.1:0".parse().unwrap()).await.expect("bind port 0");
    let addr = portal::server::local_addr(&acceptor).expect("bound address");
    let mut config = app.state.config().clone();
    config.resolve_port(addr);
    let base_url = if localhost {
        config.base_url = format!("http://localhost:{}", addr.port());
        config.base_url.clone()
    } else {
        format!("http://{addr}")
    };
    let state = app.state.with_config(config);
    let served = state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        portal::server::run(acceptor, served, async {
            let _ = rx.await;
        })
        .await
    });
    RunningServer { base_url, state, stop: Some(tx), task: Some(task) }
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
    app_on_with(TestDb::new().await, tweak).await
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
    /// An owner connection (a superuser), for fixtures and checks; the
    /// app itself serves through the runtime role (`state.pool()`).
    pub async fn db_client(&self) -> deadpool_postgres::Object {
        self.pool.get().await.expect("pool connection")
    }

    /// Creates a practice named `name` with an owner, an admin and a viewer, all signed in.
    pub async fn practice(&self, name: &str) -> Practice {
        self.practice_with(name, None).await
    }

    /// Like [`TestApp::practice`], with the owner's display name given
    /// (otherwise it is the address's local part, `owner`).
    pub async fn practice_with(&self, name: &str, owner_name: Option<&str>) -> Practice {
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
            let display = if role == portal::auth::Role::Owner { owner_name } else { None };
            users.push(self.user_named(org_id, &email, display, role).await);
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
        self.user_named(org_id, email, None, role).await
    }

    /// Creates a user named `name` (default: the address's local part) and signs them in.
    pub async fn user_named(
        &self,
        org_id: uuid::Uuid,
        email: &str,
        name: Option<&str>,
        role: portal::auth::Role,
    ) -> TestUser {
        let db = self.db_client().await;
        let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("user"));
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

    /// Answers the queued magic-link requests, as `portal serve`'s link
    /// worker does at once; the number answered.
    pub async fn issue_links(&self) -> usize {
        portal::auth::flows::issue_requested_links(&self.state).await.expect("answer link requests")
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

    /// A write-scoped API token acting as the user.
    pub async fn bearer(&self, user: &TestUser) -> String {
        self.bearer_scoped(user, portal::auth::Scope::Write).await
    }

    /// An API token acting as the user, with the given scope.
    pub async fn bearer_scoped(&self, user: &TestUser, scope: portal::auth::Scope) -> String {
        portal::admin::create_api_token(
            &self.pool,
            self.state.secret(),
            user.id,
            &format!("test token {}", uuid::Uuid::new_v4()),
            scope,
        )
        .await
        .unwrap()
    }

    /// A GET with this user's session cookie.
    pub fn get_as(&self, user: &TestUser, path: &str) -> Request<'_> {
        self.client.get(path).header("cookie", &user.cookie)
    }

    /// A GET as htmx makes it: the session cookie and `HX-Request: true`.
    pub fn hx_get_as(&self, user: &TestUser, path: &str) -> Request<'_> {
        self.get_as(user, path).header("hx-request", "true")
    }

    /// A POST as htmx makes it from a portal page (see [`TestApp::request_as`]).
    pub fn hx_post_as(&self, user: &TestUser, path: &str) -> Request<'_> {
        self.post_as(user, path).header("hx-request", "true")
    }

    /// Any request as the user's browser session makes it from a portal
    /// page with JavaScript: the session cookie, the CSRF token header and
    /// `Sec-Fetch-Site: same-origin`.
    pub fn request_as(&self, method: Method, user: &TestUser, path: &str) -> Request<'_> {
        self.client
            .request(method, path)
            .header("cookie", &user.cookie)
            .header("x-csrf-token", &user.csrf)
            .header("sec-fetch-site", "same-origin")
    }

    /// A POST from a portal page (see [`TestApp::request_as`]), no body.
    pub fn post_as(&self, user: &TestUser, path: &str) -> Request<'_> {
        self.request_as(Method::POST, user, path)
    }

    /// A POST with a JSON body (see [`TestApp::request_as`]).
    pub fn post_json_as(&self, user: &TestUser, path: &str, body: &Value) -> Request<'_> {
        self.post_as(user, path).body_json(body)
    }

    /// A PUT with a JSON body (see [`TestApp::request_as`]).
    pub fn put_json_as(&self, user: &TestUser, path: &str, body: &Value) -> Request<'_> {
        self.request_as(Method::PUT, user, path).body_json(body)
    }

    /// A DELETE (see [`TestApp::request_as`]).
    pub fn delete_as(&self, user: &TestUser, path: &str) -> Request<'_> {
        self.request_as(Method::DELETE, user, path)
    }

    /// A form post as htmx sends it from a portal page: cookie, CSRF token
    /// header, same origin and a form-urlencoded body of `pairs`. Add
    /// `.header("hx-request", "true")` where the test needs the fragment.
    pub fn post_form_as(&self, user: &TestUser, path: &str, pairs: &[(&str, &str)]) -> Request<'_> {
        self.post_as(user, path).form(&pairs)
    }

    /// A plain HTML form post, as a browser without JavaScript sends it: the
    /// cookie and same origin, and the CSRF token as the `csrf_token` field
    /// in front of `pairs` (no CSRF header).
    pub fn post_plain_form_as(
        &self,
        user: &TestUser,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> Request<'_> {
        self.client
            .post(path)
            .header("cookie", &user.cookie)
            .header("sec-fetch-site", "same-origin")
            .form(&csrf_form(user, pairs))
    }

    /// `SELECT count(*) ...` (or any one-bigint query) against the test database.
    pub async fn count(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> i64 {
        self.db_client().await.query_one(sql, params).await.unwrap().get(0)
    }

    /// Attempts of kind `what` counted in `anonymous_sign_in_attempts`
    /// (every hour and client address).
    pub async fn anonymous_attempts(&self, what: &str) -> i64 {
        self.count(
            "SELECT coalesce(sum(attempts), 0)::bigint FROM anonymous_sign_in_attempts WHERE what = $1",
            &[&what],
        )
        .await
    }

    /// How many rows `table` has.
    pub async fn rows_in(&self, table: &str) -> i64 {
        self.count(&format!("SELECT count(*) FROM {table}"), &[]).await
    }

    /// Makes the session's last activity `interval` ago (a PostgreSQL
    /// interval such as `'9 hours'`), as if the user had been idle since.
    pub async fn idle_since(&self, session_id: uuid::Uuid, interval: &str) {
        // Raw SQL on purpose: time passing; no portal function moves a
        // session's last activity back.
        let db = self.db_client().await;
        db.execute(
            "UPDATE client_sessions SET last_seen_at = now() - $2::text::interval WHERE id = $1",
            &[&session_id, &interval],
        )
        .await
        .unwrap();
    }

    // -----------------------------------------------------------------------
    // Fixture builders: rows written through the portal's own functions.
    // -----------------------------------------------------------------------

    /// A new partner (MSP), as `portal admin create-partner` makes it.
    pub async fn partner(&self, name: &str) -> uuid::Uuid {
        portal::admin::create_partner(&self.pool, name, None).await.unwrap()
    }

    /// Moves the practice to `partner` (None = served directly), as staff
    /// completing a transfer do; `partner_assigned_at` is now.
    pub async fn assign_partner(&self, org_id: uuid::Uuid, partner: Option<uuid::Uuid>) {
        let db = self.db_client().await;
        portal::db::transfers::move_org(&**db, org_id, partner).await.unwrap();
    }

    /// Deactivates a user, as removing them does (rows stay, sign-in stops).
    pub async fn deactivate(&self, user_id: uuid::Uuid) {
        let db = self.db_client().await;
        portal::db::users::deactivate(&**db, user_id).await.unwrap();
    }

    /// Changes a user's role, as the role endpoint's write does (no checks).
    pub async fn set_role(&self, user_id: uuid::Uuid, role: portal::auth::Role) {
        let db = self.db_client().await;
        portal::db::users::set_role(&**db, user_id, role).await.unwrap();
    }
}

/// Form pairs with the user's CSRF token first, as a portal page's plain
/// HTML form sends them.
pub fn csrf_form<'a>(user: &'a TestUser, pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("csrf_token", user.csrf.as_str())];
    all.extend_from_slice(pairs);
    all
}

// ---------------------------------------------------------------------------
// Responses and assertions
// ---------------------------------------------------------------------------

/// A response read to the end: status, headers and body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub async fn read(resp: TestResponse) -> Reply {
        let status = resp.0.status();
        let headers = resp.0.headers().clone();
        let body = resp.0.into_body().into_bytes().await.unwrap().to_vec();
        Reply { status, headers, body }
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The status and the body as text.
    pub fn status_and_text(&self) -> (StatusCode, String) {
        (self.status, self.text())
    }

    /// The body as JSON; panics (at the caller) with the body when it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header's value; panics (at the caller) when it is missing.
    #[track_caller]
    pub fn header(&self, name: &str) -> String {
        match self.headers.get(name) {
            Some(v) => v.to_str().unwrap().to_owned(),
            None => panic!("no {name} header (status {}): {}", self.status, self.text()),
        }
    }

    /// A header's value, or "" when it is missing.
    pub fn header_or_empty(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    fn check_status(&self, at: &Location<'_>, status: StatusCode) {
        if self.status != status {
            panic!("{at}: expected {status}, got {}: {}", self.status, self.text());
        }
    }
}

// The `expect_*` helpers are sync `#[track_caller]` functions that capture
// the caller's location and return the future that reads the body. A panic
// inside an `async fn` would name helpers.rs, and `#[track_caller]` does not
// reach into one, so every failure message starts with the test's own
// `file:line:column` instead. They come twice: as free functions on a
// response already sent, and as [`Expect`] methods on a request, which send
// it first: `app.get_as(&p.owner, "/api/...").expect_json(StatusCode::OK).await`.

/// Reads the response and asserts its status (printing the body when it
/// differs); the whole reply.
#[track_caller]
pub fn expect_status(resp: TestResponse, status: StatusCode) -> impl Future<Output = Reply> {
    status_at(Location::caller(), resp, status)
}

/// Asserts the status (printing the body when it differs) and returns the
/// body parsed as JSON.
#[track_caller]
pub fn expect_json(resp: TestResponse, status: StatusCode) -> impl Future<Output = Value> {
    json_at(Location::caller(), resp, status)
}

/// Asserts the status (printing the body when it differs) and returns the
/// body as text (HTML pages and fragments, CSV).
#[track_caller]
pub fn expect_text(resp: TestResponse, status: StatusCode) -> impl Future<Output = String> {
    text_at(Location::caller(), resp, status)
}

/// Asserts the status and the JSON error envelope `{"error": code,
/// "message": text}`: `code_or_substring` is either the exact code (e.g.
/// `not_found`) or a part of the message (`""` checks the envelope only).
/// Returns the message.
#[track_caller]
pub fn expect_error<'a>(
    resp: TestResponse,
    status: StatusCode,
    code_or_substring: &'a str,
) -> impl Future<Output = String> + 'a {
    error_at(Location::caller(), resp, status, code_or_substring)
}

/// Send-and-check on a request; see the `expect_*` functions.
pub trait Expect: Sized {
    /// Sends the request and reads the reply, whatever its status.
    fn reply(self) -> impl Future<Output = Reply>;
    /// Sends the request; the reply, whose status must be `status`.
    fn expect_status(self, status: StatusCode) -> impl Future<Output = Reply>;
    /// Sends the request; the JSON body of a `status` reply.
    fn expect_json(self, status: StatusCode) -> impl Future<Output = Value>;
    /// Sends the request; the text body of a `status` reply.
    fn expect_text(self, status: StatusCode) -> impl Future<Output = String>;
    /// Sends the request; the message of a `status` JSON error (see [`expect_error`]).
    fn expect_error(
        self,
        status: StatusCode,
        code_or_substring: &str,
    ) -> impl Future<Output = String>;
}

impl Expect for Request<'_> {
    async fn reply(self) -> Reply {
        Reply::read(self.send().await).await
    }

    #[track_caller]
    fn expect_status(self, status: StatusCode) -> impl Future<Output = Reply> {
        let at = Location::caller();
        async move { status_at(at, self.send().await, status).await }
    }

    #[track_caller]
    fn expect_json(self, status: StatusCode) -> impl Future<Output = Value> {
        let at = Location::caller();
        async move { json_at(at, self.send().await, status).await }
    }

    #[track_caller]
    fn expect_text(self, status: StatusCode) -> impl Future<Output = String> {
        let at = Location::caller();
        async move { text_at(at, self.send().await, status).await }
    }

    #[track_caller]
    fn expect_error(
        self,
        status: StatusCode,
        code_or_substring: &str,
    ) -> impl Future<Output = String> {
        let at = Location::caller();
        async move { error_at(at, self.send().await, status, code_or_substring).await }
    }
}

async fn status_at(at: &Location<'_>, resp: TestResponse, status: StatusCode) -> Reply {
    let reply = Reply::read(resp).await;
    reply.check_status(at, status);
    reply
}

async fn json_at(at: &Location<'_>, resp: TestResponse, status: StatusCode) -> Value {
    let reply = status_at(at, resp, status).await;
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("{at}: not JSON ({e}): {}", reply.text()))
}

async fn text_at(at: &Location<'_>, resp: TestResponse, status: StatusCode) -> String {
    status_at(at, resp, status).await.text()
}

async fn error_at(at: &Location<'_>, resp: TestResponse, status: StatusCode, want: &str) -> String {
    let body = json_at(at, resp, status).await;
    let (Some(code), Some(message)) = (body["error"].as_str(), body["message"].as_str()) else {
        panic!("{at}: not the error envelope {{error, message}}: {body}");
    };
    if code != want && !message.contains(want) {
        panic!("{at}: expected the code {want:?} or it in the message, got {body}");
    }
    message.to_owned()
}

/// The `Set-Cookie` header of a response, whole.
#[track_caller]
pub fn set_cookie(resp: &TestResponse) -> String {
    resp.0.headers().get("set-cookie").expect("a set-cookie header").to_str().unwrap().to_owned()
}

/// The `name=value` of the cookie a response sets, for a Cookie header.
#[track_caller]
pub fn cookie_of(resp: &TestResponse) -> String {
    set_cookie(resp).split(';').next().unwrap().to_owned()
}

/// Reads a response body as text.
pub async fn body_text(resp: poem::test::TestResponse) -> String {
    resp.0.into_body().into_string().await.unwrap()
}

/// Reads a response body as JSON.
pub async fn body_json(resp: poem::test::TestResponse) -> serde_json::Value {
    serde_json::from_str(&body_text(resp).await).unwrap()
}

/// Polls a condition (in the browser, the database, ...) every 50 ms until
/// it holds; fails after ten seconds, naming `what`.
pub async fn wait_for<F, Fut>(mut check: F, what: &str)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A real HTTP client (reqwest over rustls, whose crypto provider is
/// installed first: reqwest needs one chosen per process).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
