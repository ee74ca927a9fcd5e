//! Second factors through the JSON API: enrolling an authenticator app,
//! signing in with its codes and with recovery codes, recent
//! authentication, the practice's policy and resets. Codes are computed
//! with `portal::auth::totp`, which src/auth/totp.rs checks against RFC
//! 6238's own vectors; scripts/api-checks signs users in with codes from
//! pyotp, an implementation nobody here wrote.

use std::collections::BTreeMap;

use poem::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Expect, Practice, Reply, TestApp, TestUser, spawn_app};
use crate::matrix::Case;

pub const MATRIX: &[Case] = &[
    // Everyone signed in manages their own factors; another practice's
    // owner manages theirs (nothing of practice A is named).
    Case {
        operation_id: "get_mfa_status",
        method: Method::GET,
        expect: [401, 200, 200, 200, 200, 200],
    },
    Case {
        operation_id: "create_totp",
        method: Method::POST,
        expect: [401, 201, 201, 201, 201, 201],
    },
    // Each caller has the enrolment create_totp just started; 123456 is
    // not its code.
    Case {
        operation_id: "verify_totp",
        method: Method::POST,
        expect: [401, 400, 400, 400, 400, 400],
    },
    // ... which this removes.
    Case {
        operation_id: "delete_totp",
        method: Method::DELETE,
        expect: [401, 204, 204, 204, 204, 204],
    },
    // Recovery codes back up a factor, which these callers do not have.
    Case {
        operation_id: "create_recovery_codes",
        method: Method::POST,
        expect: [401, 409, 409, 409, 409, 409],
    },
    // The test server's base URL is an IP address: no passkeys there
    // (browsers refuse an IP as relying party), with the reason.
    Case {
        operation_id: "create_passkey_challenge",
        method: Method::POST,
        expect: [401, 409, 409, 409, 409, 409],
    },
    Case {
        operation_id: "create_passkey",
        method: Method::POST,
        expect: [401, 409, 409, 409, 409, 409],
    },
    // A passkey of A's viewer: nobody else's to remove.
    Case {
        operation_id: "delete_passkey",
        method: Method::DELETE,
        expect: [401, 204, 404, 404, 404, 404],
    },
    Case {
        operation_id: "get_mfa_policy",
        method: Method::GET,
        expect: [401, 403, 403, 200, 200, 403],
    },
    Case {
        operation_id: "set_mfa_policy",
        method: Method::PUT,
        expect: [401, 403, 403, 200, 200, 403],
    },
    // A's viewer, with an authenticator app: an admin may reset a viewer;
    // the viewer may not reset themselves this way.
    Case {
        operation_id: "remove_user_mfa",
        method: Method::DELETE,
        expect: [401, 403, 204, 204, 404, 403],
    },
];

pub async fn matrix_request(
    app: &TestApp,
    a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    Some(match operation_id {
        "get_mfa_status" => ("/api/client/mfa".into(), None),
        "create_totp" | "delete_totp" => ("/api/client/mfa/totp".into(), None),
        "verify_totp" => ("/api/client/mfa/totp/confirm".into(), Some(json!({ "code": "123456" }))),
        "create_recovery_codes" => ("/api/client/mfa/recovery-codes".into(), None),
        "create_passkey_challenge" => {
            ("/api/client/mfa/webauthn/register/start".into(), Some(json!({ "name": "Laptop" })))
        }
        "create_passkey" => {
            ("/api/client/mfa/webauthn/register/finish".into(), Some(json!({ "credential": {} })))
        }
        "delete_passkey" => {
            let id = insert_passkey(app, a.viewer.id).await;
            (format!("/api/client/mfa/webauthn/{id}"), None)
        }
        "get_mfa_policy" => ("/api/client/org/mfa-policy".into(), None),
        "set_mfa_policy" => (
            "/api/client/org/mfa-policy".into(),
            Some(json!({ "required": false, "grace_days": 7 })),
        ),
        "remove_user_mfa" => {
            give_totp(app, a.viewer.id).await;
            (format!("/api/client/users/{}/mfa", a.viewer.id), None)
        }
        _ => return None,
    })
}

