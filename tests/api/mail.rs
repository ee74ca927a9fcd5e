//! The email outbox and its delivery: real SMTP (plain, STARTTLS, implicit
//! TLS) against the in-process test server, retries, secrets, concurrency,
//! the log fallback and the demo's dev mailbox.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use portal::db::outbox::{self, NewMail};
use portal::mail::{Transport, deliver_due, spawn_worker};

use crate::helpers::{TestDb, spawn_app};
use crate::mail_helpers::{enqueue, mail, make_due, row, spawn_demo_app};
use crate::smtp_server::{Behavior, Security, SmtpServer};

/// Longer than one line of quoted-printable (76 characters), so it gets soft
/// line breaks in transit.
fn long_link() -> String {
    format!(
        "https://portal.example.com/client/magic-link?token={}&next=%2Fclient%2Fevidence%3Fsite%3D42",
        "AbC-dEf_0123456789".repeat(5)
    )
}

fn sign_in_mail(to: &str, link: &str) -> NewMail {
    NewMail {
        to: to.to_owned(),
        subject: "Your sign-in link for OsirisCare".to_owned(),
        text: format!(
            "Hello,\n\nOpen this link to sign in (valid for 60 minutes):\n{link}\n\nIf you did not ask for it, ignore this message.\n"
        ),
        html: Some(format!(
            "<p>Hello,</p><p><a href=\"{}\">Sign in to OsirisCare</a></p>",
            link.replace('&', "&amp;")
        )),
        kind: "magic_link",
        contains_secret: true,
    }
}

/// Sends one message through a server of the given security and checks what
/// arrived, part by part.
async fn delivers_over(security: Security, server: SmtpServer) {
    let db = TestDb::new().await;
    let pool = db.pool();
    let transport = server.transport();

    // Nothing due: no connection at all.
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    assert_eq!(server.connections(), 0);

    let link = long_link();
    let mut m = sign_in_mail("Jane.Doe@practice.example", &link);
    m.contains_secret = false;
    let id = enqueue(&pool, &m).await;
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 1);

    let received = server.next_message().await;
    assert_eq!(received.mail_from, "portal@osiris.example");
    assert_eq!(received.rcpt_to, vec!["Jane.Doe@practice.example".to_owned()]);
    assert_eq!(received.tls, security != Security::Plain, "{security:?}");

    // The link is too long for one encoded line: it must not survive as-is in
    // the raw transfer, only after MIME decoding.
    let raw = received.data_str();
    assert!(!raw.contains(&link), "expected an encoded body:\n{raw}");

    let parsed = received.parsed();
    assert_eq!(parsed.subject(), Some("Your sign-in link for OsirisCare"));
    let to = parsed.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.address(), Some("Jane.Doe@practice.example"));
    let from = parsed.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.address(), Some("portal@osiris.example"));
    assert_eq!(from.name(), Some("OsirisCare Portal"));
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains(&link), "link damaged in the text part:\n{text}");
    assert!(text.contains("valid for 60 minutes"));
    let html = parsed.body_html(0).unwrap();
    assert!(html.contains(&link.replace('&', "&amp;")), "link damaged in the HTML part:\n{html}");
    assert_eq!(parsed.message_id(), Some(format!("{id}@osiris.example").as_str()));

    let r = row(&pool, id).await;
    assert_eq!(r.status, "sent");
    assert_eq!(r.attempts, 1);
    assert!(r.sent_at.is_some());
    assert!(r.locked_until.is_none());
    assert!(r.body_text.contains(&link), "a normal mail keeps its body");

    // Sent is sent: another pass sends nothing.
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn enqueued_mail_is_delivered_over_plain_smtp() {
    delivers_over(Security::Plain, SmtpServer::start(Security::Plain).await).await;
}

#[tokio::test]
async fn enqueued_mail_is_delivered_over_starttls_with_sign_in() {
    let server = SmtpServer::with_auth(Security::StartTls, "portal", "s3cret-pass").await;
    delivers_over(Security::StartTls, server).await;
}

#[tokio::test]
async fn starttls_signs_in_with_the_configured_credentials() {
    let server = SmtpServer::with_auth(Security::StartTls, "portal", "s3cret-pass").await;
    let db = TestDb::new().await;
    let pool = db.pool();
    enqueue(&pool, &mail("a@practice.example", "Hi", "Hello")).await;
    assert_eq!(deliver_due(&pool, &server.transport()).await.unwrap(), 1);
    let received = server.next_message().await;
    assert!(received.tls);
    assert_eq!(received.auth_user.as_deref(), Some("portal"));
}

