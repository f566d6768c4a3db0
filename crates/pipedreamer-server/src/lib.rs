//! The control plane's HTTP side (`pipedreamer server`): configuration ([`config`]), API tokens
//! ([`auth`]), the REST API with GitHub webhooks, live build logs, run records and metrics
//! ([`api`]), report tokens and run retention ([`runs`]), and
//! [`serve`], which opens the store, starts the build workers and listens; the web dashboard
//! ([`ui`]) is served from the same router.

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod metrics;
pub mod runs;
mod serve;
pub mod ui;

pub use api::{AppState, router};
pub use auth::{Claims, Minted, Tokens};
pub use config::{Config, ConfigError, Overrides};
pub use serve::{ServeError, open, pipeline_config, report_url, routing, serve};

/// `N` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| {
            std::io::Error::other("the operating system's random number generator failed")
        })?;
    Ok(out)
}

/// Writes `text` to `path` readable by the owner only (0600), replacing it atomically.
pub(crate) fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
