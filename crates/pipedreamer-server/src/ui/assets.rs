//! The dashboard's static files, embedded in the binary and served at
//! `/assets/<content hash>/<name>` with `Cache-Control: immutable`: a new build changes the
//! hash, so a browser never runs a stale script and never asks twice for the same one.
//!
//! htmx and its SSE extension are vendored (see `assets/fetch.sh`); nothing is fetched from
//! anywhere else at run time.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded file.
pub(crate) struct Asset {
    /// The file name in its URL.
    pub(crate) name: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// The bytes.
    bytes: &'static [u8],
    /// First 16 hex digits of its SHA-256.
    hash: String,
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        (
            $name,
            $type,
            include_bytes!(concat!("../../assets/", $name)) as &[u8],
        )
    };
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        asset!("htmx-2.0.11.min.js", "text/javascript; charset=utf-8"),
        asset!(
            "htmx-ext-sse-2.2.4.min.js",
            "text/javascript; charset=utf-8"
        ),
        asset!("dashboard.js", "text/javascript; charset=utf-8"),
        asset!("dashboard.css", "text/css; charset=utf-8"),
    ]
    .into_iter()
    .map(|(name, content_type, bytes)| Asset {
        name,
        content_type,
        bytes,
        hash: hex::encode(&Sha256::digest(bytes)[..8]),
    })
    .collect()
});

/// The URL of the embedded file `name` (`/assets/<hash>/<name>`).
pub(crate) fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => format!("/assets/{}/{}", a.hash, a.name),
        // A template naming a file that is not embedded: a 404 in the browser, visible in tests.
        None => format!("/assets/missing/{name}"),
    }
}

/// `GET /assets/{hash}/{name}`: the file when the hash is its current one, 404 otherwise (an
/// old hash must not be cached forever under new content).
pub(crate) async fn serve(Path((hash, name)): Path<(String, String)>) -> Response {
    match ASSETS.iter().find(|a| a.name == name && a.hash == hash) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
