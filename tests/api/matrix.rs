//! Every /api/client operation against every kind of caller. The table must
//! name each operation in the spec, so a new endpoint cannot skip this test.

use std::collections::BTreeSet;

use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Practice, TestApp, spawn_app};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    Viewer,
    Admin,
    Owner,
    /// The owner of another practice, using this practice's ids.
    OtherOrg,
    /// An auditor of this practice, with a live grant to all of it.
    Auditor,
}

const CALLERS: [Caller; 6] = [
    Caller::Anonymous,
    Caller::Viewer,
    Caller::Admin,
    Caller::Owner,
    Caller::OtherOrg,
    Caller::Auditor,
];

/// One operation: how to build its request for practice A, and the status
/// each caller must get, in CALLERS order.
pub struct Case {
    pub operation_id: &'static str,
    pub method: Method,
    /// Anonymous, viewer, admin, owner, another practice's owner, auditor.
    pub expect: [u16; 6],
}

/// Every area's rows: this file's and those of the areas' own test modules.
fn all_cases() -> impl Iterator<Item = &'static Case> {
    CASES
        .iter()
        .chain(crate::notifications::MATRIX)
        .chain(crate::users::MATRIX)
        .chain(crate::reports::MATRIX)
        .chain(crate::transfer::MATRIX)
        .chain(crate::audit::MATRIX)
        .chain(crate::log_api::MATRIX)
        .chain(crate::packs::MATRIX)
        .chain(crate::mfa::MATRIX)
        .chain(crate::todo::MATRIX)
        .chain(crate::practice::MATRIX)
}

