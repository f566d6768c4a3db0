//! Public URLs on a single host, end to end: a real Caddy (`tls internal`, free loopback ports),
//! the real `pipedreamer server` with `routing.base_domain: example.test`, and real podman
//! deployments of `examples/hello` from git repositories made here. Requests go over HTTPS
//! through Caddy with `curl --resolve <host>:<port>:127.0.0.1 --cacert <Caddy's root>`.

use crate::server_support::{Server, ServerSetup, free_port, git, hello_repo, wait_for};
use pipedreamer_proxy::test_support::TestCaddy;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Removes the deployments' containers even when an assertion fails.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for deployment in &self.0 {
            let label = format!("label=pipedreamer.deployment={deployment}");
            let out = Command::new("podman")
                .args(["ps", "-aq", "--filter", &label])
                .output();
            let Ok(out) = out else { continue };
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("podman")
                    .args(["rm", "-f", "-t", "0", id])
                    .output();
            }
        }
    }
}

/// `curl -X <method> https://<host>:<https port><path>` (a POST sends `{"name": "ada"}`) through
/// Caddy on loopback, trusting only Caddy's internal CA: the status and the body; `None` when no
/// HTTPS answer came (no route, no certificate for the host, Caddy restarting).
fn curl(caddy: &TestCaddy, method: &str, host: &str, path: &str) -> Option<(u16, String)> {
    let port = caddy.https_port;
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "10", "-X", method]);
    if method == "POST" {
        command.args([
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"name": "ada"}"#,
        ]);
    }
    let out = command
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg("--cacert")
        .arg(caddy.root_ca_path())
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl runs");
    if !out.status.success() {
        eprintln!(
            "curl https://{host}:{port}{path}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n')?;
    Some((status.trim().parse().ok()?, body.to_owned()))
}

/// Waits until `host`'s `/run` answers 200 with `greeting` over HTTPS; returns the body.
fn wait_for_greeting(caddy: &TestCaddy, host: &str, greeting: &str) -> String {
    wait_for(
        &format!("https://{host}/run to answer `{greeting}`"),
        Duration::from_secs(60),
        || {
            curl(caddy, "POST", host, "/run")
                .filter(|(status, body)| *status == 200 && body.contains(greeting))
                .map(|(_, body)| body)
        },
    )
}

/// The route `@id` as Caddy has it, `None` when it has none.
fn caddy_object(caddy: &TestCaddy, id: &str) -> Option<Value> {
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/id/{id}", caddy.admin()))
        .timeout(Duration::from_secs(5))
        .send()
        .expect("Caddy's admin API answers");
    if response.status() == 404 {
        return None;
    }
    assert!(response.status().is_success(), "{}", response.status());
    Some(response.json().unwrap())
}

fn caddy_post(caddy: &TestCaddy, path: &str, body: &Value) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}{path}", caddy.admin()))
        .json(body)
        .timeout(Duration::from_secs(5))
        .send()
        .expect("Caddy's admin API answers");
    assert!(
        response.status().is_success(),
        "{}",
        response.text().unwrap()
    );
}

/// A repository of `examples/hello` in `root` whose greeting says `word` instead of `Hello`.
fn greeting_repo(root: &Path, word: &str) -> String {
    let (repo, _) = hello_repo(root, "");
    if word != "Hello" {
        let path = repo.join("nodes/greet.ts");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("`Hello,", &format!("`{word},"))).unwrap();
        git(&repo, &["commit", "-q", "-am", word]);
    }
    format!("file://{}", repo.display())
}

