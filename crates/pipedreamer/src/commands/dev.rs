//! `pipedreamer dev`: the engine in-process with `.secrets.yaml`, live reload, local cron.
//!
//! A broken edit keeps the last good version serving and prints the diagnostics.
//!
//! What is watched: the workflow directory's own files (recursively, except `node_modules`,
//! VCS and build directories), and in `node_modules` only the directories of the files the
//! import graph needs, so a large `node_modules` costs no watches and an `npm install` that
//! changes the graph (or `package.json`/`package-lock.json`, at the top) reloads.

use crate::cli::DevArgs;
use crate::commands::runs;
use crate::output;
use anyhow::Context;
use notify::{RecursiveMode, Watcher};
use pipedreamer_engine::{EngineState, LoadError, SecretsSource, ServeOptions};
use pipedreamer_sandbox::{PoolOptions, Sandbox, Workload};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DEBOUNCE: Duration = Duration::from_millis(150);

/// A workload and the files its import graph needs (modules and manifests), relative to `dir`.
type Loaded = (Workload, BTreeSet<String>);

/// Loads the workflow in `dir` (what `runs replay` runs too); `Err` holds rendered diagnostics.
pub(crate) fn load(dir: &Path) -> Result<Loaded, String> {
    let resolved = pipedreamer_spec::resolve(&pipedreamer_spec::source::DirSource::new(dir))
        .map_err(|diags| output::render_diagnostics(dir, &diags))?;
    let needed = resolved
        .modules
        .needed()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let secrets = SecretsSource::File(dir.join(".secrets.yaml"));
    match pipedreamer_engine::load_resolved(resolved, &secrets) {
        Ok(w) => Ok((w, needed)),
        Err(LoadError::Invalid(diags)) => Err(output::render_diagnostics(dir, &diags)),
        Err(e) => Err(format!("error: {e}\n")),
    }
}

/// Runs the command until Ctrl-C or SIGTERM.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    pipedreamer_engine::logging::init(args.log_format);
    let dir = args.dir.clone();
    if !dir.join(pipedreamer_spec::WORKFLOW_FILE).exists() {
        anyhow::bail!(
            "no workflow.yaml in `{}`\nhint: create one with `pipedreamer init {}`",
            dir.display(),
            dir.display()
        );
    }
    let first = load(&dir);
    let sandbox = Sandbox::start(PoolOptions::default())?;
    let state = EngineState::new(sandbox, None, None);
    // Every run is recorded in .pipedreamer/runs.db; without it dev still serves.
    let record_stop = CancellationToken::new();
    let recorder = match runs::open(&dir, true).await {
        Ok(store) => {
            let (recorder, handle) = runs::Recorder::start(store, record_stop.clone());
            state.set_sink(Arc::new(recorder));
            Some(handle)
        }
        Err(e) => {
            eprintln!("warning: runs are not recorded: {e:#}");
            None
        }
    };
    let mut needed = BTreeSet::new();
    match first {
        Ok((w, files)) => {
            report_loaded(&w);
            state.replace(w);
            needed = files;
        }
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            eprintln!("waiting for a valid workflow; fix the errors above and save");
        }
    }
    let addr = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr}\nhint: another process uses port {}; pass `--port {}`",
            args.port,
            args.port.wrapping_add(1)
        )
    })?;
    let url = format!("http://{}/run", listener.local_addr()?);
    output::success(&format!("serving at {url}"));
    output::hint(&format!(
        "try: curl -s {url} -H 'content-type: application/json' -d '{{}}'"
    ));
    if recorder.is_some() {
        output::hint(&format!(
            "runs are recorded in {}: `pipedreamer runs list {}`",
            runs::RUNS_DB,
            dir.display()
        ));
    }
    let stop = CancellationToken::new();
    if !args.no_watch {
        watch(dir.clone(), needed, state.clone(), stop.clone())?;
    }
    // SIGTERM as well as Ctrl-C: runs in flight finish, as in the engine binary.
    tokio::spawn(pipedreamer_engine::cancel_on_signal(stop.clone()));
    let options = ServeOptions {
        local_cron: !args.no_cron,
        shutdown_grace: Duration::from_secs(5),
        nats: Default::default(),
        http: Default::default(),
    };
    let served = pipedreamer_engine::serve(state, listener, options, stop).await;
    if let Some(handle) = recorder {
        runs::finish(record_stop, handle).await;
    }
    served?;
    Ok(())
}

fn report_loaded(w: &Workload) {
    let wf = &w.program.workflow;
    output::success(&format!(
        "loaded `{}` {}: {} node(s), {} trigger(s), {} secret value(s)",
        wf.name,
        wf.version,
        wf.nodes.len(),
        wf.triggers.len(),
        w.secrets.count()
    ));
}

/// Directories never watched (nor their events heeded): `node_modules` is watched file by file
/// through the import graph instead.
fn skipped(name: &str) -> bool {
    matches!(name, ".git" | ".pipedreamer" | "node_modules" | "target")
}

