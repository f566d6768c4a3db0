//! `control_plane::render`: the SQLite and PostgreSQL shapes, the exact RBAC the server gets,
//! its hardening, the API Ingress, and the rule that secrets live only in the config Secret.

use pipedreamer_kube::control_plane::{
    self, ApiRoute, CONFIG_KEY, ControlPlane, ControlPlaneError, ControlPlaneOptions, Database,
};

const PASSWORD: &str = "pw-0f9c2d7e-only-in-the-secret";
const JWT: &str = "jwt-5b1e8a3c9d7f4e2a6b0c8d1e3f5a7b9c-only-in-the-secret";

fn postgres(replicas: Option<u32>) -> ControlPlaneOptions {
    ControlPlaneOptions {
        database: Database::Postgres {
            url: format!("postgres://pipedreamer:{PASSWORD}@postgres.db.svc:5432/pipedreamer"),
            jwt_secret: JWT.to_owned(),
        },
        replicas,
        workspace_namespaces: vec!["team-a".to_owned(), "team-b".to_owned()],
        ..ControlPlaneOptions::new("registry.example.com/pipedreamer:0.1.0")
    }
}

fn sqlite() -> ControlPlaneOptions {
    ControlPlaneOptions::new("registry.example.com/pipedreamer:0.1.0")
}

fn render(options: &ControlPlaneOptions) -> ControlPlane {
    control_plane::render(options).unwrap()
}

fn kinds(cp: &ControlPlane) -> Vec<String> {
    cp.objects()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn pod(cp: &ControlPlane) -> &k8s_openapi::api::core::v1::PodSpec {
    cp.deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
}

fn config_text(cp: &ControlPlane) -> &str {
    &cp.config.string_data.as_ref().unwrap()[CONFIG_KEY]
}

#[test]
fn sqlite_is_one_recreated_replica_on_a_volume() {
    let cp = render(&sqlite());
    let spec = cp.deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("Recreate")
    );
    let claim = cp.data.as_ref().expect("a PersistentVolumeClaim");
    let claim_spec = claim.spec.as_ref().unwrap();
    assert_eq!(
        claim_spec.access_modes.as_deref(),
        Some(&["ReadWriteOnce".to_owned()][..])
    );
    let data = pod(&cp)
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "data")
        .unwrap();
    assert_eq!(
        data.persistent_volume_claim.as_ref().unwrap().claim_name,
        claim.metadata.name.clone().unwrap()
    );
    // No database key: the server's default is SQLite in the data directory (the volume).
    let config = config_text(&cp);
    assert!(!config.contains("database"), "{config}");
    assert!(
        config.contains("data_dir: /var/lib/pipedreamer"),
        "{config}"
    );
    assert_eq!(
        kinds(&cp),
        [
            "Namespace/pipedreamer",
            "ServiceAccount/pipedreamer",
            "Secret/pipedreamer-config",
            "Role/pipedreamer-server",
            "RoleBinding/pipedreamer-server",
            "PersistentVolumeClaim/pipedreamer-data",
            "Deployment/pipedreamer",
            "Service/pipedreamer",
        ]
    );
}

#[test]
fn postgres_is_stateless_replicas_rolled_without_downtime() {
    let cp = render(&postgres(None));
    let spec = cp.deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2), "the default for PostgreSQL");
    let strategy = spec.strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    assert!(cp.data.is_none(), "no PersistentVolumeClaim");
    assert!(
        !kinds(&cp)
            .iter()
            .any(|k| k.starts_with("PersistentVolumeClaim"))
    );
    let data = pod(&cp)
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "data")
        .unwrap();
    assert!(data.empty_dir.is_some() && data.persistent_volume_claim.is_none());
    let config = config_text(&cp);
    assert!(config.contains("database: "), "{config}");
    assert!(config.contains("jwt_secret: "), "{config}");

    let five = render(&postgres(Some(5)));
    assert_eq!(five.deployment.spec.as_ref().unwrap().replicas, Some(5));
}

