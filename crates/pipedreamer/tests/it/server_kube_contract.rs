//! API-contract tests of the `kubernetes` target of `pipedreamer server`: the real server binary
//! (SQLite, a temp data dir) builds a git repository made here after a GitHub-style signed push,
//! pushes the image to a real registry (Debian's `docker-registry` on loopback) and deploys it to
//! [`FakeKube`], the in-process stand-in for the Kubernetes API server. They pin what the server
//! sends (the Secret `<name>-secrets`, the Deployment pinned to the pushed digest, the Service,
//! all server-side applied) and that a build is `SUCCESS` only once the fake reports the new pods
//! ready, `FAILED` with the rollout's reason when they never are. No pod is scheduled anywhere:
//! the tests set the Deployment's status in the fake themselves.

use crate::fake_kube::FakeKube;
use crate::server_support::{Registry, Server, ServerSetup, hello_repo, wait_for};
use crate::text;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the deployment's secrets hold; it must reach the cluster's Secret and nothing else.
const SECRET_VALUE: &str = "kube-contract-sekret-4c1f9e7a2b";
const NAMESPACE: &str = "team-a";
/// How long an image build and push may take on a loaded 2-core machine (debug engine).
const BUILD_LIMIT: Duration = Duration::from_secs(300);

/// A `pipedreamer server` in `root` (data in `root/data`) deploying to the cluster `kubeconfig`
/// names, one build at a time, each rollout waited for at most `rollout_timeout`; `extra` is
/// appended to its YAML configuration.
fn start_server(root: &Path, kubeconfig: &Path, rollout_timeout: &str, extra: &str) -> Server {
    let config = root.join("server.yml");
    std::fs::write(
        &config,
        format!("builds:\n  concurrency: 1\n  timeouts:\n    rollout: {rollout_timeout}\n{extra}"),
    )
    .unwrap();
    ServerSetup::new(&root.join("data"))
        .arg("--config")
        .arg(&config)
        .env("KUBECONFIG", kubeconfig)
        // The pushed-repositories cache lives under HOME/XDG_CACHE_HOME: keep it private.
        .env("HOME", root)
        .env("XDG_CACHE_HOME", root.join("cache"))
        .start()
}

/// A `kubernetes` deployment of `repo` (the workflow under `flows/hello`) pushing to
/// `registry`, with the secrets `{"api": {"key": SECRET_VALUE}}`.
fn kube_deployment(server: &Server, name: &str, repo: &Path, registry: &str) -> Value {
    let (status, _) = server.call(
        reqwest::Method::GET,
        &format!("/api/workspaces/{NAMESPACE}/deployments"),
        None,
    );
    if status == 404 {
        server.call_ok(
            reqwest::Method::POST,
            "/api/workspaces",
            Some(json!({"name": NAMESPACE})),
        );
    }
    let deployment = server.call_ok(
        reqwest::Method::POST,
        &format!("/api/workspaces/{NAMESPACE}/deployments"),
        Some(json!({
            "name": name,
            "repo": format!("file://{}", repo.display()),
            "branch": "main",
            "path": "flows/hello",
            "target": {"type": "kubernetes", "namespace": NAMESPACE, "registry": registry},
        })),
    );
    let id = deployment["id"].as_str().unwrap();
    server.call_ok(
        reqwest::Method::PUT,
        &format!("/api/deployments/{id}/secrets"),
        Some(json!({"api": {"key": SECRET_VALUE}})),
    );
    deployment
}

/// A GitHub push of `commit` (`v1`) to `main`; returns the queued build's id.
fn push(server: &Server, deployment: &Value, commit: &str) -> String {
    server.push(deployment, commit, "v1", &format!("delivery-{commit}"))
}

fn base64_decode(encoded: &str) -> Vec<u8> {
    let mut child = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("base64 (coreutils) decodes");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(encoded.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "not base64: {encoded}");
    out.stdout
}

fn assert_no_secret(text: &str, what: &str) {
    assert!(
        !text.contains(SECRET_VALUE),
        "{what} carries the secret value:\n{text}"
    );
}

