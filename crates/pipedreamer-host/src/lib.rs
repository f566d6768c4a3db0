//! Runs a built workflow image as a hardened container on this host: the `local` target of
//! `pipedreamer server`.
//!
//! [`Host::detect`] picks podman or docker, whichever answers (no registry: images are loaded
//! with [`Host::load`] or `pipedreamer_image`'s daemon publisher), and gVisor's `runsc` as the
//! runtime when it is installed and the engine is podman. Every container runs as
//! `65532:65532` with a read-only root, all capabilities dropped, `no-new-privileges`, a memory
//! limit, a capped log, `--restart=no`, and the deployment's secrets mounted read-only at
//! `/app/secrets`.
//!
//! # Host networking and `SO_REUSEPORT` instead of `-p`
//! The issue asks for `-p <bind>:<port>:8080` under runc. That cannot replace a container
//! without downtime on a stable port: with `-p` podman holds the host port for the container,
//! so the new container cannot get it until the old one is gone, and a redeploy would refuse
//! connections for as long as the new engine takes to start (or forever, when it never gets
//! ready), unless the server ran a proxy in front. So every container uses host networking
//! (runsc requires it anyway) with the engine's `--host <bind> --port <port>`, and the engine
//! binds with `SO_REUSEPORT` (`PIPEDREAMER_REUSE_PORT=true`). [`Host::replace`] starts the
//! new container next to the old one on the same port, asks `/readyz` on fresh connections
//! (the kernel spreads them over both listeners) until the NEW instance answers ready (the
//! engine reports `PIPEDREAMER_INSTANCE` in the `x-pipedreamer-instance` header), and only
//! then stops the old container (SIGTERM: it stops accepting at once and finishes the requests
//! it has). A new version that never gets ready is removed and the old one keeps serving,
//! untouched.
//!
//! # gVisor
//! The gVisor Debian ships (release 20221219) accepts `SO_REUSEPORT` but does not pass it to
//! the host socket (its host-network setsockopt filter has no `SO_REUSEPORT`), so a second
//! engine under runsc fails with "address in use". [`Host::replace`] notices that the first
//! time (the new engine exits with that error) and from then on hands over instead: the new
//! container starts on the stable port with `PIPEDREAMER_PORT_WAIT`, loads its workflow and
//! logs that it waits for the port (retrying the bind every 10 ms); only then is the old one
//! stopped, and the new one takes the port the moment it is free. A version that cannot load
//! is removed before the old one is touched; one that fails after taking the port is removed
//! and the old container is started again. The port is closed only from the old engine closing
//! its listener to the new one's next bind attempt: milliseconds, not a container start. A
//! gVisor that honours `SO_REUSEPORT` gets the zero-downtime path without a change here.
//!
//! # Limits
//! When the old engine closes its listener, connections the kernel had already queued on it
//! but the engine had not yet accepted are reset (Linux moves them to the new listener only
//! with the host-wide sysctl `net.ipv4.tcp_migrate_req=1`). The engine accepts eagerly, so
//! that window is small; clients retrying idempotent requests do not notice it.
//!
//! Run one `replace` per deployment at a time (the pipeline builds one at a time per
//! deployment). A caller that gives up on `replace` (drops the future) gets the new container
//! removed; give it more time than `ready_timeout` plus the old engine's 10 s stop grace, since
//! a gVisor handover abandoned after the old container stopped leaves the port closed until the
//! next `replace` or `ensure_running`.

mod command;
mod probe;

use command::EngineCommand;
use pipedreamer_image::publish::daemon::{self, LocalEngine};
use probe::Probe;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The label every container of a deployment carries (its value: the deployment).
pub const DEPLOYMENT_LABEL: &str = "pipedreamer.deployment";
/// The label naming the build a container runs.
pub const BUILD_LABEL: &str = "pipedreamer.build";
/// The label naming the instance (`<build id>.<nonce>`), which `/readyz` reports.
pub const INSTANCE_LABEL: &str = "pipedreamer.instance";
/// The label with the container's start time (unix milliseconds): [`Host::logs`] reads the
/// newest.
const STARTED_LABEL: &str = "pipedreamer.started";
/// The user containers run as (the image's non-root user).
pub const CONTAINER_USER: &str = "65532:65532";
/// Where the deployment's secrets are mounted, read-only (the engine's `--secrets-dir`).
pub const SECRETS_MOUNT: &str = "/app/secrets";
/// Where the directory with the run-report token is mounted, read-only.
pub const REPORT_MOUNT: &str = "/app/report";
/// The token's file name in [`ReportSpec::token_dir`] (and under [`REPORT_MOUNT`]).
pub const REPORT_TOKEN_FILE: &str = "token";