#[tokio::test]
async fn enqueued_mail_is_delivered_over_implicit_tls() {
    delivers_over(Security::Implicit, SmtpServer::start(Security::Implicit).await).await;
}

#[tokio::test]
async fn wrong_smtp_credentials_are_reported_without_the_password() {
    let server = SmtpServer::with_auth(Security::Implicit, "portal", "right-password").await;
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut config = server.config();
    config.password = Some(portal::config::Secret::new("wrong-password".into()));
    let transport = Transport::smtp(config).accept_invalid_certs();
    let id = enqueue(&pool, &mail("a@practice.example", "Hi", "Hello")).await;
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    let r = row(&pool, id).await;
    assert_eq!(r.status, "pending");
    let error = r.last_error.unwrap();
    assert!(error.contains("PORTAL_SMTP_PASSWORD"), "{error}");
    assert!(!error.contains("wrong-password"), "{error}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_by_default() {
    let server = SmtpServer::start(Security::Implicit).await;
    let db = TestDb::new().await;
    let pool = db.pool();
    // The server's certificate is self-signed; without the test-only knob it
    // must not be accepted.
    let transport = Transport::smtp(server.config()).with_timeout(Duration::from_secs(10));
    let id = enqueue(&pool, &mail("a@practice.example", "Hi", "Hello")).await;
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    assert!(server.received().is_empty());
    let r = row(&pool, id).await;
    assert_eq!(r.status, "pending");
    let error = r.last_error.unwrap();
    assert!(error.contains("TLS"), "{error}");
    assert!(error.contains(&format!("localhost:{}", server.addr.port())), "{error}");
}

#[tokio::test]
async fn a_secret_is_wiped_after_delivery_but_a_normal_mail_is_kept() {
    let server = SmtpServer::start(Security::Plain).await;
    let db = TestDb::new().await;
    let pool = db.pool();
    let link = long_link();
    let secret = enqueue(&pool, &sign_in_mail("jane@practice.example", &link)).await;
    let normal = enqueue(
        &pool,
        &NewMail {
            html: Some("<p>Your report is ready.</p>".into()),
            ..mail("jane@practice.example", "Monthly report", "Your report is ready.")
        },
    )
    .await;
    assert_eq!(deliver_due(&pool, &server.transport()).await.unwrap(), 2);

    // The recipient got the whole secret mail …
    let received = server.received();
    let delivered = received
        .iter()
        .find(|m| m.parsed().subject() == Some("Your sign-in link for OsirisCare"))
        .expect("the sign-in mail arrived");
    assert!(delivered.parsed().body_text(0).unwrap().contains(&link));

    // … and the table kept none of it.
    let s = row(&pool, secret).await;
    assert_eq!(s.status, "sent");
    assert_eq!(s.body_text, "");
    assert_eq!(s.body_html, None);
    assert!(s.contains_secret);

    let n = row(&pool, normal).await;
    assert_eq!(n.status, "sent");
    assert_eq!(n.body_text, "Your report is ready.");
    assert_eq!(n.body_html.as_deref(), Some("<p>Your report is ready.</p>"));
}

#[tokio::test]
async fn a_failing_server_leaves_mail_pending_and_a_later_pass_delivers_it() {
    let server = SmtpServer::start(Security::Plain).await;
    server.set_behavior(Behavior::Reject451);
    let db = TestDb::new().await;
    let pool = db.pool();
    let transport = server.transport();
    let id = enqueue(&pool, &mail("a@practice.example", "Retry me", "Hello")).await;

    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    assert!(server.received().is_empty());
    let r = row(&pool, id).await;
    assert_eq!(r.status, "pending");
    assert_eq!(r.attempts, 1);
    assert!(r.locked_until.is_none());
    let error = r.last_error.clone().unwrap();
    assert!(error.contains("451"), "{error}");
    assert!(error.contains("retry"), "{error}");
    let wait = r.next_attempt_at - r.now;
    assert!(
        wait >= chrono::Duration::seconds(20) && wait <= chrono::Duration::seconds(40),
        "first retry after about 30 s, got {wait}"
    );

    // The server recovers, but the mail is not due yet: nothing is sent early.
    server.set_behavior(Behavior::Accept);
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    assert!(server.received().is_empty());

    // Time passes.
    make_due(&pool).await;
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 1);
    let received = server.next_message().await;
    assert_eq!(received.parsed().subject(), Some("Retry me"));
    let r = row(&pool, id).await;
    assert_eq!(r.status, "sent");
    assert_eq!(r.attempts, 2);
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
/// An unreachable server is not the messages' fault: no attempt is used
/// up (a long outage never makes mail give up), the mail stays due, and the
/// reason is recorded. The worker knocks again every few seconds, so mail
/// goes out as soon as the server answers (`scripts/fault-test` measures it).
async fn a_server_that_refuses_service_is_tried_once_per_pass_not_once_per_mail() {
    let server = SmtpServer::start(Security::Plain).await;
    server.set_behavior(Behavior::Refuse421);
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(enqueue(&pool, &mail("a@practice.example", &format!("m{i}"), "x")).await);
    }
    assert_eq!(deliver_due(&pool, &server.transport()).await.unwrap(), 0);
    assert_eq!(server.connections(), 1);
    for (n, id) in ids.into_iter().enumerate() {
        let r = row(&pool, id).await;
        assert_eq!(r.status, "pending");
        assert_eq!(r.attempts, 0, "an unreachable server uses up no attempt");
        assert!(r.next_attempt_at <= r.now, "still due: sent as soon as the server answers");
        assert!(r.locked_until.is_none());
        if n == 0 {
            // The one the pass tried says why it waits.
            let error = r.last_error.unwrap();
            assert!(error.contains("421"), "{error}");
        }
    }
    // The server answers again: the next pass sends everything at once.
    server.set_behavior(Behavior::Accept);
    assert_eq!(deliver_due(&pool, &server.transport()).await.unwrap(), 3);
}

