//! Fetch a git repository at one commit and write its files, in-process.
//!
//! The server's build pipeline calls [`fetch`] (blocking; from `spawn_blocking`) to get the
//! workflow sources of a deployment at the commit a push named. Everything happens inside the
//! process with [`gix`]: no `git` binary, no curl or OpenSSL, so the server can itself run from
//! a FROM-scratch image.
//!
//! - **Local repositories** (`file://…` URLs and absolute paths, bare or with a work tree) are
//!   opened and their objects read directly. gix's `file://` *transport* would spawn
//!   `git upload-pack`, so it is never used.
//! - **`https://`**: a shallow fetch (depth 1 of the branch head, or of the requested commit
//!   by id when the branch has moved on) into a temporary bare repository beside `dest`, over
//!   gix's blocking HTTP client (reqwest with rustls on ring; the system's CA roots plus
//!   Mozilla's, built in, so a FROM-scratch image needs no `/etc/ssl`). A token goes with every
//!   request as HTTP basic credentials `x-access-token:<token>`, as GitHub expects. With depth 1
//!   there is no history, so over HTTPS a commit is not checked to be on the branch (locally it
//!   is).
//! - **`http://`** is accepted for loopback hosts only (`127.0.0.1`, `[::1]`, `localhost`: tests
//!   and a git server on the same host); anywhere else it would send the token in clear text, so
//!   it is refused with a hint to use `https://`. `ssh://`, `git://` and scp-like URLs are refused.
//!
//! The checkout writes regular files (keeping the executable bit) and symlinks whose target
//! stays inside `dest`; symlinks that would leave it, dangling ones and submodules are skipped
//! and listed in [`Fetched::skipped`]. No `.git` is written. It is bounded by [`Limits`] (total
//! bytes, file count), by [`FetchRequest::timeout`] and by the caller's cancel flag, checked
//! between objects and, on the network, through gix's interrupt flag and a per-request HTTP
//! timeout. Errors ([`GitError`]) and `Debug` output never contain the token, and credentials
//! in URLs are shown as `***`.
//!
//! Not done: `.gitattributes` filters (line endings, Git LFS pointers stay pointers) and
//! submodules; a workflow repository needs neither.

mod budget;
mod checkout;
mod local;
mod remote;
mod url;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use checkout::{Limits, SkipReason, Skipped};
pub use url::{check_url, redact_url};

use budget::Budget;

/// What to fetch and where to write it.
#[derive(Clone, Copy)]
pub struct FetchRequest<'a> {
    /// `file:///abs/repo`, `/abs/repo`, `https://host/owner/repo(.git)`, or `http://` on loopback.
    pub url: &'a str,
    /// The branch (short name, e.g. `main`) the commit must be on.
    pub branch: &'a str,
    /// A full 40-hex commit id; `None` takes the branch head.
    pub commit: Option<&'a str>,
    /// A token for `https://` (sent as `x-access-token:<token>`); ignored for local repositories.
    pub token: Option<&'a str>,
    /// Where the files go: created when missing, must be empty when present.
    pub dest: &'a Path,
    /// The whole fetch, network and checkout, ends with [`GitError::Timeout`] after this.
    pub timeout: Duration,
}

impl std::fmt::Debug for FetchRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchRequest")
            .field("url", &redact_url(self.url))
            .field("branch", &self.branch)
            .field("commit", &self.commit)
            .field("token", &self.token.map(|_| "***"))
            .field("dest", &self.dest)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What [`fetch`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The full 40-hex id of the commit whose tree is in `dest`.
    pub commit_hash: String,
    /// The commit's full message (UTF-8, lossy), trailing whitespace trimmed.
    pub commit_message: String,
    /// The branch it was fetched from (as requested).
    pub branch: String,
    /// Tree entries that were not written, with the reason (escaping symlinks, submodules…).
    pub skipped: Vec<Skipped>,
}

