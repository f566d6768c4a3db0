//! What a workflow's engine pods may talk to: a NetworkPolicy per workflow, and with
//! `--egress-policy cilium` a CiliumNetworkPolicy that pins egress to host names. Pure like
//! [`crate::manifests`]: what goes to the cluster follows from the workflow and the options.
//!
//! - **Ingress**: TCP [`ENGINE_PORT`] only, from pods of the workflow's namespace (CronJob and
//!   `pipedreamer run` pods live there), from the ingress controller's namespace when the deploy
//!   has a route, from the control plane's namespace when runs are reported to a
//!   `<service>.<namespace>.svc` URL (its replays call the engine), and from namespaces named with
//!   `--allow-from`. Probes come from the kubelet on the node, which NetworkPolicies do not govern
//!   on the common CNIs.
//! - **Egress** ([`EgressPolicy`]): DNS (53, UDP and TCP), then the TCP ports `fetch.allow`
//!   implies (443; a `fetch.auth` rule's `host:port` adds its port and `allow_http` adds 80), the
//!   ports of `config.nats_url` (4222 unless written) and of the `--report-to` URL, and
//!   `--egress-port`s. A NetworkPolicy can only say "these ports, anywhere": host names are not
//!   something it can express. That is what `cilium` is for: the NetworkPolicy keeps only the
//!   ingress part and a CiliumNetworkPolicy carries egress, with `toFQDNs` built from
//!   `fetch.allow` (and the DNS rule Cilium's DNS proxy needs to learn those names' addresses).
//!
//! DNS is allowed to any destination on port 53, not only to `kube-system/kube-dns`: NodeLocal
//! DNSCache answers on a link-local address and other distributions run their resolver elsewhere,
//! and a policy that breaks name resolution breaks every fetch. The Cilium policy is stricter
//! (its DNS proxy must see the lookups), so there it is kube-dns by its standard labels.

use crate::labels;
use crate::manifests::{DeployOptions, ENGINE_PORT};
use crate::route::RouteKind;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::ApiResource;
use pipedreamer_spec::Workflow;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The `app.kubernetes.io/component` of both policy kinds.
pub const COMPONENT: &str = "network-policy";
/// Cilium's API version (CiliumNetworkPolicy).
pub const CILIUM_API_VERSION: &str = "cilium.io/v2";
/// Where an Ingress's controller runs unless `--ingress-controller-namespace` says otherwise
/// (ingress-nginx's own default namespace).
pub const DEFAULT_INGRESS_CONTROLLER_NAMESPACE: &str = "ingress-nginx";
/// The label every namespace carries with its own name (Kubernetes sets it since 1.22).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// DNS.
pub const DNS_PORT: u16 = 53;
/// HTTPS: every `fetch.allow` host is reachable on it.
pub const HTTPS_PORT: u16 = 443;
/// Plain HTTP: only for `fetch.auth` rules with `allow_http`.
pub const HTTP_PORT: u16 = 80;
/// NATS's port when `config.nats_url` names none.
pub const NATS_PORT: u16 = 4222;

/// How the engine's egress is restricted (`deploy --egress-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EgressPolicy {
    /// No egress rules: the NetworkPolicy restricts ingress only.
    None,
    /// DNS plus the ports the workflow needs, to any address (any CNI that enforces
    /// NetworkPolicies).
    #[default]
    Ports,
    /// A CiliumNetworkPolicy allowing DNS and `fetch.allow`'s host names (`toFQDNs`); needs
    /// Cilium.
    Cilium,
}

/// The network options of a deploy; the default is what the server's pipeline uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkOptions {
    /// How egress is restricted.
    pub egress: EgressPolicy,
    /// The namespace of the ingress controller (or Gateway data plane) that forwards a route's
    /// requests; `None`: [`DEFAULT_INGRESS_CONTROLLER_NAMESPACE`] for an Ingress, the Gateway's
    /// namespace for an HTTPRoute. Only used when the deploy has a route.
    pub ingress_controller_namespace: Option<String>,
    /// More namespaces whose pods may call the engine (e.g. `monitoring` for `/metrics`).
    pub allow_from: Vec<String>,
    /// More TCP ports egress may reach (e.g. a plain-HTTP service on 8080 in `fetch.allow`).
    pub egress_ports: Vec<u16>,
}

