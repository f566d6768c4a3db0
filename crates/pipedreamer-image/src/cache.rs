//! What this machine remembers between builds: the layer cache (the engine layer only changes
//! with the engine, so it is kept compressed on disk) and the repositories it pushed to per
//! registry (so a push to a new repository can mount shared layers instead of uploading them).
//! Both are optimizations: a missing or unreadable cache only costs time, never a build.

use crate::Error;
use crate::reference::Reference;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// How many repositories per registry are remembered as mount sources (newest first).
const REMEMBERED_REPOSITORIES: usize = 10;

/// The user's cache root: `$XDG_CACHE_HOME/pipedreamer`, else `$HOME/.cache/pipedreamer`.
fn cache_root() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("pipedreamer"))
}

/// The default layer cache directory (`~/.cache/pipedreamer/layers`); `None` without a home.
pub fn layer_cache_dir() -> Option<PathBuf> {
    cache_root().map(|d| d.join("layers"))
}

/// The repositories this machine pushed to, per registry, kept in one small JSON file
/// (`{"registry": ["newest/repo", ...]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRepositories {
    file: PathBuf,
}

impl PushedRepositories {
    /// The file next to the default layer cache (`~/.cache/pipedreamer/pushed-repositories.json`);
    /// `None` without a home directory.
    pub fn default_location() -> Option<Self> {
        cache_root().map(|d| Self::at(d.join("pushed-repositories.json")))
    }

    /// A cache kept in `file` (a server keeps it under its data directory).
    pub fn at(file: impl Into<PathBuf>) -> Self {
        Self { file: file.into() }
    }

    /// The file it reads and writes.
    pub fn file(&self) -> &Path {
        &self.file
    }

    fn read_all(&self) -> Value {
        std::fs::read(&self.file)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}))
    }

    /// Repositories pushed to on `registry` (`""` for references without one), newest first. An
    /// unreadable file reads as empty.
    pub fn repositories(&self, registry: &str) -> Vec<String> {
        self.read_all()[registry]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The mount sources for a push to `reference`: the other repositories on its registry.
    pub fn mount_sources(&self, reference: &Reference) -> Vec<String> {
        let mut repos = self.repositories(reference.registry.as_deref().unwrap_or_default());
        repos.retain(|r| r != &reference.repository);
        repos
    }

    /// Records a push to `reference` as the newest of its registry. Two processes remembering at
    /// once may lose one entry (the file is replaced atomically, never torn): the cost is one
    /// upload that could have been a mount.
    pub fn remember(&self, reference: &Reference) -> Result<(), Error> {
        let registry = reference.registry.clone().unwrap_or_default();
        let mut all = self.read_all();
        let mut repos = self.repositories(&registry);
        repos.retain(|r| r != &reference.repository);
        repos.insert(0, reference.repository.clone());
        repos.truncate(REMEMBERED_REPOSITORIES);
        all[&registry] = json!(repos);
        let dir = self.file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::builder::write_atomic(&self.file, all.to_string().as_bytes())
            .map_err(|e| Error::io(&self.file, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_remembered_per_registry_newest_first_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PushedRepositories::at(dir.path().join("sub/pushed.json"));
        assert!(cache.repositories("r:5000").is_empty());
        for i in 0..12 {
            let r = Reference::parse(&format!("r:5000/team/flow{i}:1")).unwrap();
            cache.remember(&r).unwrap();
        }
        cache
            .remember(&Reference::parse("other.io/x:1").unwrap())
            .unwrap();
        let repos = cache.repositories("r:5000");
        assert_eq!(repos.len(), REMEMBERED_REPOSITORIES);
        assert_eq!(repos[0], "team/flow11");
        assert_eq!(cache.repositories("other.io"), ["x"]);
        // A push to a repository never mounts from itself.
        let own = Reference::parse("r:5000/team/flow11:2").unwrap();
        assert!(
            !cache
                .mount_sources(&own)
                .contains(&"team/flow11".to_owned())
        );
        assert_eq!(cache.mount_sources(&own).len(), REMEMBERED_REPOSITORIES - 1);
    }

    #[test]
    fn a_corrupt_file_reads_as_empty_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pushed.json");
        std::fs::write(&file, "[not an object").unwrap();
        let cache = PushedRepositories::at(&file);
        assert!(cache.repositories("").is_empty());
        cache
            .remember(&Reference::parse("flow:1").unwrap())
            .unwrap();
        assert_eq!(cache.repositories(""), ["flow"]);
    }
}
