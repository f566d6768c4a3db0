//! The worker pool: a few OS threads, each with a single-threaded tokio runtime, running many
//! runs concurrently (QuickJS values are not `Send`, so a run stays on the thread that took it).
//! Runs are taken from one shared queue, so a thread stuck in a long synchronous node does not
//! hold up work that other threads can take.
//!
//! The node timeout stops JavaScript through QuickJS's interrupt handler, which a builtin running
//! native code cannot hear. The watchdog is the last line of defence against one that runs on:
//! a worker still inside one poll [`STUCK_GRACE`] past the longest node timeout of the run it
//! polls is replaced by a new thread, its runs fail with a timeout, and it is counted as lost
//! (see [`PoolHealth`]) until it comes back, when it exits.

use crate::outcome::{RunOutcome, RunRequest};
use crate::{FailureKind, Workload, executor};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, oneshot, watch};

/// Thread stack size: QuickJS's own limit (1 MiB) plus room for Rust frames and the allocator.
const WORKER_STACK: usize = 8 * 1024 * 1024;
/// Runs one worker thread holds at once; more wait in the queue for a less busy thread.
const RUNS_PER_WORKER: usize = 256;
/// How far past a run's deadline a worker may stay busy before the watchdog replaces it.
pub const STUCK_GRACE: Duration = Duration::from_secs(5);
/// How often the watchdog looks.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(250);
/// No worker id yet (the job waits in the queue).
const UNASSIGNED: usize = usize::MAX;

struct Job {
    workload: Arc<Workload>,
    request: RunRequest,
    run_id: String,
    reply: oneshot::Sender<RunOutcome>,
    /// The worker that took the job, so the caller knows whether a lost worker held its run.
    taken_by: Arc<AtomicUsize>,
    /// Test hook: block the worker thread for this long, as a builtin that ignores the
    /// interrupt handler would.
    #[cfg(test)]
    stall: Option<Duration>,
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
    shared: Arc<Shared>,
}

/// The worker threads' state, for readiness and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolHealth {
    /// Worker threads the pool keeps running.
    pub workers: usize,
    /// Threads the watchdog found busy more than [`STUCK_GRACE`] past a run's deadline:
    /// replaced by a new thread, but still burning a core until their builtin returns.
    /// Capacity is lost while this is above zero.
    pub stuck: usize,
    /// Workers replaced since start (`pipedreamer_workers_lost_total`).
    pub lost_total: u64,
}

/// The sandbox could not take or finish a run.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The worker threads could not be started.
    #[error("cannot start sandbox worker thread: {0}")]
    Spawn(std::io::Error),
}

/// What the pool's threads share with the watchdog and the callers.
struct Shared {
    started: Instant,
    workers: usize,
    /// Every worker ever started (lost ones stay, marked), by id.
    slots: Mutex<Vec<Arc<WorkerSlot>>>,
    stuck: AtomicUsize,
    lost_total: AtomicU64,
    /// Bumped whenever a worker is lost, waking callers whose run it may have held.
    lost: watch::Sender<u64>,
    /// The HTTP client for `ctx.fetch`, built by the first worker thread (loading the system's
    /// root certificates takes milliseconds, which would otherwise delay readiness).
    client: std::sync::OnceLock<Result<reqwest::Client, String>>,
}

/// One worker thread's watch state.
struct WorkerSlot {
    id: usize,
    /// Milliseconds since the pool started after which the poll in progress counts as stuck;
    /// 0 when the thread is not inside a poll.
    stuck_after_ms: AtomicU64,
    /// Set by the watchdog: the thread was replaced and exits as soon as it can.
    lost: AtomicBool,
}

