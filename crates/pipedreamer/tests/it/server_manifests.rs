//! `pipedreamer server manifests` and `pipedreamer server image`: the control plane's objects
//! judged by the official schemas (`kubernetes-validate --strict`), its config Secret read back
//! by the real server, the kustomize base, flag errors; the image inspected with skopeo and
//! umoci and run by podman (read-only root, as in the manifests) until `/readyz` answers.

use crate::{pipedreamer, repo_root, text};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The Kubernetes version manifests are validated against (as in `deploy.rs`).
const K8S_VERSION: &str = "1.37.0";
const PASSWORD: &str = "pw-3c7a91e2";

fn validate(files: &[PathBuf]) -> (bool, String) {
    let judge = std::env::var_os("KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/kubernetes-validate"));
    assert!(
        judge.exists(),
        "{} is missing: run ./scripts/test.sh, which installs kubernetes-validate into .venv",
        judge.display()
    );
    let out = Command::new(judge)
        .args(["--strict", "-k", K8S_VERSION])
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn run(args: &[&str], cwd: &Path) -> Output {
    let mut all = vec!["server"];
    all.extend_from_slice(args);
    pipedreamer(&all, cwd)
}

fn ok(args: &[&str], cwd: &Path) -> (String, String) {
    let out = run(args, cwd);
    assert!(
        out.status.success(),
        "server {args:?} failed: {}",
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

fn postgres_url() -> String {
    format!("postgres://pipedreamer:{PASSWORD}@postgres.db.svc:5432/pipedreamer")
}

fn items(json: &str) -> Vec<Value> {
    let list: Value = serde_json::from_str(json).unwrap();
    assert_eq!(list["kind"], "List");
    list["items"].as_array().unwrap().clone()
}

fn config_of(items: &[Value]) -> String {
    let secret = items.iter().find(|o| o["kind"] == "Secret").unwrap();
    secret["stringData"]["config.yaml"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn sqlite_and_postgres_manifests_pass_strict_schema_validation() {
    let d = tempfile::tempdir().unwrap();
    let (sqlite, _) = ok(
        &[
            "manifests",
            "--host",
            "pipedreamer.example.com",
            "--ingress-class",
            "nginx",
            "--tls-issuer",
            "letsencrypt-prod",
            "--workspace-namespace",
            "team-a",
            "--image",
            "registry.example.com/pipedreamer:0.1.0",
        ],
        d.path(),
    );
    let (postgres, _) = ok(
        &[
            "manifests",
            "--database",
            &postgres_url(),
            "--replicas",
            "3",
            "--namespace",
            "control",
            "--workspace-namespace",
            "team-a",
            "--workspace-namespace",
            "team-b",
        ],
        d.path(),
    );
    assert!(sqlite.contains("kind: PersistentVolumeClaim") && sqlite.contains("kind: Ingress"));
    assert!(
        !postgres.contains("kind: PersistentVolumeClaim") && !postgres.contains("kind: Ingress")
    );
    let files = [("sqlite.yaml", &sqlite), ("postgres.yaml", &postgres)].map(|(name, yaml)| {
        let path = d.path().join(name);
        std::fs::write(&path, yaml).unwrap();
        path
    });
    let (valid, report) = validate(&files);
    assert!(valid, "{report}");
}

#[test]
fn json_is_a_list_and_secrets_appear_only_in_the_secret() {
    let d = tempfile::tempdir().unwrap();
    let (json, stderr) = ok(
        &["manifests", "--database", &postgres_url(), "-o", "json"],
        d.path(),
    );
    let items = items(&json);
    let kinds: Vec<_> = items.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "Secret",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service"
        ]
    );
    let deployment = items.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    // The generated JWT secret and the password are in the Secret's config file...
    let config = config_of(&items);
    let jwt = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("jwt_secret: "))
        .expect("a generated jwt_secret")
        .trim_matches('"')
        .to_owned();
    assert_eq!(jwt.len(), 64, "{config}");
    assert!(config.contains(PASSWORD), "{config}");
    // ...and nowhere else: not in another object, not on stderr.
    for object in items.iter().filter(|o| o["kind"] != "Secret") {
        let text = object.to_string();
        assert!(!text.contains(PASSWORD) && !text.contains(&jwt), "{text}");
    }
    assert!(
        !stderr.contains(PASSWORD) && !stderr.contains(&jwt),
        "{stderr}"
    );
    assert!(
        stderr.contains("generated a new auth.jwt_secret"),
        "{stderr}"
    );

    // With the server's own variable set, that secret is used (and no new one announced).
    let out = Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
        .args(["server", "manifests", "-o", "json", "--database"])
        .arg(postgres_url())
        .env("PIPEDREAMER_SERVER_AUTH__JWT_SECRET", "k".repeat(40))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(config_of(&items_of(&out)).contains(&"k".repeat(40)));
    assert!(
        !text(&out.stderr).contains("generated"),
        "{}",
        text(&out.stderr)
    );
}

fn items_of(out: &Output) -> Vec<Value> {
    items(&text(&out.stdout))
}

/// Contract between `server manifests` and the server: the config file it puts in the Secret
/// is one `pipedreamer server --config` accepts, with the values the Deployment relies on.
#[test]
fn the_secret_holds_a_config_file_the_server_accepts() {
    let d = tempfile::tempdir().unwrap();
    for extra in [
        vec!["--host", "pipedreamer.example.com", "--tls-issuer", "le"],
        vec!["--database", "postgres://u:pw@db.example:5432/pd"],
    ] {
        let mut args = vec!["manifests", "-o", "json"];
        args.extend(extra.iter().copied());
        let (json, _) = ok(&args, d.path());
        let file = d.path().join("config.yaml");
        std::fs::write(&file, config_of(&items(&json))).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
            .args(["server", "--config"])
            .arg(&file)
            .arg("--print-config")
            .env_remove("PIPEDREAMER_DATABASE_URL")
            .env_remove("PIPEDREAMER_SERVER_AUTH__JWT_SECRET")
            .output()
            .unwrap();
        let printed = text(&out.stdout);
        assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
        assert!(
            printed.contains("data_dir: \"/var/lib/pipedreamer\""),
            "{printed}"
        );
        assert!(printed.contains("host: \"0.0.0.0\""), "{printed}");
        assert!(printed.contains("port: 7070"), "{printed}");
        if extra[0] == "--host" {
            assert!(
                printed.contains("public_url: \"https://pipedreamer.example.com\""),
                "{printed}"
            );
        } else {
            assert!(
                printed.contains("database: \"postgres://u:***@db.example"),
                "{printed}"
            );
            assert!(printed.contains("jwt_secret: \"***\""), "{printed}");
        }
    }
}

#[test]
fn output_dir_writes_a_kustomize_base_with_a_private_secret_file() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("base");
    let (stdout, _) = ok(
        &[
            "manifests",
            "--database",
            &postgres_url(),
            "--workspace-namespace",
            "team-a",
            "--output-dir",
            dir.to_str().unwrap(),
        ],
        d.path(),
    );
    let written: Vec<PathBuf> = stdout.lines().map(PathBuf::from).collect();
    assert_eq!(written[0], dir.join("kustomization.yaml"));
    // Namespace, ServiceAccount, Secret, 2 Roles, 2 RoleBindings, Deployment, Service.
    assert_eq!(written.len(), 1 + 9, "{stdout}");
    for path in &written {
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let holds = std::fs::read_to_string(path).unwrap().contains(PASSWORD);
        let is_secret = path.ends_with("pipedreamer-secret-pipedreamer-config.yaml");
        assert_eq!(holds, is_secret, "{}", path.display());
        assert_eq!(
            mode,
            if is_secret { 0o600 } else { 0o644 },
            "{}",
            path.display()
        );
    }
    let (valid, report) = validate(&written[1..]);
    assert!(valid, "{report}");
    // The Roles of two namespaces must not collide in file names or be moved by kustomize.
    assert!(dir.join("team-a-role-pipedreamer-server.yaml").is_file());
    if let Ok(out) = Command::new("kubectl").arg("kustomize").arg(&dir).output() {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let rendered = text(&out.stdout);
        assert_eq!(rendered.matches("\nkind: Role\n").count(), 2, "{rendered}");
        assert!(rendered.contains("namespace: team-a"), "{rendered}");
    }
}

