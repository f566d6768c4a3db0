//! Queue triggers over NATS: `type: queue` triggers subscribe to a subject (core NATS, in a queue
//! group named after the workflow so replicas share the load) or consume a JetStream stream
//! through a durable pull consumer (at-least-once: ack after success, nak with backoff on failure,
//! terminate after `max_deliver`).
//!
//! The connection is optional equipment: a missing `config.nats_url`, an unreachable server or a
//! refused token never stops the engine; HTTP keeps serving and `/readyz` and `/metrics` show the
//! NATS state. The client reconnects (and makes its first connection) in the background.
//!
//! Shutdown: when `stop` fires, subscriptions are drained and pulling stops; runs already started
//! finish (bounded by `serve`'s grace period, which awaits this task), get their reply or ack,
//! and the connection is flushed before the task ends.

use crate::http::json_text;
use crate::state::EngineState;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use async_nats::{Client, ConnectOptions, Event, ServerError};
use futures_util::StreamExt;
use pipedreamer_sandbox::{Redactor, Workload};
use pipedreamer_spec::QueueTrigger;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The secret path of the NATS token.
pub const TOKEN_SECRET: &str = "nats.token";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between JetStream setup attempts and between message redeliveries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a drained subscription may take to hand over what it had buffered.
const DRAIN_RECV_TIMEOUT: Duration = Duration::from_secs(2);

/// Tunables of the queue triggers (engine flags).
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// How long JetStream waits for an ack before redelivering; long runs send progress acks.
    pub ack_wait: Duration,
    /// Deliveries of one JetStream message before it is terminated.
    pub max_deliver: u32,
    /// First redelivery delay after a failed run; doubles per delivery up to a minute.
    pub retry_delay: Duration,
    /// Messages run at once per engine; more wait in NATS (or its client buffer).
    pub max_in_flight: usize,
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            retry_delay: Duration::from_secs(1),
            max_in_flight: 256,
        }
    }
}

/// Why a queue trigger could not start consuming (the NATS token never appears in these).
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The URL is malformed or the client could not be built.
    #[error("cannot connect to NATS at `{url}`: {reason}")]
    Connect {
        /// `config.nats_url`.
        url: String,
        /// The client's complaint.
        reason: String,
    },
    /// The trigger names a stream the server does not have.
    #[error(
        "JetStream stream `{stream}` not found; create it with `nats stream add {stream} --subjects '{subject}'` (the engine does not create streams)"
    )]
    StreamNotFound {
        /// The stream.
        stream: String,
        /// The trigger subject, for the hint.
        subject: String,
    },
    /// The stream could not be looked up or the consumer could not be created.
    #[error("cannot set up JetStream consumer `{durable}` on stream `{stream}`: {reason}")]
    Consumer {
        /// The stream.
        stream: String,
        /// The durable consumer name.
        durable: String,
        /// The server's or client's complaint.
        reason: String,
    },
    /// The core subscription failed.
    #[error("cannot subscribe to `{subject}`: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// The client's complaint.
        reason: String,
    },
}

/// What every message handler needs.
struct Ctx {
    state: Arc<EngineState>,
    client: Client,
    options: NatsOptions,
    slots: Arc<Semaphore>,
    handlers: TaskTracker,
    redactor: Redactor,
    workflow: String,
}

/// Runs the queue triggers of the loaded workload until `stop` fires. Does nothing when the
/// workflow has no queue triggers; warns once and serves HTTP only without `config.nats_url`.
/// When a reload (`pipedreamer dev`) changes the triggers, the URL or the token, the old
/// subscriptions are drained (started runs finish) and the new ones made; runs always use the
/// current workload.
pub async fn run(state: Arc<EngineState>, options: NatsOptions, stop: CancellationToken) {
    loop {
        let workload = loop {
            if let Some(w) = state.workload() {
                break w;
            }
            if crate::sleep_or_stop(&stop, RELOAD_POLL).await {
                return;
            }
        };
        let generation = stop.child_token();
        let serving = async {
            serve_queues(&state, &workload, options.clone(), &generation).await;
            // Nothing to serve (or it failed to start): wait for a change or the stop.
            generation.cancelled().await;
        };
        tokio::join!(serving, cancel_on_change(&state, &workload, &generation));
        if stop.is_cancelled() {
            return;
        }
        tracing::info!(target: "nats", "queue triggers changed; subscribing again");
    }
}

/// How often a reload is checked for queue changes.
const RELOAD_POLL: Duration = Duration::from_millis(500);