impl Shared {
    /// The fetch client, or why it could not be built (then every run fails with that reason;
    /// there is no fallback client, which would follow redirects past the capability checks).
    fn client(&self) -> Result<reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                crate::fetch::client().map_err(|e| {
                    let message = format!("cannot set up the HTTP client for ctx.fetch: {e}");
                    tracing::error!("{message}");
                    message
                })
            })
            .clone()
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn is_lost(&self, worker: usize) -> bool {
        worker != UNASSIGNED
            && self.slots.lock().is_ok_and(|slots| {
                slots
                    .get(worker)
                    .is_some_and(|s| s.lost.load(Ordering::Relaxed))
            })
    }

    /// Starts a worker thread on `rx` and registers it.
    fn spawn_worker(self: &Arc<Self>, rx: async_channel::Receiver<Job>) -> Result<(), PoolError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = Arc::new(WorkerSlot {
            id: slots.len(),
            stuck_after_ms: AtomicU64::new(0),
            lost: AtomicBool::new(false),
        });
        let shared = self.clone();
        let thread_slot = slot.clone();
        std::thread::Builder::new()
            .name(format!("pd-sandbox-{}", slot.id))
            .stack_size(WORKER_STACK)
            .spawn(move || worker(rx, shared, thread_slot))
            .map_err(PoolError::Spawn)?;
        slots.push(slot);
        Ok(())
    }
}

impl Sandbox {
    /// Starts the worker threads and their watchdog.
    pub fn start(options: PoolOptions) -> Result<Self, PoolError> {
        return_large_blocks_to_the_system();
        crate::web::warm_up();
        let workers = options.workers.max(1);
        let (tx, rx) = async_channel::bounded::<Job>(workers * RUNS_PER_WORKER);
        let shared = Arc::new(Shared {
            started: Instant::now(),
            workers,
            slots: Mutex::new(Vec::new()),
            stuck: AtomicUsize::new(0),
            lost_total: AtomicU64::new(0),
            lost: watch::channel(0).0,
            client: Default::default(),
        });
        for _ in 0..workers {
            shared.spawn_worker(rx.clone())?;
        }
        let watched = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("pd-watchdog".into())
            .spawn(move || watchdog(watched, rx))
            .map_err(PoolError::Spawn)?;
        Ok(Self { queue: tx, shared })
    }

    /// The worker threads' state (see [`PoolHealth`]).
    pub fn health(&self) -> PoolHealth {
        PoolHealth {
            workers: self.shared.workers,
            stuck: self.shared.stuck.load(Ordering::Relaxed),
            lost_total: self.shared.lost_total.load(Ordering::Relaxed),
        }
    }

    /// Runs the workflow once and returns its outcome. Never panics: a crash inside the sandbox
    /// becomes a failed outcome, and a run on a worker the watchdog gave up on fails with a
    /// timeout.
    pub async fn run(&self, workload: Arc<Workload>, request: RunRequest) -> RunOutcome {
        self.submit(workload, request, |_| {}).await
    }

    async fn submit(
        &self,
        workload: Arc<Workload>,
        mut request: RunRequest,
        customize: impl FnOnce(&mut Job),
    ) -> RunOutcome {
        // The one place a run id is made when the caller has none.
        let run_id = request
            .run_id
            .take()
            .unwrap_or_else(crate::outcome::new_run_id);
        let (reply, mut outcome) = oneshot::channel();
        let taken_by = Arc::new(AtomicUsize::new(UNASSIGNED));
        let mut job = Job {
            workload,
            request,
            run_id: run_id.clone(),
            reply,
            taken_by: taken_by.clone(),
            #[cfg(test)]
            stall: None,
        };
        customize(&mut job);
        let mut lost = self.shared.lost.subscribe();
        if self.queue.send(job).await.is_err() {
            return RunOutcome::internal(run_id, "the sandbox is shutting down".into());
        }
        loop {
            tokio::select! {
                result = &mut outcome => {
                    return result.unwrap_or_else(|_| {
                        tracing::error!(run_id, "sandbox task ended without a result");
                        RunOutcome::internal(
                            run_id,
                            "internal error in the sandbox; see the engine log".into(),
                        )
                    });
                }
                changed = lost.changed() => {
                    if changed.is_err() || self.shared.is_lost(taken_by.load(Ordering::Relaxed)) {
                        return lost_run(run_id);
                    }
                }
            }
        }
    }
}

