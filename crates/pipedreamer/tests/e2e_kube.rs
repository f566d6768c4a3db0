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

#[test]
#[ignore = "needs a Kubernetes cluster: PIPEDREAMER_E2E_KUBE=1 cargo test -p pipedreamer --test e2e_kube -- --ignored"]
fn build_deploy_operate_undeploy_on_a_real_cluster() {
    assert!(
        std::env::var_os("PIPEDREAMER_E2E_KUBE").is_some(),
        "set PIPEDREAMER_E2E_KUBE=1 and point KUBECONFIG at a disposable cluster"
    );
    let cli = env!("CARGO_BIN_EXE_pipedreamer");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = repo.join("examples/hello");
    let ns = format!("pd-e2e-{}", std::process::id());
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("hello.tar");

    if std::env::var_os("PIPEDREAMER_E2E_FAKE_GVISOR").is_some() {
        let rc = work.path().join("rc.yaml");
        std::fs::write(&rc, "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: gvisor\nhandler: runc\n").unwrap();
        cmd("kubectl", &["apply", "-f", rc.to_str().unwrap()], &repo);
    }
    cmd(
        cli,
        &[
            "build",
            example.to_str().unwrap(),
            "--archive",
            archive.to_str().unwrap(),
        ],
        &repo,
    );
    let load =
        std::env::var("PIPEDREAMER_E2E_LOAD").unwrap_or_else(|_| "kind load image-archive".into());
    let mut load = load.split_whitespace();
    let program = load.next().unwrap();
    let mut args: Vec<&str> = load.collect();
    args.push(archive.to_str().unwrap());
    cmd(program, &args, &repo);

    cmd(cli, &["cluster", "check", "-n", &ns, "--fix"], &repo);
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
