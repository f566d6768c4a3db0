//! The control plane's own image: the static `pipedreamer` CLI (whose entrypoint is
//! `pipedreamer server`) and the static engine it builds workflow images with, FROM scratch,
//! assembled without a daemon the way [`crate::builder`] assembles workflow images and put
//! somewhere by the same [`crate::Publisher`]s.
//!
//! One layer: both binaries side by side in `/usr/local/bin` (the server finds the engine next
//! to itself, as [`crate::locate_engine`] does), plus the base files of the workflow image's
//! engine layer (Mozilla's CA bundle for registries, git hosts and PostgreSQL over TLS, a
//! `nonroot` user 65532, `/tmp`). Every timestamp is `SOURCE_DATE_EPOCH` (else 0), so the same
//! binaries always give the same digest.

use crate::blob::{Blob, Entry, Layer, build_layer, media};
use crate::reference::Reference;
use crate::{Error, Image, rootfs};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the CLI lives in the image.
pub const CLI_PATH: &str = "usr/local/bin/pipedreamer";
/// Where the engine lives in the image: next to the CLI, where the server looks for it.
pub const ENGINE_PATH: &str = "usr/local/bin/pipedreamer-engine";
/// The data directory's default in the image (`XDG_DATA_HOME=/var/lib`); Kubernetes mounts a
/// volume there and `pipedreamer server manifests` names it in the config file too.
pub const DATA_DIR: &str = "/var/lib/pipedreamer";
/// The port the server listens on by default.
pub const PORT: u16 = 7070;

/// The image's name unless `--tag` says otherwise: `pipedreamer:<version>`.
pub fn default_tag() -> String {
    format!("pipedreamer:{}", env!("CARGO_PKG_VERSION"))
}

/// The image's command line: the server (flags such as `--config` follow it).
pub fn entrypoint() -> Vec<String> {
    vec![format!("/{CLI_PATH}"), "server".to_owned()]
}

/// Why the server image cannot be built from these binaries.
#[derive(Debug, thiserror::Error)]
pub enum ServerImageError {
    /// A binary is missing or unreadable.
    #[error("cannot read the {which} binary `{path}`: {source}\nhint: build it with `{build}`")]
    Read {
        /// `pipedreamer` or `pipedreamer-engine`.
        which: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
        /// The cargo command that makes it.
        build: &'static str,
    },
    /// A binary needs a dynamic loader, which a FROM-scratch image does not have.
    #[error(
        "the {which} binary `{path}` cannot run in a FROM-scratch image: {why}\nhint: build it static with `{build}` from this repository (its .cargo/config.toml sets +crt-static for x86_64-unknown-linux-gnu)"
    )]
    NotStatic {
        /// `pipedreamer` or `pipedreamer-engine`.
        which: &'static str,
        /// The binary.
        path: PathBuf,
        /// What is wrong.
        why: String,
        /// The cargo command that makes it static.
        build: &'static str,
    },
    /// Building the layer or reading the environment failed.
    #[error(transparent)]
    Image(#[from] Error),
}

/// What to build.
#[derive(Debug, Clone)]
pub struct ServerImageRequest {
    /// The static `pipedreamer` binary.
    pub cli: PathBuf,
    /// The static `pipedreamer-engine` binary.
    pub engine: PathBuf,
    /// The image reference (for labels and layout annotations).
    pub reference: Reference,
    /// Timestamp for every file and the config (`SOURCE_DATE_EPOCH`).
    pub epoch: u64,
}

impl ServerImageRequest {
    /// A request stamped with `SOURCE_DATE_EPOCH` (else 0). Fails only on a malformed
    /// `SOURCE_DATE_EPOCH`.
    pub fn new(
        cli: impl Into<PathBuf>,
        engine: impl Into<PathBuf>,
        reference: Reference,
    ) -> Result<Self, Error> {
        Ok(Self {
            cli: cli.into(),
            engine: engine.into(),
            reference,
            epoch: crate::source_date_epoch()?,
        })
    }
}

