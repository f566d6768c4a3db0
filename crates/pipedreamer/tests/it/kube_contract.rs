//! API-contract tests for the Kubernetes commands: the real CLI binary against [`FakeKube`], an
//! in-process HTTP server speaking the API paths the CLI uses. They pin the verbs, paths, patch
//! type, field manager, label selectors, 404 handling, 403 reporting and timeouts. They do not
//! prove that a real cluster schedules anything; the opt-in e2e suite (`PIPEDREAMER_E2E_KUBE`) does.

use crate::fake_kube::{FakeKube, kubeconfig_for};
use crate::{text, write};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/prod/deployments";
const SERVICES: &str = "/api/v1/namespaces/prod/services";
const CRONJOBS: &str = "/apis/batch/v1/namespaces/prod/cronjobs";
const PODS: &str = "/api/v1/namespaces/prod/pods";
const SECRETS: &str = "/api/v1/namespaces/prod/secrets";
const NETWORK_POLICIES: &str = "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies";

/// The CLI with `kubeconfig` and a private HOME, no stdin.
fn cli_command(kubeconfig: &Path, args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipedreamer"));
    command
        .args(args)
        .current_dir(cwd)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", cwd)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

fn cli(kubeconfig: &Path, args: &[&str], cwd: &Path) -> Output {
    cli_command(kubeconfig, args, cwd)
        .output()
        .expect("run pipedreamer")
}

fn workflow(dir: &Path, crons: usize) {
    let mut triggers = String::new();
    for i in 0..crons {
        triggers.push_str(&format!(
            "  - type: cron\n    name: t{i}\n    schedule: \"0 {i} * * *\"\n"
        ));
    }
    let triggers = if crons == 0 {
        " []\n".to_owned()
    } else {
        format!("\n{triggers}")
    };
    write(
        dir,
        &[
            (
                "workflow.yaml",
                &format!(
                    "name: digest\nversion: \"1.0\"\nnodes:\n  - id: a\n    file: a.js\ntriggers:{triggers}"
                ),
            ),
            (
                "a.js",
                "export default async function run(ctx, input) { return input; }\n",
            ),
        ],
    );
}

fn available() -> serde_json::Value {
    json!({"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "True"}]})
}

#[test]
fn deploy_preflights_then_server_side_applies_and_prunes_removed_cron_jobs() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), 2);
    let out = cli(
        &fake.kubeconfig,
        &["deploy", ".", "-r", "localhost:30500"],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = fake.requests();
    // Preflight first: reachability, namespace, RuntimeClass, Secret, then one review per action.
    let reads: Vec<String> = requests.iter().take(4).map(|r| r.line()).collect();
    assert_eq!(
        reads,
        [
            "GET /version",
            "GET /api/v1/namespaces/prod",
            "GET /apis/node.k8s.io/v1/runtimeclasses/gvisor",
            "GET /api/v1/namespaces/prod/secrets/digest-secrets",
        ]
    );
    let reviews = requests
        .iter()
        .filter(|r| r.path.ends_with("selfsubjectaccessreviews"))
        .count();
    assert_eq!(reviews, 33, "one review per verb the CLI uses");
    let apply = "fieldManager=pipedreamer&force=true";
    assert_eq!(
        fake.writes(),
        [
            // The policy before the pods it confines.
            format!("PATCH {NETWORK_POLICIES}/digest?{apply}"),
            format!("PATCH {DEPLOYMENTS}/digest?{apply}"),
            format!("PATCH {SERVICES}/digest?{apply}"),
            format!("PATCH {CRONJOBS}/digest-cron-0?{apply}"),
            format!("PATCH {CRONJOBS}/digest-cron-1?{apply}"),
        ]
    );
    for patch in requests.iter().filter(|r| r.method == "PATCH") {
        assert_eq!(patch.content_type, "application/apply-patch+yaml");
    }
    let list = requests
        .iter()
        .find(|r| r.method == "GET" && r.path == CRONJOBS)
        .unwrap();
    assert!(
        list.query.contains("labelSelector=app.kubernetes.io%2Fname%3Ddigest%2Capp.kubernetes.io%2Fmanaged-by%3Dpipedreamer%2Capp.kubernetes.io%2Fcomponent%3Dcron"),
        "{}",
        list.query
    );
    assert_eq!(
        text(&out.stdout),
        "NetworkPolicy/digest applied\nDeployment/digest applied\nService/digest applied\nCronJob/digest-cron-0 applied\nCronJob/digest-cron-1 applied\n"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: Secret \"digest-secrets\" not found")
            && stderr.contains("hint: Create it with one file per top-level key"),
        "preflight warnings are shown: {stderr}"
    );

    // Idempotent: the same objects again, no deletes.
    fake.clear_requests();
    let again = cli(
        &fake.kubeconfig,
        &["deploy", ".", "-r", "localhost:30500"],
        d.path(),
    );
    assert!(again.status.success());
    assert!(
        fake.writes().iter().all(|w| w.starts_with("PATCH")),
        "{:?}",
        fake.writes()
    );

    // One trigger left: its CronJob is `digest-cron`, the two old ones are pruned by label.
    workflow(d.path(), 1);
    fake.clear_requests();
    let out = cli(
        &fake.kubeconfig,
        &["deploy", ".", "-r", "localhost:30500", "--skip-checks"],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fake.writes(),
        [
            // The policy before the pods it confines.
            format!("PATCH {NETWORK_POLICIES}/digest?{apply}"),
            format!("PATCH {DEPLOYMENTS}/digest?{apply}"),
            format!("PATCH {SERVICES}/digest?{apply}"),
            format!("PATCH {CRONJOBS}/digest-cron?{apply}"),
            format!("DELETE {CRONJOBS}/digest-cron-0"),
            format!("DELETE {CRONJOBS}/digest-cron-1"),
        ]
    );
    assert!(text(&out.stdout).contains("CronJob/digest-cron-0 deleted (its trigger is gone)"));
}

