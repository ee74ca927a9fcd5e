//! Evidence bundle format v1: parsing and validation.
//!
//! An appliance sends the exact JSON bytes of a bundle together with an
//! Ed25519 signature over those bytes. [`parse`] checks the bytes against the
//! format and returns a typed [`Bundle`]; it never re-serialises, because the
//! signature and the hash chain cover the original bytes, which callers keep.
//!
//! The JSON is read into a [`serde_json::Value`] and walked by hand rather
//! than through `#[derive(Deserialize)]` so every error can name the exact
//! path (`checks[3].status`) and say what was expected, in words an appliance
//! vendor or a practice's IT person can act on.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Largest bundle accepted, in bytes. Ten thousand checks with modest
/// details fit comfortably; anything bigger is a misbehaving appliance.
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;

/// Most checks one bundle may carry.
pub const MAX_CHECKS: usize = 10_000;

/// How far ahead of the portal's clock `checked_at` may be. Appliance clocks
/// drift; an hour tolerates that without letting evidence be post-dated.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::hours(1);

/// 2000-01-01T00:00:00Z as a Unix timestamp: the earliest `checked_at`.
const EARLIEST_CHECKED_AT: i64 = 946_684_800;

/// Longest bundle id.
pub const MAX_BUNDLE_ID_CHARS: usize = 128;
const MAX_CHECK_NAME_CHARS: usize = 100;
const MAX_HOST_CHARS: usize = 255;
const MAX_HIPAA_CONTROL_CHARS: usize = 64;
/// Longest piece of user input echoed back inside an error message.
const MAX_QUOTED_CHARS: usize = 64;

const STATUS_WORDS: &str = "pass, compliant, fail, non_compliant, warn, warning or error";

/// Outcome of one check. Ordered from best to worst, so the worst of several
/// results is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckStatus {
    /// The control is in place.
    Pass,
    /// The check could not decide, or found something short of a failure.
    Warn,
    /// The control is not in place.
    Fail,
}

impl CheckStatus {
    /// Maps a status word as appliances send it (case-insensitive):
    /// pass|compliant → Pass, fail|non_compliant → Fail,
    /// warn|warning|error → Warn. Anything else is `None`.
    pub fn from_word(word: &str) -> Option<CheckStatus> {
        const WORDS: [(&str, CheckStatus); 7] = [
            ("pass", CheckStatus::Pass),
            ("compliant", CheckStatus::Pass),
            ("fail", CheckStatus::Fail),
            ("non_compliant", CheckStatus::Fail),
            ("warn", CheckStatus::Warn),
            ("warning", CheckStatus::Warn),
            ("error", CheckStatus::Warn),
        ];
        WORDS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)).map(|&(_, status)| status)
    }

    /// The canonical word stored in the database: "pass", "warn" or "fail".
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored status word that is not one of the canonical three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown check status {0:?}; expected pass, warn or fail")]
pub struct UnknownStatus(pub String);

impl FromStr for CheckStatus {
    type Err = UnknownStatus;

    /// Reads the canonical words only (exactly as [`CheckStatus::as_str`]
    /// writes them); appliance synonyms go through [`CheckStatus::from_word`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pass" => Ok(CheckStatus::Pass),
            "warn" => Ok(CheckStatus::Warn),
            "fail" => Ok(CheckStatus::Fail),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// One check result inside a bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Machine name of the check, e.g. `bitlocker_status`.
    pub check: String,
    /// Normalised outcome.
    pub status: CheckStatus,
    /// The status word exactly as the appliance sent it.
    pub raw_status: String,
    /// The machine the check ran against.
    pub host: String,
    /// HIPAA Security Rule citation, e.g. `164.312(a)(2)(iv)`.
    pub hipaa_control: Option<String>,
    /// Free-form details; always a JSON object (`{}` when absent).
    pub details: Value,
}

/// The appliance's own counts, which must agree with the checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Number of checks.
    pub total_checks: u64,
    /// Checks that passed.
    pub compliant: u64,
    /// Checks that failed.
    pub non_compliant: u64,
    /// Checks with a warning or error.
    pub errors: u64,
}

/// A validated format v1 bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// The appliance's identifier for this bundle, unique per site.
    pub bundle_id: String,
    /// The site whose appliance produced it.
    pub site_id: Uuid,
    /// When the checks ran, by the appliance's clock.
    pub checked_at: DateTime<Utc>,
    /// At least one check; no two share the same (check, host).
    pub checks: Vec<Check>,
    /// The appliance's counts, as it stated them.
    pub summary: Summary,
    /// Where the summary disagrees with the checks, in words. The bundle is
    /// signed evidence and is kept all the same: the checks are what the
    /// portal counts, and the disagreement is shown with the bundle.
    pub format_warnings: Vec<String>,
}

impl Bundle {
    /// The bundle's overall result: its worst check.
    pub fn result(&self) -> CheckStatus {
        // A parsed bundle always has checks; Pass is only a safe fallback for
        // hand-built values.
        self.checks.iter().map(|c| c.status).max().unwrap_or(CheckStatus::Pass)
    }