const CASES: &[Case] = &[
    Case {
        operation_id: "request_magic_link",
        method: Method::POST,
        expect: [200, 200, 200, 200, 200, 200],
    },
    Case {
        operation_id: "validate_magic_link",
        method: Method::POST,
        expect: [401, 401, 401, 401, 401, 401],
    },
    Case {
        operation_id: "login_password",
        method: Method::POST,
        expect: [401, 401, 401, 401, 401, 401],
    },
    Case {
        operation_id: "logout_session",
        method: Method::POST,
        expect: [401, 204, 204, 204, 204, 204],
    },
    // Granting needs an owner or admin of the practice, in a browser
    // session; another practice's grant is not found.
    Case {
        operation_id: "create_auditor_grant",
        method: Method::POST,
        expect: [401, 403, 201, 201, 201, 403],
    },
    Case {
        operation_id: "list_auditor_grants",
        method: Method::GET,
        expect: [401, 403, 200, 200, 200, 403],
    },
    Case {
        operation_id: "update_auditor_grant",
        method: Method::PATCH,
        expect: [401, 403, 200, 200, 404, 403],
    },
    Case {
        operation_id: "revoke_auditor_grant",
        method: Method::DELETE,
        expect: [401, 403, 204, 204, 404, 403],
    },
    Case { operation_id: "get_me", method: Method::GET, expect: [401, 200, 200, 200, 200, 200] },
    // The second step needs the pending cookie of a first factor, which no
    // caller here has: a session is no substitute.
    Case {
        operation_id: "verify_mfa",
        method: Method::POST,
        expect: [401, 401, 401, 401, 401, 401],
    },
    Case {
        operation_id: "create_mfa_challenge",
        method: Method::POST,
        expect: [401, 401, 401, 401, 401, 401],
    },
    Case {
        operation_id: "verify_mfa_webauthn",
        method: Method::POST,
        expect: [401, 401, 401, 401, 401, 401],
    },
    // Anyone signed in may confirm it is them; these users have no second
    // factor, so a code is not what they can answer with (422).
    Case {
        operation_id: "verify_reauthentication",
        method: Method::POST,
        expect: [401, 422, 422, 422, 422, 422],
    },
    Case {
        operation_id: "set_password",
        method: Method::PUT,
        expect: [401, 200, 200, 200, 200, 403],
    },
    Case {
        operation_id: "list_sessions",
        method: Method::GET,
        expect: [401, 200, 200, 200, 200, 403],
    },
    // A session of A's owner: only they may end it; everyone else gets 404.
    Case {
        operation_id: "revoke_session",
        method: Method::DELETE,
        expect: [401, 404, 404, 204, 404, 403],
    },
    Case {
        operation_id: "revoke_other_sessions",
        method: Method::POST,
        expect: [401, 200, 200, 200, 200, 403],
    },
    Case {
        operation_id: "list_api_tokens",
        method: Method::GET,
        expect: [401, 403, 200, 200, 200, 403],
    },
    Case {
        operation_id: "create_api_token",
        method: Method::POST,
        expect: [401, 403, 201, 201, 201, 403],
    },
    // A token of practice A.
    Case {
        operation_id: "revoke_api_token",
        method: Method::DELETE,
        expect: [401, 403, 204, 204, 404, 403],
    },
    Case {
        operation_id: "verify_evidence",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
    Case {
        operation_id: "verify_chain",
        method: Method::POST,
        expect: [401, 200, 200, 200, 404, 200],
    },
    Case {
        operation_id: "get_dashboard",
        method: Method::GET,
        expect: [401, 200, 200, 200, 200, 200],
    },
    Case {
        operation_id: "list_sites",
        method: Method::GET,
        expect: [401, 200, 200, 200, 200, 200],
    },
    Case { operation_id: "get_site", method: Method::GET, expect: [401, 200, 200, 200, 404, 200] },
    Case {
        operation_id: "get_site_history",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
    Case {
        operation_id: "list_evidence",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
    Case {
        operation_id: "get_evidence",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
    Case {
        operation_id: "download_evidence",
        method: Method::GET,
        expect: [401, 200, 200, 200, 404, 200],
    },
];

/// Fresh per call, so destructive operations have something to act on.
async fn path_and_body(app: &TestApp, a: &Practice, operation_id: &str) -> (String, Option<Value>) {
    match operation_id {
        "request_magic_link" => (
            "/api/client/auth/request-magic-link".into(),
            Some(json!({ "email": "someone@elsewhere.example" })),
        ),
        "validate_magic_link" => (
            "/api/client/auth/validate-magic-link".into(),
            Some(json!({ "token": "no-such-token-0123456789abcdef" })),
        ),
        "login_password" => (
            "/api/client/auth/login".into(),
            Some(json!({ "email": a.owner.email, "password": "not the password" })),
        ),
        "logout_session" => ("/api/client/auth/logout".into(), None),
        "get_me" => ("/api/client/auth/me".into(), None),
        "verify_mfa" => ("/api/client/auth/mfa".into(), Some(json!({ "code": "123456" }))),
        "create_mfa_challenge" => ("/api/client/auth/mfa/webauthn/start".into(), None),
        "verify_mfa_webauthn" => {
            ("/api/client/auth/mfa/webauthn/finish".into(), Some(json!({ "credential": {} })))
        }
        "verify_reauthentication" => {
            ("/api/client/auth/reauthenticate".into(), Some(json!({ "code": "123456" })))
        }
        "set_password" => {
            ("/api/client/password".into(), Some(json!({ "password": "a brand new password" })))
        }
        "list_sessions" => ("/api/client/sessions".into(), None),
        "revoke_session" => {
            let s = app.sign_in(a.owner.id, &a.owner.email, a.org_id).await;
            (format!("/api/client/sessions/{}", s.session_id), None)
        }
        "revoke_other_sessions" => ("/api/client/sessions/revoke-others".into(), None),
        "list_api_tokens" | "create_api_token" => (
            "/api/client/api-tokens".into(),
            Some(json!({ "name": format!("t-{}", uuid::Uuid::new_v4()) })),
        ),
        "revoke_api_token" => {
            let db = app.db_client().await;
            let (id, _) = portal::db::api_tokens::insert(
                &**db,
                a.org_id,
                a.admin.id,
                &format!("victim-{}", uuid::Uuid::new_v4()),
                &rand_hash(),
                "ocp_x",
                portal::auth::Scope::Write,
            )
            .await
            .unwrap();
            (format!("/api/client/api-tokens/{id}"), None)
        }
        "verify_evidence" | "verify_chain" => {
            let site = crate::appliances::create_site(
                app,
                a.org_id,
                &format!("Site {}", uuid::Uuid::new_v4()),
            )
            .await;
            let id = format!("M-{}", uuid::Uuid::new_v4());
            crate::appliances::ingest(
                app,
                &site,
                &id,
                chrono::Utc::now(),
                &[("ntp_sync", "pass", "SRV", None)],
            )
            .await;
            if operation_id == "verify_chain" {
                (format!("/api/client/sites/{}/verify-chain", site.id), None)
            } else {
                (format!("/api/client/evidence/verify/{id}"), None)
            }
        }
        "get_dashboard" => ("/api/client/dashboard".into(), None),
        "list_auditor_grants" => ("/api/client/auditors".into(), None),
        "create_auditor_grant" => (
            "/api/client/auditors".into(),
            Some(json!({
                "email": format!("a-{}@firm.example", uuid::Uuid::new_v4().simple()),
                "name": "An Auditor", "firm": "A Firm"
            })),
        ),
        "update_auditor_grant" | "revoke_auditor_grant" => {
            let db = app.db_client().await;
            let g = portal::db::auditors::insert(
                &**db,
                &portal::db::auditors::NewGrant {
                    org_id: a.org_id,
                    email: &format!("g-{}@firm.example", uuid::Uuid::new_v4().simple()),
                    name: "Someone",
                    firm: "A Firm",
                    days: 10,
                    site_ids: None,
                    period_from: None,
                    period_to: None,
                    granted_by: a.owner.id,
                },
            )
            .await
            .unwrap();
            let body =
                (operation_id == "update_auditor_grant").then(|| json!({ "expires_in_days": 20 }));
            (format!("/api/client/auditors/{}", g.id), body)
        }
        "list_sites" => ("/api/client/sites".into(), None),
        "get_site" | "get_site_history" | "list_evidence" | "get_evidence"
        | "download_evidence" => {
            let site = crate::appliances::create_site(
                app,
                a.org_id,
                &format!("Site {}", uuid::Uuid::new_v4()),
            )
            .await;
            let id = format!("M-{}", uuid::Uuid::new_v4());
            crate::appliances::ingest(
                app,
                &site,
                &id,
                chrono::Utc::now(),
                &[("ntp_sync", "pass", "SRV", None)],
            )
            .await;
            let path = match operation_id {
                "get_site" => format!("/api/client/sites/{}", site.id),
                "get_site_history" => format!("/api/client/sites/{}/history?days=7", site.id),
                "list_evidence" => format!("/api/client/evidence?site_id={}", site.id),
                "get_evidence" => format!("/api/client/evidence/{id}"),
                _ => format!("/api/client/evidence/{id}/download"),
            };
            (path, None)
        }
        other => {
            if let Some(r) = crate::notifications::matrix_request(app, a, other).await {
                return r;
            }
            if let Some(r) = crate::users::matrix_request(app, a, other).await {
                return r;
            }
            if let Some(r) = crate::reports::matrix_request(app, a, other).await {
                return r;
            }
            if let Some(r) = crate::transfer::matrix_request(app, a, other).await {
                return r;
            }
            if let Some(r) = crate::audit::matrix_request(app, a, other).await {
                return r;
            }
            if let Some(r) = crate::log_api::matrix_request(app, a, other).await {
                return r;
            }
            if let Some(r) = crate::packs::matrix_request(app, a, other).await {
                return r;
            }
            if let Some(r) = crate::mfa::matrix_request(app, a, other).await {
                return r;
            }
            if let Some(r) = crate::todo::matrix_request(app, a, other).await {
                return r;
            }
            if let Some(r) = crate::practice::matrix_request(app, a, other).await {
                return r;
            }
            panic!("no request recipe for {other}")
        }
    }
}

fn rand_hash() -> [u8; 32] {
    portal::auth::tokens::random_bytes()
}

#[tokio::test]
async fn every_client_operation_answers_each_role_as_specified() {
    let spec: Value = serde_json::from_str(&portal::routes::api::spec_json()).unwrap();
    let in_spec: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/client"))
        .flat_map(|(_, ops)| {
            ops.as_object()
                .unwrap()
                .values()
                .map(|op| op["operationId"].as_str().unwrap().to_owned())
        })
        .collect();
    let in_table: BTreeSet<String> = all_cases().map(|c| c.operation_id.to_owned()).collect();
    assert_eq!(in_spec, in_table, "every /api/client operation needs a row in the matrix");

    let app = spawn_app().await;
    let a = app.practice("Oak Clinic").await;
    let b = app.practice("Elm Clinic").await;
    let (_, auditor) = crate::auditors::auditor_of(&app, &a.owner, a.org_id).await;
    let mut failures = Vec::new();
    for case in all_cases() {
        for (caller, expected) in CALLERS.iter().zip(case.expect) {
            // A fresh browser session per call (logout and password changes
            // end sessions), sent the way the portal's own pages send it.
            let who = match caller {
                Caller::Anonymous => None,
                Caller::Viewer => Some(&a.viewer),
                Caller::Admin => Some(&a.admin),
                Caller::Owner => Some(&a.owner),
                Caller::OtherOrg => Some(&b.owner),
                Caller::Auditor => Some(&auditor),
            };
            let session = match who {
                Some(u) => Some(app.sign_in(u.id, &u.email, u.org_id).await),
                None => None,
            };
            let (path, body) = path_and_body(&app, &a, case.operation_id).await;
            let mut req = app.client.request(case.method.clone(), &path);
            if let Some(s) = &session {
                req = req
                    .header("cookie", &s.cookie)
                    .header("x-csrf-token", &s.csrf)
                    .header("sec-fetch-site", "same-origin");
            }
            if let Some(body) = &body {
                req = req.body_json(body);
            }
            let resp = req.send().await;
            let got = resp.0.status();
            if got != StatusCode::from_u16(expected).unwrap() {
                // Lossy and cut short: a wrong 200 may be a PDF or a ZIP.
                let bytes = resp.0.into_body().into_vec().await.unwrap_or_default();
                let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
                failures.push(format!(
                    "{} as {caller:?}: expected {expected}, got {got}: {text}",
                    case.operation_id
                ));
            }
            // Six sign-in link requests from one address in a row would
            // meet its rate limit: each caller starts afresh.
            if case.operation_id == "request_magic_link" {
                // Raw SQL on purpose: the limit's counters.
                let db = app.db_client().await;
                db.execute("DELETE FROM rate_limits", &[]).await.unwrap();
            }
            // The password change must not leak into the next caller's row.
            if case.operation_id == "set_password" {
                // Raw SQL on purpose: no portal function removes a password.
                let db = app.db_client().await;
                db.execute("UPDATE client_users SET password_hash = NULL", &[]).await.unwrap();
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