#[test]
fn preflight_reports_forbidden_actions_and_a_missing_runtime_class_and_deploy_aborts() {
    let fake = FakeKube::start();
    fake.remove("/apis/node.k8s.io/v1/runtimeclasses/gvisor");
    fake.state.lock().unwrap().denied = vec!["delete secrets".into(), "get pods/log".into()];
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), 0);
    let out = cli(&fake.kubeconfig, &["cluster", "check"], d.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    insta::assert_snapshot!(text(&out.stdout).replace(&fake_server(&fake), "SERVER"));

    let json = cli(
        &fake.kubeconfig,
        &["cluster", "check", "-o", "json"],
        d.path(),
    );
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ready"], false);
    assert_eq!(report["namespace"], "prod");

    fake.clear_requests();
    let out = cli(&fake.kubeconfig, &["deploy", "."], d.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not deploying: the preflight failed"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        fake.writes().is_empty(),
        "nothing applied: {:?}",
        fake.writes()
    );
}

fn fake_server(fake: &FakeKube) -> String {
    let config = std::fs::read_to_string(&fake.kubeconfig).unwrap();
    config
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_owned()
}

#[test]
fn cluster_check_fix_creates_the_namespace_and_a_least_privilege_role() {
    let fake = FakeKube::start();
    fake.remove("/api/v1/namespaces/prod");
    fake.state.lock().unwrap().denied = vec!["create pods".into()];
    let d = tempfile::tempdir().unwrap();
    let out = cli(&fake.kubeconfig, &["cluster", "check", "--fix"], d.path());
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        fake.writes(),
        [
            "POST /api/v1/namespaces",
            "PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/prod/roles/pipedreamer-deployer?fieldManager=pipedreamer&force=true",
            "PATCH /api/v1/namespaces/prod/serviceaccounts/pipedreamer-deployer?fieldManager=pipedreamer&force=true",
            "PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/prod/rolebindings/pipedreamer-deployer?fieldManager=pipedreamer&force=true",
        ]
    );
    let role = fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("roles/pipedreamer-deployer"))
        .unwrap();
    let rules = role.body["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .all(|r| r["verbs"].as_array().unwrap().iter().all(|v| v != "*")),
        "least privilege: {rules:?}"
    );
    for (group, resource) in [
        ("networking.k8s.io", "ingresses"),
        ("gateway.networking.k8s.io", "httproutes"),
    ] {
        assert!(
            rules.iter().any(|r| r["apiGroups"] == json!([group])
                && r["resources"] == json!([resource])
                && r["verbs"] == json!(["get", "list", "patch", "delete"])),
            "{resource}: {rules:?}"
        );
    }
    assert!(text(&out.stdout).contains("✓ Namespace \"prod\" created"));
}

