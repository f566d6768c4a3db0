//! The local container engine: `docker load` or `podman load` of an archive, when one answers.

use crate::Error;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Loads an archive into `engine`.
pub fn load(engine: LocalEngine, archive: &Path) -> Result<(), Error> {
    let out = Command::new(engine.command())
        .arg("load")
        .arg("-i")
        .arg(archive)
        .output()
        .map_err(|e| Error::io(archive, e))?;
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
