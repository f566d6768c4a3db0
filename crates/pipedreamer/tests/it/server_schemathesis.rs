//! schemathesis (PyPI, installed into `.venv` by scripts/test.sh) against the real
//! `pipedreamer server`: it reads `/api/openapi.json`, generates requests for every operation
//! (examples, coverage, fuzzing and stateful phases) and checks that none answers 5xx, that every
//! status, content type, header and body matches the document, that a request without the
//! token is refused, that deleted resources stay gone, and that the server accepts the data the
//! document allows and refuses the data it does not. The server runs on SQLite in a temp
//! data dir with one workspace, one `local` deployment of `examples/hello` from a `file://`
//! repository made here, and one finished build, so generated ids hit real records too. Builds
//! schemathesis starts are real; every deployment is deleted through the API at the end and no
//! container of them may outlive that.

use crate::fake_kube::FakeKube;
use crate::{repo_root, text};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What scripts/test.sh pins; the options below are this version's.
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Test cases per operation and phase: about 40 s for all 18 operations on the 2-core machine.
const MAX_EXAMPLES: &str = "40";
/// Everything schemathesis can check, including its two checks that the server accepts what the
/// document allows (`positive_data_acceptance`) and refuses what it does not
/// (`negative_data_rejection`): the server validates exactly what the document declares.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,missing_required_header,\
unsupported_method,allow_header_conformance,use_after_free,ensure_resource_availability,\
ignored_auth,negative_data_rejection,positive_data_acceptance";

