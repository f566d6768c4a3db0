//! `serve`: open the store, end builds a previous process left running, make the first admin
//! token, start the build workers, listen, and shut down gracefully on SIGTERM or Ctrl-C.

use crate::api::{AppState, router};
use crate::auth::{AuthError, Tokens, write_admin_token};
use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use pipedreamer_pipeline::{
    Event, KubeRouting, LocalConfig, LocalRouting, PipelineConfig, RunReporting, Workers,
};
use pipedreamer_proxy::{Caddy, ProxyError, ProxyRoute};
use pipedreamer_store::{Store, StoreError};
use std::io::IsTerminal;
use std::sync::Arc;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The first admin token could not be made or stored.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The data directory could not be created.
    #[error(
        "cannot create the data directory `{path}`: {source}\nhint: pass --data-dir with a writable directory"
    )]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listening socket could not be bound.
    #[error(
        "cannot listen on `{addr}`: {source}\nhint: another process may use the port; pass --port N or stop it"
    )]
    Bind {
        /// host:port.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `routing.base_domain` is set but Caddy cannot be used.
    #[error(
        "routing.base_domain is `{base_domain}`, so local deployments are routed through Caddy, but {error}"
    )]
    Caddy {
        /// The configured base domain.
        base_domain: String,
        /// What Caddy said, or that it did not answer (with how to start it). Not a `source`:
        /// the message already says it, and the CLI would print it twice.
        error: ProxyError,
    },
    /// The HTTP server failed.
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// Opens the configured database (creating the data directory for SQLite) and the token
/// service over it: what `serve` and the `token` subcommands share.
pub async fn open(config: &Config) -> Result<(Store, Tokens), ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let secret = config.jwt_secret()?;
    let store = Store::open(&config.database).await?;
    let tokens = Tokens::new(store.clone(), &secret, config.auth.token_ttl);
    Ok((store, tokens))
}

/// The pipeline's settings from the server's configuration.
pub fn pipeline_config(config: &Config, engine: std::path::PathBuf) -> PipelineConfig {
    PipelineConfig {
        concurrency: config.builds.concurrency,
        lease: config.builds.lease,
        timeouts: config.builds.timeouts,
        data_dir: config.data_dir.clone(),
        engine,
        local: LocalConfig {
            port_range: config.local.port_range.clone(),
            bind: config.local.bind,
            ..LocalConfig::default()
        },
        registry: config.registry.clone(),
        git_token: config.git_token.as_ref().map(|s| s.0.clone()),
        insecure_registry: config.insecure_registry,
        poll_interval: config.builds.poll_interval,
        kube_routing: config
            .routing
            .base_domain
            .clone()
            .map(|base_domain| KubeRouting {
                base_domain,
                ingress_class: config.routing.ingress_class.clone(),
                tls_issuer: config.routing.tls_issuer.clone(),
            }),
        reporting: None,
    }
}

/// The URL deployments' engines report their runs to: `runs.report_url`, else this server's
/// own listening address as a `local` engine (host networking) reaches it, loopback for an
/// unspecified address.
pub fn report_url(config: &Config) -> String {
    if let Some(url) = &config.runs.report_url {
        return url.clone();
    }
    let host = match config.host {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(host, config.port))
}