/// A stored passkey row for `user_id` (not a usable credential: enough
/// for listing and removing).
async fn insert_passkey(app: &TestApp, user_id: Uuid) -> Uuid {
    let db = app.db_client().await;
    let credential = portal::auth::tokens::random_bytes().to_vec();
    portal::db::mfa::insert_passkey(&**db, user_id, "Test key", &credential, &json!({}))
        .await
        .unwrap()
        .unwrap()
}

/// Gives the user a confirmed authenticator app straight in the database;
/// returns its secret.
async fn give_totp(app: &TestApp, user_id: Uuid) -> Vec<u8> {
    let secret = portal::auth::totp::new_secret().to_vec();
    let db = app.db_client().await;
    db.execute("DELETE FROM mfa_totp WHERE user_id = $1", &[&user_id]).await.unwrap();
    let sealed = portal::auth::totp::seal(app.state.secret(), user_id, &secret);
    assert!(portal::db::mfa::start_totp(&**db, user_id, &sealed).await.unwrap());
    assert!(portal::db::mfa::use_step(&**db, user_id, 1, true).await.unwrap());
    secret
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The code for the step `offset` steps from now.
fn code(secret: &[u8], offset: i64) -> String {
    portal::auth::totp::code_at(secret, now() + offset * portal::auth::totp::STEP)
}

/// RFC 4648 base32 without padding, as the API and the Security page hand
/// out secrets (spaces, as the page groups it, are skipped).
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base32") as u32;
        value = (value << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
        }
    }
    out
}

/// Every cookie a reply sets, by name (the value; empty when cleared).
fn cookies_set(reply: &Reply) -> BTreeMap<String, String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| {
            let pair = v.to_str().ok()?.split(';').next()?.to_owned();
            let (name, value) = pair.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

trait StatusIs {
    fn check_status_is(&self, status: StatusCode);
}

impl StatusIs for Reply {
    #[track_caller]
    fn check_status_is(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.text());
    }
}

const PENDING: &str = "__Host-osiris_mfa";
const SESSION: &str = "__Host-osiris_session";