#[tokio::test]
async fn a_closed_port_is_reported_with_what_to_check() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let db = TestDb::new().await;
    let pool = db.pool();
    let transport = Transport::smtp(portal::config::SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: portal::config::SmtpTls::None,
        username: None,
        password: None,
        from: "portal@osiris.example".into(),
    });
    let id = enqueue(&pool, &mail("a@practice.example", "Hi", "Hello")).await;
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    let error = row(&pool, id).await.last_error.unwrap();
    assert!(error.contains(&format!("127.0.0.1:{port} refused the connection")), "{error}");
    assert!(error.contains("PORTAL_SMTP_HOST/PORT"), "{error}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_instead_of_hanging() {
    let server = SmtpServer::start(Security::Plain).await;
    server.set_behavior(Behavior::Silent);
    let db = TestDb::new().await;
    let pool = db.pool();
    let id = enqueue(&pool, &mail("a@practice.example", "Hi", "Hello")).await;
    let transport = server.transport().with_timeout(Duration::from_secs(1));
    let sent = tokio::time::timeout(Duration::from_secs(10), deliver_due(&pool, &transport))
        .await
        .expect("the pass gives up on a silent server")
        .unwrap();
    assert_eq!(sent, 0);
    let r = row(&pool, id).await;
    assert_eq!(r.status, "pending");
    let error = r.last_error.unwrap();
    assert!(error.contains("did not answer within 1s"), "{error}");
}