#[test]
fn undeploy_deletes_by_name_and_label_and_skips_missing_objects() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), 2);
    assert!(
        cli(
            &fake.kubeconfig,
            &["deploy", ".", "--skip-checks"],
            d.path()
        )
        .status
        .success()
    );
    fake.clear_requests();

    let refused = cli(&fake.kubeconfig, &["undeploy", "digest"], d.path());
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("pass --yes"),
        "{}",
        text(&refused.stderr)
    );
    assert!(fake.writes().is_empty());

    let out = cli(&fake.kubeconfig, &["undeploy", "digest", "--yes"], d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fake.writes(),
        [
            format!("DELETE {SERVICES}/digest"),
            format!("DELETE {DEPLOYMENTS}/digest"),
            format!("DELETE {SECRETS}/digest-secrets"),
            // The run-report token's Secret (deployments of `pipedreamer server`).
            format!("DELETE {SECRETS}/digest-report"),
            format!("DELETE {CRONJOBS}/digest-cron-0"),
            format!("DELETE {CRONJOBS}/digest-cron-1"),
            // The policy last, found by label; no Cilium here, so no CiliumNetworkPolicy to find.
            format!("DELETE {NETWORK_POLICIES}/digest"),
        ]
    );
    // The Secret never existed: its 404 is skipped silently.
    assert_eq!(
        text(&out.stdout),
        "Service/digest deleted\nDeployment/digest deleted\nCronJob/digest-cron-0 deleted\nCronJob/digest-cron-1 deleted\nNetworkPolicy/digest deleted\n"
    );
    assert!(!fake.has(&format!("{DEPLOYMENTS}/digest")));
    let twice = cli(&fake.kubeconfig, &["undeploy", "digest", "--yes"], d.path());
    assert!(twice.status.success());
    assert!(text(&twice.stderr).contains("nothing to delete"));
}

fn deployed(fake: &FakeKube, d: &Path) {
    workflow(d, 1);
    fake.state.lock().unwrap().deployment_status = Some(available());
    let out = cli(&fake.kubeconfig, &["deploy", ".", "--skip-checks"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fake.clear_requests();
}

#[test]
fn run_posts_through_a_temporary_curl_pod_and_always_deletes_it() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    deployed(&fake, d.path());
    let out = cli(
        &fake.kubeconfig,
        &["run", "digest", "--data", "{\"user\": \"ada\"}"],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["status"], "succeeded");
    assert_eq!(
        result["output"],
        json!({"user": "ada"}),
        "the payload reached the workflow"
    );
    assert_eq!(
        fake.writes(),
        [
            format!("POST {PODS}"),
            format!("DELETE {PODS}/digest-run-x7k2q")
        ]
    );
    let created = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    let labels = &created.body["metadata"]["labels"];
    assert!(
        labels.get("app.kubernetes.io/name").is_none(),
        "the Service must not select run pods"
    );
    assert_eq!(created.body["metadata"]["generateName"], "digest-run-");
    let args = created.body["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap();
    assert!(args.contains(&json!("http://digest.prod.svc.cluster.local:8080/run")));
    assert_eq!(
        created.body["spec"]["containers"][0]["securityContext"]["runAsNonRoot"],
        true
    );
    assert!(text(&out.stderr).contains("deleted pod digest-run-x7k2q"));

    // A failed run: the JSON still goes to stdout, exit 1, pod deleted.
    fake.clear_requests();
    fake.state.lock().unwrap().run_pod_log =
        "{\"run_id\":\"r2\",\"status\":\"failed\",\"error\":{\"node\":\"a\",\"message\":\"boom\"}}"
            .into();
    let out = cli(&fake.kubeconfig, &["run", "digest"], d.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("\"boom\""));
    assert_eq!(
        fake.writes().last().unwrap(),
        &format!("DELETE {PODS}/digest-run-x7k2q")
    );
}

#[test]
fn run_times_out_and_still_deletes_its_pod() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    deployed(&fake, d.path());
    fake.state.lock().unwrap().run_pod_phase = "Pending".into();
    let out = cli(
        &fake.kubeconfig,
        &["run", "digest", "--timeout", "2s"],
        d.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("timed out after 2s"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fake.writes().last().unwrap(),
        &format!("DELETE {PODS}/digest-run-x7k2q")
    );
}

#[test]
fn run_refuses_bad_json_and_unknown_workflows_before_creating_pods() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    let out = cli(
        &fake.kubeconfig,
        &["run", "digest", "--data", "{oops"],
        d.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--data is not valid JSON"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&fake.kubeconfig, &["run", "nope"], d.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("workflow \"nope\" is not deployed in namespace \"prod\""),
        "{}",
        text(&out.stderr)
    );
    assert!(fake.writes().is_empty());
}

fn engine_pod(fake: &FakeKube, name: &str, phase: &str, waiting: Option<&str>) {
    let mut status = json!({"phase": phase});
    if let Some(reason) = waiting {
        status["containerStatuses"] = json!([{"name": "engine", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": "failed to pull image \"localhost:30500/digest:1-0\""}}}]);
    }
    fake.put(
        &format!("{PODS}/{name}"),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "prod",
            "labels": {"app.kubernetes.io/name": "digest", "app.kubernetes.io/managed-by": "pipedreamer"}},
            "spec": {"containers": [{"name": "engine"}]}, "status": status}),
    );
}

