//! The harness the `pipedreamer server` tests share: the real server binary as a process (SQLite
//! in a temp data dir, killed on drop), its admin API, GitHub-style signed push webhooks, and
//! git repositories holding `examples/hello`. One copy, so a change to how the server starts or
//! how a webhook is signed reaches every server test at once.

use crate::{repo_root, text};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback (the OS picks it; it stays free until someone binds it).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `done` every 50 ms until it returns `Some`, failing with `what` after `limit`.
pub(crate) fn wait_for<T>(what: &str, limit: Duration, mut done: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status `url` answers a GET with, `None` when nothing answers (within 5 s).
pub(crate) fn http_status(url: &str) -> Option<u16> {
    reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

/// Runs `git` in `repo` as a fixed author (no global git config needed); returns its trimmed
/// stdout.
pub(crate) fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// A new git repository `<root>/repo` holding `examples/hello` (its files and `nodes/`) under
/// `workflow_dir` (`""` for the repository's root), committed as `v1` on `main`; returns the
/// repository and that commit.
pub(crate) fn hello_repo(root: &Path, workflow_dir: &str) -> (PathBuf, String) {
    let repo = root.join("repo");
    let example = repo_root().join("examples/hello");
    let workflow = repo.join(workflow_dir);
    for dir in [example.clone(), example.join("nodes")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let to = workflow.join(path.strip_prefix(&example).unwrap());
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&path, to).unwrap();
            }
        }
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    let commit = git(&repo, &["rev-parse", "HEAD"]);
    (repo, commit)
}

/// GitHub's `X-Hub-Signature-256` hex HMAC-SHA256, computed by OpenSSL: the server verifies
/// with `ring`, so signing with another implementation keeps a shared bug from passing.
pub(crate) fn hmac_sha256_hex(key: &str, body: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key, "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl signs the webhook");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A child process killed (and reaped) when the test ends, however it ends.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a build (as the API shows it) has ended.
pub(crate) fn finished(build: &Value) -> bool {
    matches!(
        build["status"].as_str(),
        Some("SUCCESS" | "FAILED" | "CANCELLED")
    )
}

/// How to start a `pipedreamer server`; [`Server`] keeps it, so a restart starts the same server
/// (port, data, flags, environment).
#[derive(Clone)]
pub(crate) struct ServerSetup {
    data_dir: PathBuf,
    port: u16,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// `--public-url`; the loopback API address when `None`.
    public_url: Option<String>,
}

impl ServerSetup {
    /// A server on a free port with its data in `data_dir` (SQLite) and its log (stderr, at
    /// `info`) appended to `<data_dir>.log`, so a restart's lines follow the killed run's.
    pub(crate) fn new(data_dir: &Path) -> ServerSetup {
        ServerSetup {
            data_dir: data_dir.to_owned(),
            port: free_port(),
            args: Vec::new(),
            env: Vec::new(),
            public_url: None,
        }
    }

    /// The `public_url` webhook URLs are built from (the tests still call the loopback port).
    pub(crate) fn public_url(mut self, url: impl Into<String>) -> ServerSetup {
        self.public_url = Some(url.into());
        self
    }

    /// One more command-line argument after the common ones.
    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> ServerSetup {
        self.args.push(arg.into());
        self
    }