    /// Number of failed checks.
    pub fn failed_count(&self) -> u64 {
        self.count(CheckStatus::Fail)
    }

    /// Number of checks with a warning or error.
    pub fn warn_count(&self) -> u64 {
        self.count(CheckStatus::Warn)
    }

    /// Number of passed checks.
    pub fn passed_count(&self) -> u64 {
        self.count(CheckStatus::Pass)
    }

    fn count(&self, status: CheckStatus) -> u64 {
        count_u64(self.checks.iter().filter(|c| c.status == status).count())
    }
}

/// Why bytes are not a valid format v1 bundle. The message names the JSON
/// path at fault and what was expected, e.g.
/// `checks[3].status: unknown status "maybe"; expected pass, compliant, …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FormatError {
    path: String,
    message: String,
    /// Valid by the published schema but refused by a rule it cannot state
    /// (a NUL character inside details): a 422, not a 400.
    beyond_schema: bool,
}

impl FormatError {
    /// True for a bundle the schema allows but the portal cannot store.
    pub fn beyond_schema(&self) -> bool {
        self.beyond_schema
    }

    /// A problem with the value at `path`.
    fn at(path: impl Into<String>, problem: impl fmt::Display) -> Self {
        let path = path.into();
        FormatError { message: format!("{path}: {problem}"), path, beyond_schema: false }
    }

    /// A problem with the document as a whole (size, encoding, syntax).
    fn document(problem: impl Into<String>) -> Self {
        FormatError { path: String::new(), message: problem.into(), beyond_schema: false }
    }

    /// The JSON path at fault (`checks[3].status`), or "" when the problem
    /// is the document as a whole.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Parses and validates a format v1 bundle.
///
/// `now` is the portal's clock; `checked_at` may be at most
/// [`MAX_CLOCK_SKEW`] ahead of it. Re-verifying stored evidence passes a far
/// future `now` so old bundles are judged on their format alone.
pub fn parse(bytes: &[u8], now: DateTime<Utc>) -> Result<Bundle, FormatError> {
    let value = document(bytes)?;
    let top = object(&value)?;
    let bundle_id = parse_bundle_id(top)?;
    let site_id = parse_site_id(top)?;
    let checked_at = parse_checked_at(top, now)?;
    let checks = parse_checks(top)?;
    let (summary, format_warnings) = parse_summary(top, &checks)?;
    Ok(Bundle { bundle_id, site_id, checked_at, checks, summary, format_warnings })
}

/// The format warnings of stored bytes (see [`Bundle::format_warnings`]);
/// none for bytes that no longer parse (the integrity checks report those).
pub fn format_warnings_of(bytes: &[u8]) -> Vec<String> {
    parse(bytes, DateTime::<Utc>::MAX_UTC).map(|b| b.format_warnings).unwrap_or_default()
}

/// Only the bundle's `site_id`: enough to find the key that must have signed
/// it, before anything else of an unauthenticated body is looked at.
pub fn site_id_of(bytes: &[u8]) -> Result<Uuid, FormatError> {
    // No value tree is built for an unauthenticated body: everything but
    // `site_id` is skipped as it is read (serde's IgnoredAny), so a 1 MiB
    // body costs its bytes and a few small allocations, not a tree many
    // times its size. The full, strict parse comes after the signature.
    #[derive(serde::Deserialize)]
    struct SiteOnly {
        site_id: Option<Value>,
    }
    check_size(bytes)?;
    let only: SiteOnly = serde_json::from_slice(bytes).map_err(|e| {
        FormatError::document(format!("the bundle is not a valid JSON object: {e}"))
    })?;
    let mut top = Map::new();
    if let Some(site) = only.site_id {
        top.insert("site_id".to_owned(), site);
    }
    parse_site_id(&top)
}

fn check_size(bytes: &[u8]) -> Result<(), FormatError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(FormatError::document(format!(
            "the bundle is {} bytes; the limit is {MAX_BUNDLE_BYTES} bytes (1 MiB)",
            bytes.len()
        )));
    }
    Ok(())
}

/// Size, UTF-8 and (duplicate-key-free) JSON checks of the whole document.
fn document(bytes: &[u8]) -> Result<Value, FormatError> {
    check_size(bytes)?;
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_column(&bytes[..e.valid_up_to()]);
        FormatError::document(format!(
            "the bundle is not valid UTF-8 (bad byte at line {line} column {column})"
        ))
    })?;
    if text.contains("serde_json::private") {
        return Err(FormatError::document(
            "the bundle is ambiguous JSON: it uses a key reserved by the portal's JSON reader \
             (\"$serde_json::private::…\"); rename it",
        ));
    }
    let StrictValue(value) = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            // Only our duplicate-key check raises data errors here.
            FormatError::document(format!("the bundle is ambiguous JSON: {e}"))
        } else {
            FormatError::document(format!("the bundle is not valid JSON: {e}"))
        }
    })?;
    Ok(value)
}