#[tokio::test]
async fn mail_is_given_up_after_max_attempts_and_a_secret_is_wiped() {
    let server = SmtpServer::start(Security::Plain).await;
    server.set_behavior(Behavior::Reject451);
    let db = TestDb::new().await;
    let pool = db.pool();
    let id = enqueue(&pool, &sign_in_mail("a@practice.example", &long_link())).await;
    // Raw SQL on purpose: the outbox's attempt limit is a column default
    // that no portal function sets.
    pool.get()
        .await
        .unwrap()
        .execute("UPDATE email_outbox SET max_attempts = 2", &[])
        .await
        .unwrap();
    let transport = server.transport();
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    assert_eq!(row(&pool, id).await.status, "pending");
    make_due(&pool).await;
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    let r = row(&pool, id).await;
    assert_eq!(r.status, "failed");
    assert_eq!(r.attempts, 2);
    assert_eq!(r.body_text, "");
    assert_eq!(r.body_html, None);
    assert!(r.last_error.unwrap().contains("451"));

    // Failed for good: even a healthy server never gets it.
    server.set_behavior(Behavior::Accept);
    make_due(&pool).await;
    assert_eq!(deliver_due(&pool, &transport).await.unwrap(), 0);
    assert!(server.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_passes_deliver_each_message_exactly_once() {
    let server = SmtpServer::start(Security::Plain).await;
    let db = TestDb::new().await;
    let pool = db.pool();
    for i in 0..20 {
        enqueue(&pool, &mail(&format!("user{i}@practice.example"), &format!("message {i}"), "x"))
            .await;
    }
    let a = server.transport();
    let b = server.transport();
    let (sent_a, sent_b) = tokio::join!(
        tokio::spawn({
            let pool = pool.clone();
            async move { deliver_due(&pool, &a).await.unwrap() }
        }),
        tokio::spawn({
            let pool = pool.clone();
            async move { deliver_due(&pool, &b).await.unwrap() }
        }),
    );
    assert_eq!(sent_a.unwrap() + sent_b.unwrap(), 20);

    let received = server.received();
    assert_eq!(received.len(), 20, "every message exactly once");
    let subjects: HashSet<String> =
        received.iter().map(|m| m.parsed().subject().unwrap().to_owned()).collect();
    assert_eq!(subjects.len(), 20);
    let counts = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'sent' AND attempts = 1), count(*) FROM email_outbox",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(counts.get::<_, i64>(0), 20);
    assert_eq!(counts.get::<_, i64>(1), 20);
}

#[tokio::test]
async fn a_claim_skips_rows_another_instance_is_claiming() {
    let db = TestDb::new().await;
    let pool = db.pool();
    for i in 0..6 {
        enqueue(&pool, &mail("a@practice.example", &format!("m{i}"), "x")).await;
    }
    let mut first = db.client().await;
    let mut second = db.client().await;
    let tx1 = first.transaction().await.unwrap();
    let claimed1 = outbox::claim_due(&tx1, 4, Duration::from_secs(60)).await.unwrap();
    assert_eq!(claimed1.len(), 4);
    // tx1 has not committed: its rows are locked, and the other claim takes
    // the rest instead of waiting or taking them too.
    let tx2 = second.transaction().await.unwrap();
    let claimed2 = tokio::time::timeout(
        Duration::from_secs(5),
        outbox::claim_due(&tx2, 100, Duration::from_secs(60)),
    )
    .await
    .expect("a claim must skip rows another transaction holds, not wait for them")
    .unwrap();
    assert_eq!(claimed2.len(), 2);
    let one: HashSet<_> = claimed1.iter().map(|m| m.id).collect();
    assert!(claimed2.iter().all(|m| !one.contains(&m.id)));
    tx1.commit().await.unwrap();
    tx2.commit().await.unwrap();
    // All six are leased now; nothing is due.
    let again = outbox::claim_due(&**pool.get().await.unwrap(), 100, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(again.is_empty());
}

#[tokio::test]
async fn mail_left_sending_by_a_crashed_instance_is_claimed_after_its_lease() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let expired = enqueue(&pool, &mail("a@practice.example", "expired", "x")).await;
    let live = enqueue(&pool, &mail("a@practice.example", "live", "x")).await;
    let client = pool.get().await.unwrap();
    // Raw SQL on purpose: simulates an instance that crashed while sending
    // (one lease already expired, one still live).
    client
        .execute(
            "UPDATE email_outbox SET status = 'sending',
                    locked_until = CASE WHEN id = $1 THEN now() - interval '1 second'
                                        ELSE now() + interval '5 minutes' END",
            &[&expired],
        )
        .await
        .unwrap();
    let claimed = outbox::claim_due(&**client, 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![expired]);
    assert_eq!(row(&pool, live).await.status, "sending");
}

#[tokio::test]
async fn the_demo_log_transport_marks_mail_sent_and_keeps_the_body_for_the_dev_mailbox() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let link = long_link();
    let id = enqueue(&pool, &sign_in_mail("jane@practice.example", &link)).await;
    assert_eq!(deliver_due(&pool, &Transport::Log { demo: true }).await.unwrap(), 1);
    let r = row(&pool, id).await;
    assert_eq!(r.status, "sent");
    assert_eq!(r.attempts, 1);
    assert!(r.sent_at.is_some());
    assert!(r.body_text.contains(&link), "{}", r.body_text);
    assert!(r.body_html.is_some());
    assert_eq!(deliver_due(&pool, &Transport::Log { demo: true }).await.unwrap(), 0);
}

/// `portal serve` without SMTP: a sign-in link is neither kept in the table
/// nor (see `redact_tokens`' unit test) written to the log.
#[tokio::test]
async fn outside_the_demo_the_log_transport_wipes_secret_bodies() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let link = long_link();
    let secret = enqueue(&pool, &sign_in_mail("jane@practice.example", &link)).await;
    let plain =
        enqueue(&pool, &mail("bob@practice.example", "Weekly digest", "Nothing new.")).await;
    assert_eq!(deliver_due(&pool, &Transport::Log { demo: false }).await.unwrap(), 2);
    let r = row(&pool, secret).await;
    assert_eq!(r.status, "sent");
    assert!(!r.body_text.contains("token="), "the link is gone: {}", r.body_text);
    assert!(r.body_html.is_none_or(|h| !h.contains("token=")));
    assert_eq!(row(&pool, plain).await.body_text, "Nothing new.", "other mail is kept");
    assert_eq!(
        portal::mail::redact_tokens(&link).matches("[redacted]").count(),
        1,
        "what the log shows of the link"
    );
}

