//! The local container engine: `docker load` or `podman load` of an archive, when one answers.

use super::{Destination, PublishFuture, Published, Publisher, archive, blocking};
use crate::builder::Image;
use crate::{Error, Reference};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long a `load` may take by default (a workflow image is tens of MiB; minutes mean a hung
/// engine).
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// A local engine that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalEngine {
    /// Docker with a running daemon.
    Docker,
    /// Podman.
    Podman,
}

impl LocalEngine {
    /// The command name.
    pub fn command(self) -> &'static str {
        match self {
            LocalEngine::Docker => "docker",
            LocalEngine::Podman => "podman",
        }
    }
}

fn answers(cmd: &str) -> bool {
    let Ok(mut child) = Command::new(cmd)
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    // `docker info` without a daemon can hang on its socket; never wait long.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// The first local engine that answers: Docker (with a daemon), then Podman.
pub fn detect() -> Option<LocalEngine> {
    [LocalEngine::Docker, LocalEngine::Podman]
        .into_iter()
        .find(|e| answers(e.command()))
}

/// What a finished `load` means: success, or its stderr as the error.
fn load_outcome(engine: LocalEngine, out: &std::process::Output) -> Result<(), Error> {
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::LocalEngine(format!(
            "`{} load` failed: {}",
            engine.command(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Loads an archive into `engine` (blocking; async callers use [`load_async`]).
pub fn load(engine: LocalEngine, archive: &Path) -> Result<(), Error> {
    let out = Command::new(engine.command())
        .arg("load")
        .arg("-i")
        .arg(archive)
        .output()
        .map_err(|e| Error::io(archive, e))?;
    load_outcome(engine, &out)
}

/// Publishes by loading an archive into a local docker or podman. The image is then known to
/// that engine by the reference (`podman run <reference>`).
#[derive(Debug, Clone)]
pub struct DaemonPublisher {
    engine: LocalEngine,
    timeout: Duration,
    scratch: PathBuf,
}

impl DaemonPublisher {
    /// A publisher for `engine`, with [`LOAD_TIMEOUT`] and the system temp dir for the archive.
    pub fn new(engine: LocalEngine) -> Self {
        Self {
            engine,
            timeout: LOAD_TIMEOUT,
            scratch: std::env::temp_dir(),
        }
    }

    /// A publisher for the first engine that answers ([`detect`]: blocks up to 5 s per engine,
    /// so detect once and keep it). [`Error::NoLocalEngine`] when none does.
    pub fn detect() -> Result<Self, Error> {
        detect().map(Self::new).ok_or(Error::NoLocalEngine)
    }

    /// The limit for one load.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where the temporary archive is written (removed after the load).
    pub fn scratch_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scratch = dir.into();
        self
    }

    /// The engine it loads into.
    pub fn engine(&self) -> LocalEngine {
        self.engine
    }
}

impl Publisher for DaemonPublisher {
    fn publish<'a>(&'a self, image: &'a Image, reference: &'a Reference) -> PublishFuture<'a> {
        Box::pin(async move {
            let tmp = self.scratch.join(format!(
                "pipedreamer-{}-{}.tar",
                std::process::id(),
                crate::builder::unique()
            ));
            let (owned, named, path) = (image.clone(), reference.clone(), tmp.clone());
            let written = blocking(move || archive::write_as(&owned, &named, &path)).await;
            let result = match written {
                Ok(()) => load_async(self.engine, &tmp, self.timeout).await,
                Err(e) => Err(e),
            };
            let _ = std::fs::remove_file(&tmp);
            result?;
            Ok(Published {
                reference: reference.clone(),
                digest: image.digest().to_owned(),
                destination: Destination::Daemon {
                    engine: self.engine,
                },
            })
        })
    }
}

/// [`load`] without blocking the runtime, killed after `timeout`.
pub async fn load_async(
    engine: LocalEngine,
    archive: &Path,
    timeout: Duration,
) -> Result<(), Error> {
    let child = tokio::process::Command::new(engine.command())
        .arg("load")
        .arg("-i")
        .arg(archive)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::io(archive, e))?;
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(out) => out.map_err(|e| Error::io(archive, e))?,
        Err(_) => {
            return Err(Error::Timeout {
                what: format!("`{} load`", engine.command()),
                after: timeout,
            });
        }
    };
    load_outcome(engine, &out)
}
