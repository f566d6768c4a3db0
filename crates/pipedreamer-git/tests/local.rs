//! `fetch` from repositories on this machine (`file://` and plain paths), made by the tests
//! with the `git` CLI.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::{SECOND_COMMIT_FILES, dest, git, listing, make_repo, run, run_with};
use pipedreamer_git::{FetchRequest, GitError, Limits, SkipReason, fetch};

/// A local request: local repositories take no token.
fn request<'a>(
    url: &'a str,
    branch: &'a str,
    commit: Option<&'a str>,
    dest: &'a std::path::Path,
) -> FetchRequest<'a> {
    common::request(url, branch, commit, None, dest)
}

#[test]
fn branch_head_is_written_with_modes_and_safe_symlinks_only() {
    let repo = make_repo();
    let (_tmp, out) = dest();
    let url = repo.file_url();
    let fetched = run(&request(&url, "main", None, &out)).unwrap();

    assert_eq!(fetched.commit_hash, repo.second);
    assert_eq!(fetched.branch, "main");
    assert_eq!(
        listing(&out),
        SECOND_COMMIT_FILES,
        "no `.git`, no escaping symlinks, no feature-branch files"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("workflow.yaml")).unwrap(),
        "name: v2\n"
    );
    let mode = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o111;
    assert_ne!(mode("scripts/run.sh"), 0, "the executable bit is kept");
    assert_eq!(mode("workflow.yaml"), 0, "plain files are not executable");
    assert_eq!(
        std::fs::read_link(out.join("link-inside")).unwrap(),
        std::path::Path::new("nodes/deep/a.ts")
    );
    assert_eq!(
        std::fs::read_to_string(out.join("nodes/up")).unwrap(),
        "# readme\n"
    );

    let mut skipped: Vec<_> = fetched
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.clone()))
        .collect();
    skipped.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(
        skipped,
        [
            (
                "abs",
                SkipReason::SymlinkEscapes {
                    target: "/etc/passwd".into()
                }
            ),
            (
                "escape",
                SkipReason::SymlinkEscapes {
                    target: "../outside".into()
                }
            ),
        ]
    );
    assert!(
        fetched.skipped[0]
            .to_string()
            .contains("leaves the checkout")
    );
}

#[test]
fn commit_hash_and_message_match_git_log() {
    let repo = make_repo();
    let (_tmp, out) = dest();
    let url = repo.file_url();
    let fetched = run(&request(&url, "main", None, &out)).unwrap();
    let hash = git(repo.path(), &["log", "-1", "--format=%H", "main"]);
    let message = git(repo.path(), &["log", "-1", "--format=%B", "main"]);
    assert_eq!(fetched.commit_hash, hash.trim());
    assert_eq!(fetched.commit_message, message.trim_end());
    assert_eq!(fetched.commit_message, "second commit\n\nwith a body");
}

#[test]
fn an_older_commit_on_the_branch_is_written_as_it_was() {
    let repo = make_repo();
    let (_tmp, out) = dest();
    // A plain absolute path works like `file://`.
    let url = repo.path().display().to_string();
    let fetched = run(&request(&url, "main", Some(&repo.first), &out)).unwrap();
    assert_eq!(fetched.commit_hash, repo.first);
    assert_eq!(fetched.commit_message, "first commit");
    assert_eq!(listing(&out), ["README.md", "workflow.yaml"]);
    assert_eq!(
        std::fs::read_to_string(out.join("workflow.yaml")).unwrap(),
        "name: v1\n"
    );
}

#[test]
fn another_branch_and_upper_case_sha() {
    let repo = make_repo();
    let (_tmp, out) = dest();
    let url = repo.file_url();
    let upper = repo.feature.to_ascii_uppercase();
    let fetched = run(&request(&url, "feature", Some(&upper), &out)).unwrap();
    assert_eq!(fetched.commit_hash, repo.feature);
    assert_eq!(
        std::fs::read_to_string(out.join("feature.txt")).unwrap(),
        "feature\n"
    );
}

#[test]
fn unknown_branch_names_the_branches_that_exist() {
    let repo = make_repo();
    let (_tmp, out) = dest();
    let url = repo.file_url();
    let err = run(&request(&url, "nope", None, &out)).unwrap_err();
    let GitError::BranchNotFound {
        branch, existing, ..
    } = &err
    else {
        panic!("expected BranchNotFound, got {err:?}")
    };
    assert_eq!(branch, "nope");
    assert_eq!(existing, &["feature", "main"]);
    let text = err.to_string();
    assert!(text.contains("branch `nope` not found"), "{text}");
    assert!(text.contains("`feature`, `main`"), "{text}");
}

#[test]
fn unknown_commit_invalid_commit_and_commit_not_on_branch() {
    let repo = make_repo();
    let url = repo.file_url();
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let (_tmp, out) = dest();
    let err = run(&request(&url, "main", Some(missing), &out)).unwrap_err();
    assert!(
        matches!(&err, GitError::CommitNotFound { commit, .. } if commit == missing),
        "{err:?}"
    );

    let (_tmp, out) = dest();
    let err = run(&request(&url, "main", Some("abc123"), &out)).unwrap_err();
    assert!(matches!(err, GitError::InvalidCommit { .. }), "{err:?}");

    // `feature`'s commit exists but `main` never had it.
    let (_tmp, out) = dest();
    let err = run(&request(&url, "main", Some(&repo.feature), &out)).unwrap_err();
    assert!(matches!(err, GitError::CommitNotOnBranch { .. }), "{err:?}");
    assert!(err.to_string().contains("is not on branch `main`"), "{err}");
}