/// The running `pipedreamer`: what goes into the image (`explicit` when given).
pub fn locate_cli(explicit: Option<PathBuf>) -> Result<PathBuf, Error> {
    match explicit {
        Some(path) => Ok(path),
        None => std::env::current_exe().map_err(Error::CurrentExe),
    }
}

/// Reads a binary and refuses a dynamically linked one (it has an ELF interpreter).
fn read_static(which: &'static str, path: &Path) -> Result<Vec<u8>, ServerImageError> {
    let build = match which {
        "pipedreamer" => "cargo build -p pipedreamer",
        _ => "cargo build -p pipedreamer-engine",
    };
    let bytes = std::fs::read(path).map_err(|source| ServerImageError::Read {
        which,
        path: path.to_owned(),
        source,
        build,
    })?;
    match rootfs::check_static(path, &bytes) {
        Ok(()) => Ok(bytes),
        Err(Error::EngineNotStatic { why, .. }) => Err(ServerImageError::NotStatic {
            which,
            path: path.to_owned(),
            why,
            build,
        }),
        Err(other) => Err(other.into()),
    }
}

/// The layer's entries: both binaries plus the workflow image's base files (CA bundle,
/// passwd/group with `nonroot`, `/tmp`, `/home/nonroot`) without its engine path.
fn entries(cli: Vec<u8>, engine: Vec<u8>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = rootfs::engine_entries(Arc::new(Vec::new()))
        .into_iter()
        .filter(|e| !matches!(e, Entry::File { path, .. } if path == rootfs::ENGINE_PATH))
        .collect();
    entries.push(Entry::File {
        path: CLI_PATH.to_owned(),
        mode: 0o755,
        data: Arc::new(cli),
    });
    entries.push(Entry::File {
        path: ENGINE_PATH.to_owned(),
        mode: 0o755,
        data: Arc::new(engine),
    });
    entries
}

/// Builds the server image.
pub fn build_server_image(req: &ServerImageRequest) -> Result<Image, ServerImageError> {
    let cli = read_static("pipedreamer", &req.cli)?;
    let engine = read_static("pipedreamer-engine", &req.engine)?;
    let layer: Layer = build_layer(entries(cli, engine), req.epoch).map_err(|e| Error::Io {
        path: req.cli.clone(),
        source: e,
    })?;
    let created = DateTime::<Utc>::from_timestamp(req.epoch as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut labels = serde_json::Map::new();
    labels.insert(
        "org.opencontainers.image.title".into(),
        json!("pipedreamer"),
    );
    labels.insert(
        "org.opencontainers.image.description".into(),
        json!("The Pipedreamer control plane: `pipedreamer server`"),
    );
    labels.insert(
        "org.opencontainers.image.version".into(),
        json!(env!("CARGO_PKG_VERSION")),
    );
    labels.insert("org.opencontainers.image.created".into(), json!(created));
    // No source revision label: the work tree's HEAD at `server image` time need not be what
    // the binaries were built from, and it would change the digest of the same binaries.
    let config = json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": format!("{0}:{0}", rootfs::NONROOT),
            "WorkingDir": "/",
            "ExposedPorts": { format!("{PORT}/tcp"): {} },
            "Entrypoint": entrypoint(),
            "Env": [
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                // The server's default data directory becomes /var/lib/pipedreamer (a mounted
                // volume), not the read-only ~/.local/share.
                "XDG_DATA_HOME=/var/lib",
                "HOME=/home/nonroot",
            ],
            "Volumes": { DATA_DIR: {} },
            "Labels": labels,
        },
        "rootfs": { "type": "layers", "diff_ids": [layer.diff_id.clone()] },
        "history": [
            { "created": created, "created_by": "pipedreamer server image: pipedreamer, pipedreamer-engine, CA bundle, nonroot user" },
        ],
    });
    let config = Blob::new(
        media::CONFIG,
        serde_json::to_vec(&config).unwrap_or_default(),
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.blob.descriptor()],
    });
    let manifest = Blob::new(
        media::MANIFEST,
        serde_json::to_vec(&manifest).unwrap_or_default(),
    );
    Ok(Image {
        layers: vec![layer],
        config,
        manifest,
        reference: req.reference.clone(),
        excluded: Vec::new(),
        // The control plane's own image carries no SBOM (yet): `pipedreamer build` does.
        sbom: None,
    })
}

