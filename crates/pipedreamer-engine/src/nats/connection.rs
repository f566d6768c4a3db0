//! The NATS connection: made in the background (so an outage never stops the engine), its
//! events mirrored into `/readyz` and `/metrics`, flushed at shutdown when there is anything to
//! flush to.

use super::NatsError;
use crate::state::EngineState;
use async_nats::{Client, ConnectOptions, Event, ServerError};
use pipedreamer_sandbox::{Redactor, Workload};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The secret path of the NATS token.
pub const TOKEN_SECRET: &str = "nats.token";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the client has a connection now (it reconnects in the background otherwise).
pub(super) fn is_connected(client: &Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}

/// Sends what the client still buffers (replies, acks) before the engine exits. Without a
/// connection there is nowhere to send it: waiting would only hold shutdown for the whole
/// timeout, so this says so and returns (JetStream redelivers what was not acked; core NATS
/// requesters time out and retry).
pub(super) async fn flush(client: &Client) {
    if !is_connected(client) {
        tracing::warn!(target: "nats", "not connected to NATS; skipping the flush of replies and acks");
        return;
    }
    if tokio::time::timeout(FLUSH_TIMEOUT, client.flush())
        .await
        .is_err()
    {
        tracing::warn!(target: "nats", "could not flush replies and acks to NATS before exit");
    }
}

pub(super) fn set_readiness(state: &EngineState, status: &str, error: Option<String>) {
    if let Ok(mut r) = state.readiness.lock() {
        r.insert("nats".into(), json!(status));
        match error {
            Some(e) => r.insert("nats_error".into(), json!(e)),
            None => r.remove("nats_error"),
        };
    }
}

/// Connects in the background: the first connection is retried like a reconnect, so a NATS
/// outage at startup does not keep the engine from serving HTTP.
pub(super) async fn connect(
    state: &Arc<EngineState>,
    workload: &Workload,
    url: &str,
) -> Result<Client, NatsError> {
    let token = workload.secrets.lookup(TOKEN_SECRET);
    // A server without auth accepts any client, so a missing token is worth a note, not a stop;
    // if the server wants one, the refusal is reported below with the secret path to fill in.
    if token.is_none() {
        tracing::info!(target: "nats", "no `{TOKEN_SECRET}` in the secrets; connecting to NATS without a token");
    }
    let has_token = token.is_some();
    let reported = Arc::new(AtomicBool::new(false));
    let events_state = state.clone();
    let events_url = url.to_owned();
    let redactor = workload.secrets.redactor().clone();
    let mut options = ConnectOptions::new()
        .name(format!(
            "pipedreamer-engine:{}",
            workload.program.workflow.name
        ))
        .retry_on_initial_connect()
        .connection_timeout(CONNECT_TIMEOUT)
        .request_timeout(Some(REQUEST_TIMEOUT))
        .ping_interval(Duration::from_secs(20))
        .event_callback(move |event| {
            let state = events_state.clone();
            let url = events_url.clone();
            let reported = reported.clone();
            let redactor = redactor.clone();
            async move { on_event(&state, &url, has_token, &reported, &redactor, event) }
        });
    if let Some(t) = token {
        options = options.token(t);
    }
    set_readiness(state, "connecting", None);
    state.metrics.set_nats_connected(false);
    tracing::info!(target: "nats", %url, "connecting to NATS");
    tokio::time::timeout(CONNECT_TIMEOUT, options.connect(url))
        .await
        .map_err(|_| NatsError::Connect {
            url: url.to_owned(),
            reason: "timed out".into(),
        })?
        .map_err(|e| NatsError::Connect {
            url: url.to_owned(),
            reason: workload.secrets.redactor().redact(&e.to_string()),
        })
}

/// Connection events → logs, readiness, metrics. A failure streak is logged once (the client
/// retries with backoff, which would otherwise log every few seconds forever).
fn on_event(
    state: &EngineState,
    url: &str,
    has_token: bool,
    reported: &AtomicBool,
    redactor: &Redactor,
    event: Event,
) {
    let auth_error = |what: &str| {
        let hint = if has_token {
            format!("check `{TOKEN_SECRET}` in the secrets")
        } else {
            format!("the server wants credentials: add `{TOKEN_SECRET}` to the secrets")
        };
        format!("NATS server refused the connection ({what}); {hint}")
    };
    match event {
        Event::Connected => {
            reported.store(false, Ordering::SeqCst);
            state.metrics.set_nats_connected(true);
            set_readiness(state, "connected", None);
            tracing::info!(target: "nats", %url, "connected to NATS");
        }
        Event::Disconnected => {
            state.metrics.set_nats_connected(false);
            set_readiness(state, "disconnected", None);
            tracing::warn!(target: "nats", %url, "disconnected from NATS; reconnecting");
        }
        Event::ServerError(ServerError::AuthorizationViolation) => {
            state.metrics.set_nats_connected(false);
            let message = auth_error("authorization violation");
            set_readiness(state, "unauthorized", Some(message.clone()));
            if !reported.swap(true, Ordering::SeqCst) {
                tracing::error!(target: "nats", %url, "{message}");
            }
        }
        Event::ClientError(e) => {
            let text = redactor.redact(&e.to_string());
            let (status, message) =
                if text.contains("authorization") || text.contains("authentication") {
                    ("unauthorized", auth_error(&text))
                } else {
                    (
                        "disconnected",
                        format!("cannot reach NATS: {text}; retrying in the background"),
                    )
                };
            set_readiness(state, status, Some(message.clone()));
            if !reported.swap(true, Ordering::SeqCst) {
                tracing::error!(target: "nats", %url, "{message}");
            }
        }
        Event::SlowConsumer(sid) => {
            tracing::warn!(target: "nats", sid, "NATS subscription is a slow consumer; messages were dropped");
        }
        other => tracing::debug!(target: "nats", event = %other, "NATS event"),
    }
}
