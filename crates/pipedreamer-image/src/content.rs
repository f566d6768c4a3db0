//! What of a workflow directory goes into the image: everything except secrets, VCS data,
//! dependencies, build leftovers and `.pipedreamerignore` matches (gitignore syntax).

use crate::Error;
use std::path::{Path, PathBuf};

/// Never shipped, whatever the ignore file says.
const ALWAYS_EXCLUDED: &[&str] = &[
    ".secrets.yaml",
    ".secrets.yml",
    ".git",
    "node_modules",
    ".pipedreamer",
    "target",
    ".engine",
    "Dockerfile.pipedreamer",
];

/// A file to put under `/app`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowFile {
    /// Path relative to the workflow directory, `/`-separated.
    pub rel: String,
    /// Where to read it (symlinks resolved).
    pub source: PathBuf,
    /// Whether it is executable.
    pub executable: bool,
}

/// Lists the files of `dir` that belong in the image, sorted. Symlinks must resolve inside `dir`.
pub fn workflow_files(dir: &Path) -> Result<Vec<WorkflowFile>, Error> {
    let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let mut walk = ignore::WalkBuilder::new(&root);
    walk.standard_filters(false)
        .hidden(false)
        .follow_links(false)
        .add_custom_ignore_filename(".pipedreamerignore")
        .filter_entry(|e| !ALWAYS_EXCLUDED.contains(&e.file_name().to_string_lossy().as_ref()));
    let mut files = Vec::new();
    for entry in walk.build() {
        let entry = entry.map_err(|e| Error::Content(e.to_string()))?;
        let path = entry.path();
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_dir() {
            continue;
        }
        let rel = path
            .strip_prefix(&root)
            .map_err(|e| Error::Content(e.to_string()))?;
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let source = if ft.is_symlink() {
            let target = path.canonicalize().map_err(|e| Error::io(path, e))?;
            if !target.starts_with(&root) {
                return Err(Error::SymlinkOutside { link: rel, target });
            }
            if target.is_dir() {
                // A directory link would duplicate content; its files are reached through the real path.
                continue;
            }
            target
        } else {
            path.to_path_buf()
        };
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&source)
                .map_err(|e| Error::io(&source, e))?
                .permissions()
                .mode()
                & 0o111
                != 0
        };
        files.push(WorkflowFile {
            rel,
            source,
            executable,
        });
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(files)
}

/// A short digest of everything that ships in the image: it changes whenever a shipped file does,
/// which is what the Deployment's spec-hash annotation needs to roll pods out on a same-tag push.
pub fn content_digest(dir: &Path) -> Result<String, Error> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for file in workflow_files(dir)? {
        let bytes = std::fs::read(&file.source).map_err(|e| Error::io(&file.source, e))?;
        hasher.update(file.rel.as_bytes());
        hasher.update([0, u8::from(file.executable)]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize())[..16].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_vcs_and_ignored_files_stay_out() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "workflow.yaml",
            "nodes/a.ts",
            ".secrets.yaml",
            ".git/HEAD",
            "node_modules/x/i.js",
            "notes/draft.md",
            ".secrets.yaml.example",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        std::fs::write(d.path().join(".pipedreamerignore"), "notes/\n").unwrap();
        let rels: Vec<String> = workflow_files(d.path())
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(
            rels,
            vec![
                ".pipedreamerignore",
                ".secrets.yaml.example",
                "nodes/a.ts",
                "workflow.yaml"
            ]
        );
    }

    #[test]
    fn symlinks_outside_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("workflow.yaml"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("leak")).unwrap();
        let err = workflow_files(d.path()).unwrap_err().to_string();
        assert!(err.contains("leak") && err.contains("outside"), "{err}");
    }

    #[test]
    fn content_digest_follows_shipped_files_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("workflow.yaml"), "a").unwrap();
        let first = content_digest(d.path()).unwrap();
        std::fs::write(d.path().join(".secrets.yaml"), "token: x").unwrap();
        assert_eq!(
            content_digest(d.path()).unwrap(),
            first,
            "secrets do not ship"
        );
        std::fs::write(d.path().join("workflow.yaml"), "b").unwrap();
        assert_ne!(content_digest(d.path()).unwrap(), first);
        assert_eq!(first.len(), 16);
    }
}
