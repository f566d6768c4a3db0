//! The run reporter (`--report-to URL --report-token-file FILE`): a [`RunSink`] that sends run
//! records to the control plane's `POST <URL>/api/ingest/runs` in batches, in the background.
//!
//! A run only pushes its record onto a bounded in-memory queue (a lock and a push: it never
//! waits for the network, and a report can never fail it). A background task sends what is
//! queued every [`ReporterOptions::flush_every`], or sooner once
//! [`ReporterOptions::batch_records`] are waiting, as bodies of at most
//! [`limits::MAX_BATCH_BYTES`]. While the control plane is unreachable (or refuses the token)
//! the task retries with a growing backoff, the queue keeps at most
//! [`ReporterOptions::buffer`] records, dropping the oldest, and the engine logs one line when
//! reporting stops working and one when it works again; `/metrics` counts records sent and
//! dropped and requests failed (`pipedreamer_run_reports_*`). On shutdown it sends what it can
//! within [`ReporterOptions::shutdown_flush`].
//!
//! The token is read from its file once, at start, goes only into the `Authorization` header,
//! and is never logged (the options' `Debug` leaves it out).

use crate::metrics::ReportMetrics;
use crate::record::RunSink;
use pipedreamer_runs::{IngestReply, RunRecord, limits};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The path records are posted to, under the control plane's URL.
pub const INGEST_PATH: &str = "/api/ingest/runs";

/// `{"runs":[` and `]}` around the records.
const ENVELOPE_BYTES: usize = r#"{"runs":[]}"#.len();

/// How the reporter batches, buffers and retries.
#[derive(Clone)]
pub struct ReporterOptions {
    /// The control plane's base URL (`http(s)://host[:port][/prefix]`).
    pub url: String,
    /// A `report`-scope token bound to this engine's deployment.
    pub token: String,
    /// Records per request at most (also: this many waiting wake the sender early).
    pub batch_records: usize,
    /// How often waiting records are sent.
    pub flush_every: Duration,
    /// Records kept while the control plane is unreachable; past it, the oldest are dropped.
    pub buffer: usize,
    /// Limit of one request (connect included).
    pub request_timeout: Duration,
    /// The longest wait between retries while the control plane is unreachable.
    pub max_backoff: Duration,
    /// How long shutdown may spend sending what is left.
    pub shutdown_flush: Duration,
}

impl std::fmt::Debug for ReporterOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReporterOptions")
            .field("url", &self.url)
            .field("token", &"[REDACTED]")
            .field("batch_records", &self.batch_records)
            .field("flush_every", &self.flush_every)
            .field("buffer", &self.buffer)
            .field("request_timeout", &self.request_timeout)
            .field("max_backoff", &self.max_backoff)
            .field("shutdown_flush", &self.shutdown_flush)
            .finish()
    }
}

impl ReporterOptions {
    /// Reporting to `url` with `token`: batches of up to 500 records every second, 10,000
    /// records buffered, 10 s per request, retries backing off up to 30 s, 5 s to flush at
    /// shutdown.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: token.into(),
            batch_records: 500,
            flush_every: Duration::from_secs(1),
            buffer: 10_000,
            request_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(30),
            shutdown_flush: Duration::from_secs(5),
        }
    }
}

/// Why the reporter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The token file cannot be read.
    #[error("cannot read the report token file `{}`: {source}; pass the file with the deployment's `report` token (`pipedreamer server token create --scope report --deployment <id>`)", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token file is empty.
    #[error("the report token file `{}` is empty; it must hold the deployment's `report` token", .0.display())]
    EmptyToken(PathBuf),
    /// The URL is not an http(s) URL.
    #[error("--report-to `{0}` is not an http:// or https:// URL (e.g. `http://127.0.0.1:7070`)")]
    BadUrl(String),
    /// The HTTP client cannot be built.
    #[error("cannot set up the report client: {0}")]
    Client(String),
}