/// A host and port the engine connects to besides `fetch` (NATS, the run-report target).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// `scheme://user@host:port/path`, `host:port` or `host`: the port as written, else the
    /// scheme's (`http` 80, `https` 443), else `default_port`. `None` when there is no host or the
    /// port is not a number.
    pub fn parse(url: &str, default_port: u16) -> Option<Endpoint> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, url),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = match host_port.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        if host.is_empty() {
            return None;
        }
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => match scheme.as_deref() {
                Some("http") => HTTP_PORT,
                Some("https") => HTTPS_PORT,
                _ => default_port,
            },
        };
        Some(Endpoint {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The namespace of an in-cluster Service name (`svc.ns.svc`, `svc.ns.svc.cluster.local`).
    fn service_namespace(&self) -> Option<&str> {
        let labels: Vec<&str> = self.host.split('.').collect();
        match labels[..] {
            [_, namespace, "svc", ..] => Some(namespace),
            _ => None,
        }
    }

    /// Whether the host is a cluster-internal name (a Service name, or a bare name that the
    /// pod's search domains complete), which `toFQDNs` cannot select: Cilium applies FQDN rules
    /// only to addresses outside the cluster.
    fn in_cluster(&self) -> bool {
        self.service_namespace().is_some()
            || !self.host.contains('.')
            || self.host.ends_with(".cluster.local")
    }
}

/// What the engine connects to, computed once for both policy kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    /// `fetch.allow` (`None`: every host; empty: none).
    pub fetch_hosts: Option<Vec<String>>,
    /// The TCP ports fetch uses (empty when `fetch.allow` is empty).
    pub fetch_ports: BTreeSet<u16>,
    /// NATS servers and the run-report target.
    pub services: BTreeSet<Endpoint>,
    /// `--egress-port`s.
    pub extra_ports: BTreeSet<u16>,
}

impl Egress {
    /// What `workflow` deployed with `options` connects to.
    pub fn of(workflow: &Workflow, options: &DeployOptions) -> Egress {
        let fetch = &workflow.fetch;
        let mut fetch_ports = BTreeSet::new();
        if fetch.allow.as_ref().is_none_or(|hosts| !hosts.is_empty()) {
            fetch_ports.insert(HTTPS_PORT);
            for rule in &fetch.auth {
                fetch_ports.insert(rule.port.unwrap_or(HTTPS_PORT));
                if rule.allow_http {
                    fetch_ports.insert(rule.port.unwrap_or(HTTP_PORT));
                }
            }
        }
        let mut services = BTreeSet::new();
        if let Some(nats) = &workflow.config.nats_url {
            services.extend(
                nats.split(',')
                    .filter_map(|server| Endpoint::parse(server, NATS_PORT)),
            );
        }
        if let Some(report) = &options.report {
            services.extend(Endpoint::parse(&report.url, HTTP_PORT));
        }
        Egress {
            fetch_hosts: fetch.allow.clone(),
            fetch_ports,
            services,
            extra_ports: options.network.egress_ports.iter().copied().collect(),
        }
    }

    /// Every TCP port the NetworkPolicy opens (DNS aside).
    pub fn tcp_ports(&self) -> BTreeSet<u16> {
        let mut ports = self.fetch_ports.clone();
        ports.extend(self.services.iter().map(|s| s.port));
        ports.extend(&self.extra_ports);
        ports
    }
}

/// The namespaces besides the workflow's own whose pods may call the engine, sorted.
pub fn ingress_namespaces(options: &DeployOptions) -> Vec<String> {
    let mut namespaces = BTreeSet::new();
    if let Some(route) = &options.route {
        namespaces.insert(
            match (&options.network.ingress_controller_namespace, &route.kind) {
                (Some(ns), _) => ns.clone(),
                (None, RouteKind::Ingress { .. }) => DEFAULT_INGRESS_CONTROLLER_NAMESPACE.into(),
                (None, RouteKind::Gateway { namespace, .. }) => namespace.clone(),
            },
        );
    }
    if let Some(report) = &options.report
        && let Some(endpoint) = Endpoint::parse(&report.url, HTTP_PORT)
        && let Some(ns) = endpoint.service_namespace()
    {
        namespaces.insert(ns.to_owned());
    }
    namespaces.extend(options.network.allow_from.iter().cloned());
    namespaces.remove(&options.namespace);
    namespaces.into_iter().collect()
}

fn meta(workflow: &Workflow, options: &DeployOptions) -> ObjectMeta {
    ObjectMeta {
        name: Some(workflow.name.clone()),
        namespace: Some(options.namespace.clone()),
        labels: Some(labels::object_labels(workflow, COMPONENT)),
        ..ObjectMeta::default()
    }
}

