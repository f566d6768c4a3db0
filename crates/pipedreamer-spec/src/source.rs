//! Where workflow files come from. Validation reads through [`SourceProvider`] so it can run on
//! in-memory files in tests; [`DirSource`] is the one place this crate touches the file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// What a path names, links (inside the directory) followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// Read access to files relative to a workflow directory. Paths are `/`-separated and relative;
/// `""` is the directory itself.
pub trait SourceProvider {
    /// Reads `rel`.
    fn read(&self, rel: &str) -> Result<String, SourceError>;

    /// Whether `rel` is a file or a directory, without reading it. Anything else (a FIFO, a
    /// device) is `Unreadable`.
    fn kind(&self, rel: &str) -> Result<EntryKind, SourceError>;

    /// `rel` with its links resolved, still relative to the directory: the name a package
    /// installed through links (pnpm) is known by, so it is read and shipped once.
    fn canonical(&self, rel: &str) -> Result<String, SourceError> {
        self.kind(rel).map(|_| rel.to_owned())
    }

    /// The same files behind a handle that can be kept and shared across threads: the module
    /// resolver (`oxc_resolver`) owns its file system.
    fn shared(&self) -> Arc<dyn SourceProvider + Send + Sync>;
}

/// Paths no provider may name: absolute ones and any with a `..` step.
fn escapes(rel: &str) -> bool {
    Path::new(rel).is_absolute() || rel.split('/').any(|s| s == "..")
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
        if escapes(rel) {
            return Err(SourceError::OutsideDirectory);
        }
        #[cfg(target_os = "linux")]
        if let Some(result) = self.read_beneath(rel) {
            return result;
        }
        self.read_checked(rel)
    }

    fn kind(&self, rel: &str) -> Result<EntryKind, SourceError> {
        if escapes(rel) {
            return Err(SourceError::OutsideDirectory);
        }
        #[cfg(target_os = "linux")]
        if let Some(opened) = self.open_beneath(rel, rustix::fs::OFlags::PATH) {
            let meta = opened?
                .metadata()
                .map_err(|e| SourceError::Unreadable(e.to_string()))?;
            return entry_kind(&meta);
        }
        entry_kind(
            &self
                .checked_path(rel)?
                .metadata()
                .map_err(|e| SourceError::Unreadable(e.to_string()))?,
        )
    }

    /// Resolving the name only: every read still goes through `openat2` (or the stepwise
    /// check), so a link swapped in afterwards cannot lead a read outside.
    fn canonical(&self, rel: &str) -> Result<String, SourceError> {
        if escapes(rel) {
            return Err(SourceError::OutsideDirectory);
        }
        let real = self.checked_path(rel)?;
        let root = self
            .root
            .canonicalize()
            .map_err(|e| SourceError::Unreadable(e.to_string()))?;
        let inside = real
            .strip_prefix(&root)
            .map_err(|_| SourceError::OutsideDirectory)?;
        inside
            .to_str()
            .map(|s| s.replace(std::path::MAIN_SEPARATOR, "/"))
            .ok_or_else(|| SourceError::Unreadable("the path is not UTF-8".into()))
    }

    fn shared(&self) -> Arc<dyn SourceProvider + Send + Sync> {
        Arc::new(self.clone())
    }
}

fn entry_kind(meta: &std::fs::Metadata) -> Result<EntryKind, SourceError> {
    if meta.is_file() {
        Ok(EntryKind::File)
    } else if meta.is_dir() {
        Ok(EntryKind::Dir)
    } else {
        Err(SourceError::Unreadable("not a regular file".into()))
    }
}

impl DirSource {
    /// Opens `rel` with `openat2(RESOLVE_BENEATH)`: the kernel resolves the path and its links
    /// and refuses any step out of the directory in the same call that opens the file, so a file
    /// swapped for a link (or a directory for a link) between a check and the read cannot lead
    /// outside. `O_NONBLOCK` keeps a FIFO from blocking the open. `None` where the kernel (or a
    /// sandbox such as gVisor) lacks `openat2`: then [`Self::read_checked`] does it in steps.
    #[cfg(target_os = "linux")]
    fn open_beneath(
        &self,
        rel: &str,
        mode: rustix::fs::OFlags,
    ) -> Option<Result<std::fs::File, SourceError>> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        use rustix::io::Errno;
        let dir = match std::fs::File::open(&self.root) {
            Ok(dir) => dir,
            Err(e) => return Some(Err(SourceError::Unreadable(e.to_string()))),
        };
        // `""` is the directory itself.
        let rel = if rel.is_empty() { "." } else { rel };
        // `O_PATH` (a look, no read) takes no other flags: openat2 refuses them with EINVAL.
        let extra = match mode.contains(OFlags::PATH) {
            true => OFlags::empty(),
            false => OFlags::NONBLOCK | OFlags::NOCTTY,
        };
        let opened = rustix::fs::openat2(
            &dir,
            rel,
            mode | OFlags::CLOEXEC | extra,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        );
        match opened {
            Ok(fd) => Some(Ok(std::fs::File::from(fd))),
            Err(Errno::NOSYS | Errno::PERM | Errno::INVAL) => None,
            // Out of the directory, or through an absolute or magic (`/proc/…/fd`) link.
            Err(Errno::XDEV | Errno::LOOP) => Some(Err(SourceError::OutsideDirectory)),
            Err(Errno::NOENT | Errno::NOTDIR) => Some(Err(SourceError::NotFound)),
            Err(e) => Some(Err(SourceError::Unreadable(e.to_string()))),
        }
    }

    /// Reads `rel` opened by [`Self::open_beneath`].
    #[cfg(target_os = "linux")]
    fn read_beneath(&self, rel: &str) -> Option<Result<String, SourceError>> {
        use std::io::Read;
        let file = match self.open_beneath(rel, rustix::fs::OFlags::RDONLY)? {
            Ok(file) => file,
            Err(e) => return Some(Err(e)),
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

    /// `rel` resolved (links followed) and checked to lie inside the directory.
    fn checked_path(&self, rel: &str) -> Result<PathBuf, SourceError> {
        let path = self.root.join(rel);
        let real = path.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
                SourceError::NotFound
            }
            _ => SourceError::Unreadable(e.to_string()),
        })?;
        let root = self
            .root
            .canonicalize()
            .map_err(|e| SourceError::Unreadable(e.to_string()))?;
        if !real.starts_with(&root) {
            return Err(SourceError::OutsideDirectory);
        }
        Ok(real)
    }

    /// The same rules in steps (resolve, check, then open), for kernels without `openat2`.
    fn read_checked(&self, rel: &str) -> Result<String, SourceError> {
        let real = self.checked_path(rel)?;
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
        if escapes(rel) {
            return Err(SourceError::OutsideDirectory);
        }
        self.0.get(rel).cloned().ok_or(SourceError::NotFound)
    }

    /// A directory is any prefix of a file's path.
    fn kind(&self, rel: &str) -> Result<EntryKind, SourceError> {
        if escapes(rel) {
            return Err(SourceError::OutsideDirectory);
        }
        if self.0.contains_key(rel) {
            return Ok(EntryKind::File);
        }
        let dir = format!("{}/", rel.trim_end_matches('/'));
        let is_dir = match rel {
            "" => !self.0.is_empty(),
            _ => self
                .0
                .range(dir.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&dir)),
        };
        if is_dir {
            Ok(EntryKind::Dir)
        } else {
            Err(SourceError::NotFound)
        }
    }

    fn shared(&self) -> Arc<dyn SourceProvider + Send + Sync> {
        Arc::new(self.clone())
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
