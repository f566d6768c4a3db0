//! Shallow fetch over smart HTTP(S) into a temporary bare repository, in-process.
//!
//! The network part runs on its own thread: the caller's thread polls the cancel flag and the
//! deadline, and on either sets gix's interrupt flag and returns at once, so a stalled server
//! cannot hold a build. Each HTTP request also carries a timeout (what is left of the budget),
//! so the abandoned thread ends soon after, removing its temporary repository.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use gix::ObjectId;
use gix::remote::Direction;

use crate::GitError;
use crate::budget::Budget;
use crate::local::{self, Target};

/// How often the waiting thread looks at the cancel flag.
const POLL: Duration = Duration::from_millis(50);

/// The username GitHub (and Gitea, GitLab with `oauth2`/any) accept with a token as password.
const TOKEN_USER: &str = "x-access-token";

/// Everything the network thread needs, owned.
struct Job {
    url: String,
    shown_url: String,
    branch: String,
    commit: Option<ObjectId>,
    token: Option<String>,
    scratch_parent: PathBuf,
    request_timeout: Duration,
}

/// What the network thread hands back: the temporary repository and the commit in it.
type Fetched = Result<(tempfile::TempDir, ObjectId), GitError>;

pub(crate) fn shallow_fetch(
    url: &str,
    shown_url: &str,
    branch: &str,
    commit: Option<ObjectId>,
    token: Option<&str>,
    dest: &Path,
    budget: &Budget<'_>,
) -> Result<Target, GitError> {
    install_crypto_provider();
    // Beside `dest`: the caller's data directory, not a `/tmp` a FROM-scratch image lacks.
    let scratch_parent = dest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dest.to_path_buf());
    let job = Job {
        url: url.to_owned(),
        shown_url: shown_url.to_owned(),
        branch: branch.to_owned(),
        commit,
        token: token.map(str::to_owned),
        scratch_parent,
        request_timeout: budget.remaining().max(Duration::from_secs(1)),
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::channel::<Fetched>();
    let thread_interrupt = Arc::clone(&interrupt);
    std::thread::Builder::new()
        .name("pipedreamer-git-fetch".into())
        .spawn(move || {
            let outcome = run(&job, &thread_interrupt);
            // The receiver is gone when the caller gave up; the result is dropped with it.
            let _ = sender.send(outcome);
        })
        .map_err(|source| GitError::Io {
            path: dest.to_owned(),
            source,
        })?;
    let (scratch, commit) = loop {
        if budget.cancelled() {
            interrupt.store(true, Ordering::Relaxed);
            return Err(budget.cancelled_error());
        }
        let wait = budget.remaining().min(POLL);
        if wait.is_zero() {
            interrupt.store(true, Ordering::Relaxed);
            return Err(budget.timeout_error());
        }
        match receiver.recv_timeout(wait) {
            Ok(outcome) => break outcome?,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(GitError::Network {
                    url: shown_url.to_owned(),
                    detail: "the fetch thread ended without a result".into(),
                });
            }
        }
    };
    let repo = local::open(scratch.path(), shown_url)?;
    local::target(repo, commit, shown_url, Some(scratch))
}

/// reqwest is built with rustls but without a default crypto provider (that would pull in
/// aws-lc, a C build); ring is what the rest of the workspace's rustls uses.
fn install_crypto_provider() {
    // Err means one is installed already, which is just as good.
    let _ = gix_rustls::crypto::ring::default_provider().install_default();
}

/// The network thread: handshake, pick what to want, shallow fetch.
fn run(job: &Job, interrupt: &AtomicBool) -> Fetched {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| GitError::Io { path, source }
    };
    let scratch = tempfile::Builder::new()
        .prefix(".pipedreamer-git-fetch-")
        .tempdir_in(&job.scratch_parent)
        .map_err(io(&job.scratch_parent))?;
    let repo = gix::ThreadSafeRepository::init_opts(
        scratch.path(),
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        gix::open::Options::isolated(),
    )
    .map_err(|e| GitError::Io {
        path: scratch.path().to_owned(),
        source: std::io::Error::other(local::first_line(&e)),
    })?
    .to_thread_local();

    // First the branch: its head is what is wanted when no commit (or the head) is asked for,
    // and the handshake tells whether the branch exists at all.
    let branch_spec = format!(
        "+refs/heads/{}:refs/remotes/origin/{}",
        job.branch, job.branch
    );
    let prepare = connect(&repo, job, &branch_spec)?;
    let head = prepare
        .ref_map()
        .mappings
        .iter()
        .find_map(|m| m.remote.as_id().map(ToOwned::to_owned));
    let Some(head) = head else {
        let mut existing: Vec<String> = prepare
            .ref_map()
            .remote_refs
            .iter()
            .filter_map(|r| {
                let (name, _, _) = r.unpack();
                name.to_string()
                    .strip_prefix("refs/heads/")
                    .map(str::to_owned)
            })
            .collect();
        existing.sort();
        existing.truncate(5);
        return Err(GitError::BranchNotFound {
            branch: job.branch.clone(),
            url: job.shown_url.clone(),
            existing,
        });
    };
    let want = match job.commit {
        Some(commit) if commit != head => {
            drop(prepare);
            // A commit behind the head: ask for it by id (protocol v2 servers, GitHub among
            // them, serve any reachable commit). Its ancestry is not checked: depth 1 has none.
            let prepare = connect(&repo, job, &format!("+{commit}:refs/pipedreamer/want"))?;
            receive(prepare, job, interrupt).map_err(|e| match e {
                GitError::Network { .. } => GitError::CommitNotFound {
                    commit: commit.to_string(),
                    url: job.shown_url.clone(),
                },
                other => other,
            })?;
            commit
        }
        _ => {
            receive(prepare, job, interrupt)?;
            head
        }
    };
    if !repo.has_object(want) {
        return Err(GitError::CommitNotFound {
            commit: want.to_string(),
            url: job.shown_url.clone(),
        });
    }
    Ok((scratch, want))
}