fn deployments_path(name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")
}

/// What a Deployment reports while its new pod is not ready yet.
fn rolling() -> Value {
    json!({"replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]})
}

fn available() -> Value {
    json!({"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "True"}]})
}

/// Registry, fake API server and server, in `root`.
struct Stack {
    fake: FakeKube,
    registry: Registry,
    server: Server,
    _root: tempfile::TempDir,
    repo: PathBuf,
    commit: String,
}

impl Stack {
    fn start(rollout_timeout: &str) -> Stack {
        Stack::start_with(rollout_timeout, "")
    }

    /// With `extra` appended to the server's YAML configuration.
    fn start_with(rollout_timeout: &str, extra: &str) -> Stack {
        let root = tempfile::tempdir().unwrap();
        let fake = FakeKube::start();
        // No controllers run in the fake: every applied Deployment reports a rollout in progress
        // until the test says otherwise.
        fake.state.lock().unwrap().deployment_status = Some(rolling());
        let registry = Registry::start(root.path());
        let server = start_server(root.path(), &fake.kubeconfig, rollout_timeout, extra);
        let (repo, commit) = hello_repo(root.path(), "flows/hello");
        Stack {
            fake,
            registry,
            server,
            _root: root,
            repo,
            commit,
        }
    }

    /// Marks the Deployment `name` ready for the generation last applied, as its controller
    /// would.
    fn mark_available(&self, name: &str) {
        let mut state = self.fake.state.lock().unwrap();
        let object = state.objects.get_mut(&deployments_path(name)).unwrap();
        let mut status = available();
        status["observedGeneration"] = object["metadata"]["generation"].clone();
        object["status"] = status;
    }

    /// Waits until the fake has seen the Deployment `name` applied; returns the apply's body.
    fn applied_deployment(&self, name: &str, build: &str) -> Value {
        let path = deployments_path(name);
        wait_for(
            "the Deployment to be applied (fetch, validate, build, push done)",
            BUILD_LIMIT,
            || {
                let seen = self
                    .fake
                    .requests()
                    .into_iter()
                    .find(|r| r.method == "PATCH" && r.path == path)
                    .map(|r| r.body);
                if seen.is_none() {
                    let b = self.server.build(build);
                    assert!(
                        matches!(b["status"].as_str(), Some("PENDING" | "BUILDING")),
                        "the build ended before applying: {b}\n{}",
                        self.server.build_log(build)
                    );
                }
                seen
            },
        )
    }
}

#[test]
fn kubernetes_target_pushes_applies_the_secret_and_succeeds_only_once_the_new_pods_are_ready() {
    // Engines in the cluster report runs to the server's in-cluster URL.
    let report_url = "http://pipedreamer.pipedreamer.svc:7070";
    let stack = Stack::start_with("2m", &format!("runs:\n  report_url: {report_url}\n"));
    let server = &stack.server;
    let name = "hello-kube";
    let deployment = kube_deployment(server, name, &stack.repo, &stack.registry.host);
    let started = Instant::now();
    let build = push(server, &deployment, &stack.commit);

    let applied = stack.applied_deployment(name, &build);
    // Pods not ready: the rollout wait holds the build in BUILDING (the wait polls every second).
    let log_has_rollout = || {
        server
            .build_log(&build)
            .contains("rollout: 1/1 updated, 0/1 ready")
    };
    wait_for(
        "the build log to show the rollout waiting",
        Duration::from_secs(30),
        || log_has_rollout().then_some(()),
    );
    std::thread::sleep(Duration::from_secs(3));
    let waiting = server.build(&build);
    assert_eq!(
        waiting["status"], "BUILDING",
        "not SUCCESS while the new pods are not ready: {waiting}"
    );

    // The pods become ready: the fake's Deployment reports it for the generation applied.
    {
        let mut state = stack.fake.state.lock().unwrap();
        let object = state.objects.get_mut(&deployments_path(name)).unwrap();
        let mut status = available();
        status["observedGeneration"] = object["metadata"]["generation"].clone();
        object["status"] = status;
    }
    let marked_ready = Instant::now();
    let done = server.finished_build(&build, Duration::from_secs(60));
    let log = server.build_log(&build);
    assert_eq!(done["status"], "SUCCESS", "{done}\n{log}");
    assert_eq!(done["triggered_by"], "webhook");
    assert_eq!(done["commit_hash"], stack.commit.as_str());
    eprintln!(
        "push to SUCCESS: {:?} (SUCCESS {:?} after the pods were marked ready)",
        started.elapsed(),
        marked_ready.elapsed()
    );

    // The image is in the registry under the digest the build recorded.
    let image = done["image"].as_str().unwrap();
    let digest = done["image_digest"].as_str().unwrap();
    assert!(
        image.starts_with(&format!("{}/{name}:", stack.registry.host)),
        "{image}"
    );
    assert!(digest.starts_with("sha256:"), "{digest}");
    let inspect = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{image}"))
        .output()
        .expect("skopeo runs");
    assert!(inspect.status.success(), "{}", text(&inspect.stderr));
    let inspected: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(
        inspected["Digest"], digest,
        "the registry serves what was built"
    );

    // Server-side applies, in order: the Secrets (the deployment's, then its run-report
    // token's), the NetworkPolicy, then the Deployment (pinned by digest), then the Service;
    // nothing else is written.
    let apply = "fieldManager=pipedreamer&force=true";
    assert_eq!(
        stack.fake.writes(),
        [
            format!("PATCH /api/v1/namespaces/{NAMESPACE}/secrets/{name}-secrets?{apply}"),
            format!("PATCH /api/v1/namespaces/{NAMESPACE}/secrets/{name}-report?{apply}"),
            format!(
                "PATCH /apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies/{name}?{apply}"
            ),
            format!("PATCH {}?{apply}", deployments_path(name)),
            format!("PATCH /api/v1/namespaces/{NAMESPACE}/services/{name}?{apply}"),
        ]
    );
    let requests = stack.fake.requests();
    for patch in requests.iter().filter(|r| r.method == "PATCH") {
        assert_eq!(patch.content_type, "application/apply-patch+yaml");
    }
    // The pipeline's policy is the default one: ingress and egress by ports.
    let policy = requests
        .iter()
        .find(|r| r.method == "PATCH" && r.path.contains("/networkpolicies/"))
        .unwrap();
    assert_eq!(
        policy.body["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    let pod = &applied["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        format!("{image}@{digest}"),
        "the cluster pulls exactly the pushed digest"
    );
    let volumes = pod["volumes"].as_array().unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == format!("{name}-secrets")),
        "the pods mount the Secret: {volumes:?}"
    );
    let secret = requests
        .iter()
        .find(|r| r.method == "PATCH" && r.path.ends_with(&format!("/secrets/{name}-secrets")))
        .unwrap();
    assert_eq!(secret.body["kind"], "Secret");
    assert_eq!(secret.body["metadata"]["namespace"], NAMESPACE);
    let data = secret.body["data"].as_object().unwrap();
    assert_eq!(data.len(), 1, "one file per top-level key: {data:?}");
    let file: Value = serde_json::from_slice(&base64_decode(data["api"].as_str().unwrap()))
        .expect("the file is the JSON of its key");
    assert_eq!(file, json!({"key": SECRET_VALUE}));
    // The value travels only inside that Secret's data.
    for r in requests.iter().filter(|r| !std::ptr::eq(*r, secret)) {
        assert_no_secret(&r.body.to_string(), &r.line());
    }
    // The engine reports its runs with a token read from the mounted `<name>-report` Secret:
    // the token is in that Secret's data only, never in the Deployment (no env var).
    let report = requests
        .iter()
        .find(|r| r.method == "PATCH" && r.path.ends_with(&format!("/secrets/{name}-report")))
        .unwrap();
    let token = String::from_utf8(base64_decode(
        report.body["data"]["token"].as_str().unwrap(),
    ))
    .unwrap();
    assert!(token.len() > 20, "a real token: {token}");
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let at = args.iter().position(|a| *a == "--report-to").unwrap();
    assert_eq!(args[at + 1], report_url, "{args:?}");
    assert!(args.contains(&"--report-token-file") && args.contains(&"/app/report/token"));
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == format!("{name}-report")),
        "{volumes:?}"
    );
    for r in requests.iter().filter(|r| !std::ptr::eq(*r, report)) {
        assert!(!r.body.to_string().contains(&token), "{}", r.line());
    }
    assert!(!log.contains(&token) && !server.log().contains(&token));

    // Nothing the server shows or writes down contains the value.
    assert!(
        log.contains(&format!("Secret {name}-secrets applied")),
        "{log}"
    );
    assert_no_secret(&log, "the build log");
    let id = deployment["id"].as_str().unwrap();
    let live = server.get(&format!("/api/deployments/{id}"));
    assert_eq!(live["status"], "RUNNING", "{live}");
    assert_eq!(live["current_build_id"], build.as_str());
    for answer in [
        live,
        server.get(&format!("/api/deployments/{id}/secrets")),
        done,
    ] {
        assert_no_secret(&answer.to_string(), "an API answer");
    }
    assert_no_secret(&server.log(), "the server's own log");

    // Stop undeploys: the workflow's objects and its Secret are deleted, the records stay.
    stack.fake.clear_requests();
    let stopped = server.call_ok(
        reqwest::Method::POST,
        &format!("/api/deployments/{id}/stop"),
        Some(json!({})),
    );
    assert_eq!(stopped["status"], "STOPPED", "{stopped}");
    let deletes: Vec<String> = stack
        .fake
        .writes()
        .into_iter()
        .filter(|w| w.starts_with("DELETE"))
        .collect();
    for object in [
        format!("/api/v1/namespaces/{NAMESPACE}/services/{name}"),
        deployments_path(name),
        format!("/api/v1/namespaces/{NAMESPACE}/secrets/{name}-secrets"),
    ] {
        assert!(
            deletes.contains(&format!("DELETE {object}")),
            "{object} is deleted: {deletes:?}"
        );
        assert!(!stack.fake.has(&object), "{object} is gone");
    }
    assert_eq!(server.build(&build)["status"], "SUCCESS", "history stays");
}

#[test]
fn kubernetes_target_fails_the_build_with_the_rollout_reason_when_pods_never_become_ready() {
    let stack = Stack::start("10s");
    let server = &stack.server;
    let name = "hello-stuck";
    // The engine pod cannot pull its image: what the rollout wait must report.
    stack.fake.put(
        &format!("/api/v1/namespaces/{NAMESPACE}/pods/{name}-7d9f-abcde"),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{name}-7d9f-abcde"), "namespace": NAMESPACE,
                "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "pipedreamer"}},
            "spec": {"containers": [{"name": "engine"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "engine", "image": "x",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                    "message": "Back-off pulling image \"10.0.0.9:5000/hello-stuck\""}}}]}}),
    );
    let deployment = kube_deployment(server, name, &stack.repo, &stack.registry.host);
    let build = push(server, &deployment, &stack.commit);
    stack.applied_deployment(name, &build);
    let applied_at = Instant::now();

    let done = server.finished_build(&build, Duration::from_secs(90));
    let waited = applied_at.elapsed();
    let log = server.build_log(&build);
    assert_eq!(done["status"], "FAILED", "{done}\n{log}");
    let error = done["error_message"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!(
            "rollout of {name} did not become available within"
        )),
        "the error is the rollout's: {error}\n{log}"
    );
    assert!(
        error.contains(&format!("pod {name}-7d9f-abcde: ImagePullBackOff")),
        "the error names the reason: {error}"
    );
    assert!(
        waited >= Duration::from_secs(7),
        "the build waited for the configured 10 s rollout timeout, ended after {waited:?}"
    );
    assert!(log.contains("ImagePullBackOff"), "{log}");
    assert_no_secret(&log, "the build log");
    // No earlier version: the deployment is FAILED, not left DEPLOYING.
    let id = deployment["id"].as_str().unwrap();
    let d = server.get(&format!("/api/deployments/{id}"));
    assert_eq!(d["status"], "FAILED", "{d}");
    assert!(d["current_build_id"].is_null(), "{d}");
}

