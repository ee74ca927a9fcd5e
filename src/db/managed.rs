//! A private PostgreSQL cluster inside the data directory, for when no
//! `DATABASE_URL` is given. It listens on a Unix socket only (no TCP port is
//! opened), so nothing else on the machine can reach it over the network.
//!
//! The server runs as a child of a dedicated supervisor thread that asks the
//! kernel to send it SIGINT (fast shutdown) if that thread or the whole portal
//! dies, so a crashed or killed portal never leaves a stray cluster behind.
//! A second portal on the same data dir finds the socket answering and uses
//! that cluster instead of starting another, provided the socket's
//! directory and the cluster's are its own ([`check_private_dir`]).

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

/// Port number in the socket file name. No TCP port is opened.
pub const PORT: u16 = 5432;
/// Superuser created by initdb; local socket access uses trust auth and the
/// socket directory is reachable only by the server's own user (and root).
pub const USER: &str = "portal";
pub const DATABASE: &str = "portal";

/// Options for [`Cluster::ensure`].
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Trade durability for speed (fsync off): for throw-away test clusters only.
    pub ephemeral: bool,
}

/// A running cluster, started by this process or found running.
#[derive(Debug)]
pub struct Cluster {
    pub pg_dir: PathBuf,
    pub socket_dir: PathBuf,
    child: Option<Supervised>,
}

#[derive(Debug)]
struct Supervised {
    pid: libc::pid_t,
    exited: Mutex<mpsc::Receiver<io::Result<std::process::ExitStatus>>>,
}

/// The OS user that runs PostgreSQL when the portal runs as root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl Cluster {
    /// Makes sure a cluster for `data_dir` is running: initialises it on first
    /// use, starts it when it is down, or attaches to the one already running.
    /// Blocking; call it from a blocking context.
    pub fn ensure(data_dir: &Path, options: &ClusterOptions) -> Result<Cluster> {
        fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve the data directory {}", data_dir.display()))?;
        let run_as = run_as()?;
        let pg_dir = choose_pg_dir(&data_dir, run_as)?;
        let socket_dir = socket_dir_for(&pg_dir);

        // Two portals starting at once on one data dir: one initialises and
        // starts, the other waits here and then finds the socket answering.
        let _lock = lock_file(&data_dir.join(".postgres.lock"))?;

        // A socket is trusted only in directories this portal made: the
        // fallback places are predictable, and another local user could
        // have stood up a server there to receive the practice data.
        let owner = run_as.map_or_else(effective_uid, |u| u.uid);
        check_private_dir(&pg_dir, owner)?;
        check_private_dir(&socket_dir, owner)?;
        if socket_answers(&socket_dir) {
            tracing::info!(socket = %socket_dir.display(), "using the PostgreSQL cluster already running for this data dir");
            return Ok(Cluster { pg_dir, socket_dir, child: None });
        }

        let bin = find_binaries()?;
        make_private_dir(&pg_dir, run_as)?;
        make_private_dir(&socket_dir, run_as)?;
        let data = pg_dir.join("data");
        if !data.join("PG_VERSION").exists() {
            init_cluster(&bin, &data, run_as, options)?;
        }
        let child = start_server(&bin, &pg_dir, &socket_dir, run_as, options)?;
        Ok(Cluster { pg_dir, socket_dir, child: Some(child) })
    }

    /// Connection settings for a database in this cluster.
    pub fn pg_config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(PORT)
            .user(USER)
            .dbname(dbname)
            .application_name("portal");
        config
    }

    /// Whether this process started the server (and so stops it).
    pub fn started_here(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the server if this process started it: fast shutdown, which
    /// ends open sessions and checkpoints. Blocking.
    pub fn stop(mut self) -> Result<()> {
        let Some(child) = self.child.take() else {
            return Ok(());
        };
        // SAFETY: plain kill(2) on the pid of our own child.
        unsafe { libc::kill(child.pid, libc::SIGINT) };
        let exited = child.exited.into_inner().unwrap_or_else(|p| p.into_inner());
        match exited.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(status)) if status.success() => {
                tracing::info!("PostgreSQL stopped");
                Ok(())
            }
            Ok(Ok(status)) => bail!("PostgreSQL exited with {status} while stopping"),
            Ok(Err(e)) => Err(e).context("waiting for PostgreSQL to stop"),
            Err(_) => {
                // SAFETY: as above; it ignored the fast shutdown for a minute.
                unsafe { libc::kill(child.pid, libc::SIGQUIT) };
                bail!("PostgreSQL did not stop within 60 s; sent it SIGQUIT")
            }
        }
    }
}

