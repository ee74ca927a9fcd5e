//! Static assets, embedded in the binary so the portal runs from anywhere.
//! URLs carry a content hash (`?v=…`); a request with the current hash may be
//! cached for a year, anything else for five minutes, and every answer has an
//! ETag so revalidation is a 304.

use std::sync::OnceLock;

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{Request, Response, handler};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/app.css"),
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/htmx.min.js"),
    },
    Asset {
        name: "portal.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/portal.js"),
    },
];

struct Hashed {
    asset: &'static Asset,
    /// First 16 hex digits of the SHA-256: the cache-busting version.
    version: String,
}

fn hashed() -> &'static [Hashed] {
    static HASHED: OnceLock<Vec<Hashed>> = OnceLock::new();
    HASHED.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| Hashed {
                asset,
                version: hex::encode(Sha256::digest(asset.bytes))[..16].to_owned(),
            })
            .collect()
    })
}

fn find(name: &str) -> Option<&'static Hashed> {
    hashed().iter().find(|h| h.asset.name == name)
}

/// The versioned URL of an embedded asset, for use in pages.
pub fn url(name: &str) -> String {
    match find(name) {
        Some(h) => format!("/assets/{}?v={}", name, h.version),
        None => format!("/assets/{name}"),
    }
}

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