fn port(number: u16, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(number))),
        protocol: Some(protocol.to_owned()),
        ..NetworkPolicyPort::default()
    }
}

fn namespace_peer(namespace: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                NAMESPACE_NAME_LABEL.to_owned(),
                namespace.to_owned(),
            )])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

/// The workflow's NetworkPolicy: ingress always, egress unless [`EgressPolicy::None`] (or
/// [`EgressPolicy::Cilium`], whose egress is the CiliumNetworkPolicy's).
pub fn network_policy(workflow: &Workflow, options: &DeployOptions) -> NetworkPolicy {
    // An empty pod selector in `from` means "every pod of this namespace".
    let mut from = vec![NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    }];
    from.extend(
        ingress_namespaces(options)
            .iter()
            .map(|ns| namespace_peer(ns)),
    );
    let ingress = NetworkPolicyIngressRule {
        from: Some(from),
        ports: Some(vec![port(ENGINE_PORT as u16, "TCP")]),
    };
    let (policy_types, egress) = match options.network.egress {
        EgressPolicy::Ports => {
            let egress = Egress::of(workflow, options);
            let mut rules = vec![NetworkPolicyEgressRule {
                ports: Some(vec![port(DNS_PORT, "UDP"), port(DNS_PORT, "TCP")]),
                to: None,
            }];
            let tcp: Vec<_> = egress
                .tcp_ports()
                .into_iter()
                .map(|p| port(p, "TCP"))
                .collect();
            if !tcp.is_empty() {
                rules.push(NetworkPolicyEgressRule {
                    ports: Some(tcp),
                    to: None,
                });
            }
            (vec!["Ingress", "Egress"], Some(rules))
        }
        EgressPolicy::None | EgressPolicy::Cilium => (vec!["Ingress"], None),
    };
    NetworkPolicy {
        metadata: meta(workflow, options),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(labels::selector(workflow)),
                ..LabelSelector::default()
            }),
            policy_types: Some(policy_types.into_iter().map(str::to_owned).collect()),
            ingress: Some(vec![ingress]),
            egress,
        }),
    }
}

/// A `fetch.allow` entry as a Cilium FQDN selector. Ours `*.example.com` matches subdomains at
/// any depth (`host_matches`), which is Cilium's `**.` prefix; Cilium's `*.` would match one
/// level only.
fn fqdn_selector(pattern: &str) -> Value {
    match pattern.strip_prefix("*.") {
        Some(suffix) => json!({"matchPattern": format!("**.{}", suffix.to_ascii_lowercase())}),
        None => json!({"matchName": pattern.to_ascii_lowercase()}),
    }
}

/// `address/32` (or `/128`) when `host` is an IP address.
fn cidr(host: &str) -> Option<String> {
    let ip = host.parse::<std::net::IpAddr>().ok()?;
    Some(format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }))
}

fn cilium_ports(ports: impl IntoIterator<Item = u16>, protocol: &str) -> Value {
    let ports: Vec<Value> = ports
        .into_iter()
        .map(|p| json!({"port": p.to_string(), "protocol": protocol}))
        .collect();
    json!([{ "ports": ports }])
}

