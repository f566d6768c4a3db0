//! The server's configuration, as FlowForge layers it: built-in defaults, then a YAML file
//! (`--config`), then `PIPEDREAMER_SERVER_<KEY>` environment variables (`__` for nesting, e.g.
//! `PIPEDREAMER_SERVER_AUTH__JWT_SECRET`; `PIPEDREAMER_DATABASE_URL` for `database`), then flags.
//!
//! Every layer is read into one flat table of dotted keys (`builds.timeouts.fetch`) with the
//! place each value came from, so an unknown key or a bad value is reported with its origin (the
//! file and line, the variable or the flag) and, for a misspelt key, the key it resembles. Values
//! are parsed once, at the end, into [`Config`].
//!
//! | key | default |
//! |---|---|
//! | `data_dir` | `$XDG_DATA_HOME/pipedreamer`, else `~/.local/share/pipedreamer` |
//! | `database` | `sqlite://<data_dir>/pipedreamer.db` (`postgres://…` for PostgreSQL) |
//! | `public_url` | `http://<host>:<port>` (webhook URLs are built from it) |
//! | `host`, `port` | `127.0.0.1`, `7070` |
//! | `auth.jwt_secret` | generated into `<data_dir>/jwt-secret` (SQLite only) |
//! | `auth.token_ttl` | `24h` |
//! | `builds.concurrency` | `2` |
//! | `builds.timeouts.{fetch,validate,build,publish,rollout}` | the pipeline's: `2m`, `30s`, `5m`, `5m`, `5m` |
//! | `builds.lease` | `30s` |
//! | `builds.poll_interval` | `2s` (how often idle workers look for work other replicas queued) |
//! | `registry` | none (kubernetes targets name their own) |
//! | `insecure_registry` | `false` (push over plain HTTP, e.g. a loopback registry) |
//! | `git_token` | none (token for `https://` repositories; masked everywhere) |
//! | `local.port_range`, `local.bind` | `20000-20999`, `127.0.0.1` |
//! | `routing.base_domain` | none: no public URLs, deployments answer on their local port only |
//! | `routing.tls` | `acme` (Let's Encrypt) or `internal` (Caddy's own CA) |
//! | `routing.acme_email` | none (the ACME account's contact for expiry notices) |
//! | `routing.https_port` | `443` (the port Caddy serves deployments' hosts on) |
//! | `routing.ingress_class`, `routing.tls_issuer` | none (kubernetes: the Ingress class, cert-manager's ClusterIssuer) |
//! | `caddy.admin` | `http://127.0.0.1:2019` (Caddy's admin endpoint, for `local` deployments) |
//! | `runs.retention` | `14d` (run records older than this are deleted in the background) |
//! | `runs.report_url` | `http://127.0.0.1:<port>` for `local` deployments (the URL engines report runs to; set it for kubernetes) |

use pipedreamer_pipeline::PhaseTimeouts;
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of the environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "PIPEDREAMER_SERVER_";
/// The environment variable for `database` (the same one the CLI's `--database` reads).
pub const DATABASE_ENV: &str = "PIPEDREAMER_DATABASE_URL";

/// A configuration problem: what, where it came from, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid YAML.
    #[error(
        "`{path}` line {line}: {message}\nhint: the file must be a YAML mapping like `port: 7070`"
    )]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where the parser stopped.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// A key no version of the server knows.
    #[error("unknown configuration key `{key}` in {origin}\nhint: {hint}")]
    UnknownKey {
        /// The dotted key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// "did you mean …" or the list of keys.
        hint: String,
    },
    /// A section (`auth`, `builds`, …) that is not a mapping, or a value that is a mapping.
    #[error("`{key}` in {origin} must be {expected}")]
    Shape {
        /// The dotted key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// What it must be.
        expected: &'static str,
    },
    /// A value that does not parse.
    #[error("`{key}` in {origin}: {problem}\nhint: {hint}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// What is wrong (never the value of a secret).
        problem: String,
        /// An example of a good value.
        hint: &'static str,
    },
    /// No data directory could be derived.
    #[error(
        "cannot find a data directory: neither XDG_DATA_HOME nor HOME is set\nhint: pass --data-dir DIR or set `data_dir` in the configuration file"
    )]
    NoDataDir,
    /// PostgreSQL mode without a configured JWT secret.
    #[error(
        "`auth.jwt_secret` must be configured when the database is PostgreSQL, so every replica verifies the same tokens\nhint: set PIPEDREAMER_SERVER_AUTH__JWT_SECRET (e.g. to the output of `openssl rand -hex 32`) or `auth.jwt_secret` in the configuration file"
    )]
    SecretRequired,
    /// The generated JWT secret file could not be read or written.
    #[error(
        "cannot use the JWT secret file `{path}`: {source}\nhint: check the permissions of the data directory, or configure `auth.jwt_secret`"
    )]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A line of the YAML file.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the defaults"),
            Origin::File { path, line } => write!(f, "`{}` line {line}", path.display()),
            Origin::Env(var) => write!(f, "environment variable `{var}`"),
            Origin::Flag(flag) => write!(f, "flag `{flag}`"),
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the SQLite database, the generated JWT secret and the admin token live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`.
    pub database: String,
    /// The base of webhook URLs, without a trailing slash.
    pub public_url: String,
    /// The address the API listens on.
    pub host: IpAddr,
    /// The port the API listens on.
    pub port: u16,
    /// Token settings.
    pub auth: AuthConfig,
    /// Build queue settings.
    pub builds: BuildsConfig,
    /// Default registry for kubernetes targets that name none.
    pub registry: Option<String>,
    /// Push to registries over plain HTTP.
    pub insecure_registry: bool,
    /// Token for `https://` git repositories (never printed).
    pub git_token: Option<Secret>,
    /// Settings of the `local` target.
    pub local: LocalConfig,
    /// Public URLs of deployments with a subdomain.
    pub routing: RoutingConfig,
    /// The reverse proxy of `local` deployments.
    pub caddy: CaddyConfig,
    /// Run records.
    pub runs: RunsConfig,
}

