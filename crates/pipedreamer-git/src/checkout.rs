//! Write a commit's tree into a directory: regular files (with the executable bit) and
//! symlinks that stay inside it, within size and count limits.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use gix::ObjectId;
use gix::object::tree::EntryKind;

use crate::GitError;
use crate::budget::Budget;
use crate::local::{Target, corrupt};

/// Caps on one checkout, so a huge or hostile repository cannot fill the server's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of file contents written (default 256 MiB).
    pub max_bytes: u64,
    /// The most files and symlinks written (default 20 000).
    pub max_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 * 1024 * 1024,
            max_files: 20_000,
        }
    }
}

/// A tree entry [`crate::fetch`] did not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its path in the repository (`/`-separated, lossy UTF-8).
    pub path: String,
    /// Why it was left out.
    pub reason: SkipReason,
}

/// Why an entry was left out of the checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A symlink whose target is absolute or resolves outside the checkout.
    SymlinkEscapes {
        /// The link's target as stored.
        target: String,
    },
    /// A symlink whose target does not exist in the checkout (or loops).
    SymlinkDangling {
        /// The link's target as stored.
        target: String,
    },
    /// A submodule: its commit lives in another repository, which is not fetched.
    Submodule {
        /// The submodule's commit.
        commit: String,
    },
    /// A name that cannot be written safely (`.git`, `..`, a `/` inside a name…).
    UnsafeName,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = &self.path;
        match &self.reason {
            SkipReason::SymlinkEscapes { target } => {
                write!(
                    f,
                    "`{path}`: symlink to `{target}` leaves the checkout; skipped"
                )
            }
            SkipReason::SymlinkDangling { target } => {
                write!(
                    f,
                    "`{path}`: symlink to `{target}` points at nothing in the checkout; skipped"
                )
            }
            SkipReason::Submodule { commit } => {
                write!(
                    f,
                    "`{path}`: submodule at `{commit}` is not fetched; skipped"
                )
            }
            SkipReason::UnsafeName => write!(f, "`{path}`: unsafe file name; skipped"),
        }
    }
}