#[test]
fn schemathesis_finds_no_server_error_and_no_drift_from_the_openapi_document() {
    let st = repo_root().join(".venv/bin/schemathesis");
    assert!(
        st.is_file(),
        "{} is missing: run scripts/test.sh (it installs schemathesis=={SCHEMATHESIS_VERSION} into .venv)",
        st.display()
    );
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let repo = hello_repository(dir.path());
    // Schemathesis creates `kubernetes` deployments too (with a registry in the target), and
    // stopping or deleting one undeploys it from its cluster: the server gets one to talk to,
    // the in-process fake API server, as a server with such deployments has a cluster.
    let cluster = FakeKube::start();
    let mut server = Server::start(&dir.path().join("data"), &cluster.kubeconfig);
    let api = Api::new(server.port, server.admin_token());

    let ws = api.send(
        "POST",
        "/api/workspaces",
        Some(json!({"name": "team"})),
        201,
    );
    let deployment = api.send(
        "POST",
        "/api/workspaces/team/deployments",
        Some(json!({
            "name": "hello",
            "repo": format!("file://{}", repo.display()),
            "target": {"type": "local"},
            "auto_rebuild": false,
        })),
        201,
    );
    let deployment_id = deployment["id"].as_str().unwrap().to_owned();
    let queued = api.send(
        "POST",
        &format!("/api/deployments/{deployment_id}/deploy"),
        None,
        202,
    );
    let build_id = queued["build_id"].as_str().unwrap().to_owned();
    let build = api.wait_finished(&build_id, Duration::from_secs(180));
    eprintln!(
        "seed build {build_id}: {} {}",
        build["status"], build["error_message"]
    );

    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        schemathesis_config(&deployment_id, &build_id, ws["id"].as_str().unwrap()),
    )
    .unwrap();
    let started = Instant::now();
    let mut run = Command::new(&st);
    run.arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("http://127.0.0.1:{}/api/openapi.json", server.port))
        .args(["--header", &format!("Authorization: Bearer {}", api.token)])
        .args(["--checks", CHECKS, "--max-examples", MAX_EXAMPLES])
        // One worker: with two, hypothesis' lambda descriptions call `ast.parse` from two threads
        // at once, which CPython 3.11 (Debian's) can fail with "SystemError: AST constructor
        // recursion depth mismatch" (CPython gh-106905), a Runtime Error on a random operation.
        .args(["--workers", "1", "--request-timeout", "20"])
        .args(["--generation-database", "none", "--no-color"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1");
    // A failing run prints its seed; `SCHEMATHESIS_SEED=<seed>` replays it.
    if let Ok(seed) = std::env::var("SCHEMATHESIS_SEED") {
        run.args(["--seed", &seed]);
    }
    let out = run.output().expect("run schemathesis");
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let lines: Vec<&str> = report.lines().collect();
    eprintln!(
        "schemathesis ran in {:.1} s:\n{}",
        started.elapsed().as_secs_f64(),
        lines[lines.len().saturating_sub(16)..].join("\n")
    );
    assert!(
        out.status.success(),
        "schemathesis failed ({}):\n{report}\n--- server stderr (tail) ---\n{}",
        out.status,
        server.stderr_tail()
    );
    assert!(
        report.contains(&format!("Schemathesis v{SCHEMATHESIS_VERSION}")),
        "expected schemathesis {SCHEMATHESIS_VERSION} (re-run scripts/test.sh):\n{report}"
    );

    server.assert_alive();
    api.send("GET", "/healthz", None, 200);
    server.delete_all_deployments(&api);
    server.assert_alive();
    let stderr = server.stderr();
    assert!(
        !stderr.contains("panicked"),
        "the server panicked:\n{stderr}"
    );
}

/// Real ids for the path parameters in part of the generated requests (the rest stay random).
/// DELETE only ever gets random or linked ids, so the seed deployment serves the whole run.
fn schemathesis_config(deployment: &str, build: &str, workspace: &str) -> String {
    format!(
        r#"[dictionaries.deployment]
values = ["{deployment}"]
[dictionaries.build]
values = ["{build}"]
[dictionaries.workspace]
values = ["team", "{workspace}"]

[[operations]]
include-path-regex = "^/api/deployments/"
exclude-method = "DELETE"
parameters = {{ "path.id" = {{ dictionary = "deployment", probability = 0.7 }} }}

[[operations]]
include-path-regex = "^/api/builds/"
parameters = {{ "path.id" = {{ dictionary = "build", probability = 0.7 }} }}

# A `kubernetes` target without a registry is valid data this server cannot serve (it has no
# `registry` configured, so no build ever needs a cluster): 400 with what to set.
[[operations]]
include-path-regex = "^/api/workspaces/"
parameters = {{ "path.ws" = {{ dictionary = "workspace", probability = 0.7 }} }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
"#
    )
}

/// `examples/hello` committed on `main` in a fresh repository under `dir`.
fn hello_repository(dir: &Path) -> PathBuf {
    let repo = dir.join("hello.git");
    std::fs::create_dir_all(&repo).unwrap();
    let hello = repo_root().join("examples/hello/.");
    let run = |program: &str, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap_or_else(|e| panic!("`{program}` is not installed ({e}); run scripts/test.sh"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            text(&out.stderr)
        );
    };
    run("cp", &["-r", hello.to_str().unwrap(), "."]);
    run("git", &["init", "-q", "-b", "main"]);
    run("git", &["add", "-A"]);
    run(
        "git",
        &[
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
            "commit",
            "-q",
            "-m",
            "hello",
        ],
    );
    repo
}

/// `pipedreamer server` on a free port with its data under `data_dir`; killed on drop, after
/// the containers of every deployment it knows are removed.
struct Server {
    child: Child,
    port: u16,
    data_dir: PathBuf,
}

impl Server {
    fn start(data_dir: &Path, kubeconfig: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let engine =
            Path::new(env!("CARGO_BIN_EXE_pipedreamer")).with_file_name("pipedreamer-engine");
        assert!(
            engine.is_file(),
            "{} is missing: run `cargo build -p pipedreamer-engine` (scripts/test.sh does)",
            engine.display()
        );
        std::fs::create_dir_all(data_dir).unwrap();
        let stderr = std::fs::File::create(data_dir.join("server.stderr")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--engine")
            .arg(&engine)
            // Deployment ports of its own: the other server tests use 21000-23800.
            .env("PIPEDREAMER_SERVER_LOCAL__PORT_RANGE", "24000-24199")
            .env_remove("PIPEDREAMER_DATABASE_URL")
            .env("KUBECONFIG", kubeconfig)
            .env("NO_COLOR", "1")
            // Container starts and removals are logged at debug: a leftover container's story.
            .env(
                "RUST_LOG",
                "info,pipedreamer_host=debug,pipedreamer_pipeline=debug",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start pipedreamer server");
        let mut server = Server {
            child,
            port,
            data_dir: data_dir.to_owned(),
        };
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            server.assert_alive();
            let ready = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .timeout(Duration::from_secs(5))
                .send();
            if ready.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not answer /readyz within 60 s:\n{}",
                server.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Written on first start because stdout is not a terminal.
    fn admin_token(&self) -> String {
        let path = self.data_dir.join("admin-token");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}\n{}", path.display(), self.stderr_tail()))
            .trim()
            .to_owned()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.stderr")).unwrap_or_default()
    }

    /// The server's last log lines, for failure messages.
    fn stderr_tail(&self) -> String {
        let all = self.stderr();
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the server exited ({status}):\n{}", self.stderr_tail());
        }
    }

    /// Every deployment in the database, also those schemathesis created in its own workspaces.
    fn deployment_ids(&self) -> pipedreamer_store::Result<Vec<String>> {
        let url = format!(
            "sqlite://{}",
            self.data_dir.join("pipedreamer.db").display()
        );
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let store = pipedreamer_store::Store::open(&url).await?;
                let all = store.all_deployments().await;
                store.close().await;
                Ok(all?.into_iter().map(|d| d.id).collect())
            })
    }

    /// Every deployment the server ever created, also those deleted during the run (from its
    /// log: a container of a deleted deployment would have no record left).
    fn ever_created(&self) -> Vec<String> {
        // Also called while a failed test unwinds: no second panic.
        let mut ids = self.deployment_ids().unwrap_or_default();
        for line in self.stderr().lines() {
            if line.contains("deployment created") {
                let id = line
                    .split_whitespace()
                    .find_map(|field| field.strip_prefix("deployment="));
                ids.extend(id.map(str::to_owned));
            }
        }
        ids.sort();
        ids.dedup();
        ids
    }

    /// DELETE through the API (stop, then the records) and no container of any deployment
    /// left behind, deleted here or during the run.
    fn delete_all_deployments(&mut self, api: &Api) {
        for id in &self.deployment_ids().expect("list the deployments") {
            let path = format!("/api/deployments/{id}");
            let (mut status, mut body) = api.call("DELETE", &path, None);
            if status == 502 {
                // A kubernetes deployment schemathesis gave a context the fake cluster's
                // kubeconfig does not have cannot be undeployed; `force` deletes its records.
                // A local one has no such excuse: it stays a failure.
                let (_, d) = api.call("GET", &path, None);
                let kubernetes = serde_json::from_str::<Value>(&d)
                    .is_ok_and(|d| d["target"]["type"] == "kubernetes");
                if kubernetes {
                    (status, body) = api.call("DELETE", &format!("{path}?force=true"), None);
                }
            }
            assert!(
                status == 204 || status == 404,
                "DELETE /api/deployments/{id}: {status} {body}\n{}",
                self.stderr_tail()
            );
        }
        let leftover = remove_containers(&self.ever_created());
        if !leftover.is_empty() {
            // What the server did with those deployments: the cause is in the order of events.
            let log = self.stderr();
            let mut related = String::new();
            for (_, deployment) in &leftover {
                for line in log.lines().filter(|l| l.contains(deployment.as_str())) {
                    related.push_str(line);
                    related.push('\n');
                }
            }
            panic!(
                "containers outlived DELETE of their deployment: {leftover:?}\n--- the server's log of those deployments ---\n{related}"
            );
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            remove_containers(&self.ever_created());
        }
    }
}

/// Force-removes the containers labelled with these deployments (podman, else docker, as
/// pipedreamer-host picks) and describes those there were, with their deployment.
fn remove_containers(deployments: &[String]) -> Vec<(String, String)> {
    let engine = ["podman", "docker"].into_iter().find(|e| {
        Command::new(e)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(engine) = engine else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for id in deployments {
        let Ok(out) = Command::new(engine)
            .args(["ps", "-aq", "--filter"])
            .arg(format!("label=pipedreamer.deployment={id}"))
            .output()
        else {
            continue;
        };
        for container in text(&out.stdout).split_whitespace() {
            let state = Command::new(engine)
                .args([
                    "inspect",
                    "--format",
                    "{{.Name}} created={{.Created}} state={{.State.Status}} started={{.State.StartedAt}}",
                    container,
                ])
                .output()
                .map(|o| text(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            let _ = Command::new(engine).args(["rm", "-f", container]).output();
            found.push((state, id.clone()));
        }
    }
    found
}

/// The admin's JSON calls.
struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    fn new(port: u16, token: String) -> Api {
        Api {
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            token,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let res = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        (res.status().as_u16(), res.text().unwrap())
    }

    /// The call must answer `want`; its JSON body (`null` when empty or not JSON).
    fn send(&self, method: &str, path: &str, body: Option<Value>, want: u16) -> Value {
        let (status, text) = self.call(method, path, body);
        assert_eq!(status, want, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    fn wait_finished(&self, build: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let b = self.send("GET", &format!("/api/builds/{build}"), None, 200);
            if !matches!(b["status"].as_str(), Some("PENDING" | "BUILDING")) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "build {build} still {b} after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