/// `runs.*`: the run records deployed engines report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsConfig {
    /// Records whose run started longer ago than this are deleted.
    pub retention: Duration,
    /// The base URL engines send their records to (`<url>/api/ingest/runs`); `None`: this
    /// server's own address as a `local` engine reaches it.
    pub report_url: Option<String>,
}

/// `runs.retention` when not set: two weeks.
pub const DEFAULT_RUN_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// `routing.*`: a deployment with a subdomain answers on `https://<subdomain>.<base_domain>`
/// (Caddy on a single host, an Ingress or HTTPRoute on Kubernetes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingConfig {
    /// The domain deployments' subdomains hang under; `None` turns routing off.
    pub base_domain: Option<String>,
    /// Where Caddy gets certificates.
    pub tls: RoutingTls,
    /// The ACME account's contact (`tls: acme`).
    pub acme_email: Option<String>,
    /// The port Caddy serves the deployments' hosts on.
    pub https_port: u16,
    /// Kubernetes: the Ingress class (`None`: the cluster's default).
    pub ingress_class: Option<String>,
    /// Kubernetes: cert-manager's ClusterIssuer for the routes' certificates.
    pub tls_issuer: Option<String>,
}

/// `routing.tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingTls {
    /// Let's Encrypt over ACME: the hosts' DNS must point here, ports 80 and 443 reachable.
    Acme,
    /// Caddy's internal CA: private networks and tests; clients must trust its root.
    Internal,
}

impl RoutingConfig {
    /// Whether deployments with a subdomain get public URLs.
    pub fn enabled(&self) -> bool {
        self.base_domain.is_some()
    }

    /// Caddy's TLS mode.
    pub fn tls_mode(&self) -> pipedreamer_proxy::TlsMode {
        match self.tls {
            RoutingTls::Acme => pipedreamer_proxy::TlsMode::Acme {
                email: self.acme_email.clone(),
            },
            RoutingTls::Internal => pipedreamer_proxy::TlsMode::Internal,
        }
    }

    /// `<subdomain>.<base_domain>`, when routing is on.
    pub fn host(&self, subdomain: &str) -> Option<String> {
        self.base_domain
            .as_ref()
            .map(|base| format!("{subdomain}.{base}"))
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            base_domain: None,
            tls: RoutingTls::Acme,
            acme_email: None,
            https_port: 443,
            ingress_class: None,
            tls_issuer: None,
        }
    }
}

/// `caddy.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaddyConfig {
    /// Caddy's admin endpoint (`http://host:port`).
    pub admin: String,
}

/// Caddy's own default admin address.
pub const DEFAULT_CADDY_ADMIN: &str = "http://127.0.0.1:2019";

/// `auth.*`.
#[derive(Clone)]
pub struct AuthConfig {
    /// The HS256 key; `None` means "generate into the data dir" (SQLite only).
    pub jwt_secret: Option<String>,
    /// Lifetime of tokens minted without `--ttl`.
    pub token_ttl: Duration,
}

// By hand so the secret never reaches a log line through `{:?}`.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("token_ttl", &self.token_ttl)
            .finish()
    }
}

/// `builds.*`.
#[derive(Debug, Clone)]
pub struct BuildsConfig {
    /// Builds that run at once (across deployments; one per deployment).
    pub concurrency: usize,
    /// Per-phase time limits (`builds.timeouts.*`; unset ones keep the pipeline's defaults).
    pub timeouts: PhaseTimeouts,
    /// How long a worker's claim on a build lasts without renewal.
    pub lease: Duration,
    /// How often an idle worker looks for builds another replica queued.
    pub poll_interval: Duration,
}

/// A secret value whose `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `local.*`.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Ports handed to local deployments.
    pub port_range: RangeInclusive<u16>,
    /// The address local deployments listen on.
    pub bind: IpAddr,
}

