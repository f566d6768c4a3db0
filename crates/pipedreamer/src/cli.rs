//! Every command line flag, in one place. Command files only wire these to library calls.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Write small event-driven workflows, run them locally, ship them to Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "pipedreamer", version, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `pipedreamer --version`: the CLI's version and the engine's it builds images with, e.g.
/// `0.1.0 (engine 0.1.0)`.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} (engine {})",
        env!("CARGO_PKG_VERSION"),
        pipedreamer_engine::VERSION
    )
});

/// The command definition: the derived one with [`VERSION`]. Parsing and completions use it.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().version(VERSION.as_str())
}

/// Output format for commands that print data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON on stdout.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new workflow: workflow.yaml, two nodes, types, a secrets example and a test case
    /// (`--ci github|gitlab` also writes a CI file).
    Init(InitArgs),
    /// Check a workflow and report every problem with file:line:col.
    Validate(ValidateArgs),
    /// Run a workflow locally with live reload (no Docker, no cluster).
    Dev(DevArgs),
    /// Run the workflow's test cases (`tests/*.yaml`) in process, in parallel; exit 1 on a failure.
    Test(TestArgs),
    /// Build a minimal, reproducible OCI image (no Docker daemon needed).
    Build(BuildArgs),
    /// Deploy a built workflow to Kubernetes (or print its manifests with -o yaml|json).
    Deploy(DeployArgs),
    /// Cluster readiness.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// List deployed workflows.
    List(ListArgs),
    /// Show a deployed workflow's readiness (and pods, events with --detail).
    Status(StatusArgs),
    /// Invoke a deployed workflow from inside the cluster; the JSON result goes to stdout.
    Run(RunArgs),
    /// Print (or follow) a deployed workflow's logs.
    Logs(LogsArgs),
    /// Remove a deployed workflow: its route, Deployment, Service, CronJobs and Secret.
    Undeploy(UndeployArgs),
    /// Run the control plane: deployments from git, build queue, GitHub webhooks, live logs.
    Server(ServerArgs),
    /// Runs `pipedreamer dev` recorded: list them, show one, replay one on the current code.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Write a CI file: validate and test on pull requests; on the default branch and `v*`
    /// tags, also build and push the image (GitHub Actions to GHCR, GitLab CI to its registry).
    Ci(CiArgs),
    /// Print a shell completion script on stdout (bash, zsh, fish or powershell).
    Completions(CompletionsArgs),
}

/// The CI system `init --ci` and `ci` write a file for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CiProvider {
    /// GitHub Actions: `.github/workflows/pipedreamer.yml`, images to `ghcr.io/<owner>`.
    Github,
    /// GitLab CI: `.gitlab-ci.yml`, images to the project's container registry.
    Gitlab,
}

/// `pipedreamer ci`.
#[derive(Debug, clap::Args)]
pub struct CiArgs {
    /// The CI system.
    #[arg(value_enum)]
    pub provider: CiProvider,
    /// The workflow directory (the file goes to its git repository's root).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The branch whose pushes publish (default: the remote's default branch, else the
    /// current branch, else `main`). GitHub only: GitLab asks `$CI_DEFAULT_BRANCH`.
    #[arg(long)]
    pub branch: Option<String>,
    /// Replace an existing CI file.
    #[arg(long)]
    pub force: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `pipedreamer runs ...`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// The recorded runs, newest first.
    List(RunsListArgs),
    /// One run: its nodes on a timeline, error, progress, outputs and logs.
    Show(RunsShowArgs),
    /// Run a recorded run's input again on the workflow as it is now (needs
    /// `config.record_io: true` when it was recorded); the new run names the old one.
    Replay(RunsReplayArgs),
}

/// A run's final status, for `runs list --status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunsStatus {
    /// Every node succeeded.
    Succeeded,
    /// A node failed, timed out or ran out of memory.
    Failed,
}

