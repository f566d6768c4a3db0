//! `deploy -o yaml|json|--output-dir`: snapshots of every generated object, judged by the official
//! Kubernetes schemas (`kubernetes-validate --strict`) and by `kubectl kustomize`; the HTTPRoute,
//! a CRD those schemas lack, by the Gateway API's published schema
//! (`@kubernetes-models/gateway-api`, scripts/gateway-api-schema.sh).

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

/// A judge's verdict: (passed, what it printed).
fn judged(out: &std::process::Output) -> (bool, String) {
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// Runs the schema judge on `files`; returns (passed, output).
fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(kubernetes_validate())
        .args(["--strict", "-k", K8S_VERSION])
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    judged(&out)
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
    assert_eq!(
        kinds,
        [
            "NetworkPolicy",
            "Deployment",
            "Service",
            "CronJob",
            "CronJob"
        ]
    );
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "digest",
            "digest",
            "digest",
            "digest-cron-0",
            "digest-cron-1"
        ]
    );
    assert_eq!(
        list["items"][1]["spec"]["template"]["spec"]["containers"][0]["image"],
        "digest:2-1"
    );
    let cron = &list["items"][3]["spec"];
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
            "digest-networkpolicy.yaml",
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
        5,
        "{rendered_text}"
    );
    assert_eq!(rendered_text.matches("namespace: gitops").count(), 5);
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

/// The one YAML document of `kind` in a multi-document stream.
fn document<'a>(yaml: &'a str, kind: &str) -> &'a str {
    yaml.split("---\n")
        .find(|doc| doc.lines().any(|l| l == format!("kind: {kind}")))
        .unwrap_or_else(|| panic!("no {kind} in {yaml}"))
}

#[test]
fn a_host_adds_an_ingress_with_cert_manager_tls_that_passes_strict_validation() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), "", "");
    let yaml = deploy_yaml(
        d.path(),
        &[
            "--host",
            "digest.example.com",
            "--ingress-class",
            "nginx",
            "--tls-issuer",
            "letsencrypt-prod",
        ],
    );
    insta::assert_snapshot!(document(&yaml, "Ingress"));
    let (ok, report) = validate_text(d.path(), "all.yaml", &yaml);
    assert!(ok, "{report}");
    assert!(
        report.contains("passed for resource ingress/digest"),
        "{report}"
    );
    // The judge does look at the Ingress: a misspelt field fails it.
    let broken = yaml.replace("ingressClassName: nginx", "ingressClass: nginx");
    let (ok, report) = validate_text(d.path(), "broken.yaml", &broken);
    assert!(
        !ok,
        "strict validation must reject unknown Ingress fields: {report}"
    );

    // Without --tls-issuer: no TLS, no annotation, the cluster's default class.
    let plain = deploy_yaml(d.path(), &["--host", "digest.example.com"]);
    let ingress = document(&plain, "Ingress");
    assert!(
        !ingress.contains("tls:") && !ingress.contains("annotations:"),
        "{ingress}"
    );
    assert!(!ingress.contains("ingressClassName"), "{ingress}");
    let (ok, report) = validate_text(d.path(), "plain.yaml", &plain);
    assert!(ok, "{report}");
}

/// `scripts/gateway-api-schema.sh`'s directory (validate.mjs and the pinned package), or `None`
/// after a loud message when npm is missing.
fn gateway_api_schema() -> Option<PathBuf> {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/gateway-api-schema.sh"))
        .output()
        .expect("run scripts/gateway-api-schema.sh");
    if out.status.code() == Some(3) {
        eprintln!(
            "\n!!!!! SKIPPED: npm is not installed, so the HTTPRoute was not validated !!!!!\n{}",
            text(&out.stderr)
        );
        return None;
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    Some(PathBuf::from(text(&out.stdout).trim()))
}

/// Judges the Gateway API objects in `json` (a v1 List) with the published schema.
fn validate_gateway(schema: &Path, dir: &Path, name: &str, json: &str) -> (bool, String) {
    let file = dir.join(name);
    std::fs::write(&file, json).unwrap();
    let out = Command::new("node")
        .arg(schema.join("validate.mjs"))
        .arg(&file)
        .current_dir(schema)
        .output()
        .expect("run node");
    judged(&out)
}

#[test]
fn route_gateway_writes_an_http_route_that_the_gateway_api_schema_accepts() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), TWO_CRONS, "");
    let flags = [
        "--host",
        "digest.example.com",
        "--route",
        "gateway",
        "--gateway",
        "infra/public",
        "--tls-issuer",
        "letsencrypt-prod",
    ];
    let yaml = deploy_yaml(d.path(), &flags);
    insta::assert_snapshot!(document(&yaml, "HTTPRoute"));
    assert!(!yaml.contains("kind: Ingress"), "{yaml}");
    // The core objects still pass the Kubernetes schemas (the HTTPRoute is not theirs to judge).
    let (ok, report) = validate_text(d.path(), "all.yaml", &yaml);
    assert!(ok, "{report}");

    let mut args = vec!["deploy", ".", "-o", "json", "-n", "prod"];
    args.extend_from_slice(&flags);
    let out = pipedreamer(&args, d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = text(&out.stdout);
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "NetworkPolicy",
            "Deployment",
            "Service",
            "HTTPRoute",
            "CronJob",
            "CronJob"
        ]
    );
    let Some(schema) = gateway_api_schema() else {
        return;
    };
    let (ok, report) = validate_gateway(&schema, d.path(), "route.json", &json);
    assert!(ok, "{report}");
    assert!(report.contains("HTTPRoute/digest is valid"), "{report}");
    // The judge does judge: Ingress's "Prefix" is not a Gateway API path match type.
    let broken = json.replace("\"PathPrefix\"", "\"Prefix\"");
    let (ok, report) = validate_gateway(&schema, d.path(), "broken.json", &broken);
    assert!(!ok, "{report}");
    assert!(report.contains("path/type"), "{report}");
}