/// A deployment with a subdomain under the server's `routing.base_domain` is published through
/// an Ingress for `<subdomain>.<base_domain>` (the configured class, a cert-manager certificate
/// from the configured ClusterIssuer, only `/run` and `/hooks/`); its URL is `https://…`; without
/// the subdomain its next rollout prunes the Ingress.
#[test]
fn a_subdomain_publishes_the_deployment_through_an_ingress_and_its_removal_prunes_it() {
    // This machine has podman, so a server with a base domain routes local deployments through
    // Caddy too and needs one answering.
    let caddy = pipedreamer_proxy::test_support::TestCaddy::start();
    let stack = Stack::start_with(
        "2m",
        &format!(
            "routing:\n  base_domain: apps.example.test\n  tls: internal\n  https_port: {}\n  ingress_class: nginx\n  tls_issuer: letsencrypt-prod\ncaddy:\n  admin: {}\n",
            caddy.https_port,
            caddy.admin()
        ),
    );
    let server = &stack.server;
    let name = "hello-routed";
    let deployment = kube_deployment(server, name, &stack.repo, &stack.registry.host);
    let id = deployment["id"].as_str().unwrap();
    let routed = server.call_ok(
        reqwest::Method::PATCH,
        &format!("/api/deployments/{id}"),
        Some(json!({"subdomain": "orders"})),
    );
    assert_eq!(
        routed["url"], "https://orders.apps.example.test",
        "{routed}"
    );

    let build = push(server, &deployment, &stack.commit);
    stack.applied_deployment(name, &build);
    stack.mark_available(name);
    let done = server.finished_build(&build, Duration::from_secs(60));
    let log = server.build_log(&build);
    assert_eq!(done["status"], "SUCCESS", "{done}\n{log}");
    assert!(
        log.contains("public URL: https://orders.apps.example.test (Ingress)"),
        "{log}"
    );
    let ingress_path =
        format!("/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/{name}");
    let ingress = stack
        .fake
        .get(&ingress_path)
        .unwrap_or_else(|| panic!("the Ingress is applied: {:?}", stack.fake.writes()));
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx", "{ingress}");
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt-prod"
    );
    assert_eq!(
        ingress["spec"]["tls"],
        json!([{"hosts": ["orders.apps.example.test"], "secretName": format!("{name}-tls")}])
    );
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "orders.apps.example.test");
    let paths: Vec<(String, String)> = rule["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["backend"]["service"]["name"], name, "{p}");
            (
                p["path"].as_str().unwrap().to_owned(),
                p["pathType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("/run".to_owned(), "Exact".to_owned()),
            ("/hooks/".to_owned(), "Prefix".to_owned())
        ],
        "only the public entry points: /metrics, /healthz and /readyz stay private"
    );
    let live = server.get(&format!("/api/deployments/{id}"));
    assert_eq!(live["url"], "https://orders.apps.example.test");

    // The subdomain goes: the next rollout prunes the Ingress.
    let unrouted = server.call_ok(
        reqwest::Method::PATCH,
        &format!("/api/deployments/{id}"),
        Some(json!({"subdomain": null})),
    );
    assert_eq!(unrouted["url"], Value::Null, "{unrouted}");
    stack.fake.clear_requests();
    let again = server.call_ok(
        reqwest::Method::POST,
        &format!("/api/deployments/{id}/deploy"),
        None,
    )["build_id"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.applied_deployment(name, &again);
    stack.mark_available(name);
    let done = server.finished_build(&again, BUILD_LIMIT);
    assert_eq!(
        done["status"],
        "SUCCESS",
        "{done}\n{}",
        server.build_log(&again)
    );
    assert!(
        !stack.fake.has(&ingress_path),
        "the Ingress is pruned: {:?}",
        stack.fake.writes()
    );
    let log = server.build_log(&again);
    assert!(log.contains(&format!("pruned Ingress/{name}")), "{log}");
}
