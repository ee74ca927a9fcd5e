//! Configuration: every setting has one name, used both as an environment
//! variable and (lower-cased, dashed) as a command-line flag.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

/// A value that must never be printed: `Debug` and `Display` show a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself; call sites that use it are easy to audit with grep.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Raw settings as clap reads them from flags and the environment. Parsing
/// into [`Config`] happens in one place so every error names its variable.
#[derive(Args, Clone, Default)]
pub struct ConfigArgs {
    /// PostgreSQL URL; when unset the portal runs its own cluster in the data dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// PostgreSQL URL of the tables' owner, for migrations (DATABASE_URL is then the least-privilege runtime role).
    #[arg(long, env = "PORTAL_MIGRATION_DATABASE_URL", global = true, hide_env_values = true)]
    pub migration_database_url: Option<String>,
    /// Directory for the managed database, generated secrets and demo keys.
    #[arg(long, env = "PORTAL_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (HOST:PORT).
    #[arg(long, env = "PORTAL_BIND", global = true)]
    pub bind: Option<String>,
    /// Public URL of the portal, used in emails and for Origin checks.
    #[arg(long, env = "PORTAL_BASE_URL", global = true)]
    pub base_url: Option<String>,
    /// Server secret for token hashing (at least 32 characters).
    #[arg(long, env = "PORTAL_SESSION_SECRET", global = true, hide_env_values = true)]
    pub session_secret: Option<String>,
    /// SMTP server host; without it mail goes to the log (and the dev mailbox in demo mode).
    #[arg(long, env = "PORTAL_SMTP_HOST", global = true)]
    pub smtp_host: Option<String>,
    /// SMTP port (default: 25 for none, 587 for starttls, 465 for implicit).
    #[arg(long, env = "PORTAL_SMTP_PORT", global = true)]
    pub smtp_port: Option<String>,
    /// SMTP transport security: none, starttls or implicit (default starttls).
    #[arg(long, env = "PORTAL_SMTP_TLS", global = true)]
    pub smtp_tls: Option<String>,
    /// SMTP user name.
    #[arg(long, env = "PORTAL_SMTP_USERNAME", global = true)]
    pub smtp_username: Option<String>,
    /// SMTP password.
    #[arg(long, env = "PORTAL_SMTP_PASSWORD", global = true, hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// Sender address of the portal's mail.
    #[arg(long, env = "PORTAL_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,
    /// Where partner-transfer requests are sent.
    #[arg(long, env = "PORTAL_STAFF_EMAIL", global = true)]
    pub staff_email: Option<String>,
    /// Mark cookies Secure (true/false, default true).
    #[arg(long, env = "PORTAL_COOKIE_SECURE", global = true)]
    pub cookie_secure: Option<String>,
    /// Sign out sessions idle this long (e.g. 8h, 30m, 3600s; default 8h).
    #[arg(long, env = "PORTAL_SESSION_IDLE_TIMEOUT", global = true)]
    pub session_idle_timeout: Option<String>,
    /// Accept state-changing requests from same-site (sibling subdomain) pages (default false).
    #[arg(long, env = "PORTAL_CSRF_ALLOW_SAME_SITE", global = true)]
    pub csrf_allow_same_site: Option<String>,
    /// Master seed of every practice's evidence-log key (64 hex characters); generated into the data dir when unset.
    #[arg(long, env = "PORTAL_LOG_SEED", global = true, hide_env_values = true)]
    pub log_seed: Option<String>,
    /// Sign a grown evidence log's checkpoint at most this often (1s to 1d, default 60s).
    #[arg(long, env = "PORTAL_LOG_CHECKPOINT_INTERVAL", global = true)]
    pub log_checkpoint_interval: Option<String>,
    /// Reverse proxies whose Forwarded / X-Forwarded-For headers name the client (CIDR ranges or addresses, comma-separated; default none).
    #[arg(long, env = "PORTAL_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Evidence bundles one site may send per minute (0 for no limit; default 1200).
    #[arg(long, env = "PORTAL_INGEST_PER_SITE", global = true)]
    pub ingest_per_site: Option<String>,
    /// Delete audit-log rows older than this many years (at least 6; default: keep them for good).
    #[arg(long, env = "PORTAL_RETENTION_YEARS", global = true)]
    pub retention_years: Option<String>,
    /// Email each owner and admin about new failures at one site at most this often (1s to 1d, default 60s).
    #[arg(long, env = "PORTAL_ALERT_INTERVAL", global = true)]
    pub alert_interval: Option<String>,
    /// Cancel any one database statement that runs longer than this (1s to 1h, default 30s).
    #[arg(long, env = "PORTAL_STATEMENT_TIMEOUT", global = true)]
    pub statement_timeout: Option<String>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Implicit,
}

