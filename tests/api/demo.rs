use std::os::unix::fs::PermissionsExt;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use uuid::Uuid;

use crate::helpers::{Expect, TempDir, TestDb};

#[tokio::test]
async fn the_demo_seeds_a_practice_with_three_sites_and_three_roles_once() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let dir = TempDir::new();
    assert!(portal::demo::seed(&pool, dir.path()).await.unwrap().created);
    assert!(
        !portal::demo::seed(&pool, dir.path()).await.unwrap().created,
        "a second run changes nothing"
    );

    let client = db.client().await;
    let counts: (i64, i64) = client
        .query_one(
            "SELECT (SELECT count(*) FROM partners), (SELECT count(*) FROM client_orgs)",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(counts, (3, 1), "the practice's partner and two it could move to");
    let roles: Vec<String> = client
        .query("SELECT role FROM client_users ORDER BY role", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(roles, ["admin", "owner", "viewer"]);

    let sites = client
        .query("SELECT id, name, agent_public_key FROM sites ORDER BY name", &[])
        .await
        .unwrap();
    assert_eq!(sites.len(), 3);
    for site in sites {
        let id: Uuid = site.get(0);
        let path = dir.path().join("demo-keys").join(format!("{id}.pem"));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let key = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            site.get::<_, Vec<u8>>(2),
            key.verifying_key().as_bytes().to_vec(),
            "{}",
            site.get::<_, String>(1)
        );
    }
}

