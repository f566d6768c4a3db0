//! The builder: workflow directory + static engine → an [`Image`] in memory. Publishers put it
//! somewhere (OCI layout, archive, registry, local engine).

use crate::blob::{Blob, Entry, Layer, build_layer, media, sha256_digest};
use crate::reference::Reference;
use crate::{Error, content, rootfs, sbom};
use chrono::{DateTime, SecondsFormat, Utc};
use pipedreamer_spec::{Resolved, WORKFLOW_FILE};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The workflow directory.
    pub workflow_dir: PathBuf,
    /// The workflow in it, checked and resolved (`pipedreamer_spec::resolve`): its import graph
    /// says which files of `node_modules` ship.
    pub resolved: Resolved,
    /// The static engine binary.
    pub engine: PathBuf,
    /// The image reference (for labels and layout annotations).
    pub reference: Reference,
    /// Timestamp for every file and the config (`SOURCE_DATE_EPOCH`).
    pub epoch: u64,
    /// Cache directory for the engine layer (it only changes with the engine).
    pub cache_dir: Option<PathBuf>,
}

impl BuildRequest {
    /// A request with the defaults the CLI uses: `SOURCE_DATE_EPOCH` (else 0) for timestamps and
    /// the user's layer cache ([`crate::cache::layer_cache_dir`]). Fails only on a malformed
    /// `SOURCE_DATE_EPOCH`.
    pub fn new(
        workflow_dir: impl Into<PathBuf>,
        resolved: Resolved,
        engine: impl Into<PathBuf>,
        reference: Reference,
    ) -> Result<Self, Error> {
        Ok(Self {
            workflow_dir: workflow_dir.into(),
            resolved,
            engine: engine.into(),
            reference,
            epoch: source_date_epoch()?,
            cache_dir: crate::cache::layer_cache_dir(),
        })
    }
}

/// The timestamp for reproducible builds: `SOURCE_DATE_EPOCH` (seconds) when set, else 0.
pub fn source_date_epoch() -> Result<u64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => parse_epoch(&value),
        Err(_) => Ok(0),
    }
}

fn parse_epoch(value: &str) -> Result<u64, Error> {
    value.trim().parse().map_err(|_| Error::SourceDateEpoch {
        value: value.to_owned(),
    })
}

/// The static engine binary: `explicit` when given (`--engine`, `PIPEDREAMER_ENGINE`), else
/// `pipedreamer-engine` next to the running executable (how releases ship the two).
pub fn locate_engine(explicit: Option<PathBuf>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    let exe = std::env::current_exe().map_err(Error::CurrentExe)?;
    Ok(exe.with_file_name("pipedreamer-engine"))
}

/// A built image.
#[derive(Debug, Clone)]
pub struct Image {
    /// Engine layer, then workflow layer.
    pub layers: Vec<Layer>,
    /// The config blob.
    pub config: Blob,
    /// The manifest blob; its digest is the image digest.
    pub manifest: Blob,
    /// The reference it was built for.
    pub reference: Reference,
    /// What of the workflow directory was left out, and why.
    pub excluded: Vec<content::Excluded>,
    /// The SPDX SBOM (also in the image at `/sbom.spdx.json`); `None` when built without one.
    pub sbom: Option<Blob>,
}

impl Image {
    /// The manifest digest.
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    /// Compressed size: config, manifest and layers.
    pub fn compressed_size(&self) -> u64 {
        self.config.size()
            + self.manifest.size()
            + self.layers.iter().map(|l| l.blob.size()).sum::<u64>()
    }

    /// Uncompressed size of the layers.
    pub fn uncompressed_size(&self) -> u64 {
        self.layers.iter().map(|l| l.uncompressed_size).sum()
    }

    /// All blobs: layers, config, manifest.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.layers
            .iter()
            .map(|l| &l.blob)
            .chain([&self.config, &self.manifest])
    }
}

/// The engine's command line inside the image.
pub fn entrypoint() -> Vec<&'static str> {
    vec![
        "/app/engine/pipedreamer-engine",
        "--workflow",
        "/app/workflow.yaml",
        "--port",
        "8080",
        "--secrets-dir",
        "/app/secrets",
    ]
}

