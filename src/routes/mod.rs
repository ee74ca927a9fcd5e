//! HTTP routing: pages, the JSON API and its docs, assets and probes, all
//! wrapped in the [`shell::Shell`] layer.
//!
//! The rule for every handler here (`api/X.rs`, `pages/X.rs`): it parses
//! the request, authorizes it with a role extractor, calls the area module
//! and renders the answer (pages through `pages/respond.rs`). The area
//! module (`src/X.rs`, `src/X/mod.rs`) owns the transaction, the audit
//! entry, the mail, the paging and the wording of "not found"; `db::X`
//! owns the SQL. A handler writes none of those itself. The layers, where
//! each area lives and how to add an endpoint are in docs/ARCHITECTURE.md.

pub mod api;
pub mod assets;
pub mod docs;
pub mod health;
pub mod log_tiles;
pub mod pages;
pub mod shell;

use poem::{Endpoint, EndpointExt, IntoEndpoint, Route, get, post};

use crate::paths;
use crate::state::AppState;

/// Every route of the portal without state or middleware, so tests can add
/// their own routes beside them.
pub fn routes() -> Route {
    use pages::{auth, dashboard, dev_mailbox, evidence, security, settings, site};
    let app = Route::new();
    // Each area of issue 5 adds its own pages.
    let app = pages::notifications::routes(app);
    let app = pages::users::routes(app);
    let app = pages::reports::routes(app);
    let app = pages::transfer::routes(app);
    let app = pages::audit::routes(app);
    let app = pages::packs::routes(app);
    app.at("/", get(pages::view_root_get))
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at(paths::route::ASSET, get(assets::serve_asset))
        .at(paths::LOGIN, get(auth::view_login_get))
        .at(paths::LOGIN_MAGIC_LINK, post(auth::view_login_magic_link_post))
        .at(paths::LOGIN_PASSWORD, post(auth::view_login_password_post))
        .at(paths::VERIFY, get(auth::view_verify_get).post(auth::view_verify_post))
        .at(paths::LOGIN_MFA, get(auth::view_login_mfa_get).post(auth::view_login_mfa_post))
        .at(paths::LOGIN_MFA_PASSKEY_OPTIONS, post(auth::view_login_mfa_passkey_options_post))
        .at(paths::LOGIN_MFA_PASSKEY, post(auth::view_login_mfa_passkey_post))
        .at(paths::LOGOUT, post(auth::view_logout_post))
        .at(paths::DASHBOARD, get(dashboard::view_dashboard_get))
        .at(paths::route::SITE, get(site::view_site_get))
        .at(paths::TODO_ACKNOWLEDGE, post(pages::todo::view_todo_acknowledge_post))
        .at(paths::EVIDENCE, get(evidence::view_evidence_get))
        .at(paths::route::EVIDENCE_BUNDLE, get(evidence::view_evidence_detail_get))
        .at(paths::SETTINGS, get(settings::view_settings_get))
        .at(paths::SETTINGS_PASSWORD, post(settings::view_settings_password_post))
        .at(paths::SETTINGS_TIME_ZONE, post(settings::view_settings_time_zone_post))
        .at(
            paths::SETTINGS_REVOKE_OTHER_SESSIONS,
            post(settings::view_settings_sessions_revoke_others_post),
        )
        .at(paths::route::SESSION_REVOKE, post(settings::view_settings_session_revoke_post))
        .at(paths::SETTINGS_API_TOKENS, post(settings::view_settings_token_create_post))
        .at(paths::route::TOKEN_REVOKE, post(settings::view_settings_token_revoke_post))
        .at(paths::SECURITY, get(security::view_security_get))
        .at(paths::SECURITY_TOTP, post(security::view_security_totp_post))
        .at(paths::SECURITY_TOTP_CONFIRM, post(security::view_security_totp_confirm_post))
        .at(paths::SECURITY_TOTP_REMOVE, post(security::view_security_totp_remove_post))
        .at(paths::SECURITY_PASSKEY_OPTIONS, post(security::view_security_passkey_options_post))
        .at(paths::SECURITY_PASSKEYS, post(security::view_security_passkey_post))
        .at(paths::route::PASSKEY_REMOVE, post(security::view_security_passkey_remove_post))
        .at(paths::SECURITY_RECOVERY_CODES, post(security::view_security_recovery_codes_post))
        .at(paths::SECURITY_CONFIRM, post(security::view_security_confirm_post))
        .at(
            paths::SECURITY_CONFIRM_PASSKEY_OPTIONS,
            post(security::view_security_confirm_passkey_options_post),
        )
        .at(paths::SECURITY_CONFIRM_PASSKEY, post(security::view_security_confirm_passkey_post))
        .at(paths::SECURITY_POLICY, post(security::view_security_policy_post))
        .at(paths::DEV_MAILBOX, get(dev_mailbox::view_dev_mailbox_get))
        .at(paths::LOG_VERIFY, post(pages::log::view_log_verify_post))
        .at(paths::route::LOG_VERIFICATION, get(pages::log::view_log_verification_get))
        .at(paths::route::LOG_CHECKPOINT, get(log_tiles::log_checkpoint_get))
        .at(paths::route::LOG_TILE, get(log_tiles::log_tile_get))
        .at(paths::OPENAPI_JSON, get(docs::openapi_json))
        .nest(paths::API_DOCS, docs::swagger_ui())
        .nest("/api", api::service())
}

/// Wraps routes with the shared state and the shell (logs, errors, headers).
pub fn finish(
    routes: impl IntoEndpoint<Endpoint: 'static>,
    state: AppState,
) -> impl Endpoint + 'static {
    let hsts = state.config().base_url.starts_with("https://");
    let shell = shell::Shell { hsts, state: state.clone() };
    routes.into_endpoint().data(state).with(shell)
}