/// Reads the report token: the file's content, surrounding whitespace trimmed.
pub fn read_token(path: &Path) -> Result<String, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::TokenFile {
        path: path.to_owned(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ReportError::EmptyToken(path.to_owned()));
    }
    Ok(token.to_owned())
}

/// The queue runs push onto and the sender drains.
struct Queue {
    records: Mutex<VecDeque<RunRecord>>,
    wake: Notify,
    metrics: ReportMetrics,
    capacity: usize,
    batch: usize,
}

impl Queue {
    fn set_gauge(&self, len: usize) {
        self.metrics
            .buffered
            .set(i64::try_from(len).unwrap_or(i64::MAX));
    }

    /// Takes up to `batch` records from the front.
    fn take(&self) -> Vec<RunRecord> {
        let Ok(mut q) = self.records.lock() else {
            return Vec::new();
        };
        let n = q.len().min(self.batch);
        let taken: Vec<RunRecord> = q.drain(..n).collect();
        self.set_gauge(q.len());
        taken
    }

    /// Puts records that could not be sent back at the front, oldest first, dropping the
    /// oldest of them when newer records have filled the queue meanwhile.
    fn requeue(&self, records: Vec<RunRecord>) {
        let Ok(mut q) = self.records.lock() else {
            return;
        };
        for r in records.into_iter().rev() {
            if q.len() >= self.capacity {
                self.metrics.dropped.inc();
                continue;
            }
            q.push_front(r);
        }
        self.set_gauge(q.len());
    }

    fn is_empty(&self) -> bool {
        self.records.lock().map_or(true, |q| q.is_empty())
    }
}

/// The sink that reports runs; clones share the queue.
#[derive(Clone)]
pub struct Reporter {
    queue: Arc<Queue>,
}

impl RunSink for Reporter {
    fn record(&self, record: RunRecord) {
        let Ok(mut q) = self.queue.records.lock() else {
            return;
        };
        if q.len() >= self.queue.capacity {
            q.pop_front();
            self.queue.metrics.dropped.inc();
        }
        q.push_back(record);
        let len = q.len();
        drop(q);
        self.queue.set_gauge(len);
        if len >= self.queue.batch {
            self.queue.wake.notify_one();
        }
    }
}

impl Reporter {
    /// Starts the sender on the current Tokio runtime. It runs until `stop` is cancelled, then
    /// sends what it can within `shutdown_flush`; await the handle for that to finish. Cancel
    /// `stop` only once no more runs will finish (after `serve` returns), so the last runs are
    /// reported too.
    pub fn start(
        options: ReporterOptions,
        metrics: ReportMetrics,
        stop: CancellationToken,
    ) -> Result<(Reporter, tokio::task::JoinHandle<()>), ReportError> {
        let base = options.url.trim_end_matches('/');
        let parsed = reqwest::Url::parse(base).map_err(|_| ReportError::BadUrl(base.into()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ReportError::BadUrl(base.into()));
        }
        let endpoint = format!("{base}{INGEST_PATH}");
        let client = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("pipedreamer-engine/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ReportError::Client(e.to_string()))?;
        let queue = Arc::new(Queue {
            records: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            metrics,
            capacity: options.buffer.max(1),
            batch: options.batch_records.max(1),
        });
        let sender = Sender {
            queue: queue.clone(),
            client,
            endpoint,
            authorization: format!("Bearer {}", options.token),
            options,
            trouble: None,
            refused: None,
        };
        let handle = tokio::spawn(sender.run(stop));
        Ok((Reporter { queue }, handle))
    }
}

/// Why a batch was not delivered.
#[derive(Debug)]
enum SendError {
    /// Worth retrying: the control plane is unreachable, slow, erring or refuses the token.
    Retry(String),
    /// The control plane refused the batch itself; resending it cannot help.
    Refused(String),
}

/// The background task.
struct Sender {
    queue: Arc<Queue>,
    client: reqwest::Client,
    endpoint: String,
    authorization: String,
    options: ReporterOptions,
    /// Why reporting is failing, while it is (logged once, when it starts).
    trouble: Option<String>,
    /// The last refusal logged: the same refusal batch after batch is logged once.
    refused: Option<String>,
}

impl Sender {
    async fn run(mut self, stop: CancellationToken) {
        let mut backoff: Option<Duration> = None;
        loop {
            let wait = backoff.unwrap_or(self.options.flush_every);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
                // Early wake-ups only while sending works; a backoff is waited out.
                () = self.queue.wake.notified(), if backoff.is_none() => {}
            }
            backoff = match self.send_waiting().await {
                Ok(()) => None,
                Err(()) => Some(
                    backoff
                        .map_or(Duration::from_secs(1), |b| b * 2)
                        .min(self.options.max_backoff),
                ),
            };
        }
        let limit = self.options.shutdown_flush;
        if tokio::time::timeout(limit, self.send_waiting())
            .await
            .map_or(true, |r| r.is_err())
        {
            let left = self.queue.records.lock().map_or(0, |q| q.len());
            if left > 0 {
                tracing::warn!(
                    records = left,
                    "shutting down with run records not reported to the control plane"
                );
            }
        }
    }