/// Source URL and commit of a git work tree, for the OCI labels.
pub fn git_metadata(dir: &Path) -> (Option<String>, Option<String>) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    (
        git(&["remote", "get-url", "origin"]).map(|u| strip_credentials(&u)),
        git(&["rev-parse", "HEAD"]),
    )
}

/// `https://user:token@host/x` must not end up in a public label.
fn strip_credentials(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// A number no other call in this process got (for temporary file names).
pub(crate) fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// How to build, beyond what to build.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Write the SPDX SBOM into the image (and onto [`Image::sbom`]). On by default.
    pub sbom: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { sbom: true }
    }
}

/// Builds the image with the default options (an SBOM included).
pub fn build(req: &BuildRequest) -> Result<Image, Error> {
    build_with(req, BuildOptions::default())
}

/// Builds the image.
pub fn build_with(req: &BuildRequest, options: BuildOptions) -> Result<Image, Error> {
    let workflow = &req.resolved.workflow;
    let modules = &req.resolved.modules;
    let engine_bytes = std::fs::read(&req.engine).map_err(|e| Error::Engine {
        path: req.engine.clone(),
        source: e,
    })?;
    rootfs::check_static(&req.engine, &engine_bytes)?;
    // The SBOM reads the engine's embedded crate list; the layer takes the bytes.
    // Its digest keys the layer cache and goes into the SBOM: hashed once.
    let engine_bytes = Arc::new(engine_bytes);
    let engine_digest = sha256_digest(&engine_bytes);
    let engine_layer = cached_engine_layer(req, engine_bytes.clone(), &engine_digest)?;

    let content = content::workflow_content(&req.workflow_dir, modules)?;
    // A module the workflow needs but the rules leave out (say `nodes/.env.js`, or one under a
    // git-ignored directory) would make an image that cannot start: say so now.
    for needed in std::iter::once(WORKFLOW_FILE).chain(modules.needed()) {
        if let Some(why) = content.excluded.iter().find(|e| {
            e.path == needed || (e.path.ends_with('/') && needed.starts_with(e.path.as_str()))
        }) {
            return Err(Error::NeededFileExcluded {
                path: needed.to_owned(),
                reason: why.to_string(),
            });
        }
    }
    let mut entries = Vec::new();
    let mut npm = Vec::new();
    for f in &content.files {
        let data = std::fs::read(&f.source).map_err(|e| Error::io(&f.source, e))?;
        if options.sbom
            && let Some(package) = sbom::npm_package(&f.rel, &data)
        {
            npm.push(package);
        }
        entries.push(Entry::File {
            path: format!("app/{}", f.rel),
            mode: if f.executable { 0o755 } else { 0o644 },
            data: Arc::new(data),
        });
    }
    let sbom = options.sbom.then(|| {
        let document = sbom::document(&sbom::Contents {
            workflow: &workflow.name,
            version: &workflow.version,
            engine: &engine_bytes,
            engine_digest: &engine_digest,
            ca_bundle: &rootfs::ca_bundle(),
            npm,
            epoch: req.epoch,
        });
        Blob::new(sbom::MEDIA_TYPE, document)
    });
    if let Some(sbom) = &sbom {
        entries.push(Entry::File {
            path: sbom::PATH_IN_IMAGE.into(),
            mode: 0o644,
            data: sbom.data.clone(),
        });
    }
    let workflow_layer =
        build_layer(entries, req.epoch).map_err(|e| Error::io(&req.workflow_dir, e))?;

    let created = DateTime::<Utc>::from_timestamp(req.epoch as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let (source, revision) = git_metadata(&req.workflow_dir);
    let mut labels = serde_json::Map::new();
    labels.insert(
        "org.opencontainers.image.title".into(),
        json!(workflow.name),
    );
    labels.insert(
        "org.opencontainers.image.version".into(),
        json!(workflow.version),
    );
    labels.insert("org.opencontainers.image.created".into(), json!(created));
    if let Some(d) = &workflow.description {
        labels.insert("org.opencontainers.image.description".into(), json!(d));
    }
    if let Some(s) = source {
        labels.insert("org.opencontainers.image.source".into(), json!(s));
    }
    if let Some(r) = revision {
        labels.insert("org.opencontainers.image.revision".into(), json!(r));
    }
    let layers = vec![engine_layer, workflow_layer];
    let config = json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": format!("{0}:{0}", rootfs::NONROOT),
            "WorkingDir": "/app",
            "ExposedPorts": { "8080/tcp": {} },
            "Entrypoint": entrypoint(),
            "Env": ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            "Labels": labels,
        },
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>() },
        "history": [
            { "created": created, "created_by": "pipedreamer build: engine, CA bundle, nonroot user" },
            { "created": created, "created_by": format!("pipedreamer build: workflow {}", workflow.name) },
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
        "layers": layers.iter().map(|l| l.blob.descriptor()).collect::<Vec<_>>(),
    });
    let manifest = Blob::new(
        media::MANIFEST,
        serde_json::to_vec(&manifest).unwrap_or_default(),
    );
    Ok(Image {
        layers,
        config,
        manifest,
        reference: req.reference.clone(),
        excluded: content.excluded,
        sbom,
    })
}

