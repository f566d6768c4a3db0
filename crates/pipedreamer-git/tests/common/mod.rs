//! Real repositories made with the `git` CLI for the tests (the crate itself never runs git).

#![allow(dead_code, unreachable_pub)]

pub mod http;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use pipedreamer_git::{FetchRequest, Fetched, GitError, Limits, fetch_with_limits};

/// What the second commit on `main` writes: no `.git`, no escaping symlinks, no
/// feature-branch files.
pub const SECOND_COMMIT_FILES: [&str; 9] = [
    "README.md",
    "link-inside",
    "nodes/",
    "nodes/deep/",
    "nodes/deep/a.ts",
    "nodes/up",
    "scripts/",
    "scripts/run.sh",
    "workflow.yaml",
];

/// A request with a 60 s timeout.
pub fn request<'a>(
    url: &'a str,
    branch: &'a str,
    commit: Option<&'a str>,
    token: Option<&'a str>,
    dest: &'a Path,
) -> FetchRequest<'a> {
    FetchRequest {
        url,
        branch,
        commit,
        token,
        dest,
        timeout: std::time::Duration::from_secs(60),
    }
}

/// `fetch` with no cancel.
pub fn run(req: &FetchRequest<'_>) -> Result<Fetched, GitError> {
    run_with(req, Limits::default())
}

/// `fetch_with_limits` with no cancel.
pub fn run_with(req: &FetchRequest<'_>, limits: Limits) -> Result<Fetched, GitError> {
    fetch_with_limits(req, limits, &AtomicBool::new(false))
}

/// Runs `git args…` in `dir` with a fixed identity and no user configuration; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("the tests need the git CLI");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 git output")
}

/// A work-tree repository with history on `main` and a `feature` branch:
///
/// 1. `first commit`: `workflow.yaml` (v1), `README.md`
/// 2. `second commit\n\nwith a body`: `workflow.yaml` (v2), executable `scripts/run.sh`,
///    `nodes/deep/a.ts`, symlinks `link-inside -> nodes/deep/a.ts`,
///    `nodes/up -> ../README.md`, `escape -> ../outside`, `abs -> /etc/passwd`
/// 3. on `feature` only: `feature.txt`
pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub first: String,
    pub second: String,
    pub feature: String,
}

impl TestRepo {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.path().display())
    }
}

pub fn make_repo() -> TestRepo {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    std::fs::write(p.join("workflow.yaml"), "name: v1\n").unwrap();
    std::fs::write(p.join("README.md"), "# readme\n").unwrap();
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "first commit"]);
    let first = git(p, &["rev-parse", "HEAD"]).trim().to_owned();

    std::fs::write(p.join("workflow.yaml"), "name: v2\n").unwrap();
    std::fs::create_dir_all(p.join("scripts")).unwrap();
    std::fs::write(p.join("scripts/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::create_dir_all(p.join("nodes/deep")).unwrap();
    std::fs::write(p.join("nodes/deep/a.ts"), "export const a = 1;\n").unwrap();
    std::os::unix::fs::symlink("nodes/deep/a.ts", p.join("link-inside")).unwrap();
    std::os::unix::fs::symlink("../README.md", p.join("nodes/up")).unwrap();
    std::os::unix::fs::symlink("../outside", p.join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", p.join("abs")).unwrap();
    git(p, &["add", "-A"]);
    git(p, &["update-index", "--chmod=+x", "scripts/run.sh"]);
    git(p, &["commit", "-q", "-m", "second commit\n\nwith a body"]);
    let second = git(p, &["rev-parse", "HEAD"]).trim().to_owned();

    git(p, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(p.join("feature.txt"), "feature\n").unwrap();
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "feature commit"]);
    let feature = git(p, &["rev-parse", "HEAD"]).trim().to_owned();
    git(p, &["checkout", "-q", "main"]);
    TestRepo {
        dir,
        first,
        second,
        feature,
    }
}

/// A fresh (not yet existing) destination inside a temporary directory.
pub fn dest() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("checkout");
    (dir, dest)
}

/// Every path under `root`, relative, sorted (directories end with `/`).
pub fn listing(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