/// Values given as command-line flags (the top layer).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--host ADDR`.
    pub host: Option<String>,
    /// `--port N`.
    pub port: Option<u16>,
    /// `--database URL`.
    pub database: Option<String>,
    /// `--public-url URL`.
    pub public_url: Option<String>,
}

/// Every key the server knows, in the order `print_config` shows them.
const KEYS: &[&str] = &[
    "data_dir",
    "database",
    "public_url",
    "host",
    "port",
    "auth.jwt_secret",
    "auth.token_ttl",
    "builds.concurrency",
    "builds.timeouts.fetch",
    "builds.timeouts.validate",
    "builds.timeouts.build",
    "builds.timeouts.publish",
    "builds.timeouts.rollout",
    "builds.lease",
    "builds.poll_interval",
    "registry",
    "insecure_registry",
    "git_token",
    "local.port_range",
    "local.bind",
    "routing.base_domain",
    "routing.tls",
    "routing.acme_email",
    "routing.https_port",
    "routing.ingress_class",
    "routing.tls_issuer",
    "caddy.admin",
    "runs.retention",
    "runs.report_url",
];

/// Keys whose values are mappings of the keys above.
const SECTIONS: &[&str] = &[
    "auth",
    "builds",
    "builds.timeouts",
    "local",
    "routing",
    "caddy",
    "runs",
];

/// One value and where it came from.
#[derive(Debug, Clone)]
struct Setting {
    text: String,
    origin: Origin,
}

type Table = BTreeMap<&'static str, Setting>;

fn known(key: &str) -> Option<&'static str> {
    KEYS.iter().copied().find(|k| *k == key)
}

fn unknown_key(key: &str, origin: Origin, env: bool) -> ConfigError {
    let candidates = KEYS.iter().copied().chain(SECTIONS.iter().copied());
    let best = candidates
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.8)
        .map(|(_, k)| k);
    let spell = |k: &str| {
        if env {
            format!("{ENV_PREFIX}{}", k.replace('.', "__").to_uppercase())
        } else {
            k.to_owned()
        }
    };
    let hint = match best {
        Some(k) => format!("did you mean `{}`?", spell(k)),
        None => format!(
            "known keys: {}",
            KEYS.iter().map(|k| spell(k)).collect::<Vec<_>>().join(", ")
        ),
    };
    ConfigError::UnknownKey {
        key: key.to_owned(),
        origin,
        hint,
    }
}

/// Reads the YAML file's mapping into `table` (dotted keys).
fn read_file(path: &Path, table: &mut Table) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let docs = MarkedYaml::load_from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        line: e.marker().line(),
        message: e.info().to_owned(),
    })?;
    let Some(root) = docs.first() else {
        return Ok(()); // an empty file sets nothing
    };
    if matches!(root.data, YamlData::Value(Scalar::Null)) {
        return Ok(());
    }
    walk(path, "", root, table)
}

fn line_of(node: &MarkedYaml<'_>) -> usize {
    node.span.start.line()
}

fn walk(
    path: &Path,
    prefix: &str,
    node: &MarkedYaml<'_>,
    table: &mut Table,
) -> Result<(), ConfigError> {
    let origin = |n: &MarkedYaml<'_>| Origin::File {
        path: path.to_owned(),
        line: line_of(n),
    };
    let YamlData::Mapping(map) = &node.data else {
        return Err(ConfigError::Shape {
            key: if prefix.is_empty() {
                "the file".into()
            } else {
                prefix.to_owned()
            },
            origin: origin(node),
            expected: "a mapping of keys",
        });
    };
    for (k, v) in map.iter() {
        let name = match &k.data {
            YamlData::Value(Scalar::String(s)) => s.to_string(),
            YamlData::Value(Scalar::Integer(i)) => i.to_string(),
            _ => format!("{:?}", k.data),
        };
        let key = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        if SECTIONS.contains(&key.as_str()) {
            if matches!(v.data, YamlData::Value(Scalar::Null)) {
                continue; // `auth:` with nothing under it
            }
            walk(path, &key, v, table)?;
            continue;
        }
        let Some(static_key) = known(&key) else {
            return Err(unknown_key(&key, origin(k), false));
        };
        let text = match &v.data {
            YamlData::Value(Scalar::String(s)) => s.to_string(),
            YamlData::Value(Scalar::Integer(i)) => i.to_string(),
            YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
            YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
            YamlData::Value(Scalar::Null) => continue, // `registry:` = not set
            _ => {
                return Err(ConfigError::Shape {
                    key,
                    origin: origin(v),
                    expected: "a single value",
                });
            }
        };
        table.insert(
            static_key,
            Setting {
                text,
                origin: origin(v),
            },
        );
    }
    Ok(())
}