/// [`build`] on the blocking pool, for async callers (a build reads and compresses tens of MiB).
pub async fn build_async(request: BuildRequest) -> Result<Image, Error> {
    build_async_with(request, BuildOptions::default()).await
}

/// [`build_with`] on the blocking pool.
pub async fn build_async_with(
    request: BuildRequest,
    options: BuildOptions,
) -> Result<Image, Error> {
    tokio::task::spawn_blocking(move || build_with(&request, options))
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

/// The engine layer, from the cache when this engine and epoch were built before.
fn cached_engine_layer(
    req: &BuildRequest,
    engine: Arc<Vec<u8>>,
    engine_digest: &str,
) -> Result<Layer, Error> {
    const CACHE_VERSION: &str = "v1";
    let key = sha256_digest(format!("{CACHE_VERSION}/{engine_digest}/{}", req.epoch).as_bytes());
    let key = key.trim_start_matches("sha256:");
    let paths = req.cache_dir.as_ref().map(|d| {
        (
            d.join(format!("{key}.tar.gz")),
            d.join(format!("{key}.json")),
        )
    });
    if let Some((blob_path, meta_path)) = &paths
        && let (Ok(data), Ok(meta)) = (std::fs::read(blob_path), std::fs::read(meta_path))
        && let Ok(meta) = serde_json::from_slice::<serde_json::Value>(&meta)
    {
        let blob = Blob::new(media::LAYER_GZIP, data);
        if meta["digest"] == blob.digest {
            return Ok(Layer {
                blob,
                diff_id: meta["diff_id"].as_str().unwrap_or_default().to_owned(),
                uncompressed_size: meta["uncompressed_size"].as_u64().unwrap_or_default(),
            });
        }
    }
    let layer = build_layer(rootfs::engine_entries(engine), req.epoch)
        .map_err(|e| Error::io(&req.engine, e))?;
    if let Some((blob_path, meta_path)) = &paths {
        // The cache is an optimization: failing to write it is not an error.
        let meta = json!({ "digest": layer.blob.digest, "diff_id": layer.diff_id, "uncompressed_size": layer.uncompressed_size });
        let _ = std::fs::create_dir_all(blob_path.parent().unwrap_or(Path::new(".")))
            .and_then(|()| write_atomic(blob_path, &layer.blob.data))
            .and_then(|()| write_atomic(meta_path, &serde_json::to_vec(&meta).unwrap_or_default()));
    }
    Ok(layer)
}

/// Writes via a temporary file and rename, so readers never see half a file. The temporary name
/// is unique per process and call: a server builds several images at once into one cache.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}-{}", std::process::id(), unique()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_must_be_whole_seconds() {
        assert_eq!(parse_epoch(" 1700000000 ").unwrap(), 1_700_000_000);
        let err = parse_epoch("yesterday").unwrap_err().to_string();
        assert_eq!(
            err,
            "SOURCE_DATE_EPOCH=`yesterday` is not a number of seconds"
        );
    }

    #[test]
    fn credentials_are_stripped_from_source_urls() {
        assert_eq!(
            strip_credentials("https://x:tok@github.com/a/b"),
            "https://github.com/a/b"
        );
        assert_eq!(
            strip_credentials("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
    }
}
