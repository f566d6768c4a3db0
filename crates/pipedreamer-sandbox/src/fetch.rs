//! `ctx.fetch` on the host side: policy checks and credential injection on every hop, manual
//! redirects (so a credential never follows a redirect to another host), and hard limits on time
//! and size.

use crate::capabilities::FetchCapability;
use reqwest::{Method, StatusCode, Url, header::HeaderName, header::HeaderValue};
use serde::Serialize;
use std::time::Duration;

/// Longest a single fetch may take (a node's own timeout may cut it shorter).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body handed to node code.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
const MAX_REDIRECTS: usize = 10;

/// What node code asked for.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// Absolute URL.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// Headers set by node code.
    pub headers: Vec<(String, String)>,
    /// Text body.
    pub body: Option<String>,
}

/// What node code gets back (the body travels separately).
#[derive(Debug, Clone, Serialize)]
pub struct ResponseMeta {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    #[serde(rename = "statusText")]
    pub status_text: String,
    /// Final URL after redirects.
    pub url: String,
    /// Whether a redirect was followed.
    pub redirected: bool,
    /// Response headers.
    pub headers: Vec<(String, String)>,
}

/// An HTTP client for node fetches: no automatic redirects, Rust-side DNS (the engine is static).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .hickory_dns(true)
        .connect_timeout(Duration::from_secs(10))
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("pipedreamer/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Performs a fetch under `cap`. Errors are messages fit for node code (no secrets in them).
pub async fn perform(
    client: &reqwest::Client,
    cap: &FetchCapability,
    req: FetchRequest,
) -> Result<(ResponseMeta, String), String> {
    let mut url: Url = req
        .url
        .parse()
        .map_err(|e| format!("invalid URL `{}`: {e}", req.url))?;
    let mut method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("invalid HTTP method `{}`", req.method))?;
    let mut body = req.body;
    let mut node_headers = req.headers;
    let first_origin = url.origin();
    for hop in 0..=MAX_REDIRECTS {
        let host = cap.check(&url).map_err(|e| e.to_string())?;
        let mut builder = client.request(method.clone(), url.clone());
        let credential = cap.credential_for(&host);
        for (k, v) in &node_headers {
            if credential.is_some_and(|c| c.header.eq_ignore_ascii_case(k)) {
                continue;
            }
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name `{k}`"))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| format!("invalid value for header `{k}`"))?;
            builder = builder.header(name, value);
        }
        if let Some(c) = credential {
            let mut value = HeaderValue::from_str(&c.value)
                .map_err(|_| format!("the credential for `{host}` is not a valid header value"))?;
            value.set_sensitive(true);
            builder = builder.header(c.header.as_str(), value);
        }
        if let Some(b) = &body {
            builder = builder.body(b.clone());
        }
        let resp = builder.send().await.map_err(|e| describe(&url, &e))?;
        let status = resp.status();
        if status.is_redirection()
            && let Some(location) = resp.headers().get(reqwest::header::LOCATION)
        {
            if hop == MAX_REDIRECTS {
                return Err(format!("too many redirects fetching `{}`", req.url));
            }
            let location = location
                .to_str()
                .map_err(|_| "redirect with an invalid Location header".to_owned())?;
            let next = url
                .join(location)
                .map_err(|e| format!("invalid redirect to `{location}`: {e}"))?;
            if next.origin() != first_origin {
                // Like browsers: the node's own credentials do not cross origins.
                node_headers.retain(|(k, _)| {
                    !matches!(
                        k.to_ascii_lowercase().as_str(),
                        "authorization" | "cookie" | "proxy-authorization"
                    )
                });
            }
            if status == StatusCode::SEE_OTHER
                || ((status == StatusCode::MOVED_PERMANENTLY || status == StatusCode::FOUND)
                    && method == Method::POST)
            {
                method = Method::GET;
                body = None;
            }
            url = next;
            continue;
        }
        let meta = ResponseMeta {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_owned(),
            url: url.to_string(),
            redirected: hop > 0,
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        };
        if resp
            .content_length()
            .is_some_and(|n| n as usize > MAX_RESPONSE_BYTES)
        {
            return Err(format!(
                "response from `{url}` is larger than {} MiB",
                MAX_RESPONSE_BYTES >> 20
            ));
        }
        let mut resp = resp;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&url, &e))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!(
                    "response from `{url}` is larger than {} MiB",
                    MAX_RESPONSE_BYTES >> 20
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((meta, String::from_utf8_lossy(&bytes).into_owned()));
    }
    Err(format!("too many redirects fetching `{}`", req.url))
}

fn describe(url: &Url, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut msg = format!("fetch `{url}`: {what}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