fn object(value: &Value) -> Result<&Map<String, Value>, FormatError> {
    match value {
        Value::Object(top) => Ok(top),
        other => Err(FormatError::document(format!(
            "the bundle must be a JSON object, not {}",
            kind(other)
        ))),
    }
}

/// Whether a NUL character hides anywhere in a JSON value, keys included.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Whether `id` is a bundle id as the format allows it: 1 to
/// [`MAX_BUNDLE_ID_CHARS`] characters from A-Z, a-z, 0-9, `.`, `_`, `:` and
/// `-` (so it needs no escaping in a path or a file name).
pub fn is_bundle_id(id: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    !id.is_empty() && id.len() <= MAX_BUNDLE_ID_CHARS && id.chars().all(allowed)
}

fn parse_bundle_id(top: &Map<String, Value>) -> Result<String, FormatError> {
    const PATH: &str = "bundle_id";
    let id = required_str(top, "bundle_id", PATH)?;
    if !is_bundle_id(id) {
        return Err(FormatError::at(
            PATH,
            format!(
                "{} is not a valid bundle id; use 1 to {MAX_BUNDLE_ID_CHARS} characters \
                 from A-Z, a-z, 0-9, '.', '_', ':' and '-'",
                quoted(id)
            ),
        ));
    }
    Ok(id.to_owned())
}

fn parse_site_id(top: &Map<String, Value>) -> Result<Uuid, FormatError> {
    const PATH: &str = "site_id";
    let raw = required_str(top, "site_id", PATH)?;
    let id = Uuid::parse_str(raw).map_err(|_| {
        FormatError::at(
            PATH,
            format!(
                "{} is not a UUID; expected the site's id, e.g. \
                 \"6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b\"",
                quoted(raw)
            ),
        )
    })?;
    // One spelling per site in signed bytes: upper case, braces, `urn:uuid:`
    // and the unhyphenated form all parse, but would let the same site be
    // named several ways in evidence that is compared byte for byte.
    let canonical = id.hyphenated().to_string();
    if raw != canonical {
        return Err(FormatError::at(
            PATH,
            format!(
                "{} names the site in a form the format does not allow; write it as \"{canonical}\" \
                 (lowercase, hyphenated) and sign the bundle again",
                quoted(raw)
            ),
        ));
    }
    Ok(id)
}

fn parse_checked_at(
    top: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, FormatError> {
    const PATH: &str = "checked_at";
    let raw = required_str(top, "checked_at", PATH)?;
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| {
            FormatError::at(
                PATH,
                format!(
                    "{} is not an RFC 3339 timestamp; expected e.g. \"2026-11-24T10:00:00Z\"",
                    quoted(raw)
                ),
            )
        })?
        .with_timezone(&Utc);
    // A clock this far back is a dead CMOS battery, not real evidence.
    if at.timestamp() < EARLIEST_CHECKED_AT {
        return Err(FormatError::at(
            PATH,
            format!("{raw} is before 2000-01-01; check the appliance's clock"),
        ));
    }
    // `None` only when `now` is at the end of time: then nothing is ahead.
    if let Some(latest) = now.checked_add_signed(MAX_CLOCK_SKEW)
        && at > latest
    {
        return Err(FormatError::at(
            PATH,
            format!(
                "{raw} is more than 1 hour ahead of the portal's clock ({}); \
                 check the appliance's clock",
                now.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        ));
    }
    Ok(at)
}

fn parse_checks(top: &Map<String, Value>) -> Result<Vec<Check>, FormatError> {
    const PATH: &str = "checks";
    let value = required(top, "checks", PATH)?;
    let Value::Array(items) = value else {
        return Err(FormatError::at(PATH, format!("must be an array, not {}", kind(value))));
    };
    if items.is_empty() {
        return Err(FormatError::at(PATH, "must contain at least one check"));
    }
    if items.len() > MAX_CHECKS {
        return Err(FormatError::at(
            PATH,
            format!("has {} checks; at most {MAX_CHECKS} are allowed per bundle", items.len()),
        ));
    }

    let mut checks = Vec::with_capacity(items.len());
    // (check, host) → index of its first occurrence, to name both ends of a
    // duplicate. One bundle reports each check on each host once; two answers
    // would make the score depend on which row a query happens to see.
    let mut seen: HashMap<(&str, &str), usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let check = parse_check(i, item)?;
        let (name, host) = check_key(item);
        if let Some(first) = seen.insert((name, host), i) {
            return Err(FormatError::at(
                format!("checks[{i}]"),
                format!(
                    "repeats checks[{first}]: check {} on host {} may appear only once per bundle",
                    quoted(name),
                    quoted(host)
                ),
            ));
        }
        checks.push(check);
    }
    Ok(checks)
}

/// The (check, host) strings of an item that [`parse_check`] accepted,
/// borrowed from the document so the duplicate map needs no copies.
fn check_key(item: &Value) -> (&str, &str) {
    let field = |name| item.get(name).and_then(Value::as_str).unwrap_or_default();
    (field("check"), field("host"))
}