/// Creates `dest` (and its parents) or checks that it is an empty directory.
pub(crate) fn prepare_dest(dest: &Path) -> Result<(), GitError> {
    let io = |source| GitError::Io {
        path: dest.to_owned(),
        source,
    };
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(GitError::DestinationNotEmpty {
                    path: dest.to_owned(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::create_dir_all(dest).map_err(io),
        Err(e) => Err(io(e)),
    }
}

/// A symlink whose creation waits until every file and directory exists, so no write ever
/// goes through a link, and whose real target is checked once all links exist.
struct PendingLink {
    repo_path: String,
    path: PathBuf,
    target: Vec<u8>,
}

struct Writer<'a> {
    target: &'a Target,
    dest: &'a Path,
    limits: Limits,
    budget: &'a Budget<'a>,
    bytes: u64,
    files: u64,
    skipped: Vec<Skipped>,
    links: Vec<PendingLink>,
}

/// Writes `target`'s tree into `dest` (which [`prepare_dest`] made empty).
pub(crate) fn write_tree(
    target: &Target,
    dest: &Path,
    limits: Limits,
    budget: &Budget<'_>,
) -> Result<Vec<Skipped>, GitError> {
    let mut writer = Writer {
        target,
        dest,
        limits,
        budget,
        bytes: 0,
        files: 0,
        skipped: Vec::new(),
        links: Vec::new(),
    };
    // Depth-first with an explicit stack: a deep tree cannot overflow ours.
    let mut stack = vec![(target.tree, String::new())];
    while let Some((tree, prefix)) = stack.pop() {
        budget.check()?;
        for (kind, name, oid) in writer.entries(tree)? {
            let repo_path = if prefix.is_empty() {
                String::from_utf8_lossy(&name).into_owned()
            } else {
                format!("{prefix}/{}", String::from_utf8_lossy(&name))
            };
            if !is_safe_name(&name) {
                writer.skip(repo_path, SkipReason::UnsafeName);
                continue;
            }
            let path = dest.join(rel_path(&prefix)).join(OsStr::from_bytes(&name));
            match kind {
                EntryKind::Tree => {
                    fs::create_dir(&path).map_err(|source| GitError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    stack.push((oid, repo_path));
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    let data = writer.read_blob(oid)?;
                    let mode = if kind == EntryKind::BlobExecutable {
                        0o755
                    } else {
                        0o644
                    };
                    write_file(&path, &data, mode)?;
                }
                EntryKind::Link => {
                    let data = writer.read_blob(oid)?;
                    writer.links.push(PendingLink {
                        repo_path,
                        path,
                        target: data,
                    });
                }
                EntryKind::Commit => writer.skip(
                    repo_path,
                    SkipReason::Submodule {
                        commit: oid.to_string(),
                    },
                ),
            }
        }
    }
    writer.create_links()?;
    Ok(writer.skipped)
}

impl Writer<'_> {
    fn skip(&mut self, path: String, reason: SkipReason) {
        self.skipped.push(Skipped { path, reason });
    }

    /// The entries of tree `id`, owned (the object's buffer goes back to the repository).
    fn entries(&self, id: ObjectId) -> Result<Vec<(EntryKind, Vec<u8>, ObjectId)>, GitError> {
        let url = &self.target.shown_url;
        let tree = self
            .target
            .repo
            .find_tree(id)
            .map_err(|e| corrupt(url, &e))?;
        let decoded = tree.decode().map_err(|e| corrupt(url, &e))?;
        Ok(decoded
            .entries
            .iter()
            .map(|e| (e.mode.kind(), e.filename.to_vec(), e.oid.to_owned()))
            .collect())
    }

    /// Reads a blob after checking, from its header alone, that it fits the limits.
    fn read_blob(&mut self, id: ObjectId) -> Result<Vec<u8>, GitError> {
        self.budget.check()?;
        let url = &self.target.shown_url;
        let too_large = |what, limit| GitError::TooLarge {
            commit: self.target.commit.to_string(),
            what,
            limit,
        };
        self.files += 1;
        if self.files > self.limits.max_files {
            return Err(too_large("files", self.limits.max_files));
        }
        let size = self
            .target
            .repo
            .find_header(id)
            .map_err(|e| corrupt(url, &e))?
            .size();
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > self.limits.max_bytes {
            return Err(too_large("bytes", self.limits.max_bytes));
        }
        let blob = self
            .target
            .repo
            .find_blob(id)
            .map_err(|e| corrupt(url, &e))?;
        Ok(blob.detach().data)
    }

    /// Creates the symlinks whose target stays inside `dest` on paper, then removes those
    /// that, resolved on disk (through other links), leave it or point at nothing.
    fn create_links(&mut self) -> Result<(), GitError> {
        let mut created = Vec::new();
        for link in std::mem::take(&mut self.links) {
            let shown = String::from_utf8_lossy(&link.target).into_owned();
            let inside = lexically_inside(self.dest, &link.path, &link.target);
            if !inside {
                self.skip(link.repo_path, SkipReason::SymlinkEscapes { target: shown });
                continue;
            }
            std::os::unix::fs::symlink(OsStr::from_bytes(&link.target), &link.path).map_err(
                |source| GitError::Io {
                    path: link.path.clone(),
                    source,
                },
            )?;
            created.push(link);
        }
        let root = fs::canonicalize(self.dest).map_err(|source| GitError::Io {
            path: self.dest.to_owned(),
            source,
        })?;
        // Removing one link can break another that went through it: repeat until stable.
        loop {
            let mut removed_any = false;
            let mut kept = Vec::new();
            for link in created {
                let shown = String::from_utf8_lossy(&link.target).into_owned();
                let reason = match fs::canonicalize(&link.path) {
                    Ok(real) if real.starts_with(&root) => None,
                    Ok(_) => Some(SkipReason::SymlinkEscapes { target: shown }),
                    Err(_) => Some(SkipReason::SymlinkDangling { target: shown }),
                };
                match reason {
                    None => kept.push(link),
                    Some(reason) => {
                        fs::remove_file(&link.path).map_err(|source| GitError::Io {
                            path: link.path.clone(),
                            source,
                        })?;
                        self.skip(link.repo_path, reason);
                        removed_any = true;
                    }
                }
            }
            created = kept;
            if !removed_any {
                return Ok(());
            }
        }
    }
}

/// Whether a link at `link` with `target` stays inside `root`, by path arithmetic alone.
fn lexically_inside(root: &Path, link: &Path, target: &[u8]) -> bool {
    let target = Path::new(OsStr::from_bytes(target));
    if target.as_os_str().is_empty() || target.is_absolute() {
        return false;
    }
    let Ok(parent) = link.parent().unwrap_or(root).strip_prefix(root) else {
        return false;
    };
    let mut depth: usize = parent.components().count();
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Names that could climb out of `dest`, write into a `.git`, or are not one path component.
fn is_safe_name(name: &[u8]) -> bool {
    !(name.is_empty()
        || name == b"."
        || name == b".."
        || name.eq_ignore_ascii_case(b".git")
        || name.contains(&b'/')
        || name.contains(&0))
}

fn rel_path(prefix: &str) -> &Path {
    Path::new(prefix)
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), GitError> {
    let io = |source| GitError::Io {
        path: path.to_owned(),
        source,
    };
    // `create_new`: never follows or overwrites something already there.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(data).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_check_catches_climbing_links() {
        let root = Path::new("/d");
        assert!(lexically_inside(root, Path::new("/d/a"), b"b"));
        assert!(lexically_inside(root, Path::new("/d/x/a"), b"../b"));
        assert!(!lexically_inside(root, Path::new("/d/a"), b"../b"));
        assert!(!lexically_inside(root, Path::new("/d/x/a"), b"../../b"));
        assert!(!lexically_inside(root, Path::new("/d/a"), b"/etc/passwd"));
        assert!(!lexically_inside(root, Path::new("/d/a"), b""));
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in [&b".."[..], b".", b".git", b".GIT", b"a/b", b""] {
            assert!(!is_safe_name(bad), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(is_safe_name(b".gitignore"));
    }
}
