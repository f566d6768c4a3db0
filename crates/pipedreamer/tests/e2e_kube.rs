//! End-to-end against a real cluster (kind or k3d): build → load → deploy --wait → status → run
//! → logs → undeploy. Opt-in, because CI has no cluster:
//!
//! ```sh
//! kind create cluster
//! PIPEDREAMER_E2E_KUBE=1 cargo test -p pipedreamer --test e2e_kube -- --ignored --nocapture
//! ```
//!
//! `PIPEDREAMER_E2E_LOAD` is the command that loads an image archive into the cluster (default
//! `kind load image-archive`; for k3d: `k3d image import`). Clusters without gVisor can run the
//! suite with `PIPEDREAMER_E2E_FAKE_GVISOR=1`, which creates a RuntimeClass named `gvisor` backed
//! by the `runc` handler: for testing only, it removes the gVisor layer.
//!
//! The Ingress case needs an ingress controller (e.g. kind with ingress-nginx).
//! `PIPEDREAMER_E2E_INGRESS_CLASS` names its IngressClass (default: the cluster's default), and
//! `PIPEDREAMER_E2E_INGRESS_ADDR` (`host:port` where the controller listens, e.g. `127.0.0.1:80`
//! with kind's port mapping) makes it also call the workflow through the controller with curl.

use std::path::Path;
use std::process::Command;

fn cmd(program: &str, args: &[&str], cwd: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Builds `examples/hello`, loads it into the cluster and prepares namespace `ns` (`--fix`).
fn build_and_load(cli: &str, repo: &Path, ns: &str) {
    assert!(
        std::env::var_os("PIPEDREAMER_E2E_KUBE").is_some(),
        "set PIPEDREAMER_E2E_KUBE=1 and point KUBECONFIG at a disposable cluster"
    );
    let example = repo.join("examples/hello");
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("hello.tar");

    if std::env::var_os("PIPEDREAMER_E2E_FAKE_GVISOR").is_some() {
        let rc = work.path().join("rc.yaml");
        std::fs::write(&rc, "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: gvisor\nhandler: runc\n").unwrap();
        cmd("kubectl", &["apply", "-f", rc.to_str().unwrap()], repo);
    }
    cmd(
        cli,
        &[
            "build",
            example.to_str().unwrap(),
            "--archive",
            archive.to_str().unwrap(),
        ],
        repo,
    );
    let load =
        std::env::var("PIPEDREAMER_E2E_LOAD").unwrap_or_else(|_| "kind load image-archive".into());
    let mut load = load.split_whitespace();
    let program = load.next().unwrap();
    let mut args: Vec<&str> = load.collect();
    args.push(archive.to_str().unwrap());
    cmd(program, &args, repo);
    cmd(cli, &["cluster", "check", "-n", ns, "--fix"], repo);
}

#[test]
#[ignore = "needs a Kubernetes cluster: PIPEDREAMER_E2E_KUBE=1 cargo test -p pipedreamer --test e2e_kube -- --ignored"]
fn build_deploy_operate_undeploy_on_a_real_cluster() {
    let cli = env!("CARGO_BIN_EXE_pipedreamer");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = repo.join("examples/hello");
    let ns = format!("pd-e2e-{}", std::process::id());
    build_and_load(cli, &repo, &ns);
    let ex = example.to_str().unwrap();
    cmd(
        cli,
        &["deploy", ex, "-n", &ns, "--wait", "--timeout", "3m"],
        &repo,
    );
    let status = cmd(
        cli,
        &["status", "hello", "-n", &ns, "--detail", "-o", "json"],
        &repo,
    );
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["status"], "Available", "{status:#}");
    let result = cmd(
        cli,
        &["run", "hello", "-n", &ns, "--data", "{\"name\": \"e2e\"}"],
        &repo,
    );
    let result: serde_json::Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["status"], "succeeded", "{result:#}");
    let logs = cmd(cli, &["logs", "hello", "-n", &ns, "--tail", "20"], &repo);
    assert!(logs.contains("run_id"), "{logs}");
    cmd(cli, &["undeploy", "hello", "-n", &ns, "--yes"], &repo);
    let list = cmd(cli, &["list", "-n", &ns, "-o", "json"], &repo);
    assert_eq!(list.trim(), "[]");
    cmd(
        "kubectl",
        &["delete", "namespace", &ns, "--wait=false"],
        &repo,
    );
}