/// Enrols an authenticator app through the API; its secret and the
/// recovery codes.
async fn enrol(app: &TestApp, user: &TestUser) -> (Vec<u8>, Vec<String>) {
    let started = app.post_as(user, "/api/client/mfa/totp").expect_json(StatusCode::CREATED).await;
    let secret = base32_decode(started["secret"].as_str().unwrap());
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/OsirisCare%3A"), "{uri}");
    assert!(uri.contains(&format!("secret={}", started["secret"].as_str().unwrap())), "{uri}");
    let done = app
        .post_json_as(user, "/api/client/mfa/totp/confirm", &json!({ "code": code(&secret, 0) }))
        .expect_json(StatusCode::OK)
        .await;
    let codes: Vec<String> = done["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// A first factor by magic link: the reply (pending or signed in).
async fn first_factor(app: &TestApp, user: &TestUser) -> Reply {
    let token = app.magic_token(user.id).await;
    app.client
        .post("/api/client/auth/validate-magic-link")
        .body_json(&json!({ "token": token }))
        .reply()
        .await
}

/// The pending cookie of a first factor that asked for a second.
async fn pending(app: &TestApp, user: &TestUser) -> String {
    let reply = first_factor(app, user).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["status"], "mfa_required", "{}", reply.text());
    let set = cookies_set(&reply);
    assert!(!set.contains_key(SESSION), "no session before the second factor: {set:?}");
    format!("{PENDING}={}", set[PENDING])
}

async fn second_factor(app: &TestApp, pending: &str, code: &str) -> Reply {
    app.client
        .post("/api/client/auth/mfa")
        .header("cookie", pending)
        .body_json(&json!({ "code": code }))
        .reply()
        .await
}

async fn audited(app: &TestApp, action: &str) -> i64 {
    app.count("SELECT count(*) FROM client_audit_log WHERE action = $1", &[&action]).await
}

async fn mails_to(app: &TestApp, email: &str) -> Vec<String> {
    let db = app.db_client().await;
    db.query("SELECT body_text FROM email_outbox WHERE to_address = $1 ORDER BY id", &[&email])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn an_authenticator_app_is_enrolled_with_a_first_code_and_hands_out_ten_recovery_codes() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let status = app.get_as(&p.viewer, "/api/client/mfa").expect_json(StatusCode::OK).await;
    assert_eq!(status["totp"], json!({ "enabled": false, "pending": false }));
    assert_eq!(status["recovery_codes_left"], 0);
    assert_eq!(status["recent_auth"], true);

    let started =
        app.post_as(&p.viewer, "/api/client/mfa/totp").expect_json(StatusCode::CREATED).await;
    let secret = base32_decode(started["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20, "160-bit secrets (RFC 4226's recommendation)");
    let status = app.get_as(&p.viewer, "/api/client/mfa").expect_json(StatusCode::OK).await;
    assert_eq!(status["totp"], json!({ "enabled": false, "pending": true }));
    // A pending app signs nobody in.
    let reply = first_factor(&app, &p.viewer).await;
    assert_eq!(reply.json()["status"], "authenticated");

    let message = app
        .post_json_as(&p.viewer, "/api/client/mfa/totp/confirm", &json!({ "code": "000000" }))
        .expect_error(StatusCode::BAD_REQUEST, "does not match")
        .await;
    assert!(message.contains("6-digit code"), "{message}");
    assert_eq!(audited(&app, "mfa.code_failed").await, 1);
    app.post_json_as(&p.viewer, "/api/client/mfa/totp/confirm", &json!({ "code": "12345" }))
        .expect_error(StatusCode::BAD_REQUEST, "")
        .await;

    let done = app
        .post_json_as(
            &p.viewer,
            "/api/client/mfa/totp/confirm",
            &json!({ "code": code(&secret, 0) }),
        )
        .expect_json(StatusCode::OK)
        .await;
    let codes = done["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::BTreeSet<_> =
        codes.iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(distinct.len(), 10);
    assert_eq!(audited(&app, "mfa.totp_enabled").await, 1);
    assert!(
        mails_to(&app, &p.viewer.email).await.iter().any(|m| m.contains("authenticator app")),
        "the user is told"
    );
    // Stored sealed: neither the secret nor its base32 is in the row.
    let db = app.db_client().await;
    let sealed: Vec<u8> = db
        .query_one("SELECT secret_sealed FROM mfa_totp WHERE user_id = $1", &[&p.viewer.id])
        .await
        .unwrap()
        .get(0);
    assert!(!sealed.windows(secret.len()).any(|w| w == secret));
    let hashes: Vec<Vec<u8>> = db
        .query("SELECT code_hash FROM mfa_recovery_codes WHERE user_id = $1", &[&p.viewer.id])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hashes.len(), 10);
    assert!(hashes.iter().all(|h| h.len() == 32), "hashes, not the codes");

    let status = app.get_as(&p.viewer, "/api/client/mfa").expect_json(StatusCode::OK).await;
    assert_eq!(status["totp"], json!({ "enabled": true, "pending": false }));
    assert_eq!(status["recovery_codes_left"], 10);
    // A second app needs the first removed.
    app.post_as(&p.viewer, "/api/client/mfa/totp")
        .expect_error(StatusCode::CONFLICT, "remove it first")
        .await;
}

#[tokio::test]
async fn a_user_with_an_app_signs_in_with_a_code_once_and_never_with_a_replayed_or_stale_one() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (secret, _) = enrol(&app, &p.viewer).await;

    let reply = first_factor(&app, &p.viewer).await;
    assert_eq!(
        reply.json(),
        json!({ "status": "mfa_required", "methods": ["totp", "recovery_code"] })
    );
    let pending_cookie = format!("{PENDING}={}", cookies_set(&reply)[PENDING]);
    let set_cookie = reply.headers.get("set-cookie").unwrap().to_str().unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=300"] {
        assert!(set_cookie.contains(attribute), "{attribute} in {set_cookie}");
    }
    // The pending cookie is no session.
    app.client
        .get("/api/client/auth/me")
        .header("cookie", &pending_cookie)
        .expect_status(StatusCode::UNAUTHORIZED)
        .await;

    // The enrolment used the current step: its code is spent. The next
    // step's code is within the ±1 window.
    let replayed = second_factor(&app, &pending_cookie, &code(&secret, 0)).await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED, "{}", replayed.text());
    let stale = second_factor(&app, &pending_cookie, &code(&secret, -3)).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "{}", stale.text());
    let ok = second_factor(&app, &pending_cookie, &code(&secret, 1)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.json(), json!({ "status": "authenticated" }));
    let set = cookies_set(&ok);
    let session = format!("{SESSION}={}", set[SESSION]);
    let me = app
        .client
        .get("/api/client/auth/me")
        .header("cookie", &session)
        .expect_json(StatusCode::OK)
        .await;
    assert_eq!(me["email"], p.viewer.email.as_str());

    // The pending sign-in was used up with it.
    second_factor(&app, &pending_cookie, &code(&secret, 1))
        .await
        .check_status_is(StatusCode::UNAUTHORIZED);
    // A new sign-in cannot reuse the step either.
    let again = pending(&app, &p.viewer).await;
    second_factor(&app, &again, &code(&secret, 1)).await.check_status_is(StatusCode::UNAUTHORIZED);
    second_factor(&app, &again, &code(&secret, 0)).await.check_status_is(StatusCode::UNAUTHORIZED);
    assert_eq!(audited(&app, "auth.signin_succeeded").await, 1);
    assert!(audited(&app, "mfa.code_failed").await >= 4);
}