fn parse_check(i: usize, item: &Value) -> Result<Check, FormatError> {
    let path = |field: &str| format!("checks[{i}].{field}");
    let Value::Object(obj) = item else {
        return Err(FormatError::at(
            format!("checks[{i}]"),
            format!("must be an object, not {}", kind(item)),
        ));
    };

    let check = required_str(obj, "check", &path("check"))?;
    let name_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-');
    if check.is_empty() || check.len() > MAX_CHECK_NAME_CHARS || !check.chars().all(name_char) {
        return Err(FormatError::at(
            path("check"),
            format!(
                "{} is not a valid check name; use 1 to {MAX_CHECK_NAME_CHARS} lower-case \
                 characters from a-z, 0-9, '_', '.' and '-'",
                quoted(check)
            ),
        ));
    }

    let raw_status = required_str(obj, "status", &path("status"))?;
    let status = CheckStatus::from_word(raw_status).ok_or_else(|| {
        FormatError::at(
            path("status"),
            format!("unknown status {}; expected {STATUS_WORDS}", quoted(raw_status)),
        )
    })?;

    let host = required_str(obj, "host", &path("host"))?;
    let host_chars = host.chars().count();
    if host_chars == 0 || host_chars > MAX_HOST_CHARS {
        return Err(FormatError::at(
            path("host"),
            format!("must be 1 to {MAX_HOST_CHARS} characters long, not {host_chars}"),
        ));
    }
    if host.chars().any(char::is_control) {
        return Err(FormatError::at(
            path("host"),
            format!("{} contains a control character", quoted(host)),
        ));
    }

    let hipaa_control = match obj.get("hipaa_control") {
        None | Some(Value::Null) => None,
        Some(Value::String(control)) => {
            let chars = control.chars().count();
            if chars == 0 || chars > MAX_HIPAA_CONTROL_CHARS {
                return Err(FormatError::at(
                    path("hipaa_control"),
                    format!(
                        "must be 1 to {MAX_HIPAA_CONTROL_CHARS} characters long, not {chars} \
                         (leave it out or use null when there is none)"
                    ),
                ));
            }
            if control.chars().any(char::is_control) {
                return Err(FormatError::at(
                    path("hipaa_control"),
                    format!("{} contains a control character", quoted(control)),
                ));
            }
            Some(control.clone())
        }
        Some(other) => {
            return Err(FormatError::at(
                path("hipaa_control"),
                format!("must be a string or null, not {}", kind(other)),
            ));
        }
    };

    let details = match obj.get("details") {
        None => Value::Object(Map::new()),
        Some(details @ Value::Object(_)) if has_nul(details) => {
            // PostgreSQL's jsonb cannot store \u0000; the bytes are signed,
            // so the only honest answer is to refuse the bundle.
            return Err(FormatError {
                beyond_schema: true,
                ..FormatError::at(path("details"), "must not contain NUL characters (\\u0000)")
            });
        }
        Some(details @ Value::Object(_)) => details.clone(),
        Some(other) => {
            return Err(FormatError::at(
                path("details"),
                format!("must be an object, not {} (leave it out or use {{}})", kind(other)),
            ));
        }
    };

    Ok(Check {
        check: check.to_owned(),
        status,
        raw_status: raw_status.to_owned(),
        host: host.to_owned(),
        hipaa_control,
        details,
    })
}

/// The summary as stated, and where its counts disagree with the checks.
/// Only its shape can make a bundle invalid: the counts repeat what the
/// checks say, so a wrong count is a warning, never a reason to refuse
/// signed evidence.
fn parse_summary(
    top: &Map<String, Value>,
    checks: &[Check],
) -> Result<(Summary, Vec<String>), FormatError> {
    let value = required(top, "summary", "summary")?;
    let Value::Object(obj) = value else {
        return Err(FormatError::at("summary", format!("must be an object, not {}", kind(value))));
    };
    let count = |field: &str| -> Result<u64, FormatError> {
        let path = format!("summary.{field}");
        let value = required(obj, field, &path)?;
        value.as_u64().ok_or_else(|| {
            FormatError::at(path, format!("must be a non-negative whole number, not {value}"))
        })
    };
    let summary = Summary {
        total_checks: count("total_checks")?,
        compliant: count("compliant")?,
        non_compliant: count("non_compliant")?,
        errors: count("errors")?,
    };

    let of = |status| count_u64(checks.iter().filter(|c| c.status == status).count());
    let expected = [
        ("total_checks", summary.total_checks, count_u64(checks.len()), "checks"),
        ("compliant", summary.compliant, of(CheckStatus::Pass), "passing checks"),
        ("non_compliant", summary.non_compliant, of(CheckStatus::Fail), "failing checks"),
        ("errors", summary.errors, of(CheckStatus::Warn), "checks with a warning or error"),
    ];
    let warnings = expected
        .into_iter()
        .filter(|(_, stated, actual, _)| stated != actual)
        .map(|(field, stated, actual, what)| {
            format!(
                "summary.{field} says {stated} but the bundle has {actual} {what}; the portal \
                 counts the checks"
            )
        })
        .collect();
    Ok((summary, warnings))
}

