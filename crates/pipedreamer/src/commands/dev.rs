//! `pipedreamer dev`: the engine in-process with `.secrets.yaml`, live reload, local cron.
//!
//! A broken edit keeps the last good version serving and prints the diagnostics.

use crate::cli::DevArgs;
use crate::output;
use anyhow::Context;
use notify::{RecursiveMode, Watcher};
use pipedreamer_engine::{EngineState, LoadError, SecretsSource, ServeOptions};
use pipedreamer_sandbox::{PoolOptions, Sandbox, Workload};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DEBOUNCE: Duration = Duration::from_millis(150);

fn load(dir: &Path) -> Result<Workload, String> {
    match pipedreamer_engine::load(dir, &SecretsSource::File(dir.join(".secrets.yaml"))) {
        Ok(w) => Ok(w),
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
    match first {
        Ok(w) => {
            report_loaded(&w);
            state.replace(w);
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
    let stop = CancellationToken::new();
    let _watcher = if args.no_watch {
        None
    } else {
        Some(watch(dir.clone(), state.clone(), stop.clone())?)
    };
    // SIGTERM as well as Ctrl-C: runs in flight finish, as in the engine binary.
    tokio::spawn(pipedreamer_engine::cancel_on_signal(stop.clone()));
    let options = ServeOptions {
        local_cron: !args.no_cron,
        shutdown_grace: Duration::from_secs(5),
        nats: Default::default(),
        http: Default::default(),
    };
    pipedreamer_engine::serve(state, listener, options, stop).await?;
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

fn ignored(path: &Path) -> bool {
    path.components().any(|c| {
        matches!(
            c.as_os_str().to_str(),
            Some(".git" | ".pipedreamer" | "node_modules" | "target")
        )
    })
}

/// Watches `dir` and reloads the workload on change, keeping the old one when the new is broken.
fn watch(
    dir: PathBuf,
    state: Arc<EngineState>,
    stop: CancellationToken,
) -> anyhow::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(e) = event
            && !e.kind.is_access()
            && e.paths.iter().any(|p| !ignored(p))
        {
            let _ = tx.send(());
        }
    })
    .context("cannot watch the workflow directory")?;
    watcher
        .watch(&dir, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch `{}`", dir.display()))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                got = rx.recv() => if got.is_none() { return },
            }
            // Editors save in bursts (write, rename, chmod): settle before reloading.
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            let dir = dir.clone();
            match tokio::task::spawn_blocking(move || load(&dir)).await {
                Ok(Ok(w)) => {
                    report_loaded(&w);
                    state.replace(w);
                }
                Ok(Err(diagnostics)) => {
                    eprint!("{diagnostics}");
                    let keeping = if state.workload().is_some() {
                        "keeping the last good version running"
                    } else {
                        "no version is running yet"
                    };
                    eprintln!("reload failed; {keeping}");
                }
                Err(e) => eprintln!("reload failed: {e}"),
            }
        }
    });
    Ok(watcher)
}
