//! Serves the embedded static assets ([`crate::assets`]). URLs carry a content hash (`?v=…`); a request with the current hash may be
//! cached for a year, anything else for five minutes, and every answer has an
//! ETag so revalidation is a 304.

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{Request, Response, handler};

use crate::assets::find;

#[handler]
pub fn serve_asset(Path(name): Path<String>, req: &Request) -> poem::Result<Response> {
    let Some(h) = find(&name) else {
        return Err(poem::Error::from_status(StatusCode::NOT_FOUND));
    };
    let etag = format!("\"{}\"", h.version);
    let immutable =
        req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv == format!("v={}", h.version)));
    let cache =
        if immutable { "public, max-age=31536000, immutable" } else { "public, max-age=300" };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let builder = Response::builder()
        .header(header::ETAG, etag.as_str())
        .header(header::CACHE_CONTROL, cache);
    if matches {
        return Ok(builder.status(StatusCode::NOT_MODIFIED).finish());
    }
    Ok(builder.header(header::CONTENT_TYPE, h.asset.content_type).body(h.asset.bytes))
}
