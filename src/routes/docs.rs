//! The OpenAPI document and Swagger UI. Swagger UI ships as one HTML page with
//! its script and style inline, so that page alone gets a CSP that allows
//! exactly those inline blocks by hash (and nothing else inline).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::http::header;
use poem::{Endpoint, IntoResponse, Response, Route, handler};
use sha2::{Digest, Sha256};

#[handler]
pub fn openapi_json() -> Response {
    static SPEC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let spec = SPEC.get_or_init(super::api::spec_json);
    spec.clone()
        .with_content_type("application/json; charset=utf-8")
        .with_header(header::CACHE_CONTROL, "no-cache")
        .into_response()
}

/// Swagger UI at `/api/docs`, its CSP computed once from the page itself.
/// The page (Swagger UI's script and style inline, with the spec: a few MB)
/// is made on its first request, not at start: a portal nobody reads the
/// docs of does not hold it, and each answer shares it rather than copying.
pub fn swagger_ui() -> impl Endpoint + 'static {
    static PAGE: std::sync::OnceLock<(bytes::Bytes, String)> = std::sync::OnceLock::new();
    Route::new().at(
        "/",
        poem::endpoint::make_sync(|_| {
            let (page, csp) = PAGE.get_or_init(|| {
                // poem-openapi's page names no language and calls itself
                // "Swagger UI": ours does both (WCAG 3.1.1, 2.4.2). The
                // scripts are untouched, so their hashes are the ones
                // Swagger UI ships.
                let page = super::api::service()
                    .swagger_ui_html()
                    .replacen("<html charset=\"UTF-8\">", "<html lang=\"en\">", 1)
                    .replacen(
                        "<title>Swagger UI</title>",
                        "<title>API reference · OsirisCare</title>",
                        1,
                    );
                let csp = csp_for(&page);
                (bytes::Bytes::from(page), csp)
            });
            Response::builder()
                .content_type("text/html; charset=utf-8")
                .header(header::CONTENT_SECURITY_POLICY, csp.as_str())
                .header(header::CACHE_CONTROL, "no-cache")
                .body(page.clone())
        }),
    )
}

fn csp_for(page: &str) -> String {
    let scripts = inline_blocks(page, "script");
    let styles = inline_blocks(page, "style");
    let hashes = |blocks: &[&str]| -> String {
        blocks
            .iter()
            .map(|b| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(b.as_bytes()))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "default-src 'self'; script-src 'self' {}; style-src 'self' {}; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        hashes(&scripts),
        hashes(&styles)
    )
}

/// Contents of `<tag ...>…</tag>` blocks without a `src` attribute.
fn inline_blocks<'a>(page: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start..];
        let Some(gt) = after.find('>') else { break };
        let attrs = &after[..gt];
        let body_start = gt + 1;
        let Some(end) = after[body_start..].find(&close) else {
            break;
        };
        if !attrs.contains("src=") {
            out.push(&after[body_start..body_start + end]);
        }
        rest = &after[body_start + end + close.len()..];
    }
    out
}
