//! `pipedreamer server` end to end, as a process: git repositories made here, GitHub-style signed
//! webhooks, SQLite, podman (under gVisor when `runsc` is installed). What must hold when the
//! server is killed mid-build and when pushes arrive faster than builds.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `pipedreamer server`.
struct Server {
    child: Child,
    api: String,
    token: String,
    data_dir: PathBuf,
    port: u16,
    ports: (u16, u16),
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts the server on `data_dir` (a restart reuses the port, the data and the port range).
    fn start(data_dir: &Path, port: Option<u16>, ports: Option<(u16, u16)>) -> Server {
        Self::start_with(data_dir, port, ports, &[])
    }

    /// [`Server::start`] with extra environment variables.
    fn start_with(
        data_dir: &Path,
        port: Option<u16>,
        ports: Option<(u16, u16)>,
        env: &[(&str, &str)],
    ) -> Server {
        let port = port.unwrap_or_else(free_port);
        // Deployment ports of our own, so parallel tests do not collide.
        let ports = ports.unwrap_or_else(|| {
            let base = 22000 + (free_port() % 900) * 2;
            (base, base + 1)
        });
        let api = format!("http://127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
            .args(["server", "--port", &port.to_string(), "--public-url", &api])
            .arg("--data-dir")
            .arg(data_dir)
            .env(
                "PIPEDREAMER_SERVER_LOCAL__PORT_RANGE",
                format!("{}-{}", ports.0, ports.1),
            )
            .env("PIPEDREAMER_SERVER_BUILDS__POLL_INTERVAL", "500ms")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("pipedreamer server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::blocking::get(format!("{api}/readyz"))
            .map(|r| r.status().as_u16())
            .ok()
            != Some(200)
        {
            assert!(
                Instant::now() < deadline,
                "the server never became ready; see {}",
                data_dir.with_extension("log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let token = std::fs::read_to_string(data_dir.join("admin-token"))
            .expect("the admin token is written to the data dir when stdout is not a terminal")
            .trim()
            .to_owned();
        Server {
            child,
            api,
            token,
            data_dir: data_dir.to_owned(),
            port,
            ports,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let client = reqwest::blocking::Client::new();
        let mut req = client
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().expect("the API answers");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(mut self) -> (PathBuf, u16, (u16, u16)) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        (self.data_dir.clone(), self.port, self.ports)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes a deployment's containers even when an assertion fails.
struct Containers(String);

impl Drop for Containers {
    fn drop(&mut self) {
        for id in containers(&self.0, true) {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0", &id])
                .output();
        }
    }
}

fn containers(deployment: &str, all: bool) -> Vec<String> {
    let label = format!("label=pipedreamer.deployment={deployment}");
    let mut args = vec!["ps", "-q", "--filter", &label];
    if all {
        args.insert(1, "-a");
    }
    let out = Command::new("podman").args(&args).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `examples/hello` in a new repository, greeting `Hello v1, …`.
fn hello_repo(root: &Path) -> PathBuf {
    let repo = root.join("repo");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    std::fs::create_dir_all(repo.join("nodes")).unwrap();
    for file in ["workflow.yaml", "pipedreamer.d.ts"] {
        std::fs::copy(example.join(file), repo.join(file)).unwrap();
    }
    for entry in std::fs::read_dir(example.join("nodes")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), repo.join("nodes").join(entry.file_name())).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    commit_version(&repo, 1);
    repo
}

/// Commits the greeting `Hello v<n>, …`; returns the commit.
fn commit_version(repo: &Path, n: u32) -> String {
    let path = repo.join("nodes/greet.ts");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("`Hello").unwrap();
    let end = start + text[start..].find(',').unwrap();
    std::fs::write(
        &path,
        format!("{}`Hello v{n}{}", &text[..start], &text[end..]),
    )
    .unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", &format!("v{n}")]);
    git(repo, &["rev-parse", "HEAD"])
}

/// Creates workspace `team` (once) and a local deployment of `repo`; returns it as read back.
fn create_deployment(server: &Server, name: &str, repo: &Path) -> Value {
    let (status, body) = server.call(
        reqwest::Method::POST,
        "/api/workspaces",
        Some(json!({"name": "team"})),
    );
    assert!(matches!(status, 200 | 201 | 409), "{status} {body}");
    let (status, body) = server.call(
        reqwest::Method::POST,
        "/api/workspaces/team/deployments",
        Some(json!({
            "name": name,
            "repo": format!("file://{}", repo.display()),
            "branch": "main",
            "target": {"type": "local"},
            "auto_rebuild": true,
        })),
    );
    assert!(matches!(status, 200 | 201), "{status} {body}");
    server.get(&format!(
        "/api/deployments/{}",
        body["id"].as_str().unwrap()
    ))
}

/// A signed GitHub push delivery; returns (status, body).
fn push(server: &Server, deployment: &Value, sha: &str, delivery: &str) -> (u16, Value) {
    let body = json!({
        "ref": "refs/heads/main",
        "after": sha,
        "head_commit": {"id": sha, "message": format!("commit {sha}")},
    })
    .to_string();
    let secret = deployment["webhook_secret"]
        .as_str()
        .expect("admins see the webhook secret");
    let resp = reqwest::blocking::Client::new()
        .post(format!(
            "{}/api/deployments/{}/webhook",
            server.api,
            deployment["id"].as_str().unwrap()
        ))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            format!("sha256={}", sign(secret.as_bytes(), body.as_bytes())),
        )
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// `X-Hub-Signature-256`'s hex HMAC-SHA256.
fn sign(key: &[u8], message: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    hex::encode(ring::hmac::sign(&key, message).as_ref())
}

fn builds(server: &Server, deployment: &Value) -> Vec<Value> {
    let id = deployment["id"].as_str().unwrap();
    server.get(&format!("/api/deployments/{id}/builds?limit=100"))["builds"]
        .as_array()
        .unwrap()
        .clone()
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn greeting(url: &str) -> Option<String> {
    reqwest::blocking::Client::new()
        .post(format!("{url}/run"))
        .json(&json!({"name": "ada"}))
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?
        .text()
        .ok()
}

fn finished(b: &Value) -> bool {
    matches!(
        b["status"].as_str(),
        Some("SUCCESS" | "FAILED" | "CANCELLED")
    )
}

#[test]
fn twenty_quick_pushes_build_one_at_a_time_and_the_last_commit_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = hello_repo(tmp.path());
    let server = Server::start(&tmp.path().join("data"), None, None);
    let d = create_deployment(&server, "quick", &repo);
    let _cleanup = Containers(d["id"].as_str().unwrap().to_owned());

    let mut acked = Vec::new();
    let mut last = String::new();
    for n in 2..=21 {
        last = commit_version(&repo, n);
        let (status, body) = push(&server, &d, &last, &format!("delivery-{n}"));
        assert_eq!(status, 202, "{body}");
        acked.push(body["build_id"].as_str().unwrap().to_owned());
        // Never two builds at once for one deployment, checked while pushes arrive.
        let building = builds(&server, &d)
            .iter()
            .filter(|b| b["status"] == "BUILDING")
            .count();
        assert!(building <= 1, "{building} builds BUILDING at once");
    }
    let all = wait_for("every build to finish", Duration::from_secs(300), || {
        let all = builds(&server, &d);
        all.iter().all(finished).then_some(all)
    });
    // Every acknowledged delivery has its build; superseded ones say by what.
    assert_eq!(all.len(), 20, "{all:#?}");
    for id in &acked {
        assert!(all.iter().any(|b| &b["id"] == id), "build {id} was lost");
    }
    let newest = all
        .iter()
        .find(|b| b["commit_hash"] == last.as_str())
        .unwrap();
    assert_eq!(newest["status"], "SUCCESS", "{newest:#}");
    for b in all.iter().filter(|b| b["status"] == "CANCELLED") {
        assert!(
            b["error_message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("superseded by "),
            "{b:#}"
        );
    }
    let d = server.get(&format!("/api/deployments/{}", d["id"].as_str().unwrap()));
    assert_eq!(d["status"], "RUNNING");
    assert_eq!(d["current_build_id"], newest["id"]);
    let url = d["url"].as_str().expect("a local deployment has a url");
    let answer = greeting(url).expect("the deployment answers");
    assert!(answer.contains("Hello v21, Ada!"), "{answer}");
}

#[test]
fn a_server_killed_mid_build_leaves_nothing_building_and_loses_no_acknowledged_push() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = hello_repo(tmp.path());
    let data = tmp.path().join("data");
    let server = Server::start(&data, None, None);
    let d = create_deployment(&server, "killed", &repo);
    let id = d["id"].as_str().unwrap().to_owned();
    let _cleanup = Containers(id.clone());

    // v2 starts building; v3 is acknowledged and waits behind it; then SIGKILL.
    let sha2 = commit_version(&repo, 2);
    let (status, first) = push(&server, &d, &sha2, "kill-1");
    assert_eq!(status, 202, "{first}");
    let first = first["build_id"].as_str().unwrap().to_owned();
    wait_for("the first build to start", Duration::from_secs(60), || {
        (server.get(&format!("/api/builds/{first}"))["status"] == "BUILDING").then_some(())
    });
    let sha3 = commit_version(&repo, 3);
    let (status, second) = push(&server, &d, &sha3, "kill-2");
    assert_eq!(status, 202, "{second}");
    let second = second["build_id"].as_str().unwrap().to_owned();
    let (data, port, ports) = server.kill();

    // The next start ends the interrupted build and builds the acknowledged one.
    let server = Server::start(&data, Some(port), Some(ports));
    let killed = server.get(&format!("/api/builds/{first}"));
    assert_eq!(killed["status"], "FAILED", "{killed:#}");
    assert_eq!(
        killed["error_message"], "interrupted: the server stopped during the build",
        "{killed:#}"
    );
    let survivor = wait_for(
        "the acknowledged build to finish",
        Duration::from_secs(300),
        || {
            let b = server.get(&format!("/api/builds/{second}"));
            finished(&b).then_some(b)
        },
    );
    assert_eq!(
        survivor["status"],
        "SUCCESS",
        "{survivor:#}\n{}",
        server.log()
    );
    assert!(
        builds(&server, &d)
            .iter()
            .all(|b| b["status"] != "BUILDING")
    );
    let live = server.get(&format!("/api/deployments/{id}"));
    assert_eq!(live["status"], "RUNNING", "{live:#}");
    let url = live["url"].as_str().unwrap().to_owned();
    assert!(
        greeting(&url)
            .unwrap_or_default()
            .contains("Hello v3, Ada!")
    );

    // Containers come back after a restart: remove it behind the server's back, restart.
    for c in containers(&id, true) {
        Command::new("podman")
            .args(["rm", "-f", "-t", "0", &c])
            .output()
            .unwrap();
    }
    assert!(greeting(&url).is_none());
    let (data, port, ports) = server.kill();
    let _server = Server::start(&data, Some(port), Some(ports));
    let answer = wait_for(
        "the container to come back",
        Duration::from_secs(90),
        || greeting(&url).filter(|a| a.contains("Hello v3")),
    );
    assert!(answer.contains("Hello v3, Ada!"), "{answer}");
}

#[test]
fn a_local_deployment_without_podman_or_docker_is_refused_with_what_to_install() {
    let tmp = tempfile::tempdir().unwrap();
    // No container engine on PATH (the server itself needs no other program: git is in-process).
    let server = Server::start_with(
        &tmp.path().join("data"),
        None,
        None,
        &[("PATH", "/nonexistent")],
    );
    let (status, body) = server.call(
        reqwest::Method::POST,
        "/api/workspaces",
        Some(json!({"name": "team"})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.call(
        reqwest::Method::POST,
        "/api/workspaces/team/deployments",
        Some(json!({"name": "hello", "repo": "file:///nowhere", "target": {"type": "local"}})),
    );
    assert_eq!(status, 400, "{body}");
    let text = body.to_string();
    assert!(text.contains("podman") && text.contains("docker"), "{text}");
    assert!(
        body["hint"].as_str().is_some_and(|h| h.contains("install")),
        "{body:#}"
    );
}