#[test]
fn logs_read_the_first_running_engine_pod_with_a_tail() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    deployed(&fake, d.path());
    engine_pod(&fake, "digest-aaa", "Pending", Some("ImagePullBackOff"));
    engine_pod(&fake, "digest-bbb", "Running", None);
    fake.state.lock().unwrap().engine_log = (1..=150).map(|i| format!("line {i}\n")).collect();
    let out = cli(&fake.kubeconfig, &["logs", "digest"], d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 100);
    assert!(stdout.starts_with("line 51\n"));
    let log = fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/log"))
        .unwrap();
    assert_eq!(log.path, format!("{PODS}/digest-bbb/log"));
    assert!(
        log.query.contains("container=engine") && log.query.contains("tailLines=100"),
        "{}",
        log.query
    );
    let pods = fake
        .requests()
        .into_iter()
        .find(|r| r.path == PODS)
        .unwrap();
    assert!(
        pods.query
            .contains("labelSelector=app.kubernetes.io%2Fname%3Ddigest"),
        "{}",
        pods.query
    );

    fake.remove(&format!("{PODS}/digest-bbb"));
    let out = cli(
        &fake.kubeconfig,
        &["logs", "digest", "--tail", "5"],
        d.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no Running pod: digest-aaa: Pending"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn list_and_status_report_readiness_and_detail() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    deployed(&fake, d.path());
    engine_pod(&fake, "digest-bbb", "Running", None);
    let out = cli(&fake.kubeconfig, &["list", "-o", "json"], d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["name"], "digest");
    assert_eq!(list[0]["status"], "Available");
    assert_eq!(list[0]["ready"], 1);
    assert_eq!(list[0]["version"], "1.0");
    let req = fake
        .requests()
        .into_iter()
        .find(|r| r.path == DEPLOYMENTS)
        .unwrap();
    assert!(
        req.query
            .contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dpipedreamer"),
        "{}",
        req.query
    );

    let out = cli(
        &fake.kubeconfig,
        &["status", "digest", "--detail", "-o", "json"],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let detail = &status["detail"];
    assert_eq!(detail["runtime_class"], "gvisor");
    assert_eq!(detail["limits"]["memory"], "256Mi");
    assert_eq!(
        detail["service"],
        "http://digest.prod.svc.cluster.local:8080"
    );
    assert_eq!(detail["cron_jobs"][0]["name"], "digest-cron");
    assert_eq!(detail["pods"][0]["name"], "digest-bbb");

    let text_out = cli(&fake.kubeconfig, &["status", "digest"], d.path());
    assert!(
        text(&text_out.stdout).starts_with("digest 1.0 in prod: Available (1/1 ready, age "),
        "{}",
        text(&text_out.stdout)
    );
    let missing = cli(&fake.kubeconfig, &["status", "nope"], d.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("is not deployed"));
}

#[test]
fn deploy_wait_explains_a_stuck_rollout() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), 0);
    fake.state.lock().unwrap().deployment_status =
        Some(json!({"replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1}));
    engine_pod(&fake, "digest-aaa", "Pending", Some("ImagePullBackOff"));
    let out = cli(
        &fake.kubeconfig,
        &["deploy", ".", "--skip-checks", "--wait", "--timeout", "2s"],
        d.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("rollout of digest did not become available within 2s"),
        "{err}"
    );
    assert!(
        err.contains("pod digest-aaa: ImagePullBackOff: failed to pull image"),
        "{err}"
    );
    assert!(err.contains("--cluster-registry"), "{err}");

    fake.state.lock().unwrap().deployment_status = Some(available());
    let out = cli(
        &fake.kubeconfig,
        &["deploy", ".", "--skip-checks", "--wait", "--timeout", "5s"],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("✓ digest is available"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unreachable_or_silent_api_fails_fast_with_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    // Nothing listens: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = d.path().join("refused");
    std::fs::write(
        &refused,
        kubeconfig_for(&format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let out = cli(&refused, &["list"], d.path());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot reach the Kubernetes API at http://127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");

    // Accepts connections, never answers: the check gives up on its own.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_config = d.path().join("silent");
    std::fs::write(
        &silent_config,
        kubeconfig_for(&format!("http://{}", silent.local_addr().unwrap())),
    )
    .unwrap();
    let started = Instant::now();
    let out = cli(&silent_config, &["cluster", "check"], d.path());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "hung for {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("✗ Kubernetes API not reachable"),
        "{stdout}"
    );
    assert!(stdout.contains("no answer within 5s"), "{stdout}");
    drop(silent);

    let missing = cli(&d.path().join("does-not-exist"), &["list"], d.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("no Kubernetes configuration"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn ctrl_c_during_run_still_deletes_the_pod() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    deployed(&fake, d.path());
    fake.state.lock().unwrap().run_pod_phase = "Pending".into();
    let child = cli_command(
        &fake.kubeconfig,
        &["run", "digest", "--timeout", "60s"],
        d.path(),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fake.writes().iter().any(|w| w.starts_with("POST")) {
        assert!(Instant::now() < deadline, "the run pod was never created");
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fake.writes(),
        [
            format!("POST {PODS}"),
            format!("DELETE {PODS}/digest-run-x7k2q")
        ]
    );
}

#[test]
fn logs_follow_streams_until_the_stream_ends() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    deployed(&fake, d.path());
    engine_pod(&fake, "digest-bbb", "Running", None);
    fake.state.lock().unwrap().engine_log = (1..=20).map(|i| format!("line {i}\n")).collect();
    let out = cli(
        &fake.kubeconfig,
        &["logs", "digest", "-f", "--tail", "3"],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "line 18\nline 19\nline 20\n");
    let log = fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/log"))
        .unwrap();
    assert!(
        log.query.contains("follow=true") && log.query.contains("tailLines=3"),
        "{}",
        log.query
    );
}

const INGRESSES: &str = "/apis/networking.k8s.io/v1/namespaces/prod/ingresses";
const HTTPROUTES: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/prod/httproutes";

/// An IngressClass, the cluster default when `default`.
fn ingress_class(fake: &FakeKube, name: &str, default: bool) {
    let annotations = if default {
        json!({"ingressclass.kubernetes.io/is-default-class": "true"})
    } else {
        json!({})
    };
    fake.put(
        &format!("/apis/networking.k8s.io/v1/ingressclasses/{name}"),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"controller": format!("example.com/{name}")}}),
    );
}

/// cert-manager's ClusterIssuer CRD and a Ready issuer `name`.
fn cert_manager(fake: &FakeKube, name: &str) {
    fake.install_crd("cert-manager.io", "clusterissuers", "ClusterIssuer", false);
    fake.put(
        &format!("/apis/cert-manager.io/v1/clusterissuers/{name}"),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": name},
            "spec": {"acme": {}}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    );
}

#[test]
fn deploy_with_a_host_applies_an_ingress_shows_its_url_and_dropping_the_host_prunes_it() {
    let fake = FakeKube::start();
    ingress_class(&fake, "nginx", true);
    cert_manager(&fake, "letsencrypt");
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), 1);
    fake.state.lock().unwrap().deployment_status = Some(available());
    let host = [
        "deploy",
        ".",
        "--host",
        "api.example.com",
        "--tls-issuer",
        "letsencrypt",
    ];
    let out = cli(&fake.kubeconfig, &host, d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let apply = "fieldManager=pipedreamer&force=true";
    assert_eq!(
        fake.writes(),
        [
            // The policy before the pods it confines.
            format!("PATCH {NETWORK_POLICIES}/digest?{apply}"),
            format!("PATCH {DEPLOYMENTS}/digest?{apply}"),
            format!("PATCH {SERVICES}/digest?{apply}"),
            format!("PATCH {INGRESSES}/digest?{apply}"),
            format!("PATCH {CRONJOBS}/digest-cron?{apply}"),
        ]
    );
    // The preflight looked for the default class and the issuer, and found both.
    let reads: Vec<String> = fake.requests().iter().map(|r| r.line()).collect();
    for read in [
        "GET /apis/networking.k8s.io/v1/ingressclasses",
        "GET /apis/cert-manager.io/v1",
        "GET /apis/cert-manager.io/v1/clusterissuers/letsencrypt",
    ] {
        assert!(reads.iter().any(|r| r == read), "{read} in {reads:?}");
    }
    let stderr = text(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(
        warnings,
        ["warning: Secret \"digest-secrets\" not found (optional: nodes will see no secrets)"],
        "no route warnings: {stderr}"
    );
    assert!(
        stderr.contains("public URL: https://api.example.com"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("Ingress/digest applied"));

    // What the fake stored is what the controller and cert-manager would read.
    let ingress = fake.get(&format!("{INGRESSES}/digest")).unwrap();
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    assert_eq!(
        ingress["metadata"]["labels"]["app.kubernetes.io/component"],
        "route"
    );
    let spec = &ingress["spec"];
    assert!(
        spec.get("ingressClassName").is_none(),
        "the default class: {spec}"
    );
    assert_eq!(spec["rules"][0]["host"], "api.example.com");
    let paths: Vec<(String, String)> = spec["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["backend"]["service"]["name"], "digest");
            assert_eq!(p["backend"]["service"]["port"]["number"], 8080);
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
        ]
    );
    assert_eq!(
        spec["tls"],
        json!([{"hosts": ["api.example.com"], "secretName": "digest-tls"}])
    );

    // list and status read the URL back from the Ingress on the cluster.
    let list = cli(&fake.kubeconfig, &["list", "-o", "json"], d.path());
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["url"], "https://api.example.com");
    let table = cli(&fake.kubeconfig, &["list"], d.path());
    assert!(
        text(&table.stdout).contains("  https://api.example.com\n"),
        "{}",
        text(&table.stdout)
    );
    let status = cli(
        &fake.kubeconfig,
        &["status", "digest", "-o", "json"],
        d.path(),
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["url"], "https://api.example.com");
    // A hand edit on the cluster shows: the URL is read, not remembered.
    let mut edited = ingress.clone();
    edited["spec"]["tls"] = json!(null);
    fake.put(&format!("{INGRESSES}/digest"), edited);
    let status = cli(&fake.kubeconfig, &["status", "digest"], d.path());
    assert!(
        text(&status.stdout).contains("\n  url:            http://api.example.com\n"),
        "{}",
        text(&status.stdout)
    );

    // No host: the Ingress goes, by label, like a stale CronJob. The cluster has no Gateway API,
    // so the HTTPRoute list answers 404 and is skipped.
    fake.clear_requests();
    let out = cli(
        &fake.kubeconfig,
        &["deploy", ".", "--skip-checks"],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fake.writes().last().unwrap(),
        &format!("DELETE {INGRESSES}/digest")
    );
    assert!(!fake.has(&format!("{INGRESSES}/digest")));
    assert!(
        text(&out.stdout).contains("Ingress/digest deleted (its host is gone)"),
        "{}",
        text(&out.stdout)
    );
    let listed = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.path == INGRESSES)
        .unwrap();
    assert!(
        listed
            .query
            .contains("app.kubernetes.io%2Fcomponent%3Droute")
            && listed.query.contains("app.kubernetes.io%2Fname%3Ddigest"),
        "{}",
        listed.query
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "GET" && r.path == HTTPROUTES),
        "the HTTPRoute kind was asked for and found absent"
    );
    let list = cli(&fake.kubeconfig, &["list", "-o", "json"], d.path());
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["url"], serde_json::Value::Null);
}