impl SmtpTls {
    fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    pub from: String,
}

/// Validated configuration. `Debug` is safe to log: secrets are redacted.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: Option<Secret<String>>,
    /// The owner role's URL for migrations (with `database_url` only).
    pub migration_database_url: Option<Secret<String>>,
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    pub base_url: String,
    pub session_secret: Option<Secret<Vec<u8>>>,
    pub smtp: Option<SmtpConfig>,
    pub staff_email: Option<String>,
    pub cookie_secure: bool,
    pub session_idle_timeout: Duration,
    pub csrf_allow_same_site: bool,
    /// Proxies whose forwarding headers are believed ([`crate::auth::forwarded`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Bundles per site per minute (0: no limit).
    pub ingest_per_site: u32,
    /// Audit-log rows older than this many years are deleted (None: never).
    pub retention_years: Option<u32>,
    /// Critical-alert emails about one site reach each recipient at most
    /// this often; failures in between are folded into the next one.
    pub alert_interval: Duration,
    /// Longest any one statement on the server's pooled connections may run.
    pub statement_timeout: Duration,
    pub log_seed: Option<Secret<[u8; 32]>>,
    pub log_checkpoint_interval: Duration,
}

/// A setting that could not be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn bad(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { variable, problem: problem.into() }
}

/// A PostgreSQL URL or key=value connection string, checked but kept secret.
fn parse_database_url(variable: &'static str, url: &str) -> Result<Secret<String>, ConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains('=') {
        url.parse::<tokio_postgres::Config>().map_err(|e| {
            bad(variable, format!("not a valid PostgreSQL connection string ({e})"))
        })?;
        Ok(Secret::new(url.to_owned()))
    } else {
        Err(bad(variable, "expected a URL like postgres://user:password@host:5432/portal"))
    }
}

