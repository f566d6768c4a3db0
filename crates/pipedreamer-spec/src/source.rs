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

/// Files under a directory on disk. Whatever a path's resolved form (symlinks followed, also
/// `workflow.yaml` itself) lies outside the directory is refused, and so is anything that is
/// not a regular file (a FIFO would block the read): every diagnostic, snippet and compile reads
/// through here, so nothing outside the workflow can end up in their output. On Linux the
/// check and the open are one system call (`openat2` with `RESOLVE_BENEATH`), so nothing can be
/// swapped in between; absolute symlinks are refused there even when they point inside.
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
        #[cfg(target_os = "linux")]
        if let Some(result) = self.read_beneath(rel) {
            return result;
        }
        self.read_checked(rel)
    }
}

impl DirSource {
    /// Opens `rel` with `openat2(RESOLVE_BENEATH)`: the kernel resolves the path and its links
    /// and refuses any step out of the directory in the same call that opens the file, so a file
    /// swapped for a link (or a directory for a link) between a check and the read cannot lead
    /// outside. `O_NONBLOCK` keeps a FIFO from blocking the open. `None` where the kernel (or a
    /// sandbox such as gVisor) lacks `openat2`: then [`Self::read_checked`] does it in steps.
    #[cfg(target_os = "linux")]
    fn read_beneath(&self, rel: &str) -> Option<Result<String, SourceError>> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        use rustix::io::Errno;
        use std::io::Read;
        let dir = match std::fs::File::open(&self.root) {
            Ok(dir) => dir,
            Err(e) => return Some(Err(SourceError::Unreadable(e.to_string()))),
        };
        let opened = rustix::fs::openat2(
            &dir,
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        );
        let file = match opened {
            Ok(fd) => std::fs::File::from(fd),
            Err(Errno::NOSYS | Errno::PERM | Errno::INVAL) => return None,
            // Out of the directory, or through an absolute or magic (`/proc/…/fd`) link.
            Err(Errno::XDEV | Errno::LOOP) => return Some(Err(SourceError::OutsideDirectory)),
            Err(Errno::NOENT | Errno::NOTDIR) => return Some(Err(SourceError::NotFound)),
            Err(e) => return Some(Err(SourceError::Unreadable(e.to_string()))),
        };
        let read = || -> Result<String, SourceError> {
            let meta = file
                .metadata()
                .map_err(|e| SourceError::Unreadable(e.to_string()))?;
            if !meta.is_file() {
                return Err(SourceError::Unreadable("not a regular file".into()));
            }
            let mut text = String::new();
            (&file)
                .read_to_string(&mut text)
                .map_err(|e| SourceError::Unreadable(e.to_string()))?;
            Ok(text)
        };
        Some(read())
    }

    /// The same rules in steps (resolve, check, then open), for kernels without `openat2`.
    fn read_checked(&self, rel: &str) -> Result<String, SourceError> {
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

    /// On Linux the kernel resolves and opens in one step, leaving no window in which a file
    /// could be swapped for a link out. The sign that this path is taken: an absolute link is
    /// refused even when it points inside (the stepwise fallback would follow it).
    #[cfg(target_os = "linux")]
    #[test]
    fn resolution_and_open_are_one_step_on_linux() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("inside.js"), "ok").unwrap();
        std::os::unix::fs::symlink(d.path().join("inside.js"), d.path().join("abs.js")).unwrap();
        let src = DirSource::new(d.path());
        assert_eq!(src.read("abs.js"), Err(SourceError::OutsideDirectory));
        assert_eq!(src.read("inside.js").as_deref(), Ok("ok"));
        assert_eq!(src.read("missing.js"), Err(SourceError::NotFound));
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
