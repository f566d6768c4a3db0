//! Where workflow files come from. Validation reads through [`SourceProvider`] so it can run on
//! in-memory files in tests; [`DirSource`] is the one place this crate touches the file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a workflow file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// No such file.
    #[error("file not found")]
    NotFound,
    /// The path resolves (e.g. through a symlink) outside the workflow directory.
    #[error("path leaves the workflow directory")]
    OutsideDirectory,
    /// It exists but could not be read as UTF-8 text.
    #[error("unreadable: {0}")]
    Unreadable(String),
}

/// Read access to files relative to a workflow directory.
pub trait SourceProvider {
    /// Reads `rel` (a `/`-separated path relative to the workflow directory).
    fn read(&self, rel: &str) -> Result<String, SourceError>;
}

/// Files under a directory on disk. Whatever a path's canonical form (symlinks resolved, also
/// `workflow.yaml` itself) lies outside the directory is refused before it is opened, and so is
/// anything that is not a regular file (a FIFO would block the read): every diagnostic, snippet
/// and compile reads through here, so nothing outside the workflow can end up in their output.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// Files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl SourceProvider for DirSource {
    fn read(&self, rel: &str) -> Result<String, SourceError> {
        if Path::new(rel).is_absolute() || rel.split('/').any(|s| s == "..") {
            return Err(SourceError::OutsideDirectory);
        }
        let path = self.root.join(rel);
        let real = path.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SourceError::NotFound,
            _ => SourceError::Unreadable(e.to_string()),
        })?;
        let root = self
            .root
            .canonicalize()
            .map_err(|e| SourceError::Unreadable(e.to_string()))?;
        if !real.starts_with(&root) {
            return Err(SourceError::OutsideDirectory);
        }
        if !real.is_file() {
            return Err(SourceError::Unreadable("not a regular file".into()));
        }
        std::fs::read_to_string(&real).map_err(|e| SourceError::Unreadable(e.to_string()))
    }
}

/// Files held in memory, for tests and fuzzing.
#[derive(Debug, Clone, Default)]
pub struct MemorySource(pub BTreeMap<String, String>);

impl MemorySource {
    /// A source from `(path, text)` pairs.
    pub fn from_pairs<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            files
                .into_iter()
                .map(|(p, t)| (p.to_owned(), t.to_owned()))
                .collect(),
        )
    }
}

impl SourceProvider for MemorySource {
    fn read(&self, rel: &str) -> Result<String, SourceError> {
        self.0.get(rel).cloned().ok_or(SourceError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 10, item 9): `workflow.yaml` linked to a file outside (e.g.
    /// `/proc/self/environ`) was read for a diagnostic's snippet.
    #[test]
    fn links_out_of_the_directory_are_refused_whatever_they_name() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("environ"), "TOKEN=hunter2").unwrap();
        std::fs::create_dir(outside.path().join("lib")).unwrap();
        std::fs::write(outside.path().join("lib/a.js"), "TOKEN=hunter2").unwrap();
        let d = tempfile::tempdir().unwrap();
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, d.path().join(name)).unwrap()
        };
        link(&outside.path().join("environ"), "workflow.yaml");
        link(&outside.path().join("lib"), "nodes");
        link(Path::new("/proc/self/environ"), "env.js");
        std::fs::write(d.path().join("inside.js"), "ok").unwrap();
        link(Path::new("inside.js"), "alias.js");
        let src = DirSource::new(d.path());
        for rel in ["workflow.yaml", "nodes/a.js", "env.js", "../environ"] {
            assert_eq!(src.read(rel), Err(SourceError::OutsideDirectory), "{rel}");
        }
        assert_eq!(src.read("alias.js").as_deref(), Ok("ok"));
    }

    #[test]
    fn fifos_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("pipe.js");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(matches!(
            DirSource::new(d.path()).read("pipe.js"),
            Err(SourceError::Unreadable(_))
        ));
    }
}