/// `pipedreamer runs list`.
#[derive(Debug, clap::Args)]
pub struct RunsListArgs {
    /// The workflow directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Only runs that ended this way.
    #[arg(long, value_enum)]
    pub status: Option<RunsStatus>,
    /// Only runs with this trigger (`http`, `webhook`, `cron`, `queue` match every trigger of
    /// the kind; e.g. `cron:nightly` matches one).
    #[arg(long)]
    pub trigger: Option<String>,
    /// Runs listed at most.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
    /// Only runs older than this one (paging).
    #[arg(long, value_name = "RUN_ID")]
    pub before: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer runs show`.
#[derive(Debug, clap::Args)]
pub struct RunsShowArgs {
    /// The run id (from `runs list`, or `run_id` in a `/run` answer).
    pub id: String,
    /// The workflow directory.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer runs replay`.
#[derive(Debug, clap::Args)]
pub struct RunsReplayArgs {
    /// The run id to replay.
    pub id: String,
    /// The workflow directory.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Which cluster and namespace (shared by every Kubernetes command).
#[derive(Debug, Clone, clap::Args)]
pub struct KubeArgs {
    /// Namespace (default: the kubeconfig context's, else `default`).
    #[arg(long, short = 'n', global = true)]
    pub namespace: Option<String>,
    /// kubeconfig context (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
}

/// Output format for deploy: text applies to the cluster; yaml/json only print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum DeployOutput {
    /// Apply to the cluster and report in text.
    #[default]
    Text,
    /// Print the manifests as YAML; touch no cluster.
    Yaml,
    /// Print the manifests as JSON (a v1 List); touch no cluster.
    Json,
}

/// `pipedreamer deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The workflow directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Cluster selection.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Registry the image was pushed to (as for `build -r`).
    #[arg(long, short)]
    pub registry: Option<String>,
    /// Image tag (as for `build --tag`).
    #[arg(long, short)]
    pub tag: Option<String>,
    /// Registry the cluster pulls from, when it differs from where you pushed (e.g. push to
    /// `localhost:30500`, pull from `registry.registry.svc.cluster.local:5000`).
    #[arg(long)]
    pub cluster_registry: Option<String>,
    /// Image for CronJob pods (default: `config.cron_image`, else a pinned curl image).
    #[arg(long)]
    pub cron_image: Option<String>,
    /// Wait until the rollout is Available, showing progress and why it is stuck.
    #[arg(long)]
    pub wait: bool,
    /// Limit for --wait.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Skip the preflight checks.
    #[arg(long)]
    pub skip_checks: bool,
    /// Print the manifests (yaml|json) instead of applying them.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: DeployOutput,
    /// Write the manifests as a kustomize base to this directory instead of applying them.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Publish the workflow on this host (e.g. `api.example.com`): an Ingress (or an HTTPRoute
    /// with `--route gateway`) routes `/run` and `/hooks/` to its Service. Without it, a route
    /// left from an earlier deploy is deleted.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// How the host is routed.
    #[command(flatten)]
    pub route: RouteArgs,
    /// What the engine pods may talk to.
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// The workflow's NetworkPolicy (`deploy`).
#[derive(Debug, Clone, clap::Args)]
pub struct NetworkArgs {
    /// How egress is restricted: `ports` (DNS and the ports fetch.allow, NATS and run reports
    /// need, to any address), `cilium` (a CiliumNetworkPolicy allowing fetch.allow's host names),
    /// or `none` (ingress only).
    #[arg(long, value_enum, default_value_t)]
    pub egress_policy: EgressPolicyArg,
    /// The ingress controller's namespace, allowed in when --host is given (default:
    /// `ingress-nginx` for an Ingress, the Gateway's namespace for --route gateway).
    #[arg(long, value_name = "NAMESPACE")]
    pub ingress_controller_namespace: Option<String>,
    /// Also let pods of this namespace call the workflow (e.g. `monitoring`); repeatable.
    #[arg(long, value_name = "NAMESPACE")]
    pub allow_from: Vec<String>,
    /// Also allow egress to this TCP port (e.g. a plain-HTTP service on 8080); repeatable.
    #[arg(long, value_name = "PORT")]
    pub egress_port: Vec<u16>,
}

/// `--egress-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum EgressPolicyArg {
    /// No egress rules.
    None,
    /// DNS and the needed ports, to any address.
    #[default]
    Ports,
    /// A CiliumNetworkPolicy with toFQDNs from fetch.allow.
    Cilium,
}