fn deploy(server: &Server, name: &str, repo: &str) -> Value {
    let created = server.call_ok(
        reqwest::Method::POST,
        "/api/workspaces/team/deployments",
        Some(json!({
            "name": name,
            "repo": repo,
            "branch": "main",
            "target": {"type": "local"},
            "subdomain": name,
        })),
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let queued = server.call_ok(
        reqwest::Method::POST,
        &format!("/api/deployments/{id}/deploy"),
        None,
    );
    let build = queued["build_id"].as_str().unwrap().to_owned();
    let build = server.finished_build(&build, Duration::from_secs(300));
    assert_eq!(
        build["status"],
        "SUCCESS",
        "{build:#}\n{}",
        server.build_log(build["id"].as_str().unwrap())
    );
    let log = server.build_log(build["id"].as_str().unwrap());
    assert!(
        log.contains(&format!("routed https://{name}.example.test:")),
        "{log}"
    );
    server.get(&format!("/api/deployments/{id}"))
}

#[test]
fn deployments_with_subdomains_answer_over_https_through_caddy_and_their_routes_follow_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut caddy = TestCaddy::start();
    let hello = greeting_repo(&tmp.path().join("a"), "Hello");
    let howdy = greeting_repo(&tmp.path().join("b"), "Howdy");
    // Deployment ports of this test's own (24200-24399), two per run.
    let base = 24200 + (free_port() % 100) * 2;
    let server = ServerSetup::new(&tmp.path().join("data"))
        .env(
            "PIPEDREAMER_SERVER_LOCAL__PORT_RANGE",
            format!("{base}-{}", base + 1),
        )
        .env("PIPEDREAMER_SERVER_BUILDS__POLL_INTERVAL", "500ms")
        .env("PIPEDREAMER_SERVER_ROUTING__BASE_DOMAIN", "example.test")
        .env("PIPEDREAMER_SERVER_ROUTING__TLS", "internal")
        .env(
            "PIPEDREAMER_SERVER_ROUTING__HTTPS_PORT",
            caddy.https_port.to_string(),
        )
        .env("PIPEDREAMER_SERVER_CADDY__ADMIN", caddy.admin())
        .public_url(format!("https://deploy.example.test:{}", caddy.https_port))
        .start();
    server.call_ok(
        reqwest::Method::POST,
        "/api/workspaces",
        Some(json!({"name": "team"})),
    );
    // The server's own public URL goes through the same Caddy: API, webhooks and dashboard,
    // but not its metrics and probes.
    let (status, body) = wait_for(
        "https://deploy.example.test/api/openapi.json through Caddy",
        Duration::from_secs(60),
        || {
            curl(&caddy, "GET", "deploy.example.test", "/api/openapi.json")
                .filter(|(status, _)| *status == 200)
        },
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"openapi\""), "{body}");
    let (status, body) = curl(&caddy, "GET", "deploy.example.test", "/signin").unwrap();
    assert_eq!(status, 200, "the dashboard: {body}");
    for private in ["/metrics", "/healthz", "/readyz"] {
        let (status, _) = curl(&caddy, "GET", "deploy.example.test", private).unwrap();
        assert_eq!(status, 404, "{private} stays private");
    }
    let a = deploy(&server, "hello", &hello);
    let b = deploy(&server, "howdy", &howdy);
    let (a_id, b_id) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    );
    let _cleanup = Containers(vec![a_id.clone(), b_id.clone()]);
    assert_eq!(
        a["url"],
        format!("https://hello.example.test:{}", caddy.https_port)
    );

    // Each host reaches its own deployment over HTTPS, with a certificate from Caddy's CA.
    let answer = wait_for_greeting(&caddy, "hello.example.test", "Hello, Ada!");
    assert!(!answer.contains("Howdy"), "{answer}");
    let answer = wait_for_greeting(&caddy, "howdy.example.test", "Howdy, Ada!");
    assert!(!answer.contains("Hello"), "{answer}");
    // Only /run and /hooks/* are public; the engine's metrics and probes are not routed. (GET:
    // Caddy answers a 404 without reading a POST's body, and resets that HTTP/2 stream.)
    for private in ["/metrics", "/healthz", "/readyz"] {
        let (status, body) = wait_for(
            &format!("an HTTPS answer to {private}"),
            Duration::from_secs(30),
            || curl(&caddy, "GET", "hello.example.test", private),
        );
        assert_eq!(status, 404, "{private}: {body}");
    }

    // A reconcile pass removes a stale route of ours and leaves a hand-made one alone.
    let hand_made = json!({
        "@id": "hand-made",
        "match": [{"host": ["manual.example.test"]}],
        "handle": [{"handler": "static_response", "body": "manual"}]
    });
    caddy_post(
        &caddy,
        "/config/apps/http/servers/pipedreamer/routes",
        &hand_made,
    );
    let stale = json!({
        "@id": "pipedreamer-gone",
        "match": [{"host": ["gone.example.test"]}],
        "handle": [{"handler": "static_response", "body": "gone"}]
    });
    caddy_post(
        &caddy,
        "/config/apps/http/servers/pipedreamer/routes",
        &stale,
    );
    wait_for(
        "the reconcile loop to remove a stale pipedreamer- route",
        Duration::from_secs(60),
        || {
            caddy_object(&caddy, "pipedreamer-gone")
                .is_none()
                .then_some(())
        },
    );
    assert_eq!(caddy_object(&caddy, "hand-made"), Some(hand_made));

    // Stopping one removes its route and leaves the other.
    server.call_ok(
        reqwest::Method::POST,
        &format!("/api/deployments/{a_id}/stop"),
        None,
    );
    assert_eq!(caddy_object(&caddy, &format!("pipedreamer-{a_id}")), None);
    if let Some((status, body)) = curl(&caddy, "POST", "hello.example.test", "/run") {
        assert!(!body.contains("Hello, Ada!"), "{status} {body}");
    }
    wait_for_greeting(&caddy, "howdy.example.test", "Howdy, Ada!");

    // A restarted Caddy has lost every route; the server's reconcile brings the live one back
    // (and not the stopped one).
    caddy.restart();
    assert_eq!(caddy_object(&caddy, &format!("pipedreamer-{b_id}")), None);
    wait_for_greeting(&caddy, "howdy.example.test", "Howdy, Ada!");
    assert_eq!(caddy_object(&caddy, &format!("pipedreamer-{a_id}")), None);
}

#[test]
fn a_server_with_routing_does_not_start_without_caddy_and_says_how_to_start_it() {
    let tmp = tempfile::tempdir().unwrap();
    let admin = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
        .args(["server", "--port", &free_port().to_string()])
        .arg("--data-dir")
        .arg(tmp.path())
        .env("PIPEDREAMER_SERVER_ROUTING__BASE_DOMAIN", "example.test")
        .env("PIPEDREAMER_SERVER_CADDY__ADMIN", &admin)
        .env_remove("PIPEDREAMER_DATABASE_URL")
        .output()
        .expect("pipedreamer runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&admin), "{stderr}");
    assert!(stderr.contains("caddy run"), "{stderr}");
    assert!(stderr.contains("routing.base_domain"), "{stderr}");
}
