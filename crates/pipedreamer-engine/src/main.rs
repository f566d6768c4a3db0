//! `pipedreamer-engine`: the runtime inside workflow images.

use clap::Parser;
use pipedreamer_engine::logging::{self, LogFormat};
use pipedreamer_engine::{
    EngineState, HttpLimits, LoadError, Reporter, ReporterOptions, SecretsSource, ServeOptions,
};
use pipedreamer_sandbox::{PoolOptions, Sandbox};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Serves a Pipedreamer workflow: POST /run, webhooks, cron and queue triggers.
#[derive(Debug, Parser)]
#[command(name = "pipedreamer-engine", version, args_override_self = true)]
struct Args {
    /// The workflow directory or its workflow.yaml.
    #[arg(
        long,
        env = "PIPEDREAMER_WORKFLOW",
        default_value = "/app/workflow.yaml"
    )]
    workflow: PathBuf,
    /// Port to listen on.
    #[arg(long, short, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "0.0.0.0")]
    host: IpAddr,
    /// Bind the port with `SO_REUSEPORT`, so a new version can start on the same port before
    /// this one stops (the `local` target of `pipedreamer server` replaces containers this way).
    #[arg(long, env = "PIPEDREAMER_REUSE_PORT")]
    reuse_port: bool,
    /// When the port is taken, keep trying to bind it for this long (a new version waiting for
    /// the old one to let go of the port); `0s` fails at once.
    #[arg(long, value_parser = humantime_duration, default_value = "0s", env = "PIPEDREAMER_PORT_WAIT")]
    port_wait: Duration,
    /// Secrets as one file per key (a mounted Kubernetes Secret).
    #[arg(long, conflicts_with = "secrets_file")]
    secrets_dir: Option<PathBuf>,
    /// Secrets as a nested YAML file (default: `.secrets.yaml` next to the workflow, if present).
    #[arg(long)]
    secrets_file: Option<PathBuf>,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "PIPEDREAMER_LOG_FORMAT")]
    log_format: LogFormat,
    /// Largest request body in bytes (overrides `config.max_body`).
    #[arg(long)]
    max_body: Option<u64>,
    /// Sandbox worker threads (default: cores, at least 2).
    #[arg(long)]
    workers: Option<usize>,
    /// `local` schedules cron triggers in-process; `off` leaves them to Kubernetes CronJobs.
    #[arg(long, value_parser = ["local", "off"], default_value = "off")]
    cron: String,
    /// How long in-flight runs may finish after SIGTERM (keep below the pod's grace period).
    #[arg(long, value_parser = humantime_duration, default_value = "25s")]
    shutdown_grace: Duration,
    /// JetStream ack wait: an unacked message is redelivered this long after delivery (long
    /// runs keep it with progress acks).
    #[arg(long, value_parser = humantime_duration, default_value = "30s")]
    nats_ack_wait: Duration,
    /// Deliveries of a JetStream message whose runs fail before it is terminated.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    nats_max_deliver: u32,
    /// Redelivery delay after the first failed run; doubles per delivery, at most 1m.
    #[arg(long, value_parser = humantime_duration, default_value = "1s")]
    nats_retry_delay: Duration,
    /// Queue messages run at once (default: 128 per sandbox worker).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    nats_max_in_flight: Option<u32>,
    /// How long a client may take to send a request's headers; a connection that sends
    /// nothing for this long (including an idle keep-alive one) is closed.
    #[arg(long, value_parser = humantime_duration, default_value = "10s")]
    header_timeout: Duration,
    /// How long a client may take to send a whole request body, however it trickles in;
    /// slower bodies are answered 408.
    #[arg(long, value_parser = humantime_duration, default_value = "30s")]
    body_timeout: Duration,
    /// Client connections served at once. At the limit, further connections are not refused:
    /// they wait in the kernel's listen backlog and are served as connections close (idle ones
    /// close after --header-timeout). Lowered, with a warning, when the open file limit cannot
    /// hold it and leave a quarter for fetches, NATS and files.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Report every run's record to the control plane at this URL (`POST <URL>/api/ingest/runs`,
    /// batched, in the background; a run never waits for it).
    #[arg(long, value_name = "URL", requires = "report_token_file")]
    report_to: Option<String>,
    /// File holding the `report` token for --report-to (read once at start; a mounted secret).
    #[arg(long, value_name = "FILE", requires = "report_to")]
    report_token_file: Option<PathBuf>,
    /// Run records kept while the control plane is unreachable (the oldest are dropped past it).
    #[arg(long, default_value_t = 10_000, hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    report_buffer: u32,
    /// How often buffered run records are sent (sooner when 500 are waiting).
    #[arg(long, value_parser = humantime_duration, default_value = "1s", hide = true)]
    report_flush: Duration,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration `{s}`; use e.g. `25s`"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration `{s}`; use e.g. `25s`")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let dir = pipedreamer_engine::workflow_dir(&args.workflow);
    let secrets = match (&args.secrets_dir, &args.secrets_file) {
        (Some(d), _) => SecretsSource::Dir(d.clone()),
        (_, Some(f)) => SecretsSource::File(f.clone()),
        _ => SecretsSource::File(dir.join(".secrets.yaml")),
    };
    let workload = match pipedreamer_engine::load(&dir, &secrets) {
        Ok(w) => w,
        Err(LoadError::Invalid(diags)) => {
            for d in diags.iter().filter(|d| d.is_error()) {
                tracing::error!("{d}");
            }
            tracing::error!(
                "the workflow in `{}` is invalid; run `pipedreamer validate` for details",
                dir.display()
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let workflow = &workload.program.workflow;
    let (name, version, nodes) = (
        workflow.name.clone(),
        workflow.version.clone(),
        workflow.nodes.len(),
    );
    let pool = args
        .workers
        .map_or_else(PoolOptions::default, |workers| PoolOptions { workers });
    let max_in_flight = args
        .nats_max_in_flight
        .map_or(pool.workers * 128, |n| n as usize);
    let sandbox = match Sandbox::start(pool) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let state = EngineState::new(sandbox, Some(workload), args.max_body);
    // Stopped after `serve` returns, so the runs that finish while draining are reported too.
    let report_stop = CancellationToken::new();
    let reporter = match (&args.report_to, &args.report_token_file) {
        (Some(url), Some(file)) => {
            let started = pipedreamer_engine::report::read_token(file).and_then(|token| {
                let options = ReporterOptions {
                    buffer: args.report_buffer as usize,
                    flush_every: args.report_flush,
                    ..ReporterOptions::new(url.clone(), token)
                };
                Reporter::start(options, state.metrics.reports(), report_stop.clone())
            });
            match started {
                Ok((reporter, handle)) => {
                    state.set_sink(std::sync::Arc::new(reporter));
                    tracing::info!(url = %url, "reporting runs to the control plane");
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::from(1);
                }
            }
        }
        _ => None,
    };
    let addr = SocketAddr::new(args.host, args.port);
    let listener =
        match pipedreamer_engine::server::listen_when_free(addr, args.reuse_port, args.port_wait)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot listen on {addr}: {e}; pick another --port");
                return ExitCode::from(1);
            }
        };
    // The bound address, not the asked one: with `--port 0` the kernel picks the port, and
    // this line is where a caller (or a test harness) learns it.
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(workflow = %name, version = %version, nodes, %addr, "engine ready");
    let stop = CancellationToken::new();
    tokio::spawn(pipedreamer_engine::cancel_on_signal(stop.clone()));
    let options = ServeOptions {
        local_cron: args.cron == "local",
        shutdown_grace: args.shutdown_grace,
        nats: pipedreamer_engine::NatsOptions {
            ack_wait: args.nats_ack_wait,
            max_deliver: args.nats_max_deliver,
            retry_delay: args.nats_retry_delay,
            max_in_flight,
        },
        http: HttpLimits {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            max_connections: args.max_connections as usize,
        },
    };
    // `serve` has logged why it failed.
    let served = pipedreamer_engine::serve(state, listener, options, stop).await;
    if let Some(handle) = reporter {
        // Bounded by the reporter's own shutdown flush limit.
        report_stop.cancel();
        let _ = handle.await;
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}