#[test]
fn an_http_route_needs_the_gateway_api_attaches_to_the_gateway_and_gives_way_to_an_ingress() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), 0);
    let gateway = [
        "deploy",
        ".",
        "--host",
        "hooks.example.com",
        "--route",
        "gateway",
        "--gateway",
        "infra/public",
    ];
    // No Gateway API: the preflight blocks the deploy and says how to install it.
    let out = cli(&fake.kubeconfig, &gateway, d.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("✗ Gateway API not installed") && stderr.contains("standard-install.yaml"),
        "{stderr}"
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    // Skipping the checks, the apply itself refuses with the same advice.
    let mut skipped = gateway.to_vec();
    skipped.push("--skip-checks");
    let out = cli(&fake.kubeconfig, &skipped, d.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not serve gateway.networking.k8s.io/v1 HTTPRoutes"),
        "{}",
        text(&out.stderr)
    );

    fake.install_gateway_api();
    fake.put(
        "/apis/gateway.networking.k8s.io/v1/namespaces/infra/gateways/public",
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "public", "namespace": "infra"}, "spec": {"gatewayClassName": "eg", "listeners": [
                {"name": "https", "port": 443, "protocol": "HTTPS", "allowedRoutes": {"namespaces": {"from": "All"}}}]}}),
    );
    fake.clear_requests();
    let out = cli(&fake.kubeconfig, &gateway, d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        fake.requests().iter().any(|r| r.line()
            == "GET /apis/gateway.networking.k8s.io/v1/namespaces/infra/gateways/public"),
        "the preflight looked for the Gateway"
    );
    let route = fake.get(&format!("{HTTPROUTES}/digest")).unwrap();
    assert_eq!(
        route["spec"]["parentRefs"],
        json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "infra", "name": "public"}])
    );
    assert_eq!(route["spec"]["hostnames"], json!(["hooks.example.com"]));
    assert_eq!(
        route["spec"]["rules"][0]["matches"],
        json!([{"path": {"type": "Exact", "value": "/run"}}, {"path": {"type": "PathPrefix", "value": "/hooks/"}}])
    );
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"],
        json!([{"group": "", "kind": "Service", "name": "digest", "port": 8080}])
    );
    let list = cli(&fake.kubeconfig, &["list", "-o", "json"], d.path());
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["url"], "http://hooks.example.com");

    // Same host through an Ingress: the HTTPRoute is pruned.
    fake.clear_requests();
    let out = cli(
        &fake.kubeconfig,
        &[
            "deploy",
            ".",
            "--host",
            "hooks.example.com",
            "--skip-checks",
        ],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let apply = "fieldManager=pipedreamer&force=true";
    assert_eq!(
        fake.writes(),
        [
            // The policy before the pods it confines.
            format!("PATCH {NETWORK_POLICIES}/digest?{apply}"),
            format!("PATCH {DEPLOYMENTS}/digest?{apply}"),
            format!("PATCH {SERVICES}/digest?{apply}"),
            format!("PATCH {INGRESSES}/digest?{apply}"),
            format!("DELETE {HTTPROUTES}/digest"),
        ]
    );
    assert!(!fake.has(&format!("{HTTPROUTES}/digest")));

    // undeploy takes the route too.
    fake.clear_requests();
    let out = cli(&fake.kubeconfig, &["undeploy", "digest", "--yes"], d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fake.writes().first().unwrap(),
        &format!("DELETE {INGRESSES}/digest")
    );
    assert!(text(&out.stdout).starts_with("Ingress/digest deleted\n"));
}