/// What the subscriptions depend on: the URL, the triggers and the token.
#[derive(PartialEq)]
struct QueueSetup {
    url: Option<String>,
    /// Subject, stream and durable of each queue trigger.
    triggers: Vec<(String, Option<String>, Option<String>)>,
    token: Option<String>,
}

impl QueueSetup {
    fn of(w: &Workload) -> Self {
        let wf = &w.program.workflow;
        let triggers = wf
            .triggers
            .iter()
            .filter_map(|t| match t {
                pipedreamer_spec::Trigger::Queue(q) => {
                    Some((q.subject.clone(), q.stream.clone(), q.durable.clone()))
                }
                _ => None,
            })
            .collect();
        Self {
            url: wf.config.nats_url.clone(),
            triggers,
            token: w.secrets.lookup(TOKEN_SECRET),
        }
    }
}

/// Cancels `generation` once the workload in service needs other subscriptions than `current`.
async fn cancel_on_change(
    state: &EngineState,
    current: &Arc<Workload>,
    generation: &CancellationToken,
) {
    let setup = QueueSetup::of(current);
    loop {
        if crate::sleep_or_stop(generation, RELOAD_POLL).await {
            return;
        }
        if let Some(w) = state.workload()
            && !Arc::ptr_eq(&w, current)
            && QueueSetup::of(&w) != setup
        {
            generation.cancel();
            return;
        }
    }
}

/// Serves the queue triggers of `workload` until `stop` fires.
async fn serve_queues(
    state: &Arc<EngineState>,
    workload: &Arc<Workload>,
    options: NatsOptions,
    stop: &CancellationToken,
) {
    let triggers: Vec<QueueTrigger> = workload
        .program
        .workflow
        .triggers
        .iter()
        .filter_map(|t| match t {
            pipedreamer_spec::Trigger::Queue(q) => Some(q.clone()),
            _ => None,
        })
        .collect();
    if triggers.is_empty() {
        return;
    }
    let Some(url) = workload.program.workflow.config.nats_url.clone() else {
        tracing::warn!(
            target: "nats",
            triggers = triggers.len(),
            "queue triggers are configured but `config.nats_url` is not: serving HTTP only"
        );
        set_readiness(state, "not configured", None);
        return;
    };
    let client = match connect(state, workload, &url).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target: "nats", "{e}; serving HTTP only");
            set_readiness(state, "error", Some(e.to_string()));
            return;
        }
    };
    let ctx = Arc::new(Ctx {
        state: state.clone(),
        client: client.clone(),
        slots: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
        options,
        handlers: TaskTracker::new(),
        redactor: workload.secrets.redactor().clone(),
        workflow: workload.program.workflow.name.clone(),
    });
    let mut consumers = tokio::task::JoinSet::new();
    for trigger in triggers {
        let ctx = ctx.clone();
        let stop = stop.clone();
        consumers.spawn(async move {
            let subject = trigger.subject.clone();
            let result = match trigger.stream.clone() {
                Some(stream) => consume_jetstream(&ctx, trigger, stream, &stop).await,
                None => consume_core(&ctx, trigger, &stop).await,
            };
            if let Err(e) = result {
                let message = ctx.redactor.redact(&e.to_string());
                tracing::error!(target: "nats", %subject, "{message}");
            }
        });
    }
    while consumers.join_next().await.is_some() {}
    // The consumers have stopped taking messages; let started runs reply or ack.
    ctx.handlers.close();
    ctx.handlers.wait().await;
    if tokio::time::timeout(FLUSH_TIMEOUT, client.flush())
        .await
        .is_err()
    {
        tracing::warn!(target: "nats", "could not flush replies and acks to NATS before exit");
    }
    tracing::info!(target: "nats", "queue triggers stopped");
}

