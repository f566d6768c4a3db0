//! `pipedreamer runs list|show|replay`, and the recorder `pipedreamer dev` keeps its runs with.
//!
//! `dev` stores every run's record in `<dir>/.pipedreamer/runs.db` (SQLite through the control
//! plane's own store, as runs of no deployment), keeping the latest [`KEEP`]. The recorder is a
//! [`RunSink`]: a run only queues its record; a background task writes batches. `replay` runs a
//! recorded input again in-process on the workflow as it is on disk now (loaded the way `dev`
//! loads it) and stores the new record with `replay_of`.

use crate::cli::{OutputFormat, RunsListArgs, RunsReplayArgs, RunsShowArgs, RunsStatus};
use anyhow::{Context, bail};
use pipedreamer_engine::logging::escape;
use pipedreamer_engine::{EngineState, RunOptions, RunSink};
use pipedreamer_runs::{RunRecord, RunStatus};
use pipedreamer_sandbox::outcome::Trigger;
use pipedreamer_sandbox::{PoolOptions, Sandbox};
use pipedreamer_store::{RunFilter, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where `dev` keeps runs, relative to the workflow directory.
pub const RUNS_DB: &str = ".pipedreamer/runs.db";
/// Runs `dev` keeps; older ones are deleted as new ones arrive.
pub const KEEP: u64 = 1_000;
/// Records queued for the writer at most; past it, runs go unrecorded (with one warning).
const QUEUE: usize = 10_000;
/// Records written per transaction at most.
const BATCH: usize = 500;
/// How long `dev`'s shutdown waits for the last records to be written.
const FLUSH: Duration = Duration::from_secs(5);

fn db_path(dir: &Path) -> PathBuf {
    dir.join(RUNS_DB)
}

/// Opens (creating it when `create`) the runs database of the workflow in `dir`.
pub async fn open(dir: &Path, create: bool) -> anyhow::Result<Store> {
    let path = db_path(dir);
    if !create && !path.exists() {
        bail!(
            "no runs recorded in `{}` yet (no {RUNS_DB})\nhint: `pipedreamer dev {}` records every run it serves",
            dir.display(),
            dir.display()
        );
    }
    let url = format!("sqlite://{}", path.display());
    Store::open(&url)
        .await
        .with_context(|| format!("cannot open the runs database `{}`", path.display()))
}

/// `dev`'s sink: queues records for [`Recorder::start`]'s writer task.
#[derive(Clone)]
pub struct Recorder {
    tx: tokio::sync::mpsc::Sender<RunRecord>,
    warned: Arc<std::sync::atomic::AtomicBool>,
}

impl RunSink for Recorder {
    fn record(&self, record: RunRecord) {
        if self.tx.try_send(record).is_err()
            && !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!("runs arrive faster than {RUNS_DB} takes them; some are not recorded");
        }
    }
}

impl Recorder {
    /// Starts the writer on `store`; it writes until `stop`, then what is left (await the
    /// handle, at most [`FLUSH`]).
    pub fn start(store: Store, stop: CancellationToken) -> (Recorder, tokio::task::JoinHandle<()>) {
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let recorder = Recorder {
            tx,
            warned: Default::default(),
        };
        (recorder, tokio::spawn(write_runs(store, rx, stop)))
    }
}

