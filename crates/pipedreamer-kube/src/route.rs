//! A public URL for a workflow: an Ingress (with a cert-manager certificate when a ClusterIssuer
//! is named) or a Gateway API HTTPRoute in front of its Service. Only the two public entry points
//! are routed, `POST /run` (Exact) and `POST /hooks/<name>` (prefix `/hooks/`): `/metrics`,
//! `/healthz` and `/readyz` stay reachable only inside the cluster.
//!
//! Pure like [`crate::manifests`]: what goes to the cluster, the host validation that guards it,
//! and reading a URL back from an object the cluster returned.

use crate::labels;
use crate::manifests::ENGINE_PORT;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::ApiResource;
use pipedreamer_spec::Workflow;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The annotation cert-manager's ingress-shim reads to issue the Ingress's certificate.
pub const CLUSTER_ISSUER_ANNOTATION: &str = "cert-manager.io/cluster-issuer";
/// On an HTTPRoute, the ClusterIssuer of the Gateway's certificate (TLS is the Gateway's
/// listener's business, so the route only records it, for the URL's scheme).
pub const ROUTE_TLS_ISSUER_ANNOTATION: &str = "pipedreamer.dev/tls-issuer";
/// The `app.kubernetes.io/component` of route objects.
pub const COMPONENT: &str = "route";
/// The Gateway API group.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
/// The Gateway API version the HTTPRoute is written for.
pub const GATEWAY_API_VERSION: &str = "gateway.networking.k8s.io/v1";
/// cert-manager's API version (ClusterIssuer).
pub const CERT_MANAGER_API_VERSION: &str = "cert-manager.io/v1";
/// The paths the route carries: `(path, Ingress pathType, HTTPRoute match type)`.
pub const ROUTED_PATHS: &[(&str, &str, &str)] = &[
    ("/run", "Exact", "Exact"),
    ("/hooks/", "Prefix", "PathPrefix"),
];

/// How a workflow is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOptions {
    /// The public host name, e.g. `api.example.com` (a DNS name, see [`validate_host`]).
    pub host: String,
    /// Ingress or HTTPRoute.
    pub kind: RouteKind,
    /// A cert-manager ClusterIssuer: the Ingress gets TLS with secret `<name>-tls` and the
    /// annotation `cert-manager.io/cluster-issuer`; for an HTTPRoute it names the issuer of the
    /// Gateway's certificate (recorded on the route) and makes the URL `https`.
    pub tls_issuer: Option<String>,
}

/// Which kind of route object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKind {
    /// A `networking.k8s.io/v1` Ingress; `class` is its `ingressClassName` (`None`: the
    /// cluster's default IngressClass).
    Ingress {
        /// `ingressClassName`.
        class: Option<String>,
    },
    /// A `gateway.networking.k8s.io/v1` HTTPRoute attached to this Gateway.
    Gateway {
        /// The Gateway's namespace.
        namespace: String,
        /// The Gateway's name.
        name: String,
    },
}

/// Bad routing input, naming the flag and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Not a DNS name a route can carry.
    #[error("{flag} {value:?} is not a valid host name: {reason}\nhint: {hint}")]
    Host {
        /// The flag (or setting) it came from, e.g. `--host`.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        reason: String,
        /// How to fix it.
        hint: String,
    },
    /// `--gateway` is not `NAMESPACE/NAME` of valid names.
    #[error(
        "--gateway {0:?} is not NAMESPACE/NAME\nhint: name the Gateway the route attaches to, e.g. `--gateway infra/public`"
    )]
    Gateway(String),
    /// An IngressClass or ClusterIssuer name that Kubernetes would refuse.
    #[error(
        "{flag} {value:?} is not a valid Kubernetes name\nhint: use lowercase letters, digits, '-' and '.', e.g. `nginx` or `letsencrypt-prod`"
    )]
    Name {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
    },
}

fn host_error(flag: &'static str, value: &str, reason: &str, hint: &str) -> RouteError {
    RouteError::Host {
        flag,
        value: value.to_owned(),
        reason: reason.to_owned(),
        hint: hint.to_owned(),
    }
}

/// Checks that `host` is a name an Ingress rule and an HTTPRoute hostname accept: a lowercase
/// RFC 1123 DNS name (labels of `a-z0-9-`, at most 63 characters, 253 in all), not an IP
/// address and not a wildcard (a workflow owns exactly one host). `flag` names where it came
/// from in the error.
pub fn validate_host(flag: &'static str, host: &str) -> Result<(), RouteError> {
    let example = "pass just the name, e.g. `api.example.com`";
    if host.is_empty() {
        return Err(host_error(flag, host, "it is empty", example));
    }
    if host.contains("://") || host.contains('/') || host.contains(':') {
        return Err(host_error(
            flag,
            host,
            "it has a scheme, port or path",
            "pass only the host name: the scheme follows --tls-issuer and the paths are fixed (/run, /hooks/)",
        ));
    }
    if host.contains('*') {
        return Err(host_error(
            flag,
            host,
            "wildcards are not allowed",
            "a workflow is published on one host; name it, e.g. `hello.example.com`",
        ));
    }
    if host.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(host_error(
            flag,
            host,
            "it has uppercase letters",
            &format!("use `{}`", host.to_ascii_lowercase()),
        ));
    }
    if host.len() > 253 {
        return Err(host_error(
            flag,
            host,
            "it is longer than 253 characters",
            example,
        ));
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(host_error(
            flag,
            host,
            "it is an IP address; routes match on DNS names",
            "point a DNS name at the ingress controller's address and pass that name",
        ));
    }
    for label in host.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(host_error(
                flag,
                host,
                &format!(
                    "the label {label:?} must be 1-63 of a-z, 0-9 and '-', not starting or ending with '-'"
                ),
                example,
            ));
        }
    }
    Ok(())
}