/// Makes glibc give blocks of 1 MiB or more straight back to the system when freed. By default
/// its threshold grows to the largest block freed so far (up to 32 MiB), after which big fetch
/// bodies and the strings made from them stay in the arenas: a burst of parallel 15 MiB fetches
/// kept the engine at 360 MB for good. The trim threshold is set to twice that, as glibc's own
/// rule would, so that ordinary churn does not hand pages back and forth.
fn return_large_blocks_to_the_system() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: mallopt only changes allocator tunables.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 2 << 20);
        }
    });
}

/// The outcome of a run whose worker the watchdog replaced.
fn lost_run(run_id: String) -> RunOutcome {
    let mut outcome = RunOutcome::internal(
        run_id,
        format!(
            "the run's worker was still busy {}s past a node's timeout (a builtin that does not \
             stop at the deadline, on this run or another on the same worker), so it was \
             replaced; retry the run",
            STUCK_GRACE.as_secs()
        ),
    );
    if let Some(e) = outcome.error.as_mut() {
        e.kind = FailureKind::Timeout;
    }
    outcome
}

fn worker(rx: async_channel::Receiver<Job>, shared: Arc<Shared>, slot: Arc<WorkerSlot>) {
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
    let client = match shared.client() {
        Ok(client) => client,
        Err(message) => return refuse_runs(&rx, &message),
    };
    let watch = Watch {
        shared: shared.clone(),
        slot: slot.clone(),
    };
    let mut lost = shared.lost.subscribe();
    let exit_slot = slot.clone();
    local.block_on(&rt, async move {
        let slots = Arc::new(Semaphore::new(RUNS_PER_WORKER));
        // Every wait also listens for the watchdog, so a replaced thread that comes back exits
        // at once instead of waiting for a job it must not take.
        loop {
            if slot.lost.load(Ordering::Relaxed) {
                break;
            }
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => permit,
                changed = lost.changed() => if changed.is_ok() { continue } else { break },
            };
            let Ok(permit) = permit else { break };
            let job = tokio::select! {
                job = rx.recv() => job,
                changed = lost.changed() => if changed.is_ok() { continue } else { break },
            };
            let Ok(job) = job else { break };
            if slot.lost.load(Ordering::Relaxed) {
                // Taken just as the watchdog gave up on this thread, which is working again:
                // finish this one run, then go.
                executor::execute(&job.workload, job.request, job.run_id, &client, job.reply).await;
                break;
            }
            job.taken_by.store(slot.id, Ordering::Relaxed);
            let client = client.clone();
            let grace = job
                .workload
                .program
                .workflow
                .nodes
                .iter()
                .map(|n| n.timeout)
                .max();
            let run = async move {
                #[cfg(test)]
                if let Some(stall) = job.stall {
                    std::thread::sleep(stall);
                }
                executor::execute(&job.workload, job.request, job.run_id, &client, job.reply).await;
                drop(permit);
            };
            tokio::task::spawn_local(watch.watched(run, grace.unwrap_or_default() + STUCK_GRACE));
        }
    });
    if exit_slot.lost.load(Ordering::Relaxed) {
        shared.stuck.fetch_sub(1, Ordering::Relaxed);
        tracing::warn!(
            worker = exit_slot.id,
            "a replaced sandbox worker came back and exited"
        );
    }
}

/// Serves a worker's share of the queue when runs cannot start at all: each fails with `message`.
fn refuse_runs(rx: &async_channel::Receiver<Job>, message: &str) {
    while let Ok(job) = rx.recv_blocking() {
        let _ = job
            .reply
            .send(RunOutcome::internal(job.run_id, message.to_owned()));
    }
}

/// Marks a worker's polls for the watchdog.
#[derive(Clone)]
struct Watch {
    shared: Arc<Shared>,
    slot: Arc<WorkerSlot>,
}

impl Watch {
    /// `run`, with each of its polls allowed `limit` before the watchdog calls the thread stuck.
    /// JavaScript only runs inside polls, and the interrupt handler stops it at the earliest
    /// node deadline, so a poll longer than the longest node timeout plus the grace is a builtin
    /// that ignores the deadline.
    fn watched<F: Future<Output = ()>>(&self, run: F, limit: Duration) -> Watched<F> {
        Watched {
            run: Box::pin(run),
            watch: self.clone(),
            limit_ms: limit.as_millis() as u64,
        }
    }
}

