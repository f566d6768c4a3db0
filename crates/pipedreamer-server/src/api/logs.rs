//! Build logs as text, or live as server-sent events.
//!
//! The stream: `id: <chunk seq>`, `event: log`, one `data:` line per log line; when the build
//! has ended and every chunk was sent, `event: end` with `data: {"status", "error_message"}`;
//! a keep-alive comment every 15 s. `Last-Event-ID: n` resumes at chunk n+1. The store is the
//! source of truth: the stream polls `logs_after` every 200 ms and wakes early when the
//! workers announce a chunk or the end of the build (so any replica can serve any build).

use super::AppState;
use crate::auth::{Authorized, NeedRead};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use pipedreamer_pipeline::Event as WorkerEvent;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How often a stream looks for new chunks when no worker event arrives.
const POLL: Duration = Duration::from_millis(200);
/// How often an idle stream sends a comment, so proxies keep the connection.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Whether the client asked for server-sent events.
pub(super) fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().starts_with("text/event-stream"))
        })
}

/// The build's log: `text/plain`, or `text/event-stream` when asked (`Last-Event-ID` resumes).
#[utoipa::path(
    get, path = "/api/builds/{id}/logs", tag = "builds",
    params(
        ("id" = String, Path, description = "Build id"),
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume the event stream after this chunk (a chunk number, 0 or more; 400 otherwise, also without `Accept: text/event-stream`)"),
    ),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The log so far (text), or live events until the build ends (`Accept: text/event-stream`)",
            content((String = "text/plain"), (String = "text/event-stream"))),
        (status = 400, description = "Bad Last-Event-ID", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such build", body = ErrorBody),
    )
)]
pub(super) async fn build_logs(
    _auth: Authorized<NeedRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // Checked whatever the Accept header says: the document promises 400 for a bad one.
    let after = last_event_id(&headers)?;
    let build = state.store().build(&id).await?;
    if wants_event_stream(&headers) {
        return Ok(log_stream(state, build.id, after, StreamFormat::API).into_response());
    }
    let chunks = state.store().logs_after(&build.id, 0).await?;
    // A chunk is one or more whole lines; the pipeline writes them without the last newline.
    let text: String = chunks
        .into_iter()
        .map(|c| {
            let mut text = c.text;
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text
        })
        .collect();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `Last-Event-ID` as a chunk number (0 when absent; 400 for anything else).
pub(crate) fn last_event_id(headers: &HeaderMap) -> ApiResult<i64> {
    Ok(match headers.get("last-event-id") {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_request("Last-Event-ID must be a chunk number (0, 1, 2, …)")
            })?,
    })
}

/// How a stream writes its events' data: the API's plain text and JSON, or the dashboard's
/// HTML fragments (escaped), over the same resumable stream.
#[derive(Clone, Copy)]
pub(crate) struct StreamFormat {
    /// The `data` of a `log` event from a chunk's text.
    pub(crate) log: fn(&str) -> String,
    /// The `data` of the `end` event from the ended build.
    pub(crate) end: fn(&pipedreamer_store::Build) -> String,
}

impl StreamFormat {
    /// The API's: log lines as they are, `{"status", "error_message"}` at the end.
    pub(crate) const API: StreamFormat = StreamFormat {
        log: data_lines,
        end: |build| {
            serde_json::json!({
                "status": build.status,
                "error_message": build.error_message,
            })
            .to_string()
        },
    };
}

/// The live event stream of a build's log from chunk `after + 1`.
pub(crate) fn log_stream(
    state: AppState,
    build_id: String,
    after: i64,
    format: StreamFormat,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = mpsc::channel::<Event>(64);
    let events = state.workers().events();
    let closing = state.0.closing.subscribe();
    tokio::spawn(follow(state, build_id, after, format, events, closing, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// SSE cannot carry a carriage return inside `data`; a progress line's `\r` becomes a newline.
pub(crate) fn data_lines(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .trim_end_matches('\n')
        .to_owned()
}

/// Sends chunks until the build has ended and every chunk was sent, or the client left.
async fn follow(
    state: AppState,
    build_id: String,
    mut after: i64,
    format: StreamFormat,
    mut events: broadcast::Receiver<WorkerEvent>,
    mut closing: tokio::sync::watch::Receiver<bool>,
    tx: mpsc::Sender<Event>,
) {
    loop {
        if *closing.borrow_and_update() {
            return;
        }
        // The status first: every chunk written before the build ended is read below.
        let build = match state.store().build(&build_id).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(build = %build_id, error = %e, "log stream: cannot read the build");
                let _ = tx
                    .send(
                        Event::default()
                            .event("error")
                            .data("the build could not be read"),
                    )
                    .await;
                return;
            }
        };
        match state.store().logs_after(&build_id, after).await {
            Ok(chunks) => {
                for chunk in chunks {
                    after = chunk.seq;
                    let event = Event::default()
                        .id(chunk.seq.to_string())
                        .event("log")
                        .data((format.log)(&chunk.text));
                    if tx.send(event).await.is_err() {
                        return; // the client left
                    }
                }
            }
            Err(e) => {
                tracing::warn!(build = %build_id, error = %e, "log stream: cannot read chunks")
            }
        }
        if build.status.is_finished() {
            let _ = tx
                .send(Event::default().event("end").data((format.end)(&build)))
                .await;
            return;
        }
        tokio::select! {
            () = tx.closed() => return,
            _ = closing.changed() => {}
            () = tokio::time::sleep(POLL) => {}
            () = next_event_for(&mut events, &build_id) => {}
        }
    }
}

/// Waits for a worker event about `build_id` (a lagging receiver just polls).
async fn next_event_for(events: &mut broadcast::Receiver<WorkerEvent>, build_id: &str) {
    loop {
        match events.recv().await {
            Ok(WorkerEvent::Log { build_id: id, .. })
            | Ok(WorkerEvent::Finished { build_id: id, .. })
                if id == build_id =>
            {
                return;
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            // No workers anymore: polling alone goes on.
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