fn required<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<&'a Value, FormatError> {
    obj.get(field).ok_or_else(|| FormatError::at(path, "is required but missing"))
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<&'a str, FormatError> {
    let value = required(obj, field, path)?;
    value
        .as_str()
        .ok_or_else(|| FormatError::at(path, format!("must be a string, not {}", kind(value))))
}

/// What a JSON value is, for "must be X, not Y" messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Quotes input for an error message, escaping control characters and
/// cutting it short so a hostile bundle cannot inflate our error responses.
fn quoted(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// 1-based line and column just after `prefix`, counted the way serde_json
/// counts them, so UTF-8 and JSON errors point at positions the same way.
fn line_column(prefix: &[u8]) -> (usize, usize) {
    let line = 1 + prefix.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + prefix.iter().rev().take_while(|&&b| b != b'\n').count();
    (line, column)
}

fn count_u64(n: usize) -> u64 {
    // usize is at most 64 bits on every platform Rust supports.
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A JSON value read with one extra rule: no object may repeat a key.
///
/// serde_json silently keeps the last of repeated keys, but other parsers
/// keep the first. A signed bundle must mean one thing to every reader, or an
/// appliance could sign bytes that an auditor's tool reads differently from
/// the portal; so such bundles are refused.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

/// The key serde_json's `arbitrary_precision` uses to pass a number's exact
/// digits through a visitor. Bundles that spell it out as a key are refused
/// ([`parse`]), so a number and an object can never be confused.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if obj.is_empty() && key == NUMBER_TOKEN {
                // serde_json (arbitrary_precision) hands a number over as a
                // one-key map holding its exact digits; keep every digit.
                let digits: String = map.next_value()?;
                let number: serde_json::Number =
                    serde_json::from_str(&digits).map_err(de::Error::custom)?;
                return Ok(Value::Number(number));
            }
            if obj.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key {} appears twice in one object",
                    quoted(&key)
                )));
            }
            let StrictValue(value) = map.next_value()?;
            obj.insert(key, value);
        }
        Ok(Value::Object(obj))
    }
}

#[cfg(test)]
mod nul_tests {
    use super::*;

