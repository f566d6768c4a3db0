//! `fetch` (also `ctx.fetch`) on the host side, bytes in and out: policy checks and credential
//! injection on every hop, manual redirects (so a credential never follows a redirect to another
//! host), and hard limits on time and size.
//!
//! A workload may carry a [`FetchResponder`] (workflow tests, `pipedreamer test`): then every hop
//! that passes the capability checks is answered by it instead of the network. The checks are
//! the same either way, so a test cannot reach a host the policy forbids.

use crate::capabilities::{Denied, FetchCapability};
use reqwest::{Method, StatusCode, Url, header::HeaderName, header::HeaderValue};
use serde::Serialize;
use std::time::Duration;

/// Longest a single fetch may take (a node's own timeout may cut it shorter).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body handed to node code.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
const MAX_REDIRECTS: usize = 10;

/// Why a fetch failed, typed so that node code can tell a denial from a timeout (each kind is
/// thrown as its own JavaScript error class; see [`FetchError::js_name`]). Messages never hold
/// secrets: credentials are not part of any of them.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The capability refused the request (`NotCapable` in node code, like Deno's).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The request itself is malformed: URL, method or header (`TypeError`).
    #[error("{0}")]
    Invalid(String),
    /// The request or the response took too long (`TimeoutError`).
    #[error("{0}")]
    Timeout(String),
    /// Connecting, sending or reading failed, or the redirects went wrong (`TypeError`, as the
    /// fetch standard has it for network errors).
    #[error("{0}")]
    Network(String),
    /// The response body is larger than [`MAX_RESPONSE_BYTES`] (`RangeError`).
    #[error("response from `{0}` is larger than {max} MiB", max = MAX_RESPONSE_BYTES >> 20)]
    TooLarge(String),
    /// Buffering the body would take the run past its memory limit (`RangeError`).
    #[error(
        "the response from `{0}` does not fit in the run's memory limit (bodies count toward it)"
    )]
    MemoryLimit(String),
}

impl FetchError {
    /// The JavaScript error class node code sees.
    pub fn js_name(&self) -> &'static str {
        match self {
            Self::Denied(_) => "NotCapable",
            Self::Timeout(_) => "TimeoutError",
            Self::TooLarge(_) | Self::MemoryLimit(_) => "RangeError",
            Self::Invalid(_) | Self::Network(_) => "TypeError",
        }
    }
}

/// Where response bodies are counted while they are buffered: the run's memory budget.
pub trait BodyBudget {
    /// Takes `bytes` more; `false` when that would exceed the budget.
    fn take(&mut self, bytes: usize) -> bool;
}

/// No budget beyond [`MAX_RESPONSE_BYTES`] (for callers outside a run).
impl BodyBudget for () {
    fn take(&mut self, _: usize) -> bool {
        true
    }
}

/// What node code asked for.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// Absolute URL.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// Headers set by node code.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Option<Vec<u8>>,
    /// What to do with a redirect (every hop followed is still checked).
    pub redirect: RedirectMode,
}

/// The fetch standard's `redirect` option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RedirectMode {
    /// Follow redirects, each hop checked (the default).
    #[default]
    Follow,
    /// Fail on a redirect (`TypeError`).
    Error,
    /// Return the redirect response itself.
    Manual,
}

impl RedirectMode {
    /// The mode named by the standard's `redirect` option (`follow`, `error`, `manual`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "follow" => Some(Self::Follow),
            "error" => Some(Self::Error),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }
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
    /// Response headers, values read as Latin-1 (one char per byte).
    pub headers: Vec<(String, String)>,
}

/// Answers fetches in place of the network (see the module docs). Called once per hop, after
/// [`FetchCapability::check`] and the credential lookup passed; a redirect it answers is
/// followed (and checked) like a real one.
pub trait FetchResponder: Send + Sync + std::fmt::Debug {
    /// The response to `request`, or the error node code sees (e.g. "no stub matches").
    fn respond(&self, request: &StubRequest<'_>) -> Result<StubResponse, FetchError>;
}

/// One hop as a [`FetchResponder`] sees it (the injected credential is not part of it).
#[derive(Debug, Clone, Copy)]
pub struct StubRequest<'a> {
    /// HTTP method, upper case as node code gave it.
    pub method: &'a str,
    /// The hop's URL.
    pub url: &'a Url,
    /// Headers set by node code.
    pub headers: &'a [(String, String)],
    /// Body bytes.
    pub body: Option<&'a [u8]>,
}

/// What a [`FetchResponder`] answers.
#[derive(Debug, Clone, Default)]
pub struct StubResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Where a hop's response body comes from.
enum Body {
    Network(reqwest::Response),
    Stub(Vec<u8>),
}

/// Appends one chunk of a response body, within [`MAX_RESPONSE_BYTES`] and the run's budget.
fn append(
    bytes: &mut Vec<u8>,
    chunk: &[u8],
    url: &Url,
    budget: &mut dyn BodyBudget,
) -> Result<(), FetchError> {
    if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
        return Err(FetchError::TooLarge(url.to_string()));
    }
    if !budget.take(chunk.len()) {
        return Err(FetchError::MemoryLimit(url.to_string()));
    }
    bytes.extend_from_slice(chunk);
    Ok(())
}

