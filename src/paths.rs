//! Every path of the portal's pages in one place: the router, the views'
//! links and forms, redirects, mail links and tests name them from here.
//! Constants are fixed paths; functions fill in ids. Route patterns (with
//! `:id`) are in [`route`].

use uuid::Uuid;

pub const ROOT: &str = "/";
pub const LOGIN: &str = "/client/login";
pub const LOGIN_MAGIC_LINK: &str = "/client/login/magic-link";
pub const LOGIN_PASSWORD: &str = "/client/login/password";
pub const VERIFY: &str = "/client/verify";
pub const LOGOUT: &str = "/client/logout";
/// The second step of signing in (a code, a passkey or a recovery code).
pub const LOGIN_MFA: &str = "/client/login/mfa";
pub const LOGIN_MFA_PASSKEY_OPTIONS: &str = "/client/login/mfa/passkey/options";
pub const LOGIN_MFA_PASSKEY: &str = "/client/login/mfa/passkey";
/// Sign-in methods: authenticator app, passkeys, recovery codes, the
/// practice's MFA policy.
pub const SECURITY: &str = "/client/security";
pub const SECURITY_TOTP: &str = "/client/security/totp";
pub const SECURITY_TOTP_CONFIRM: &str = "/client/security/totp/confirm";
pub const SECURITY_TOTP_REMOVE: &str = "/client/security/totp/remove";
pub const SECURITY_PASSKEY_OPTIONS: &str = "/client/security/passkeys/options";
pub const SECURITY_PASSKEYS: &str = "/client/security/passkeys";
pub const SECURITY_RECOVERY_CODES: &str = "/client/security/recovery-codes";
pub const SECURITY_CONFIRM: &str = "/client/security/confirm";
pub const SECURITY_CONFIRM_PASSKEY_OPTIONS: &str = "/client/security/confirm/passkey/options";
pub const SECURITY_CONFIRM_PASSKEY: &str = "/client/security/confirm/passkey";
pub const SECURITY_POLICY: &str = "/client/security/policy";
pub const DASHBOARD: &str = "/client/dashboard";
pub const EVIDENCE: &str = "/client/evidence";
pub const TODO_ACKNOWLEDGE: &str = "/client/todo/acknowledge";
pub const NOTIFICATIONS: &str = "/client/notifications";
pub const NOTIFICATIONS_BADGE: &str = "/client/notifications/badge";
pub const NOTIFICATIONS_READ_ALL: &str = "/client/notifications/read-all";
pub const REPORTS: &str = "/client/reports";
pub const USERS: &str = "/client/users";
pub const USERS_INVITE: &str = "/client/users/invite";
pub const INVITE: &str = "/client/invite";
pub const TRANSFER: &str = "/client/transfer";
pub const TRANSFER_REQUEST: &str = "/client/transfer/request";
pub const TRANSFER_CANCEL: &str = "/client/transfer/cancel";
pub const AUDIT: &str = "/client/audit";
pub const SETTINGS: &str = "/client/settings";
pub const SETTINGS_PASSWORD: &str = "/client/settings/password";
pub const SETTINGS_NOTIFICATIONS: &str = "/client/settings/notifications";
pub const SETTINGS_TIME_ZONE: &str = "/client/settings/time-zone";
pub const SETTINGS_REVOKE_OTHER_SESSIONS: &str = "/client/settings/sessions/revoke-others";
pub const SETTINGS_API_TOKENS: &str = "/client/settings/api-tokens";
pub const DEV_MAILBOX: &str = "/dev/mailbox";
pub const API_DOCS: &str = "/api/docs";
pub const OPENAPI_JSON: &str = "/api/openapi.json";

/// The paths signed-out visitors use; they never leak into a Referer.
pub const AUTH_PREFIXES: &[&str] = &[LOGIN, VERIFY, INVITE];

/// Starts a practice verification (htmx).
pub const LOG_VERIFY: &str = "/client/log/verify";

/// A practice verification's progress (htmx fragment).
pub fn log_verification(id: Uuid) -> String {
    format!("/client/log/verify/{id}")
}

/// Auditor grants on the users page (form posts).
pub const AUDITORS: &str = "/client/users/auditors";

pub fn auditor_extend(id: Uuid) -> String {
    format!("/client/users/auditors/{id}/extend")
}

pub fn auditor_revoke(id: Uuid) -> String {
    format!("/client/users/auditors/{id}/revoke")
}

/// Evidence packs and exports: the page, and where its form posts.
pub const AUDIT_PACKS: &str = "/client/audit-packs";
/// The owner's full export (form post).
pub const EXPORT: &str = "/client/audit-packs/export";

/// One pack's row (htmx fragment, polled while it builds).
pub fn audit_pack(id: Uuid) -> String {
    format!("/client/audit-packs/{id}")
}

/// A ready pack's ZIP (the API's download, which a session may use).
pub fn audit_pack_download(id: Uuid) -> String {
    format!("/api/client/audit-packs/{id}/download")
}

/// The audit log's API; with `format=csv`, its export (a session may use it).
pub const AUDIT_LOG_API: &str = "/api/client/audit-log";

/// A bundle's exact bytes (the API's download, which a session may use),
/// naming its site. Bundle ids are checked at ingest to need no escaping.
pub fn evidence_download(bundle_id: &str, site_id: Uuid) -> String {
    format!("/api/client/evidence/{bundle_id}/download?site_id={site_id}")
}