/// Whether `name` is a DNS-1123 subdomain (the rule for IngressClass, ClusterIssuer, Gateway and
/// namespace-like names; namespaces are stricter, which the API server then says).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Checks an IngressClass or ClusterIssuer name given with `flag`.
pub fn validate_name(flag: &'static str, value: &str) -> Result<(), RouteError> {
    if valid_name(value) {
        Ok(())
    } else {
        Err(RouteError::Name {
            flag,
            value: value.to_owned(),
        })
    }
}

/// Parses `--gateway NAMESPACE/NAME`.
pub fn parse_gateway(value: &str) -> Result<(String, String), RouteError> {
    match value.split_once('/') {
        Some((ns, name)) if valid_name(ns) && valid_name(name) => {
            Ok((ns.to_owned(), name.to_owned()))
        }
        _ => Err(RouteError::Gateway(value.to_owned())),
    }
}

impl RouteOptions {
    /// Validated options: the host (named `--host` in errors), the class and issuer names.
    pub fn new(
        host: &str,
        kind: RouteKind,
        tls_issuer: Option<String>,
    ) -> Result<Self, RouteError> {
        Self::named("--host", host, kind, tls_issuer)
    }

    /// Like [`RouteOptions::new`], with errors about the host naming `source` (e.g. the server's
    /// `routing.base_domain` setting, when the host is `<subdomain>.<base_domain>`).
    pub fn named(
        source: &'static str,
        host: &str,
        kind: RouteKind,
        tls_issuer: Option<String>,
    ) -> Result<Self, RouteError> {
        validate_host(source, host)?;
        if let RouteKind::Ingress { class: Some(class) } = &kind {
            validate_name("--ingress-class", class)?;
        }
        if let Some(issuer) = &tls_issuer {
            validate_name("--tls-issuer", issuer)?;
        }
        Ok(Self {
            host: host.to_owned(),
            kind,
            tls_issuer,
        })
    }

    /// `https://host` when TLS is configured, else `http://host`.
    pub fn url(&self) -> String {
        let scheme = if self.tls_issuer.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host)
    }
}

/// The TLS Secret cert-manager writes the Ingress's certificate to.
pub fn tls_secret_name(workflow: &str) -> String {
    format!("{workflow}-tls")
}

/// The HTTPRoute's API resource, for dynamic API calls (it is a CRD, not in k8s-openapi).
pub fn http_route_resource() -> ApiResource {
    ApiResource {
        group: GATEWAY_GROUP.to_owned(),
        version: "v1".to_owned(),
        api_version: GATEWAY_API_VERSION.to_owned(),
        kind: "HTTPRoute".to_owned(),
        plural: "httproutes".to_owned(),
    }
}

/// A rendered route object.
#[derive(Debug, Clone)]
pub enum Route {
    /// The Ingress.
    Ingress(Box<Ingress>),
    /// The HTTPRoute, as the JSON the API takes (a CRD has no k8s-openapi type).
    HttpRoute(Value),
}

impl Route {
    /// `Ingress` or `HTTPRoute`.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::Ingress(_) => "Ingress",
            Route::HttpRoute(_) => "HTTPRoute",
        }
    }

    /// The object as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            Route::Ingress(ingress) => serde_json::to_value(ingress).unwrap_or_default(),
            Route::HttpRoute(value) => value.clone(),
        }
    }
}

fn route_meta(
    workflow: &Workflow,
    namespace: &str,
    annotations: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(workflow.name.clone()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels::object_labels(workflow, COMPONENT)),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    }
}

/// The route object for `workflow`'s Service in `namespace`.
pub fn render(workflow: &Workflow, namespace: &str, route: &RouteOptions) -> Route {
    match &route.kind {
        RouteKind::Ingress { class } => {
            Route::Ingress(Box::new(ingress(workflow, namespace, route, class.clone())))
        }
        RouteKind::Gateway {
            namespace: gateway_ns,
            name,
        } => Route::HttpRoute(http_route(workflow, namespace, route, gateway_ns, name)),
    }
}