/// An HTTP client for node fetches: no automatic redirects (every hop is checked here), Rust-side
/// DNS (the engine is static). There is no fallback: a default client would follow redirects
/// itself, past the capability checks, so failing to build this one is an error.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .hickory_dns(true)
        .connect_timeout(Duration::from_secs(10))
        .timeout(REQUEST_TIMEOUT)
        // Idle keep-alive connections hold their read buffers: a burst of parallel fetches would
        // otherwise keep megabytes resident long after the runs.
        .pool_idle_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(8)
        .user_agent(concat!("pipedreamer/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Headers node code may not set: `host` would let a request for one origin carry another's
/// name (and its credential) to a shared server; reqwest sets it from the URL.
fn node_may_set(name: &str) -> bool {
    !name.eq_ignore_ascii_case("host")
}

/// Performs a fetch under `cap`, buffering the body against `budget`; with a `responder`,
/// nothing goes to the network.
pub async fn perform(
    client: &reqwest::Client,
    cap: &FetchCapability,
    responder: Option<&dyn FetchResponder>,
    req: FetchRequest,
    budget: &mut dyn BodyBudget,
) -> Result<(ResponseMeta, Vec<u8>), FetchError> {
    let mut url: Url = req
        .url
        .parse()
        .map_err(|e| FetchError::Invalid(format!("invalid URL `{}`: {e}", req.url)))?;
    let mut method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| FetchError::Invalid(format!("invalid HTTP method `{}`", req.method)))?;
    let mut body = req.body;
    let mut node_headers = req.headers;
    node_headers.retain(|(k, _)| node_may_set(k));
    let first_origin = url.origin();
    for hop in 0..=MAX_REDIRECTS {
        let host = cap.check(&url)?;
        let credential = cap.credential_for(&url, &host)?;
        let (status, headers, source) = match responder {
            Some(responder) => {
                let stub = responder.respond(&StubRequest {
                    method: method.as_str(),
                    url: &url,
                    headers: &node_headers,
                    body: body.as_deref(),
                })?;
                let status = StatusCode::from_u16(stub.status).map_err(|_| {
                    FetchError::Invalid(format!("stubbed status {} is not valid", stub.status))
                })?;
                (status, stub.headers, Body::Stub(stub.body))
            }
            None => {
                let mut builder = client.request(method.clone(), url.clone());
                for (k, v) in &node_headers {
                    if credential.is_some_and(|c| c.header.eq_ignore_ascii_case(k)) {
                        continue;
                    }
                    let name = HeaderName::from_bytes(k.as_bytes())
                        .map_err(|_| FetchError::Invalid(format!("invalid header name `{k}`")))?;
                    let value = byte_string(v)
                        .and_then(|bytes| HeaderValue::from_bytes(&bytes).ok())
                        .ok_or_else(|| {
                            FetchError::Invalid(format!("invalid value for header `{k}`"))
                        })?;
                    builder = builder.header(name, value);
                }
                if let Some(c) = credential {
                    let mut value = HeaderValue::from_str(&c.value).map_err(|_| {
                        FetchError::Invalid(format!(
                            "the credential for `{host}` is not a valid header value"
                        ))
                    })?;
                    value.set_sensitive(true);
                    builder = builder.header(c.header.as_str(), value);
                }
                if let Some(b) = &body {
                    builder = builder.body(b.clone());
                }
                let resp = builder.send().await.map_err(|e| describe(&url, &e))?;
                if resp
                    .content_length()
                    .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
                {
                    return Err(FetchError::TooLarge(url.to_string()));
                }
                let headers = resp
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_owned(),
                            v.as_bytes().iter().copied().map(char::from).collect(),
                        )
                    })
                    .collect();
                (resp.status(), headers, Body::Network(resp))
            }
        };
        let location = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("location"))
            .map(|(_, v)| v.as_str());
        if status.is_redirection()
            && req.redirect != RedirectMode::Manual
            && let Some(location) = location
        {
            if req.redirect == RedirectMode::Error {
                return Err(FetchError::Network(format!(
                    "`{url}` redirects, and the request says `redirect: \"error\"`"
                )));
            }
            if hop == MAX_REDIRECTS {
                break;
            }
            // Header values were read as Latin-1; a Location must be visible ASCII.
            if !location
                .bytes()
                .all(|b| b == b'\t' || (32..127).contains(&b))
            {
                return Err(FetchError::Network(
                    "redirect with an invalid Location header".to_owned(),
                ));
            }
            let next = url.join(location).map_err(|e| {
                FetchError::Network(format!("invalid redirect to `{location}`: {e}"))
            })?;
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
            headers,
        };
        // The body counts toward the run's memory limit while it is buffered here (and again
        // once it is a JavaScript string), so parallel fetches cannot take the process past it.
        let mut bytes = Vec::new();
        match source {
            Body::Stub(stub) => append(&mut bytes, &stub, &url, budget)?,
            Body::Network(mut resp) => {
                while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&url, &e))? {
                    append(&mut bytes, &chunk, &url, budget)?;
                }
            }
        }
        return Ok((meta, bytes));
    }
    Err(FetchError::Network(format!(
        "too many redirects fetching `{}`",
        req.url
    )))
}

/// A header value as the fetch standard has it, a ByteString: one char per byte (U+0000 to
/// U+00FF), so a byte that is not ASCII travels as itself (response values are read the same
/// way, Latin-1). `None` when a char is above U+00FF (`Headers` refuses those already).
fn byte_string(value: &str) -> Option<Vec<u8>> {
    value
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

fn describe(url: &Url, e: &reqwest::Error) -> FetchError {
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
    if e.is_timeout() {
        FetchError::Timeout(msg)
    } else {
        FetchError::Network(msg)
    }
}