#[tokio::test]
async fn five_wrong_codes_end_the_pending_sign_in() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (secret, _) = enrol(&app, &p.viewer).await;
    let pending_cookie = pending(&app, &p.viewer).await;
    for _ in 0..5 {
        second_factor(&app, &pending_cookie, "999999")
            .await
            .check_status_is(StatusCode::UNAUTHORIZED);
    }
    let reply = second_factor(&app, &pending_cookie, &code(&secret, 1)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply.text().contains("Sign in again") || reply.text().contains("sign in again"),
        "{}",
        reply.text()
    );
    // Malformed bodies are 400s, not attempts.
    app.client
        .post("/api/client/auth/mfa")
        .header("cookie", &pending_cookie)
        .body_json(&json!({ "code": 123456 }))
        .expect_status(StatusCode::BAD_REQUEST)
        .await;
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_is_audited_and_emailed() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (_, codes) = enrol(&app, &p.viewer).await;
    let first = pending(&app, &p.viewer).await;
    // Typed in capitals with a space instead of the dash: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let ok = second_factor(&app, &first, &typed).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(audited(&app, "mfa.recovery_code_used").await, 1);
    assert!(
        mails_to(&app, &p.viewer.email).await.iter().any(|m| m.contains("recovery code")),
        "the user is told a recovery code was used"
    );
    let second = pending(&app, &p.viewer).await;
    second_factor(&app, &second, &codes[3]).await.check_status_is(StatusCode::UNAUTHORIZED);
    let status = {
        let s = app.sign_in(p.viewer.id, &p.viewer.email, p.org_id).await;
        app.get_as(&s, "/api/client/mfa").expect_json(StatusCode::OK).await
    };
    assert_eq!(status["recovery_codes_left"], 9);

    // Regenerating replaces them all.
    let viewer = app.sign_in(p.viewer.id, &p.viewer.email, p.org_id).await;
    let fresh =
        app.post_as(&viewer, "/api/client/mfa/recovery-codes").expect_json(StatusCode::OK).await;
    assert_eq!(fresh["recovery_codes"].as_array().unwrap().len(), 10);
    let third = pending(&app, &p.viewer).await;
    second_factor(&app, &third, &codes[4]).await.check_status_is(StatusCode::UNAUTHORIZED);
    let new_code = fresh["recovery_codes"][0].as_str().unwrap();
    second_factor(&app, &third, new_code).await.check_status_is(StatusCode::OK);
    assert_eq!(audited(&app, "mfa.recovery_codes_regenerated").await, 1);
}