#[test]
fn bad_routing_flags_are_refused_with_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), "", "");
    for (flags, want) in [
        (
            &["--host", "*.example.com"][..],
            "--host \"*.example.com\" is not a valid host name: wildcards are not allowed",
        ),
        (
            &["--host", "https://a.example.com"][..],
            "it has a scheme, port or path",
        ),
        (
            &["--tls-issuer", "letsencrypt"][..],
            "--tls-issuer configures the route to a host, but no --host is given",
        ),
        (
            &["--host", "a.example.com", "--route", "gateway"][..],
            "--gateway <NS/NAME>",
        ),
        (
            &[
                "--host",
                "a.example.com",
                "--route",
                "gateway",
                "--gateway",
                "public",
            ][..],
            "--gateway \"public\" is not NAMESPACE/NAME",
        ),
        (
            &["--host", "a.example.com", "--gateway", "infra/public"][..],
            "add `--route gateway`",
        ),
        (
            &["--host", "a.example.com", "--ingress-class", "Nginx"][..],
            "--ingress-class \"Nginx\" is not a valid Kubernetes name",
        ),
    ] {
        let mut args = vec!["deploy", ".", "-o", "yaml"];
        args.extend_from_slice(flags);
        let out = pipedreamer(&args, d.path());
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(out.stdout.is_empty(), "{flags:?}");
    }
}

#[test]
fn the_kustomize_base_carries_the_ingress() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), "", "");
    let base = d.path().join("base");
    let out = pipedreamer(
        &[
            "deploy",
            ".",
            "-n",
            "gitops",
            "--host",
            "digest.example.com",
            "--output-dir",
            base.to_str().unwrap(),
        ],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(base.join("digest-ingress.yaml").exists());
    let kustomization = std::fs::read_to_string(base.join("kustomization.yaml")).unwrap();
    assert!(
        kustomization.contains("- digest-ingress.yaml"),
        "{kustomization}"
    );
    let rendered = Command::new("kubectl")
        .args(["kustomize"])
        .arg(&base)
        .output()
        .expect("kubectl is installed by scripts/test.sh");
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let rendered_text = text(&rendered.stdout);
    assert!(rendered_text.contains("kind: Ingress"), "{rendered_text}");
    let (ok, report) = validate_text(d.path(), "rendered.yaml", &rendered_text);
    assert!(ok, "{report}");
}

/// The Cilium CRD's schema and its strict validator, kept with the kube crate's tests.
fn validate_cilium(dir: &Path, json: &str) -> (bool, String) {
    let data = repo_root().join("crates/pipedreamer-kube/tests/data");
    let file = dir.join("cilium.json");
    std::fs::write(&file, json).unwrap();
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test.sh, which creates the venv with jsonschema and PyYAML",
        python.display()
    );
    let out = Command::new(python)
        .arg(data.join("validate_crd.py"))
        .arg(data.join("ciliumnetworkpolicies.cilium.io.yaml"))
        .arg(&file)
        .output()
        .expect("run validate_crd.py");
    judged(&out)
}

