//! Core NATS queue triggers: a queue-group subscription named after the workflow (replicas share
//! the load); each message runs once and is answered on its reply subject, if it has one.

use super::{Ctx, NatsError, acquire};
use crate::input::json_input;
use crate::metrics::MessageOutcome;
use crate::metrics::Source;
use async_nats::Message;
use futures_util::StreamExt;
use pipedreamer_sandbox::outcome::Trigger;
use pipedreamer_spec::QueueTrigger;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

/// How long a drained subscription may take to hand over what it had buffered.
const DRAIN_RECV_TIMEOUT: Duration = Duration::from_secs(2);
/// Core NATS: a queue-group subscription; replies go to the message's reply subject.
pub(super) async fn consume(
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
    // Disconnected, the drain cannot complete: take what is buffered without waiting for it.
    let wait = if super::connection::is_connected(&ctx.client) {
        DRAIN_RECV_TIMEOUT
    } else {
        Duration::ZERO
    };
    while let Ok(Some(message)) = tokio::time::timeout(wait, sub.next()).await {
        let Ok(permit) = ctx.slots.clone().acquire_owned().await else {
            break;
        };
        let (ctx2, trigger) = (ctx.clone(), trigger.clone());
        ctx.handlers
            .spawn(async move { handle_core(&ctx2, &trigger, message, permit).await });
    }
    Ok(())
}

async fn handle_core(
    ctx: &Ctx,
    trigger: &QueueTrigger,
    message: Message,
    _permit: OwnedSemaphorePermit,
) {
    let state = &ctx.state;
    let body: Vec<u8> = match (
        json_input(state, Source::Nats, &message.payload),
        state.workload(),
    ) {
        (Err(rejected), _) => {
            ctx.state
                .metrics
                .nats_message(&trigger.subject, MessageOutcome::BadPayload);
            if message.reply.is_none() {
                tracing::warn!(target: "nats", subject = %message.subject, error = %rejected.error, "dropping message");
            }
            rejected.body().to_string().into_bytes()
        }
        (Ok(_), None) => json!({ "error": "no valid workflow is loaded" })
            .to_string()
            .into_bytes(),
        (Ok(input), Some(workload)) => {
            let outcome = state
                .run(workload, input, Trigger::Queue(trigger.subject.clone()))
                .await;
            let word = if outcome.succeeded() {
                MessageOutcome::Succeeded
            } else {
                MessageOutcome::Failed
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