type Prepared<'repo> = gix::remote::fetch::Prepare<
    'repo,
    'repo,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Connects with the credentials and HTTP timeouts of `job` and lists the refs `spec` wants.
fn connect<'repo>(
    repo: &'repo gix::Repository,
    job: &Job,
    spec: &str,
) -> Result<Prepared<'repo>, GitError> {
    let network = |e: gix::Error| classify_error(&e, job);
    let remote = repo
        .remote_at(job.url.as_str())
        .map_err(|e| GitError::UnsupportedUrl {
            url: job.shown_url.clone(),
            reason: local::first_line(&e),
            hint: "use `https://host/owner/repo.git`",
        })?;
    let refspec = gix::refspec::parse(spec.into(), gix::refspec::parse::Operation::Fetch)
        .map_err(|_| GitError::BranchNotFound {
            branch: job.branch.clone(),
            url: job.shown_url.clone(),
            existing: Vec::new(),
        })?
        .to_owned();
    let mut connection = remote.connect(Direction::Fetch).map_err(network)?;
    let token = job.token.clone();
    connection.set_credentials(move |action| {
        use gix::credentials::helper::Action;
        match (action, &token) {
            (Action::Get(context), Some(token)) => Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: TOKEN_USER.to_owned(),
                    password: token.clone(),
                    oauth_refresh_token: None,
                },
                next: context.into(),
            })),
            // No token, or the server's verdict on it: nothing to store.
            _ => Ok(None),
        }
    });
    let options = http_options(repo, job)?;
    connection.set_transport_options(options);
    connection
        .prepare_fetch(
            gix::progress::Discard,
            gix::remote::ref_map::Options {
                extra_refspecs: vec![refspec],
                ..Default::default()
            },
        )
        .map_err(network)
}

/// The repository's HTTP options with a per-request timeout, so an abandoned fetch ends.
fn http_options(repo: &gix::Repository, job: &Job) -> Result<Box<dyn std::any::Any>, GitError> {
    use gix::protocol::transport::client::blocking_io::http;
    let mut options = repo
        .transport_options(job.url.as_str(), None)
        .ok()
        .flatten()
        .and_then(|any| any.downcast::<http::Options>().ok())
        .map(|boxed| *boxed)
        .unwrap_or_default();
    let timeout = job.request_timeout;
    options.connect_timeout = Some(timeout.min(Duration::from_secs(20)));
    let reqwest = http::reqwest::Options {
        configure_client: Some(Box::new(
            move |builder: gix_reqwest::blocking::ClientBuilder| Ok(builder.timeout(timeout)),
        )),
        configure_request: None,
    };
    options.backend = Some(Arc::new(std::sync::Mutex::new(reqwest)));
    Ok(Box::new(options))
}

fn receive(prepare: Prepared<'_>, job: &Job, interrupt: &AtomicBool) -> Result<(), GitError> {
    let depth = NonZeroU32::new(1).expect("1 is not zero");
    prepare
        .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(depth))
        .receive(gix::progress::Discard, interrupt)
        .map(|_| ())
        .map_err(|e| classify_error(&e, job))
}

/// Turns a gix network error into a [`GitError`] by what it says (gix reports HTTP statuses
/// and authentication in its messages), with the token scrubbed from the text.
fn classify_error(error: &gix::Error, job: &Job) -> GitError {
    let mut text = format!("{error:?}");
    let display = error.to_string();
    if let Some(token) = job.token.as_deref().filter(|t| !t.is_empty()) {
        text = text.replace(token, "***");
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("401")
        || lower.contains("403")
        || lower.contains("authenticat")
        || lower.contains("credential")
    {
        return GitError::AuthenticationFailed {
            url: job.shown_url.clone(),
            token_given: job.token.is_some(),
        };
    }
    if lower.contains("404") || lower.contains("not found") {
        return GitError::RepositoryNotFound {
            url: job.shown_url.clone(),
            detail: "the server answered `404 Not Found`".into(),
        };
    }
    let mut detail = display;
    if let Some(token) = job.token.as_deref().filter(|t| !t.is_empty()) {
        detail = detail.replace(token, "***");
    }
    GitError::Network {
        url: job.shown_url.clone(),
        detail: detail.lines().next().unwrap_or("").to_owned(),
    }
}