#[tokio::test]
async fn the_demo_leaves_a_database_with_practices_alone() {
    let db = TestDb::new().await;
    let client = db.client().await;
    portal::db::orgs::insert_org(&client, "Existing Practice", "x@x.example", None).await.unwrap();
    let dir = TempDir::new();
    assert!(!portal::demo::seed(&db.pool(), dir.path()).await.unwrap().created);
    let n: i64 = client.query_one("SELECT count(*) FROM sites", &[]).await.unwrap().get(0);
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_seeds_ninety_days_of_verifiable_evidence_once() {
    let app = crate::helpers::spawn_app().await;
    let dir = TempDir::new();
    portal::demo::seed(&app.pool, dir.path()).await.unwrap();
    let stored = portal::demo::seed_evidence(&app.state, dir.path()).await.unwrap();
    let per_site = (portal::demo::DAYS * portal::demo::BUNDLES_PER_DAY) as usize;
    assert_eq!(stored, 3 * per_site);
    assert_eq!(
        portal::demo::seed_evidence(&app.state, dir.path()).await.unwrap(),
        0,
        "seeded once"
    );

    let db = app.db_client().await;
    for site in db.query("SELECT id FROM sites", &[]).await.unwrap() {
        let outcome =
            portal::evidence::verify::verify_site(&**db, site.get(0), None, |_| {}).await.unwrap();
        assert!(outcome.valid(), "{:?}", outcome.broken);
        assert_eq!(outcome.length as usize, per_site);
    }
    // The practice verifies against its evidence log too: every stored row
    // re-derived from the signed bytes, every receive time the logged one.
    // (Seeding used to redate arrivals after logging them, and the demo
    // practice failed its own verification with 1,080 problems.)
    let org: uuid::Uuid = db
        .query_one("SELECT id FROM client_orgs WHERE name = $1", &[&portal::demo::PRACTICE])
        .await
        .unwrap()
        .get(0);
    let job = portal::evidence::integrity::verify_now(&app.state, org, None).await.unwrap();
    let reasons: Vec<&str> = job.problems.iter().take(5).map(|p| p.reason.as_str()).collect();
    assert_eq!((job.valid, job.problems.len()), (Some(true), 0), "{reasons:#?}");
    // Each bundle arrived minutes after it was made, as from an appliance
    // online all along: past months have no late evidence.
    let late: i64 = db
        .query_one(
            "SELECT count(*) FROM evidence_bundles
              WHERE received_at < checked_at OR received_at > checked_at + interval '10 minutes'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(late, 0, "arrivals follow the checks");
    let kinds: Vec<String> = db
        .query("SELECT DISTINCT type FROM client_notifications ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        kinds,
        ["check_failed", "check_resolved", "check_warning"],
        "a month with failures and recoveries"
    );
    let alerts: i64 = db
        .query_one("SELECT count(*) FROM email_outbox WHERE kind = 'critical_alert'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(alerts <= 4, "only the last day's failures are emailed, not the backlog: {alerts}");
    let failing: i64 = db
        .query_one("SELECT count(*) FROM check_states WHERE last_status = 'fail'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(failing >= 2, "open problems right now for the dashboard to show");

    // With controls failing, neither the dashboard nor last month's PDF
    // calls the practice compliant, however many checks pass.
    let owner = db
        .query_one("SELECT id, email, client_org_id FROM client_users WHERE role = 'owner'", &[])
        .await
        .unwrap();
    let (owner_id, email, org_id): (uuid::Uuid, String, uuid::Uuid) =
        (owner.get(0), owner.get(1), owner.get(2));
    let session = app.sign_in(owner_id, &email, org_id).await;
    let page = app
        .get_as(&session, portal::paths::DASHBOARD)
        .expect_text(poem::http::StatusCode::OK)
        .await;
    let headline = page.split("id=\"control-standing\"").nth(1).unwrap();
    let headline = &headline[..headline.find("id=\"compliance-score\"").unwrap()];
    assert!(headline.contains("Needs action") && headline.contains("need"), "{headline}");
    assert!(!page.contains("Compliant") && !headline.contains("All safeguards met"));
    // The dashboard says what to fix first, and how: the demo's three
    // open failures, the longest-standing first, before anything else.
    let todo = page.split("id=\"todo\"").nth(1).expect("the to-do list");
    let items: Vec<&str> = todo.split("<li class=\"todo-item").skip(1).collect();
    let firsts = [
        (
            "MFA is not enabled on XRAY-01 at Riverside Urgent Care - Westgate",
            "multi-factor sign-in",
        ),
        (
            "The screen does not lock when left unattended on BILLING-01 at Riverside Family Medicine - Main Street",
            "15 minutes",
        ),
        (
            "Disk encryption (BitLocker) is off on XRAY-01 at Riverside Urgent Care - Westgate",
            "manage-bde",
        ),
    ];
    for (item, (title, fix)) in items.iter().zip(firsts) {
        assert!(item.contains(title) && item.contains(fix), "{title}: {item}");
        assert!(item.contains("Found") && item.contains("Usually fixed by"), "{item}");
    }
    assert!(items[0].contains("failing for 89 days"), "since the first bundle: {}", items[0]);
    let now = chrono::Utc::now();
    let month = portal::reports::Month::of(now).prev();
    let report = portal::reports::monthly_report(&**db, org_id, month, now)
        .await
        .unwrap()
        .expect("last month has evidence");
    let pdf = crate::helpers::repo_path(&format!("target/screenshots/report-demo-{month}.pdf"));
    std::fs::create_dir_all(pdf.parent().unwrap()).unwrap();
    std::fs::write(&pdf, &report.pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", "-f", "1", "-l", "1"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    let first_page = String::from_utf8(text.stdout).unwrap();
    assert!(first_page.contains("HIPAA safeguards met"), "{first_page}");
    assert!(first_page.contains("Needs action"), "{first_page}");
    assert!(!first_page.contains("Compliant") && !first_page.contains("COMPLIANT"), "{first_page}");
    assert!(first_page.contains("To do at month end"), "{first_page}");
    assert!(first_page.contains("MFA is not enabled on XRAY-01"), "{first_page}");
    // The month's incidents, recovered or not: every (site, check, host)
    // that failed at any time in it, named with its check id and host.
    let text = std::process::Command::new("pdftotext").arg(&pdf).arg("-").output().unwrap();
    let all = String::from_utf8(text.stdout).unwrap();
    let section = all.split("Incidents this month").nth(1).expect("the incidents section");
    let section = &section[..section.find("Late evidence").expect("late evidence is reported")];
    let failed = db
        .query(
            "SELECT DISTINCT check_type, host FROM evidence_checks
              WHERE status = 'fail' AND checked_at >= $1 AND checked_at < $2",
            &[&month.start(), &month.end()],
        )
        .await
        .unwrap();
    assert!(failed.len() >= 2, "the demo's month has failures");
    for row in failed {
        let (check, host): (String, String) = (row.get(0), row.get(1));
        assert!(
            section.contains(&check) && section.contains(&host),
            "{check} on {host}: {section}"
        );
    }
    assert!(section.contains("still failing"), "MFA on XRAY-01 never recovered: {section}");
    // A real creation date: when the month's data was complete.
    let info = std::process::Command::new("pdfinfo").arg("-isodates").arg(&pdf).output().unwrap();
    let info = String::from_utf8(info.stdout).unwrap();
    let created = info.lines().find(|l| l.starts_with("CreationDate:")).expect("a CreationDate");
    assert!(created.contains(&month.end().format("%Y-%m-%d").to_string()), "{created}");
    // Page one as a PNG, for people to look at.
    let png = pdf.with_extension("");
    let status = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&pdf)
        .arg(&png)
        .status()
        .expect("pdftoppm (poppler-utils)");
    assert!(status.success());
}