/// A bundle's tlog-proof file (the API's, which a session may use), naming
/// its site.
pub fn evidence_proof(bundle_id: &str, site_id: Uuid) -> String {
    format!("/api/client/evidence/{bundle_id}/proof?site_id={site_id}")
}

/// A practice's evidence log, served as c2sp.org/tlog-tiles below it.
pub fn log(org_id: Uuid) -> String {
    format!("/log/{org_id}")
}

pub fn site(id: Uuid) -> String {
    format!("/client/sites/{id}")
}

/// A bundle's page. Bundle ids are checked at ingest to need no escaping.
pub fn evidence_bundle(bundle_id: &str) -> String {
    format!("/client/evidence/{bundle_id}")
}

/// A bundle's page, naming its site: a bundle id is unique per site, so
/// two sites of a practice may use the same one.
pub fn site_bundle(bundle_id: &str, site_id: Uuid) -> String {
    format!("/client/evidence/{bundle_id}?site_id={site_id}")
}

pub fn notification_read(id: Uuid) -> String {
    format!("/client/notifications/{id}/read")
}

pub fn report_pdf(month: impl std::fmt::Display) -> String {
    format!("/client/reports/{month}/pdf")
}

pub fn user_remove(id: Uuid) -> String {
    format!("/client/users/{id}/remove")
}

pub fn user_role(id: Uuid) -> String {
    format!("/client/users/{id}/role")
}

pub fn invite_revoke(id: Uuid) -> String {
    format!("/client/users/invites/{id}/revoke")
}

pub fn invite_resend(id: Uuid) -> String {
    format!("/client/users/invites/{id}/resend")
}

pub fn session_revoke(id: Uuid) -> String {
    format!("/client/settings/sessions/{id}/revoke")
}

pub fn token_revoke(id: Uuid) -> String {
    format!("/client/settings/api-tokens/{id}/revoke")
}

pub fn user_mfa_reset(id: Uuid) -> String {
    format!("/client/users/{id}/mfa/reset")
}

pub fn passkey_remove(id: Uuid) -> String {
    format!("/client/security/passkeys/{id}/remove")
}

/// Route patterns for the router, matching the functions above.
pub mod route {
    pub const SITE: &str = "/client/sites/:id";
    pub const EVIDENCE_BUNDLE: &str = "/client/evidence/:bundle_id";
    pub const NOTIFICATION_READ: &str = "/client/notifications/:id/read";
    pub const REPORT_PDF: &str = "/client/reports/:month/pdf";
    pub const USER_REMOVE: &str = "/client/users/:id/remove";
    pub const USER_ROLE: &str = "/client/users/:id/role";
    pub const USER_MFA_RESET: &str = "/client/users/:id/mfa/reset";
    pub const PASSKEY_REMOVE: &str = "/client/security/passkeys/:id/remove";
    pub const INVITE_REVOKE: &str = "/client/users/invites/:id/revoke";
    pub const INVITE_RESEND: &str = "/client/users/invites/:id/resend";
    pub const SESSION_REVOKE: &str = "/client/settings/sessions/:id/revoke";
    pub const TOKEN_REVOKE: &str = "/client/settings/api-tokens/:id/revoke";
    pub const ASSET: &str = "/assets/:name";
    pub const LOG_VERIFICATION: &str = "/client/log/verify/:id";
    pub const AUDIT_PACK: &str = "/client/audit-packs/:id";
    pub const AUDITOR_EXTEND: &str = "/client/users/auditors/:id/extend";
    pub const AUDITOR_REVOKE: &str = "/client/users/auditors/:id/revoke";
    pub const LOG_CHECKPOINT: &str = "/log/:org/checkpoint";
    pub const LOG_TILE: &str = "/log/:org/tile/*path";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each function's path is its route pattern with the id filled in.
    #[test]
    fn functions_fill_in_their_route_patterns() {
        let id = Uuid::nil();
        let fill = |pattern: &str, param: &str, value: &str| pattern.replace(param, value);
        let ids = id.to_string();
        for (path, pattern) in [
            (site(id), route::SITE),
            (notification_read(id), route::NOTIFICATION_READ),
            (user_remove(id), route::USER_REMOVE),
            (user_role(id), route::USER_ROLE),
            (invite_revoke(id), route::INVITE_REVOKE),
            (invite_resend(id), route::INVITE_RESEND),
            (session_revoke(id), route::SESSION_REVOKE),
            (token_revoke(id), route::TOKEN_REVOKE),
            (user_mfa_reset(id), route::USER_MFA_RESET),
            (passkey_remove(id), route::PASSKEY_REMOVE),
        ] {
            assert_eq!(path, fill(pattern, ":id", &ids));
        }
        assert_eq!(evidence_bundle("B-1"), fill(route::EVIDENCE_BUNDLE, ":bundle_id", "B-1"));
        assert_eq!(report_pdf("2026-10"), fill(route::REPORT_PDF, ":month", "2026-10"));
        assert_eq!(
            evidence_download("B-1", id),
            format!("/api/client/evidence/B-1/download?site_id={ids}")
        );
        assert_eq!(
            evidence_proof("B-1", id),
            format!("/api/client/evidence/B-1/proof?site_id={ids}")
        );
    }
}