#[test]
fn the_server_gets_exactly_the_verbs_it_uses_in_each_namespace_and_no_cluster_role() {
    let cp = render(&postgres(None));
    // Written out here, not read from SERVER_PERMISSIONS: a verb added there must be added
    // here on purpose.
    let expected: Vec<(String, String, Vec<String>)> = [
        ("apps", "deployments", &["get", "patch", "delete"][..]),
        ("", "services", &["patch", "delete"]),
        ("", "secrets", &["patch", "delete"]),
        ("batch", "cronjobs", &["list", "patch", "delete"]),
        ("", "pods", &["list"]),
        ("", "events", &["list"]),
        (
            "networking.k8s.io",
            "ingresses",
            &["list", "patch", "delete"],
        ),
        (
            "gateway.networking.k8s.io",
            "httproutes",
            &["list", "patch", "delete"],
        ),
        (
            "networking.k8s.io",
            "networkpolicies",
            &["list", "patch", "delete"],
        ),
        (
            "cilium.io",
            "ciliumnetworkpolicies",
            &["list", "patch", "delete"],
        ),
    ]
    .iter()
    .map(|(g, r, v)| {
        (
            g.to_string(),
            r.to_string(),
            v.iter().map(|s| s.to_string()).collect(),
        )
    })
    .collect();
    let namespaces: Vec<_> = cp
        .roles
        .iter()
        .map(|r| r.metadata.namespace.clone().unwrap())
        .collect();
    assert_eq!(namespaces, ["pipedreamer", "team-a", "team-b"]);
    for role in &cp.roles {
        let rules: Vec<(String, String, Vec<String>)> = role
            .rules
            .as_ref()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r.api_groups.as_ref().unwrap().len(), 1);
                assert_eq!(r.resources.as_ref().unwrap().len(), 1);
                assert!(r.resource_names.is_none() && r.non_resource_urls.is_none());
                (
                    r.api_groups.as_ref().unwrap()[0].clone(),
                    r.resources.as_ref().unwrap()[0].clone(),
                    r.verbs.clone(),
                )
            })
            .collect();
        assert_eq!(rules, expected, "{:?}", role.metadata.namespace);
    }
    assert_eq!(cp.role_bindings.len(), 3);
    for (binding, role) in cp.role_bindings.iter().zip(&cp.roles) {
        assert_eq!(binding.metadata.namespace, role.metadata.namespace);
        assert_eq!(binding.role_ref.kind, "Role");
        assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
        let subjects = binding.subjects.as_ref().unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0].kind, "ServiceAccount");
        assert_eq!(subjects[0].name, "pipedreamer");
        assert_eq!(subjects[0].namespace.as_deref(), Some("pipedreamer"));
    }
    let all = cp.to_json();
    assert!(!all.contains("ClusterRole"), "{all}");
    assert!(!all.contains("\"*\""), "no wildcards: {all}");
}

#[test]
fn secrets_are_only_in_the_config_secret() {
    let options = postgres(None);
    let cp = render(&options);
    let config = config_text(&cp);
    assert!(
        config.contains(PASSWORD) && config.contains(JWT),
        "{config}"
    );
    for object in cp.objects() {
        if object["kind"] == "Secret" {
            continue;
        }
        let text = object.to_string();
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains(JWT), "{text}");
    }
    // Neither do the options' or the objects' Debug forms (they reach logs).
    let debug = format!("{options:?}");
    assert!(!debug.contains(PASSWORD) && !debug.contains(JWT), "{debug}");
    // Files: only the Secret's is marked for owner-only permissions, and it holds them.
    for file in cp.files() {
        let holds = file.text.contains(PASSWORD) || file.text.contains(JWT);
        assert_eq!(holds, file.secret, "{}", file.name);
    }
}