/// Short commands (`ps`, `inspect`, `logs`, `rm`).
const QUICK: Duration = Duration::from_secs(30);
/// `run -d`: creating a container under runsc takes a few seconds on a busy machine.
const START: Duration = Duration::from_secs(90);
/// How long a stopping engine may finish its requests before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Time for one readiness probe.
const PROBE: Duration = Duration::from_secs(2);
/// How many log lines an error about a failed start carries.
const ERROR_LOG_LINES: usize = 20;
/// podman refuses memory limits below 6 MiB.
const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// Errors of this crate.
pub type Result<T, E = HostError> = std::result::Result<T, E>;

/// What went wrong running containers; [`HostError::hint`] says what to do where a fix exists.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Neither podman nor docker answers on this machine.
    #[error("no container engine: neither `podman` nor `docker` answers `info`")]
    NoEngine {
        /// What to install.
        hint: String,
    },
    /// A field of the [`ContainerSpec`] cannot be used.
    #[error("invalid container spec: `{field}` {reason}")]
    InvalidSpec {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The engine command could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command (`podman run`), never its arguments.
        command: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The engine command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command (`podman run`), never its arguments.
        command: String,
        /// Its stderr, trimmed (the end of it when long).
        stderr: String,
    },
    /// The engine command did not finish in time and was killed.
    #[error("`{command}` did not finish within {}s", .after.as_secs_f64())]
    Timeout {
        /// The command.
        command: String,
        /// The deadline.
        after: Duration,
    },
    /// The new container stopped before it answered ready; it was removed.
    #[error(
        "the new container `{container}` exited before it answered ready on `{addr}`; it was removed. Its last log lines:\n{logs}"
    )]
    Exited {
        /// The container's name.
        container: String,
        /// Where it should have listened.
        addr: SocketAddr,
        /// Its last log lines.
        logs: String,
    },
    /// The new container did not answer ready in time; it was removed.
    #[error(
        "the new container `{container}` did not answer ready on `{addr}` within {}s (last probe: {last}); it was removed. Its last log lines:\n{logs}",
        .waited.as_secs_f64()
    )]
    NotReady {
        /// The container's name.
        container: String,
        /// Where it was asked.
        addr: SocketAddr,
        /// How long it was given.
        waited: Duration,
        /// What the last `/readyz` probe saw.
        last: String,
        /// Its last log lines.
        logs: String,
    },
    /// Loading an image archive failed.
    #[error(transparent)]
    Load(#[from] pipedreamer_image::Error),
}

impl HostError {
    /// What to do about it, where a fix exists.
    pub fn hint(&self) -> Option<&str> {
        match self {
            HostError::NoEngine { hint } => Some(hint),
            HostError::InvalidSpec { .. } => None,
            HostError::Spawn { .. } => {
                Some("install podman (`apt-get install -y podman runc`) or docker")
            }
            HostError::Command { .. } | HostError::Timeout { .. } => Some(
                "check the container engine with `podman info` (or `docker info`); on hosts with hybrid cgroups podman needs runc and `cgroup_manager = \"cgroupfs\"` in /etc/containers/containers.conf",
            ),
            HostError::Exited { .. } | HostError::NotReady { .. } => Some(
                "the log lines above say why; `address in use` means another process holds the port",
            ),
            HostError::Load(_) => None,
        }
    }
}

/// One version of a deployment to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The deployment: container name prefix and [`DEPLOYMENT_LABEL`]. Letters, digits, `-`,
    /// `_`, `.`, starting with a letter or digit.
    pub deployment: String,
    /// The build: [`BUILD_LABEL`], part of the name and of the instance `/readyz` reports.
    pub build_id: String,
    /// The image as the engine knows it (`localhost/hello:1-0`), already loaded.
    pub image: String,
    /// The address the engine listens on (host networking).
    pub bind: IpAddr,
    /// The port, stable across versions (see [`pick_port`]).
    pub port: u16,
    /// A directory with one file per secret, mounted read-only at [`SECRETS_MOUNT`]. Its files
    /// must be readable by uid 65532 (e.g. mode 0644 in a 0755 directory): an engine that cannot
    /// read its secrets exits.
    pub secrets_dir: Option<PathBuf>,
    /// The memory limit in bytes (at least 6 MiB).
    pub memory_bytes: u64,
    /// Report runs to the control plane: `--report-to` with the token file mounted read-only
    /// (never passed in the environment, where `inspect` would show it).
    pub report: Option<ReportSpec>,
}