#[tokio::test]
async fn factor_changes_need_a_recent_sign_in_and_a_browser_session() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let db = app.db_client().await;
    db.execute(
        "UPDATE client_sessions SET authenticated_at = now() - interval '11 minutes' WHERE id = $1",
        &[&p.viewer.session_id],
    )
    .await
    .unwrap();
    let message = app
        .post_as(&p.viewer, "/api/client/mfa/totp")
        .expect_error(StatusCode::FORBIDDEN, "within the last 10 minutes")
        .await;
    assert!(message.contains("/api/client/auth/reauthenticate"), "{message}");
    let status = app.get_as(&p.viewer, "/api/client/mfa").expect_json(StatusCode::OK).await;
    assert_eq!(status["recent_auth"], false);

    // Without a password or a factor there is nothing to confirm with.
    app.post_json_as(&p.viewer, "/api/client/auth/reauthenticate", &json!({ "password": "x" }))
        .expect_status(StatusCode::UNAUTHORIZED)
        .await;
    let password = "a long enough password";
    let hash = portal::auth::password::hash(password).unwrap();
    db.execute("UPDATE client_users SET password_hash = $2 WHERE id = $1", &[&p.viewer.id, &hash])
        .await
        .unwrap();
    app.post_json_as(
        &p.viewer,
        "/api/client/auth/reauthenticate",
        &json!({ "password": "not the password" }),
    )
    .expect_status(StatusCode::UNAUTHORIZED)
    .await;
    app.post_json_as(
        &p.viewer,
        "/api/client/auth/reauthenticate",
        &json!({ "password": password }),
    )
    .expect_status(StatusCode::NO_CONTENT)
    .await;
    assert_eq!(audited(&app, "auth.reauthenticated").await, 1);
    app.post_as(&p.viewer, "/api/client/mfa/totp").expect_status(StatusCode::CREATED).await;

    // API tokens never manage factors, however recent their user's sign-in.
    let token = app.bearer(&p.viewer).await;
    for (method, path) in [
        (Method::GET, "/api/client/mfa"),
        (Method::POST, "/api/client/mfa/totp"),
        (Method::DELETE, "/api/client/mfa/totp"),
        (Method::POST, "/api/client/mfa/recovery-codes"),
    ] {
        let message = app
            .client
            .request(method.clone(), path)
            .header("authorization", format!("Bearer {token}"))
            .expect_error(StatusCode::FORBIDDEN, "sign-in methods")
            .await;
        assert!(message.contains("browser"), "{method} {path}: {message}");
    }
}