struct Watched<F> {
    run: Pin<Box<F>>,
    watch: Watch,
    limit_ms: u64,
}

impl<F: Future<Output = ()>> Future for Watched<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let w = &self.watch;
        let start = w.shared.now_ms();
        w.slot
            .stuck_after_ms
            .store(start + self.limit_ms.max(1), Ordering::Relaxed);
        let result = self.run.as_mut().poll(cx);
        self.watch.slot.stuck_after_ms.store(0, Ordering::Relaxed);
        result
    }
}

/// Replaces worker threads stuck in one poll past their limit, until the pool is gone.
fn watchdog(shared: Weak<Shared>, rx: async_channel::Receiver<Job>) {
    loop {
        std::thread::sleep(WATCHDOG_PERIOD);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if rx.is_closed() {
            return;
        }
        let now = shared.now_ms();
        let stuck: Vec<Arc<WorkerSlot>> = shared
            .slots
            .lock()
            .map(|slots| {
                slots
                    .iter()
                    .filter(|s| !s.lost.load(Ordering::Relaxed))
                    .filter(|s| {
                        let after = s.stuck_after_ms.load(Ordering::Relaxed);
                        after != 0 && now > after
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for slot in stuck {
            slot.lost.store(true, Ordering::Relaxed);
            shared.stuck.fetch_add(1, Ordering::Relaxed);
            shared.lost_total.fetch_add(1, Ordering::Relaxed);
            shared.lost.send_modify(|n| *n += 1);
            tracing::error!(
                worker = slot.id,
                grace_s = STUCK_GRACE.as_secs(),
                "a sandbox worker is stuck past its runs' deadlines (a builtin that ignores the \
                 node timeout); its runs fail with a timeout and a new worker takes its place"
            );
            if let Err(e) = shared.spawn_worker(rx.clone()) {
                tracing::error!("cannot replace the stuck sandbox worker: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Trigger;
    use crate::{Program, Secrets};
    use pipedreamer_spec::source::MemorySource;

    fn workload() -> Arc<Workload> {
        let src = MemorySource::from_pairs([
            (
                "workflow.yaml",
                "name: w\nversion: \"1\"\nnodes:\n  - id: a\n    file: a.js\n    timeout: 100ms\n",
            ),
            ("a.js", "export default async function run() { return 1 }"),
        ]);
        let program = Program::load(&src).expect("program loads");
        Arc::new(Workload::new(program, Secrets::default()).0)
    }

    /// A worker blocked in native code past its deadline is replaced: its run fails with a
    /// timeout, health reports it, later runs succeed on the replacement, and the thread exits
    /// (and stops counting as stuck) once it comes back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watchdog_replaces_a_stuck_worker() {
        let sandbox = Sandbox::start(PoolOptions { workers: 1 }).unwrap();
        let wl = workload();
        let stuck_run = {
            let sandbox = sandbox.clone();
            let wl = wl.clone();
            tokio::spawn(async move {
                sandbox
                    .submit(wl, RunRequest::new("{}", Trigger::Http), |job| {
                        job.stall = Some(Duration::from_secs(8))
                    })
                    .await
            })
        };
        let outcome = stuck_run.await.unwrap();
        assert_eq!(outcome.failure(), Some(FailureKind::Timeout), "{outcome:?}");
        let health = sandbox.health();
        assert_eq!(
            health,
            PoolHealth {
                workers: 1,
                stuck: 1,
                lost_total: 1
            }
        );
        // The replacement serves runs while the stuck thread is still blocked.
        let next = sandbox
            .run(wl.clone(), RunRequest::new("{}", Trigger::Http))
            .await;
        assert!(next.succeeded(), "{next:?}");
        // Once the blocked thread returns it exits and capacity is back.
        let deadline = Instant::now() + Duration::from_secs(10);
        while sandbox.health().stuck > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(sandbox.health().stuck, 0);
        assert_eq!(sandbox.health().lost_total, 1);
    }
}