/// Whether `url`'s host is this machine (localhost or a loopback address).
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Treats empty values like unset ones, so `PORTAL_X=` in a shell means "default".
/// A duration setting: `default` when unset, else a duration from
/// `range.0` to `range.1` (`range.2` says so in words, with examples).
fn duration_setting(
    value: &Option<String>,
    variable: &'static str,
    default: Duration,
    range: (Duration, Duration, &str),
) -> Result<Duration, ConfigError> {
    let (min, max, words) = range;
    match non_empty(value) {
        None => Ok(default),
        Some(v) => parse_duration(v).filter(|d| (min..=max).contains(d)).ok_or_else(|| {
            bad(variable, format!("expected a duration between {words} (got {v:?})"))
        }),
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Absolute lifetime of a browser session.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);
pub const MIN_SECRET_LEN: usize = 32;
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// `PORTAL_ALERT_INTERVAL` when unset.
pub const DEFAULT_ALERT_INTERVAL: Duration = Duration::from_secs(60);

/// `PORTAL_STATEMENT_TIMEOUT` when unset. Every statement the portal runs is
/// short (long work such as verification and packs reads in pages); a
/// statement still running after this is stuck behind a lock or a frozen
/// database, and the request answers 503 instead of hanging.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bundles a site may send per minute: 20 a second, so a week offline
/// (about 2,000 bundles at one per 5 minutes) flushes in two minutes.
pub const DEFAULT_INGEST_PER_SITE: u32 = 1200;
/// The shortest audit-log retention the portal accepts (45 CFR 164.316(b)(2)).
pub const MIN_RETENTION_YEARS: u32 = 6;

impl Config {
    pub fn from_args(args: &ConfigArgs) -> Result<Config, ConfigError> {
        let database_url = non_empty(&args.database_url)
            .map(|url| parse_database_url("DATABASE_URL", url))
            .transpose()?;
        let migration_database_url = non_empty(&args.migration_database_url)
            .map(|url| parse_database_url("PORTAL_MIGRATION_DATABASE_URL", url))
            .transpose()?;
        if migration_database_url.is_some() && database_url.is_none() {
            return Err(bad(
                "PORTAL_MIGRATION_DATABASE_URL",
                "set DATABASE_URL too (the runtime role); without DATABASE_URL the portal runs its own \
                 PostgreSQL and makes both roles itself",
            ));
        }

        let data_dir = args
            .data_dir
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("./data"));

        let bind_raw = non_empty(&args.bind).unwrap_or(DEFAULT_BIND);
        let bind: SocketAddr = bind_raw.parse().map_err(|_| {
            bad(
                "PORTAL_BIND",
                format!("expected HOST:PORT with an IP address, such as 127.0.0.1:8080 (got {bind_raw:?})"),
            )
        })?;

        let base_url = match non_empty(&args.base_url) {
            Some(url) => parse_base_url(url)?,
            None => default_base_url(bind),
        };

        let session_secret = non_empty(&args.session_secret)
            .map(|s| {
                if s.len() < MIN_SECRET_LEN {
                    Err(bad(
                        "PORTAL_SESSION_SECRET",
                        format!(
                            "expected at least {MIN_SECRET_LEN} characters (for example the output of `openssl rand -hex 32`)"
                        ),
                    ))
                } else {
                    Ok(Secret::new(s.as_bytes().to_vec()))
                }
            })
            .transpose()?;

        let smtp = parse_smtp(args)?;

        let staff_email = non_empty(&args.staff_email)
            .map(|e| {
                parse_email(e).ok_or_else(|| {
                    bad("PORTAL_STAFF_EMAIL", format!("expected an email address (got {e:?})"))
                })
            })
            .transpose()?;

        let cookie_secure = match non_empty(&args.cookie_secure) {
            None => true,
            Some(v) => parse_bool(v).ok_or_else(|| {
                bad("PORTAL_COOKIE_SECURE", format!("expected true or false (got {v:?})"))
            })?,
        };

        // Without Secure the cookie loses its __Host- prefix, so a page on a
        // sibling subdomain could plant one; that is only acceptable where
        // no such sibling exists: the portal on this machine.
        if !cookie_secure && !is_loopback_url(&base_url) {
            return Err(bad(
                "PORTAL_COOKIE_SECURE",
                format!(
                    "false is only allowed when PORTAL_BASE_URL is on this machine (localhost, 127.0.0.1 \
                     or [::1]; it is {base_url}): without Secure the session cookie cannot keep its \
                     __Host- prefix. Serve the portal over HTTPS (behind a proxy) and leave \
                     PORTAL_COOKIE_SECURE unset"
                ),
            ));
        }

        let session_idle_timeout = match non_empty(&args.session_idle_timeout) {
            None => DEFAULT_IDLE_TIMEOUT,
            Some(v) => parse_duration(v)
                .filter(|d| *d >= Duration::from_secs(60) && *d <= SESSION_LIFETIME)
                .ok_or_else(|| {
                    bad(
                        "PORTAL_SESSION_IDLE_TIMEOUT",
                        format!("expected a duration between 1m and 30d such as 8h, 45m or 3600s (got {v:?})"),
                    )
                })?,
        };

        let csrf_allow_same_site = match non_empty(&args.csrf_allow_same_site) {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| {
                bad("PORTAL_CSRF_ALLOW_SAME_SITE", format!("expected true or false (got {v:?})"))
            })?,
        };

        let trusted_proxies = match non_empty(&args.trusted_proxies) {
            None => Vec::new(),
            Some(v) => crate::auth::forwarded::parse_proxies(v)
                .map_err(|e| bad("PORTAL_TRUSTED_PROXIES", e))?,
        };

        let ingest_per_site = match non_empty(&args.ingest_per_site) {
            None => DEFAULT_INGEST_PER_SITE,
            Some(v) => v.parse::<u32>().map_err(|_| {
                bad(
                    "PORTAL_INGEST_PER_SITE",
                    format!(
                        "expected a whole number of bundles per minute, 0 for no limit (got {v:?})"
                    ),
                )
            })?,
        };

        let retention_years = match non_empty(&args.retention_years) {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("forever") => None,
            Some(v) => Some(v.parse::<u32>().ok().filter(|y| (MIN_RETENTION_YEARS..=100).contains(y)).ok_or_else(|| {
                bad(
                    "PORTAL_RETENTION_YEARS",
                    format!(
                        "expected a whole number of years from {MIN_RETENTION_YEARS} to 100, or forever \
                         (HIPAA, 45 CFR 164.316(b)(2), asks for six years; got {v:?})"
                    ),
                )
            })?),
        };

        let log_seed = non_empty(&args.log_seed)
            .map(|v| {
                parse_seed(v).map(Secret::new).ok_or_else(|| {
                    bad(
                        "PORTAL_LOG_SEED",
                        "expected 64 hex characters (for example the output of `openssl rand -hex 32`)",
                    )
                })
            })
            .transpose()?;

        const SECOND: Duration = Duration::from_secs(1);
        const HOUR: Duration = Duration::from_secs(3_600);
        const DAY: Duration = Duration::from_secs(86_400);
        let alert_interval = duration_setting(
            &args.alert_interval,
            "PORTAL_ALERT_INTERVAL",
            DEFAULT_ALERT_INTERVAL,
            (SECOND, DAY, "1s and 1d such as 60s or 15m"),
        )?;
        let statement_timeout = duration_setting(
            &args.statement_timeout,
            "PORTAL_STATEMENT_TIMEOUT",
            DEFAULT_STATEMENT_TIMEOUT,
            (SECOND, HOUR, "1s and 1h such as 30s or 2m"),
        )?;
        let log_checkpoint_interval = duration_setting(
            &args.log_checkpoint_interval,
            "PORTAL_LOG_CHECKPOINT_INTERVAL",
            DEFAULT_CHECKPOINT_INTERVAL,
            (SECOND, DAY, "1s and 1d such as 60s, 5m or 1h"),
        )?;

        Ok(Config {
            database_url,
            migration_database_url,
            data_dir,
            bind,
            base_url,
            session_secret,
            smtp,
            staff_email,
            cookie_secure,
            session_idle_timeout,
            csrf_allow_same_site,
            trusted_proxies,
            ingest_per_site,
            retention_years,
            statement_timeout,
            alert_interval,
            log_seed,
            log_checkpoint_interval,
        })
    }

    /// After binding port 0: the real address, and the base URL derived from
    /// it unless one was configured.
    pub fn resolve_port(&mut self, actual: SocketAddr) {
        if self.base_url == default_base_url(self.bind) {
            self.base_url = default_base_url(actual);
        }
        self.bind = actual;
    }

    /// For the demo: a default base URL on a loopback address becomes
    /// `http://localhost:PORT`, the same server under the one name browsers
    /// offer passkeys on (never an IP address). A configured base URL stays.
    pub fn prefer_localhost(&mut self) {
        if self.base_url == default_base_url(self.bind) && self.bind.ip().is_loopback() {
            self.base_url = format!("http://localhost:{}", self.bind.port());
        }
    }

    /// Where the managed PostgreSQL keeps its files.
    pub fn pg_dir(&self) -> PathBuf {
        self.data_dir.join("pg")
    }

    pub fn data_path(&self, name: impl AsRef<Path>) -> PathBuf {
        self.data_dir.join(name)
    }
}

