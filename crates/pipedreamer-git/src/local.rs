//! Open a repository on this machine and find the commit to write, reading objects directly.
//!
//! gix's `file://` transport would spawn `git upload-pack`; opening the object database needs
//! no process at all, and works the same for bare repositories and work trees.

use std::path::Path;

use gix::ObjectId;

use crate::GitError;
use crate::budget::Budget;

/// How many existing branches an unknown-branch error names.
const BRANCHES_LISTED: usize = 5;

/// The commit whose tree gets written, in the repository that has its objects.
pub(crate) struct Target {
    pub(crate) repo: gix::Repository,
    pub(crate) commit: ObjectId,
    pub(crate) tree: ObjectId,
    pub(crate) message: String,
    pub(crate) shown_url: String,
    /// The temporary repository of a network fetch, removed when the target is dropped.
    pub(crate) _scratch: Option<tempfile::TempDir>,
}

/// Opens `path` without reading the environment or global configuration: what is built must
/// not depend on the server's `$HOME` or `GIT_*` variables.
pub(crate) fn open(path: &Path, shown_url: &str) -> Result<gix::Repository, GitError> {
    if !path.exists() {
        return Err(GitError::RepositoryNotFound {
            url: shown_url.to_owned(),
            detail: format!("`{}` does not exist", path.display()),
        });
    }
    let mut options = gix::open::Options::isolated();
    // The server runs as its own user; repositories it is pointed at (by an admin) may belong to
    // another, which is fine for reading objects.
    options = options.with(gix::sec::Trust::Full);
    gix::open_opts(path, options).map_err(|e| GitError::RepositoryNotFound {
        url: shown_url.to_owned(),
        detail: format!(
            "`{}` is not a git repository ({})",
            path.display(),
            first_line(&e)
        ),
    })
}

/// Finds `branch` (and `commit` on it) in the repository at `path`.
pub(crate) fn resolve(
    path: &Path,
    shown_url: &str,
    branch: &str,
    commit: Option<ObjectId>,
    budget: &Budget<'_>,
) -> Result<Target, GitError> {
    let repo = open(path, shown_url)?;
    budget.check()?;
    let head = branch_head(&repo, shown_url, branch)?;
    let Some(commit) = commit else {
        return target(repo, head, shown_url, None);
    };
    if !repo.has_object(commit) {
        return Err(GitError::CommitNotFound {
            commit: commit.to_string(),
            url: shown_url.to_owned(),
        });
    }
    if commit != head && !is_ancestor(&repo, commit, head, shown_url, budget)? {
        return Err(GitError::CommitNotOnBranch {
            commit: commit.to_string(),
            branch: branch.to_owned(),
            url: shown_url.to_owned(),
        });
    }
    target(repo, commit, shown_url, None)
}

/// The commit `refs/heads/<branch>` points at.
fn branch_head(
    repo: &gix::Repository,
    shown_url: &str,
    branch: &str,
) -> Result<ObjectId, GitError> {
    let not_found = || GitError::BranchNotFound {
        branch: branch.to_owned(),
        url: shown_url.to_owned(),
        existing: local_branches(repo),
    };
    let full = format!("refs/heads/{branch}");
    // An invalid name (spaces, `..`) cannot name a branch either.
    let reference = match repo.try_find_reference(full.as_str()) {
        Ok(Some(r)) => r,
        Ok(None) | Err(_) => return Err(not_found()),
    };
    let mut reference = reference;
    let id = reference.peel_to_id().map_err(|e| corrupt(shown_url, &e))?;
    Ok(id.detach())
}

/// Up to [`BRANCHES_LISTED`] branch names, sorted.
fn local_branches(repo: &gix::Repository) -> Vec<String> {
    let Ok(platform) = repo.references() else {
        return Vec::new();
    };
    let Ok(iter) = platform.local_branches() else {
        return Vec::new();
    };
    let mut names: Vec<String> = iter
        .filter_map(Result::ok)
        .map(|r| r.name().shorten().to_string())
        .collect();
    names.sort();
    names.truncate(BRANCHES_LISTED);
    names
}

/// Whether `commit` is reachable from `head`, walking history from `head` (checking the
/// budget at every commit, so a huge history cannot hang the fetch).
fn is_ancestor(
    repo: &gix::Repository,
    commit: ObjectId,
    head: ObjectId,
    shown_url: &str,
    budget: &Budget<'_>,
) -> Result<bool, GitError> {
    let walk = repo
        .rev_walk([head])
        .all()
        .map_err(|e| corrupt(shown_url, &e))?;
    for info in walk {
        budget.check()?;
        let info = info.map_err(|e| corrupt(shown_url, &e))?;
        if info.id == commit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The [`Target`] for `commit` in `repo`.
pub(crate) fn target(
    repo: gix::Repository,
    commit: ObjectId,
    shown_url: &str,
    scratch: Option<tempfile::TempDir>,
) -> Result<Target, GitError> {
    // In a block: gix objects borrow the repository until they are dropped.
    let (tree, message) = {
        let not_found = || GitError::CommitNotFound {
            commit: commit.to_string(),
            url: shown_url.to_owned(),
        };
        let found = repo
            .find_object(commit)
            .map_err(|_| not_found())?
            .try_into_commit()
            .map_err(|_| not_found())?;
        let tree = found
            .tree_id()
            .map_err(|e| corrupt(shown_url, &e))?
            .detach();
        let message = found
            .message_raw()
            .map_err(|e| corrupt(shown_url, &e))?
            .to_string();
        (tree, message)
    };
    Ok(Target {
        commit,
        tree,
        message: message.trim_end().to_owned(),
        shown_url: shown_url.to_owned(),
        _scratch: scratch,
        repo,
    })
}

pub(crate) fn corrupt(shown_url: &str, error: &dyn std::fmt::Display) -> GitError {
    GitError::Corrupt {
        url: shown_url.to_owned(),
        detail: first_line(error),
    }
}

pub(crate) fn first_line(error: &dyn std::fmt::Display) -> String {
    error.to_string().lines().next().unwrap_or("").to_owned()
}
