//! The worker pool: a few OS threads, each with a single-threaded tokio runtime, running many
//! runs concurrently (QuickJS values are not `Send`, so a run stays on the thread that took it).
//! Runs are taken from one shared queue, so a thread stuck in a long synchronous node does not
//! hold up work that other threads can take.

use crate::outcome::{RunOutcome, RunRequest};
use crate::{Workload, executor};
use std::sync::Arc;
use tokio::sync::{Semaphore, oneshot};

/// Thread stack size: QuickJS's own limit (1 MiB) plus room for Rust frames and the allocator.
const WORKER_STACK: usize = 8 * 1024 * 1024;
/// Runs one worker thread holds at once; more wait in the queue for a less busy thread.
const RUNS_PER_WORKER: usize = 256;

struct Job {
    workload: Arc<Workload>,
    request: RunRequest,
    reply: oneshot::Sender<RunOutcome>,
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Worker threads (default: available cores, at least 2).
    pub workers: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            workers: cores.max(2),
        }
    }
}

/// Runs workflows on the worker threads. Cloning is cheap; all clones share the workers.
#[derive(Clone)]
pub struct Sandbox {
    queue: async_channel::Sender<Job>,
}

/// The sandbox could not take or finish a run.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The worker threads could not be started.
    #[error("cannot start sandbox worker thread: {0}")]
    Spawn(std::io::Error),
}

impl Sandbox {
    /// Starts the worker threads.
    pub fn start(options: PoolOptions) -> Result<Self, PoolError> {
        let (tx, rx) = async_channel::bounded::<Job>(options.workers * RUNS_PER_WORKER);
        for i in 0..options.workers {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("pd-sandbox-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || worker(rx))
                .map_err(PoolError::Spawn)?;
        }
        Ok(Self { queue: tx })
    }

    /// Runs the workflow once and returns its outcome. Never panics: a crash inside the sandbox
    /// becomes a failed outcome.
    pub async fn run(&self, workload: Arc<Workload>, request: RunRequest) -> RunOutcome {
        let run_id = request
            .run_id
            .clone()
            .unwrap_or_else(crate::outcome::new_run_id);
        let request = RunRequest {
            run_id: Some(run_id.clone()),
            ..request
        };
        let (reply, outcome) = oneshot::channel();
        if self
            .queue
            .send(Job {
                workload,
                request,
                reply,
            })
            .await
            .is_err()
        {
            return RunOutcome::internal(run_id, "the sandbox is shutting down".into());
        }
        outcome.await.unwrap_or_else(|_| {
            tracing::error!(run_id, "sandbox task ended without a result");
            RunOutcome::internal(
                run_id,
                "internal error in the sandbox; see the engine log".into(),
            )
        })
    }
}

fn worker(rx: async_channel::Receiver<Job>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("sandbox worker cannot start: {e}");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let client = crate::fetch::client();
        let slots = Arc::new(Semaphore::new(RUNS_PER_WORKER));
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let Ok(job) = rx.recv().await else { break };
            let client = client.clone();
            tokio::task::spawn_local(async move {
                executor::execute(&job.workload, job.request, &client, job.reply).await;
                drop(permit);
            });
        }
    });
}
