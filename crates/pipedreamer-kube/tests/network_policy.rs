//! The workflow's network policies judged by real schemas: the NetworkPolicy (with the rest of
//! the manifests) by the official Kubernetes schemas (`kubernetes-validate --strict`), the
//! CiliumNetworkPolicy by the Cilium CRD's OpenAPI schema kept in `tests/data` (source named in
//! the file), strictly (`tests/data/validate_crd.py`). Both tools come from the project venv
//! (`./scripts/test.sh` installs them); a missing tool fails the test and says so.

use pipedreamer_kube::manifests::{self, EngineReport};
use pipedreamer_kube::route::{RouteKind, RouteOptions};
use pipedreamer_kube::{DeployOptions, EgressPolicy, Manifests, NetworkOptions};
use pipedreamer_spec::source::MemorySource;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Kubernetes version the manifests are judged against (as the CLI's deploy tests do).
const K8S_VERSION: &str = "1.37.0";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_tool(name: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run ./scripts/test.sh, which installs kubernetes-validate, jsonschema and PyYAML into .venv",
        path.display()
    );
    path
}

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file)
}

fn run(command: &mut Command) -> (bool, String) {
    let out = command.output().expect("run the schema judge");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The manifests' built-in kinds as YAML (the CiliumNetworkPolicy is not theirs to judge).
fn builtin_yaml(manifests: &Manifests) -> String {
    let builtin: Vec<Value> = manifests
        .objects()
        .into_iter()
        .filter(|o| o["kind"] != "CiliumNetworkPolicy")
        .collect();
    pipedreamer_kube::yaml::stream(&builtin)
}

/// `kubernetes-validate --strict` on `yaml`.
fn kubernetes_validate(dir: &Path, yaml: &str) -> (bool, String) {
    let file = dir.join("builtin.yaml");
    std::fs::write(&file, yaml).unwrap();
    run(Command::new(venv_tool("kubernetes-validate"))
        .args(["--strict", "-k", K8S_VERSION])
        .arg(&file))
}

/// The Cilium CRD's schema on every CiliumNetworkPolicy in `list` (a v1 List as JSON).
fn cilium_validate(dir: &Path, name: &str, list: &str) -> (bool, String) {
    let file = dir.join(name);
    std::fs::write(&file, list).unwrap();
    run(Command::new(venv_tool("python"))
        .arg(data("validate_crd.py"))
        .arg(data("ciliumnetworkpolicies.cilium.io.yaml"))
        .arg(&file))
}

fn workflow(extra: &str) -> pipedreamer_spec::Workflow {
    let text =
        format!("name: digest\nversion: \"2.1\"\nnodes:\n  - {{id: a, file: a.js}}\n{extra}");
    let files = MemorySource::from_pairs([
        ("workflow.yaml", text.as_str()),
        ("a.js", "export default () => 1"),
    ]);
    pipedreamer_spec::resolve(&files).unwrap().workflow
}

fn options(egress: EgressPolicy, route: Option<RouteKind>, report: bool) -> DeployOptions {
    DeployOptions {
        namespace: "prod".into(),
        image: "registry.example.com/digest:2.1".into(),
        spec_hash: "abc".into(),
        curl_image: None,
        route: route.map(|kind| RouteOptions::new("digest.example.com", kind, None).unwrap()),
        report: report.then(|| EngineReport {
            url: "http://pipedreamer.pipedreamer.svc.cluster.local:7070".into(),
        }),
        network: NetworkOptions {
            egress,
            allow_from: vec!["monitoring".into()],
            egress_ports: vec![5432],
            ..NetworkOptions::default()
        },
    }
}

/// Everything a policy can draw from: fetch hosts (a name, a wildcard, an address), `fetch.auth`
/// ports and plain HTTP, NATS outside and inside the cluster.
const BUSY: &str = "config:\n  nats_url: tls://nats.example.com:4443,nats://nats.messaging.svc:4222,10.1.2.3\nfetch:\n  allow: [api.github.com, \"*.internal.example\", 10.0.0.7]\n  auth:\n    - {host: \"10.0.0.7:8443\", secret: a.b, allow_http: true}\n";

#[test]
fn every_network_policy_passes_the_kubernetes_schemas_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = RouteKind::Gateway {
        namespace: "infra".into(),
        name: "public".into(),
    };
    for (extra, egress, route, report) in [
        (
            BUSY,
            EgressPolicy::Ports,
            Some(RouteKind::Ingress { class: None }),
            true,
        ),
        (BUSY, EgressPolicy::None, Some(gateway), false),
        (BUSY, EgressPolicy::Cilium, None, true),
        ("fetch:\n  allow: []\n", EgressPolicy::Ports, None, false),
        ("", EgressPolicy::Ports, None, false),
    ] {
        let m = manifests::render(&workflow(extra), &options(egress, route.clone(), report));
        let (ok, out) = kubernetes_validate(dir.path(), &builtin_yaml(&m));
        assert!(ok, "{egress:?} {route:?}: {out}");
        let yaml = m.to_yaml();
        assert!(yaml.starts_with("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"));
    }
    // The judge judges: a misspelt NetworkPolicy field is refused.
    let m = manifests::render(&workflow(BUSY), &options(EgressPolicy::Ports, None, false));
    let broken = builtin_yaml(&m).replacen("policyTypes:", "policyType:", 1);
    let (ok, out) = kubernetes_validate(dir.path(), &broken);
    assert!(!ok, "an unknown field must be refused: {out}");
}

