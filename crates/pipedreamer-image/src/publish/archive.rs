//! A single tar that `docker load` and `podman load` both accept: an OCI layout plus Docker's
//! `manifest.json`, the format `docker save` writes since Docker 25.

use super::{Destination, PublishFuture, Published, Publisher, blocking};
use crate::builder::Image;
use crate::{Error, Reference, blob::media};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Writes the archive to `path` (atomically: a failed write leaves nothing behind), tagged with
/// the reference the image was built for.
pub fn write(image: &Image, path: &Path) -> Result<(), Error> {
    write_as(image, &image.reference, path)
}

/// Writes the archive to `path`, tagged `reference` (what `docker load` names the image).
pub fn write_as(image: &Image, reference: &Reference, path: &Path) -> Result<(), Error> {
    let tag = reference.tag.as_str();
    let reference = reference.to_string();
    let blob_path = |hex: &str| format!("blobs/sha256/{hex}");
    let docker_manifest = json!([{
        "Config": blob_path(image.config.hex()),
        "RepoTags": [reference],
        "Layers": image.layers.iter().map(|l| blob_path(l.blob.hex())).collect::<Vec<_>>(),
    }]);
    let mut desc = image.manifest.descriptor();
    desc["annotations"] = json!({
        "io.containerd.image.name": reference,
        crate::publish::oci_layout::REF_NAME: tag,
    });
    let index = json!({ "schemaVersion": 2, "mediaType": media::INDEX, "manifests": [desc] });
    // Unique per process and call: a server may write several archives at once.
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        crate::builder::unique()
    ));
    let result = (|| -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        tar.mode(tar::HeaderMode::Deterministic);
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, name, data)
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        add(
            "index.json",
            &serde_json::to_vec(&index).unwrap_or_default(),
        )?;
        add(
            "manifest.json",
            &serde_json::to_vec(&docker_manifest).unwrap_or_default(),
        )?;
        let mut seen = std::collections::BTreeSet::new();
        for blob in image.blobs() {
            if seen.insert(blob.hex().to_owned()) {
                add(&blob_path(blob.hex()), &blob.data)?;
            }
        }
        tar.into_inner()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
    })();
    match result {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Error::io(path, e))
        }
    }
}

/// Publishes as an archive file.
#[derive(Debug, Clone)]
pub struct ArchivePublisher {
    path: PathBuf,
}

impl ArchivePublisher {
    /// A publisher writing the archive to `path` (replaced when it exists).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl Publisher for ArchivePublisher {
    fn publish<'a>(&'a self, image: &'a Image, reference: &'a Reference) -> PublishFuture<'a> {
        Box::pin(async move {
            let (owned, named, path) = (image.clone(), reference.clone(), self.path.clone());
            blocking(move || write_as(&owned, &named, &path)).await?;
            Ok(Published {
                reference: reference.clone(),
                digest: image.digest().to_owned(),
                destination: Destination::Archive {
                    path: self.path.clone(),
                },
            })
        })
    }
}