#[test]
fn egress_policy_cilium_adds_a_cilium_policy_with_the_fetch_hosts_that_its_crd_schema_accepts() {
    let d = tempfile::tempdir().unwrap();
    workflow(
        d.path(),
        "",
        "fetch:\n  allow: [api.github.com, \"*.example.org\"]\n",
    );
    let flags = [
        "--egress-policy",
        "cilium",
        "--host",
        "digest.example.com",
        "--ingress-controller-namespace",
        "traefik",
        "--allow-from",
        "monitoring",
    ];
    let yaml = deploy_yaml(d.path(), &flags);
    insta::assert_snapshot!(document(&yaml, "CiliumNetworkPolicy"));
    let policy = document(&yaml, "NetworkPolicy");
    // Egress is the Cilium policy's; the NetworkPolicy keeps ingress, from the controller too.
    assert!(
        policy.contains("    - Ingress\n") && !policy.contains("Egress"),
        "{policy}"
    );
    assert!(
        policy.contains("kubernetes.io/metadata.name: traefik"),
        "{policy}"
    );
    assert!(
        policy.contains("kubernetes.io/metadata.name: monitoring"),
        "{policy}"
    );
    let (ok, report) = validate_text(d.path(), "all.yaml", &yaml);
    assert!(ok, "the built-in kinds still pass: {report}");

    let mut args = vec!["deploy", ".", "-o", "json", "-n", "prod"];
    args.extend_from_slice(&flags);
    let out = pipedreamer(&args, d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (ok, report) = validate_cilium(d.path(), &text(&out.stdout));
    assert!(ok, "{report}");
    assert!(
        report.contains("CiliumNetworkPolicy/digest is valid"),
        "{report}"
    );

    // The kustomize base carries it too.
    let base = d.path().join("base");
    let mut args = vec!["deploy", ".", "--output-dir", base.to_str().unwrap()];
    args.extend_from_slice(&flags);
    let out = pipedreamer(&args, d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kustomization = std::fs::read_to_string(base.join("kustomization.yaml")).unwrap();
    assert!(
        kustomization.contains("- digest-ciliumnetworkpolicy.yaml\n")
            && kustomization.contains("- digest-networkpolicy.yaml\n"),
        "{kustomization}"
    );
}

#[test]
fn egress_policy_none_restricts_ingress_only_and_ports_follow_the_flags() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), "", "");
    let yaml = deploy_yaml(d.path(), &["--egress-policy", "none"]);
    let policy = document(&yaml, "NetworkPolicy");
    assert!(
        !policy.contains("egress") && !policy.contains("Egress"),
        "{policy}"
    );
    assert!(!yaml.contains("CiliumNetworkPolicy"), "{yaml}");
    let yaml = deploy_yaml(
        d.path(),
        &["--egress-port", "5432", "--egress-port", "8080"],
    );
    let policy = document(&yaml, "NetworkPolicy");
    for port in ["443", "4222", "5432", "8080"] {
        assert!(
            policy.contains(&format!("- port: {port}\n")),
            "{port}: {policy}"
        );
    }
    let (ok, report) = validate_text(d.path(), "ports.yaml", &yaml);
    assert!(ok, "{report}");
}

#[test]
fn bad_network_flags_are_refused_with_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), "", "");
    for (flags, want) in [
        (
            &["--allow-from", "Team_A"][..],
            "--allow-from \"Team_A\" is not a valid Kubernetes name",
        ),
        (
            &[
                "--host",
                "d.example.com",
                "--ingress-controller-namespace",
                "a/b",
            ][..],
            "--ingress-controller-namespace \"a/b\" is not a valid Kubernetes name",
        ),
        (&["--egress-port", "0"][..], "--egress-port 0 is not a port"),
        (
            &["--ingress-controller-namespace", "traefik"][..],
            "but no --host is given",
        ),
        (
            &["--egress-policy", "none", "--egress-port", "80"][..],
            "--egress-policy none leaves egress open already",
        ),
        (&["--egress-policy", "calico"][..], "invalid value 'calico'"),
    ] {
        let mut args = vec!["deploy", ".", "-o", "yaml"];
        args.extend_from_slice(flags);
        let out = pipedreamer(&args, d.path());
        assert!(!out.status.success(), "{flags:?}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(out.stdout.is_empty(), "{flags:?}");
    }
}

#[test]
fn recreate_is_a_single_replica_deployment_and_more_replicas_are_refused_where_written() {
    let d = tempfile::tempdir().unwrap();
    workflow(d.path(), "", "  strategy: Recreate\n");
    let yaml = deploy_yaml(d.path(), &[]);
    let deployment = document(&yaml, "Deployment");
    assert!(
        deployment.contains("  replicas: 1\n")
            && deployment.contains("  strategy:\n    type: Recreate\n"),
        "{deployment}"
    );
    let (ok, report) = validate_text(d.path(), "recreate.yaml", &yaml);
    assert!(ok, "{report}");

    workflow(d.path(), "", "  strategy: Recreate\n  replicas: 2\n");
    for command in ["validate", "deploy"] {
        let out = pipedreamer(
            &[command, ".", "-o", "yaml"][..if command == "validate" { 2 } else { 4 }],
            d.path(),
        );
        assert!(!out.status.success(), "{command}");
        let err = text(&out.stderr);
        assert!(err.contains("workflow.yaml:9:13"), "{command}: {err}");
        assert!(
            err.contains("`config.strategy: Recreate` runs a single copy, but `config.replicas` is 2 (line 10)"),
            "{command}: {err}"
        );
        assert!(err.contains("set `replicas: 1`"), "{command}: {err}");
    }
}