    /// One more environment variable (set after the common ones, so it can override them).
    pub(crate) fn env(mut self, key: &str, value: impl Into<OsString>) -> ServerSetup {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts the server and waits until it answers `/readyz`; fails with its log when it exits
    /// first.
    pub(crate) fn start(self) -> Server {
        let engine =
            Path::new(env!("CARGO_BIN_EXE_pipedreamer")).with_file_name("pipedreamer-engine");
        assert!(
            engine.is_file(),
            "{} is missing: run `cargo build -p pipedreamer-engine` (scripts/test.sh does)",
            engine.display()
        );
        let api = format!("http://127.0.0.1:{}", self.port);
        let log_path = self.data_dir.with_extension("log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
            .args([
                "server",
                "--port",
                &self.port.to_string(),
                "--public-url",
                self.public_url.as_deref().unwrap_or(&api),
            ])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.args)
            .env("RUST_LOG", "info")
            // SQLite in the data dir, whatever the calling shell exports.
            .env_remove("PIPEDREAMER_DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("pipedreamer server starts");
        let mut server = Server {
            process: Killed(child),
            api,
            token: String::new(),
            log: log_path,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            setup: self,
        };
        wait_for(
            "the server to answer /readyz",
            Duration::from_secs(30),
            || {
                if let Ok(Some(status)) = server.process.0.try_wait() {
                    panic!("the server exited with {status}:\n{}", server.log());
                }
                (http_status(&format!("{}/readyz", server.api)) == Some(200)).then_some(())
            },
        );
        server.token = std::fs::read_to_string(server.setup.data_dir.join("admin-token"))
            .expect("the first start writes the admin token into the data dir (stdout is not a terminal)")
            .trim()
            .to_owned();
        server
    }
}

/// A running `pipedreamer server`, killed (and reaped) when the test ends, however it ends.
pub(crate) struct Server {
    process: Killed,
    /// `http://127.0.0.1:PORT`.
    pub(crate) api: String,
    /// The admin token of the first start.
    token: String,
    log: PathBuf,
    client: reqwest::blocking::Client,
    setup: ServerSetup,
}

impl Server {
    /// SIGKILL (no shutdown code runs), then a start of the same setup on the same data.
    pub(crate) fn kill_and_restart(mut self) -> Server {
        self.process.0.kill().unwrap();
        self.process.0.wait().unwrap();
        self.setup.clone().start()
    }

    /// What the server wrote to stderr so far, restarts included.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a request with the admin token (and `body` as JSON); returns the status and the
    /// body as JSON (a JSON string when it is not JSON).
    pub(crate) fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request)
    }

    /// [`Server::call`] that must succeed (2xx); returns the body.
    pub(crate) fn call_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, answer) = self.call(method.clone(), path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    /// A GET that must answer 200; returns the body.
    pub(crate) fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// The build `id` as the API shows it.
    pub(crate) fn build(&self, id: &str) -> Value {
        self.get(&format!("/api/builds/{id}"))
    }

    /// The build's log as text.
    pub(crate) fn build_log(&self, id: &str) -> String {
        match self.get(&format!("/api/builds/{id}/logs")) {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }

    /// Waits until the build has ended and returns it.
    pub(crate) fn finished_build(&self, id: &str, limit: Duration) -> Value {
        wait_for(&format!("build {id} to end"), limit, || {
            let build = self.build(id);
            finished(&build).then_some(build)
        })
    }

    /// POSTs a GitHub push of `commit` (with `message`) to `main`, signed with the deployment's
    /// webhook secret, as delivery `delivery`; asserts it is accepted (202) and returns the
    /// queued build's id.
    pub(crate) fn push(
        &self,
        deployment: &Value,
        commit: &str,
        message: &str,
        delivery: &str,
    ) -> String {
        let body = serde_json::to_vec(&json!({
            "ref": "refs/heads/main",
            "before": "0".repeat(40),
            "after": commit,
            "deleted": false,
            "head_commit": {"id": commit, "message": message},
            "repository": {"full_name": "acme/hello"},
        }))
        .unwrap();
        let secret = deployment["webhook_secret"]
            .as_str()
            .expect("admins read the webhook secret");
        let request = self
            .client
            .post(format!(
                "{}/api/deployments/{}/webhook",
                self.api,
                deployment["id"].as_str().unwrap()
            ))
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                format!("sha256={}", hmac_sha256_hex(secret, &body)),
            )
            .body(body)
            // A webhook answers at once (the build runs in the background); GitHub waits 10 s.
            .timeout(Duration::from_secs(10));
        let (status, answer) = answer(request);
        assert_eq!(status, 202, "the push is accepted: {answer}");
        answer["build_id"]
            .as_str()
            .unwrap_or_else(|| panic!("202 names the build: {answer}"))
            .to_owned()
    }
}

/// Sends `request`; the status and the body as JSON (a JSON string when it is not JSON).
fn answer(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("the API answers");
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Debian's `docker-registry` serving plain HTTP on a free loopback port, storage in `dir`.
pub(crate) struct Registry {
    _process: Killed,
    /// `127.0.0.1:PORT`.
    pub(crate) host: String,
}

impl Registry {
    pub(crate) fn start(dir: &Path) -> Registry {
        let host = format!("127.0.0.1:{}", free_port());
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {host}}}\n",
                dir.join("blobs").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = match Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`docker-registry` is not installed, so the kubernetes target cannot push: run scripts/test.sh (it installs Debian's docker-registry)"
            ),
            Err(e) => panic!("cannot start docker-registry: {e}"),
        };
        let process = Killed(child);
        let url = format!("http://{host}/v2/");
        wait_for(
            "the registry to answer /v2/",
            Duration::from_secs(20),
            || (http_status(&url) == Some(200)).then_some(()),
        );
        Registry {
            _process: process,
            host,
        }
    }
}