async fn write_runs(
    store: Store,
    mut rx: tokio::sync::mpsc::Receiver<RunRecord>,
    stop: CancellationToken,
) {
    let mut last_error: Option<String> = None;
    loop {
        let first = tokio::select! {
            got = rx.recv() => got,
            () = stop.cancelled() => None,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        write_batch(&store, &batch, &mut last_error).await;
    }
    // What arrived before the stop (runs that finished while dev drained).
    rx.close();
    let mut rest = Vec::new();
    while let Ok(r) = rx.try_recv() {
        rest.push(r);
    }
    for chunk in rest.chunks(BATCH) {
        write_batch(&store, chunk, &mut last_error).await;
    }
}

async fn write_batch(store: &Store, batch: &[RunRecord], last_error: &mut Option<String>) {
    let result = async {
        store.insert_runs(None, batch).await?;
        store.keep_latest_runs(None, KEEP).await
    }
    .await;
    match result {
        Ok(_) => {
            if last_error.take().is_some() {
                tracing::info!("recording runs in {RUNS_DB} again");
            }
        }
        Err(e) => {
            let e = e.to_string();
            if last_error.as_deref() != Some(&e) {
                tracing::warn!(runs = batch.len(), "cannot record runs in {RUNS_DB}: {e}");
            }
            *last_error = Some(e);
        }
    }
}

/// Stops the recorder and waits (bounded) for its last writes.
pub async fn finish(stop: CancellationToken, handle: tokio::task::JoinHandle<()>) {
    stop.cancel();
    if tokio::time::timeout(FLUSH, handle).await.is_err() {
        tracing::warn!("gave up writing the last runs to {RUNS_DB}");
    }
}

/// `runs list`.
pub async fn list(args: RunsListArgs) -> anyhow::Result<ExitCode> {
    let store = match open(&args.dir, false).await {
        Ok(s) => s,
        // Nothing recorded yet is an empty list, not a failure.
        Err(_) if !db_path(&args.dir).exists() => {
            match args.output {
                OutputFormat::Json => println!("[]"),
                OutputFormat::Text => eprintln!(
                    "no runs recorded in `{}` yet; `pipedreamer dev` records every run it serves",
                    args.dir.display()
                ),
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e),
    };
    let filter = RunFilter {
        deployment_id: None,
        status: args.status.map(|s| match s {
            RunsStatus::Succeeded => RunStatus::Succeeded,
            RunsStatus::Failed => RunStatus::Failed,
        }),
        trigger: args.trigger.clone(),
        since: None,
        before: args.before.clone(),
        limit: args.limit,
    };
    // An unknown `--before` is the store's `Invalid`, which says to list again without it.
    let runs = store.runs(&filter).await?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&runs)?),
        OutputFormat::Text if runs.is_empty() => eprintln!("no runs match"),
        OutputFormat::Text => {
            println!(
                "{:36}  {:9}  {:16}  {:23}  {:>9}  NODES",
                "ID", "STATUS", "TRIGGER", "STARTED", "DURATION"
            );
            for r in &runs {
                let failed_node = r
                    .error
                    .as_ref()
                    .and_then(|e| e.node.as_deref())
                    .map(|n| format!(" (failed at {n})"))
                    .unwrap_or_default();
                let replay = r
                    .replay_of
                    .as_deref()
                    .map(|id| format!(" replay of {id}"))
                    .unwrap_or_default();
                println!(
                    "{:36}  {:9}  {:16}  {:23}  {:>9}  {}{failed_node}{replay}",
                    r.id,
                    r.status.as_str(),
                    r.trigger,
                    timestamp(r.started_at),
                    format!("{} ms", r.duration_ms()),
                    r.nodes.0.len(),
                );
            }
            if runs.len() == args.limit as usize
                && let Some(last) = runs.last()
            {
                crate::output::hint(&format!("older runs: --before {}", last.id));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The record of run `id`, with a clear error when there is none.
async fn find(store: &Store, dir: &Path, id: &str) -> anyhow::Result<RunRecord> {
    match store.run(id).await {
        Ok(stored) => Ok(stored.record),
        Err(e) if e.is_not_found() => bail!(
            "no run `{id}` in `{}` (it may be older than the {KEEP} runs kept)\nhint: `pipedreamer runs list {}` shows the recorded runs",
            db_path(dir).display(),
            dir.display()
        ),
        Err(e) => Err(e.into()),
    }
}

/// `runs show`.
pub async fn show(args: RunsShowArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.dir, false).await?;
    let record = find(&store, &args.dir, &args.id).await?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&record)?),
        OutputFormat::Text => print!("{}", timeline(&record)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Keeps the one record a replay produces.
#[derive(Default)]
struct Capture(Mutex<Option<RunRecord>>);

impl RunSink for Capture {
    fn record(&self, record: RunRecord) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(record);
        }
    }
}

