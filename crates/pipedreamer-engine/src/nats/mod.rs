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
//!
//! Layout: `connection` (connecting, connection events → readiness and metrics, the final
//! flush), `core` (queue-group subscriptions with replies), `jetstream` (durable pull
//! consumers with ack/nak/term); this module holds what they share and the reload loop.

mod connection;
mod core;
mod jetstream;

use crate::state::EngineState;
use async_nats::Client;
use pipedreamer_sandbox::{Redactor, Workload};
use pipedreamer_spec::QueueTrigger;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use connection::TOKEN_SECRET;
use connection::{connect, set_readiness};

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
                Some(stream) => jetstream::consume(&ctx, trigger, stream, &stop).await,
                None => core::consume(&ctx, trigger, &stop).await,
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
    connection::flush(&client).await;
    tracing::info!(target: "nats", "queue triggers stopped");
}

async fn acquire(slots: &Arc<Semaphore>, stop: &CancellationToken) -> Option<OwnedSemaphorePermit> {
    tokio::select! {
        _ = stop.cancelled() => None,
        p = slots.clone().acquire_owned() => p.ok(),
    }
}