/// The CiliumNetworkPolicy of [`EgressPolicy::Cilium`] (`None` for the other modes): egress to
/// kube-dns with DNS visibility, to `fetch.allow`'s names on the fetch ports, to NATS and the
/// report target (by name outside the cluster, as the cluster entity inside it, by address for
/// IPs), and to `--egress-port`s anywhere.
pub fn cilium_policy(workflow: &Workflow, options: &DeployOptions) -> Option<Value> {
    if options.network.egress != EgressPolicy::Cilium {
        return None;
    }
    let egress = Egress::of(workflow, options);
    let mut rules = vec![json!({
        "toEndpoints": [{"matchLabels": {
            "k8s:io.kubernetes.pod.namespace": "kube-system",
            "k8s:k8s-app": "kube-dns",
        }}],
        "toPorts": [{
            "ports": [{"port": DNS_PORT.to_string(), "protocol": "ANY"}],
            // Every lookup goes through Cilium's DNS proxy, which is how toFQDNs learns the
            // addresses behind the names.
            "rules": {"dns": [{"matchPattern": "*"}]},
        }],
    })];
    if !egress.fetch_ports.is_empty() {
        let ports = cilium_ports(egress.fetch_ports.iter().copied(), "TCP");
        // An address in `fetch.allow` is no DNS name: it is allowed by CIDR instead.
        let (addresses, names): (Vec<&String>, Vec<&String>) = egress
            .fetch_hosts
            .iter()
            .flatten()
            .partition(|h| h.parse::<std::net::IpAddr>().is_ok());
        let names: Vec<Value> = match &egress.fetch_hosts {
            None => vec![json!({"matchPattern": "*"})],
            Some(_) => names.iter().map(|h| fqdn_selector(h)).collect(),
        };
        if !names.is_empty() {
            rules.push(json!({"toFQDNs": names, "toPorts": ports}));
        }
        if !addresses.is_empty() {
            let cidrs: Vec<String> = addresses.iter().filter_map(|a| cidr(a)).collect();
            rules.push(json!({"toCIDR": cidrs, "toPorts": ports}));
        }
    }
    for service in &egress.services {
        let ports = cilium_ports([service.port], "TCP");
        let rule = match cidr(&service.host) {
            Some(cidr) => json!({"toCIDR": [cidr], "toPorts": ports}),
            None if service.in_cluster() => json!({"toEntities": ["cluster"], "toPorts": ports}),
            None => json!({"toFQDNs": [{"matchName": service.host}], "toPorts": ports}),
        };
        rules.push(rule);
    }
    if !egress.extra_ports.is_empty() {
        rules.push(json!({
            "toEntities": ["all"],
            "toPorts": cilium_ports(egress.extra_ports.iter().copied(), "TCP"),
        }));
    }
    let meta = meta(workflow, options);
    Some(json!({
        "apiVersion": CILIUM_API_VERSION,
        "kind": "CiliumNetworkPolicy",
        "metadata": crate::manifests::to_value(&meta),
        "spec": {
            "description": format!(
                "Egress of workflow {}: DNS, fetch.allow's hosts, NATS and run reports (written by pipedreamer deploy)",
                workflow.name
            ),
            "endpointSelector": {"matchLabels": labels::selector(workflow)},
            "egress": rules,
        },
    }))
}