#[test]
#[ignore = "needs a Kubernetes cluster with an ingress controller: PIPEDREAMER_E2E_KUBE=1 cargo test -p pipedreamer --test e2e_kube -- --ignored"]
fn deploy_with_a_host_routes_run_through_the_ingress_and_dropping_it_removes_the_route() {
    let cli = env!("CARGO_BIN_EXE_pipedreamer");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = repo.join("examples/hello");
    let ex = example.to_str().unwrap();
    let ns = format!("pd-e2e-ing-{}", std::process::id());
    let host = format!("hello.{ns}.e2e.test");
    build_and_load(cli, &repo, &ns);
    let class = std::env::var("PIPEDREAMER_E2E_INGRESS_CLASS").ok();
    let mut route = vec!["--host", host.as_str()];
    if let Some(class) = &class {
        route.extend(["--ingress-class", class.as_str()]);
    }
    let mut check = vec!["cluster", "check", "-n", ns.as_str()];
    check.extend(&route[2..]);
    let report = cmd(cli, &check, &repo);
    assert!(report.contains("IngressClass"), "{report}");
    let mut deploy = vec!["deploy", ex, "-n", ns.as_str(), "--wait", "--timeout", "3m"];
    deploy.extend(&route);
    let applied = cmd(cli, &deploy, &repo);
    assert!(applied.contains("Ingress/hello applied"), "{applied}");

    // The API server accepted it as written, and status reads the URL back from it.
    let ingress = cmd(
        "kubectl",
        &["get", "ingress", "hello", "-n", &ns, "-o", "json"],
        &repo,
    );
    let ingress: serde_json::Value = serde_json::from_str(&ingress).unwrap();
    assert_eq!(ingress["spec"]["rules"][0]["host"], host.as_str());
    let status = cmd(cli, &["status", "hello", "-n", &ns, "-o", "json"], &repo);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["url"], format!("http://{host}"));

    if let Ok(addr) = std::env::var("PIPEDREAMER_E2E_INGRESS_ADDR") {
        let (ip, port) = addr
            .rsplit_once(':')
            .expect("PIPEDREAMER_E2E_INGRESS_ADDR is host:port");
        let resolve = format!("{host}:{port}:{ip}");
        let run_url = format!("http://{host}:{port}/run");
        // The controller needs a moment to pick up a new Ingress: retry for up to a minute.
        let answer = cmd(
            "curl",
            &[
                "--silent",
                "--show-error",
                "--fail",
                "--max-time",
                "10",
                "--retry",
                "12",
                "--retry-delay",
                "5",
                "--retry-all-errors",
                "--resolve",
                &resolve,
                "-H",
                "content-type: application/json",
                "--data",
                "{\"name\": \"ingress\"}",
                &run_url,
            ],
            &repo,
        );
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["status"], "succeeded", "{answer:#}");
        // Not routed: the metrics stay inside the cluster.
        let metrics_url = format!("http://{host}:{port}/metrics");
        let code = cmd(
            "curl",
            &[
                "--silent",
                "--output",
                "/dev/null",
                "--write-out",
                "%{http_code}",
                "--max-time",
                "10",
                "--resolve",
                &resolve,
                &metrics_url,
            ],
            &repo,
        );
        assert_eq!(code, "404", "/metrics must not be public");
    }

    // Deploying without the host removes the route.
    let pruned = cmd(cli, &["deploy", ex, "-n", &ns, "--skip-checks"], &repo);
    assert!(
        pruned.contains("Ingress/hello deleted (its host is gone)"),
        "{pruned}"
    );
    let gone = Command::new("kubectl")
        .args(["get", "ingress", "hello", "-n", &ns])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "the Ingress is still there");
    cmd(cli, &["undeploy", "hello", "-n", &ns, "--yes"], &repo);
    cmd(
        "kubectl",
        &["delete", "namespace", &ns, "--wait=false"],
        &repo,
    );
}
