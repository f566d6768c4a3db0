//! An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/`). Existing images in
//! the layout are kept; an image with the same tag is replaced in the index.

use super::{Destination, PublishFuture, Published, Publisher, blocking};
use crate::builder::{Image, write_atomic};
use crate::{Error, Reference, blob::media};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The index annotation naming a tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Writes `image` into the layout at `dir` under `tag`.
pub fn write(image: &Image, dir: &Path, tag: &str) -> Result<(), Error> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io(dir, e))?;
    for blob in image.blobs() {
        let path = blobs.join(blob.hex());
        if std::fs::metadata(&path)
            .map(|m| m.len() == blob.size())
            .unwrap_or(false)
        {
            continue;
        }
        write_atomic(&path, &blob.data).map_err(|e| Error::io(&path, e))?;
    }
    write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(|e| Error::io(dir, e))?;
    let index_path = dir.join("index.json");
    let mut manifests: Vec<Value> = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["manifests"].as_array().cloned())
        .unwrap_or_default();
    manifests.retain(|m| m["annotations"][REF_NAME] != tag);
    let mut desc = image.manifest.descriptor();
    desc["annotations"] = json!({ REF_NAME: tag });
    manifests.push(desc);
    let index = json!({ "schemaVersion": 2, "mediaType": media::INDEX, "manifests": manifests });
    write_atomic(
        &index_path,
        &serde_json::to_vec_pretty(&index).unwrap_or_default(),
    )
    .map_err(|e| Error::io(&index_path, e))
}

/// Publishes into an OCI layout directory under the reference's tag.
#[derive(Debug, Clone)]
pub struct OciLayoutPublisher {
    dir: PathBuf,
}

impl OciLayoutPublisher {
    /// A publisher writing into the layout at `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl Publisher for OciLayoutPublisher {
    fn publish<'a>(&'a self, image: &'a Image, reference: &'a Reference) -> PublishFuture<'a> {
        Box::pin(async move {
            let (owned, dir, tag) = (image.clone(), self.dir.clone(), reference.tag.clone());
            blocking(move || write(&owned, &dir, &tag)).await?;
            Ok(Published {
                reference: reference.clone(),
                digest: image.digest().to_owned(),
                destination: Destination::OciLayout {
                    dir: self.dir.clone(),
                    tag: reference.tag.clone(),
                },
            })
        })
    }
}
