//! What every Kubernetes command shares: connecting with the `-n`/`--context` flags and printing
//! preflight checks in one style.

use crate::cli::{EgressPolicyArg, KubeArgs, NetworkArgs, RouteArgs, RouteFlavor};
use anyhow::bail;
use pipedreamer_kube::preflight::{Report, RouteChecks, Status};
use pipedreamer_kube::route::{self, RouteKind, RouteOptions};
use pipedreamer_kube::{Cluster, ClusterOptions, EgressPolicy, NetworkOptions, cluster};

/// Connects with the standard timeouts.
pub async fn connect(args: &KubeArgs) -> anyhow::Result<Cluster> {
    connect_with(args, Some(cluster::REQUEST_TIMEOUT)).await
}

/// Connects; `request_timeout: None` for streams that may idle.
pub async fn connect_with(
    args: &KubeArgs,
    request_timeout: Option<std::time::Duration>,
) -> anyhow::Result<Cluster> {
    Ok(cluster::connect(&options(args, request_timeout)).await?)
}

/// The library's options for these flags.
pub fn options(args: &KubeArgs, request_timeout: Option<std::time::Duration>) -> ClusterOptions {
    ClusterOptions {
        context: args.context.clone(),
        namespace: args.namespace.clone(),
        request_timeout,
    }
}

/// The route kind `args` ask for, with its names checked.
fn route_kind(args: &RouteArgs) -> anyhow::Result<RouteKind> {
    match args.route {
        RouteFlavor::Ingress => {
            if args.gateway.is_some() {
                bail!(
                    "--gateway attaches an HTTPRoute, but the route is an Ingress\nhint: add `--route gateway`, or drop --gateway"
                );
            }
            if let Some(class) = &args.ingress_class {
                route::validate_name("--ingress-class", class)?;
            }
            Ok(RouteKind::Ingress {
                class: args.ingress_class.clone(),
            })
        }
        RouteFlavor::Gateway => {
            if args.ingress_class.is_some() {
                bail!(
                    "--ingress-class applies to an Ingress, but the route is an HTTPRoute (--route gateway)\nhint: drop --ingress-class; the Gateway given with --gateway decides which controller serves the route"
                );
            }
            // clap requires --gateway with --route gateway.
            let (namespace, name) = route::parse_gateway(args.gateway.as_deref().unwrap_or(""))?;
            Ok(RouteKind::Gateway { namespace, name })
        }
    }
}

/// `deploy --host` and its routing flags as the library's options; routing flags without a
/// host are an error that says so.
pub fn route_options(host: Option<&str>, args: &RouteArgs) -> anyhow::Result<Option<RouteOptions>> {
    let Some(host) = host else {
        let given = [
            (args.ingress_class.is_some(), "--ingress-class"),
            (args.tls_issuer.is_some(), "--tls-issuer"),
            (args.route != RouteFlavor::Ingress, "--route"),
            (args.gateway.is_some(), "--gateway"),
        ];
        if let Some((_, flag)) = given.iter().find(|(set, _)| *set) {
            bail!(
                "{flag} configures the route to a host, but no --host is given\nhint: add `--host api.example.com` to publish the workflow, or drop {flag}"
            );
        }
        return Ok(None);
    };
    Ok(Some(RouteOptions::new(
        host,
        route_kind(args)?,
        args.tls_issuer.clone(),
    )?))
}

/// `deploy`'s network flags as the library's options, namespaces and ports checked; `host` is
/// `--host` (the ingress controller matters only with a route).
pub fn network_options(host: Option<&str>, args: &NetworkArgs) -> anyhow::Result<NetworkOptions> {
    if let Some(namespace) = &args.ingress_controller_namespace {
        if host.is_none() {
            bail!(
                "--ingress-controller-namespace lets the controller of a route in, but no --host is given\nhint: add `--host api.example.com` to publish the workflow, or use --allow-from {namespace} to let that namespace in anyway"
            );
        }
        route::validate_name("--ingress-controller-namespace", namespace)?;
    }
    for namespace in &args.allow_from {
        route::validate_name("--allow-from", namespace)?;
    }
    if args.egress_port.contains(&0) {
        bail!(
            "--egress-port 0 is not a port\nhint: give the TCP port the workflow connects to, e.g. `--egress-port 8080`"
        );
    }
    if args.egress_policy == EgressPolicyArg::None && !args.egress_port.is_empty() {
        bail!(
            "--egress-port opens a port, but --egress-policy none leaves egress open already\nhint: drop --egress-port, or use --egress-policy ports"
        );
    }
    Ok(NetworkOptions {
        egress: match args.egress_policy {
            EgressPolicyArg::None => EgressPolicy::None,
            EgressPolicyArg::Ports => EgressPolicy::Ports,
            EgressPolicyArg::Cilium => EgressPolicy::Cilium,
        },
        ingress_controller_namespace: args.ingress_controller_namespace.clone(),
        allow_from: args.allow_from.clone(),
        egress_ports: args.egress_port.clone(),
    })
}

/// `cluster check`'s route checks: the planned kind when a routing flag is given, else only
/// whether an IngressClass exists.
pub fn route_checks(args: &RouteArgs) -> anyhow::Result<RouteChecks> {
    if let Some(issuer) = &args.tls_issuer {
        route::validate_name("--tls-issuer", issuer)?;
    }
    let planned = args.ingress_class.is_some()
        || args.route != RouteFlavor::Ingress
        || args.gateway.is_some();
    Ok(RouteChecks {
        kind: if planned {
            Some(route_kind(args)?)
        } else {
            None
        },
        tls_issuer: args.tls_issuer.clone(),
    })
}

/// Renders a preflight report: a line per check, remediation under failures, a verdict last.
pub fn render_report(report: &Report) -> String {
    let color = crate::output::color();
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let mut out = String::new();
    for check in &report.checks {
        let mark = match check.status {
            Status::Ok => paint("32", "✓"),
            Status::Warn => paint("33", "!"),
            Status::Fail => paint("31", "✗"),
        };
        out.push_str(&format!("  {mark} {}\n", check.title));
        for line in &check.remediation {
            out.push_str(&format!("    -> {line}\n"));
        }
    }
    if report.ready {
        out.push_str(&format!(
            "{} Cluster is ready for deployment\n",
            paint("32", "✓")
        ));
    } else {
        out.push_str(&format!(
            "{} Cluster is not ready for deployment\n",
            paint("31", "✗")
        ));
    }
    out
}

/// `1d`, `3h`, `5m`, `42s`, like kubectl's AGE column.
pub fn age(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