/// Whether a change at `path` can change the workload: anything outside the skipped
/// directories, and inside `node_modules` only a file the graph needs.
fn relevant(dir: &Path, path: &Path, needed: &BTreeSet<String>) -> bool {
    let Ok(rel) = path.strip_prefix(dir) else {
        return false;
    };
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
    if !parts.any(|p| skipped(&p)) {
        return true;
    }
    rel.to_str()
        .is_some_and(|r| needed.contains(r) || r == "node_modules" || r == NPM_INSTALLED)
}

/// What npm writes last on every `npm install`/`npm ci`: a change to it means packages changed,
/// even ones the graph does not reach yet (the install that fixes a missing package).
const NPM_INSTALLED: &str = "node_modules/.package-lock.json";

/// The watches for `needed`: the workflow directory itself; each of its subdirectories,
/// recursively, unless skipped; and, non-recursively, `node_modules` (for [`NPM_INSTALLED`])
/// and each directory in it that holds a needed file.
fn watch_list(dir: &Path, needed: &BTreeSet<String>) -> BTreeSet<(PathBuf, bool)> {
    let mut list = BTreeSet::from([(dir.to_path_buf(), false)]);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            if e.file_type().is_ok_and(|t| t.is_dir()) && !skipped(&name.to_string_lossy()) {
                list.insert((e.path(), true));
            }
        }
    }
    let modules = dir.join("node_modules");
    if modules.is_dir() {
        list.insert((modules, false));
    }
    for file in needed {
        let path = dir.join(file);
        let in_skipped = Path::new(file)
            .components()
            .any(|c| skipped(&c.as_os_str().to_string_lossy()));
        if in_skipped && let Some(parent) = path.parent() {
            list.insert((parent.to_path_buf(), false));
        }
    }
    list
}

/// Watches what [`watch_list`] names and reloads the workload on a relevant change, keeping
/// the old one when the new is broken; the watches follow the graph after each reload.
fn watch(
    dir: PathBuf,
    needed: BTreeSet<String>,
    state: Arc<EngineState>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // Absolute, so event paths (which notify reports under the watched path) compare with it.
    let dir = dir.canonicalize().unwrap_or(dir);
    let needed = Arc::new(Mutex::new(needed));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (events_dir, events_needed, reload_dir) = (dir.clone(), needed.clone(), dir.clone());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(e) = event else { return };
        let needed = events_needed.lock().map(|n| n.clone()).unwrap_or_default();
        if !e.kind.is_access() && e.paths.iter().any(|p| relevant(&events_dir, p, &needed)) {
            let _ = tx.send(());
        }
    })
    .context("cannot watch the workflow directory")?;
    let mut watched = BTreeSet::new();
    let mut rewatch = move |watcher: &mut notify::RecommendedWatcher, needed: &BTreeSet<String>| {
        let want = watch_list(&dir, needed);
        for (path, _) in watched.difference(&want) {
            let _ = watcher.unwatch(path);
        }
        let mut failed = None;
        for (path, recursive) in want.difference(&watched) {
            let mode = match recursive {
                true => RecursiveMode::Recursive,
                false => RecursiveMode::NonRecursive,
            };
            // A directory can vanish between listing and watching; the next reload retries.
            if let Err(e) = watcher.watch(path, mode) {
                failed.get_or_insert((path.clone(), e));
            }
        }
        watched = want;
        failed
    };
    let first = needed.lock().map(|n| n.clone()).unwrap_or_default();
    if let Some((path, e)) = rewatch(&mut watcher, &first) {
        return Err(e).with_context(|| format!("cannot watch `{}`", path.display()));
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                got = rx.recv() => if got.is_none() { return },
            }
            // Editors save in bursts (write, rename, chmod): settle before reloading.
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            let dir = reload_dir.clone();
            match tokio::task::spawn_blocking(move || load(&dir)).await {
                Ok(Ok((w, files))) => {
                    report_loaded(&w);
                    state.replace(w);
                    if let Some((path, e)) = rewatch(&mut watcher, &files) {
                        eprintln!("warning: cannot watch `{}`: {e}", path.display());
                    }
                    if let Ok(mut n) = needed.lock() {
                        *n = files;
                    }
                }
                Ok(Err(diagnostics)) => {
                    eprint!("{diagnostics}");
                    let keeping = if state.workload().is_some() {
                        "keeping the last good version running"
                    } else {
                        "no version is running yet"
                    };
                    eprintln!("reload failed; {keeping}");
                    // New directories (say `lib/`) are watched even before the graph is valid.
                    let files = needed.lock().map(|n| n.clone()).unwrap_or_default();
                    let _ = rewatch(&mut watcher, &files);
                }
                Err(e) => eprintln!("reload failed: {e}"),
            }
        }
    });
    Ok(())
}