fn set_readiness(state: &EngineState, status: &str, error: Option<String>) {
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
async fn connect(
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

async fn acquire(slots: &Arc<Semaphore>, stop: &CancellationToken) -> Option<OwnedSemaphorePermit> {
    tokio::select! {
        _ = stop.cancelled() => None,
        p = slots.clone().acquire_owned() => p.ok(),
    }
}

/// Core NATS: a queue-group subscription; replies go to the message's reply subject.
async fn consume_core(
    ctx: &Arc<Ctx>,
    trigger: QueueTrigger,
    stop: &CancellationToken,
) -> Result<(), NatsError> {
    let mut sub = ctx
        .client
        .queue_subscribe(trigger.subject.clone(), ctx.workflow.clone())
        .await
        .map_err(|e| NatsError::Subscribe {
            subject: trigger.subject.clone(),
            reason: e.to_string(),
        })?;
    tracing::info!(target: "nats", subject = %trigger.subject, queue_group = %ctx.workflow, "subscribed");
    let trigger = Arc::new(trigger);
    loop {
        let Some(permit) = acquire(&ctx.slots, stop).await else {
            break;
        };
        let message = tokio::select! {
            _ = stop.cancelled() => break,
            m = sub.next() => m,
        };
        let Some(message) = message else {
            return Ok(());
        };
        let (ctx2, trigger) = (ctx.clone(), trigger.clone());
        ctx.handlers
            .spawn(async move { handle_core(&ctx2, &trigger, message, permit).await });
    }
    // Stop new deliveries, then run what the client had already received: those requests were
    // routed to this replica and nobody else will answer them.
    if let Err(e) = sub.drain().await {
        tracing::warn!(target: "nats", subject = %trigger.subject, "cannot drain subscription: {e}");
        return Ok(());
    }
    while let Ok(Some(message)) = tokio::time::timeout(DRAIN_RECV_TIMEOUT, sub.next()).await {
        let Ok(permit) = ctx.slots.clone().acquire_owned().await else {
            break;
        };
        let (ctx2, trigger) = (ctx.clone(), trigger.clone());
        ctx.handlers
            .spawn(async move { handle_core(&ctx2, &trigger, message, permit).await });
    }
    Ok(())
}

/// The JSON input of a message, or an error body shaped like the HTTP API's.
fn input_of(state: &EngineState, payload: &[u8]) -> Result<String, serde_json::Value> {
    let limit = state.max_body();
    if payload.len() as u64 > limit {
        state.metrics.reject("nats", "too_large");
        return Err(json!({
            "error": format!("message payload is larger than the limit of {limit} bytes"),
            "hint": "raise `config.max_body` in workflow.yaml or `--max-body` on the engine",
        }));
    }
    json_text(payload, "message payload").map_err(|m| {
        state.metrics.reject("nats", "bad_json");
        json!({
            "error": m,
            "hint": "publish a JSON document, e.g. `{}`",
        })
    })
}

async fn handle_core(
    ctx: &Ctx,
    trigger: &QueueTrigger,
    message: async_nats::Message,
    _permit: OwnedSemaphorePermit,
) {
    let state = &ctx.state;
    let body: Vec<u8> = match (input_of(state, &message.payload), state.workload()) {
        (Err(error), _) => {
            ctx.state
                .metrics
                .nats_message(&trigger.subject, "bad_payload");
            if message.reply.is_none() {
                tracing::warn!(target: "nats", subject = %message.subject, error = %error["error"], "dropping message");
            }
            error.to_string().into_bytes()
        }
        (Ok(_), None) => json!({ "error": "no valid workflow is loaded" })
            .to_string()
            .into_bytes(),
        (Ok(input), Some(workload)) => {
            let outcome = state
                .run(workload, input, &format!("queue:{}", trigger.subject))
                .await;
            let word = if outcome.succeeded() {
                "succeeded"
            } else {
                "failed"
            };
            state.metrics.nats_message(&trigger.subject, word);
            // Straight to bytes: this is the hot path of request-reply.
            serde_json::to_vec(&outcome).unwrap_or_else(|e| {
                json!({ "error": format!("cannot encode the run outcome: {e}") })
                    .to_string()
                    .into_bytes()
            })
        }
    };
    if let Some(reply) = message.reply
        && let Err(e) = ctx.client.publish(reply, body.into()).await
    {
        tracing::warn!(target: "nats", subject = %message.subject, "cannot send reply: {e}");
    }
}

/// JetStream: a durable pull consumer filtered to the trigger subject.
async fn consume_jetstream(
    ctx: &Arc<Ctx>,
    trigger: QueueTrigger,
    stream: String,
    stop: &CancellationToken,
) -> Result<(), NatsError> {
    let js = jetstream::new(ctx.client.clone());
    let durable = trigger
        .durable
        .clone()
        .unwrap_or_else(|| ctx.workflow.clone());
    let trigger = Arc::new(trigger);
    let mut attempt: u32 = 0;
    let mut last_error = String::new();
    'setup: loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        // Setup requests can take the request timeout each; shutdown should not wait for them.
        let setup = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            r = setup_consumer(&js, &ctx.options, &trigger, &stream, &durable) => r,
        };
        let consumer = match setup {
            Ok(c) => c,
            Err(e) => {
                let message = ctx.redactor.redact(&e.to_string());
                // Repeating the same failure every retry would drown the log.
                if message != last_error {
                    tracing::error!(target: "nats", subject = %trigger.subject, "{message}; retrying");
                    last_error = message;
                }
                attempt = attempt.saturating_add(1);
                let delay =
                    backoff(Duration::from_millis(500), attempt).min(Duration::from_secs(10));
                if crate::sleep_or_stop(stop, delay).await {
                    return Ok(());
                }
                continue 'setup;
            }
        };
        if !last_error.is_empty() || attempt > 0 {
            last_error.clear();
            attempt = 0;
        }
        tracing::info!(target: "nats", subject = %trigger.subject, %stream, %durable, "consuming JetStream");
        // One pull request at a time, for exactly as many messages as there are free run slots,
        // so this engine never holds messages it has not started: at shutdown, nothing waits
        // for ack_wait to reach another replica.
        let mut failed_pulls: u32 = 0;
        loop {
            let Some(mut permits) = acquire_up_to(&ctx.slots, PULL_BATCH_MAX, stop).await else {
                return Ok(());
            };
            let pull = consumer
                .batch()
                .max_messages(permits.len())
                .expires(PULL_EXPIRES)
                .messages();
            let mut delivered = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                r = pull => match r {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::warn!(target: "nats", %stream, %durable, "cannot pull messages: {e}; setting the consumer up again");
                        crate::sleep_or_stop(stop, Duration::from_secs(1)).await;
                        continue 'setup;
                    }
                },
            };
            loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => {
                        hand_back_unstarted(&mut delivered, &stream).await;
                        return Ok(());
                    }
                    m = delivered.next() => m,
                };
                match next {
                    Some(Ok(message)) => {
                        failed_pulls = 0;
                        let permit = match permits.pop() {
                            Some(p) => p,
                            None => match acquire(&ctx.slots, stop).await {
                                Some(p) => p,
                                None => {
                                    ack(&message, AckKind::Nak(None), &stream, 0).await;
                                    return Ok(());
                                }
                            },
                        };
                        let (ctx2, trigger, stream) =
                            (ctx.clone(), trigger.clone(), stream.clone());
                        ctx.handlers.spawn(async move {
                            handle_jetstream(&ctx2, &trigger, &stream, message, permit).await
                        });
                    }
                    // A consumer deleted under us and the like: after a few, set it up again.
                    Some(Err(e)) => {
                        failed_pulls += 1;
                        tracing::debug!(target: "nats", %stream, %durable, "pull error: {e}");
                        if failed_pulls >= 3 {
                            tracing::warn!(target: "nats", %stream, %durable, "pulling keeps failing ({e}); setting the consumer up again");
                            crate::sleep_or_stop(stop, Duration::from_secs(1)).await;
                            continue 'setup;
                        }
                        break;
                    }
                    // The pull request is complete (all delivered, or it expired).
                    None => break,
                }
            }
        }
    }
}

