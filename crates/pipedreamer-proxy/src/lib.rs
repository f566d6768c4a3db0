//! Public URLs on a single host: a real Caddy, driven through its JSON admin API.
//!
//! We do not write a proxy. Caddy terminates TLS (certificates from Let's Encrypt over ACME, or
//! from its own internal CA) and forwards each deployment's host to the deployment's local port.
//! Everything Pipedreamer writes into Caddy's configuration lives in one place:
//!
//! ```text
//! apps.http.servers.pipedreamer            listen [":<https_port>"]
//!   routes[]  @id "pipedreamer-<deployment>"  host <subdomain>.<base_domain>
//!     subroute: /run, /hooks, /hooks/*  ─▶ reverse_proxy 127.0.0.1:<port>
//!               anything else           ─▶ 404 (/metrics, /healthz, /readyz stay private,
//!                                              as on Kubernetes where only /run and /hooks/ are routed)
//! apps.tls.automation.policies[0]  @id "pipedreamer_tls"
//!   subjects = the hosts of our routes, issuer = acme (email) | internal, on-demand off
//! ```
//!
//! The TLS policy lists exactly our hosts, so it never changes how Caddy gets certificates for
//! sites configured by hand; it is removed when no route is left (a policy without subjects would
//! apply to every name). It sits first in the list so that a hand-made catch-all policy does not
//! shadow it.
//!
//! [`Caddy::reconcile`] touches only routes whose `@id` starts with [`ROUTE_ID_PREFIX`] in our
//! server: routes made by hand (elsewhere, or in our server without that prefix) survive. Caddy
//! keeps API changes in memory only (unless run with `--resume`), so a restarted Caddy has lost
//! our server and routes; the caller reconciles periodically and everything comes back.
//!
//! Every call has a connect and a request timeout; errors say what to do.

#[cfg(feature = "test-support")]
pub mod test_support;

use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The name of the Caddy HTTP server Pipedreamer owns.
pub const SERVER_NAME: &str = "pipedreamer";
/// Every route Pipedreamer owns has an `@id` starting with this; nothing else is touched.
pub const ROUTE_ID_PREFIX: &str = "pipedreamer-";
/// The `@id` of our TLS automation policy (deliberately not under [`ROUTE_ID_PREFIX`]).
pub const TLS_POLICY_ID: &str = "pipedreamer_tls";
/// The paths a deployment's public host forwards, as Caddy path matchers: what a workflow
/// serves to the outside (`POST /run`, webhooks). The rest answers 404.
pub const ROUTED_PATHS: [&str; 3] = ["/run", "/hooks", "/hooks/*"];
/// What the control plane's own host keeps private (404 from Caddy): metrics and probes are for
/// the machine, as a workflow's are.
pub const PRIVATE_PATHS: [&str; 3] = ["/metrics", "/healthz", "/readyz"];
/// The `@id` of the control plane's own route (its `public_url`), beside the deployments'.
pub const SERVER_ROUTE_ID: &str = "pipedreamer-server";

/// Which paths of its host a route forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// A workflow: [`ROUTED_PATHS`] only.
    Workflow,
    /// The control plane (API, webhooks, dashboard): everything but [`PRIVATE_PATHS`].
    ControlPlane,
}
/// Until the TCP connection to the admin endpoint is up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole admin call; a config change reloads Caddy's apps, which takes milliseconds, but the
/// TLS app may be slow to provision on a busy host.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Connection attempts refused before Caddy is declared down.
const CONNECT_RETRIES: u32 = 3;

/// Config loads retried after Caddy refused one while its certificate storage was mid-write.
const STORAGE_RACE_RETRIES: u32 = 3;

/// Whether Caddy refused a config load because it read a certificate file that the TLS app of
/// the config before was still writing (e.g. `caching certificate: decoding certificate
/// metadata: unexpected end of JSON input` right after a new host's internal certificate was
/// issued). Caddy rolls a failed load back, so the same call a moment later is safe and passes.
fn storage_race(status: StatusCode, message: &str) -> bool {
    status == StatusCode::INTERNAL_SERVER_ERROR
        && message.starts_with("loading new config")
        && message.contains("caching certificate")
}