    #[test]
    fn numbers_keep_their_digits_and_the_reader_s_reserved_key_is_refused() {
        let site = Uuid::nil();
        let raw = |details: &str| {
            format!(
                r#"{{"bundle_id":"B-1","site_id":"{site}","checked_at":"2026-01-01T00:00:00Z","checks":[{{"check":"x","status":"pass","host":"h","details":{details}}}],"summary":{{"total_checks":1,"compliant":1,"non_compliant":0,"errors":0}}}}"#
            )
        };
        let now = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z").unwrap().to_utc();
        let b = parse(
            raw(r#"{"r":0.1000000000000000055511151231257827,"n":123456789012345678901234567890}"#)
                .as_bytes(),
            now,
        )
        .unwrap();
        let d = &b.checks[0].details;
        assert!(d["r"].is_number() && d["n"].is_number(), "{d}");
        assert_eq!(
            d.to_string(),
            r#"{"n":123456789012345678901234567890,"r":0.1000000000000000055511151231257827}"#
        );
        let err =
            parse(raw(r#"{"$serde_json::private::Number":"1"}"#).as_bytes(), now).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
    }

    #[test]
    fn nul_characters_in_details_are_refused_not_stored() {
        let site = Uuid::nil();
        let doc = format!(
            r#"{{"bundle_id":"B-1","site_id":"{site}","checked_at":"2026-01-01T00:00:00Z","checks":[{{"check":"x","status":"pass","host":"h","details":{{"k":"a\u0000b"}}}}],"summary":{{"total_checks":1,"compliant":1,"non_compliant":0,"errors":0}}}}"#
        );
        let err = parse(doc.as_bytes(), Utc::now()).unwrap_err().to_string();
        assert!(err.contains("checks[0].details") && err.contains("NUL"), "{err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    const SITE: &str = "6f1c2d3e-4b5a-4978-8a9b-0c1d2e3f4a5b";

    /// A change to the sample bundle that should make it invalid.
    type Edit = Box<dyn FnOnce(&mut Value)>;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 10, 30, 0).unwrap()
    }

    fn sample() -> Value {
        json!({
            "bundle_id": "CB-2026-11-24-1a2b3c4d",
            "site_id": SITE,
            "checked_at": "2026-11-24T10:00:00Z",
            "checks": [
                {"check": "bitlocker_status", "status": "pass", "host": "FRONTDESK-01",
                 "hipaa_control": "164.312(a)(2)(iv)", "details": {"volumes": 2}},
                {"check": "firewall_enabled", "status": "NON_COMPLIANT", "host": "FRONTDESK-01"},
                {"check": "backup.last_run", "status": "Warning", "host": "NAS",
                 "hipaa_control": null},
                {"check": "antivirus", "status": "compliant", "host": "NAS"}
            ],
            "summary": {"total_checks": 4, "compliant": 2, "non_compliant": 1, "errors": 1}
        })
    }

    fn parse_value(v: &Value) -> Result<Bundle, FormatError> {
        parse(&serde_json::to_vec(v).unwrap(), now())
    }

    /// Parses `v` after `edit`, expecting an error, and returns its message.
    fn error_after(edit: impl FnOnce(&mut Value)) -> String {
        let mut v = sample();
        edit(&mut v);
        parse_value(&v).expect_err("bundle should be rejected").to_string()
    }

    #[test]
    fn parses_the_design_example() {
        let raw = format!(
            r#"{{"bundle_id":"CB-2026-11-24-1a2b3c4d","site_id":"{SITE}",
 "checked_at":"2026-11-24T10:00:00Z",
 "checks":[{{"check":"bitlocker_status","status":"pass","host":"FRONTDESK-01",
            "hipaa_control":"164.312(a)(2)(iv)","details":{{}}}}],
 "summary":{{"total_checks":1,"compliant":1,"non_compliant":0,"errors":0}}}}"#
        );
        let b = parse(raw.as_bytes(), now()).unwrap();
        assert_eq!(b.bundle_id, "CB-2026-11-24-1a2b3c4d");
        assert_eq!(b.site_id, Uuid::parse_str(SITE).unwrap());
        assert_eq!(b.checked_at, Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap());
        assert_eq!(b.checks.len(), 1);
        assert_eq!(b.checks[0].hipaa_control.as_deref(), Some("164.312(a)(2)(iv)"));
        assert_eq!(b.result(), CheckStatus::Pass);
    }

    #[test]
    fn normalises_statuses_and_keeps_the_raw_word() {
        let b = parse_value(&sample()).unwrap();
        let statuses: Vec<_> = b.checks.iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [CheckStatus::Pass, CheckStatus::Fail, CheckStatus::Warn, CheckStatus::Pass]
        );
        assert_eq!(b.checks[1].raw_status, "NON_COMPLIANT");
        assert_eq!(b.checks[1].details, json!({}));
        assert_eq!(b.checks[2].hipaa_control, None);
        assert_eq!(b.checks[0].details, json!({"volumes": 2}));
        assert_eq!(b.result(), CheckStatus::Fail);
        assert_eq!((b.passed_count(), b.warn_count(), b.failed_count()), (2, 1, 1));
        assert_eq!(
            b.summary,
            Summary { total_checks: 4, compliant: 2, non_compliant: 1, errors: 1 }
        );
    }

