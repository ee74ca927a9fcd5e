//! HTTP routing: pages, the JSON API and its docs, assets and probes, all
//! wrapped in the [`shell::Shell`] layer.

pub mod api;
pub mod assets;
pub mod docs;
pub mod health;
pub mod pages;
pub mod shell;

use poem::{Endpoint, EndpointExt, IntoEndpoint, Route, get, post};

use crate::state::AppState;

/// Every route of the portal without state or middleware, so tests can add
/// their own routes beside them.
pub fn routes() -> Route {
    use pages::{auth, dashboard, dev_mailbox, evidence, settings, site};
    let app = Route::new();
    // Each area of issue 5 adds its own pages.
    let app = pages::notifications::routes(app);
    let app = pages::users::routes(app);
    let app = pages::reports::routes(app);
    let app = pages::transfer::routes(app);
    let app = pages::audit::routes(app);
    app.at("/", get(pages::view_root_get))
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/assets/:name", get(assets::serve_asset))
        .at("/client/login", get(auth::view_login_get))
        .at("/client/login/magic-link", post(auth::view_login_magic_link_post))
        .at("/client/login/password", post(auth::view_login_password_post))
        .at("/client/verify", get(auth::view_verify_get).post(auth::view_verify_post))
        .at("/client/logout", post(auth::view_logout_post))
        .at("/client/dashboard", get(dashboard::view_dashboard_get))
        .at("/client/sites/:id", get(site::view_site_get))
        .at("/client/sites/:id/verify-chain", post(site::view_site_verify_chain_post))
        .at("/client/evidence", get(evidence::view_evidence_get))
        .at("/client/evidence/:bundle_id", get(evidence::view_evidence_detail_get))
        .at("/client/settings", get(settings::view_settings_get))
        .at("/client/settings/password", post(settings::view_settings_password_post))
        .at(
            "/client/settings/sessions/revoke-others",
            post(settings::view_settings_sessions_revoke_others_post),
        )
        .at(
            "/client/settings/sessions/:id/revoke",
            post(settings::view_settings_session_revoke_post),
        )
        .at("/client/settings/api-tokens", post(settings::view_settings_token_create_post))
        .at(
            "/client/settings/api-tokens/:id/revoke",
            post(settings::view_settings_token_revoke_post),
        )
        .at("/dev/mailbox", get(dev_mailbox::view_dev_mailbox_get))
        .at("/api/openapi.json", get(docs::openapi_json))
        .nest("/api/docs", docs::swagger_ui())
        .nest("/api", api::service())
}

/// Wraps routes with the shared state and the shell (logs, errors, headers).
pub fn finish(
    routes: impl IntoEndpoint<Endpoint: 'static>,
    state: AppState,
) -> impl Endpoint + 'static {
    let hsts = state.config().base_url.starts_with("https://");
    routes.into_endpoint().data(state).with(shell::Shell { hsts })
}