#[test]
fn bare_repository() {
    let repo = make_repo();
    let bare = tempfile::tempdir().unwrap();
    let bare_path = bare.path().join("repo.git");
    git(
        bare.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &repo.path().display().to_string(),
            "repo.git",
        ],
    );
    let (_tmp, out) = dest();
    let url = format!("file://{}", bare_path.display());
    let fetched = run(&request(&url, "main", None, &out)).unwrap();
    assert_eq!(fetched.commit_hash, repo.second);
    assert!(out.join("scripts/run.sh").is_file());
}

#[test]
fn not_a_repository_and_missing_path() {
    let empty = tempfile::tempdir().unwrap();
    let (_tmp, out) = dest();
    let url = format!("file://{}", empty.path().display());
    let err = run(&request(&url, "main", None, &out)).unwrap_err();
    assert!(
        matches!(err, GitError::RepositoryNotFound { .. }),
        "{err:?}"
    );

    let url = format!("file://{}/missing", empty.path().display());
    let err = run(&request(&url, "main", None, &out)).unwrap_err();
    assert!(
        matches!(err, GitError::RepositoryNotFound { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn cancel_flag_set_means_cancelled_and_no_files() {
    let repo = make_repo();
    let (_tmp, out) = dest();
    let url = repo.file_url();
    let err = fetch(&request(&url, "main", None, &out), &AtomicBool::new(true)).unwrap_err();
    assert!(matches!(err, GitError::Cancelled { .. }), "{err:?}");
    assert!(!out.join("workflow.yaml").exists());
}

#[test]
fn zero_timeout_means_timeout() {
    let repo = make_repo();
    let (_tmp, out) = dest();
    let url = repo.file_url();
    let mut req = request(&url, "main", None, &out);
    req.timeout = Duration::ZERO;
    let err = run(&req).unwrap_err();
    assert!(matches!(err, GitError::Timeout { .. }), "{err:?}");
}

#[test]
fn checkout_caps_on_bytes_and_files() {
    let repo = make_repo();
    let url = repo.file_url();
    let (_tmp, out) = dest();
    let limits = Limits {
        max_bytes: 20,
        max_files: 1000,
    };
    let err = run_with(&request(&url, "main", None, &out), limits).unwrap_err();
    assert!(
        matches!(
            err,
            GitError::TooLarge {
                what: "bytes",
                limit: 20,
                ..
            }
        ),
        "{err:?}"
    );

    let (_tmp, out) = dest();
    let limits = Limits {
        max_bytes: 1 << 20,
        max_files: 3,
    };
    let err = run_with(&request(&url, "main", None, &out), limits).unwrap_err();
    assert!(
        matches!(
            err,
            GitError::TooLarge {
                what: "files",
                limit: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("more than 3 files"), "{err}");
}

#[test]
fn destination_must_be_empty() {
    let repo = make_repo();
    let url = repo.file_url();
    let (_tmp, out) = dest();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("old"), "x").unwrap();
    let err = run(&request(&url, "main", None, &out)).unwrap_err();
    assert!(
        matches!(err, GitError::DestinationNotEmpty { .. }),
        "{err:?}"
    );
    // An existing empty directory is fine.
    std::fs::remove_file(out.join("old")).unwrap();
    run(&request(&url, "main", None, &out)).unwrap();
}

#[test]
fn symlink_through_a_link_to_the_root_is_caught_on_disk() {
    // `r -> .` is inside; `x -> r/../etc` looks inside on paper but resolves above the checkout.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    std::os::unix::fs::symlink(".", p.join("r")).unwrap();
    std::os::unix::fs::symlink("r/../etc", p.join("x")).unwrap();
    std::os::unix::fs::symlink("missing", p.join("dangling")).unwrap();
    std::fs::write(p.join("f"), "f").unwrap();
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", "links"]);
    let (_tmp, out) = dest();
    // Something to escape to: `<tmp>/etc` beside the checkout.
    std::fs::create_dir_all(out.parent().unwrap().join("etc")).unwrap();
    let url = format!("file://{}", p.display());
    let fetched = run(&request(&url, "main", None, &out)).unwrap();
    assert_eq!(listing(&out), ["f", "r"]);
    let mut reasons: Vec<_> = fetched
        .skipped
        .iter()
        .map(|s| (s.path.clone(), s.reason.clone()))
        .collect();
    reasons.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        reasons,
        [
            (
                "dangling".to_owned(),
                SkipReason::SymlinkDangling {
                    target: "missing".into()
                }
            ),
            (
                "x".to_owned(),
                SkipReason::SymlinkEscapes {
                    target: "r/../etc".into()
                }
            ),
        ]
    );
}

#[test]
fn submodules_are_listed_as_skipped() {
    let repo = make_repo();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    // A gitlink entry without cloning anything: what a submodule is inside the tree.
    git(
        p,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{},sub", repo.second),
        ],
    );
    std::fs::write(p.join("f"), "f").unwrap();
    git(p, &["add", "f"]);
    git(p, &["commit", "-q", "-m", "with submodule"]);
    let (_tmp, out) = dest();
    let url = format!("file://{}", p.display());
    let fetched = run(&request(&url, "main", None, &out)).unwrap();
    assert_eq!(listing(&out), ["f"]);
    assert_eq!(fetched.skipped.len(), 1);
    assert_eq!(
        fetched.skipped[0].reason,
        SkipReason::Submodule {
            commit: repo.second.clone()
        }
    );
}
