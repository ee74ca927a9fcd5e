//! The static assets embedded in the binary (so the portal runs from
//! anywhere), each with a content-hash version for its URL. Pages link them
//! with [`url`]; `routes::assets` serves them.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/app.css"),
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/htmx.min.js"),
    },
    Asset {
        name: "portal.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/portal.js"),
    },
    Asset {
        name: "webauthn.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/webauthn.js"),
    },
];

pub struct Hashed {
    pub asset: &'static Asset,
    /// First 16 hex digits of the SHA-256: the cache-busting version.
    pub version: String,
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

pub fn find(name: &str) -> Option<&'static Hashed> {
    hashed().iter().find(|h| h.asset.name == name)
}

/// The versioned URL of an embedded asset, for use in pages.
pub fn url(name: &str) -> String {
    match find(name) {
        Some(h) => format!("/assets/{}?v={}", name, h.version),
        None => format!("/assets/{name}"),
    }
}