/// Runs the server until SIGTERM or Ctrl-C. `engine` is the engine binary images are built
/// with.
pub async fn serve(config: Config, engine: std::path::PathBuf) -> Result<(), ServeError> {
    let (store, tokens) = open(&config).await?;
    // Before anything is written: a server that cannot route does not start.
    let routing = routing(&config).await?;
    // Builds a previous process left BUILDING are ended by `Workers::start` (all of them on
    // SQLite, one server by definition; expired leases on PostgreSQL, where other replicas may
    // be working).
    if let Some(minted) = tokens.first_admin_token().await? {
        if std::io::stdout().is_terminal() {
            eprintln!(
                "first start: an admin token (shown once; `pipedreamer server token create` mints more):"
            );
            println!("{}", minted.token);
        } else {
            let path = write_admin_token(&config.data_dir, &minted)?;
            tracing::info!(path = %path.display(), token_id = %minted.record.id, "first start: admin token written");
        }
    }
    let mut pipeline = pipeline_config(&config, engine);
    pipeline.local.routing = routing;
    pipeline.reporting = Some(RunReporting {
        url: report_url(&config),
        tokens: Arc::new(crate::runs::ServerReportTokens::new(tokens.clone())),
    });
    let metrics = Arc::new(Metrics::new());
    let workers = Arc::new(Workers::start(store.clone(), pipeline));
    let observer = tokio::spawn(observe(workers.events(), metrics.clone()));
    let retention =
        crate::runs::spawn_retention(store.clone(), config.runs.retention, metrics.clone());
    let state = AppState::with_routing(
        store.clone(),
        tokens,
        workers.clone(),
        metrics,
        &config.public_url,
        config.local.bind,
        config.routing.clone(),
    );
    let addr = config.listen_addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    tracing::info!(%addr, database = %crate::config::mask_url(&config.database), "pipedreamer server listening");
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown({
            let state = state.clone();
            async move {
                shutdown_signal().await;
                state.close_streams();
            }
        })
        .await;
    tracing::info!("shutting down: stopping the build workers");
    observer.abort();
    retention.abort();
    drop(state);
    // The router's clones of the state are gone once `serve` returned; live log streams drop
    // theirs as soon as they see `close_streams`.
    let mut workers = Some(workers);
    for _ in 0..50 {
        match workers.take().map(Arc::try_unwrap) {
            Some(Ok(owned)) => {
                owned.shutdown().await;
                break;
            }
            Some(Err(shared)) => {
                workers = Some(shared);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            None => break,
        }
    }
    if workers.is_some() {
        tracing::warn!(
            "the build workers are still referenced after 5 s; their leases will expire"
        );
    }
    store.close().await;
    served.map_err(ServeError::Http)
}

/// With `routing.base_domain`: Caddy must answer at start (else the server does not start, and
/// says how to start Caddy), and gets our HTTPS server and TLS policy. The routes themselves
/// follow the deployments (the pipeline adds, removes and reconciles them). A server without a
/// container engine (the control plane in a cluster) runs no local deployments: it needs no
/// Caddy, and the base domain only names its kubernetes deployments' Ingress hosts.
pub async fn routing(config: &Config) -> Result<Option<LocalRouting>, ServeError> {
    let Some(base_domain) = config.routing.base_domain.clone() else {
        return Ok(None);
    };
    if !pipedreamer_pipeline::container_engine_available() {
        tracing::info!(
            base_domain = %base_domain,
            "no podman or docker here, so no local deployments to route through Caddy; the base domain names kubernetes deployments' Ingress hosts"
        );
        return Ok(None);
    }
    let failed = |error| ServeError::Caddy {
        base_domain: base_domain.clone(),
        error,
    };
    let caddy = Caddy::new(&config.caddy.admin).map_err(failed)?;
    caddy.check().await.map_err(failed)?;
    caddy
        .ensure_server(config.routing.https_port, &config.routing.tls_mode())
        .await
        .map_err(failed)?;
    tracing::info!(
        admin = %caddy.admin(),
        base_domain = %base_domain,
        https_port = config.routing.https_port,
        "routing local deployments' subdomains through Caddy"
    );
    let mut routing = LocalRouting::new(base_domain, caddy);
    routing.server_route = server_route(config);
    if let Some(route) = &routing.server_route {
        tracing::info!(public_url = %config.public_url, upstream = %route.upstream, "routing the server's own public URL through Caddy (all but /metrics and the probes)");
    }
    Ok(Some(routing))
}

/// The control plane's own route through Caddy: its API, webhooks (what GitHub calls) and
/// dashboard on `public_url`'s host, when that is an `https://` URL on Caddy's HTTPS port.
/// Another `public_url` (plain HTTP, another port, an IP address) is left to whatever serves it.
fn server_route(config: &Config) -> Option<ProxyRoute> {
    let url = url::Url::parse(&config.public_url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let on_caddy = url.scheme() == "https"
        && url.port_or_known_default() == Some(config.routing.https_port)
        && pipedreamer_proxy::is_dns_name(&host);
    on_caddy.then(|| ProxyRoute {
        id: pipedreamer_proxy::SERVER_ROUTE_ID.into(),
        host,
        upstream: config.listen_addr(),
        exposure: pipedreamer_proxy::Exposure::ControlPlane,
    })
}

/// Feeds finished builds' durations into the histogram.
async fn observe(mut events: tokio::sync::broadcast::Receiver<Event>, metrics: Arc<Metrics>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(Event::Finished {
                status, duration, ..
            }) => metrics.build_finished(status, duration),
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