fn run_as() -> Result<Option<RunAs>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("postgres").expect("static string");
    // SAFETY: getpwnam returns NULL or a pointer to static storage that we
    // read immediately, before any other getpw* call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!(
            "the portal is running as root, and PostgreSQL refuses to run as root, but there is no \
             'postgres' user to run it as. Install PostgreSQL from your package manager (it creates \
             that user: apt-get install postgresql), run the portal as an ordinary user, or set \
             DATABASE_URL to use an existing database."
        );
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some(RunAs { uid, gid }))
}

/// `<data dir>/pg`, unless PostgreSQL's user cannot reach it (a data dir under
/// /root, say), in which case a fixed place of its own under /var/tmp, named
/// after the data dir so later runs find the same cluster.
fn choose_pg_dir(data_dir: &Path, run_as: Option<RunAs>) -> Result<PathBuf> {
    let preferred = data_dir.join("pg");
    let Some(user) = run_as else {
        return Ok(preferred);
    };
    if can_traverse(user, data_dir) {
        return Ok(preferred);
    }
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let fallback =
        PathBuf::from(format!("/var/tmp/portal-postgres-{}", &hex::encode(digest)[..16]));
    tracing::warn!(
        "PostgreSQL runs as the 'postgres' user, which cannot reach {} (a parent directory \
         is closed to other users). Keeping the database files in {} instead. To keep them in \
         the data dir, choose one that user can reach (PORTAL_DATA_DIR=/var/lib/portal, for \
         example) or set DATABASE_URL.",
        data_dir.display(),
        fallback.display()
    );
    Ok(fallback)
}

fn can_traverse(user: RunAs, dir: &Path) -> bool {
    Command::new("test")
        .arg("-x")
        .arg(dir)
        .uid(user.uid)
        .gid(user.gid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Unix socket paths are limited to about 107 bytes; deep data dirs get a
/// short socket directory under /tmp instead.
fn socket_dir_for(pg_dir: &Path) -> PathBuf {
    let preferred = pg_dir.join("run");
    if preferred.as_os_str().len() + ".s.PGSQL.5432".len() + 1 < 100 {
        return preferred;
    }
    let digest = Sha256::digest(pg_dir.as_os_str().as_encoded_bytes());
    PathBuf::from(format!("/tmp/portal-pg-{}", &hex::encode(digest)[..16]))
}

fn socket_answers(socket_dir: &Path) -> bool {
    UnixStream::connect(socket_dir.join(format!(".s.PGSQL.{PORT}"))).is_ok()
}

struct FileLock(#[expect(dead_code, reason = "held for its Drop, which releases the lock")] File);

fn lock_file(path: &Path) -> Result<FileLock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor we own; released when the file closes.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error()).context("locking the data directory");
    }
    Ok(FileLock(file))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Ok when `dir` does not exist yet, or is a real directory (not a symbolic
/// link) owned by `owner` with mode 0700; otherwise an error that says what
/// is wrong and what to do.
pub fn check_private_dir(dir: &Path, owner: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", dir.display())),
    };
    let what = if meta.file_type().is_symlink() {
        "is a symbolic link".to_owned()
    } else if !meta.is_dir() {
        "is not a directory".to_owned()
    } else if meta.uid() != owner {
        format!(
            "belongs to uid {}, not to uid {owner} that runs the portal's PostgreSQL",
            meta.uid()
        )
    } else if meta.mode() & 0o777 != 0o700 {
        format!("has mode {:o}, not 700", meta.mode() & 0o777)
    } else {
        return Ok(());
    };
    bail!(
        "refusing to use {}: it {what}. The portal keeps its database and socket only in          directories it made for itself, so that no other user can stand in for the database.          Check what it is and remove it (or run `chmod 700` on it if it is yours), or choose          another PORTAL_DATA_DIR, or set DATABASE_URL.",
        dir.display()
    )
}

fn make_private_dir(dir: &Path, run_as: Option<RunAs>) -> Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if let Some(user) = run_as {
        std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
            .with_context(|| format!("cannot hand {} to the postgres user", dir.display()))?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dir.display()))?;
    Ok(())
}

/// Directory holding `initdb`, `postgres` and friends.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub dir: PathBuf,
}

