//! Content-addressed blobs and deterministic layers: sorted entries, fixed owners and mtimes,
//! gzip without timestamps, so the same files always give the same digest.

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Arc;

/// OCI media types used here.
pub mod media {
    /// Image manifest.
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Image index.
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Image config.
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Gzipped layer.
    pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Bytes with their digest and media type.
#[derive(Clone, Debug)]
pub struct Blob {
    /// Media type.
    pub media_type: &'static str,
    /// `sha256:<hex>`.
    pub digest: String,
    /// The content.
    pub data: Arc<Vec<u8>>,
}

impl Blob {
    /// Wraps bytes, computing the digest.
    pub fn new(media_type: &'static str, data: Vec<u8>) -> Self {
        Self {
            media_type,
            digest: sha256_digest(&data),
            data: Arc::new(data),
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// The hex part of the digest (blob file names).
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    /// An OCI descriptor of this blob.
    pub fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.size() })
    }
}

/// A compressed layer and the digest of its uncompressed tar (the config's `diff_id`).
#[derive(Clone, Debug)]
pub struct Layer {
    /// The gzipped tar.
    pub blob: Blob,
    /// `sha256` of the uncompressed tar.
    pub diff_id: String,
    /// Uncompressed size.
    pub uncompressed_size: u64,
}

/// One file system entry of a layer.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A directory with its mode.
    Dir {
        /// Path without leading slash.
        path: String,
        /// Permission bits.
        mode: u32,
    },
    /// A regular file.
    File {
        /// Path without leading slash.
        path: String,
        /// Permission bits.
        mode: u32,
        /// Content.
        data: Arc<Vec<u8>>,
    },
}

impl Entry {
    fn path(&self) -> &str {
        match self {
            Entry::Dir { path, .. } | Entry::File { path, .. } => path,
        }
    }
}

/// Builds a layer from entries: parents are added as needed, everything is sorted, owned by
/// root, and stamped with `mtime`.
pub fn build_layer(mut entries: Vec<Entry>, mtime: u64) -> std::io::Result<Layer> {
    let mut dirs: std::collections::BTreeSet<String> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Dir { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    let mut implied = Vec::new();
    for e in &entries {
        let mut p = e.path();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if dirs.insert(parent.to_owned()) {
                implied.push(Entry::Dir {
                    path: parent.to_owned(),
                    mode: 0o755,
                });
            }
            p = parent;
        }
    }
    entries.extend(implied);
    entries.sort_by(|a, b| a.path().cmp(b.path()));
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for e in &entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        match e {
            Entry::Dir { path, mode } => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                tar.append_data(&mut h, format!("{path}/"), std::io::empty())?;
            }
            Entry::File { path, mode, data } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                tar.append_data(&mut h, path, data.as_slice())?;
            }
        }
    }
    let tar_bytes = tar.into_inner()?;
    let diff_id = sha256_digest(&tar_bytes);
    let mut gz = GzEncoder::new(Vec::with_capacity(tar_bytes.len() / 2), Compression::new(9));
    gz.write_all(&tar_bytes)?;
    let compressed = gz.finish()?;
    Ok(Layer {
        blob: Blob::new(media::LAYER_GZIP, compressed),
        diff_id,
        uncompressed_size: tar_bytes.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &[u8]) -> Entry {
        Entry::File {
            path: path.into(),
            mode: 0o644,
            data: Arc::new(data.to_vec()),
        }
    }

    #[test]
    fn layers_are_reproducible_and_order_independent() {
        let a = build_layer(vec![file("app/b", b"2"), file("app/a", b"1")], 0).unwrap();
        let b = build_layer(vec![file("app/a", b"1"), file("app/b", b"2")], 0).unwrap();
        assert_eq!(a.blob.digest, b.blob.digest);
        assert_eq!(a.diff_id, b.diff_id);
        let c = build_layer(vec![file("app/a", b"1"), file("app/b", b"2")], 1).unwrap();
        assert_ne!(a.diff_id, c.diff_id, "mtime is part of the content");
    }

    #[test]
    fn parents_are_implied() {
        let l = build_layer(vec![file("a/b/c.txt", b"x")], 0).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(l.blob.data.as_slice()));
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["a/", "a/b/", "a/b/c.txt"]);
    }
}