#[test]
fn pods_are_hardened_like_workflow_pods_but_mount_their_token() {
    let cp = render(&sqlite());
    let pod = pod(&cp);
    assert_eq!(pod.service_account_name.as_deref(), Some("pipedreamer"));
    assert_eq!(pod.automount_service_account_token, Some(true));
    let pod_security = pod.security_context.as_ref().unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(pod_security.run_as_user, Some(65532));
    assert_eq!(
        pod_security.seccomp_profile.as_ref().unwrap().type_,
        "RuntimeDefault"
    );
    let container = &pod.containers[0];
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(
        security.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_owned()][..])
    );
    let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone()
            .unwrap()
    };
    assert_eq!(path(&container.readiness_probe), "/readyz");
    assert_eq!(path(&container.liveness_probe), "/healthz");
    assert_eq!(
        container.ports.as_ref().unwrap()[0].container_port,
        control_plane::SERVER_PORT
    );
    let args = container.args.as_ref().unwrap();
    assert_eq!(args[..2], ["--config", "/etc/pipedreamer/config.yaml"]);
    let resources = container.resources.as_ref().unwrap();
    assert!(resources.requests.is_some() && resources.limits.is_some());
    // The config comes from the Secret, read-only; the read-only root has writable /tmp and data.
    let mounts = container.volume_mounts.as_ref().unwrap();
    let config = mounts.iter().find(|m| m.name == "config").unwrap();
    assert_eq!(config.mount_path, "/etc/pipedreamer");
    assert_eq!(config.read_only, Some(true));
    let config_volume = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "config")
        .unwrap();
    assert_eq!(
        config_volume
            .secret
            .as_ref()
            .unwrap()
            .secret_name
            .as_deref(),
        Some("pipedreamer-config")
    );
    assert!(mounts.iter().any(|m| m.mount_path == "/tmp"));
}

#[test]
fn a_changed_configuration_rolls_the_pods() {
    let annotation = |cp: &ControlPlane| {
        cp.deployment
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()[control_plane::CONFIG_HASH_ANNOTATION]
            .clone()
    };
    let a = render(&postgres(None));
    assert_eq!(
        annotation(&a),
        annotation(&render(&postgres(None))),
        "stable"
    );
    let mut other = postgres(None);
    other.database = Database::Postgres {
        url: "postgres://u:p@elsewhere:5432/db".to_owned(),
        jwt_secret: JWT.to_owned(),
    };
    assert_ne!(annotation(&a), annotation(&render(&other)));
}

#[test]
fn a_host_gets_an_ingress_for_the_api_only_with_cert_manager_tls() {
    let mut options = sqlite();
    options.route = Some(ApiRoute {
        host: "pipedreamer.example.com".to_owned(),
        ingress_class: Some("nginx".to_owned()),
        tls_issuer: Some("letsencrypt-prod".to_owned()),
    });
    let cp = render(&options);
    let ingress = cp.ingress.as_ref().expect("an Ingress");
    assert_eq!(
        ingress.metadata.annotations.as_ref().unwrap()["cert-manager.io/cluster-issuer"],
        "letsencrypt-prod"
    );
    let spec = ingress.spec.as_ref().unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let tls = &spec.tls.as_ref().unwrap()[0];
    assert_eq!(
        tls.hosts.as_deref(),
        Some(&["pipedreamer.example.com".to_owned()][..])
    );
    assert_eq!(tls.secret_name.as_deref(), Some("pipedreamer-tls"));
    let rule = &spec.rules.as_ref().unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("pipedreamer.example.com"));
    let paths: Vec<_> = rule
        .http
        .as_ref()
        .unwrap()
        .paths
        .iter()
        .map(|p| (p.path.clone().unwrap(), p.path_type.clone()))
        .collect();
    // The API and its webhooks, the dashboard; /metrics, /healthz and /readyz stay private.
    let expected: Vec<(String, String)> = [
        ("/api", "Prefix"),
        ("/", "Exact"),
        ("/signin", "Exact"),
        ("/signout", "Exact"),
        ("/workspaces", "Prefix"),
        ("/deployments", "Prefix"),
        ("/builds", "Prefix"),
        ("/assets", "Prefix"),
    ]
    .iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect();
    assert_eq!(paths, expected);
    // How an Ingress matches: Exact is the whole path, Prefix whole segments ("/" is all).
    let routed = |path: &str| {
        paths.iter().any(|(p, t)| match t.as_str() {
            "Exact" => p == path,
            _ => p == "/" || path == p || path.starts_with(&format!("{p}/")),
        })
    };
    for private in ["/metrics", "/healthz", "/readyz"] {
        assert!(!routed(private), "{private} is routed");
    }
    assert!(routed("/api/deployments/x/webhook") && routed("/builds/x/log"));
    let config = config_text(&cp);
    assert!(
        config.contains("public_url: \"https://pipedreamer.example.com\""),
        "{config}"
    );

    // Without an issuer: no TLS, no annotation, an http public URL.
    options.route.as_mut().unwrap().tls_issuer = None;
    let cp = render(&options);
    let ingress = cp.ingress.as_ref().unwrap();
    assert!(ingress.metadata.annotations.is_none());
    assert!(ingress.spec.as_ref().unwrap().tls.is_none());
    assert!(config_text(&cp).contains("public_url: \"http://pipedreamer.example.com\""));
    // Without a host: no Ingress.
    assert!(render(&sqlite()).ingress.is_none());
}