#[tokio::test]
async fn the_owner_requires_mfa_and_a_user_without_it_is_locked_to_setting_one_up_after_the_grace_period()
 {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let policy = |required: bool, grace_days: i32| {
        app.put_json_as(
            &p.owner,
            "/api/client/org/mfa-policy",
            &json!({ "required": required, "grace_days": grace_days }),
        )
    };
    policy(true, 0).expect_error(StatusCode::CONFLICT, "for yourself first").await;
    policy(true, 91).expect_status(StatusCode::BAD_REQUEST).await;
    policy(true, -1).expect_status(StatusCode::BAD_REQUEST).await;
    enrol(&app, &p.owner).await;

    let on = policy(true, 7).expect_json(StatusCode::OK).await;
    assert_eq!(on["required"], true);
    assert_eq!(on["grace_days"], 7);
    let since = on["required_since"].as_str().unwrap().to_owned();
    assert_eq!(audited(&app, "mfa.policy_changed").await, 1);
    // Within the grace period: the deadline is shown, nothing is locked.
    let me = app.get_as(&p.viewer, "/api/client/auth/me").expect_json(StatusCode::OK).await;
    let due = me["mfa_setup_due"].as_str().expect("a deadline");
    assert!(due > since.as_str(), "{due} after {since}");
    app.get_as(&p.viewer, "/api/client/dashboard").expect_status(StatusCode::OK).await;
    let owner_me = app.get_as(&p.owner, "/api/client/auth/me").expect_json(StatusCode::OK).await;
    assert!(owner_me.get("mfa_setup_due").is_none(), "the owner has a factor: {owner_me}");

    // A shorter grace keeps the start: with 0 days the viewer is locked.
    let changed = policy(true, 0).expect_json(StatusCode::OK).await;
    assert_eq!(changed["required_since"].as_str(), Some(since.as_str()));
    let message = app
        .get_as(&p.viewer, "/api/client/dashboard")
        .expect_error(StatusCode::FORBIDDEN, "requires multi-factor sign-in")
        .await;
    assert!(message.contains("/api/client/mfa/totp"), "{message}");
    // Pages send the user to the Security page.
    let page = app.get_as(&p.viewer, "/client/dashboard").reply().await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{:?} {}", page.headers, page.text());
    assert_eq!(
        page.headers.get("location").map(|v| v.to_str().unwrap()),
        Some("/client/security"),
        "{:?}",
        page.headers
    );
    // Who am I and setting up a factor still work, and then everything does.
    app.get_as(&p.viewer, "/api/client/auth/me").expect_status(StatusCode::OK).await;
    enrol(&app, &p.viewer).await;
    let viewer = app.sign_in(p.viewer.id, &p.viewer.email, p.org_id).await;
    app.get_as(&viewer, "/api/client/dashboard").expect_status(StatusCode::OK).await;

    // API tokens are not affected by the policy.
    let admin_token = app.bearer(&p.admin).await;
    app.client
        .get("/api/client/dashboard")
        .header("authorization", format!("Bearer {admin_token}"))
        .expect_status(StatusCode::OK)
        .await;
    app.get_as(&p.admin, "/api/client/dashboard").expect_status(StatusCode::FORBIDDEN).await;

    // While it is required, nobody removes their last factor.
    app.delete_as(&viewer, "/api/client/mfa/totp")
        .expect_error(StatusCode::CONFLICT, "requires multi-factor")
        .await;
    let off = policy(false, 7).expect_json(StatusCode::OK).await;
    assert_eq!(off, json!({ "required": false, "grace_days": 7 }));
    app.get_as(&p.admin, "/api/client/dashboard").expect_status(StatusCode::OK).await;
    app.delete_as(&viewer, "/api/client/mfa/totp").expect_status(StatusCode::NO_CONTENT).await;
    let status = app.get_as(&viewer, "/api/client/mfa").expect_json(StatusCode::OK).await;
    assert_eq!(status["recovery_codes_left"], 0, "no factor left: the recovery codes went too");
    assert_eq!(audited(&app, "mfa.totp_removed").await, 1);
}

#[tokio::test]
async fn an_admin_resets_a_viewers_factors_but_not_the_owners_nor_their_own() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (secret, _) = enrol(&app, &p.viewer).await;
    give_totp(&app, p.owner.id).await;
    give_totp(&app, p.admin.id).await;
    let reset =
        |by: &TestUser, who: Uuid| app.delete_as(by, &format!("/api/client/users/{who}/mfa"));

    reset(&p.admin, p.owner.id).expect_error(StatusCode::FORBIDDEN, "owner").await;
    reset(&p.admin, p.admin.id).expect_error(StatusCode::FORBIDDEN, "Security page").await;
    reset(&p.viewer, p.viewer.id).expect_status(StatusCode::FORBIDDEN).await;
    reset(&p.admin, Uuid::new_v4()).expect_status(StatusCode::NOT_FOUND).await;
    reset(&p.admin, p.viewer.id).expect_status(StatusCode::NO_CONTENT).await;
    reset(&p.admin, p.viewer.id).expect_error(StatusCode::CONFLICT, "no authenticator").await;
    assert_eq!(audited(&app, "mfa.reset").await, 1);
    assert!(
        mails_to(&app, &p.viewer.email)
            .await
            .iter()
            .any(|m| m.contains("removed your authenticator")),
        "the user is told"
    );
    // Signing in needs no second factor any more; the old code is nothing.
    let reply = first_factor(&app, &p.viewer).await;
    assert_eq!(reply.json()["status"], "authenticated");
    assert!(!code(&secret, 0).is_empty());
    // The owner may reset an admin.
    reset(&p.owner, p.admin.id).expect_status(StatusCode::NO_CONTENT).await;
}