fn ingress(
    workflow: &Workflow,
    namespace: &str,
    route: &RouteOptions,
    class: Option<String>,
) -> Ingress {
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: workflow.name.clone(),
            port: Some(ServiceBackendPort {
                number: Some(ENGINE_PORT),
                ..ServiceBackendPort::default()
            }),
        }),
        ..IngressBackend::default()
    };
    let paths = ROUTED_PATHS
        .iter()
        .map(|(path, ingress_type, _)| HTTPIngressPath {
            path: Some((*path).to_owned()),
            path_type: (*ingress_type).to_owned(),
            backend: backend.clone(),
        })
        .collect();
    let mut annotations = BTreeMap::new();
    let tls = route.tls_issuer.as_ref().map(|issuer| {
        annotations.insert(CLUSTER_ISSUER_ANNOTATION.to_owned(), issuer.clone());
        vec![IngressTLS {
            hosts: Some(vec![route.host.clone()]),
            secret_name: Some(tls_secret_name(&workflow.name)),
        }]
    });
    Ingress {
        metadata: route_meta(workflow, namespace, annotations),
        spec: Some(IngressSpec {
            ingress_class_name: class,
            rules: Some(vec![IngressRule {
                host: Some(route.host.clone()),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            tls,
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

fn http_route(
    workflow: &Workflow,
    namespace: &str,
    route: &RouteOptions,
    gateway_namespace: &str,
    gateway: &str,
) -> Value {
    let mut annotations = BTreeMap::new();
    if let Some(issuer) = &route.tls_issuer {
        annotations.insert(ROUTE_TLS_ISSUER_ANNOTATION.to_owned(), issuer.clone());
    }
    let metadata =
        serde_json::to_value(route_meta(workflow, namespace, annotations)).unwrap_or_default();
    let matches: Vec<Value> = ROUTED_PATHS
        .iter()
        .map(|(path, _, gateway_type)| json!({"path": {"type": gateway_type, "value": path}}))
        .collect();
    json!({
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": {
            "parentRefs": [{
                "group": GATEWAY_GROUP,
                "kind": "Gateway",
                "namespace": gateway_namespace,
                "name": gateway,
            }],
            "hostnames": [route.host],
            "rules": [{
                "matches": matches,
                "backendRefs": [{
                    "group": "",
                    "kind": "Service",
                    "name": workflow.name,
                    "port": ENGINE_PORT,
                }],
            }],
        },
    })
}

/// The public URL an Ingress read from the cluster serves: its first rule's host, `https` when
/// a TLS entry covers that host.
pub fn ingress_url(ingress: &Ingress) -> Option<String> {
    let spec = ingress.spec.as_ref()?;
    let host = spec.rules.as_ref()?.iter().find_map(|r| r.host.clone())?;
    let tls = spec
        .tls
        .iter()
        .flatten()
        .any(|t| t.hosts.iter().flatten().any(|h| *h == host));
    Some(format!("{}://{host}", if tls { "https" } else { "http" }))
}

/// The public URL an HTTPRoute read from the cluster serves: its first hostname, `https` when it
/// records a TLS issuer.
pub fn http_route_url(route: &Value) -> Option<String> {
    let host = route["spec"]["hostnames"].as_array()?.first()?.as_str()?;
    let tls = route["metadata"]["annotations"][ROUTE_TLS_ISSUER_ANNOTATION].is_string();
    Some(format!("{}://{host}", if tls { "https" } else { "http" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_lowercase_dns_names_and_errors_name_the_flag() {
        for good in [
            "api.example.com",
            "a",
            "x-1.b2.example",
            "hello.example.test",
        ] {
            assert_eq!(validate_host("--host", good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("*.example.com", "wildcards"),
            ("https://api.example.com", "scheme"),
            ("api.example.com:8443", "port"),
            ("api.example.com/run", "path"),
            ("API.example.com", "uppercase"),
            ("10.0.0.1", "IP address"),
            ("a..b", "label \"\""),
            ("-a.b", "label \"-a\""),
            ("a_b.c", "label \"a_b\""),
        ] {
            let err = validate_host("--host", bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("--host {bad:?} ")), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("\nhint: "), "{err}");
        }
        let long = format!("{}.com", "a".repeat(64));
        assert!(validate_host("--host", &long).is_err());
    }

    #[test]
    fn gateway_is_namespace_slash_name() {
        assert_eq!(
            parse_gateway("infra/public"),
            Ok(("infra".to_owned(), "public".to_owned()))
        );
        for bad in ["public", "/public", "infra/", "a/b/c", "Infra/public"] {
            let err = parse_gateway(bad).unwrap_err().to_string();
            assert!(err.starts_with("--gateway "), "{err}");
        }
    }

    #[test]
    fn the_url_is_https_only_with_a_tls_issuer() {
        let ingress = RouteKind::Ingress { class: None };
        let plain = RouteOptions::new("a.example.com", ingress.clone(), None).unwrap();
        assert_eq!(plain.url(), "http://a.example.com");
        let tls = RouteOptions::new("a.example.com", ingress, Some("le".into())).unwrap();
        assert_eq!(tls.url(), "https://a.example.com");
        let err = RouteOptions::new(
            "a.example.com",
            RouteKind::Ingress {
                class: Some("Nginx".into()),
            },
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("--ingress-class \"Nginx\""),
            "{err}"
        );
    }
}