#[test]
fn cluster_check_reports_ingress_classes_cert_manager_and_route_permissions() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    let check = |args: &[&str]| {
        let mut all = vec!["cluster", "check"];
        all.extend_from_slice(args);
        cli(&fake.kubeconfig, &all, d.path())
    };
    // Nothing installed: warnings with remediation, still ready.
    let out = check(&["--tls-issuer", "letsencrypt"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("! No IngressClass: nothing serves Ingresses")
            && stdout.contains("-> Install an ingress controller"),
        "{stdout}"
    );
    assert!(
        stdout.contains("! cert-manager not installed (no ClusterIssuer CRD)")
            && stdout.contains("cert-manager.io/docs/installation"),
        "{stdout}"
    );

    ingress_class(&fake, "nginx", false);
    cert_manager(&fake, "staging");
    let out = check(&["--ingress-class", "traefik", "--tls-issuer", "letsencrypt"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("! IngressClass \"traefik\" not found")
            && stdout.contains("-> Available IngressClasses: nginx"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✓ cert-manager installed")
            && stdout.contains("! ClusterIssuer \"letsencrypt\" not found"),
        "{stdout}"
    );
    let out = check(&[]);
    assert!(
        text(&out.stdout).contains("! No default IngressClass")
            && text(&out.stdout).contains("kubectl annotate ingressclass nginx"),
        "{}",
        text(&out.stdout)
    );
    let json = check(&[
        "--ingress-class",
        "nginx",
        "--tls-issuer",
        "staging",
        "-o",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let titles: Vec<(&str, &str)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["status"].as_str().unwrap(), c["title"].as_str().unwrap()))
        .collect();
    for want in [
        ("ok", "IngressClass \"nginx\" exists"),
        ("ok", "cert-manager installed (ClusterIssuer CRD)"),
        ("ok", "ClusterIssuer \"staging\" exists"),
    ] {
        assert!(titles.contains(&want), "{want:?} in {titles:?}");
    }

    // Route permissions block only the kind in use.
    fake.state.lock().unwrap().denied = vec!["patch httproutes".into()];
    let out = check(&[]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout)
            .contains("! RBAC denies 1 of 33 actions, all on routes or Cilium policies this deploy does not use"),
        "{}",
        text(&out.stdout)
    );
    fake.install_gateway_api();
    let out = check(&["--route", "gateway", "--gateway", "infra/public"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("✗ RBAC denies 1 of 33 actions pipedreamer uses")
            && stdout.contains("-> Missing permission: patch httproutes in \"prod\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("✓ Gateway API installed")
            && stdout.contains("! Gateway \"infra/public\" not found"),
        "{stdout}"
    );
    // A Gateway in another namespace with the default `allowedRoutes` (Same) ignores the route.
    fake.put(
        "/apis/gateway.networking.k8s.io/v1/namespaces/infra/gateways/public",
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "public", "namespace": "infra"},
            "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}),
    );
    let out = check(&["--route", "gateway", "--gateway", "infra/public"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "! Gateway \"infra/public\" takes routes only from namespace \"infra\", not \"prod\""
        ) && stdout.contains("allowedRoutes.namespaces.from: All"),
        "{stdout}"
    );
    // Flags that cannot go together are refused before any request.
    fake.clear_requests();
    let out = check(&[
        "--ingress-class",
        "nginx",
        "--route",
        "gateway",
        "--gateway",
        "a/b",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--ingress-class applies to an Ingress"),
        "{}",
        text(&out.stderr)
    );
    assert!(fake.requests().is_empty());
}

const CILIUM_POLICIES: &str = "/apis/cilium.io/v2/namespaces/prod/ciliumnetworkpolicies";

#[test]
fn egress_policy_cilium_needs_cilium_applies_its_policy_and_a_switch_back_prunes_it() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), 0);
    // No Cilium: the preflight blocks the deploy and says what to use instead.
    let checked = ["deploy", ".", "--egress-policy", "cilium"];
    let out = cli(&fake.kubeconfig, &checked, d.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("✗ Cilium not installed") && stderr.contains("Use --egress-policy ports"),
        "{stderr}"
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    // Skipping the checks, the apply itself refuses with the same advice.
    let cilium = ["deploy", ".", "--skip-checks", "--egress-policy", "cilium"];
    let out = cli(&fake.kubeconfig, &cilium, d.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("does not serve cilium.io/v2 CiliumNetworkPolicies")
            && stderr.contains("use --egress-policy ports"),
        "{stderr}"
    );

    fake.install_crd(
        "cilium.io",
        "ciliumnetworkpolicies",
        "CiliumNetworkPolicy",
        true,
    );
    fake.clear_requests();
    let out = cli(&fake.kubeconfig, &checked, d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let apply = "fieldManager=pipedreamer&force=true";
    assert_eq!(
        fake.writes(),
        [
            format!("PATCH {NETWORK_POLICIES}/digest?{apply}"),
            format!("PATCH {CILIUM_POLICIES}/digest?{apply}"),
            format!("PATCH {DEPLOYMENTS}/digest?{apply}"),
            format!("PATCH {SERVICES}/digest?{apply}"),
        ]
    );
    let policy = fake.get(&format!("{CILIUM_POLICIES}/digest")).unwrap();
    assert_eq!(
        policy["spec"]["egress"][1]["toFQDNs"][0]["matchPattern"],
        "*"
    );
    let np = fake.get(&format!("{NETWORK_POLICIES}/digest")).unwrap();
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));

    // Back to ports: the NetworkPolicy takes egress again and the Cilium policy is pruned.
    fake.clear_requests();
    let out = cli(
        &fake.kubeconfig,
        &["deploy", ".", "--skip-checks"],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        fake.writes()
            .contains(&format!("DELETE {CILIUM_POLICIES}/digest")),
        "{:?}",
        fake.writes()
    );
    assert!(!fake.has(&format!("{CILIUM_POLICIES}/digest")));
    assert!(
        text(&out.stdout)
            .contains("CiliumNetworkPolicy/digest deleted (the egress policy changed)"),
        "{}",
        text(&out.stdout)
    );
    let np = fake.get(&format!("{NETWORK_POLICIES}/digest")).unwrap();
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
}