/// Why a fetch failed. Messages never contain a token or URL credentials.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The URL's scheme (or form) is not one this crate fetches from.
    #[error("unsupported repository URL `{url}`: {reason}; hint: {hint}")]
    UnsupportedUrl {
        /// The URL, credentials redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
        /// How to fix it.
        hint: &'static str,
    },
    /// Nothing at the URL is a git repository (or the server says it does not exist).
    #[error(
        "repository `{url}` not found or not a git repository: {detail}; hint: check the deployment's `repo` URL (and for private repositories, the token)"
    )]
    RepositoryNotFound {
        /// The URL, credentials redacted.
        url: String,
        /// What was found instead.
        detail: String,
    },
    /// The branch does not exist in the repository.
    #[error(
        "branch `{branch}` not found in `{url}`; branches there: {}; hint: push the branch or change the deployment's `branch`",
        list_or_none(existing)
    )]
    BranchNotFound {
        /// The branch asked for.
        branch: String,
        /// The URL, credentials redacted.
        url: String,
        /// Up to 5 branches that do exist.
        existing: Vec<String>,
    },
    /// The commit id is not a full 40-hex SHA-1.
    #[error(
        "commit `{commit}` is not a full 40-hex commit id; hint: pass the full sha (e.g. a push event's `after`)"
    )]
    InvalidCommit {
        /// The value given.
        commit: String,
    },
    /// The repository has no commit with this id (or the server would not send it).
    #[error(
        "commit `{commit}` not found in `{url}`; hint: was it pushed, or removed by a force-push?"
    )]
    CommitNotFound {
        /// The commit asked for.
        commit: String,
        /// The URL, credentials redacted.
        url: String,
    },
    /// The commit exists but is not reachable from the branch head.
    #[error(
        "commit `{commit}` is not on branch `{branch}` of `{url}`; hint: the branch may have been force-pushed; build the branch head instead"
    )]
    CommitNotOnBranch {
        /// The commit asked for.
        commit: String,
        /// The branch it should be on.
        branch: String,
        /// The URL, credentials redacted.
        url: String,
    },
    /// The server refused the credentials (or asked for some and none were given).
    #[error(
        "authentication failed for `{url}`{}; hint: give the deployment a token that can read the repository",
        if *token_given { " with the given token" } else { " (no token was given)" }
    )]
    AuthenticationFailed {
        /// The URL, credentials redacted.
        url: String,
        /// Whether a token was sent.
        token_given: bool,
    },
    /// The network or the server failed.
    #[error(
        "network error fetching `{url}`: {detail}; hint: check that the host is reachable and retry"
    )]
    Network {
        /// The URL, credentials redacted.
        url: String,
        /// What failed (credentials redacted).
        detail: String,
    },
    /// The fetch took longer than [`FetchRequest::timeout`].
    #[error("fetching `{url}` timed out after {}s; hint: raise the fetch timeout or check the network", timeout.as_secs_f64())]
    Timeout {
        /// The URL, credentials redacted.
        url: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The caller's cancel flag was set.
    #[error("fetch of `{url}` cancelled")]
    Cancelled {
        /// The URL, credentials redacted.
        url: String,
    },
    /// The checkout would exceed [`Limits`].
    #[error(
        "checkout of commit `{commit}` too large: more than {limit} {what}; hint: keep workflow repositories small (large assets belong elsewhere)"
    )]
    TooLarge {
        /// The commit being written.
        commit: String,
        /// `bytes` or `files`.
        what: &'static str,
        /// The limit that was passed.
        limit: u64,
    },
    /// `dest` exists and is not an empty directory.
    #[error("destination `{}` is not an empty directory; hint: give each fetch a fresh directory", path.display())]
    DestinationNotEmpty {
        /// The destination.
        path: PathBuf,
    },
    /// Writing the checkout (or the temporary fetch repository) failed.
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        /// The file or directory being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The repository's objects are damaged or unreadable.
    #[error("cannot read the objects of `{url}`: {detail}; hint: the repository may be corrupt")]
    Corrupt {
        /// The URL, credentials redacted.
        url: String,
        /// What could not be read.
        detail: String,
    },
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Fetches `req.url` at `req.commit` (or the head of `req.branch`) and writes its files into
/// `req.dest`, within the default [`Limits`]. Blocking: call it from `spawn_blocking`.
///
/// On error `dest` may hold part of the checkout; the caller owns it and removes it.
pub fn fetch(req: &FetchRequest<'_>, cancel: &AtomicBool) -> Result<Fetched, GitError> {
    fetch_with_limits(req, Limits::default(), cancel)
}

/// [`fetch`] with explicit [`Limits`].
pub fn fetch_with_limits(
    req: &FetchRequest<'_>,
    limits: Limits,
    cancel: &AtomicBool,
) -> Result<Fetched, GitError> {
    let shown_url = redact_url(req.url);
    let budget = Budget::new(req.timeout, cancel, &shown_url);
    let source = url::classify(req.url)?;
    let commit = match req.commit {
        Some(c) => Some(parse_commit(c)?),
        None => None,
    };
    checkout::prepare_dest(req.dest)?;
    let target = match source {
        url::Source::Local(path) => local::resolve(&path, &shown_url, req.branch, commit, &budget)?,
        url::Source::Http(http_url) => remote::shallow_fetch(
            &http_url, &shown_url, req.branch, commit, req.token, req.dest, &budget,
        )?,
    };
    let skipped = checkout::write_tree(&target, req.dest, limits, &budget)?;
    Ok(Fetched {
        commit_hash: target.commit.to_string(),
        commit_message: target.message.clone(),
        branch: req.branch.to_owned(),
        skipped,
    })
}

fn parse_commit(commit: &str) -> Result<gix::ObjectId, GitError> {
    let invalid = || GitError::InvalidCommit {
        commit: commit.chars().take(80).collect(),
    };
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    gix::ObjectId::from_hex(commit.to_ascii_lowercase().as_bytes()).map_err(|_| invalid())
}
