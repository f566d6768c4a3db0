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
    if !is_plain_branch_name(&job.branch) {
        return Err(branch_not_found(&repo, job));
    }
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
        drop(prepare);
        return Err(branch_not_found(&repo, job));
    };
    let want = match job.commit {
        Some(commit) if commit != head => {
            drop(prepare);
            // A commit behind the head: ask for it by id (protocol v2 servers, GitHub among
            // them, serve any reachable commit). Its ancestry is not checked: depth 1 has none.
            let prepare = connect(&repo, job, &format!("+{commit}:refs/pipedreamer/want"))?;
            receive(prepare, job, interrupt).map_err(|e| match e {
                // git's upload-pack answers `not our ref <sha>` for a commit it does not have
                // (or will not serve); other servers name the commit in their refusal.
                GitError::Network { ref detail, .. }
                    if detail.contains("not our ref") || detail.contains(&commit.to_string()) =>
                {
                    GitError::CommitNotFound {
                        commit: commit.to_string(),
                        url: job.shown_url.clone(),
                    }
                }
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

/// A name that makes a literal refspec: no glob, no refspec syntax, a valid ref name.
fn is_plain_branch_name(branch: &str) -> bool {
    !branch.is_empty()
        && !branch.starts_with(['-', '+'])
        && !branch.contains(['*', ':', '?', '[', '\\', '^', '~', ' '])
        && gix::refs::FullName::try_from(format!("refs/heads/{branch}")).is_ok()
}

/// [`GitError::BranchNotFound`] naming up to 5 branches the server has (a second listing:
/// the first asked the server for the one branch only). Listing errors leave the list empty.
fn branch_not_found(repo: &gix::Repository, job: &Job) -> GitError {
    let mut existing: Vec<String> = connect(repo, job, "+refs/heads/*:refs/remotes/origin/*")
        .map(|prepare| {
            prepare
                .ref_map()
                .remote_refs
                .iter()
                .filter_map(|r| {
                    let (name, _, _) = r.unpack();
                    name.to_string()
                        .strip_prefix("refs/heads/")
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    existing.sort();
    existing.truncate(5);
    GitError::BranchNotFound {
        branch: job.branch.clone(),
        url: job.shown_url.clone(),
        existing,
    }
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
    // The token goes in with every request (see `http_options`), so a 401 means it was
    // refused. This callback only stops gix from asking credential helpers (programs) instead.
    connection.set_credentials(|_action| Ok(None));
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
    let authorization = job.token.as_deref().map(basic_authorization);
    let reqwest = http::reqwest::Options {
        configure_client: Some(Box::new(
            move |builder: gix_reqwest::blocking::ClientBuilder| {
                Ok(builder.timeout(timeout).tls_certs_merge(bundled_roots()))
            },
        )),
        // Sent up front rather than after a 401 through gix's credential callback: gix refuses
        // credentials over `http://` even to loopback, and this saves GitHub a round trip.
        // reqwest drops the header when a redirect leaves the host.
        configure_request: authorization.map(|value| {
            Box::new(move |request: &mut gix_reqwest::blocking::Request| {
                request
                    .headers_mut()
                    .insert(gix_reqwest::header::AUTHORIZATION, value.clone());
                Ok(())
            }) as Box<http::reqwest::ConfigureRequestFn>
        }),
    };
    options.backend = Some(Arc::new(std::sync::Mutex::new(reqwest)));
    Ok(Box::new(options))
}

/// Mozilla's roots, shipped in the binary, added to the system's: a FROM-scratch server image
/// has no `/etc/ssl/certs` (without any root, rustls refuses to build the client).
fn bundled_roots() -> Vec<gix_reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| gix_reqwest::Certificate::from_der(der).ok())
        .collect()
}

/// `Basic base64(x-access-token:<token>)`, marked sensitive so no Debug output shows it.
fn basic_authorization(token: &str) -> gix_reqwest::header::HeaderValue {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN_USER}:{token}"));
    let mut value = gix_reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}"))
        .expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
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
    // The Debug form carries the whole chain of causes.
    let mut text = format!("{error:?}");
    if let Some(token) = job.token.as_deref().filter(|t| !t.is_empty()) {
        text = text.replace(token, "***");
    }
    let lower = text.to_ascii_lowercase();
    let status = |code: &str| {
        lower.contains(&format!("status {code}")) || lower.contains(&format!("({code} "))
    };
    if status("401") || status("403") || lower.contains("credential") {
        return GitError::AuthenticationFailed {
            url: job.shown_url.clone(),
            token_given: job.token.is_some(),
        };
    }
    if status("404") {
        return GitError::RepositoryNotFound {
            url: job.shown_url.clone(),
            detail: "the server answered `404 Not Found`".into(),
        };
    }
    GitError::Network {
        url: job.shown_url.clone(),
        detail: summary(&text),
    }
}

/// `top: innermost cause` from gix's `Debug` chain (`…\n\nCaused by:\n    0: …\n    1: …`).
fn summary(chain: &str) -> String {
    let mut lines = chain.lines().map(str::trim).filter(|l| !l.is_empty());
    let top = lines.next().unwrap_or("").to_owned();
    let innermost = lines.rfind(|l| *l != "Caused by:").map(|l| {
        l.split_once(": ").map_or(l, |(n, rest)| {
            if n.chars().all(|c| c.is_ascii_digit()) {
                rest
            } else {
                l
            }
        })
    });
    match innermost {
        Some(cause) => format!("{top}: {cause}"),
        None => top,
    }
}