#[test]
fn switching_a_live_deployment_to_recreate_clears_the_defaulted_rolling_update_first() {
    let fake = FakeKube::start();
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), 0);
    let deploy = ["deploy", ".", "--skip-checks"];
    assert!(cli(&fake.kubeconfig, &deploy, d.path()).status.success());
    // What the API server's defaulting leaves on a RollingUpdate Deployment, owned by no one.
    let path = format!("{DEPLOYMENTS}/digest");
    let mut live = fake.get(&path).unwrap();
    live["spec"]["strategy"] = json!({"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    fake.put(&path, live);

    let yaml = std::fs::read_to_string(d.path().join("workflow.yaml")).unwrap();
    std::fs::write(
        d.path().join("workflow.yaml"),
        format!("{yaml}config:\n  strategy: Recreate\n"),
    )
    .unwrap();
    fake.clear_requests();
    let out = cli(&fake.kubeconfig, &deploy, d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let patches: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .collect();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert_eq!(patches[0].content_type, "application/merge-patch+json");
    assert_eq!(
        patches[0].body,
        json!({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": null}}})
    );
    assert_eq!(patches[1].content_type, "application/apply-patch+yaml");
    assert_eq!(
        patches[1].body["spec"]["strategy"],
        json!({"type": "Recreate"})
    );
    assert_eq!(patches[1].body["spec"]["replicas"], 1);
}