/// What routes a workflow's host (shared by `deploy --host` and `cluster check`).
#[derive(Debug, Clone, clap::Args)]
pub struct RouteArgs {
    /// The Ingress's IngressClass (default: the cluster's default class).
    #[arg(long, value_name = "CLASS")]
    pub ingress_class: Option<String>,
    /// A cert-manager ClusterIssuer (e.g. `letsencrypt-prod`): TLS with secret `<name>-tls`, and
    /// the URL is https.
    #[arg(long, value_name = "ISSUER")]
    pub tls_issuer: Option<String>,
    /// Route with an Ingress or a Gateway API HTTPRoute.
    #[arg(long, value_enum, default_value_t)]
    pub route: RouteFlavor,
    /// The Gateway an HTTPRoute attaches to, as NAMESPACE/NAME (with `--route gateway`).
    #[arg(long, value_name = "NS/NAME", required_if_eq("route", "gateway"))]
    pub gateway: Option<String>,
}

/// `--route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum RouteFlavor {
    /// A networking.k8s.io/v1 Ingress.
    #[default]
    Ingress,
    /// A gateway.networking.k8s.io/v1 HTTPRoute (needs --gateway).
    Gateway,
}

/// `pipedreamer cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Check that the cluster can run workflows and that you may deploy them.
    Check(ClusterCheckArgs),
}

/// `pipedreamer cluster check`.
#[derive(Debug, clap::Args)]
pub struct ClusterCheckArgs {
    /// Cluster selection.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Create the namespace and a least-privilege Role when missing.
    #[arg(long)]
    pub fix: bool,
    /// The workflow directory, for the Secret check (default: `.` when it has a workflow.yaml).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The routing to check for: the IngressClass (or the Gateway API with `--route gateway`) and
    /// cert-manager's ClusterIssuer.
    #[command(flatten)]
    pub route: RouteArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Cluster selection.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Workflow name.
    pub name: String,
    /// Cluster selection.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Add image, runtime class, resources, service, pods, cron triggers and recent events.
    #[arg(long)]
    pub detail: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Workflow name.
    pub name: String,
    /// Cluster selection.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// JSON input, or `@file` to read it from a file (`@-` for stdin).
    #[arg(long, short, default_value = "{}")]
    pub data: String,
    /// Limit for the whole invocation, including starting the pod.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Image for the temporary curl pod.
    #[arg(long, default_value = pipedreamer_kube::manifests::DEFAULT_CURL_IMAGE)]
    pub curl_image: String,
}

/// `pipedreamer logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Workflow name.
    pub name: String,
    /// Cluster selection.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Lines from the end.
    #[arg(long, default_value_t = 100)]
    pub tail: i64,
    /// Keep streaming until interrupted.
    #[arg(long, short)]
    pub follow: bool,
}

/// `pipedreamer undeploy`.
#[derive(Debug, clap::Args)]
pub struct UndeployArgs {
    /// Workflow name.
    pub name: String,
    /// Cluster selection.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub yes: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Where `build` and `server image` publish: a registry, an archive, an OCI layout (several at
/// once).
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Registry (and optional namespace) to prefix the tag with, e.g. `ghcr.io/acme`.
    #[arg(long, short)]
    pub registry: Option<String>,
    /// Push to the registry over the OCI distribution API.
    #[arg(long)]
    pub push: bool,
    /// Allow plain HTTP to a registry that is not on loopback.
    #[arg(long)]
    pub insecure_registry: bool,
    /// Write a tar that `docker load` and `podman load` accept.
    #[arg(long)]
    pub archive: Option<PathBuf>,
    /// Write an OCI image layout directory.
    #[arg(long)]
    pub oci_layout: Option<PathBuf>,
}