#[test]
fn bad_options_are_refused_naming_the_flag() {
    let err = |options: ControlPlaneOptions| control_plane::render(&options).unwrap_err();
    let mut o = sqlite();
    o.replicas = Some(3);
    assert_eq!(err(o), ControlPlaneError::SqliteReplicas(3));
    assert_eq!(
        err(postgres(Some(0))).to_string(),
        "--replicas must be at least 1\nhint: scale to zero with `kubectl scale` instead"
    );
    let mut o = sqlite();
    o.namespace = "Team_A".into();
    assert!(err(o).to_string().starts_with("--namespace \"Team_A\""));
    let mut o = postgres(None);
    o.workspace_namespaces.push("pipedreamer".into());
    assert_eq!(
        err(o),
        ControlPlaneError::DuplicateNamespace("pipedreamer".into())
    );
    let mut o = postgres(None);
    o.database = Database::Postgres {
        url: "mysql://u:p@h/db".into(),
        jwt_secret: JWT.into(),
    };
    assert_eq!(err(o), ControlPlaneError::DatabaseUrl);
    let mut o = postgres(None);
    o.database = Database::Postgres {
        url: "postgres://u:p@/db".into(),
        jwt_secret: JWT.into(),
    };
    assert_eq!(err(o), ControlPlaneError::DatabaseHost);
    let mut o = postgres(None);
    o.database = Database::Postgres {
        url: "postgres://u:p@h/db".into(),
        jwt_secret: "short".into(),
    };
    let short = err(o).to_string();
    assert!(
        short.contains("(it has 5)") && !short.contains("short\""),
        "{short}"
    );
    let mut o = sqlite();
    o.route = Some(ApiRoute {
        host: "https://x.example.com".into(),
        ingress_class: None,
        tls_issuer: None,
    });
    assert!(err(o).to_string().contains("scheme, port or path"));
    let mut o = sqlite();
    o.route = Some(ApiRoute {
        host: "x.example.com".into(),
        ingress_class: Some("Nginx!".into()),
        tls_issuer: None,
    });
    assert!(err(o).to_string().starts_with("--ingress-class \"Nginx!\""));
    let mut o = sqlite();
    o.image = "has space".into();
    assert!(matches!(err(o), ControlPlaneError::Image(_)));
}

#[test]
fn generated_jwt_secrets_are_long_and_differ() {
    let a = control_plane::generate_jwt_secret().unwrap();
    let b = control_plane::generate_jwt_secret().unwrap();
    assert_eq!(a.len(), 64);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}