/// Run reporting of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    /// The control plane's URL as the container reaches it (host networking: loopback works).
    pub url: String,
    /// A directory holding [`REPORT_TOKEN_FILE`], readable by uid 65532, mounted at
    /// [`REPORT_MOUNT`].
    pub token_dir: PathBuf,
}

impl ContainerSpec {
    fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(HostError::InvalidSpec {
                field,
                reason: reason.to_owned(),
            })
        };
        if !is_name_part(&self.deployment) {
            return bad(
                "deployment",
                "must be 1-100 letters, digits, `-`, `_` or `.`, starting with a letter or digit",
            );
        }
        if !is_name_part(&self.build_id) {
            return bad(
                "build_id",
                "must be 1-100 letters, digits, `-`, `_` or `.`, starting with a letter or digit",
            );
        }
        if self.image.is_empty() || self.image.starts_with('-') {
            return bad("image", "must be an image reference");
        }
        if self.port == 0 {
            return bad("port", "must not be 0");
        }
        if self.memory_bytes < MIN_MEMORY {
            return bad("memory_bytes", "must be at least 6 MiB (6291456)");
        }
        if let Some(dir) = &self.secrets_dir
            && !mountable(dir)
        {
            return bad("secrets_dir", "must be an absolute path without `:` or `,`");
        }
        if let Some(report) = &self.report {
            if !report.url.starts_with("http://") && !report.url.starts_with("https://")
                || report.url.contains(char::is_whitespace)
            {
                return bad("report.url", "must be an http:// or https:// URL");
            }
            if !mountable(&report.token_dir) {
                return bad(
                    "report.token_dir",
                    "must be an absolute path without `:` or `,`",
                );
            }
        }
        Ok(())
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }
}

/// A host path `--volume` can take: absolute, and without the option separators.
fn mountable(dir: &Path) -> bool {
    dir.is_absolute() && !dir.to_string_lossy().contains([':', ','])
}

fn is_name_part(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 100
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The first port of `range` that no deployment has (`taken`) and nothing listens on at
/// `bind` now; `None` when the range is full.
pub fn pick_port(range: RangeInclusive<u16>, taken: &[u16], bind: IpAddr) -> Option<u16> {
    range
        .filter(|p| *p != 0 && !taken.contains(p))
        // Binding is the honest test of "free": it also sees listeners on 0.0.0.0 and on
        // other users' sockets. std sets SO_REUSEADDR, so TIME_WAIT leftovers do not count.
        .find(|p| std::net::TcpListener::bind((bind, *p)).is_ok())
}

/// Whether engines under this runtime can share a port (`SO_REUSEPORT`): learnt on the first
/// replacement that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum PortSharing {
    Unknown = 0,
    Works = 1,
    Refused = 2,
}

/// A container engine on this host (podman or docker), with gVisor as the runtime when
/// installed. Cheap to clone; clones share what they learnt about port sharing.
#[derive(Debug, Clone)]
pub struct Host {
    engine: LocalEngine,
    /// `runsc`, when containers run under gVisor.
    gvisor: Option<PathBuf>,
    /// Flags before the verb of every command (e.g. `--root`/`--runroot` for a private store).
    global: Vec<OsString>,
    port_sharing: Arc<AtomicU8>,
    /// Removals of abandoned new containers still under way (see [`Started`]): whatever works
    /// on a deployment next waits for its own first, so an `rm` in the background never races
    /// a `remove` that listed the container (nor outlives the call that undeploys).
    cleanups: Cleanups,
}

/// Background removals by deployment.
type Cleanups = Arc<Mutex<Vec<(String, tokio::task::JoinHandle<()>)>>>;

impl Host {
    /// The engine that answers (docker with a daemon, else podman), under gVisor when `runsc`
    /// is installed and the engine is podman. Blocks up to 5 s per engine asked.
    pub fn detect() -> Result<Host> {
        let engine = daemon::detect().ok_or_else(|| HostError::NoEngine {
            hint: "install podman (`apt-get install -y podman runc`) or start the Docker daemon; the `local` target runs deployments in containers".into(),
        })?;
        let gvisor = match engine {
            LocalEngine::Podman => find_runsc(),
            LocalEngine::Docker => None,
        };
        Ok(Host::new(engine, gvisor))
    }

    /// A host with this engine and, for podman, this `runsc` binary (`None`: the default
    /// runtime).
    pub fn new(engine: LocalEngine, gvisor: Option<PathBuf>) -> Host {
        Host {
            engine,
            gvisor: gvisor.filter(|_| engine == LocalEngine::Podman),
            global: Vec::new(),
            port_sharing: Arc::new(AtomicU8::new(PortSharing::Unknown as u8)),
            cleanups: Cleanups::default(),
        }
    }

