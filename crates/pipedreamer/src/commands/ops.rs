//! `list`, `status`, `run`, `logs`, `undeploy`: thin wrappers over `pipedreamer_kube::ops` that
//! print data on stdout and everything else on stderr.

use crate::cli::{ListArgs, LogsArgs, OutputFormat, RunArgs, StatusArgs, UndeployArgs};
use crate::commands::kube::{age, connect, connect_with};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use pipedreamer_kube::ops::{self, RunRequest};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// `list`.
pub async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let cluster = connect(&args.kube).await?;
    let all = ops::list(&cluster).await?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&all)?),
        OutputFormat::Text if all.is_empty() => {
            eprintln!("no workflows deployed in namespace {:?}", cluster.namespace)
        }
        OutputFormat::Text => {
            let width = all.iter().map(|w| w.name.len()).max().unwrap_or(4).max(4);
            println!(
                "{:width$}  {:7}  {:5}  {:12}  {:5}  URL",
                "NAME", "VERSION", "READY", "STATUS", "AGE"
            );
            for w in &all {
                println!(
                    "{:width$}  {:7}  {:5}  {:12}  {:5}  {}",
                    w.name,
                    w.version,
                    format!("{}/{}", w.ready, w.desired),
                    w.status,
                    age(w.age_seconds),
                    w.url.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `status`.
pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let cluster = connect(&args.kube).await?;
    let status = ops::status(&cluster, &args.name, args.detail).await?;
    if args.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let s = &status.summary;
    println!(
        "{} {} in {}: {} ({}/{} ready, age {})",
        s.name,
        s.version,
        s.namespace,
        s.status,
        s.ready,
        s.desired,
        age(s.age_seconds)
    );
    if let Some(url) = &s.url {
        println!("  url:            {url}");
    }
    if let Some(d) = &status.detail {
        let pairs = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("  image:          {}", d.image);
        println!(
            "  runtime class:  {}",
            d.runtime_class.as_deref().unwrap_or("(none)")
        );
        println!("  requests:       {}", pairs(&d.requests));
        println!("  limits:         {}", pairs(&d.limits));
        println!(
            "  service:        {}",
            d.service.as_deref().unwrap_or("(missing)")
        );
        for c in &d.cron_jobs {
            println!(
                "  cron:           {} \"{}\"{} last: {}",
                c.name,
                c.schedule,
                c.time_zone
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default(),
                c.last_schedule.as_deref().unwrap_or("never")
            );
        }
        if d.pods.is_empty() {
            println!("  pods:           (none)");
        }
        for p in &d.pods {
            println!(
                "  pod:            {} {}{} restarts={}{}",
                p.name,
                p.phase,
                if p.ready { " ready" } else { "" },
                p.restarts,
                p.reason
                    .as_deref()
                    .map(|r| format!(" — {r}"))
                    .unwrap_or_default()
            );
        }
        for e in &d.events {
            println!("  event:          {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_data(data: &str) -> anyhow::Result<String> {
    let text = match data.strip_prefix('@') {
        Some("-") => std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?,
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read `{path}`"))?
        }
        None => data.to_owned(),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "--data is not valid JSON: {e} (line {}, column {})\nhint: pass a JSON object, e.g. --data '{{\"name\": \"Ada\"}}', or @file.json",
            e.line(),
            e.column()
        )
    })?;
    Ok(value.to_string())
}

/// `run`.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let payload = read_data(&args.data)?;
    let cluster = connect(&args.kube).await?;
    let request = RunRequest {
        name: args.name.clone(),
        payload,
        timeout: args.timeout,
        curl_image: args.curl_image.clone(),
    };
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = ops::run(&cluster, &request, interrupted, |s| eprintln!("{s}")).await?;
    println!("{}", serde_json::to_string_pretty(&result.body)?);
    Ok(if result.succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `logs`.
pub async fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    // A followed stream may stay quiet for hours; only the connect is bounded then.
    let timeout = (!args.follow).then_some(pipedreamer_kube::cluster::REQUEST_TIMEOUT);
    let cluster = connect_with(&args.kube, timeout).await?;
    let pod = ops::running_pod(&cluster, &args.name).await?;
    eprintln!("logs of pod {pod}");
    if !args.follow {
        print!("{}", ops::logs(&cluster, &pod, args.tail).await?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = std::pin::pin!(ops::follow_logs(&cluster, &pod, args.tail).await?);
    let copy = async {
        let mut stdout = std::io::stdout();
        while let Some(line) = lines.next().await {
            let line = line.context("the log stream broke")?;
            writeln!(stdout, "{line}")?;
            stdout.flush()?;
        }
        anyhow::Ok(())
    };
    tokio::select! {
        r = copy => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `undeploy`.
pub async fn undeploy(args: UndeployArgs) -> anyhow::Result<ExitCode> {
    let cluster = connect(&args.kube).await?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to delete without confirmation: stdin is not a terminal\nhint: pass --yes to undeploy non-interactively"
            );
        }
        eprint!(
            "Delete workflow {:?} in namespace {:?} (Deployment, Service, route, CronJobs and Secret {:?})? [y/N] ",
            args.name,
            cluster.namespace,
            pipedreamer_kube::labels::secret_name(&args.name)
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing deleted");
            return Ok(ExitCode::FAILURE);
        }
    }
    let report = ops::undeploy(&cluster, &args.name).await?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => {
            for d in &report.deleted {
                println!("{d} deleted");
            }
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            if report.deleted.is_empty() {
                eprintln!(
                    "nothing to delete: {:?} has no objects in namespace {:?}",
                    args.name, cluster.namespace
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