/// `90s`, `45m`, `8h`, `2d`, or a plain number of seconds.
fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (number, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// 64 hex characters → 32 bytes.
pub fn parse_seed(v: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(v.trim()).ok()?;
    bytes.try_into().ok()
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Lower-cases and checks the shape of an email address (one `@`, a dot in
/// the domain, no spaces). Deliverability is the mail server's business.
pub fn parse_email(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    // Lengths in characters, measured before lower-casing (as JSON Schema does).
    let (local, _) = trimmed.split_once('@')?;
    if local.chars().count() > 64 || trimmed.chars().count() > 254 {
        return None;
    }
    let email = trimmed.to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        // Brackets and separators would make one address read as several
        // (or smuggle SMTP syntax); the outbox refuses them too.
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || "<>,;".contains(c));
    ok.then_some(email)
}

fn parse_base_url(url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(trimmed.to_owned()),
        _ => Err(bad(
            "PORTAL_BASE_URL",
            format!(
                "expected an http:// or https:// URL such as https://portal.example.com (got {url:?})"
            ),
        )),
    }
}

fn default_base_url(bind: SocketAddr) -> String {
    let host = if bind.ip().is_unspecified() {
        "localhost".to_owned()
    } else {
        match bind {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    };
    format!("http://{host}:{}", bind.port())
}

fn parse_smtp(args: &ConfigArgs) -> Result<Option<SmtpConfig>, ConfigError> {
    let tls = match non_empty(&args.smtp_tls) {
        None => SmtpTls::StartTls,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "none" | "plain" => SmtpTls::None,
            "starttls" => SmtpTls::StartTls,
            "implicit" | "tls" => SmtpTls::Implicit,
            _ => {
                return Err(bad(
                    "PORTAL_SMTP_TLS",
                    format!("expected none, starttls or implicit (got {v:?})"),
                ));
            }
        },
    };
    let port = non_empty(&args.smtp_port)
        .map(|p| {
            p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                bad("PORTAL_SMTP_PORT", format!("expected a port number 1-65535 (got {p:?})"))
            })
        })
        .transpose()?;
    let from = non_empty(&args.smtp_from)
        .map(|f| {
            let address = f
                .rsplit_once('<')
                .map(|(_, a)| a.trim_end_matches('>'))
                .unwrap_or(f);
            parse_email(address).map(|_| f.to_owned()).ok_or_else(|| {
                bad(
                    "PORTAL_SMTP_FROM",
                    format!("expected an address like portal@example.com or \"Portal <portal@example.com>\" (got {f:?})"),
                )
            })
        })
        .transpose()?;
    let Some(host) = non_empty(&args.smtp_host) else {
        return Ok(None);
    };
    Ok(Some(SmtpConfig {
        host: host.to_owned(),
        port: port.unwrap_or(tls.default_port()),
        tls,
        username: non_empty(&args.smtp_username).map(str::to_owned),
        password: non_empty(&args.smtp_password).map(|p| Secret::new(p.to_owned())),
        from: from.unwrap_or_else(|| "OsirisCare Portal <portal@localhost>".to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ConfigArgs {
        ConfigArgs::default()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::from_args(&args()).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url, "http://127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.cookie_secure);
        assert!(c.smtp.is_none());
        assert!(c.database_url.is_none());
    }

    #[test]
    fn a_bad_value_names_its_variable_and_what_it_expects() {
        type Case = (fn(&mut ConfigArgs), &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (|a| a.bind = Some("nonsense".into()), "PORTAL_BIND", "HOST:PORT"),
            (|a| a.base_url = Some("ftp://x".into()), "PORTAL_BASE_URL", "http://"),
            (|a| a.session_secret = Some("short".into()), "PORTAL_SESSION_SECRET", "32"),
            (|a| a.smtp_tls = Some("ssl3".into()), "PORTAL_SMTP_TLS", "starttls"),
            (|a| a.smtp_port = Some("99999".into()), "PORTAL_SMTP_PORT", "1-65535"),
            (|a| a.cookie_secure = Some("maybe".into()), "PORTAL_COOKIE_SECURE", "true or false"),
            (|a| a.staff_email = Some("nobody".into()), "PORTAL_STAFF_EMAIL", "email"),
            (|a| a.database_url = Some("localhost".into()), "DATABASE_URL", "postgres://"),
            (|a| a.log_seed = Some("abc".into()), "PORTAL_LOG_SEED", "64 hex"),
            (|a| a.log_seed = Some("zz".repeat(32)), "PORTAL_LOG_SEED", "64 hex"),
            (
                |a| a.log_checkpoint_interval = Some("0s".into()),
                "PORTAL_LOG_CHECKPOINT_INTERVAL",
                "between 1s and 1d",
            ),
            (
                |a| a.log_checkpoint_interval = Some("2d".into()),
                "PORTAL_LOG_CHECKPOINT_INTERVAL",
                "between 1s and 1d",
            ),
            (|a| a.alert_interval = Some("0s".into()), "PORTAL_ALERT_INTERVAL", "1s and 1d"),
            (|a| a.statement_timeout = Some("0s".into()), "PORTAL_STATEMENT_TIMEOUT", "1s and 1h"),
            (|a| a.statement_timeout = Some("2h".into()), "PORTAL_STATEMENT_TIMEOUT", "1s and 1h"),
            (|a| a.retention_years = Some("5".into()), "PORTAL_RETENTION_YEARS", "six years"),
            (|a| a.retention_years = Some("six".into()), "PORTAL_RETENTION_YEARS", "from 6 to 100"),
        ];
        for (set, variable, expects) in cases {
            let mut a = args();
            set(&mut a);
            let err = Config::from_args(&a).unwrap_err().to_string();
            assert!(err.starts_with(variable), "{err}");
            assert!(err.contains(expects), "{err}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut a = args();
        a.database_url = Some("postgres://portal:hunter2-db@localhost/portal".into());
        a.session_secret = Some("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t".into());
        a.smtp_host = Some("smtp.example.com".into());
        a.smtp_password = Some("smtp-pa55word".into());
        a.log_seed = Some("ab".repeat(32));
        let c = Config::from_args(&a).unwrap();
        assert_eq!(c.log_seed.as_ref().map(|s| *s.expose()), Some([0xab; 32]));
        let shown = format!("{c:?}");
        for secret in ["hunter2-db", "s3cr3t", "smtp-pa55word", "abab", "171, 171"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(shown.contains("smtp.example.com"));
    }

    #[test]
    fn cookies_without_secure_are_refused_unless_the_portal_is_on_this_machine() {
        for (base, ok) in [
            ("http://127.0.0.1:8080", true),
            ("http://localhost:3000", true),
            ("http://[::1]:8080", true),
            ("https://portal.example.com", false),
            ("http://10.0.0.5:8080", false),
            ("http://localhost.example.com", false),
        ] {
            let mut a = args();
            a.cookie_secure = Some("false".into());
            a.base_url = Some(base.into());
            let result = Config::from_args(&a);
            assert_eq!(result.is_ok(), ok, "{base}: {:?}", result.as_ref().err());
            if let Err(e) = result {
                assert!(e.to_string().starts_with("PORTAL_COOKIE_SECURE"), "{e}");
                assert!(e.to_string().contains("__Host-"), "{e}");
            }
        }
        // The default (Secure) is fine anywhere.
        let mut a = args();
        a.base_url = Some("https://portal.example.com".into());
        assert!(Config::from_args(&a).unwrap().cookie_secure);
    }

    #[test]
    fn retention_keeps_the_audit_log_for_good_unless_six_years_or_more_are_set() {
        let mut a = args();
        assert_eq!(Config::from_args(&a).unwrap().retention_years, None);
        a.retention_years = Some("forever".into());
        assert_eq!(Config::from_args(&a).unwrap().retention_years, None);
        a.retention_years = Some("6".into());
        assert_eq!(Config::from_args(&a).unwrap().retention_years, Some(6));
    }

    #[test]
    fn the_checkpoint_interval_defaults_to_a_minute_and_goes_down_to_a_second() {
        let mut a = args();
        assert_eq!(Config::from_args(&a).unwrap().log_checkpoint_interval, Duration::from_secs(60));
        a.log_checkpoint_interval = Some("1s".into());
        assert_eq!(Config::from_args(&a).unwrap().log_checkpoint_interval, Duration::from_secs(1));
    }

    #[test]
    fn the_idle_timeout_reads_human_durations() {
        let mut a = args();
        assert_eq!(
            Config::from_args(&a).unwrap().session_idle_timeout,
            Duration::from_secs(8 * 3600)
        );
        for (raw, secs) in [("45m", 2700), ("2h", 7200), ("3600", 3600), ("1d", 86_400)] {
            a.session_idle_timeout = Some(raw.into());
            assert_eq!(
                Config::from_args(&a).unwrap().session_idle_timeout.as_secs(),
                secs,
                "{raw}"
            );
        }
    }

    #[test]
    fn smtp_port_follows_the_tls_mode() {
        let mut a = args();
        a.smtp_host = Some("mail.example.com".into());
        a.smtp_tls = Some("implicit".into());
        assert_eq!(Config::from_args(&a).unwrap().smtp.unwrap().port, 465);
        a.smtp_tls = Some("none".into());
        assert_eq!(Config::from_args(&a).unwrap().smtp.unwrap().port, 25);
    }

    #[test]
    fn email_addresses_are_normalised_and_checked() {
        assert_eq!(parse_email(" Jane@Clinic.Example ").as_deref(), Some("jane@clinic.example"));
        for bad in [
            "",
            "jane",
            "@x.org",
            "jane@",
            "jane@localhost",
            "ja ne@x.org",
            "a@b@c.org",
            "<a@b.org>",
            "a,b@c.org",
            "a;b@c.org",
        ] {
            assert!(parse_email(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_demo_prefers_localhost_for_a_loopback_default_only() {
        let mut c = Config::from_args(&args()).unwrap();
        c.prefer_localhost();
        assert_eq!(c.base_url, "http://localhost:8080");
        let mut a = args();
        a.base_url = Some("https://portal.example.com".into());
        let mut c = Config::from_args(&a).unwrap();
        c.prefer_localhost();
        assert_eq!(c.base_url, "https://portal.example.com");
        let mut a = args();
        a.bind = Some("0.0.0.0:9000".into());
        let mut c = Config::from_args(&a).unwrap();
        let before = c.base_url.clone();
        c.prefer_localhost();
        assert_eq!(c.base_url, before);
    }

    #[test]
    fn base_url_defaults_from_bind_and_drops_trailing_slash() {
        let mut a = args();
        a.bind = Some("0.0.0.0:9000".into());
        assert_eq!(Config::from_args(&a).unwrap().base_url, "http://localhost:9000");
        a.base_url = Some("https://portal.example.com/".into());
        assert_eq!(Config::from_args(&a).unwrap().base_url, "https://portal.example.com");
    }
}
