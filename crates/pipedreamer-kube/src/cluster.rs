//! A connection to one cluster and namespace: standard kubeconfig resolution (`KUBECONFIG`,
//! `~/.kube/config`, in-cluster, `--context`), short connect timeouts so a dead API fails fast,
//! and one place that decides how transport errors read.

use crate::{Error, api_error};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::time::Duration;

/// How to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// kubeconfig context (default: the current one).
    pub context: Option<String>,
    /// Namespace (default: the context's, else `default`).
    pub namespace: Option<String>,
    /// Per-request limit; `None` for streams that may idle (logs -f).
    pub request_timeout: Option<Duration>,
}

/// Connect timeout: an unreachable API must fail in seconds, not hang.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default per-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client bound to a namespace.
#[derive(Clone)]
pub struct Cluster {
    /// The client.
    pub client: Client,
    /// The namespace commands act in.
    pub namespace: String,
    /// The API server URL, for messages.
    pub server: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .finish()
    }
}

/// The namespace from `-n`, else the kubeconfig context's, else `default`, without contacting a
/// cluster (for `deploy -o yaml`).
pub fn offline_namespace(options: &ClusterOptions) -> String {
    if let Some(ns) = &options.namespace {
        return ns.clone();
    }
    Kubeconfig::read()
        .ok()
        .and_then(|config| {
            let context_name = options.context.clone().or(config.current_context.clone())?;
            config
                .contexts
                .into_iter()
                .find(|c| c.name == context_name)?
                .context?
                .namespace
        })
        .unwrap_or_else(|| "default".to_owned())
}

/// Builds a client from the standard configuration sources.
pub async fn connect(options: &ClusterOptions) -> Result<Cluster, Error> {
    let mut config = match &options.context {
        Some(context) => Config::from_kubeconfig(&KubeConfigOptions {
            context: Some(context.clone()),
            ..KubeConfigOptions::default()
        })
        .await
        .map_err(|e| Error::Config(e.to_string()))?,
        None => Config::infer()
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = options.request_timeout;
    config.write_timeout = Some(REQUEST_TIMEOUT);
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_owned();
    let client = Client::try_from(config).map_err(|e| Error::Config(e.to_string()))?;
    Ok(Cluster {
        client,
        namespace,
        server,
    })
}

impl Cluster {
    /// Asks the API server for its version within `limit`: the reachability probe.
    pub async fn version(&self, limit: Duration) -> Result<String, Error> {
        match tokio::time::timeout(limit, self.client.apiserver_version()).await {
            Ok(Ok(info)) => Ok(info.git_version),
            Ok(Err(e)) => Err(api_error(
                &self.server,
                "ask the API server for its version",
                e,
            )),
            Err(_) => Err(Error::Unreachable {
                server: self.server.clone(),
                reason: format!("no answer within {}s", limit.as_secs()),
            }),
        }
    }

    /// Maps a kube error for `action` in this cluster.
    pub(crate) fn error(&self, action: impl Into<String>, e: kube::Error) -> Error {
        api_error(&self.server, action, e)
    }

    /// A namespaced API for `K`.
    pub(crate) fn api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        kube::Api::namespaced(self.client.clone(), &self.namespace)
    }
}

/// The innermost cause of a transport failure: "connection refused" beats "client error (Connect)".
pub(crate) fn transport_reason(e: &kube::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    let innermost = source.to_string();
    if innermost.contains("elapsed") || innermost.contains("timed out") {
        format!(
            "no answer within {}s ({innermost})",
            CONNECT_TIMEOUT.as_secs()
        )
    } else {
        innermost
    }
}
