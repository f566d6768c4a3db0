//! Run input: the one place request bodies and queue payloads are read and checked (size limit,
//! body deadline, UTF-8, JSON, nesting depth) for `/run`, webhooks and NATS alike, so the three
//! cannot drift apart. A refusal is counted in `pipedreamer_rejected_requests_total` where it is
//! made.

use crate::metrics::{Rejection, Source};
use crate::server::BodyTimeout;
use crate::state::EngineState;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The deepest nesting of arrays and objects accepted. It is the most serde_json's recursion
/// limit (128) parses, so everything the engine accepts it can also parse itself (webhook
/// filters do); without a
/// check, a 100k-deep document passed the (non-recursive) syntax check and overflowed the
/// sandbox's `JSON.parse` stack instead: a 500 for a client error.
pub const MAX_JSON_DEPTH: usize = 127;

/// Why an input was refused (the message never quotes the input).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Larger than `max_body`.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// "request body" or "message payload".
        what: &'static str,
        /// The limit in force.
        limit: u64,
    },
    /// The body did not arrive in time.
    #[error("{what} did not arrive within {}s", .timeout.as_secs_f64())]
    TimedOut {
        /// "request body".
        what: &'static str,
        /// `--body-timeout`.
        timeout: std::time::Duration,
    },
    /// The connection failed while the body was being read.
    #[error("cannot read the {what}: {reason}")]
    Unreadable {
        /// "request body".
        what: &'static str,
        /// The transport's complaint.
        reason: String,
    },
    /// Not UTF-8.
    #[error("{what} is not UTF-8")]
    NotUtf8 {
        /// "request body" or "message payload".
        what: &'static str,
    },
    /// Not JSON.
    #[error("{what} is not valid JSON: {reason}")]
    NotJson {
        /// "request body" or "message payload".
        what: &'static str,
        /// The parser's complaint (line and column).
        reason: String,
    },
    /// Nested deeper than [`MAX_JSON_DEPTH`].
    #[error("{what} nests arrays or objects deeper than {MAX_JSON_DEPTH} levels")]
    TooDeep {
        /// "request body" or "message payload".
        what: &'static str,
    },
}

impl InputError {
    fn rejection(&self) -> Rejection {
        match self {
            InputError::TooLarge { .. } => Rejection::TooLarge,
            InputError::TimedOut { .. } => Rejection::BodyTimeout,
            InputError::Unreadable { .. } => Rejection::Unreadable,
            InputError::NotUtf8 { .. }
            | InputError::NotJson { .. }
            | InputError::TooDeep { .. } => Rejection::BadJson,
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            InputError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            InputError::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A refused input, counted; answers as `{"error", "hint"}` (an HTTP response, or a queue reply).
#[derive(Debug)]
pub struct Rejected {
    source: Source,
    /// Why.
    pub error: InputError,
}

impl Rejected {
    fn new(state: &EngineState, source: Source, error: InputError) -> Self {
        state.metrics.reject(source, error.rejection());
        Self { source, error }
    }

    fn hint(&self) -> Option<&'static str> {
        match (&self.error, self.source) {
            (InputError::TooLarge { .. }, _) => {
                Some("raise `config.max_body` in workflow.yaml or `--max-body` on the engine")
            }
            (InputError::TimedOut { .. }, _) => {
                Some("send the body at once, or raise `--body-timeout` on the engine")
            }
            (InputError::Unreadable { .. }, _) => None,
            (_, Source::Nats) => Some("publish a JSON document, e.g. `{}`"),
            (_, _) => Some("send a JSON document, e.g. `{}`, with content-type application/json"),
        }
    }

    /// `{"error", "hint"}`.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({ "error": self.error.to_string() });
        if let Some(h) = self.hint() {
            body["hint"] = json!(h);
        }
        body
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        (self.error.status(), axum::Json(self.body())).into_response()
    }
}

/// Reads a request body under the engine's size limit (and the body deadline `server` set).
pub(crate) async fn read_body(
    state: &EngineState,
    source: Source,
    body: Body,
) -> Result<Bytes, Rejected> {
    const WHAT: &str = "request body";
    let limit = state.max_body();
    axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|e| {
            // Told apart by type: every failure used to be reported as "too large".
            let error = if let Some(t) = find_cause::<BodyTimeout>(&e) {
                InputError::TimedOut {
                    what: WHAT,
                    timeout: t.0,
                }
            } else if find_cause::<http_body_util::LengthLimitError>(&e).is_some() {
                InputError::TooLarge { what: WHAT, limit }
            } else {
                InputError::Unreadable {
                    what: WHAT,
                    reason: e.to_string(),
                }
            };
            Rejected::new(state, source, error)
        })
}

/// The first error of type `T` in `e`'s chain of sources.
fn find_cause<T: std::error::Error + 'static>(e: &axum::Error) -> Option<&T> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(t) = c.downcast_ref::<T>() {
            return Some(t);
        }
        cause = c.source();
    }
    None
}

/// The run input in `bytes` (a request body or a queue payload) as JSON text; empty is `{}`.
pub(crate) fn json_input(
    state: &EngineState,
    source: Source,
    bytes: &[u8],
) -> Result<String, Rejected> {
    let what = match source {
        Source::Nats => "message payload",
        Source::Http | Source::Webhook => "request body",
    };
    // HTTP bodies were limited while read; queue payloads arrive whole, so are checked here.
    let limit = state.max_body();
    if bytes.len() as u64 > limit {
        return Err(Rejected::new(
            state,
            source,
            InputError::TooLarge { what, limit },
        ));
    }
    json_text(bytes, what).map_err(|error| Rejected::new(state, source, error))
}

/// Checks that `bytes` is one JSON document no deeper than [`MAX_JSON_DEPTH`].
fn json_text(bytes: &[u8], what: &'static str) -> Result<String, InputError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok("{}".to_owned());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| InputError::NotUtf8 { what })?;
    // RawValue checks the syntax without building a tree (the hot path), but it does not
    // count depth: that is a separate linear scan.
    serde_json::from_str::<&serde_json::value::RawValue>(text).map_err(|e| {
        InputError::NotJson {
            what,
            reason: e.to_string(),
        }
    })?;
    if depth_exceeds(text.as_bytes(), MAX_JSON_DEPTH) {
        return Err(InputError::TooDeep { what });
    }
    Ok(text.to_owned())
}

/// Whether valid JSON `text` nests arrays and objects more than `max` deep.
fn depth_exceeds(text: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!depth_exceeds(deep(128).as_bytes(), 128));
        assert!(depth_exceeds(deep(129).as_bytes(), 128));
        // The engine can parse whatever it accepts.
        assert!(serde_json::from_str::<serde_json::Value>(&deep(MAX_JSON_DEPTH)).is_ok());
        assert!(json_text(deep(MAX_JSON_DEPTH + 1).as_bytes(), "x").is_err());
        let brackets_in_string = format!("[\"{}\\\"{}\"]", "[".repeat(500), "{".repeat(500));
        assert!(!depth_exceeds(brackets_in_string.as_bytes(), 128));
        assert!(matches!(
            json_text(deep(100_000).as_bytes(), "request body"),
            Err(InputError::TooDeep { .. })
        ));
        assert_eq!(json_text(b" \n", "x").unwrap(), "{}");
        assert!(matches!(
            json_text(b"{not json", "x"),
            Err(InputError::NotJson { .. })
        ));
    }
}
