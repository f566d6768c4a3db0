//! Images of workflows without a Docker daemon. A [`builder`] turns a workflow directory and the
//! static engine into an [`Image`] (two reproducible layers, FROM scratch); [`publish`]ers put it
//! in an OCI layout, an archive, a registry or the local container engine.

pub mod blob;
pub mod builder;
pub mod cache;
pub mod content;
pub mod dockerfile;
pub mod publish;
pub mod reference;
pub mod rootfs;
pub mod sbom;
pub mod server_image;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use builder::{
    BuildOptions, BuildRequest, Image, build, build_async, build_async_with, build_with,
    locate_engine, source_date_epoch,
};
pub use publish::{Destination, Published, Publisher};
pub use reference::Reference;

use std::path::{Path, PathBuf};

/// Image build and publish failures; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine binary is missing or unreadable.
    #[error(
        "cannot read the engine binary `{path}`: {source}; build it with `cargo build --release -p pipedreamer-engine` or pass `--engine PATH`"
    )]
    Engine {
        /// Where it was looked for.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The engine is not a static executable.
    #[error(
        "the engine `{path}` cannot run in a FROM-scratch image: {why}; build it static with `cargo build --release -p pipedreamer-engine` from this repository (its .cargo/config.toml sets +crt-static)"
    )]
    EngineNotStatic {
        /// The binary.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A file the workflow loads is one the image must leave out.
    #[error(
        "`{path}` is part of the workflow (a node file or an import) but cannot go into the image: {reason}; rename or move it, or drop the rule that ignores it"
    )]
    NeededFileExcluded {
        /// The file, relative to the workflow directory.
        path: String,
        /// What leaves it out (the excluded path and why).
        reason: String,
    },
    /// The workflow directory could not be walked.
    #[error("{0}")]
    Content(String),
    /// File system failure.
    #[error("`{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// An image reference is malformed.
    #[error("invalid image reference {0}")]
    BadReference(String),
    /// The registry refused credentials.
    #[error("{0}")]
    Auth(String),
    /// The registry failed or is unreachable.
    #[error("{0}")]
    Registry(String),
    /// docker/podman failed.
    #[error("{0}")]
    LocalEngine(String),
    /// `SOURCE_DATE_EPOCH` is set but not a whole number of seconds.
    #[error("SOURCE_DATE_EPOCH=`{value}` is not a number of seconds")]
    SourceDateEpoch {
        /// The value found.
        value: String,
    },
    /// The running executable could not be located (to find the engine next to it).
    #[error("cannot locate the pipedreamer binary")]
    CurrentExe(#[source] std::io::Error),
    /// Neither docker (with a daemon) nor podman answered, and the publisher needs one.
    #[error(
        "no docker daemon or podman answered\nhint: install podman (`apt-get install podman`) or start the docker daemon"
    )]
    NoLocalEngine,
    /// A [`publish::MultiPublisher`] was asked to publish with no publishers in it.
    #[error("no publisher configured: nothing to publish to")]
    NoPublisher,
    /// A step did not finish in time.
    #[error("{what} did not finish within {}s", .after.as_secs())]
    Timeout {
        /// What was running, e.g. `podman load`.
        what: String,
        /// The limit.
        after: std::time::Duration,
    },
    /// A build or publish task stopped without finishing (it panicked or was cancelled).
    #[error("the image task stopped: {0}")]
    Task(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Registers paths to delete if the process is interrupted (Ctrl-C) before normal cleanup.
pub fn cleanup_on_interrupt(paths: Vec<PathBuf>) {
    static PATHS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    if let Ok(mut p) = PATHS.lock() {
        p.extend(paths);
    }
    INSTALLED.call_once(|| {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    if let Ok(p) = PATHS.lock() {
                        for path in p.iter() {
                            let _ = if path.is_dir() {
                                std::fs::remove_dir_all(path)
                            } else {
                                std::fs::remove_file(path)
                            };
                        }
                    }
                    std::process::exit(130);
                }
            });
        }
    });
}