#[test]
fn bad_flags_are_refused_with_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    let fails = |args: &[&str], expected: &str| {
        let out = run(args, d.path());
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} passed");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed manifests");
        stderr
    };
    fails(
        &["manifests", "--replicas", "2"],
        "--replicas 2 needs PostgreSQL",
    );
    fails(
        &["manifests", "--database", "mysql://u:p@h/db"],
        "--database must be a `postgres://` URL",
    );
    let leaked = fails(
        &["manifests", "--database", "mysql://u:secretpw@h/db"],
        "--database",
    );
    assert!(!leaked.contains("secretpw"), "{leaked}");
    fails(
        &["manifests", "--tls-issuer", "le"],
        "--tls-issuer needs --host",
    );
    fails(
        &["manifests", "--host", "https://x.example.com"],
        "--host \"https://x.example.com\" is not a valid host name",
    );
    fails(
        &["manifests", "--workspace-namespace", "Team_A"],
        "--workspace-namespace \"Team_A\" is not a valid namespace name",
    );
    fails(
        &["manifests", "--port", "8080"],
        "--port configures a server on this machine",
    );
    fails(
        &["manifests", "-o", "json", "--output-dir", "x"],
        "cannot be used with",
    );
    fails(
        &["image"],
        "the following required arguments were not provided",
    );
    fails(&["image", "--push"], "`--push` needs a registry");
}

