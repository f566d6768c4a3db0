//! `deploy -o yaml|json|--output-dir`: snapshots of every generated object, judged by the official
//! Kubernetes schemas (`kubernetes-validate --strict`) and by `kubectl kustomize`.

use crate::{pipedreamer, repo_root, text, write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Kubernetes version manifests are validated against.
const K8S_VERSION: &str = "1.37.0";

fn kubernetes_validate() -> PathBuf {
    let path = std::env::var_os("KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/kubernetes-validate"));
    assert!(
        path.exists(),
        "{} is missing: run ./scripts/test.sh, which installs kubernetes-validate into .venv",
        path.display()
    );
    path
}

/// Runs the schema judge on `files`; returns (passed, output).
fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(kubernetes_validate())
        .args(["--strict", "-k", K8S_VERSION])
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// Writes `yaml` to `dir/name` and runs the schema judge on it.
fn validate_text(dir: &Path, name: &str, yaml: &str) -> (bool, String) {
    let file = dir.join(name);
    std::fs::write(&file, yaml).unwrap();
    validate(&[file])
}

fn workflow(dir: &Path, crons: &str, extra_config: &str) {
    let crons = if crons.is_empty() {
        " []\n".to_owned()
    } else {
        format!("\n{crons}")
    };
    write(
        dir,
        &[
            (
                "workflow.yaml",
                &format!(
                    "name: digest\nversion: \"2.1\"\nnodes:\n  - id: a\n    file: nodes/a.ts\ntriggers:{crons}config:\n  nats_url: nats://n:4222\n{extra_config}"
                ),
            ),
            (
                "nodes/a.ts",
                "export default async function run() { return 1; }\n",
            ),
        ],
    );
}

const TWO_CRONS: &str = "  - type: cron\n    name: nightly\n    schedule: \"0 3 * * *\"\n    timezone: Europe/Berlin\n  - type: cron\n    schedule: \"*/5 * * * *\"\n";
const RESOURCES: &str = "  resources:\n    requests: {memory: 32Mi, cpu: 50m}\n    limits: {memory: 512Mi, cpu: \"1\"}\n  cron_image: registry.internal/curl:8.11.1\n";

fn deploy_yaml(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "deploy",
        ".",
        "-o",
        "yaml",
        "-n",
        "prod",
        "-r",
        "localhost:30500",
    ];
    args.extend_from_slice(extra);
    let out = pipedreamer(&args, dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn manifests_snapshot_and_pass_strict_schema_validation() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), TWO_CRONS, RESOURCES);
    let yaml = deploy_yaml(
        d.path(),
        &[
            "--cluster-registry",
            "registry.registry.svc.cluster.local:5000",
        ],
    );
    insta::assert_snapshot!(yaml);
    let (ok, report) = validate_text(d.path(), "all.yaml", &yaml);
    assert!(ok, "{report}");
}

#[test]
fn default_manifests_with_one_cron_pass_validation() {
    let d = tempfile::tempdir().unwrap();
    workflow(
        d.path(),
        "  - type: cron\n    schedule: \"0 9 * * *\"\n",
        "",
    );
    let yaml = deploy_yaml(d.path(), &[]);
    assert!(yaml.contains("name: digest-cron\n"), "{yaml}");
    assert!(!yaml.contains("digest-cron-0"));
    assert!(
        yaml.contains("limits:\n              cpu: 500m\n              memory: 256Mi"),
        "{yaml}"
    );
    assert!(yaml.contains("image: \"curlimages/curl:8.11.1\""), "{yaml}");
    assert!(
        yaml.contains("- \"--data-binary\"\n                - \"{}\"\n"),
        "unnamed cron posts {{}}: {yaml}"
    );
    let (ok, report) = validate_text(d.path(), "all.yaml", &yaml);
    assert!(ok, "{report}");
}

#[test]
fn the_schema_judge_rejects_a_broken_manifest() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), "", "");
    let yaml =
        deploy_yaml(d.path(), &[]).replace("runtimeClassName: gvisor", "runtimeClassNam: gvisor");
    let (ok, report) = validate_text(d.path(), "broken.yaml", &yaml);
    assert!(
        !ok,
        "strict validation must reject unknown fields: {report}"
    );
}

