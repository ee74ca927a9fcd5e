//! Copies of the log that leave the portal: the monthly PDF and email
//! print the month-end checkpoint verbatim, the verifier key and its
//! consistency with last month's; a finished report is a leaf of the log.
//! Tried as an auditor would: the checkpoint read back from the PDF
//! (pdftotext) and from the email verifies with Go's sumdb/note.

use chrono::{Duration, Utc};
use poem::http::StatusCode;
use portal::evidence::integrator;
use portal::reports::Month;
use serde_json::json;

use crate::appliances::{create_site, ingest};
use crate::helpers::{Expect, TempDir};

/// The PDF's text as `pdftotext -layout` reads it.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = TempDir::new();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("run pdftotext (apt-get install poppler-utils)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The checkpoint as printed: the lines after "Checkpoint (verbatim)" up
/// to the consistency sentence, trimmed, long lines joined at their `\`.
fn printed_checkpoint(text: &str) -> String {
    let after = text.split("Checkpoint (verbatim)").nth(1).expect("the checkpoint heading");
    let mut out = String::new();
    let mut blank_seen = false;
    for line in after.lines().map(str::trim) {
        if line.starts_with("Consistent with")
            || line.starts_with("No checkpoint closes")
            || line.starts_with("NOT")
        {
            break;
        }
        if line.is_empty() {
            // The note's own blank line, between text and signatures.
            if !out.is_empty() && !blank_seen {
                out.push('\n');
                blank_seen = true;
            }
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => out.push_str(part),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[tokio::test]
async fn the_monthly_pdf_and_email_carry_the_month_end_checkpoint_go_verifies() {
    let smtp = crate::smtp_server::SmtpServer::start(crate::smtp_server::Security::Plain).await;
    let app = crate::helpers::spawn_app_with(|c| c.smtp = Some(smtp.config())).await;
    let p = app.practice("Oak Street Clinic").await;
    let site = create_site(&app, p.org_id, "Main Office").await;
    // The month before this one, and checkpoints signed as the integrator
    // would have around its start and end.
    let month = Month::of(Utc::now()).prev();
    let checks = [("bitlocker_status", "pass", "FRONTDESK-01", Some("164.312(a)(2)(iv)"))];
    ingest(&app, &site, "M-1", month.start() + Duration::days(3), &checks).await;
    let pass = async |at| integrator::catch_up(&app.state, p.org_id, at).await.unwrap();
    pass(month.start() - Duration::hours(1)).await.signed.expect("a first checkpoint");
    let closing_previous = pass(month.start() + Duration::seconds(5)).await.signed.unwrap();
    assert_eq!(closing_previous.month_end, Some(month.prev().to_string()));
    ingest(&app, &site, "M-2", month.start() + Duration::days(9), &checks).await;
    pass(month.end() - Duration::hours(1)).await.signed.expect("grown");
    let closing = pass(month.end() + Duration::seconds(5)).await.signed.unwrap();
    assert_eq!((closing.month_end.clone(), closing.size), (Some(month.to_string()), 3));

    let pdf = app
        .get_as(&p.owner, &format!("/api/client/reports/monthly/{month}"))
        .expect_status(StatusCode::OK)
        .await;
    let text = pdf_text(&pdf.body);
    assert!(text.contains("Evidence log: month-end checkpoint"), "{text}");
    assert!(
        text.contains(&format!(
            "Consistent with the checkpoint that closed {}",
            month.prev().label()
        )),
        "{text}"
    );
    let printed = printed_checkpoint(&text);
    assert_eq!(printed, closing.note, "the PDF prints the checkpoint verbatim");
    let key = app.get_as(&p.viewer, "/api/client/log/key").expect_json(StatusCode::OK).await;
    let vkey = key["vkey"].as_str().unwrap();
    assert!(text.replace(char::is_whitespace, "").contains(vkey), "the verifier key is printed");
    let (ok, out) = crate::log_interop::go_verify(&json!({ "vkey": vkey, "checkpoint": printed }));
    assert!(ok, "Go: {out}");

    // The finished report is a leaf of the log: its month and PDF hash.
    let db = app.db_client().await;
    let leaves = portal::db::evidence_log::leaves(&**db, p.org_id, 0, 10).await.unwrap();
    let report = leaves.iter().find(|l| l.kind == "report").expect("a report leaf");
    let expected = format!(
        "osiriscare.report/v1\nmonth {month}\nsha256 {}\n",
        hex::encode(portal::reports::sha256(&pdf.body))
    );
    assert_eq!(String::from_utf8(report.data.clone()).unwrap(), expected);
    drop(db);

    // The monthly email, sent by the scheduler, carries the same copy.
    let now = month.end() + Duration::hours(3);
    portal::reports::scheduler::run_once(&app.state, now).await.unwrap();
    let db = app.db_client().await;
    let body: String = db
        .query_one(
            "SELECT body_text FROM email_outbox WHERE kind = 'monthly_report' AND to_address = $1",
            &[&p.owner.email],
        )
        .await
        .unwrap()
        .get(0);
    assert!(body.contains(&closing.note), "{body}");
    assert!(body.contains(vkey), "{body}");
    assert!(body.contains("Consistent with the checkpoint that closed"), "{body}");
}
