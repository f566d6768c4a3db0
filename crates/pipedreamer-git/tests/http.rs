//! `fetch` over smart HTTP from a real `git http-backend` on 127.0.0.1 (the internet is not
//! reachable here), and the URL refusal and redaction paths.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::http::{GitHttpServer, silent_server};
use common::{SECOND_COMMIT_FILES, dest, git, listing, make_repo, request, run};
use pipedreamer_git::{GitError, fetch, redact_url};

const TOKEN: &str = "ghs_s3cret-Token-value";

/// A bare copy of the test repository served with a token.
fn served() -> (common::TestRepo, tempfile::TempDir, GitHttpServer) {
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
    let server = GitHttpServer::start(root.path().to_owned(), Some(TOKEN));
    (repo, root, server)
}

#[test]
fn shallow_fetch_of_the_branch_head_with_a_token() {
    let (repo, _root, server) = served();
    let (tmp, out) = dest();
    let url = server.url("repo.git");
    let fetched = run(&request(&url, "main", None, Some(TOKEN), &out)).unwrap();
    assert_eq!(fetched.commit_hash, repo.second);
    assert_eq!(fetched.commit_message, "second commit\n\nwith a body");
    assert_eq!(listing(&out), SECOND_COMMIT_FILES);
    // Shallow: the client asked the server for depth 1 and wanted one commit.
    let fetches: Vec<String> = server
        .seen()
        .iter()
        .filter(|s| s.line.starts_with("POST"))
        .map(|s| String::from_utf8_lossy(&s.body).into_owned())
        .filter(|b| b.contains("command=fetch"))
        .collect();
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    assert!(fetches[0].contains("deepen 1"), "{}", fetches[0]);
    assert_eq!(fetches[0].matches("want ").count(), 1, "{}", fetches[0]);
    // The temporary repository beside dest is gone.
    assert_eq!(
        listing(tmp.path())
            .iter()
            .filter(|p| !p.starts_with("checkout"))
            .count(),
        0
    );
}

#[test]
fn an_older_commit_is_fetched_by_id() {
    let (repo, _root, server) = served();
    let (_tmp, out) = dest();
    let url = server.url("repo.git");
    let fetched = run(&request(&url, "main", Some(&repo.first), Some(TOKEN), &out)).unwrap();
    assert_eq!(fetched.commit_hash, repo.first);
    assert_eq!(listing(&out), ["README.md", "workflow.yaml"]);
}

#[test]
fn unknown_branch_and_unknown_commit_over_http() {
    let (_repo, _root, server) = served();
    let url = server.url("repo.git");
    let (_tmp, out) = dest();
    let err = run(&request(&url, "nope", None, Some(TOKEN), &out)).unwrap_err();
    let GitError::BranchNotFound { existing, .. } = &err else {
        panic!("expected BranchNotFound, got {err:?}")
    };
    assert_eq!(existing, &["feature", "main"]);

    let (_tmp, out) = dest();
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let err = run(&request(&url, "main", Some(missing), Some(TOKEN), &out)).unwrap_err();
    assert!(matches!(err, GitError::CommitNotFound { .. }), "{err:?}");
}

#[test]
fn wrong_or_missing_token_is_an_authentication_error_that_never_shows_the_token() {
    let (_repo, _root, server) = served();
    let url = server.url("repo.git");
    let (_tmp, out) = dest();
    let wrong = "ghs_wrong-token-never-shown";
    let err = run(&request(&url, "main", None, Some(wrong), &out)).unwrap_err();
    assert!(
        matches!(
            err,
            GitError::AuthenticationFailed {
                token_given: true,
                ..
            }
        ),
        "{err:?}"
    );
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(wrong), "{text}");
    }
    // The wrong token did reach the server, as basic credentials.
    assert!(server.seen().iter().any(|s| {
        s.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    }));

    let (_tmp, out) = dest();
    let err = run(&request(&url, "main", None, None, &out)).unwrap_err();
    assert!(
        matches!(
            err,
            GitError::AuthenticationFailed {
                token_given: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("no token was given"), "{err}");
}

#[test]
fn missing_repository_is_not_found() {
    let (_repo, root, _server) = served();
    // No auth on this server, so the 404 is about the path.
    let open = GitHttpServer::start(root.path().to_owned(), None);
    let url = open.url("nothing-here.git");
    let (_tmp, out) = dest();
    let err = run(&request(&url, "main", None, None, &out)).unwrap_err();
    assert!(
        matches!(err, GitError::RepositoryNotFound { .. }),
        "{err:?}"
    );
}

#[test]
fn a_silent_server_times_out_and_cancel_stops_the_fetch() {
    let port = silent_server();
    let url = format!("http://127.0.0.1:{port}/repo.git");
    let (_tmp, out) = dest();
    let mut req = request(&url, "main", None, Some(TOKEN), &out);
    req.timeout = Duration::from_millis(700);
    let started = Instant::now();
    let err = run(&req).unwrap_err();
    assert!(matches!(err, GitError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let (_tmp, out) = dest();
    let mut req = request(&url, "main", None, Some(TOKEN), &out);
    req.timeout = Duration::from_secs(600);
    let cancel = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&cancel);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        setter.store(true, Ordering::Relaxed);
    });
    let started = Instant::now();
    let err = fetch(&req, &cancel).unwrap_err();
    assert!(matches!(err, GitError::Cancelled { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn refused_schemes_and_hosts() {
    let (_tmp, out) = dest();
    for (url, expect) in [
        ("http://example.com/o/r.git", "only used for loopback hosts"),
        (
            "ssh://git@example.com/o/r.git",
            "scheme `ssh` is not supported",
        ),
        ("git@github.com:o/r.git", "neither an absolute path"),
        ("relative/path", "neither an absolute path"),
    ] {
        let err = run(&request(url, "main", None, None, &out)).unwrap_err();
        assert!(
            matches!(err, GitError::UnsupportedUrl { .. }),
            "{url}: {err:?}"
        );
        assert!(err.to_string().contains(expect), "{url}: {err}");
    }
}

#[test]
fn credentials_in_urls_and_tokens_never_show() {
    assert_eq!(
        redact_url("https://user:pass@github.com/o/r"),
        "https://***@github.com/o/r"
    );
    // A refused URL with credentials: the error shows it redacted.
    let (_tmp, out) = dest();
    let url = "http://user:hunter2@example.com/o/r.git";
    let err = run(&request(url, "main", None, Some(TOKEN), &out)).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("http://***@example.com/o/r.git"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    // A network failure on an https URL with credentials (nothing listens on port 1).
    let url = "https://user:hunter2@127.0.0.1:1/o/r.git";
    let err = run(&request(url, "main", None, Some(TOKEN), &out)).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, GitError::Network { .. }), "{err:?}");
    assert!(text.contains("Connection refused"), "{text}");
    assert!(!text.contains("hunter2") && !text.contains(TOKEN), "{text}");
    assert!(text.contains("***@127.0.0.1:1"), "{text}");
    // The request's Debug hides the token and URL credentials.
    let req = request(url, "main", None, Some(TOKEN), &out);
    let debug = format!("{req:?}");
    assert!(
        !debug.contains(TOKEN) && !debug.contains("hunter2"),
        "{debug}"
    );
}