/// `pipedreamer build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The workflow directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Image tag (default: `<name>:<version with dots as dashes>`).
    #[arg(long, short)]
    pub tag: Option<String>,
    /// Where the image goes.
    #[command(flatten)]
    pub publish: PublishArgs,
    /// Generate Dockerfile.pipedreamer and run `docker build` / `podman build` instead.
    #[arg(long)]
    pub dockerfile: bool,
    /// The static engine binary (default: $PIPEDREAMER_ENGINE, else next to `pipedreamer`).
    #[arg(long, env = "PIPEDREAMER_ENGINE")]
    pub engine: Option<PathBuf>,
    /// List on stderr every file left out of the image, and why.
    #[arg(long, short)]
    pub verbose: bool,
    /// Leave out the SPDX SBOM. By default it goes into the image (`/sbom.spdx.json`), next to
    /// the build output (`.pipedreamer/sbom.spdx.json`) and, with `--push`, to the registry as an
    /// artifact referring to the image.
    #[arg(long)]
    pub no_sbom: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to create the workflow in (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Workflow name (default: the directory name, made DNS-safe).
    #[arg(long)]
    pub name: Option<String>,
    /// Also write a CI file (as `pipedreamer ci PROVIDER` does).
    #[arg(long, value_enum)]
    pub ci: Option<CiProvider>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The workflow directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `pipedreamer test`'s report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum TestOutput {
    /// One line per case, each failure at its file:line:col with a diff.
    #[default]
    Text,
    /// A JSON document: counts, and per case its failures with positions.
    Json,
    /// JUnit XML, for CI systems' test reports.
    Junit,
}

/// `pipedreamer test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The workflow directory (its cases are in `tests/*.yaml`).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Only the cases whose name contains this text (ignoring case).
    #[arg(short = 'k', long = "filter", value_name = "NAME")]
    pub filter: Option<String>,
    /// Report format (on stdout).
    #[arg(short, long, value_enum, default_value_t)]
    pub output: TestOutput,
}

/// `pipedreamer dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// The workflow directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Port to listen on.
    #[arg(long, short, default_value_t = 8080, env = "PORT")]
    pub port: u16,
    /// Address to bind (loopback by default: dev servers should not face the network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Do not reload when files change.
    #[arg(long)]
    pub no_watch: bool,
    /// Do not schedule cron triggers locally.
    #[arg(long)]
    pub no_cron: bool,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = pipedreamer_engine::logging::LogFormat::Text)]
    pub log_format: pipedreamer_engine::logging::LogFormat,
}

/// `pipedreamer server`: flags over `PIPEDREAMER_SERVER_*` variables over the `--config` file.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// YAML configuration file (keys: data_dir, database, public_url, host, port, auth, builds,
    /// registry, local).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Directory of the SQLite database, the generated JWT secret and the admin token
    /// (default: $XDG_DATA_HOME/pipedreamer, else ~/.local/share/pipedreamer).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1).
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Port to listen on (default 7070).
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// `postgres://…` for PostgreSQL (default: SQLite in the data directory).
    #[arg(
        long,
        global = true,
        env = "PIPEDREAMER_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// The URL GitHub reaches this server at; webhook URLs are built from it.
    #[arg(long, global = true)]
    pub public_url: Option<String>,
    /// Print the effective configuration (secrets masked) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// The static engine binary images are built with (default: $PIPEDREAMER_ENGINE, else
    /// next to `pipedreamer`).
    #[arg(long, env = "PIPEDREAMER_ENGINE")]
    pub engine: Option<PathBuf>,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = pipedreamer_engine::logging::LogFormat::Text)]
    pub log_format: pipedreamer_engine::logging::LogFormat,
    /// Manage API tokens instead of serving.
    #[command(subcommand)]
    pub command: Option<ServerCommand>,
}

/// `pipedreamer server <command>`.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// API tokens: create, list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print what runs the server in a cluster (Deployment, RBAC, config Secret, Service,
    /// Ingress); touch no cluster.
    Manifests(ServerManifestsArgs),
    /// Build the server's own image (FROM scratch: static `pipedreamer` and
    /// `pipedreamer-engine`, non-root), without a Docker daemon.
    Image(ServerImageArgs),
}