/// The dynamic API resource of CiliumNetworkPolicies.
pub fn cilium_resource() -> ApiResource {
    ApiResource {
        group: "cilium.io".to_owned(),
        version: "v2".to_owned(),
        api_version: CILIUM_API_VERSION.to_owned(),
        kind: "CiliumNetworkPolicy".to_owned(),
        plural: "ciliumnetworkpolicies".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_scheme_credentials_and_default_ports() {
        let at = |host: &str, port| {
            Some(Endpoint {
                host: host.into(),
                port,
            })
        };
        assert_eq!(Endpoint::parse("nats://n:4333", 4222), at("n", 4333));
        assert_eq!(
            Endpoint::parse("tls://user:pw@N.example:4222", 1),
            at("n.example", 4222)
        );
        assert_eq!(
            Endpoint::parse("nats.nats.svc", 4222),
            at("nats.nats.svc", 4222)
        );
        assert_eq!(
            Endpoint::parse("https://cp.example.com/x", 1),
            at("cp.example.com", 443)
        );
        assert_eq!(Endpoint::parse("http://cp:7070/api", 1), at("cp", 7070));
        assert_eq!(
            Endpoint::parse("http://[fd00::1]:7070", 1),
            at("fd00::1", 7070)
        );
        assert_eq!(Endpoint::parse("http://", 1), None);
        assert_eq!(Endpoint::parse("nats://n:port", 4222), None);
        let svc = Endpoint::parse("http://pipedreamer.cp.svc.cluster.local:7070", 80).unwrap();
        assert_eq!(svc.service_namespace(), Some("cp"));
        assert!(svc.in_cluster());
        assert!(!Endpoint::parse("nats.example.com", 1).unwrap().in_cluster());
        // A bare name (the pod's search domains complete it) is in the cluster, namespace unknown.
        let bare = Endpoint::parse("nats://n:4222", 1).unwrap();
        assert_eq!((bare.service_namespace(), bare.in_cluster()), (None, true));
    }

    fn workflow(extra: &str) -> Workflow {
        let text =
            format!("name: hello\nversion: \"1\"\nnodes:\n  - {{id: a, file: a.js}}\n{extra}");
        let files = pipedreamer_spec::source::MemorySource::from_pairs([
            ("workflow.yaml", text.as_str()),
            ("a.js", "export default () => 1"),
        ]);
        pipedreamer_spec::resolve(&files).unwrap().workflow
    }

    fn options(network: NetworkOptions) -> DeployOptions {
        DeployOptions {
            network,
            ..crate::manifests::tests::options(None)
        }
    }

    #[test]
    fn egress_ports_follow_fetch_auth_nats_the_report_target_and_the_flags() {
        let wf = workflow(
            "config:\n  nats_url: tls://nats.example.com:4443,nats.nats.svc\nfetch:\n  allow: [api.github.com, \"*.internal.example\", 10.0.0.7]\n  auth:\n    - {host: \"10.0.0.7:8443\", secret: a.b}\n    - {host: api.github.com, secret: c.d, allow_http: true}\n",
        );
        let mut opts = options(NetworkOptions {
            egress_ports: vec![5432],
            ..NetworkOptions::default()
        });
        opts.report = Some(crate::manifests::EngineReport {
            url: "http://pipedreamer.cp.svc.cluster.local:7070".into(),
        });
        let egress = Egress::of(&wf, &opts);
        assert_eq!(egress.fetch_ports, BTreeSet::from([80, 443, 8443]));
        assert_eq!(
            egress.tcp_ports(),
            BTreeSet::from([80, 443, 4222, 4443, 5432, 7070, 8443])
        );
        // No fetch at all: no fetch ports, DNS still.
        let closed = workflow("fetch:\n  allow: []\n");
        let egress = Egress::of(&closed, &options(NetworkOptions::default()));
        assert!(egress.tcp_ports().is_empty(), "{egress:?}");
        let policy = network_policy(&closed, &options(NetworkOptions::default()));
        let rules = policy.spec.unwrap().egress.unwrap();
        assert_eq!(rules.len(), 1, "DNS only: {rules:?}");

        let under_cilium = DeployOptions {
            network: NetworkOptions {
                egress: EgressPolicy::Cilium,
                ..NetworkOptions::default()
            },
            ..opts
        };
        let cilium = cilium_policy(&wf, &under_cilium).unwrap();
        let rules = cilium["spec"]["egress"].as_array().unwrap();
        let to = |key: &str| -> Vec<&Value> { rules.iter().filter_map(|r| r.get(key)).collect() };
        assert_eq!(
            to("toFQDNs"),
            [
                &json!([{"matchName": "api.github.com"}, {"matchPattern": "**.internal.example"}]),
                &json!([{"matchName": "nats.example.com"}]),
            ]
        );
        assert_eq!(to("toCIDR"), [&json!(["10.0.0.7/32"])]);
        // In-cluster NATS and the control plane are not names toFQDNs can select.
        assert_eq!(to("toEntities").len(), 2, "{rules:?}");
        // The NetworkPolicy keeps only ingress under Cilium.
        let np = network_policy(&wf, &under_cilium);
        let spec = np.spec.unwrap();
        assert_eq!(spec.policy_types.unwrap(), ["Ingress"]);
        assert!(spec.egress.is_none());
        let ports = cilium_policy(&closed, &options(NetworkOptions::default()));
        assert!(ports.is_none(), "ports mode has no Cilium policy");
    }

    #[test]
    fn ingress_comes_from_the_namespace_the_controller_the_control_plane_and_allow_from() {
        use crate::route::RouteOptions;
        let mut opts = options(NetworkOptions::default());
        assert_eq!(ingress_namespaces(&opts), Vec::<String>::new());
        opts.route = Some(
            RouteOptions::new(
                "hello.example.com",
                RouteKind::Ingress { class: None },
                None,
            )
            .unwrap(),
        );
        assert_eq!(ingress_namespaces(&opts), ["ingress-nginx"]);
        opts.route = Some(
            RouteOptions::new(
                "hello.example.com",
                RouteKind::Gateway {
                    namespace: "infra".into(),
                    name: "public".into(),
                },
                None,
            )
            .unwrap(),
        );
        assert_eq!(ingress_namespaces(&opts), ["infra"]);
        opts.network.ingress_controller_namespace = Some("envoy-gateway-system".into());
        opts.network.allow_from = vec!["monitoring".into(), "team".into()];
        opts.report = Some(crate::manifests::EngineReport {
            url: "http://pipedreamer.cp.svc:7070".into(),
        });
        // The workflow's own namespace is already in (every pod of it); not listed twice.
        assert_eq!(
            ingress_namespaces(&opts),
            ["cp", "envoy-gateway-system", "monitoring"]
        );
    }

    #[test]
    fn fetch_patterns_become_cilium_selectors_of_the_same_reach() {
        assert_eq!(
            fqdn_selector("API.github.com"),
            json!({"matchName": "api.github.com"})
        );
        // Ours matches any depth below the suffix; Cilium's `*.` only one label.
        assert_eq!(
            fqdn_selector("*.example.com"),
            json!({"matchPattern": "**.example.com"})
        );
    }
}