    #[test]
    fn status_words() {
        for (word, status) in [
            ("pass", CheckStatus::Pass),
            ("Compliant", CheckStatus::Pass),
            ("FAIL", CheckStatus::Fail),
            ("non_compliant", CheckStatus::Fail),
            ("warn", CheckStatus::Warn),
            ("WARNING", CheckStatus::Warn),
            ("error", CheckStatus::Warn),
        ] {
            assert_eq!(CheckStatus::from_word(word), Some(status), "{word}");
        }
        for word in ["", "ok", "passed", "non-compliant", " pass"] {
            assert_eq!(CheckStatus::from_word(word), None, "{word:?}");
        }
        for status in [CheckStatus::Pass, CheckStatus::Warn, CheckStatus::Fail] {
            assert_eq!(status.as_str().parse::<CheckStatus>(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        assert!("compliant".parse::<CheckStatus>().is_err());
        assert!(CheckStatus::Fail > CheckStatus::Warn && CheckStatus::Warn > CheckStatus::Pass);
    }

    #[test]
    fn unknown_status_names_its_path() {
        let msg = error_after(|v| v["checks"][3]["status"] = json!("maybe"));
        assert_eq!(
            msg,
            "checks[3].status: unknown status \"maybe\"; expected pass, compliant, fail, \
             non_compliant, warn, warning or error"
        );
    }

    #[test]
    fn rejects_documents_that_are_not_json_objects() {
        let msg = parse(b"{\"bundle_id\": }", now()).unwrap_err().to_string();
        assert!(
            msg.starts_with("the bundle is not valid JSON:") && msg.contains("line 1"),
            "{msg}"
        );
        let msg = parse(b"[1, 2]", now()).unwrap_err().to_string();
        assert_eq!(msg, "the bundle must be a JSON object, not an array");
        let msg = parse(b"{\n\"a\": \"\xff\"}", now()).unwrap_err().to_string();
        assert_eq!(msg, "the bundle is not valid UTF-8 (bad byte at line 2 column 7)");
        let msg = parse(b"{} trailing", now()).unwrap_err().to_string();
        assert!(msg.contains("trailing characters"), "{msg}");
        let msg = parse(b"", now()).unwrap_err().to_string();
        assert!(msg.starts_with("the bundle is not valid JSON:"), "{msg}");
    }

    #[test]
    fn rejects_repeated_keys() {
        let raw = br#"{"bundle_id":"a","bundle_id":"b"}"#;
        let err = parse(raw, now()).unwrap_err();
        assert!(err.to_string().contains("\"bundle_id\" appears twice"), "{err}");
        assert_eq!(err.path(), "");
    }

    #[test]
    fn rejects_oversized_bundles() {
        let mut raw = serde_json::to_vec(&sample()).unwrap();
        raw.resize(MAX_BUNDLE_BYTES + 1, b' ');
        let msg = parse(&raw, now()).unwrap_err().to_string();
        assert!(msg.contains("limit is 1048576 bytes"), "{msg}");
    }

    #[test]
    fn top_level_fields() {
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| _ = v.as_object_mut().unwrap().remove("bundle_id")),
                "bundle_id: is required",
            ),
            (Box::new(|v| v["bundle_id"] = json!(7)), "bundle_id: must be a string, not a number"),
            (Box::new(|v| v["bundle_id"] = json!("")), "bundle_id: \"\" is not a valid bundle id"),
            (Box::new(|v| v["bundle_id"] = json!("CB 1")), "bundle_id: \"CB 1\" is not a valid"),
            (Box::new(|v| v["bundle_id"] = json!("x".repeat(129))), "bundle_id: \"xxx"),
            (Box::new(|v| v["site_id"] = json!("site-1")), "site_id: \"site-1\" is not a UUID"),
            (
                Box::new(|v| v["site_id"] = json!(SITE.to_uppercase())),
                "(lowercase, hyphenated) and sign the bundle again",
            ),
            (
                Box::new(|v| v["site_id"] = json!(format!("{{{SITE}}}"))),
                "a form the format does not allow",
            ),
            (
                Box::new(|v| v["site_id"] = json!(format!("urn:uuid:{SITE}"))),
                "a form the format does not allow",
            ),
            (
                Box::new(|v| v["site_id"] = json!(SITE.replace('-', ""))),
                "a form the format does not allow",
            ),
            (
                Box::new(|v| v["checked_at"] = json!("yesterday")),
                "checked_at: \"yesterday\" is not an RFC 3339",
            ),
            (Box::new(|v| v["checked_at"] = json!("1999-12-31T23:59:59Z")), "is before 2000-01-01"),
            (
                Box::new(|v| v["checked_at"] = json!("2026-11-24T11:30:01Z")),
                "checked_at: 2026-11-24T11:30:01Z is more than 1 hour ahead",
            ),
            (Box::new(|v| v["checks"] = json!([])), "checks: must contain at least one check"),
            (Box::new(|v| v["checks"] = json!({})), "checks: must be an array, not an object"),
            (
                Box::new(|v| _ = v.as_object_mut().unwrap().remove("summary")),
                "summary: is required",
            ),
            (Box::new(|v| v["summary"] = json!([])), "summary: must be an object, not an array"),
        ];
        for (edit, expected) in cases {
            let msg = error_after(edit);
            assert!(msg.starts_with(expected) || msg.contains(expected), "{msg:?} !~ {expected:?}");
        }
        // Long input is cut short in messages.
        let msg = error_after(|v| v["bundle_id"] = json!("x".repeat(500)));
        assert!(msg.len() < 250, "{msg}");
    }

    #[test]
    fn clock_skew_boundary_and_offsets() {
        let mut v = sample();
        v["checked_at"] = json!("2026-11-24T11:30:00Z");
        assert!(parse_value(&v).is_ok(), "exactly one hour ahead is tolerated");
        v["checked_at"] = json!("2026-11-24T12:00:00+02:00");
        let b = parse_value(&v).unwrap();
        assert_eq!(b.checked_at, Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap());
        v["checked_at"] = json!("2000-01-01T00:00:00Z");
        assert!(parse_value(&v).is_ok());
        // Far-future `now`, as chain verification uses, must not overflow.
        assert!(parse(&serde_json::to_vec(&sample()).unwrap(), DateTime::<Utc>::MAX_UTC).is_ok());
    }

    #[test]
    fn earliest_checked_at_is_2000() {
        let y2k = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(y2k.timestamp(), EARLIEST_CHECKED_AT);
    }

    #[test]
    fn too_many_checks() {
        let msg = error_after(|v| {
            let checks: Vec<Value> = (0..=MAX_CHECKS)
                .map(|i| json!({"check": "c", "status": "pass", "host": format!("h{i}")}))
                .collect();
            v["checks"] = Value::Array(checks);
        });
        assert_eq!(msg, "checks: has 10001 checks; at most 10000 are allowed per bundle");
    }