#[test]
fn the_cilium_policy_passes_the_cilium_crd_schema_strictly() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, report) in [
        (BUSY, true),
        // No fetch.allow: every host, by the `*` pattern.
        ("", false),
        // No fetch at all: DNS and the extra port only.
        ("fetch:\n  allow: []\n", false),
    ] {
        let m = manifests::render(
            &workflow(extra),
            &options(EgressPolicy::Cilium, None, report),
        );
        let (ok, out) = cilium_validate(dir.path(), "cnp.json", &m.to_json());
        assert!(ok, "{extra}: {out}");
        assert!(out.contains("CiliumNetworkPolicy/digest is valid"), "{out}");
    }
    let m = manifests::render(&workflow(BUSY), &options(EgressPolicy::Cilium, None, true));
    let json = serde_json::to_string_pretty(m.cilium_policy.as_ref().unwrap()).unwrap();
    // The judge judges: a misspelt rule, a protocol in lower case, a name with a space.
    for (from, to, says) in [
        ("\"toFQDNs\"", "\"toFqdns\"", "'toFqdns' was unexpected"),
        (
            "\"protocol\": \"TCP\"",
            "\"protocol\": \"tcp\"",
            "'tcp' is not one of",
        ),
        (
            "\"matchName\": \"api.github.com\"",
            "\"matchName\": \"api github.com\"",
            "does not match",
        ),
        ("\"10.0.0.7/32\"", "\"10.0.0.7/33\"", "is not a 'cidr'"),
    ] {
        let broken = json.replacen(from, to, 1);
        assert_ne!(broken, json, "{from} is in the policy");
        let (ok, out) = cilium_validate(dir.path(), "broken.json", &broken);
        assert!(!ok, "{to} must be refused: {out}");
        assert!(out.contains(says), "{to}: {out}");
    }
}

#[test]
fn a_recreate_workflow_renders_one_replica_with_the_recreate_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifests::render(
        &workflow("config:\n  strategy: Recreate\n"),
        &options(EgressPolicy::Ports, None, false),
    );
    let spec = m.deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1));
    let strategy = spec.strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("Recreate"));
    assert!(strategy.rolling_update.is_none());
    let (ok, out) = kubernetes_validate(dir.path(), &builtin_yaml(&m));
    assert!(ok, "{out}");
    // The default leaves the strategy to Kubernetes (RollingUpdate) and honours replicas.
    let m = manifests::render(
        &workflow("config:\n  replicas: 3\n"),
        &options(EgressPolicy::Ports, None, false),
    );
    let spec = m.deployment.spec.as_ref().unwrap();
    assert_eq!((spec.replicas, spec.strategy.is_none()), (Some(3), true));
}