/// Reads `PIPEDREAMER_SERVER_*` (and `PIPEDREAMER_DATABASE_URL`) into `table`.
fn read_env(env: &[(String, String)], table: &mut Table) -> Result<(), ConfigError> {
    // The specific prefix first, then the database URL variable over it (it is what the CLI's
    // `--database` flag also reads).
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let key = rest.to_lowercase().replace("__", ".");
        let origin = Origin::Env(var.clone());
        let Some(static_key) = known(&key) else {
            return Err(unknown_key(&key, origin, true));
        };
        table.insert(
            static_key,
            Setting {
                text: value.clone(),
                origin,
            },
        );
    }
    if let Some((var, value)) = env.iter().find(|(k, _)| k == DATABASE_ENV) {
        table.insert(
            "database",
            Setting {
                text: value.clone(),
                origin: Origin::Env(var.clone()),
            },
        );
    }
    Ok(())
}

fn read_flags(flags: &Overrides, table: &mut Table) {
    let mut set = |key: &'static str, flag: &'static str, value: Option<String>| {
        if let Some(text) = value {
            table.insert(
                key,
                Setting {
                    text,
                    origin: Origin::Flag(flag),
                },
            );
        }
    };
    set(
        "data_dir",
        "--data-dir",
        flags.data_dir.as_ref().map(|p| p.display().to_string()),
    );
    set("host", "--host", flags.host.clone());
    set("port", "--port", flags.port.map(|p| p.to_string()));
    set("database", "--database", flags.database.clone());
    set("public_url", "--public-url", flags.public_url.clone());
}

fn default_data_dir(env: &[(String, String)]) -> Option<PathBuf> {
    let var = |name: &str| {
        env.iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| PathBuf::from(v))
    };
    var("XDG_DATA_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".local/share")))
        .map(|d| d.join("pipedreamer"))
}

/// Typed reads from the finished table.
struct Reader<'a>(&'a Table);

impl Reader<'_> {
    fn setting(&self, key: &'static str) -> Option<&Setting> {
        self.0.get(key)
    }

    fn invalid(&self, key: &'static str, problem: String, hint: &'static str) -> ConfigError {
        let origin = self
            .setting(key)
            .map(|s| s.origin.clone())
            .unwrap_or(Origin::Default);
        ConfigError::Invalid {
            key: key.to_owned(),
            origin,
            problem,
            hint,
        }
    }

    fn text(&self, key: &'static str) -> Option<String> {
        self.setting(key)
            .map(|s| s.text.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    fn duration(&self, key: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(default);
        };
        match humantime::parse_duration(&text) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(self.invalid(
                key,
                "must be longer than zero".into(),
                "e.g. `30s`, `10m` or `24h`",
            )),
            Err(e) => Err(self.invalid(
                key,
                format!("`{text}` is not a duration ({e})"),
                "e.g. `30s`, `10m` or `24h`",
            )),
        }
    }

    /// An `http(s)://` URL without a trailing slash.
    fn http_url(
        &self,
        key: &'static str,
        hint: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(None);
        };
        let parsed = url::Url::parse(&text).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
        if parsed.is_none() {
            return Err(self.invalid(key, format!("`{text}` is not an http(s) URL"), hint));
        }
        Ok(Some(text.trim_end_matches('/').to_owned()))
    }

    fn ip(&self, key: &'static str, default: IpAddr) -> Result<IpAddr, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(default);
        };
        text.parse().map_err(|_| {
            self.invalid(
                key,
                format!("`{text}` is not an IP address"),
                "e.g. `127.0.0.1` or `0.0.0.0`",
            )
        })
    }

    fn port(&self, key: &'static str, default: u16) -> Result<u16, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(default);
        };
        match text.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(self.invalid(
                key,
                format!("`{text}` is not a port number"),
                "a number from 1 to 65535",
            )),
        }
    }

    fn count(&self, key: &'static str, default: usize) -> Result<usize, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(default);
        };
        match text.parse::<usize>() {
            Ok(n) if (1..=64).contains(&n) => Ok(n),
            _ => Err(self.invalid(
                key,
                format!("`{text}` is not a number from 1 to 64"),
                "e.g. `2`",
            )),
        }
    }

    fn flag(&self, key: &'static str) -> Result<bool, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(false);
        };
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(self.invalid(
                key,
                format!("`{text}` is not a boolean"),
                "`true` or `false`",
            )),
        }
    }

    /// A DNS name (lowercased: DNS is case-insensitive, Caddy and Kubernetes want lowercase).
    fn dns_name(
        &self,
        key: &'static str,
        hint: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(None);
        };
        let name = text.trim_end_matches('.').to_ascii_lowercase();
        if !pipedreamer_proxy::is_dns_name(&name) {
            return Err(self.invalid(
                key,
                format!(
                    "`{text}` is not a DNS name (letters, digits and inner hyphens, dot-separated)"
                ),
                hint,
            ));
        }
        Ok(Some(name))
    }

    fn email(&self, key: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(None);
        };
        let valid = text.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty()
                && !user.contains(char::is_whitespace)
                && !user.contains(['<', '>', ',', ';'])
                && domain.contains('.')
                && pipedreamer_proxy::is_dns_name(&domain.to_ascii_lowercase())
        });
        if !valid {
            return Err(self.invalid(
                key,
                format!("`{text}` is not an email address"),
                "the address Let's Encrypt sends expiry notices to, e.g. `ops@example.com`",
            ));
        }
        Ok(Some(text))
    }

    fn routing_tls(&self, key: &'static str) -> Result<RoutingTls, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(RoutingTls::Acme);
        };
        match text.to_ascii_lowercase().as_str() {
            "acme" => Ok(RoutingTls::Acme),
            "internal" => Ok(RoutingTls::Internal),
            _ => Err(self.invalid(
                key,
                format!("`{text}` is not a TLS mode"),
                "`acme` (Let's Encrypt) or `internal` (Caddy's own CA, e.g. for tests)",
            )),
        }
    }

    fn port_range(&self, key: &'static str) -> Result<RangeInclusive<u16>, ConfigError> {
        let Some(text) = self.text(key) else {
            return Ok(20000..=20999);
        };
        let parsed = text.split_once('-').and_then(|(a, b)| {
            Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
        });
        match parsed {
            Some((a, b)) if a > 0 && a <= b => Ok(a..=b),
            _ => Err(self.invalid(
                key,
                format!("`{text}` is not a port range"),
                "FIRST-LAST with FIRST <= LAST, e.g. `20000-20999`",
            )),
        }
    }
}

