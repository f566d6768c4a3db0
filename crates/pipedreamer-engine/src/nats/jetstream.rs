//! JetStream queue triggers: a durable pull consumer filtered to the trigger subject,
//! at-least-once (ack after success, nak with backoff on failure, terminate after
//! `max_deliver`), pulling only as many messages as there are free run slots.

use super::{Ctx, NatsError, NatsOptions, acquire};
use crate::input::json_input;
use crate::metrics::MessageOutcome;
use crate::metrics::Source;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt;
use pipedreamer_sandbox::outcome::Trigger;
use pipedreamer_spec::QueueTrigger;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Longest wait between JetStream setup attempts and between message redeliveries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// JetStream: a durable pull consumer filtered to the trigger subject.
pub(super) async fn consume(
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
    let input = match json_input(state, Source::Nats, &message.payload) {
        Ok(t) => t,
        Err(rejected) => {
            // Redelivery cannot fix a payload; take it out of the stream for good.
            state
                .metrics
                .nats_message(&trigger.subject, MessageOutcome::BadPayload);
            tracing::error!(target: "nats", %stream, sequence, %subject, error = %rejected.error, "terminating message with an unusable payload");
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
    let run = state.run(workload, input, Trigger::Queue(trigger.subject.clone()));
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
        state
            .metrics
            .nats_message(&trigger.subject, MessageOutcome::Succeeded);
        ack(&message, AckKind::Ack, stream, sequence).await;
        return;
    }
    let max = i64::from(ctx.options.max_deliver.max(1));
    let error = outcome.error.as_ref();
    let node = error.and_then(|e| e.node.as_deref()).unwrap_or("-");
    let reason = error.map(|e| e.message.as_str()).unwrap_or("");
    if delivered >= max {
        state
            .metrics
            .nats_message(&trigger.subject, MessageOutcome::Dead);
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
        state
            .metrics
            .nats_message(&trigger.subject, MessageOutcome::Retried);
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