/// Adding subcommands kept `pipedreamer server --port …` the server's own flags.
#[test]
fn server_flags_still_configure_the_server() {
    let d = tempfile::tempdir().unwrap();
    let (printed, _) = ok(
        &[
            "--port",
            "7777",
            "--data-dir",
            d.path().to_str().unwrap(),
            "--print-config",
        ],
        d.path(),
    );
    assert!(printed.contains("port: 7777"), "{printed}");
}

/// Removes the container (and, with it, the test's podman store) at the end.
struct Podman {
    store: tempfile::TempDir,
    name: String,
}

impl Podman {
    fn run(&self, args: &[&str]) -> (bool, String) {
        let store = self.store.path();
        let out = Command::new("podman")
            .arg(format!("--root={}", store.join("root").display()))
            .arg(format!("--runroot={}", store.join("run").display()))
            .args(args)
            .output()
            .expect("run podman");
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-f", "-t", "0", &self.name]);
    }
}

#[test]
fn the_server_image_holds_two_static_binaries_and_serves_under_podman_as_nonroot() {
    let d = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let layout = d.path().join("oci");
    let archive = d.path().join("server.tar");
    let (stdout, _) = ok(
        &[
            "image",
            "--tag",
            "pd-server-test:it",
            "--oci-layout",
            layout.to_str().unwrap(),
            "--archive",
            archive.to_str().unwrap(),
        ],
        d.path(),
    );
    assert!(stdout.starts_with("pd-server-test:it@sha256:"), "{stdout}");

    // The config, as a registry client reads it.
    let image = format!("oci:{}:it", layout.display());
    let out = Command::new("skopeo")
        .args(["inspect", "--config", &image])
        .output()
        .expect("run skopeo");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/pipedreamer", "server"])
    );
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);

    // The files, as umoci unpacks them: the two binaries and the base files, nothing else.
    let rootfs = d.path().join("rootfs");
    let out = Command::new("umoci")
        .args(["raw", "unpack", "--rootless", "--image"])
        .arg(format!("{}:it", layout.display()))
        .arg(&rootfs)
        .output()
        .expect("run umoci");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut files = Vec::new();
    let mut stack = vec![rootfs.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(&rootfs).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    assert_eq!(
        files,
        [
            "etc/group",
            "etc/passwd",
            "etc/ssl/certs/ca-certificates.crt",
            "usr/local/bin/pipedreamer",
            "usr/local/bin/pipedreamer-engine",
        ]
    );
    for binary in [
        "usr/local/bin/pipedreamer",
        "usr/local/bin/pipedreamer-engine",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(rootfs.join(binary))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{binary}");
    }

    // Run as the manifests do: read-only root, writable data dir and /tmp, non-root.
    let podman = Podman {
        // Under /tmp: podman refuses a runroot path longer than 50 characters.
        store: tempfile::tempdir().unwrap(),
        name: format!("pd-server-{}", std::process::id()),
    };
    let (loaded, log) = podman.run(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded, "podman load: {log}");
    let port = crate::server_support::free_port().to_string();
    let (started, log) = podman.run(&[
        "--runtime",
        "runc",
        "run",
        "-d",
        "--name",
        &podman.name,
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/var/lib/pipedreamer:rw,mode=1777",
        "--tmpfs",
        "/tmp:rw,mode=1777",
        "pd-server-test:it",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    assert!(started, "podman run: {log}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = Command::new("curl")
            .args(["-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("http://127.0.0.1:{port}/readyz"))
            .output()
            .unwrap();
        if text(&r.stdout) == "200" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never answered /readyz with 200: {}",
            podman.run(&["logs", &podman.name]).1
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Contract with the manifests' Ingress: every path it routes is one this server serves.
    let curl = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-m", "5", "-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .unwrap();
        let body = text(&out.stdout);
        let (body, code) = body.rsplit_once('\n').unwrap();
        (code.to_owned(), body.to_owned())
    };
    let (_, signin) = curl("/signin");
    let asset = signin
        .split(['"', '\''])
        .find(|s| s.starts_with("/assets/"))
        .unwrap_or_else(|| panic!("no /assets/ URL on the sign-in page: {signin}"))
        .to_owned();
    for (path, kind) in pipedreamer_kube::control_plane::ROUTED_PATHS {
        let probe = match (*path, *kind) {
            (p, "Exact") => p.to_owned(),
            ("/api", _) => "/api/openapi.json".to_owned(),
            ("/assets", _) => asset.clone(),
            (p, _) => format!("{p}/x"),
        };
        let (code, _) = curl(&probe);
        assert!(
            code != "404" && code != "000",
            "{probe} (routed as {path} {kind}): {code}"
        );
    }
    let (_, pid) = podman.run(&["inspect", "-f", "{{.State.Pid}}", &podman.name]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65532"),
        "{uid}"
    );
}

/// `(group, resource, verb, namespace)` of a request to a namespaced resource, as RBAC sees
/// it; `None` for discovery and other non-resource paths (allowed to every authenticated user
/// by the `system:discovery` ClusterRole).
fn rbac_request(method: &str, path: &str, query: &str) -> Option<(String, String, String, String)> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", "namespaces", rest @ ..] => ("", rest),
        ["apis", group, _version, "namespaces", rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (namespace, resource, named) = match rest {
        [ns, resource] => (*ns, resource.to_string(), false),
        [ns, resource, _name] => (*ns, resource.to_string(), true),
        [ns, resource, _name, sub] => (*ns, format!("{resource}/{sub}"), true),
        _ => panic!("unexpected API path {path}"),
    };
    let verb = match (method, named) {
        ("GET", _) if query.contains("watch=true") => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => panic!("unexpected method {method} {path}"),
    };
    Some((
        group.to_owned(),
        resource,
        verb.to_owned(),
        namespace.to_owned(),
    ))
}

/// Contract test between the Role `server manifests` grants and what the server does: the real
/// server deploys a `kubernetes` deployment (Secret, Deployment, Service, Ingress, a rollout that
/// waits and diagnoses), then stops it (undeploy, route pruning) against the fake API server, and
/// every request it made must be allowed by `control_plane::SERVER_PERMISSIONS` in the
/// workspace namespace. A new API call in the pipeline without its verb in the Role fails here
/// instead of with a 403 in a cluster.
#[test]
fn the_role_allows_every_request_the_server_makes_for_a_kubernetes_deployment() {
    use crate::server_support::{ServerSetup, hello_repo, wait_for};
    use pipedreamer_kube::control_plane::SERVER_PERMISSIONS;
    use serde_json::json;
    const NS: &str = "team-a";
    let root = tempfile::tempdir().unwrap();
    let fake = crate::fake_kube::FakeKube::start();
    // No controllers run in the fake: the rollout waits (and diagnoses) until the test marks it.
    fake.state.lock().unwrap().deployment_status = Some(json!({"replicas": 1,
        "updatedReplicas": 1, "unavailableReplicas": 1,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}));
    let registry = crate::server_support::Registry::start(root.path());
    let registry = &registry.host;
    let config = root.path().join("server.yml");
    // A base domain publishes the deployment through an Ingress (the routing verbs); with
    // podman on this machine the server also needs a Caddy answering for local deployments.
    let caddy = pipedreamer_proxy::test_support::TestCaddy::start();
    std::fs::write(
        &config,
        format!(
            "builds:\n  concurrency: 1\n  timeouts:\n    rollout: 2m\nrouting:\n  base_domain: apps.example.test\n  tls: internal\n  https_port: {}\n  ingress_class: nginx\ncaddy:\n  admin: {}\n",
            caddy.https_port,
            caddy.admin()
        ),
    )
    .unwrap();
    let server = ServerSetup::new(&root.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("KUBECONFIG", &fake.kubeconfig)
        .env("HOME", root.path())
        .env("XDG_CACHE_HOME", root.path().join("cache"))
        .start();
    let (repo, commit) = hello_repo(root.path(), "flows/hello");
    server.call_ok(
        reqwest::Method::POST,
        "/api/workspaces",
        Some(json!({"name": NS})),
    );
    let deployment = server.call_ok(
        reqwest::Method::POST,
        &format!("/api/workspaces/{NS}/deployments"),
        Some(json!({
            "name": "hello-rbac",
            "repo": format!("file://{}", repo.display()),
            "branch": "main",
            "path": "flows/hello",
            "target": {"type": "kubernetes", "namespace": NS, "registry": registry},
        })),
    );
    let id = deployment["id"].as_str().unwrap().to_owned();
    server.call_ok(
        reqwest::Method::PUT,
        &format!("/api/deployments/{id}/secrets"),
        Some(json!({"api": {"key": "value"}})),
    );
    server.call_ok(
        reqwest::Method::PATCH,
        &format!("/api/deployments/{id}"),
        Some(json!({"subdomain": "rbac"})),
    );
    let build = server.push(&deployment, &commit, "v1", "delivery-rbac");
    // The rollout waits and lists pods and events to say why; then the pods become ready.
    let path = format!("/apis/apps/v1/namespaces/{NS}/deployments/hello-rbac");
    wait_for(
        "the rollout to look at the pods",
        Duration::from_secs(300),
        || {
            let b = server.build(&build);
            assert!(
                matches!(b["status"].as_str(), Some("PENDING" | "BUILDING")),
                "the build ended before its rollout: {b}\n{}",
                server.build_log(&build)
            );
            fake.requests()
                .iter()
                .any(|r| r.method == "GET" && r.path.ends_with("/pods"))
                .then_some(())
        },
    );
    {
        let mut state = fake.state.lock().unwrap();
        let object = state.objects.get_mut(&path).unwrap();
        object["status"] = json!({"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
            "availableReplicas": 1, "observedGeneration": object["metadata"]["generation"],
            "conditions": [{"type": "Available", "status": "True"}]});
    }
    let done = server.finished_build(&build, Duration::from_secs(60));
    assert_eq!(done["status"], "SUCCESS", "{}", server.build_log(&build));
    let stopped = server.call_ok(
        reqwest::Method::POST,
        &format!("/api/deployments/{id}/stop"),
        None,
    );
    assert_eq!(stopped["status"], "STOPPED", "{stopped}");

    let allowed = |group: &str, resource: &str, verb: &str| {
        SERVER_PERMISSIONS
            .iter()
            .any(|(g, r, verbs)| *g == group && *r == resource && verbs.contains(&verb))
    };
    let mut used = std::collections::BTreeSet::new();
    for r in fake.requests() {
        let Some((group, resource, verb, namespace)) = rbac_request(&r.method, &r.path, &r.query)
        else {
            continue;
        };
        assert_eq!(namespace, NS, "{}", r.line());
        assert!(
            allowed(&group, &resource, &verb),
            "the server's Role does not allow `{verb}` on `{resource}` (group {group:?}), which the server did: {}\nadd it to control_plane::SERVER_PERMISSIONS",
            r.line()
        );
        used.insert(format!("{verb} {resource}"));
    }
    // Not vacuous: the deploy, the rollout's diagnosis and the undeploy all reached the fake.
    for expected in [
        "patch secrets",
        "patch deployments",
        "get deployments",
        "list pods",
        "list events",
        "patch services",
        "patch ingresses",
        "delete deployments",
        "delete services",
        "delete ingresses",
    ] {
        assert!(used.contains(expected), "{expected} not seen: {used:?}");
    }
    eprintln!("requests the Role covered: {used:?}");
}