/// [`build_server_image`] on the blocking pool (it compresses two binaries of tens of MiB).
pub async fn build_server_image_async(
    request: ServerImageRequest,
) -> Result<Image, ServerImageError> {
    tokio::task::spawn_blocking(move || build_server_image(&request))
        .await
        .map_err(|e| ServerImageError::Image(Error::Task(e.to_string())))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer_files(image: &Image) -> Vec<(String, u32)> {
        let gz = flate2::read::GzDecoder::new(image.layers[0].blob.data.as_slice());
        tar::Archive::new(gz)
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .filter(|(p, _)| !p.ends_with('/'))
            .collect()
    }

    fn fake_static(dir: &Path, name: &str) -> PathBuf {
        // A 64-byte ELF header with no program headers: static as far as the check goes.
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf.extend_from_slice(name.as_bytes());
        let path = dir.join(name);
        std::fs::write(&path, elf).unwrap();
        path
    }

    fn request(cli: PathBuf, engine: PathBuf, epoch: u64) -> ServerImageRequest {
        ServerImageRequest {
            cli,
            engine,
            reference: Reference::parse("pipedreamer:test").unwrap(),
            epoch,
        }
    }

    #[test]
    fn the_image_holds_both_binaries_the_ca_bundle_and_the_nonroot_user() {
        let dir = tempfile::tempdir().unwrap();
        let (cli, engine) = (
            fake_static(dir.path(), "pipedreamer"),
            fake_static(dir.path(), "pipedreamer-engine"),
        );
        let image = build_server_image(&request(cli.clone(), engine.clone(), 0)).unwrap();
        assert_eq!(
            layer_files(&image),
            [
                ("etc/group".to_owned(), 0o644),
                ("etc/passwd".to_owned(), 0o644),
                ("etc/ssl/certs/ca-certificates.crt".to_owned(), 0o644),
                ("usr/local/bin/pipedreamer".to_owned(), 0o755),
                ("usr/local/bin/pipedreamer-engine".to_owned(), 0o755),
            ]
        );
        let config: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(
            config["config"]["Entrypoint"],
            json!(["/usr/local/bin/pipedreamer", "server"])
        );
        assert_eq!(config["created"], "1970-01-01T00:00:00Z");
        // Reproducible: the same binaries and epoch give the same digest; another epoch not.
        let again = build_server_image(&request(cli.clone(), engine.clone(), 0)).unwrap();
        assert_eq!(image.digest(), again.digest());
        let later = build_server_image(&request(cli, engine, 1_700_000_000)).unwrap();
        assert_ne!(image.digest(), later.digest());
    }

    #[test]
    fn a_dynamic_or_missing_binary_is_refused_with_the_build_command() {
        let dir = tempfile::tempdir().unwrap();
        let engine = fake_static(dir.path(), "pipedreamer-engine");
        let err = build_server_image(&request("/bin/sh".into(), engine.clone(), 0))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the pipedreamer binary `/bin/sh` cannot run in a FROM-scratch image: it is dynamically linked"),
            "{err}"
        );
        assert!(err.contains("`cargo build -p pipedreamer`"), "{err}");
        let missing = dir.path().join("nope");
        let err = build_server_image(&request(engine, missing, 0))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read the pipedreamer-engine binary"),
            "{err}"
        );
        assert!(err.contains("`cargo build -p pipedreamer-engine`"), "{err}");
    }
}