    /// Sends batches until the queue is empty; `Err` at the first batch that should be
    /// retried later (it is back in the queue).
    async fn send_waiting(&mut self) -> Result<(), ()> {
        while !self.queue.is_empty() {
            let records = self.queue.take();
            let (body, sent, rest) = encode(records, &self.queue.metrics);
            if !rest.is_empty() {
                self.queue.requeue(rest);
            }
            if sent.is_empty() {
                continue;
            }
            match self.post(body).await {
                Ok(reply) => {
                    self.queue
                        .metrics
                        .sent
                        .inc_by(reply_count(&reply, sent.len()));
                    if let Some(why) = self.trouble.take() {
                        tracing::info!(
                            url = %self.options.url,
                            was = %why,
                            "reporting runs to the control plane again"
                        );
                    }
                }
                Err(SendError::Refused(why)) => {
                    self.queue.metrics.failed.inc();
                    self.queue.metrics.dropped.inc_by(sent.len() as u64);
                    if self.refused.as_deref() != Some(&why) {
                        tracing::warn!(
                            url = %self.options.url,
                            records = sent.len(),
                            "the control plane refused a batch of run records ({why}); dropped it (pipedreamer_run_reports_dropped_total counts them)"
                        );
                    }
                    self.refused = Some(why);
                }
                Err(SendError::Retry(why)) => {
                    self.queue.metrics.failed.inc();
                    if self.trouble.is_none() {
                        tracing::warn!(
                            url = %self.options.url,
                            buffer = self.options.buffer,
                            "cannot report runs to the control plane: {why}; keeping up to {} records (the oldest are dropped past that) and retrying",
                            self.options.buffer
                        );
                    }
                    self.trouble = Some(why);
                    self.queue.requeue(sent);
                    return Err(());
                }
            }
        }
        Ok(())
    }

    async fn post(&self, body: Vec<u8>) -> Result<Option<IngestReply>, SendError> {
        let response = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            // Without the URL: it is in the log line already, and the error's chain is short.
            .map_err(|e| SendError::Retry(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            // The counts are informative; an answer without them still means delivered.
            return Ok(response.json::<IngestReply>().await.ok());
        }
        let text = response.text().await.unwrap_or_default();
        let text = pipedreamer_runs::cut(text.trim(), 300);
        let why = format!("HTTP {status}: {text}");
        match status.as_u16() {
            // Bad request, too large, unprocessable: this batch will never be taken.
            400 | 413 | 422 => Err(SendError::Refused(why)),
            401 | 403 => Err(SendError::Retry(format!(
                "{why} (the report token is invalid, expired, revoked or for another deployment; redeploy to get a new one)"
            ))),
            _ => Err(SendError::Retry(why)),
        }
    }
}

/// How many records the control plane took (accepted and duplicates), or `sent` when it did
/// not say.
fn reply_count(reply: &Option<IngestReply>, sent: usize) -> u64 {
    reply.map_or(sent as u64, |r| r.accepted + r.duplicates)
}

/// A reqwest error as one short phrase (no URL, no headers).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    match last {
        Some(cause) => format!("{what} ({cause})"),
        None => what.to_owned(),
    }
}

