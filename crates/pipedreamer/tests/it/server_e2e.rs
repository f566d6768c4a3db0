//! `pipedreamer server` end to end, as a process: git repositories made here, GitHub-style signed
//! webhooks, SQLite, podman (under gVisor when `runsc` is installed). What must hold when the
//! server is killed mid-build and when pushes arrive faster than builds.

use crate::server_support::{Server, ServerSetup, finished, free_port, git, hello_repo, wait_for};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A server with deployment ports of its own (so parallel tests do not collide) and a short
/// poll interval, plus `env`.
fn start_server(data_dir: &Path, env: &[(&str, &str)]) -> Server {
    let base = 22000 + (free_port() % 900) * 2;
    let mut setup = ServerSetup::new(data_dir)
        .env(
            "PIPEDREAMER_SERVER_LOCAL__PORT_RANGE",
            format!("{base}-{}", base + 1),
        )
        .env("PIPEDREAMER_SERVER_BUILDS__POLL_INTERVAL", "500ms");
    for (key, value) in env {
        setup = setup.env(key, *value);
    }
    setup.start()
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

/// A server with its data in `root`, a new repository of `examples/hello` and a local
/// deployment `name` of it in workspace `team` (auto-rebuilt); returns the server, the deployment
/// as read back and the repository.
fn hello_deployment(root: &Path, name: &str) -> (Server, Value, PathBuf) {
    let (repo, _) = hello_repo(root, "");
    let server = start_server(&root.join("data"), &[]);
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
    let deployment = server.get(&format!(
        "/api/deployments/{}",
        body["id"].as_str().unwrap()
    ));
    (server, deployment, repo)
}

/// A signed GitHub push of `sha` as delivery `delivery`; returns the queued build's id.
fn push(server: &Server, deployment: &Value, sha: &str, delivery: &str) -> String {
    server.push(deployment, sha, &format!("commit {sha}"), delivery)
}

fn builds(server: &Server, deployment: &Value) -> Vec<Value> {
    let id = deployment["id"].as_str().unwrap();
    server.get(&format!("/api/deployments/{id}/builds?limit=100"))["builds"]
        .as_array()
        .unwrap()
        .clone()
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

#[test]
fn twenty_quick_pushes_build_one_at_a_time_and_the_last_commit_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, d, repo) = hello_deployment(tmp.path(), "quick");
    let _cleanup = Containers(d["id"].as_str().unwrap().to_owned());

    let mut acked = Vec::new();
    let mut last = String::new();
    for n in 2..=21 {
        last = commit_version(&repo, n);
        acked.push(push(&server, &d, &last, &format!("delivery-{n}")));
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
    let (server, d, repo) = hello_deployment(tmp.path(), "killed");
    let id = d["id"].as_str().unwrap().to_owned();
    let _cleanup = Containers(id.clone());

    // v2 starts building; v3 is acknowledged and waits behind it; then SIGKILL.
    let sha2 = commit_version(&repo, 2);
    let first = push(&server, &d, &sha2, "kill-1");
    wait_for("the first build to start", Duration::from_secs(60), || {
        (server.build(&first)["status"] == "BUILDING").then_some(())
    });
    let sha3 = commit_version(&repo, 3);
    let second = push(&server, &d, &sha3, "kill-2");

    // The next start ends the interrupted build and builds the acknowledged one.
    let server = server.kill_and_restart();
    let killed = server.build(&first);
    assert_eq!(killed["status"], "FAILED", "{killed:#}");
    assert_eq!(
        killed["error_message"], "interrupted: the server stopped during the build",
        "{killed:#}"
    );
    let survivor = server.finished_build(&second, Duration::from_secs(300));
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
    let _server = server.kill_and_restart();
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
    let server = start_server(&tmp.path().join("data"), &[("PATH", "/nonexistent")]);
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