/// `runs replay`: exit 0 when the new run succeeded, 1 when it failed.
pub async fn replay(args: RunsReplayArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.dir, false).await?;
    let old = find(&store, &args.dir, &args.id).await?;
    let Some(input) = &old.input else {
        bail!(
            "run `{}` has no recorded input, so it cannot be replayed\nhint: set `config.record_io: true` in workflow.yaml; runs from then on keep their input (redacted, up to {} KiB)",
            old.id,
            pipedreamer_runs::limits::MAX_IO_BYTES / 1024
        );
    };
    let dir = args.dir.clone();
    let (workload, _) = tokio::task::spawn_blocking(move || crate::commands::dev::load(&dir))
        .await?
        .map_err(|diagnostics| {
            eprint!("{diagnostics}");
            anyhow::anyhow!(
                "the workflow in `{}` does not load; fix it, then replay",
                args.dir.display()
            )
        })?;
    let sandbox = Sandbox::start(PoolOptions { workers: 1 })?;
    let state = EngineState::new(sandbox, None, None);
    let capture = Arc::new(Capture::default());
    state.set_sink(capture.clone());
    let workload = Arc::new(workload);
    let options = RunOptions {
        replay_of: Some(old.id.clone()),
        ..RunOptions::default()
    };
    let outcome = state
        .run_with(workload, input.to_string(), trigger(&old.trigger), options)
        .await;
    let record = capture
        .0
        .lock()
        .ok()
        .and_then(|mut r| r.take())
        .context("the replay produced no record")?;
    store
        .insert_runs(None, std::slice::from_ref(&record))
        .await
        .with_context(|| format!("cannot store the replay in {RUNS_DB}"))?;
    store.keep_latest_runs(None, KEEP).await?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&record)?),
        OutputFormat::Text => print!("{}", timeline(&record)),
    }
    Ok(if outcome.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The trigger a record names (`http`, `webhook:<name>`, `cron:<name>`, `queue:<subject>`), so a
/// replay's node code sees the same `ctx.trigger`.
fn trigger(text: &str) -> Trigger {
    match text.split_once(':') {
        Some(("webhook", name)) => Trigger::Webhook(name.to_owned()),
        Some(("cron", name)) => Trigger::Cron(name.to_owned()),
        Some(("queue", subject)) => Trigger::Queue(subject.to_owned()),
        _ => Trigger::Http,
    }
}

/// Unix milliseconds as `2026-01-02 03:04:05.678` (UTC).
fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// A run as text: header, the nodes (a bar each, on the run's time scale), error, progress,
/// outputs, logs, input and output.
pub fn timeline(r: &RunRecord) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {}  {}  {} {}  trigger {}",
        r.id,
        r.status.as_str(),
        r.workflow,
        r.version,
        r.trigger
    );
    let _ = writeln!(
        out,
        "started {} UTC, took {} ms{}",
        timestamp(r.started_at),
        r.duration_ms(),
        r.replay_of
            .as_deref()
            .map(|id| format!(", replay of {id}"))
            .unwrap_or_default()
    );
    let total = (r.duration_ms() as f64).max(
        r.nodes
            .0
            .iter()
            .map(|(_, n)| n.started_ms + n.duration_ms)
            .fold(0.0, f64::max),
    );
    let width = r.nodes.0.iter().map(|(id, _)| id.len()).max().unwrap_or(4);
    const BAR: usize = 30;
    let _ = writeln!(out, "\nnodes:");
    for (id, n) in &r.nodes.0 {
        let status = serde_json::to_value(n.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let bar = if total > 0.0 && n.attempts > 0 {
            let start = ((n.started_ms / total) * BAR as f64).floor() as usize;
            let len = (((n.duration_ms / total) * BAR as f64).ceil() as usize).max(1);
            let start = start.min(BAR - 1);
            let len = len.min(BAR - start);
            format!(
                "{}{}{}",
                " ".repeat(start),
                "█".repeat(len),
                " ".repeat(BAR - start - len)
            )
        } else {
            " ".repeat(BAR)
        };
        let attempts = match n.attempts {
            1 => "1 attempt".to_owned(),
            a => format!("{a} attempts"),
        };
        let _ = writeln!(
            out,
            "  {id:width$}  |{bar}|  {status:9}  {attempts:10}  +{} {}",
            ms(n.started_ms),
            ms(n.duration_ms)
        );
    }
    if let Some(e) = &r.error {
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\nerror ({kind}){}: {}",
            e.node
                .as_deref()
                .map(|n| format!(" in {n}"))
                .unwrap_or_default(),
            escape(&e.message)
        );
    }
    if !r.progress.is_empty() {
        let _ = writeln!(out, "\nprogress:");
        for p in &r.progress {
            let _ = writeln!(
                out,
                "  +{:>9}  {:width$}  {:>3.0}%  {}",
                ms(p.at_ms),
                p.node,
                p.percent,
                escape(p.message.as_deref().unwrap_or(""))
            );
        }
    }
    if !r.outputs.is_empty() {
        let _ = writeln!(out, "\noutputs:");
        for (name, value) in &r.outputs {
            let _ = writeln!(out, "  {} = {value}", escape(name));
        }
    }
    if !r.logs.is_empty() {
        let _ = writeln!(out, "\nlogs:");
        for l in &r.logs {
            let level = serde_json::to_value(l.level)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  +{:>9}  {level:5}  {:width$}  {}",
                ms(l.at_ms),
                l.node,
                escape(&l.message)
            );
        }
    }
    if !r.dropped.is_empty() {
        let _ = writeln!(
            out,
            "\n({} log lines and {} progress updates past the caps were not kept)",
            r.dropped.logs, r.dropped.progress
        );
    }
    if let Some(input) = &r.input {
        let _ = writeln!(out, "\ninput: {input}");
    }
    if let Some(output) = &r.output {
        let _ = writeln!(out, "output: {output}");
    }
    out
}