#[test]
fn json_output_is_a_v1_list_in_apply_order() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), TWO_CRONS, "");
    let out = pipedreamer(&["deploy", ".", "-o", "json", "-n", "prod"], d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Deployment", "Service", "CronJob", "CronJob"]);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["digest", "digest", "digest-cron-0", "digest-cron-1"]
    );
    assert_eq!(
        list["items"][0]["spec"]["template"]["spec"]["containers"][0]["image"],
        "digest:2-1"
    );
    let cron = &list["items"][2]["spec"];
    assert_eq!(cron["timeZone"], "Europe/Berlin");
    let args = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap();
    assert!(
        args.contains(&serde_json::json!("{\"trigger\":\"nightly\"}")),
        "{args:?}"
    );
    assert!(args.contains(&serde_json::json!(
        "http://digest.prod.svc.cluster.local:8080/run"
    )));
    // Helper pods must never match the Service selector, or it would route traffic to them.
    let pod_labels = &cron["jobTemplate"]["spec"]["template"]["metadata"]["labels"];
    assert!(
        pod_labels.get("app.kubernetes.io/name").is_none(),
        "{pod_labels}"
    );
    assert!(
        out.stderr.is_empty(),
        "no cluster contact, no chatter: {}",
        text(&out.stderr)
    );
}

#[test]
fn changed_node_code_changes_the_spec_hash() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), "", "");
    let hash = |d: &Path| {
        let yaml = deploy_yaml(d, &[]);
        yaml.lines()
            .find(|l| l.contains("pipedreamer.dev/spec-hash"))
            .unwrap()
            .to_owned()
    };
    let before = hash(d.path());
    assert_eq!(hash(d.path()), before, "deterministic");
    write(
        d.path(),
        &[(
            "nodes/a.ts",
            "export default async function run() { return 2; }\n",
        )],
    );
    assert_ne!(hash(d.path()), before);
}

#[test]
fn kustomize_base_renders_with_kubectl_and_validates() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), TWO_CRONS, "");
    let base = d.path().join("deploy/base");
    let out = pipedreamer(
        &[
            "deploy",
            ".",
            "-n",
            "gitops",
            "--output-dir",
            base.to_str().unwrap(),
        ],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut files: Vec<String> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "digest-cron-0-cronjob.yaml",
            "digest-cron-1-cronjob.yaml",
            "digest-deployment.yaml",
            "digest-service.yaml",
            "kustomization.yaml"
        ]
    );
    insta::assert_snapshot!(std::fs::read_to_string(base.join("kustomization.yaml")).unwrap());
    let rendered = Command::new("kubectl")
        .args(["kustomize"])
        .arg(&base)
        .output()
        .expect("kubectl is installed by scripts/test.sh");
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let rendered_text = text(&rendered.stdout);
    assert_eq!(
        rendered_text.matches("\nkind: ").count()
            + usize::from(rendered_text.starts_with("kind: ")),
        4,
        "{rendered_text}"
    );
    assert_eq!(rendered_text.matches("namespace: gitops").count(), 4);
    let (ok, report) = validate_text(d.path(), "rendered.yaml", &rendered_text);
    assert!(ok, "{report}");
}

#[test]
fn invalid_workflow_is_not_deployed() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[(
            "workflow.yaml",
            "name: Bad_Name\nversion: \"1\"\nnodes: []\n",
        )],
    );
    let out = pipedreamer(&["deploy", ".", "-o", "yaml"], d.path());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("workflow.yaml:1:7"), "{err}");
    assert!(err.contains("is invalid"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn example_workflows_deploy_to_valid_manifests() {
    let d = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for example in ["hello", "fan-out", "fetch-auth", "daily-report"] {
        let dir = repo_root().join("examples").join(example);
        let yaml = deploy_yaml(&dir, &[]);
        let file = d.path().join(format!("{example}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        files.push(file);
    }
    let (ok, report) = validate(&files);
    assert!(ok, "{report}");
}