/// Output format of `server manifests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ManifestsOutput {
    /// A multi-document YAML stream.
    #[default]
    Yaml,
    /// A v1 List.
    Json,
}

/// `pipedreamer server manifests`. `--host` and `--database` share their names (and values)
/// with the server's own flags: here they are the API's public host and the cluster's database.
#[derive(Debug, clap::Args)]
pub struct ServerManifestsArgs {
    /// `postgres://…` (as the pods reach it): N stateless replicas; default SQLite on a volume,
    /// one replica. Also read from PIPEDREAMER_DATABASE_URL. It goes only into the Secret.
    #[arg(long, hide_env_values = true)]
    pub database: Option<String>,
    /// A namespace besides its own the server may deploy workflows to (repeatable).
    #[arg(long = "workspace-namespace", value_name = "NS")]
    pub workspace_namespaces: Vec<String>,
    /// The namespace the server runs in.
    #[arg(long, short = 'n', default_value = pipedreamer_kube::control_plane::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Pods (default 1 with SQLite, which allows no more; 2 with PostgreSQL).
    #[arg(long)]
    pub replicas: Option<u32>,
    /// The server image (default `pipedreamer:<version>`, what `server image` tags).
    #[arg(long)]
    pub image: Option<String>,
    /// Public host of the API, webhooks and dashboard: adds an Ingress (not for /metrics or
    /// the probes).
    #[arg(long)]
    pub host: Option<String>,
    /// The Ingress's ingressClassName (default: the cluster's default class).
    #[arg(long)]
    pub ingress_class: Option<String>,
    /// A cert-manager ClusterIssuer: HTTPS with a certificate in Secret `pipedreamer-tls`.
    #[arg(long)]
    pub tls_issuer: Option<String>,
    /// Size of the SQLite data volume.
    #[arg(long, default_value = pipedreamer_kube::control_plane::DEFAULT_STORAGE)]
    pub storage: String,
    /// StorageClass of the SQLite data volume (default: the cluster's default).
    #[arg(long)]
    pub storage_class: Option<String>,
    /// Print as yaml or json.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ManifestsOutput,
    /// Write a kustomize base (`kubectl apply -k DIR`) to this directory instead of printing.
    #[arg(long, conflicts_with = "output")]
    pub output_dir: Option<PathBuf>,
}

/// `pipedreamer server image`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("destination").required(true).multiple(true).args(["push", "archive", "oci_layout"])))]
pub struct ServerImageArgs {
    /// Image tag (default `pipedreamer:<version>`).
    #[arg(long, short)]
    pub tag: Option<String>,
    /// Where the image goes.
    #[command(flatten)]
    pub publish: PublishArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `pipedreamer server token <command>`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token and print it alone on stdout (it is shown only this once).
    Create(TokenCreateArgs),
    /// List tokens: id, scope, expiry, revoked (never the tokens themselves).
    List(TokenListArgs),
    /// Revoke a token by id; the server refuses it from then on.
    Revoke(TokenRevokeArgs),
}

/// A token's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenScope {
    /// Read deployments, builds and logs.
    Read,
    /// Read, plus deploy, stop and cancel.
    Deploy,
    /// Everything, including webhook secrets and deployment secrets.
    Admin,
    /// Report runs of one deployment (needs --deployment).
    Report,
}

/// `pipedreamer server token create`.
#[derive(Debug, clap::Args)]
pub struct TokenCreateArgs {
    /// What the token may do.
    #[arg(long, value_enum)]
    pub scope: TokenScope,
    /// Lifetime, e.g. `720h` (default: `auth.token_ttl`, 24h).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ttl: Option<std::time::Duration>,
    /// The deployment a `report` token is bound to.
    #[arg(long)]
    pub deployment: Option<String>,
}

/// `pipedreamer server token list`.
#[derive(Debug, clap::Args)]
pub struct TokenListArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `pipedreamer server token revoke`.
#[derive(Debug, clap::Args)]
pub struct TokenRevokeArgs {
    /// The token's id (from `token list`).
    pub id: String,
}