    #[test]
    fn per_check_fields() {
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| v["checks"][1] = json!("x")),
                "checks[1]: must be an object, not a string",
            ),
            (
                Box::new(|v| v["checks"][0]["check"] = json!("BitLocker")),
                "checks[0].check: \"BitLocker\" is not a valid check name; use 1 to 100 lower-case",
            ),
            (
                Box::new(|v| v["checks"][0]["check"] = json!("")),
                "checks[0].check: \"\" is not a valid",
            ),
            (Box::new(|v| v["checks"][0]["check"] = json!("a".repeat(101))), "checks[0].check:"),
            (
                Box::new(|v| _ = v["checks"][2].as_object_mut().unwrap().remove("check")),
                "checks[2].check: is required but missing",
            ),
            (
                Box::new(|v| v["checks"][0]["status"] = json!(true)),
                "checks[0].status: must be a string, not a boolean",
            ),
            (
                Box::new(|v| v["checks"][0]["host"] = json!("")),
                "checks[0].host: must be 1 to 255 characters long, not 0",
            ),
            (
                Box::new(|v| v["checks"][0]["host"] = json!("h".repeat(256))),
                "checks[0].host: must be 1 to 255 characters long, not 256",
            ),
            (
                Box::new(|v| v["checks"][0]["host"] = json!("PC\n01")),
                "checks[0].host: \"PC\\n01\" contains a control character",
            ),
            (
                Box::new(|v| v["checks"][0]["hipaa_control"] = json!("")),
                "checks[0].hipaa_control: must be 1 to 64",
            ),
            (
                Box::new(|v| v["checks"][0]["hipaa_control"] = json!(164)),
                "checks[0].hipaa_control: must be a string or null, not a number",
            ),
            (
                Box::new(|v| v["checks"][0]["details"] = json!([1])),
                "checks[0].details: must be an object, not an array",
            ),
            (
                Box::new(|v| v["checks"][0]["details"] = json!(null)),
                "checks[0].details: must be an object, not null",
            ),
        ];
        for (edit, expected) in cases {
            let msg = error_after(edit);
            assert!(msg.starts_with(expected), "{msg:?} !~ {expected:?}");
        }
        // Host length counts characters, not bytes.
        let mut v = sample();
        v["checks"][0]["host"] = json!("é".repeat(255));
        assert!(parse_value(&v).is_ok());
    }

    #[test]
    fn duplicate_check_and_host() {
        let msg = error_after(|v| v["checks"][3]["check"] = json!("backup.last_run"));
        assert_eq!(
            msg,
            "checks[3]: repeats checks[2]: check \"backup.last_run\" on host \"NAS\" may appear \
             only once per bundle"
        );
        // The same check on another host is fine.
        let mut v = sample();
        v["checks"][3]["check"] = json!("bitlocker_status");
        assert!(parse_value(&v).is_ok());
    }

    #[test]
    fn a_summary_that_disagrees_with_the_checks_is_a_warning_not_an_error() {
        let warnings_after = |change: &dyn Fn(&mut Value)| {
            let mut v = sample();
            change(&mut v);
            parse_value(&v).expect("still a valid bundle").format_warnings
        };
        assert_eq!(parse_value(&sample()).unwrap().format_warnings, Vec::<String>::new());
        assert_eq!(
            warnings_after(&|v| v["summary"]["total_checks"] = json!(5)),
            [
                "summary.total_checks says 5 but the bundle has 4 checks; the portal counts the checks"
            ]
        );
        assert_eq!(
            warnings_after(&|v| v["summary"]["compliant"] = json!(3)),
            [
                "summary.compliant says 3 but the bundle has 2 passing checks; the portal counts the checks"
            ]
        );
        let w = warnings_after(&|v| v["summary"]["non_compliant"] = json!(0));
        assert!(
            w[0].starts_with("summary.non_compliant says 0 but the bundle has 1 failing"),
            "{w:?}"
        );
        // A warning counted as neither compliant nor an error.
        let w = warnings_after(&|v| {
            v["summary"]["errors"] = json!(0);
        });
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("summary.errors says 0 but"), "{w:?}");
        let bundle = {
            let mut v = sample();
            v["summary"]["errors"] = json!(7);
            parse_value(&v).unwrap()
        };
        assert_eq!(bundle.summary.errors, 7, "kept as stated");
        assert_eq!(bundle.warn_count(), 1, "the checks are what counts");
        // Its shape still matters.
        let msg = error_after(|v| v["summary"]["errors"] = json!(-1));
        assert_eq!(msg, "summary.errors: must be a non-negative whole number, not -1");
        let msg = error_after(|v| v["summary"]["errors"] = json!(1.0));
        assert_eq!(msg, "summary.errors: must be a non-negative whole number, not 1.0");
        let msg = error_after(|v| _ = v["summary"].as_object_mut().unwrap().remove("compliant"));
        assert_eq!(msg, "summary.compliant: is required but missing");
    }

    #[test]
    fn unknown_fields_are_allowed() {
        let mut v = sample();
        v["format"] = json!(1);
        v["appliance"] = json!({"version": "2.4"});
        v["checks"][0]["duration_ms"] = json!(12);
        v["summary"]["skipped"] = json!(0);
        assert!(parse_value(&v).is_ok());
    }
}