impl Binaries {
    fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Looks for the server binaries: PATH, `pg_config --bindir`, Debian's
/// versioned directories (newest first), then the usual Homebrew places.
pub fn find_binaries() -> Result<Binaries> {
    let has_all = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").stderr(Stdio::null()).output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versioned: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((version, e.path().join("bin")))
            })
            .collect();
        versioned.sort_by_key(|v| std::cmp::Reverse(v.0));
        candidates.extend(versioned.into_iter().map(|(_, p)| p));
    }
    for extra in ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"] {
        candidates.push(PathBuf::from(extra));
    }
    for prefix in ["/opt/homebrew/opt", "/usr/local/opt"] {
        if let Ok(entries) = fs::read_dir(prefix) {
            for e in entries.filter_map(|e| e.ok()) {
                if e.file_name().to_string_lossy().starts_with("postgresql") {
                    candidates.push(e.path().join("bin"));
                }
            }
        }
    }
    for dir in candidates {
        // A symlinked initdb (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
        // must resolve so that `postgres` is looked up beside the real file.
        let dir = dir
            .join("initdb")
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or(dir);
        if has_all(&dir) {
            return Ok(Binaries { dir });
        }
    }
    bail!(
        "no PostgreSQL server binaries found (looked for initdb and postgres on PATH, in \
         `pg_config --bindir`, /usr/lib/postgresql/*/bin and the Homebrew directories). Install \
         them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@16) or \
         set DATABASE_URL to a database you already run."
    )
}

fn command_as(program: PathBuf, run_as: Option<RunAs>) -> Command {
    let mut cmd = Command::new(program);
    if let Some(user) = run_as {
        cmd.uid(user.uid).gid(user.gid).env("HOME", "/var/lib/postgresql").env("USER", "postgres");
    }
    cmd.env("LC_ALL", "C.UTF-8").stdin(Stdio::null());
    cmd
}

fn init_cluster(
    bin: &Binaries,
    data: &Path,
    run_as: Option<RunAs>,
    options: &ClusterOptions,
) -> Result<()> {
    tracing::info!(dir = %data.display(), "creating a PostgreSQL cluster (first run only)");
    let mut cmd = command_as(bin.tool("initdb"), run_as);
    cmd.arg("-D").arg(data).args([
        "-U",
        USER,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
    ]);
    if options.ephemeral {
        cmd.arg("--no-sync");
    }
    let out = cmd.output().context("running initdb")?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(data);
        bail!(
            "initdb failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn start_server(
    bin: &Binaries,
    pg_dir: &Path,
    socket_dir: &Path,
    run_as: Option<RunAs>,
    options: &ClusterOptions,
) -> Result<Supervised> {
    let log_path = pg_dir.join("postgres.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);

    let mut cmd = command_as(bin.tool("postgres"), run_as);
    cmd.arg("-D")
        .arg(pg_dir.join("data"))
        .arg("-k")
        .arg(socket_dir)
        .arg("-p")
        .arg(PORT.to_string())
        .args(["-c", "listen_addresses=", "-c", "max_connections=200"])
        .stdout(log.try_clone()?)
        .stderr(log)
        // Own process group: a Ctrl-C in the terminal reaches the portal,
        // which finishes its requests before it stops the database.
        .process_group(0);
    if options.ephemeral {
        cmd.args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
    }
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }

    tracing::info!(socket = %socket_dir.display(), "starting PostgreSQL");
    let (pid_tx, pid_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel();
    // The death signal follows the thread that forked the server, so that
    // thread lives exactly as long as the server does.
    std::thread::Builder::new()
        .name("postgres-supervisor".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = pid_tx.send(Ok(child.id() as libc::pid_t));
                let _ = exit_tx.send(child.wait());
            }
            Err(e) => {
                let _ = pid_tx.send(Err(e));
            }
        })
        .context("spawning the PostgreSQL supervisor thread")?;
    let pid = pid_rx
        .recv()
        .map_err(|_| anyhow!("the PostgreSQL supervisor thread ended early"))?
        .context("starting postgres")?;

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if accepts_connections(bin, socket_dir) {
            return Ok(Supervised { pid, exited: Mutex::new(exit_rx) });
        }
        if let Ok(status) = exit_rx.try_recv() {
            bail!(
                "PostgreSQL exited during start-up ({}). Its log ({}) says:\n{}",
                status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                log_path.display(),
                log_tail(&log_path, log_start)
            );
        }
        if Instant::now() > deadline {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
            bail!(
                "PostgreSQL did not accept connections within 60 s. Its log ({}) says:\n{}",
                log_path.display(),
                log_tail(&log_path, log_start)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The socket accepting is not enough: during recovery the server answers
/// "starting up". pg_isready asks the real question.
fn accepts_connections(bin: &Binaries, socket_dir: &Path) -> bool {
    Command::new(bin.tool("pg_isready"))
        .arg("-h")
        .arg(socket_dir)
        .args(["-p", &PORT.to_string(), "-U", USER, "-d", "postgres", "-t", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