/// The remediation shown whenever Caddy does not answer.
const START_HINT: &str = "start it: `caddy run --config /etc/caddy/Caddyfile` (or `systemctl start caddy`), \
     or set `caddy.admin` (env PIPEDREAMER_SERVER_CADDY__ADMIN) to the address of its `admin` option";

/// Results of this crate.
pub type Result<T, E = ProxyError> = std::result::Result<T, E>;

/// What went wrong talking to Caddy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `caddy.admin` is not an `http://host:port` address.
    #[error(
        "caddy.admin `{admin}` is not an admin endpoint: {reason}; set it to the address of Caddy's `admin` option, e.g. `http://127.0.0.1:2019`"
    )]
    InvalidAdmin {
        /// What was configured.
        admin: String,
        /// Why it is refused.
        reason: String,
    },
    /// Nothing answers at the admin endpoint.
    #[error("Caddy's admin API at `{admin}` does not answer ({reason}); {START_HINT}")]
    Unreachable {
        /// The admin endpoint.
        admin: String,
        /// The connection error.
        reason: String,
    },
    /// The admin endpoint accepted the connection but did not answer in time.
    #[error(
        "Caddy's admin API at `{admin}` did not answer `{method} {path}` within {}s: Caddy is stuck or overloaded; see its log (`journalctl -u caddy`)",
        REQUEST_TIMEOUT.as_secs()
    )]
    Timeout {
        /// The admin endpoint.
        admin: String,
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
    },
    /// Caddy answered with an error (for a change: it refused the new configuration).
    #[error("Caddy refused `{method} {path}` ({status}): {message}")]
    Rejected {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// Caddy's status code.
        status: u16,
        /// Caddy's `error` message.
        message: String,
    },
    /// Caddy answered something that is not the configuration we expect there.
    #[error("Caddy's answer to `{method} {path}` is not what Pipedreamer expects: {reason}")]
    Unexpected {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A route was asked for before [`Caddy::ensure_server`] said how to serve it.
    #[error(
        "the `{SERVER_NAME}` server is not set up in Caddy: call ensure_server (the HTTPS port and TLS mode) first"
    )]
    NoServer,
    /// A route that cannot be written.
    #[error("route `{id}`: {reason}")]
    InvalidRoute {
        /// The route's `@id`.
        id: String,
        /// Why it is refused.
        reason: String,
    },
}

/// Where certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Let's Encrypt over ACME (Caddy's `acme` issuer, its default CA); the email gets expiry
    /// notices. Needs the hosts' DNS pointing here and ports 80/443 reachable from the internet.
    Acme {
        /// The ACME account's contact.
        email: Option<String>,
    },
    /// Caddy's own CA (`tls internal`): for tests and private networks; clients must trust
    /// `<caddy data dir>/caddy/pki/authorities/local/root.crt`.
    Internal,
}

impl TlsMode {
    fn issuer(&self) -> Value {
        match self {
            TlsMode::Acme { email: Some(email) } => json!({"module": "acme", "email": email}),
            TlsMode::Acme { email: None } => json!({"module": "acme"}),
            TlsMode::Internal => json!({"module": "internal"}),
        }
    }
}

/// One deployment's public host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    /// `pipedreamer-<deployment id>` ([`route_id`]).
    pub id: String,
    /// `<subdomain>.<base_domain>`.
    pub host: String,
    /// Where the deployment listens; an unspecified address (`0.0.0.0`) is dialled on loopback.
    pub upstream: SocketAddr,
    /// Which paths are forwarded.
    pub exposure: Exposure,
}

/// The `@id` of a deployment's route.
pub fn route_id(deployment_id: &str) -> String {
    format!("{ROUTE_ID_PREFIX}{deployment_id}")
}

/// The public URL of a host served on `https_port` (the port is left out when it is 443).
pub fn public_url(host: &str, https_port: u16) -> String {
    if https_port == 443 {
        format!("https://{host}")
    } else {
        format!("https://{host}:{https_port}")
    }
}

/// Whether `name` is a DNS name Caddy can match and get a certificate for: dot-separated labels
/// of lowercase letters, digits and inner hyphens, at most 63 bytes each and 253 in all.
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