/// Largest pull request: more would only hold slots a core subscription could use.
const PULL_BATCH_MAX: usize = 256;
/// How long a pull request waits for messages before the next one is made.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// Waits for one free run slot, then takes up to `max` free slots without waiting.
async fn acquire_up_to(
    slots: &Arc<Semaphore>,
    max: usize,
    stop: &CancellationToken,
) -> Option<Vec<OwnedSemaphorePermit>> {
    let mut permits = vec![acquire(slots, stop).await?];
    while permits.len() < max {
        match slots.clone().try_acquire_owned() {
            Ok(p) => permits.push(p),
            Err(_) => break,
        }
    }
    Some(permits)
}

/// At shutdown: messages of the open pull request that arrive now are handed straight back
/// (nak without delay) rather than left to ack_wait. The request asked only for messages this
/// engine had slots for, so these are few; stops after 100 ms without one.
async fn hand_back_unstarted(delivered: &mut jetstream::consumer::pull::Batch, stream: &str) {
    let mut returned = 0u32;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(100), delivered.next()).await
    {
        let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        ack(&message, AckKind::Nak(None), stream, sequence).await;
        returned += 1;
    }
    if returned > 0 {
        tracing::info!(target: "nats", %stream, returned, "handed back messages that arrived during shutdown");
    }
}

