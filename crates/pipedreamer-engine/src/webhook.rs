//! Webhook triggers: `POST /hooks/<name>`, GitHub-style `X-Hub-Signature-256` verified over the
//! raw body before anything is parsed, optional event and branch filters, runs in the background.
//!
//! A trigger whose secret is missing or empty never accepts a delivery (an HMAC under the empty
//! key is one anybody can compute): it answers 503 with a hint, and the problem is logged once
//! when the workflow is loaded, not per request. The engine keeps serving everything else,
//! because the Kubernetes Secret is optional and refusing to start would crash-loop the pod.

use crate::http::error;
use crate::input::{json_input, read_body};
use crate::metrics::{Rejection, Source};
use crate::state::EngineState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use pipedreamer_sandbox::Workload;
use pipedreamer_sandbox::outcome::Trigger as RunTrigger;
use pipedreamer_spec::{Trigger, WebhookTrigger};
use serde_json::json;
use sha2::Sha256;
use std::sync::Arc;

pub(crate) fn routes() -> Router<Arc<EngineState>> {
    Router::new().route("/hooks/{name}", post(hook))
}

/// A webhook trigger that cannot verify deliveries.
#[derive(Debug, thiserror::Error)]
#[error("webhook `{name}` has no secret: `{secret}` is {} in the secrets, so every delivery is refused", if *.empty { "empty" } else { "missing" })]
pub struct MissingSecret {
    /// The trigger.
    pub name: String,
    /// The secret path it names.
    pub secret: String,
    /// Present but empty (or only whitespace), rather than absent.
    pub empty: bool,
}

impl MissingSecret {
    /// How to provide the secret, in production and locally.
    pub fn hint(&self) -> String {
        let key = self.secret.split('.').next().unwrap_or(&self.secret);
        format!(
            "set `{}` to a random string: in Kubernetes, key `{key}` of the workflow's Secret (mounted at `--secrets-dir`); with `pipedreamer dev`, in `.secrets.yaml`",
            self.secret
        )
    }
}

/// The HMAC key of a webhook trigger; an empty or blank secret is no key at all.
pub fn signing_key(workload: &Workload, trigger: &WebhookTrigger) -> Result<String, MissingSecret> {
    match workload.secrets.lookup(&trigger.secret) {
        Some(key) if !key.trim().is_empty() => Ok(key),
        found => Err(MissingSecret {
            name: trigger.name.clone(),
            secret: trigger.secret.clone(),
            empty: found.is_some(),
        }),
    }
}

/// The webhook triggers of `workload` that will refuse every delivery (logged at load).
pub fn unverifiable(workload: &Workload) -> impl Iterator<Item = MissingSecret> + '_ {
    workload
        .program
        .workflow
        .triggers
        .iter()
        .filter_map(move |t| match t {
            Trigger::Webhook(w) => signing_key(workload, w).err(),
            _ => None,
        })
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `key`, compared in
/// constant time. An empty key never verifies.
pub fn verify_signature(key: &[u8], body: &[u8], signature: &str) -> bool {
    if key.is_empty() {
        return false;
    }
    let Some(hex_sig) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `sha256=<hex>` for `body` under `key` (used by tests and the docs' curl example).
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn hook(
    State(state): State<Arc<EngineState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(workload) = state.workload() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no valid workflow is loaded",
            None,
        );
    };
    let Some(trigger) = workload
        .program
        .workflow
        .triggers
        .iter()
        .find_map(|t| match t {
            Trigger::Webhook(w) if w.name == name => Some(w.clone()),
            _ => None,
        })
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no webhook trigger named `{name}`"),
            Some("webhooks are declared under `triggers` with `type: webhook`"),
        );
    };
    let key = match signing_key(&workload, &trigger) {
        Ok(k) => k,
        Err(missing) => {
            // Logged when the workflow was loaded; per request it would flood the log.
            state.metrics.reject(Source::Webhook, Rejection::NoSecret);
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                missing.to_string(),
                Some(&missing.hint()),
            );
        }
    };
    let bytes = match read_body(&state, Source::Webhook, body).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    match signature {
        None => {
            state
                .metrics
                .reject(Source::Webhook, Rejection::MissingSignature);
            return error(
                StatusCode::UNAUTHORIZED,
                "missing X-Hub-Signature-256 header",
                Some("sign the raw body with HMAC-SHA256 and send `sha256=<hex>`"),
            );
        }
        Some(sig) if !verify_signature(key.as_bytes(), &bytes, sig) => {
            state
                .metrics
                .reject(Source::Webhook, Rejection::BadSignature);
            return error(StatusCode::UNAUTHORIZED, "signature does not match", None);
        }
        Some(_) => {}
    }
    let payload_text = match json_input(&state, Source::Webhook, &bytes) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    // Cannot fail: `json_input` checked the syntax, and the depth against serde_json's limit.
    let payload: serde_json::Value = serde_json::from_str(&payload_text).unwrap_or_default();
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let delivery = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(reason) = filtered_out(&trigger, event.as_deref(), &payload) {
        return (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "status": "ignored", "reason": reason })),
        )
            .into_response();
    }
    let input = json!({ "event": event, "delivery": delivery, "payload": payload }).to_string();
    let run_id = uuid_v7();
    let background = state.clone();
    let id = run_id.clone();
    state.background.spawn(async move {
        background
            .run_with_id(workload, input, RunTrigger::Webhook(name), Some(id))
            .await;
    });
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "status": "accepted", "run_id": run_id })),
    )
        .into_response()
}

/// Why `/hooks/<name>` ignores a verified delivery (its event or branch is not among the
/// trigger's `events`/`branches`), if it does. Public so that `pipedreamer test` judges webhook
/// cases by the engine's own rule.
pub fn filtered_out(
    trigger: &WebhookTrigger,
    event: Option<&str>,
    payload: &serde_json::Value,
) -> Option<String> {
    if !trigger.events.is_empty() && !event.is_some_and(|e| trigger.events.iter().any(|x| x == e)) {
        return Some(format!(
            "event `{}` is not in `events`",
            event.unwrap_or("(none)")
        ));
    }
    if !trigger.branches.is_empty() {
        let branch = payload
            .get("ref")
            .and_then(|r| r.as_str())
            .map(|r| r.strip_prefix("refs/heads/").unwrap_or(r));
        if !branch.is_some_and(|b| trigger.branches.iter().any(|x| x == b)) {
            return Some(format!(
                "branch `{}` is not in `branches`",
                branch.unwrap_or("(none)")
            ));
        }
    }
    None
}

fn uuid_v7() -> String {
    pipedreamer_sandbox::outcome::new_run_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_round_trip_and_reject_tampering() {
        let sig = sign(b"k", b"{\"a\":1}");
        assert!(verify_signature(b"k", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"k", b"{\"a\":2}", &sig));
        assert!(!verify_signature(b"other", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"k", b"{\"a\":1}", "sha1=abc"));
        assert!(!verify_signature(b"k", b"{\"a\":1}", "sha256=zz"));
        assert!(!verify_signature(b"", b"{}", &sign(b"", b"{}")));
    }
}
