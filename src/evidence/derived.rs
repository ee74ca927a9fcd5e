//! The rows pages and reports are built from (a bundle's result, counts
//! and check rows), re-derived from its signed bytes, and the differences
//! from what is stored, in words a person understands. Verification uses
//! this so that a row changed in the database is found even though the
//! bytes, hashes and signatures are untouched.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;

use super::bundle;

/// One check row.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    pub check_type: String,
    pub host: String,
    pub hipaa_control: Option<String>,
    pub status: String,
    pub raw_status: String,
    pub details: Value,
    pub checked_at: DateTime<Utc>,
}

/// A bundle's derived rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub checked_at: DateTime<Utc>,
    pub result: String,
    pub checks_count: i64,
    pub failed_checks: i64,
    pub warn_checks: i64,
    /// Sorted by (check, host).
    pub checks: Vec<CheckRow>,
}

/// The rows ingest stores for these bytes.
pub fn derive(raw: &[u8]) -> Result<Rows, String> {
    // Judged on format alone: a stored bundle's time was checked when it came.
    let mut parsed = bundle::parse(raw, DateTime::<Utc>::MAX_UTC).map_err(|e| e.to_string())?;
    // PostgreSQL keeps microseconds (the driver truncates): so is it stored.
    parsed.checked_at = parsed.checked_at.trunc_subsecs(6);
    let mut checks: Vec<CheckRow> = parsed
        .checks
        .iter()
        .map(|c| CheckRow {
            check_type: c.check.clone(),
            host: c.host.clone(),
            hipaa_control: c.hipaa_control.clone(),
            status: c.status.as_str().to_owned(),
            raw_status: c.raw_status.clone(),
            details: c.details.clone(),
            checked_at: parsed.checked_at,
        })
        .collect();
    sort(&mut checks);
    Ok(Rows {
        checked_at: parsed.checked_at,
        result: parsed.result().as_str().to_owned(),
        checks_count: parsed.checks.len() as i64,
        failed_checks: parsed.failed_count() as i64,
        warn_checks: parsed.warn_count() as i64,
        checks,
    })
}

pub fn sort(checks: &mut [CheckRow]) {
    checks.sort_by(|a, b| (&a.check_type, &a.host).cmp(&(&b.check_type, &b.host)));
}

/// Every way `stored` differs from what the signed bytes say.
pub fn differences(signed: &Rows, stored: &Rows) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, s: String, d: String| {
        if s != d {
            out.push(format!("its {name} is stored as {d} but the signed bundle says {s}"));
        }
    };
    field("result", signed.result.clone(), stored.result.clone());
    field("check time", signed.checked_at.to_rfc3339(), stored.checked_at.to_rfc3339());
    field("check count", signed.checks_count.to_string(), stored.checks_count.to_string());
    field("failed count", signed.failed_checks.to_string(), stored.failed_checks.to_string());
    field("warning count", signed.warn_checks.to_string(), stored.warn_checks.to_string());
    let key = |c: &CheckRow| (c.check_type.clone(), c.host.clone());
    for s in &signed.checks {
        match stored.checks.iter().find(|d| key(d) == key(s)) {
            None => out.push(format!(
                "check {} on {} is in the signed bundle but missing from the stored rows",
                s.check_type, s.host
            )),
            Some(d) if d != s => {
                let what = if d.status != s.status {
                    format!("is stored as {} but the signed bundle says {}", d.status, s.status)
                } else if d.raw_status != s.raw_status {
                    format!("has status word {:?} stored, {:?} signed", d.raw_status, s.raw_status)
                } else if d.hipaa_control != s.hipaa_control {
                    "cites another HIPAA control than the signed bundle".to_owned()
                } else if d.details != s.details {
                    "has other details than the signed bundle".to_owned()
                } else {
                    "has another check time than the signed bundle".to_owned()
                };
                out.push(format!("check {} on {} {what}", s.check_type, s.host));
            }
            Some(_) => {}
        }
    }
    for d in &stored.checks {
        if !signed.checks.iter().any(|s| key(s) == key(d)) {
            out.push(format!(
                "a stored row for check {} on {} is not in the signed bundle",
                d.check_type, d.host
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = r#"{"bundle_id":"B-1","site_id":"5a0f9e2c-8d1b-4c3e-9f7a-2b6d4e8c1a3f","checked_at":"2026-11-20T10:00:00Z","checks":[{"check":"bitlocker_status","status":"fail","host":"XRAY-01","hipaa_control":"164.312(a)(2)(iv)"},{"check":"ntp_sync","status":"pass","host":"SRV"}],"summary":{"total_checks":2,"compliant":1,"non_compliant":1,"errors":0}}"#;

    #[test]
    fn a_changed_status_result_or_missing_row_is_named() {
        let signed = derive(RAW.as_bytes()).unwrap();
        assert_eq!(signed.result, "fail");
        assert!(differences(&signed, &signed).is_empty());

        let mut stored = signed.clone();
        stored.result = "pass".into();
        stored.checks[0].status = "pass".into();
        let found = differences(&signed, &stored);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("result is stored as pass but the signed bundle says fail"));
        assert!(found[1].contains("check bitlocker_status on XRAY-01 is stored as pass"));

        let mut stored = signed.clone();
        stored.checks.remove(1);
        let found = differences(&signed, &stored);
        assert!(found[0].contains("check ntp_sync on SRV is in the signed bundle but missing"));
    }
}