impl ProxyRoute {
    fn validate(&self) -> Result<()> {
        let invalid = |reason: String| ProxyError::InvalidRoute {
            id: self.id.clone(),
            reason,
        };
        if !self.id.starts_with(ROUTE_ID_PREFIX) || self.id.len() == ROUTE_ID_PREFIX.len() {
            return Err(invalid(format!(
                "the @id must start with `{ROUTE_ID_PREFIX}` and name the deployment"
            )));
        }
        if !is_dns_name(&self.host) {
            return Err(invalid(format!(
                "host `{}` is not a lowercase DNS name",
                self.host
            )));
        }
        if self.upstream.port() == 0 {
            return Err(invalid("the upstream has no port".into()));
        }
        Ok(())
    }

    /// The address Caddy dials.
    fn dial(&self) -> String {
        let ip = match self.upstream.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.upstream.port()).to_string()
    }

    /// The route as Caddy stores it. Caddy keeps the JSON as given, so reading it back compares
    /// equal when nothing changed.
    fn to_json(&self) -> Value {
        let proxy = json!({
            "handler": "reverse_proxy",
            "upstreams": [{"dial": self.dial()}]
        });
        let not_found = json!({"handler": "static_response", "status_code": 404});
        let routes = match self.exposure {
            Exposure::Workflow => json!([
                {"match": [{"path": ROUTED_PATHS}], "handle": [proxy]},
                {"handle": [not_found]}
            ]),
            Exposure::ControlPlane => json!([
                {"match": [{"path": PRIVATE_PATHS}], "handle": [not_found]},
                {"handle": [proxy]}
            ]),
        };
        json!({
            "@id": self.id,
            "match": [{"host": [self.host]}],
            "handle": [{"handler": "subroute", "routes": routes}],
            "terminal": true
        })
    }
}

/// What [`Caddy::reconcile`] changed (route `@id`s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Routes that were missing (a restarted Caddy loses them all).
    pub added: Vec<String>,
    /// Routes whose host or upstream had changed.
    pub updated: Vec<String>,
    /// Our routes no deployment wants any more.
    pub removed: Vec<String>,
    /// Routes already right.
    pub unchanged: usize,
}

impl ReconcileReport {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty())
    }
}

/// How our server serves: remembered from [`Caddy::ensure_server`] so that a restarted Caddy can
/// be set up again by the next upsert or reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerSettings {
    https_port: u16,
    tls: TlsMode,
}

/// A handle on one Caddy's admin API; cheap to clone (clones share the settings and serialise
/// their changes).
#[derive(Clone)]
pub struct Caddy {
    inner: Arc<Inner>,
}

struct Inner {
    admin: String,
    base: Url,
    client: reqwest::Client,
    settings: Mutex<Option<ServerSettings>>,
    /// Our changes are read-modify-write sequences: one at a time.
    changes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Caddy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caddy")
            .field("admin", &self.inner.admin)
            .finish_non_exhaustive()
    }
}

