//! HTTP routing: pages, the JSON API and its docs, assets and probes, all
//! wrapped in the [`shell::Shell`] layer.

pub mod api;
pub mod assets;
pub mod docs;
pub mod health;
pub mod pages;
pub mod shell;

use poem::{Endpoint, EndpointExt, IntoEndpoint, Route, get};

use crate::state::AppState;

/// Every route of the portal without state or middleware, so tests can add
/// their own routes beside them.
pub fn routes() -> Route {
    Route::new()
        .at("/", get(pages::view_root_get))
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/assets/:name", get(assets::serve_asset))
        .at("/client/login", get(pages::view_login_get))
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
    routes
        .into_endpoint()
        .data(state)
        .with(shell::Shell { hsts })
}
