//! What every Kubernetes command shares: connecting with the `-n`/`--context` flags and printing
//! preflight checks in one style.

use crate::cli::KubeArgs;
use pipedreamer_kube::preflight::{Report, Status};
use pipedreamer_kube::{Cluster, ClusterOptions, cluster};

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
