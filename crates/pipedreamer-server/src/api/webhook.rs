//! GitHub webhooks: `POST /api/deployments/{id}/webhook`.
//!
//! Order of checks, each answering before the next runs: the deployment exists (404); the
//! body arrived within the size limit (413); `X-Hub-Signature-256` is the HMAC-SHA256 of the
//! raw body under the deployment's secret, compared in constant time (401, and nothing is
//! recorded); the body is JSON (415 for another content type, 400 for broken JSON); then the
//! event decides: `ping` → 200; anything but `push` → 202 ignored; `auto_rebuild` off, a push
//! to another branch, or a deleted branch → 202 ignored with the reason; otherwise the build is
//! queued in one transaction (deduplicated by `X-GitHub-Delivery`, superseding a pending build)
//! and the answer is 202 `{"build_id"}` (200 `{"build_id", "duplicate": true}` for a delivery
//! seen before) before the workers are woken: the build itself runs in the background.

use super::AppState;
use super::views::{DuplicateDelivery, Ignored, Queued, WebhookAnswer};
use crate::error::{ApiError, ErrorBody};
use crate::metrics::WebhookOutcome;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pipedreamer_store::{Enqueued, NewBuild, StoreError, Trigger};
use serde::Deserialize;

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`. The
/// comparison is constant-time (`ring::hmac::verify`).
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_sig) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, body, &signature).is_ok()
}

/// The parts of a push payload the server uses.
#[derive(Debug, Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    head_commit: Option<HeadCommit>,
}

#[derive(Debug, Deserialize)]
struct HeadCommit {
    #[serde(default)]
    message: Option<String>,
}

fn ignored(state: &AppState, reason: String) -> Response {
    state.metrics().webhook(WebhookOutcome::Ignored);
    (
        StatusCode::ACCEPTED,
        Json(Ignored {
            status: "ignored".into(),
            reason,
        }),
    )
        .into_response()
}

fn refused(state: &AppState, outcome: WebhookOutcome, err: ApiError) -> Response {
    state.metrics().webhook(outcome);
    err.into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        // GitHub always sends a content type; a client that sends none gets the benefit of
        // the doubt and the JSON parser's verdict.
        None => true,
        Some(ct) => {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        }
    }
}

/// Receives a GitHub webhook delivery (HMAC-SHA256 signed with the deployment's webhook secret;
/// no bearer token).
#[utoipa::path(
    post, path = "/api/deployments/{id}/webhook", tag = "webhooks",
    params(
        ("id" = String, Path, description = "Deployment id"),
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=<hex HMAC-SHA256 of the body>`"),
        ("X-GitHub-Event" = Option<String>, Header, description = "`push`, `ping`, …"),
        ("X-GitHub-Delivery" = Option<String>, Header, description = "Delivery id; repeated deliveries build once"),
    ),
    request_body(content = Object, description = "GitHub's payload", content_type = "application/json"),
    security(()),
    responses(
        (status = 202, description = "A build was queued (`{\"build_id\"}`), or the delivery was ignored (`{\"status\": \"ignored\", \"reason\"}`)", body = WebhookAnswer),
        (status = 200, description = "A ping (`{\"status\": \"pong\"}`), or a delivery seen before (`{\"build_id\", \"duplicate\": true}`)", body = WebhookAnswer),
        (status = 400, description = "Not a usable payload", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
        (status = 413, description = "Payload above 5 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    )
)]
pub(super) async fn receive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let deployment = match state.store().deployment(&id).await {
        Ok(d) => d,
        Err(e @ StoreError::NotFound { .. }) => {
            return refused(&state, WebhookOutcome::UnknownDeployment, e.into());
        }
        Err(e) => return refused(&state, WebhookOutcome::Error, e.into()),
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let err = ApiError::new(rejection.status(), "the payload is too large or unreadable")
                .hint(format!(
                    "webhook payloads are limited to {} MiB",
                    super::MAX_WEBHOOK_BODY >> 20
                ));
            return refused(&state, WebhookOutcome::BadPayload, err);
        }
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !verify_signature(deployment.webhook_secret.as_bytes(), &body, signature) {
        let err = ApiError::new(
            StatusCode::UNAUTHORIZED,
            if signature.is_none() {
                "the delivery has no X-Hub-Signature-256 header"
            } else {
                "X-Hub-Signature-256 does not match the payload"
            },
        )
        .hint("set the GitHub webhook's secret to the deployment's `webhook_secret` (admin tokens see it)");
        return refused(&state, WebhookOutcome::BadSignature, err);
    }
    if !is_json(&headers) {
        let err = ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the payload must be JSON",
        )
        .hint("set the GitHub webhook's content type to `application/json`");
        return refused(&state, WebhookOutcome::BadPayload, err);
    }
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("push");
    let payload: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let err = ApiError::bad_request(format!("the payload is not valid JSON: {e}"));
            return refused(&state, WebhookOutcome::BadPayload, err);
        }
    };
    match event {
        "ping" => {
            state.metrics().webhook(WebhookOutcome::Ping);
            return (
                StatusCode::OK,
                Json(Ignored {
                    status: "pong".into(),
                    reason: "ping received; pushes will build".into(),
                }),
            )
                .into_response();
        }
        "push" => {}
        other => {
            return ignored(
                &state,
                format!("event `{other}` does not build; only `push` does"),
            );
        }
    }
    let push: Push = match serde_json::from_value(payload) {
        Ok(p) => p,
        Err(e) => {
            let err = ApiError::bad_request(format!("not a push payload: {e}"))
                .hint("a push payload has `ref`, `after` and `head_commit`");
            return refused(&state, WebhookOutcome::BadPayload, err);
        }
    };
    if !deployment.auto_rebuild {
        return ignored(&state, "auto_rebuild is off for this deployment".into());
    }
    let wanted = format!("refs/heads/{}", deployment.branch);
    if push.git_ref != wanted {
        return ignored(
            &state,
            format!(
                "push to `{}`; this deployment builds `{wanted}`",
                push.git_ref
            ),
        );
    }
    if push.deleted || push.after.bytes().all(|b| b == b'0') {
        return ignored(&state, format!("`{wanted}` was deleted"));
    }
    let after = push.after.to_ascii_lowercase();
    if !(after.len() == 40 || after.len() == 64) || !after.bytes().all(|b| b.is_ascii_hexdigit()) {
        let err = ApiError::bad_request("`after` is not a commit hash");
        return refused(&state, WebhookOutcome::BadPayload, err);
    }
    let delivery_id = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() <= 200);
    let new = NewBuild {
        commit_hash: Some(after),
        // PostgreSQL's TEXT cannot hold NUL: a payload with one would fail the insert (500).
        commit_message: push
            .head_commit
            .and_then(|c| c.message)
            .map(|m| m.replace('\0', "\u{fffd}")),
        branch: deployment.branch.clone(),
        triggered_by: Trigger::Webhook,
        delivery_id,
    };
    match state.store().enqueue_build(&deployment.id, new).await {
        Ok(Enqueued::Created(build)) => {
            state.metrics().webhook(WebhookOutcome::Queued);
            let response = (
                StatusCode::ACCEPTED,
                Json(Queued {
                    build_id: build.id.clone(),
                }),
            )
                .into_response();
            // Committed: the build survives anything from here on; wake a worker for it.
            state.workers().wake();
            tracing::info!(deployment = %deployment.id, build = %build.id, "webhook queued a build");
            response
        }
        Ok(Enqueued::Duplicate(build_id)) => {
            state.metrics().webhook(WebhookOutcome::Duplicate);
            (
                StatusCode::OK,
                Json(DuplicateDelivery {
                    build_id,
                    duplicate: true,
                }),
            )
                .into_response()
        }
        Err(e) => refused(&state, WebhookOutcome::Error, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        format!(
            "sha256={}",
            hex::encode(ring::hmac::sign(&key, body).as_ref())
        )
    }

    #[test]
    fn signatures() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let good = sign(b"s3cret", body);
        assert!(verify_signature(b"s3cret", body, Some(&good)));
        assert!(!verify_signature(b"other", body, Some(&good)));
        assert!(!verify_signature(b"s3cret", b"{}", Some(&good)));
        assert!(!verify_signature(b"s3cret", body, None));
        assert!(!verify_signature(
            b"s3cret",
            body,
            Some(good.trim_start_matches("sha256="))
        ));
        assert!(!verify_signature(b"s3cret", body, Some("sha256=zz")));
        assert!(!verify_signature(b"s3cret", body, Some("sha256=")));
    }

    // GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
    #[test]
    fn github_documentation_vector() {
        assert!(verify_signature(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ));
    }
}