    /// The same host without gVisor (the engine's default runtime, runc for podman here).
    pub fn without_gvisor(mut self) -> Host {
        self.gvisor = None;
        self.port_sharing = Arc::new(AtomicU8::new(PortSharing::Unknown as u8));
        self
    }

    /// Flags put before every command's verb, e.g. `--root DIR --runroot DIR` for a private
    /// podman store.
    pub fn with_global_args<I, S>(mut self, args: I) -> Host
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.global = args.into_iter().map(Into::into).collect();
        self
    }

    /// The engine in use.
    pub fn engine(&self) -> LocalEngine {
        self.engine
    }

    /// Whether containers run under gVisor (`runsc`).
    pub fn uses_gvisor(&self) -> bool {
        self.gvisor.is_some()
    }

    /// Loads a docker-archive or oci-archive tar into the engine.
    pub async fn load(&self, archive: &Path) -> Result<()> {
        daemon::load_async(self.engine, archive, daemon::LOAD_TIMEOUT).await?;
        Ok(())
    }

    /// Runs `spec` in place of the deployment's current containers: starts the new container,
    /// waits until IT answers `/readyz` (within `ready_timeout`), then stops and removes the
    /// old ones. On failure the new container is removed, the old ones keep serving, and the
    /// error carries the new container's last log lines. See the module docs for how the port
    /// is shared during the switch.
    pub async fn replace(&self, spec: &ContainerSpec, ready_timeout: Duration) -> Result<()> {
        spec.validate()?;
        self.finish_cleanups(&spec.deployment).await;
        let old = self.containers(&spec.deployment).await?;
        let old_running = old.iter().any(|c| c.running);
        let sharing = self.port_sharing();
        if !old_running || sharing != PortSharing::Refused {
            let started = self.start(spec, spec.port, None).await?;
            match self.wait_ready(&started, spec.addr(), ready_timeout).await {
                Ok(()) => {
                    if old_running {
                        self.set_port_sharing(PortSharing::Works);
                    }
                    self.stop_and_remove(&old).await?;
                    return Ok(());
                }
                // The old engine's socket refused to share: gVisor without SO_REUSEPORT, or
                // an old engine built before `--reuse-port`.
                Err(HostError::Exited { logs, .. })
                    if old_running && logs.contains("Address already in use") =>
                {
                    tracing::info!(
                        runtime = self.runtime_name(),
                        "the old and the new engine cannot share the port; replacing by handover"
                    );
                    // Remembered for the runtime only: under runc it is the old image's doing.
                    if self.uses_gvisor() {
                        self.set_port_sharing(PortSharing::Refused);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.handover(spec, &old, ready_timeout).await
    }

    /// Brings the deployment back after a server restart: when a container of `spec.build_id`
    /// is running, it stays and every other container of the deployment is removed (a server
    /// killed mid-`replace` can leave two versions sharing the port); otherwise a new one is
    /// started from `spec.image` as [`Host::replace`] does.
    pub async fn ensure_running(
        &self,
        spec: &ContainerSpec,
        ready_timeout: Duration,
    ) -> Result<()> {
        spec.validate()?;
        self.finish_cleanups(&spec.deployment).await;
        let current = self.containers(&spec.deployment).await?;
        let keep = current
            .iter()
            .filter(|c| c.running && c.build == spec.build_id)
            .max_by_key(|c| c.started);
        match keep {
            Some(keep) => {
                let others: Vec<Container> = current
                    .iter()
                    .filter(|c| c.name != keep.name)
                    .cloned()
                    .collect();
                self.stop_and_remove(&others).await
            }
            None => self.replace(spec, ready_timeout).await,
        }
    }

    /// Stops (gracefully) and removes every container of the deployment.
    pub async fn remove(&self, deployment: &str) -> Result<()> {
        self.finish_cleanups(deployment).await;
        let all = self.containers(deployment).await?;
        self.stop_and_remove(&all).await
    }

    /// Waits for the background removals of `deployment`'s abandoned containers (each is
    /// bounded by its command's timeout).
    async fn finish_cleanups(&self, deployment: &str) {
        let mine: Vec<tokio::task::JoinHandle<()>> = {
            let mut all = self.cleanups.lock().unwrap_or_else(|p| p.into_inner());
            let (mine, others): (Vec<_>, Vec<_>) =
                all.drain(..).partition(|(d, _)| d == deployment);
            all.extend(others.into_iter().filter(|(_, h)| !h.is_finished()));
            mine.into_iter().map(|(_, h)| h).collect()
        };
        for cleanup in mine {
            let _ = cleanup.await;
        }
    }

    /// The last `tail` log lines of the deployment's newest container (empty when there is
    /// none). stdout first, then stderr: the engine logs to stdout.
    pub async fn logs(&self, deployment: &str, tail: usize) -> Result<String> {
        let all = self.containers(deployment).await?;
        let Some(newest) = all.iter().max_by_key(|c| c.started) else {
            return Ok(String::new());
        };
        self.container_logs(&newest.name, tail).await
    }

    /// The deployment's containers, running or not.
    async fn containers(&self, deployment: &str) -> Result<Vec<Container>> {
        let ids = self
            .cmd("ps")
            .args(["-a", "-q", "--filter"])
            .arg(format!("label={DEPLOYMENT_LABEL}={deployment}"))
            .output(QUICK)
            .await?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // `inspect`, not `ps --format`: its fields are the same in docker and podman (`ps`
        // differs in `.State` and `.Labels`).
        let format = format!(
            "{{{{.Name}}}}\t{{{{.State.Running}}}}\t{{{{index .Config.Labels \"{BUILD_LABEL}\"}}}}\t{{{{index .Config.Labels \"{STARTED_LABEL}\"}}}}"
        );
        let (ok, out, err) = self
            .cmd("inspect")
            .arg("--format")
            .arg(format)
            .args(ids)
            .run(QUICK)
            .await?;
        // A container removed since `ps` fails `inspect` but the others are still listed.
        if !ok && out.trim().is_empty() {
            return Err(HostError::Command {
                command: format!("{} inspect", self.engine.command()),
                stderr: command::tail(err.trim(), 2000),
            });
        }
        Ok(out.lines().filter_map(Container::parse).collect())
    }

    /// `run -d` of `spec` on `port`: the container's name and instance. With `port_wait`, the
    /// engine waits that long for a taken port instead of exiting.
    async fn start(
        &self,
        spec: &ContainerSpec,
        port: u16,
        port_wait: Option<Duration>,
    ) -> Result<Started> {
        let nonce = nonce();
        let instance = format!("{}.{nonce}", spec.build_id);
        let short: String = spec.build_id.chars().take(8).collect();
        let name = format!("pipedreamer-{}-{short}-{nonce}", spec.deployment);
        let started_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut cmd = self.cmd_with_runtime("run").args([
            "-d".into(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            format!("{DEPLOYMENT_LABEL}={}", spec.deployment),
            "--label".into(),
            format!("{BUILD_LABEL}={}", spec.build_id),
            "--label".into(),
            format!("{INSTANCE_LABEL}={instance}"),
            "--label".into(),
            format!("{STARTED_LABEL}={started_ms}"),
            // Hardening.
            "--user".into(),
            CONTAINER_USER.into(),
            "--read-only".into(),
            "--cap-drop=ALL".into(),
            "--security-opt".into(),
            "no-new-privileges".into(),
            format!("--memory={}", spec.memory_bytes),
            // A chatty workflow must not fill the disk.
            "--log-opt".into(),
            "max-size=10m".into(),
            // The server brings containers back (`ensure_running`), not the engine: a
            // restart policy would fight `replace`.
            "--restart=no".into(),
            "--network".into(),
            "host".into(),
            "--env".into(),
            format!("PIPEDREAMER_INSTANCE={instance}"),
            "--env".into(),
            "PIPEDREAMER_REUSE_PORT=true".into(),
        ]);
        if let Some(wait) = port_wait {
            cmd = cmd
                .arg("--env")
                .arg(format!("PIPEDREAMER_PORT_WAIT={}s", wait.as_secs().max(1)));
        }
        let report_dir = spec.report.as_ref().map(|r| (&r.token_dir, REPORT_MOUNT));
        let secrets_dir = spec.secrets_dir.as_ref().map(|d| (d, SECRETS_MOUNT));
        for (dir, mount) in secrets_dir.into_iter().chain(report_dir) {
            let mut volume = OsString::from(dir.as_os_str());
            volume.push(format!(":{mount}:ro"));
            cmd = cmd.arg("--volume").arg(volume);
        }
        let grace = STOP_GRACE.saturating_sub(Duration::from_secs(2)).as_secs();
        cmd = cmd.arg(&spec.image).args([
            "--host".into(),
            spec.bind.to_string(),
            "--port".into(),
            port.to_string(),
            "--shutdown-grace".into(),
            format!("{grace}s"),
        ]);
        if let Some(report) = &spec.report {
            cmd = cmd.args([
                "--report-to".into(),
                report.url.clone(),
                "--report-token-file".into(),
                format!("{REPORT_MOUNT}/{REPORT_TOKEN_FILE}"),
            ]);
        }
        let started = Started {
            name,
            instance,
            begun: Instant::now(),
            cleanup: self.cmd("rm").args(self.force_remove_args()),
            kept: AtomicBool::new(false),
            deployment: spec.deployment.clone(),
            cleanups: self.cleanups.clone(),
        };
        // Guarded from here on: `run` killed halfway (a cancelled build drops this future)
        // can leave the container created or even running, and a failed `run` a created one.
        tracing::debug!(container = %started.name, "starting a container");
        cmd.output(START).await?;
        tracing::debug!(container = %started.name, took = ?started.begun.elapsed(), "container started");
        Ok(started)
    }

    /// Waits until `started` answers ready on `addr`, at most `timeout` from the start of
    /// `run` (so a start that took long leaves less time); removes it on failure.
    async fn wait_ready(
        &self,
        started: &Started,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<()> {
        self.wait(started, addr, timeout, Until::Ready).await
    }

    /// Waits for `until` (see [`Host::wait_ready`]); removes the container on failure.
    async fn wait(
        &self,
        started: &Started,
        addr: SocketAddr,
        timeout: Duration,
        until: Until,
    ) -> Result<()> {
        let deadline = started.begun + timeout;
        let mut last = Probe::Unreachable("the time was up before the first probe".into());
        let mut next_state_check = Instant::now();
        let failure = loop {
            let now = Instant::now();
            if now >= deadline {
                break None;
            }
            last = probe::readyz(addr, PROBE.min(deadline - now)).await;
            if last.is_ready(&started.instance) {
                tracing::debug!(container = %started.name, took = ?started.begun.elapsed(), "container ready");
                if until == Until::Ready {
                    started.keep();
                }
                return Ok(());
            }
            // Asking the engine costs a process; a few times a second is enough to notice an
            // exit (or the line saying the engine waits for the port).
            if Instant::now() >= next_state_check {
                next_state_check = Instant::now() + Duration::from_millis(until.check_every());
                if until == Until::WaitingForPort
                    && self
                        .container_logs(&started.name, ERROR_LOG_LINES)
                        .await
                        .is_ok_and(|logs| logs.contains(PORT_WAIT_LOG))
                {
                    return Ok(());
                }
                match self.is_running(&started.name).await {
                    Ok(true) => {}
                    Ok(false) => break Some(Ok(())),
                    Err(e) => break Some(Err(e)),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let logs = self
            .container_logs(&started.name, ERROR_LOG_LINES)
            .await
            .unwrap_or_else(|e| format!("(no logs: {e})"));
        self.force_remove(&started.name).await;
        started.keep();
        let container = started.name.clone();
        Err(match failure {
            Some(Err(engine)) => engine,
            Some(Ok(())) => HostError::Exited {
                container,
                addr,
                logs,
            },
            None => HostError::NotReady {
                container,
                addr,
                waited: timeout,
                last: last.describe(),
                logs,
            },
        })
    }

    /// Replacement when engines cannot share the port (see the module docs): start the new
    /// version waiting for the port, stop the old once the new one has loaded, restart the old
    /// when the new one fails.
    async fn handover(
        &self,
        spec: &ContainerSpec,
        old: &[Container],
        ready_timeout: Duration,
    ) -> Result<()> {
        let names: Vec<&str> = old
            .iter()
            .filter(|c| c.running)
            .map(|c| c.name.as_str())
            .collect();
        // The new engine starts while the old one serves, loads its workflow and waits for
        // the port (`--port-wait`); only then is the old one stopped, and the new one takes
        // the port the moment it is free: closed for milliseconds, not for a container start.
        // A version that cannot load never gets that far and the old one is left alone.
        let new = self.start(spec, spec.port, Some(ready_timeout)).await?;
        let legacy = match self
            .wait(&new, spec.addr(), ready_timeout, Until::WaitingForPort)
            .await
        {
            Ok(()) => false,
            // An engine from before `--port-wait` gives up on a taken port at once: start it
            // again once the port is free.
            Err(HostError::Exited { logs, .. }) if logs.contains("Address already in use") => true,
            Err(e) => return Err(e),
        };
        if let Err(e) = self.stop(&names).await {
            if !legacy {
                self.force_remove(&new.name).await;
                new.keep();
            }
            return Err(e);
        }
        let outcome = if legacy {
            match self.start(spec, spec.port, None).await {
                Ok(again) => self.wait_ready(&again, spec.addr(), ready_timeout).await,
                Err(e) => Err(e),
            }
        } else {
            self.wait_ready(&new, spec.addr(), ready_timeout).await
        };
        match outcome {
            Ok(()) => self.stop_and_remove(old).await,
            Err(e) => {
                tracing::warn!(
                    "the new version failed on the deployment's port; starting the previous one again: {e}"
                );
                if !names.is_empty() {
                    let restarted = self
                        .cmd_with_runtime("start")
                        .args(names.iter().copied())
                        .output(START)
                        .await;
                    if let Err(again) = restarted {
                        tracing::error!("cannot start the previous version again: {again}");
                    }
                }
                Err(e)
            }
        }
    }

    async fn is_running(&self, name: &str) -> Result<bool> {
        let (ok, out, _) = self
            .cmd("inspect")
            .args(["--format", "{{.State.Running}}", name])
            .run(QUICK)
            .await?;
        // A container that is gone is not running.
        Ok(ok && out.trim() == "true")
    }

    async fn container_logs(&self, name: &str, tail: usize) -> Result<String> {
        let (_, out, err) = self
            .cmd("logs")
            .args(["--tail", &tail.to_string(), name])
            .run(QUICK)
            .await?;
        let mut text = out.trim_end().to_owned();
        if !err.trim().is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(err.trim_end());
        }
        Ok(command::tail(&text, 8000))
    }

    async fn stop(&self, names: &[&str]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        self.cmd("stop")
            .args(["-t", &STOP_GRACE.as_secs().to_string()])
            .args(names.iter().copied())
            .output(QUICK + STOP_GRACE)
            .await
            .map(drop)
    }

    async fn stop_and_remove(&self, containers: &[Container]) -> Result<()> {
        let running: Vec<&str> = containers
            .iter()
            .filter(|c| c.running)
            .map(|c| c.name.as_str())
            .collect();
        // A container that exits on its own between `ps` and `stop` is fine: `rm -f` follows.
        if let Err(e) = self.stop(&running).await {
            tracing::debug!("stopping old containers: {e}");
        }
        let all: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
        if all.is_empty() {
            return Ok(());
        }
        tracing::debug!(containers = ?all, "removing containers");
        self.cmd("rm")
            .arg("-f")
            .args(all)
            .output(QUICK)
            .await
            .map(drop)
    }

    /// Removal on a failure path: the failure being reported matters more than this one.
    async fn force_remove(&self, name: &str) {
        if let Err(e) = self
            .cmd("rm")
            .args(self.force_remove_args())
            .arg(name)
            .output(QUICK)
            .await
        {
            tracing::warn!(container = name, "cannot remove the failed container: {e}");
        }
    }

    /// `rm` flags that remove a container at once, running or not.
    fn force_remove_args(&self) -> &'static [&'static str] {
        match self.engine {
            // podman's default is a 10 s SIGTERM grace, even with `-f`.
            LocalEngine::Podman => &["-f", "-t", "0"],
            LocalEngine::Docker => &["-f"],
        }
    }

    fn cmd(&self, verb: &str) -> EngineCommand {
        EngineCommand::new(self.engine.command(), &self.global, verb)
    }

    /// A command that creates or starts containers: it names the runtime.
    fn cmd_with_runtime(&self, verb: &str) -> EngineCommand {
        let mut global = self.global.clone();
        if let Some(runsc) = &self.gvisor {
            global.extend([
                "--runtime".into(),
                runsc.clone().into_os_string(),
                // runsc refuses podman's network namespace otherwise (see machine notes).
                "--runtime-flag".into(),
                "network=host".into(),
            ]);
        }
        EngineCommand::new(self.engine.command(), &global, verb)
    }

    fn runtime_name(&self) -> &'static str {
        if self.gvisor.is_some() {
            "runsc"
        } else {
            "default"
        }
    }

    fn port_sharing(&self) -> PortSharing {
        match self.port_sharing.load(Ordering::Relaxed) {
            1 => PortSharing::Works,
            2 => PortSharing::Refused,
            _ => PortSharing::Unknown,
        }
    }

    fn set_port_sharing(&self, value: PortSharing) {
        self.port_sharing.store(value as u8, Ordering::Relaxed);
    }
}

/// What [`Host::wait`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The new instance answers `/readyz` with 200.
    Ready,
    /// The new engine has loaded its workflow and waits for the taken port (or is ready).
    WaitingForPort,
}

impl Until {
    /// Milliseconds between looks at the container (each costs an engine command).
    fn check_every(self) -> u64 {
        match self {
            Until::Ready => 500,
            Until::WaitingForPort => 100,
        }
    }
}

/// The line the engine logs when it waits for a taken port (`--port-wait`; written by
/// `pipedreamer_engine::server::listen_when_free`).
const PORT_WAIT_LOG: &str = "the port is taken; waiting for it";

/// A container `start` made. Until it is ready (or removed), dropping this removes the
/// container: a caller that gives up on `replace` (a phase timeout drops the future) must not
/// leave a second version serving on the port.
#[derive(Debug)]
struct Started {
    name: String,
    instance: String,
    /// When `run` was called: readiness deadlines count from here.
    begun: Instant,
    /// `rm -f` without the name.
    cleanup: EngineCommand,
    /// Ready, or already removed: dropping leaves it alone.
    kept: AtomicBool,
    deployment: String,
    /// Where the removal on drop is registered ([`Host::finish_cleanups`] waits for it).
    cleanups: Cleanups,
}

impl Started {
    /// The container stays (it is ready), or is gone already.
    fn keep(&self) {
        self.kept.store(true, Ordering::Relaxed);
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if !self.kept.load(Ordering::Relaxed) {
            tracing::warn!(container = %self.name, "replacement abandoned; removing the new container");
            if let Some(removal) = self.cleanup.clone().arg(&self.name).spawn_detached(QUICK) {
                self.cleanups
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((self.deployment.clone(), removal));
            }
        }
    }
}

/// One line of `ps`.
#[derive(Debug, Clone)]
struct Container {
    name: String,
    running: bool,
    build: String,
    started: u128,
}

impl Container {
    /// One line of `inspect --format`: name, running, build label, started label.
    fn parse(line: &str) -> Option<Container> {
        let mut f = line.split('\t');
        // docker puts a `/` in front of the name.
        let name = f.next()?.trim().trim_start_matches('/').to_owned();
        let running = f.next()?.trim() == "true";
        let build = f.next().unwrap_or_default().trim().to_owned();
        let started = f.next().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        (!name.is_empty()).then_some(Container {
            name,
            running,
            build,
            started,
        })
    }
}

/// Six hex digits that tell two starts of the same build apart (UUIDv7's random tail).
fn nonce() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    id[id.len() - 6..].to_owned()
}

/// `runsc` at `/usr/bin/runsc` or on `PATH`.
fn find_runsc() -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/runsc");
    if fixed.is_file() {
        return Some(fixed.to_owned());
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("runsc"))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            deployment: "hello".into(),
            build_id: "0199aabb-cc".into(),
            image: "localhost/hello:1-0".into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 20000,
            secrets_dir: None,
            memory_bytes: 256 << 20,
            report: None,
        }
    }

    #[test]
    fn specs_are_checked_field_by_field() {
        assert!(spec().validate().is_ok());
        type Change = fn(&mut ContainerSpec);
        let report = |url: &str, dir: &str| {
            Some(ReportSpec {
                url: url.into(),
                token_dir: dir.into(),
            })
        };
        let mut s = spec();
        s.report = report("http://127.0.0.1:7070", "/data/report/hello");
        assert!(s.validate().is_ok());
        for (field, change) in [
            ("report.url", report("--rm", "/data/r")),
            ("report.url", report("http://a b", "/data/r")),
            ("report.token_dir", report("http://x", "relative")),
            ("report.token_dir", report("http://x", "/a,b")),
        ] {
            let mut s = spec();
            s.report = change;
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("`{field}`")), "{field}: {err}");
        }
        let cases: [(&str, Change); 5] = [
            ("deployment", |s| s.deployment = "-x".into()),
            ("build_id", |s| s.build_id = "a b".into()),
            ("port", |s| s.port = 0),
            ("memory_bytes", |s| s.memory_bytes = 1 << 20),
            ("secrets_dir", |s| s.secrets_dir = Some("/a:b".into())),
        ];
        for (field, change) in cases {
            let mut s = spec();
            change(&mut s);
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("`{field}`")), "{field}: {err}");
        }
    }

    #[test]
    fn pick_port_skips_stored_and_listening_ports() {
        let bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let busy = std::net::TcpListener::bind((bind, 0)).unwrap();
        let port = busy.local_addr().unwrap().port();
        // A range of one busy port is full.
        assert_eq!(pick_port(port..=port, &[], bind), None);
        // A stored port is skipped even when free.
        let free = std::net::TcpListener::bind((bind, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(pick_port(free..=free, &[free], bind), None);
        assert_eq!(pick_port(free..=free, &[], bind), Some(free));
    }

    #[test]
    fn inspect_lines_parse() {
        let c = Container::parse("pipedreamer-hello-0199-abc123\ttrue\t0199\t17").unwrap();
        assert_eq!(c.name, "pipedreamer-hello-0199-abc123");
        assert!(c.running);
        assert_eq!(c.build, "0199");
        assert_eq!(c.started, 17);
        let docker = Container::parse("/x\tfalse\t\t").unwrap();
        assert_eq!(docker.name, "x");
        assert!(!docker.running);
        assert!(Container::parse("").is_none());
    }
}