#[tokio::test]
async fn enqueue_refuses_a_recipient_that_is_not_an_address() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let client = pool.get().await.unwrap();
    for bad in ["nobody", "a@b.example\r\nRCPT TO:<x@evil.example>", "<a@b.example>"] {
        let err = outbox::enqueue(&**client, &mail(bad, "Hi", "x")).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    // A line break in a subject cannot start a new header.
    let server = SmtpServer::start(Security::Plain).await;
    enqueue(&pool, &mail("a@practice.example", "Hello\r\nBcc: x@evil.example", "x")).await;
    assert_eq!(deliver_due(&pool, &server.transport()).await.unwrap(), 1);
    let received = server.next_message().await;
    assert_eq!(received.rcpt_to, vec!["a@practice.example".to_owned()]);
    assert!(received.parsed().bcc().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_sends_mail_as_soon_as_it_is_woken_and_stops_cleanly() {
    let server = SmtpServer::start(Security::Plain).await;
    let db = TestDb::new().await;
    let pool = db.pool();
    let worker = spawn_worker(pool.clone(), server.transport());
    let waker = worker.waker();

    for round in 0..2 {
        enqueue(&pool, &mail("a@practice.example", &format!("round {round}"), "x")).await;
        let started = Instant::now();
        waker.wake();
        let received = server.next_message().await;
        // The poll interval is 5 s; a wake-up is immediate.
        assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
        assert_eq!(received.parsed().subject(), Some(format!("round {round}").as_str()));
    }
    tokio::time::timeout(Duration::from_secs(10), worker.shutdown())
        .await
        .expect("the worker stops promptly");
    let pending: i64 = pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM email_outbox WHERE status <> 'sent'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 0);
}

#[tokio::test]
async fn the_dev_mailbox_does_not_exist_outside_demo_mode() {
    let app = spawn_app().await;
    enqueue(&app.pool, &sign_in_mail("jane@practice.example", &long_link())).await;
    deliver_due(&app.pool, &Transport::Log { demo: false }).await.unwrap();
    let resp = app.client.get(portal::paths::DEV_MAILBOX).send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
    let html = resp.0.into_body().into_string().await.unwrap();
    assert!(!html.contains("magic-link?token"), "{html}");
}

#[tokio::test]
async fn the_dev_mailbox_lists_messages_with_their_links_in_demo_mode() {
    let app = spawn_demo_app().await;

    let empty = app.client.get(portal::paths::DEV_MAILBOX).send().await;
    empty.assert_status_is_ok();
    let html = empty.0.into_body().into_string().await.unwrap();
    assert!(html.contains("No messages yet"), "{html}");

    let link = long_link();
    enqueue(&app.pool, &sign_in_mail("jane@practice.example", &link)).await;
    enqueue(&app.pool, &mail("bob@practice.example", "Weekly digest", "Nothing new.")).await;
    assert_eq!(deliver_due(&app.pool, &Transport::Log { demo: true }).await.unwrap(), 2);

    let resp = app.client.get(portal::paths::DEV_MAILBOX).send().await;
    resp.assert_status_is_ok();
    let html = resp.0.into_body().into_string().await.unwrap();
    assert!(html.contains("<title>Dev mailbox · OsirisCare</title>"), "{html}");
    assert!(html.contains("Your sign-in link for OsirisCare"), "{html}");
    assert!(html.contains("jane@practice.example"), "{html}");
    assert!(html.contains("Weekly digest"), "{html}");
    assert!(html.contains("badge badge-green"), "{html}");
    // The link is a button, HTML-escaped in its attribute.
    let escaped = link.replace('&', "&amp;");
    assert!(
        html.contains(&format!("<a class=\"btn btn-primary btn-sm\" href=\"{escaped}\"")),
        "{html}"
    );
    assert!(html.contains("Open link"), "{html}");
    // The body itself, in a <pre>.
    assert!(html.contains("<pre"), "{html}");
    assert!(html.contains("valid for 60 minutes"), "{html}");
    // Newest first.
    let digest = html.find("Weekly digest").unwrap();
    let sign_in = html.find("Your sign-in link").unwrap();
    assert!(digest < sign_in, "newest message first");
    // Only the sign-in mail has a link.
    assert_eq!(html.matches("Open link").count(), 1, "{html}");
}
