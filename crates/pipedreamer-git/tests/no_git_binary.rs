//! The server may run from a FROM-scratch image: `fetch` must not need a `git` binary. The
//! test re-runs itself with `PATH` pointing nowhere; the repositories and the HTTP server
//! (which does use `git http-backend`) stay in the outer process.

mod common;

use std::process::Command;

use common::http::GitHttpServer;
use common::{dest, git, make_repo, request, run};

const INNER: &str = "PIPEDREAMER_GIT_TEST_INNER";

#[test]
fn fetches_with_no_git_on_path() {
    if let Ok(spec) = std::env::var(INNER) {
        // Inner run: `<file url> <http url> <expected sha>`.
        let mut parts = spec.split(' ');
        let (file_url, http_url, sha) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        assert!(
            Command::new("git").arg("--version").output().is_err(),
            "git must not be found"
        );
        for url in [file_url, http_url] {
            let (_tmp, out) = dest();
            let fetched = run(&request(url, "main", None, Some("t0ken"), &out))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(fetched.commit_hash, sha, "{url}");
            assert!(out.join("scripts/run.sh").is_file(), "{url}");
        }
        return;
    }
    let repo = make_repo();
    let root = tempfile::tempdir().unwrap();
    git(
        root.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &repo.path().display().to_string(),
            "repo.git",
        ],
    );
    let server = GitHttpServer::start(root.path().to_owned(), Some("t0ken"));
    let spec = format!(
        "{} {} {}",
        repo.file_url(),
        server.url("repo.git"),
        repo.second
    );
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fetches_with_no_git_on_path", "--nocapture"])
        .env("PATH", "/nonexistent")
        .env(INNER, spec)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "inner run failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The inner run did run the test (and not zero tests).
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