#[tokio::test]
async fn a_passkey_of_someone_else_is_not_found_and_its_name_is_checked() {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let theirs = insert_passkey(&app, p.admin.id).await;
    app.delete_as(&p.viewer, &format!("/api/client/mfa/webauthn/{theirs}"))
        .expect_error(StatusCode::NOT_FOUND, "no such passkey")
        .await;
    app.delete_as(&p.viewer, "/api/client/mfa/webauthn/not-a-uuid")
        .expect_status(StatusCode::BAD_REQUEST)
        .await;
    app.post_json_as(&p.viewer, "/api/client/mfa/webauthn/register/start", &json!({ "name": 5 }))
        .expect_status(StatusCode::BAD_REQUEST)
        .await;
    let ours = insert_passkey(&app, p.viewer.id).await;
    let status = app.get_as(&p.viewer, "/api/client/mfa").expect_json(StatusCode::OK).await;
    assert_eq!(status["passkeys"][0]["id"], ours.to_string());
    assert_eq!(status["passkeys"][0]["name"], "Test key");
    app.delete_as(&p.viewer, &format!("/api/client/mfa/webauthn/{ours}"))
        .expect_status(StatusCode::NO_CONTENT)
        .await;
    assert_eq!(audited(&app, "mfa.passkey_removed").await, 1);
}

#[tokio::test]
async fn a_magic_link_and_a_second_factor_replace_a_forgotten_password_but_a_password_sign_in_does_not()
 {
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let (secret, _) = enrol(&app, &p.viewer).await;
    let db = app.db_client().await;
    let hash = portal::auth::password::hash("the forgotten password").unwrap();
    db.execute("UPDATE client_users SET password_hash = $2 WHERE id = $1", &[&p.viewer.id, &hash])
        .await
        .unwrap();
    let session_of = |reply: &Reply| format!("{SESSION}={}", cookies_set(reply)[SESSION]);
    let set_password = |session: String| {
        app.client
            .put("/api/client/password")
            .header("cookie", session)
            .body_json(&json!({ "password": "a brand new long password" }))
    };

    // Password and code: the current password is still required.
    let first = app
        .client
        .post("/api/client/auth/login")
        .body_json(&json!({ "email": p.viewer.email, "password": "the forgotten password" }))
        .reply()
        .await;
    let waiting = format!("{PENDING}={}", cookies_set(&first)[PENDING]);
    let signed = second_factor(&app, &waiting, &code(&secret, 1)).await;
    signed.check_status_is(StatusCode::OK);
    let session = session_of(&signed);
    let me = app
        .client
        .get("/api/client/auth/me")
        .header("cookie", &session)
        .expect_json(StatusCode::OK)
        .await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    set_password(session.clone())
        .header("x-csrf-token", &csrf)
        .expect_status(StatusCode::FORBIDDEN)
        .await;

    // The mailbox (a magic link) and a code: a new one without the old.
    let waiting = pending(&app, &p.viewer).await;
    let recovery = app
        .post_as(
            &app.sign_in(p.viewer.id, &p.viewer.email, p.org_id).await,
            "/api/client/mfa/recovery-codes",
        )
        .expect_json(StatusCode::OK)
        .await;
    let signed =
        second_factor(&app, &waiting, recovery["recovery_codes"][0].as_str().unwrap()).await;
    signed.check_status_is(StatusCode::OK);
    let session = session_of(&signed);
    let me = app
        .client
        .get("/api/client/auth/me")
        .header("cookie", &session)
        .expect_json(StatusCode::OK)
        .await;
    set_password(session)
        .header("x-csrf-token", me["csrf_token"].as_str().unwrap())
        .expect_status(StatusCode::OK)
        .await;
    assert!(
        mails_to(&app, &p.viewer.email).await.iter().any(|m| m.contains("password")),
        "the user is told their password changed"
    );
}