/// `caddy.admin`, checked and normalised by the client that will use it.
fn caddy_admin(r: &Reader<'_>) -> Result<String, ConfigError> {
    let text = r
        .text("caddy.admin")
        .unwrap_or_else(|| DEFAULT_CADDY_ADMIN.to_owned());
    match pipedreamer_proxy::Caddy::new(&text) {
        Ok(caddy) => Ok(caddy.admin().to_owned()),
        Err(e) => Err(r.invalid(
            "caddy.admin",
            match e {
                pipedreamer_proxy::ProxyError::InvalidAdmin { reason, .. } => {
                    format!("`{text}` is not an admin endpoint: {reason}")
                }
                other => other.to_string(),
            },
            "the address of Caddy's `admin` option, e.g. `http://127.0.0.1:2019`",
        )),
    }
}

impl Config {
    /// Loads the configuration from the file named by `flags.config`, the process environment
    /// and `flags`.
    pub fn load(flags: &Overrides) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(flags, &env)
    }

    /// [`Config::load`] with an explicit environment (tests).
    pub fn load_from(flags: &Overrides, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut table = Table::new();
        if let Some(path) = &flags.config {
            read_file(path, &mut table)?;
        }
        read_env(env, &mut table)?;
        read_flags(flags, &mut table);
        let r = Reader(&table);

        let data_dir = match r.text("data_dir") {
            Some(d) => PathBuf::from(d),
            None => default_data_dir(env).ok_or(ConfigError::NoDataDir)?,
        };
        // Relative to where the server starts, fixed now so the SQLite URL is absolute.
        let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
        let database = match r.text("database") {
            Some(url) => {
                if !(url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://"))
                {
                    return Err(r.invalid(
                        "database",
                        "must be a `sqlite:` or `postgres://` URL".into(),
                        "e.g. `postgres://user:password@127.0.0.1:5432/pipedreamer` or `sqlite:///var/lib/pipedreamer/pipedreamer.db`",
                    ));
                }
                url
            }
            None => format!("sqlite://{}", data_dir.join("pipedreamer.db").display()),
        };
        let host = r.ip("host", IpAddr::from([127, 0, 0, 1]))?;
        let port = r.port("port", 7070)?;
        let public_url = match r.text("public_url") {
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(r.invalid(
                        "public_url",
                        format!("`{url}` is not an http(s) URL"),
                        "the address GitHub reaches this server at, e.g. `https://deploy.example.com`",
                    ));
                }
                url.trim_end_matches('/').to_owned()
            }
            None => format!("http://{}", std::net::SocketAddr::new(host, port)),
        };
        let jwt_secret = r.text("auth.jwt_secret");
        if let Some(secret) = &jwt_secret
            && secret.len() < 32
        {
            return Err(r.invalid(
                "auth.jwt_secret",
                format!(
                    "must be at least 32 characters long (it has {})",
                    secret.len()
                ),
                "e.g. the output of `openssl rand -hex 32`",
            ));
        }
        let phase = PhaseTimeouts::default();
        let config = Config {
            data_dir,
            database,
            public_url,
            host,
            port,
            auth: AuthConfig {
                jwt_secret,
                token_ttl: r.duration("auth.token_ttl", Duration::from_secs(24 * 3600))?,
            },
            builds: BuildsConfig {
                concurrency: r.count("builds.concurrency", 2)?,
                timeouts: PhaseTimeouts {
                    fetch: r.duration("builds.timeouts.fetch", phase.fetch)?,
                    validate: r.duration("builds.timeouts.validate", phase.validate)?,
                    build: r.duration("builds.timeouts.build", phase.build)?,
                    publish: r.duration("builds.timeouts.publish", phase.publish)?,
                    rollout: r.duration("builds.timeouts.rollout", phase.rollout)?,
                },
                lease: r.duration("builds.lease", Duration::from_secs(30))?,
                poll_interval: r.duration("builds.poll_interval", Duration::from_secs(2))?,
            },
            registry: r.text("registry"),
            insecure_registry: r.flag("insecure_registry")?,
            git_token: r.text("git_token").map(Secret),
            local: LocalConfig {
                port_range: r.port_range("local.port_range")?,
                bind: r.ip("local.bind", IpAddr::from([127, 0, 0, 1]))?,
            },
            routing: RoutingConfig {
                base_domain: r.dns_name(
                    "routing.base_domain",
                    "the domain whose wildcard DNS record points at this host, e.g. `apps.example.com`",
                )?,
                tls: r.routing_tls("routing.tls")?,
                acme_email: r.email("routing.acme_email")?,
                https_port: r.port("routing.https_port", 443)?,
                ingress_class: r.dns_name(
                    "routing.ingress_class",
                    "the name of an IngressClass, e.g. `nginx` or `traefik`",
                )?,
                tls_issuer: r.dns_name(
                    "routing.tls_issuer",
                    "the name of a cert-manager ClusterIssuer, e.g. `letsencrypt`",
                )?,
            },
            caddy: CaddyConfig {
                admin: caddy_admin(&r)?,
            },
            runs: RunsConfig {
                retention: r.duration("runs.retention", DEFAULT_RUN_RETENTION)?,
                report_url: r.http_url(
                    "runs.report_url",
                    "the control plane's URL as the deployments' engines reach it, e.g. `http://pipedreamer.pipedreamer.svc:7070`",
                )?,
            },
        };
        Ok(config)
    }

    /// Whether the database is PostgreSQL (several replicas may share it).
    pub fn is_postgres(&self) -> bool {
        self.database.starts_with("postgres://") || self.database.starts_with("postgresql://")
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.host, self.port)
    }

    /// The HS256 key: the configured one, else (SQLite only) the one generated into
    /// `<data_dir>/jwt-secret` (mode 0600) on first use.
    pub fn jwt_secret(&self) -> Result<String, ConfigError> {
        if let Some(secret) = &self.auth.jwt_secret {
            return Ok(secret.clone());
        }
        if self.is_postgres() {
            return Err(ConfigError::SecretRequired);
        }
        let path = self.data_dir.join("jwt-secret");
        let err = |source| ConfigError::SecretFile {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().to_owned()),
            Ok(_) => {
                return Err(err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the file holds fewer than 32 characters",
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        std::fs::create_dir_all(&self.data_dir).map_err(err)?;
        let secret = hex::encode(crate::random_bytes::<32>().map_err(err)?);
        crate::write_private(&path, &secret).map_err(err)?;
        Ok(secret)
    }

    /// The effective configuration as YAML, secrets masked (`auth.jwt_secret`, the password
    /// in `database`).
    pub fn print_config(&self) -> String {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
        let t = &self.builds.timeouts;
        let mut out = String::new();
        let mut line = |indent: usize, key: &str, value: Option<String>| {
            let pad = "  ".repeat(indent);
            match value {
                Some(v) => out.push_str(&format!("{pad}{key}: {v}\n")),
                None => out.push_str(&format!("{pad}{key}:\n")),
            }
        };
        line(0, "data_dir", Some(q(&self.data_dir.display().to_string())));
        line(0, "database", Some(q(&mask_url(&self.database))));
        line(0, "public_url", Some(q(&self.public_url)));
        line(0, "host", Some(q(&self.host.to_string())));
        line(0, "port", Some(self.port.to_string()));
        line(0, "auth", None);
        line(
            1,
            "jwt_secret",
            Some(match &self.auth.jwt_secret {
                Some(_) => q("***"),
                None if self.is_postgres() => "null".into(),
                None => q(&format!(
                    "(generated in {})",
                    self.data_dir.join("jwt-secret").display()
                )),
            }),
        );
        line(1, "token_ttl", Some(q(&d(self.auth.token_ttl))));
        line(0, "builds", None);
        line(1, "concurrency", Some(self.builds.concurrency.to_string()));
        line(1, "timeouts", None);
        line(2, "fetch", Some(q(&d(t.fetch))));
        line(2, "validate", Some(q(&d(t.validate))));
        line(2, "build", Some(q(&d(t.build))));
        line(2, "publish", Some(q(&d(t.publish))));
        line(2, "rollout", Some(q(&d(t.rollout))));
        line(1, "lease", Some(q(&d(self.builds.lease))));
        line(1, "poll_interval", Some(q(&d(self.builds.poll_interval))));
        line(
            0,
            "registry",
            Some(self.registry.as_deref().map_or("null".into(), q)),
        );
        line(
            0,
            "insecure_registry",
            Some(self.insecure_registry.to_string()),
        );
        let token = self.git_token.as_ref().map_or("null".into(), |_| q("***"));
        line(0, "git_token", Some(token));
        line(0, "local", None);
        line(
            1,
            "port_range",
            Some(q(&format!(
                "{}-{}",
                self.local.port_range.start(),
                self.local.port_range.end()
            ))),
        );
        line(1, "bind", Some(q(&self.local.bind.to_string())));
        let opt = |v: &Option<String>| v.as_deref().map_or("null".into(), q);
        let routing = &self.routing;
        line(0, "routing", None);
        line(1, "base_domain", Some(opt(&routing.base_domain)));
        let tls = match routing.tls {
            RoutingTls::Acme => "acme",
            RoutingTls::Internal => "internal",
        };
        line(1, "tls", Some(q(tls)));
        line(1, "acme_email", Some(opt(&routing.acme_email)));
        line(1, "https_port", Some(routing.https_port.to_string()));
        line(1, "ingress_class", Some(opt(&routing.ingress_class)));
        line(1, "tls_issuer", Some(opt(&routing.tls_issuer)));
        line(0, "caddy", None);
        line(1, "admin", Some(q(&self.caddy.admin)));
        line(0, "runs", None);
        line(1, "retention", Some(q(&d(self.runs.retention))));
        line(1, "report_url", Some(opt(&self.runs.report_url)));
        out
    }
}

/// `url` with the password of its user info (and any `password=` query value) replaced by `***`.
pub fn mask_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let range = rest_start + colon + 1..rest_start + at;
                out.replace_range(range, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_in_urls() {
        assert_eq!(
            mask_url("postgres://u:p%40ss@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(mask_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            mask_url("postgres://h/db?user=u&password=x"),
            "postgres://h/db?user=u&password=***"
        );
        assert_eq!(mask_url("sqlite:///a/b.db"), "sqlite:///a/b.db");
    }

    #[test]
    fn defaults_follow_xdg_data_home() {
        let env = vec![
            ("XDG_DATA_HOME".to_owned(), "/x/data".to_owned()),
            ("HOME".into(), "/home/u".into()),
        ];
        let c = Config::load_from(&Overrides::default(), &env).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/x/data/pipedreamer"));
        assert_eq!(c.database, "sqlite:///x/data/pipedreamer/pipedreamer.db");
        let env = vec![("HOME".to_owned(), "/home/u".to_owned())];
        let c = Config::load_from(&Overrides::default(), &env).unwrap();
        assert_eq!(
            c.data_dir,
            PathBuf::from("/home/u/.local/share/pipedreamer")
        );
        assert_eq!(c.port, 7070);
        assert_eq!(c.public_url, "http://127.0.0.1:7070");
        assert_eq!(c.auth.token_ttl, Duration::from_secs(86400));
        assert_eq!(c.builds.concurrency, 2);
        assert_eq!(c.local.port_range, 20000..=20999);
        assert!(matches!(
            Config::load_from(&Overrides::default(), &[]),
            Err(ConfigError::NoDataDir)
        ));
    }

    #[test]
    fn unknown_environment_keys_name_the_variable_and_a_suggestion() {
        let env = vec![
            ("HOME".to_owned(), "/h".to_owned()),
            (
                "PIPEDREAMER_SERVER_AUTH__JWT_SECRT".to_owned(),
                "x".to_owned(),
            ),
        ];
        let e = Config::load_from(&Overrides::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`auth.jwt_secrt`"), "{e}");
        assert!(e.contains("PIPEDREAMER_SERVER_AUTH__JWT_SECRT"), "{e}");
        assert!(
            e.contains("did you mean `PIPEDREAMER_SERVER_AUTH__JWT_SECRET`?"),
            "{e}"
        );
    }

    fn home() -> Vec<(String, String)> {
        vec![("HOME".to_owned(), "/h".to_owned())]
    }

    #[test]
    fn routing_comes_from_the_file_and_the_environment_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.yaml");
        std::fs::write(
            &file,
            "routing:\n  base_domain: Apps.Example.COM\n  tls: internal\n  acme_email: ops@example.com\n  https_port: 8443\n  ingress_class: nginx\n  tls_issuer: letsencrypt\ncaddy:\n  admin: 127.0.0.1:12019\n",
        )
        .unwrap();
        let flags = Overrides {
            config: Some(file),
            ..Overrides::default()
        };
        let c = Config::load_from(&flags, &home()).unwrap();
        assert_eq!(
            c.routing,
            RoutingConfig {
                base_domain: Some("apps.example.com".into()),
                tls: RoutingTls::Internal,
                acme_email: Some("ops@example.com".into()),
                https_port: 8443,
                ingress_class: Some("nginx".into()),
                tls_issuer: Some("letsencrypt".into()),
            }
        );
        assert_eq!(c.caddy.admin, "http://127.0.0.1:12019");
        assert_eq!(
            c.routing.host("hello").as_deref(),
            Some("hello.apps.example.com")
        );
        assert_eq!(c.routing.tls_mode(), pipedreamer_proxy::TlsMode::Internal);
        let printed = c.print_config();
        assert!(
            printed.contains("routing:\n  base_domain: \"apps.example.com\"\n  tls: \"internal\"\n  acme_email: \"ops@example.com\"\n  https_port: 8443\n  ingress_class: \"nginx\"\n  tls_issuer: \"letsencrypt\"\ncaddy:\n  admin: \"http://127.0.0.1:12019\"\n"),
            "{printed}"
        );

        let mut env = home();
        env.push(("PIPEDREAMER_SERVER_ROUTING__TLS".into(), "acme".into()));
        env.push((
            "PIPEDREAMER_SERVER_ROUTING__HTTPS_PORT".into(),
            "443".into(),
        ));
        env.push((
            "PIPEDREAMER_SERVER_CADDY__ADMIN".into(),
            "http://[::1]:2019".into(),
        ));
        let c = Config::load_from(&flags, &env).unwrap();
        assert_eq!(c.routing.https_port, 443);
        assert_eq!(
            c.routing.tls_mode(),
            pipedreamer_proxy::TlsMode::Acme {
                email: Some("ops@example.com".into())
            }
        );
        assert_eq!(c.caddy.admin, "http://[::1]:2019");
    }

    #[test]
    fn routing_is_off_by_default() {
        let c = Config::load_from(&Overrides::default(), &home()).unwrap();
        assert_eq!(c.routing, RoutingConfig::default());
        assert!(!c.routing.enabled());
        assert_eq!(c.routing.host("x"), None);
        assert_eq!(c.caddy.admin, DEFAULT_CADDY_ADMIN);
        assert!(c.print_config().contains("  base_domain: null\n"));
    }

    #[test]
    fn bad_routing_values_name_the_key_the_variable_and_a_fix() {
        let cases = [
            (
                "PIPEDREAMER_SERVER_ROUTING__BASE_DOMAIN",
                "apps_example.com",
                "is not a DNS name",
            ),
            (
                "PIPEDREAMER_SERVER_ROUTING__BASE_DOMAIN",
                "-apps.example.com",
                "is not a DNS name",
            ),
            (
                "PIPEDREAMER_SERVER_ROUTING__ACME_EMAIL",
                "ops-at-example.com",
                "is not an email address",
            ),
            (
                "PIPEDREAMER_SERVER_ROUTING__ACME_EMAIL",
                "ops@localhost",
                "is not an email address",
            ),
            (
                "PIPEDREAMER_SERVER_ROUTING__TLS",
                "letsencrypt",
                "is not a TLS mode",
            ),
            (
                "PIPEDREAMER_SERVER_ROUTING__HTTPS_PORT",
                "0",
                "is not a port number",
            ),
            (
                "PIPEDREAMER_SERVER_ROUTING__TLS_ISSUER",
                "Lets Encrypt",
                "is not a DNS name",
            ),
            (
                "PIPEDREAMER_SERVER_CADDY__ADMIN",
                "https://127.0.0.1:2019",
                "is not an admin endpoint",
            ),
            (
                "PIPEDREAMER_SERVER_CADDY__ADMIN",
                "unix//run/caddy.sock",
                "is not an admin endpoint",
            ),
        ];
        for (var, value, problem) in cases {
            let mut env = home();
            env.push((var.into(), value.into()));
            let e = Config::load_from(&Overrides::default(), &env)
                .unwrap_err()
                .to_string();
            assert!(e.contains(problem), "{var}={value}: {e}");
            assert!(e.contains(var), "{var}={value}: {e}");
            assert!(e.contains("hint: "), "{var}={value}: {e}");
        }
    }

    #[test]
    fn misspelt_routing_keys_are_refused_with_a_suggestion() {
        let mut env = home();
        env.push((
            "PIPEDREAMER_SERVER_ROUTING__BASE_DOMIAN".into(),
            "a.b".into(),
        ));
        let e = Config::load_from(&Overrides::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("did you mean `PIPEDREAMER_SERVER_ROUTING__BASE_DOMAIN`?"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.yaml");
        std::fs::write(&file, "caddy:\n  admin_url: http://127.0.0.1:2019\n").unwrap();
        let flags = Overrides {
            config: Some(file),
            ..Overrides::default()
        };
        let e = Config::load_from(&flags, &home()).unwrap_err().to_string();
        assert!(
            e.contains("unknown configuration key `caddy.admin_url`"),
            "{e}"
        );
        assert!(e.contains("line 2"), "{e}");
    }
}