impl Caddy {
    /// A client for the admin endpoint `admin` (`http://127.0.0.1:2019`; the scheme may be left
    /// out, as in Caddy's own `admin` option). Nothing is sent yet.
    pub fn new(admin: &str) -> Result<Caddy> {
        let invalid = |reason: &str| ProxyError::InvalidAdmin {
            admin: admin.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = admin.trim();
        if trimmed.starts_with("unix/") {
            return Err(invalid(
                "unix sockets are not supported; give Caddy's admin a loopback TCP address",
            ));
        }
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_string()
        } else {
            format!("http://{trimmed}")
        };
        let base = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
        if base.scheme() != "http" {
            return Err(invalid("Caddy's admin API speaks plain http"));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if base.path() != "/" || base.query().is_some() || base.username() != "" {
            return Err(invalid("give only the scheme, host and port"));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // The admin API is on loopback: never through an HTTP(S)_PROXY from the environment.
            .no_proxy()
            // A config change makes Caddy restart its admin server, which resets kept-alive
            // connections: a pooled one would fail the next call. Loopback connects are cheap.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Caddy {
            inner: Arc::new(Inner {
                admin: base.as_str().trim_end_matches('/').to_string(),
                base,
                client,
                settings: Mutex::new(None),
                changes: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The admin endpoint, as used.
    pub fn admin(&self) -> &str {
        &self.inner.admin
    }

    /// The HTTPS port [`Caddy::ensure_server`] was given, if it was called.
    pub fn https_port(&self) -> Option<u16> {
        self.settings().map(|s| s.https_port)
    }

    /// Whether the admin endpoint answers (with Caddy's configuration).
    pub async fn check(&self) -> Result<()> {
        self.call(Method::GET, "/config/", None).await.map(drop)
    }

    /// Creates or fixes our HTTP server (listening on `:<https_port>`) and the TLS policy of our
    /// hosts; remembered, so that later calls can set it up again after Caddy restarted.
    pub async fn ensure_server(&self, https_port: u16, tls: &TlsMode) -> Result<()> {
        if https_port == 0 {
            return Err(ProxyError::InvalidAdmin {
                admin: self.inner.admin.clone(),
                reason: "routing.https_port is 0".into(),
            });
        }
        let settings = ServerSettings {
            https_port,
            tls: tls.clone(),
        };
        *self
            .inner
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(settings.clone());
        let _guard = self.inner.changes.lock().await;
        self.ensure_server_locked(&settings).await?;
        let hosts = self.our_hosts().await?;
        self.sync_tls(&settings, hosts).await
    }

    /// Adds the route, or rewrites it when its host or upstream changed.
    pub async fn upsert(&self, route: &ProxyRoute) -> Result<()> {
        route.validate()?;
        let settings = self.settings().ok_or(ProxyError::NoServer)?;
        let _guard = self.inner.changes.lock().await;
        self.ensure_server_locked(&settings).await?;
        // The policy first: a route whose host no policy covers makes Caddy start getting a
        // certificate from its default issuers at once (Let's Encrypt and ZeroSSL).
        let mut hosts = self.our_hosts().await?;
        hosts.insert(route.host.clone());
        self.sync_tls(&settings, hosts).await?;
        let wanted = route.to_json();
        let path = id_path(&route.id);
        match self.get_optional(&path).await? {
            None => {
                self.call(Method::POST, &routes_path(), Some(&wanted))
                    .await?;
            }
            Some(current) if current == wanted => {}
            Some(_) => {
                self.call(Method::PATCH, &path, Some(&wanted)).await?;
            }
        }
        let hosts = self.our_hosts().await?;
        self.sync_tls(&settings, hosts).await
    }

    /// Removes the route `id`; a route that is not there is fine.
    pub async fn remove(&self, id: &str) -> Result<()> {
        if !id.starts_with(ROUTE_ID_PREFIX) {
            return Err(ProxyError::InvalidRoute {
                id: id.to_string(),
                reason: format!("only routes whose @id starts with `{ROUTE_ID_PREFIX}` are ours"),
            });
        }
        let _guard = self.inner.changes.lock().await;
        let path = id_path(id);
        if self.get_optional(&path).await?.is_some() {
            self.call(Method::DELETE, &path, None).await?;
        }
        if let Some(settings) = self.settings() {
            let hosts = self.our_hosts().await?;
            self.sync_tls(&settings, hosts).await?;
        }
        Ok(())
    }

    /// Makes our routes exactly `desired`: adds the missing ones, fixes changed ones and removes
    /// ours that are not wanted. Routes whose `@id` does not start with [`ROUTE_ID_PREFIX`] are
    /// never touched. Sets our server up again first if Caddy lost it (a restart).
    pub async fn reconcile(&self, desired: &[ProxyRoute]) -> Result<ReconcileReport> {
        self.reconcile_keeping(desired, &BTreeSet::new()).await
    }

    /// [`Caddy::reconcile`] that leaves the routes named in `keep` as they are when Caddy has
    /// them (neither removed nor added): a deployment rolling out gets its route from the rollout
    /// itself, and a pass that read the deployments a moment before must not take it away. The
    /// decision is made under the same lock as [`Caddy::upsert`], so it sees such a route.
    pub async fn reconcile_keeping(
        &self,
        desired: &[ProxyRoute],
        keep: &BTreeSet<String>,
    ) -> Result<ReconcileReport> {
        let mut wanted: BTreeMap<&str, &ProxyRoute> = BTreeMap::new();
        let mut hosts = BTreeSet::new();
        for route in desired {
            route.validate()?;
            if wanted.insert(&route.id, route).is_some() {
                return Err(ProxyError::InvalidRoute {
                    id: route.id.clone(),
                    reason: "wanted twice".into(),
                });
            }
            if !hosts.insert(route.host.clone()) {
                return Err(ProxyError::InvalidRoute {
                    id: route.id.clone(),
                    reason: format!("host `{}` is wanted by another route too", route.host),
                });
            }
        }
        let settings = self.settings().ok_or(ProxyError::NoServer)?;
        let _guard = self.inner.changes.lock().await;
        self.ensure_server_locked(&settings).await?;
        // Cover the new hosts before their routes exist (see upsert); the old ones go after.
        let mut covered = self.our_hosts().await?;
        covered.extend(hosts.iter().cloned());
        self.sync_tls(&settings, covered).await?;
        let mut report = ReconcileReport::default();
        let mut seen = BTreeSet::new();
        for current in self.routes().await? {
            let Some(id) = current.get("@id").and_then(Value::as_str) else {
                continue;
            };
            if !id.starts_with(ROUTE_ID_PREFIX) {
                continue;
            }
            let path = id_path(id);
            match wanted.get(id) {
                // A duplicate of ours (added twice by a race elsewhere) goes too.
                Some(_) if seen.contains(id) => {
                    self.call(Method::DELETE, &path, None).await?;
                    report.removed.push(id.to_string());
                }
                Some(route) => {
                    seen.insert(id.to_string());
                    let json = route.to_json();
                    if json == current {
                        report.unchanged += 1;
                    } else {
                        self.call(Method::PATCH, &path, Some(&json)).await?;
                        report.updated.push(id.to_string());
                    }
                }
                None if keep.contains(id) => report.unchanged += 1,
                None => {
                    self.call(Method::DELETE, &path, None).await?;
                    report.removed.push(id.to_string());
                }
            }
        }
        for (id, route) in &wanted {
            if !seen.contains(*id) {
                self.call(Method::POST, &routes_path(), Some(&route.to_json()))
                    .await?;
                report.added.push(id.to_string());
            }
        }
        // Exactly the hosts of our routes now (the desired ones and any kept).
        let hosts = self.our_hosts().await?;
        self.sync_tls(&settings, hosts).await?;
        Ok(report)
    }

    /// Our routes as Caddy has them (for tests and diagnostics).
    pub async fn routes(&self) -> Result<Vec<Value>> {
        let path = routes_path();
        match self.get_optional(&path).await? {
            None => Ok(Vec::new()),
            Some(Value::Array(routes)) => Ok(routes),
            Some(other) => Err(ProxyError::Unexpected {
                method: Method::GET,
                path,
                reason: format!("routes are not a list: {other}"),
            }),
        }
    }

    fn settings(&self) -> Option<ServerSettings> {
        self.inner
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The hosts of our routes, from Caddy.
    async fn our_hosts(&self) -> Result<BTreeSet<String>> {
        let mut hosts = BTreeSet::new();
        for route in self.routes().await? {
            let ours = route
                .get("@id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.starts_with(ROUTE_ID_PREFIX));
            if !ours {
                continue;
            }
            let matchers = route.get("match").and_then(Value::as_array);
            for m in matchers.into_iter().flatten() {
                let names = m.get("host").and_then(Value::as_array);
                for host in names.into_iter().flatten().filter_map(Value::as_str) {
                    hosts.insert(host.to_string());
                }
            }
        }
        Ok(hosts)
    }

    async fn ensure_server_locked(&self, settings: &ServerSettings) -> Result<()> {
        let listen = json!([format!(":{}", settings.https_port)]);
        if self.call(Method::GET, "/config/", None).await? == Value::Null {
            // Caddy started without a config: load one that keeps the admin endpoint where we
            // reach it (a config without `admin` would move it to Caddy's default).
            let admin = format!(
                "{}:{}",
                self.inner.base.host_str().unwrap_or("127.0.0.1"),
                self.inner.base.port_or_known_default().unwrap_or(2019)
            );
            let config = json!({
                "admin": {"listen": admin},
                "apps": {"http": {"servers": {SERVER_NAME: {"listen": listen, "routes": []}}}}
            });
            self.call(Method::POST, "/load", Some(&config)).await?;
            return Ok(());
        }
        let server_path = format!("/config/apps/http/servers/{SERVER_NAME}");
        match self.get_optional(&server_path).await? {
            None | Some(Value::Null) => {
                // PUT creates the missing parents (`apps`, `http`, `servers`) too.
                let server = json!({"listen": listen, "routes": []});
                self.call(Method::PUT, &server_path, Some(&server)).await?;
            }
            Some(server) => {
                if server.get("listen") != Some(&listen) {
                    self.call(
                        Method::PATCH,
                        &format!("{server_path}/listen"),
                        Some(&listen),
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Our TLS policy: exactly our hosts, with the configured issuer; none without hosts.
    async fn sync_tls(&self, settings: &ServerSettings, hosts: BTreeSet<String>) -> Result<()> {
        let path = id_path(TLS_POLICY_ID);
        let current = self.get_optional(&path).await?;
        if hosts.is_empty() {
            if current.is_some() {
                self.call(Method::DELETE, &path, None).await?;
            }
            return Ok(());
        }
        let policy = json!({
            "@id": TLS_POLICY_ID,
            "subjects": hosts,
            "issuers": [settings.tls.issuer()],
            // Certificates only for the hosts above, never for whatever name a client sends.
            "on_demand": false
        });
        match current {
            Some(current) if current == policy => Ok(()),
            Some(_) => self
                .call(Method::PATCH, &path, Some(&policy))
                .await
                .map(drop),
            None => {
                let policies = "/config/apps/tls/automation/policies";
                match self.get_optional(policies).await?.unwrap_or(Value::Null) {
                    Value::Null => {
                        self.call(Method::PUT, policies, Some(&json!([policy])))
                            .await?
                    }
                    // Caddy refuses an insert at index 0 of an empty list (out of bounds):
                    // replace the empty list. It is empty after our last host went.
                    Value::Array(list) if list.is_empty() => {
                        self.call(Method::PATCH, policies, Some(&json!([policy])))
                            .await?
                    }
                    // First, so that a hand-made catch-all policy does not shadow ours.
                    Value::Array(_) => {
                        self.call(Method::PUT, &format!("{policies}/0"), Some(&policy))
                            .await?
                    }
                    other => {
                        return Err(ProxyError::Unexpected {
                            method: Method::GET,
                            path: policies.into(),
                            reason: format!("policies are not a list: {other}"),
                        });
                    }
                };
                Ok(())
            }
        }
    }

    /// GET that tells "not there" (an unknown `@id`, a missing key) from a failure.
    async fn get_optional(&self, path: &str) -> Result<Option<Value>> {
        match self.call(Method::GET, path, None).await {
            Ok(Value::Null) => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(ProxyError::Rejected { status: 404, .. }) => Ok(None),
            // Caddy 2.6 answers a traversal through a missing key with 400 or 500 "invalid
            // traversal".
            Err(ProxyError::Rejected { message, .. })
                if message.contains("invalid traversal") || message.contains("unknown object") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One admin call: the answer's JSON (null when empty) or a typed error.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = self
            .inner
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ProxyError::InvalidAdmin {
                admin: self.inner.admin.clone(),
                reason: e.to_string(),
            })?;
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                ProxyError::Timeout {
                    admin: self.inner.admin.clone(),
                    method: method.clone(),
                    path: path.to_string(),
                }
            } else {
                ProxyError::Unreachable {
                    admin: self.inner.admin.clone(),
                    reason: error_chain(&e),
                }
            }
        };
        // Caddy swaps its admin listener on every config change: a connection refused in that
        // instant never reached it, so trying again is safe (even for a POST).
        let mut attempt = 0;
        let mut storage_retries = 0;
        let (status, text) = loop {
            let mut request = self.inner.client.request(method.clone(), url.clone());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) if e.is_connect() && attempt < CONNECT_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => return Err(failed(e)),
            };
            let status = response.status();
            let text = response.text().await.map_err(failed)?;
            tracing::debug!(%method, path, status = status.as_u16(), "caddy admin call");
            if storage_retries < STORAGE_RACE_RETRIES
                && storage_race(status, &caddy_message(status, &text))
            {
                storage_retries += 1;
                tracing::debug!(path, "caddy read a certificate mid-write; loading again");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            break (status, text);
        };
        if !status.is_success() {
            return Err(ProxyError::Rejected {
                method,
                path: path.to_string(),
                status: status.as_u16(),
                message: caddy_message(status, &text),
            });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| ProxyError::Unexpected {
            method,
            path: path.to_string(),
            reason: format!("not JSON ({e})"),
        })
    }
}

fn routes_path() -> String {
    format!("/config/apps/http/servers/{SERVER_NAME}/routes")
}

fn id_path(id: &str) -> String {
    format!("/id/{id}")
}

/// Caddy's `{"error": "..."}`, else the body, cut short.
fn caddy_message(status: StatusCode, text: &str) -> String {
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.trim().to_string());
    if message.is_empty() {
        return status.to_string();
    }
    message.chars().take(500).collect()
}

/// reqwest's top-level message hides the cause ("error sending request"); show the chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses() {
        assert_eq!(
            Caddy::new("127.0.0.1:2019").unwrap().admin(),
            "http://127.0.0.1:2019"
        );
        assert_eq!(
            Caddy::new("http://localhost:2019/").unwrap().admin(),
            "http://localhost:2019"
        );
        for bad in [
            "https://127.0.0.1:2019",
            "unix//run/caddy.sock",
            "http://127.0.0.1:2019/config",
            "http://",
        ] {
            let e = Caddy::new(bad).unwrap_err();
            assert!(matches!(e, ProxyError::InvalidAdmin { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains("caddy.admin"), "{e}");
        }
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_name("hello.example.test"));
        assert!(is_dns_name("a-1.b"));
        for bad in [
            "",
            "Hello.example",
            "-a.b",
            "a-.b",
            "a..b",
            "*.b",
            "a_b.c",
            "a.b.",
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
        assert!(!is_dns_name(&format!("{}.b", "a".repeat(64))));
    }

    #[test]
    fn route_json_routes_only_public_paths_and_dials_loopback_for_any_address() {
        let route = ProxyRoute {
            id: route_id("d1"),
            host: "hello.example.test".into(),
            upstream: "0.0.0.0:20001".parse().unwrap(),
            exposure: Exposure::Workflow,
        };
        route.validate().unwrap();
        let json = route.to_json();
        assert_eq!(json["@id"], "pipedreamer-d1");
        assert_eq!(json["match"][0]["host"][0], "hello.example.test");
        let sub = &json["handle"][0]["routes"];
        assert_eq!(
            sub[0]["match"][0]["path"],
            json!(["/run", "/hooks", "/hooks/*"])
        );
        assert_eq!(
            sub[0]["handle"][0]["upstreams"][0]["dial"],
            "127.0.0.1:20001"
        );
        assert_eq!(sub[1]["handle"][0]["status_code"], 404);
    }

    #[test]
    fn the_control_plane_route_forwards_all_but_metrics_and_probes() {
        let route = ProxyRoute {
            id: SERVER_ROUTE_ID.into(),
            host: "deploy.example.test".into(),
            upstream: "127.0.0.1:7070".parse().unwrap(),
            exposure: Exposure::ControlPlane,
        };
        route.validate().unwrap();
        let json = route.to_json();
        let sub = &json["handle"][0]["routes"];
        assert_eq!(
            sub[0]["match"][0]["path"],
            json!(["/metrics", "/healthz", "/readyz"])
        );
        assert_eq!(sub[0]["handle"][0]["status_code"], 404);
        assert!(sub[1].get("match").is_none(), "{json}");
        assert_eq!(
            sub[1]["handle"][0]["upstreams"][0]["dial"],
            "127.0.0.1:7070"
        );
    }

    #[test]
    fn invalid_routes_are_refused_with_the_reason() {
        let ok = ProxyRoute {
            id: route_id("d1"),
            host: "hello.example.test".into(),
            upstream: "127.0.0.1:1".parse().unwrap(),
            exposure: Exposure::Workflow,
        };
        let mut r = ok.clone();
        r.id = "other".into();
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .contains("pipedreamer-")
        );
        let mut r = ok.clone();
        r.host = "Bad_Host".into();
        assert!(r.validate().unwrap_err().to_string().contains("Bad_Host"));
        let mut r = ok;
        r.upstream = "127.0.0.1:0".parse().unwrap();
        assert!(r.validate().is_err());
    }

    #[test]
    fn issuers() {
        let acme = TlsMode::Acme {
            email: Some("ops@example.com".into()),
        };
        assert_eq!(
            acme.issuer(),
            json!({"module": "acme", "email": "ops@example.com"})
        );
        assert_eq!(
            TlsMode::Acme { email: None }.issuer(),
            json!({"module": "acme"})
        );
        assert_eq!(TlsMode::Internal.issuer(), json!({"module": "internal"}));
    }

    #[test]
    fn urls_leave_out_443() {
        assert_eq!(public_url("a.b", 443), "https://a.b");
        assert_eq!(public_url("a.b", 8443), "https://a.b:8443");
    }

    /// A stand-in admin endpoint answering each connection with the next of `answers`
    /// (status, body), then closing it.
    async fn scripted_admin(answers: Vec<(u16, &'static str)>) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for (status, body) in answers {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = conn.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                conn.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    const STORAGE_RACE: &str = r#"{"error":"loading new config: http app module: start: finalizing automatic HTTPS: managing certificates for [a.test]: automate: manage [a.test]: a.test: caching certificate: decoding certificate metadata: unexpected end of JSON input"}"#;

    #[tokio::test]
    async fn a_load_refused_while_a_certificate_was_mid_write_is_tried_again() {
        let admin = scripted_admin(vec![(500, STORAGE_RACE), (200, "[]")]).await;
        let caddy = Caddy::new(&admin.to_string()).unwrap();
        assert_eq!(caddy.routes().await.unwrap(), Vec::<Value>::new());
    }

    #[tokio::test]
    async fn other_refusals_and_a_lasting_storage_race_are_errors() {
        let admin = scripted_admin(vec![(500, r#"{"error":"loading new config: bad"}"#)]).await;
        let caddy = Caddy::new(&admin.to_string()).unwrap();
        let e = caddy.routes().await.unwrap_err();
        assert!(
            matches!(e, ProxyError::Rejected { status: 500, .. }),
            "{e:?}"
        );
        let admin = scripted_admin(vec![(500, STORAGE_RACE); 4]).await;
        let caddy = Caddy::new(&admin.to_string()).unwrap();
        let e = caddy.routes().await.unwrap_err();
        assert!(e.to_string().contains("caching certificate"), "{e}");
    }

    #[tokio::test]
    async fn nothing_listening_says_how_to_start_caddy() {
        // A port that was free a moment ago: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let caddy = Caddy::new(&format!("127.0.0.1:{port}")).unwrap();
        let e = caddy.check().await.unwrap_err();
        assert!(matches!(e, ProxyError::Unreachable { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("caddy run"), "{text}");
        assert!(text.contains("caddy.admin"), "{text}");
    }

    #[tokio::test]
    async fn routes_before_ensure_server_are_refused() {
        let caddy = Caddy::new("127.0.0.1:9").unwrap();
        let route = ProxyRoute {
            id: route_id("d1"),
            host: "a.b".into(),
            upstream: "127.0.0.1:1".parse().unwrap(),
            exposure: Exposure::Workflow,
        };
        assert!(matches!(
            caddy.upsert(&route).await,
            Err(ProxyError::NoServer)
        ));
        assert!(matches!(
            caddy.reconcile(&[]).await,
            Err(ProxyError::NoServer)
        ));
    }
}