/// The body for as many of `records` as fit in [`limits::MAX_BATCH_BYTES`] (in order), those
/// records, and the ones left for the next batch. A record that does not fit even alone is
/// trimmed ([`trim_to_fit`]); one that fails [`RunRecord::check`] (the control plane would
/// refuse the whole batch for it) is dropped and counted.
fn encode(
    records: Vec<RunRecord>,
    metrics: &ReportMetrics,
) -> (Vec<u8>, Vec<RunRecord>, Vec<RunRecord>) {
    let mut body = Vec::with_capacity(64 * 1024);
    body.extend_from_slice(br#"{"runs":["#);
    let mut sent = Vec::with_capacity(records.len());
    let mut records = records.into_iter();
    let mut rest = Vec::new();
    for mut record in records.by_ref() {
        if let Err(e) = record.check() {
            metrics.dropped.inc();
            tracing::warn!(run_id = %record.id, "not reporting a run record: {e}");
            continue;
        }
        let mut json = serde_json::to_vec(&record).unwrap_or_default();
        if json.len() + ENVELOPE_BYTES > limits::MAX_BATCH_BYTES {
            trim_to_fit(&mut record, limits::MAX_BATCH_BYTES - ENVELOPE_BYTES);
            json = serde_json::to_vec(&record).unwrap_or_default();
            if json.len() + ENVELOPE_BYTES > limits::MAX_BATCH_BYTES {
                metrics.dropped.inc();
                tracing::warn!(run_id = %record.id, "not reporting a run record larger than a report body even when trimmed");
                continue;
            }
        }
        let separator = usize::from(!sent.is_empty());
        if body.len() + separator + json.len() + 2 > limits::MAX_BATCH_BYTES {
            rest.push(record);
            break;
        }
        if separator == 1 {
            body.push(b',');
        }
        body.extend_from_slice(&json);
        sent.push(record);
    }
    rest.extend(records);
    body.extend_from_slice(b"]}");
    (body, sent, rest)
}

/// Shrinks a record whose JSON is over `max` bytes: input and output go first, then the later
/// half of the log lines (counted in `dropped.logs`) until it fits, then progress, then outputs.
fn trim_to_fit(record: &mut RunRecord, max: usize) {
    let size = |r: &RunRecord| serde_json::to_vec(r).map_or(usize::MAX, |v| v.len());
    record.input = None;
    record.output = None;
    while size(record) > max && !record.logs.is_empty() {
        let keep = record.logs.len() / 2;
        let cut = record.logs.len() - keep;
        record.logs.truncate(keep);
        record.dropped.logs = record.dropped.logs.saturating_add(cut as u32);
    }
    while size(record) > max && !record.progress.is_empty() {
        let keep = record.progress.len() / 2;
        let cut = record.progress.len() - keep;
        record.progress.truncate(keep);
        record.dropped.progress = record.dropped.progress.saturating_add(cut as u32);
    }
    if size(record) > max {
        record.outputs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipedreamer_runs::{LogLevel, LogLine, Nodes, RunStatus};

    pub(crate) fn record(id: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            workflow: "hello".into(),
            version: "1.0.0".into(),
            trigger: "http".into(),
            status: RunStatus::Succeeded,
            started_at: 1_700_000_000_000,
            ended_at: 1_700_000_000_010,
            nodes: Nodes::default(),
            logs: vec![],
            progress: vec![],
            outputs: Default::default(),
            error: None,
            replay_of: None,
            input: None,
            output: None,
            dropped: Default::default(),
        }
    }

    #[test]
    fn batches_stay_under_the_body_limit_and_keep_order() {
        let metrics = ReportMetrics::default();
        let line = LogLine {
            at_ms: 0.0,
            node: "n".into(),
            level: LogLevel::Info,
            message: "x".repeat(limits::MAX_LOG_MESSAGE_BYTES),
        };
        // ~80 KiB each: about 12 fit in 1 MiB.
        let records: Vec<RunRecord> = (0..30)
            .map(|i| {
                let mut r = record(&format!("run-{i}"));
                r.logs = vec![line.clone(); 10];
                r
            })
            .collect();
        let (body, sent, rest) = encode(records, &metrics);
        assert!(body.len() <= limits::MAX_BATCH_BYTES, "{}", body.len());
        assert!(!sent.is_empty() && !rest.is_empty());
        assert_eq!(sent.len() + rest.len(), 30);
        assert_eq!(rest[0].id, format!("run-{}", sent.len()));
        let batch: pipedreamer_runs::ReportBatch = serde_json::from_slice(&body).unwrap();
        assert_eq!(batch.runs, sent);
    }

    #[test]
    fn a_huge_record_is_trimmed_and_a_bad_one_dropped() {
        let metrics = ReportMetrics::default();
        let mut huge = record("huge");
        huge.logs = vec![
            LogLine {
                at_ms: 0.0,
                node: "n".into(),
                level: LogLevel::Info,
                message: "y".repeat(limits::MAX_LOG_MESSAGE_BYTES),
            };
            limits::MAX_LOG_LINES
        ];
        let bad = record("../bad");
        let (body, sent, rest) = encode(vec![bad, huge], &metrics);
        assert!(rest.is_empty());
        assert_eq!(sent.len(), 1);
        assert!(body.len() <= limits::MAX_BATCH_BYTES);
        assert!(sent[0].logs.len() < limits::MAX_LOG_LINES);
        assert_eq!(
            sent[0].logs.len() + sent[0].dropped.logs as usize,
            limits::MAX_LOG_LINES
        );
        assert_eq!(metrics.dropped.get(), 1);
    }

    #[test]
    fn the_queue_drops_the_oldest() {
        let queue = Arc::new(Queue {
            records: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            metrics: ReportMetrics::default(),
            capacity: 3,
            batch: 2,
        });
        let reporter = Reporter {
            queue: queue.clone(),
        };
        for i in 0..5 {
            reporter.record(record(&format!("r{i}")));
        }
        assert_eq!(queue.metrics.dropped.get(), 2);
        assert_eq!(queue.metrics.buffered.get(), 3);
        let taken = queue.take();
        assert_eq!(
            taken.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r2", "r3"]
        );
        // A newer one arrives while the batch is out; putting it back drops its oldest.
        reporter.record(record("r5"));
        queue.requeue(taken);
        let ids: Vec<String> = queue.take().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["r3", "r4"]);
        assert_eq!(queue.metrics.dropped.get(), 3);
    }

    #[test]
    fn token_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_token(&dir.path().join("nope")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("cannot read the report token file")
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        assert!(matches!(
            read_token(&empty),
            Err(ReportError::EmptyToken(_))
        ));
        let good = dir.path().join("token");
        std::fs::write(&good, "abc.def.ghi\n").unwrap();
        assert_eq!(read_token(&good).unwrap(), "abc.def.ghi");
    }

    #[test]
    fn the_token_stays_out_of_debug() {
        let o = ReporterOptions::new("http://127.0.0.1:1", "secret-token-value");
        assert!(!format!("{o:?}").contains("secret-token-value"));
    }
}