async fn setup_consumer(
    js: &jetstream::Context,
    options: &NatsOptions,
    trigger: &QueueTrigger,
    stream: &str,
    durable: &str,
) -> Result<jetstream::consumer::Consumer<pull::Config>, NatsError> {
    let consumer_error = |reason: String| NatsError::Consumer {
        stream: stream.to_owned(),
        durable: durable.to_owned(),
        reason,
    };
    let handle = js.get_stream(stream).await.map_err(|e| {
        let text = e.to_string();
        if text.contains("stream not found") {
            NatsError::StreamNotFound {
                stream: stream.to_owned(),
                subject: trigger.subject.clone(),
            }
        } else {
            consumer_error(text)
        }
    })?;
    let config = pull::Config {
        durable_name: Some(durable.to_owned()),
        description: Some("pipedreamer queue trigger".into()),
        filter_subject: trigger.subject.clone(),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: options.ack_wait,
        max_deliver: i64::from(options.max_deliver.max(1)),
        ..Default::default()
    };
    // Create-or-update, so changing the engine's ack settings updates an existing consumer.
    handle
        .create_consumer(config)
        .await
        .map_err(|e| consumer_error(e.to_string()))
}

/// `base * 2^(attempt-1)`, capped.
fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

async fn handle_jetstream(
    ctx: &Ctx,
    trigger: &QueueTrigger,
    stream: &str,
    message: jetstream::Message,
    _permit: OwnedSemaphorePermit,
) {
    let state = &ctx.state;
    let (sequence, delivered) = message
        .info()
        .map(|i| (i.stream_sequence, i.delivered))
        .unwrap_or((0, 1));
    let subject = message.subject.to_string();
    let input = match input_of(state, &message.payload) {
        Ok(t) => t,
        Err(error) => {
            // Redelivery cannot fix a payload; take it out of the stream for good.
            state.metrics.nats_message(&trigger.subject, "bad_payload");
            tracing::error!(target: "nats", %stream, sequence, %subject, error = %error["error"], "terminating message with an unusable payload");
            ack(&message, AckKind::Term, stream, sequence).await;
            return;
        }
    };
    let Some(workload) = state.workload() else {
        ack(
            &message,
            AckKind::Nak(Some(ctx.options.retry_delay)),
            stream,
            sequence,
        )
        .await;
        return;
    };
    let trigger_name = format!("queue:{}", trigger.subject);
    let run = state.run(workload, input, &trigger_name);
    tokio::pin!(run);
    // Tell JetStream the message is still being worked on, so a long run is not redelivered to
    // another replica; a crash stops the progress acks and the message comes back after ack_wait.
    let mut progress =
        tokio::time::interval((ctx.options.ack_wait / 2).max(Duration::from_millis(100)));
    progress.tick().await;
    let outcome = loop {
        tokio::select! {
            o = &mut run => break o,
            _ = progress.tick() => ack(&message, AckKind::Progress, stream, sequence).await,
        }
    };
    if outcome.succeeded() {
        state.metrics.nats_message(&trigger.subject, "succeeded");
        ack(&message, AckKind::Ack, stream, sequence).await;
        return;
    }
    let max = i64::from(ctx.options.max_deliver.max(1));
    let error = outcome.error.as_ref();
    let node = error.and_then(|e| e.node.as_deref()).unwrap_or("-");
    let reason = error.map(|e| e.message.as_str()).unwrap_or("");
    if delivered >= max {
        state.metrics.nats_message(&trigger.subject, "dead");
        tracing::error!(
            target: "nats",
            %stream,
            sequence,
            %subject,
            deliveries = delivered,
            run_id = %outcome.run_id,
            %node,
            error = %reason,
            "giving up on message after {delivered} failed deliveries"
        );
        ack(&message, AckKind::Term, stream, sequence).await;
    } else {
        state.metrics.nats_message(&trigger.subject, "retried");
        let delay = backoff(
            ctx.options.retry_delay,
            u32::try_from(delivered).unwrap_or(1),
        );
        tracing::warn!(
            target: "nats",
            %stream,
            sequence,
            %subject,
            deliveries = delivered,
            max_deliver = max,
            retry_in_ms = delay.as_millis() as u64,
            "run failed; message will be redelivered"
        );
        ack(&message, AckKind::Nak(Some(delay)), stream, sequence).await;
    }
}

async fn ack(message: &jetstream::Message, kind: AckKind, stream: &str, sequence: u64) {
    let what = format!("{kind:?}");
    if let Err(e) = message.ack_with(kind).await {
        tracing::warn!(target: "nats", %stream, sequence, "cannot send {what}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 2), Duration::from_millis(200));
        assert_eq!(backoff(base, 4), Duration::from_millis(800));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
        assert_eq!(backoff(base, 0), Duration::from_millis(100));
    }
}
