//! Real containers: images of `examples/hello` built from the debug engine with the
//! `pipedreamer-image` library, loaded into podman, run under runc and (when installed, which
//! `scripts/test.sh` makes sure of) gVisor's runsc.
//!
//! `PIPEDREAMER_TEST_RUNSC=skip` skips the runsc half on a machine without gVisor; otherwise a
//! missing runsc fails the runsc tests with a message saying how to install it.

use pipedreamer_host::{ContainerSpec, Host, HostError, pick_port};
use pipedreamer_image::publish::LocalEngine;
use pipedreamer_image::test_support::test_engine;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const READY: Duration = Duration::from_secs(60);
const MEMORY: u64 = 256 << 20;

/// The two versions every test deploys: `hello` 1.0 and 2.0.
struct Images {
    v1: String,
    v2: String,
    /// The v1 archive, for the test of [`Host::load`].
    archive_v1: PathBuf,
    _dir: tempfile::TempDir,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Builds `examples/hello` at `version` into an archive and loads it with `podman load`.
fn build_and_load(root: &Path, version: &str) -> (String, PathBuf) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let dir = root.join(format!("hello-{version}"));
    copy_dir(&example, &dir);
    let yaml = std::fs::read_to_string(dir.join("workflow.yaml")).unwrap();
    std::fs::write(
        dir.join("workflow.yaml"),
        yaml.replace("version: \"1.0\"", &format!("version: \"{version}\"")),
    )
    .unwrap();
    let resolved =
        pipedreamer_spec::resolve(&pipedreamer_spec::source::DirSource::new(&dir)).unwrap();
    let tag = format!(
        "localhost/pipedreamer-host-test:{}",
        version.replace('.', "-")
    );
    let reference = pipedreamer_image::Reference::parse(&tag).unwrap();
    let request =
        pipedreamer_image::BuildRequest::new(&dir, resolved, test_engine(), reference).unwrap();
    let image = pipedreamer_image::build(&request).unwrap();
    let archive = root.join(format!("hello-{version}.tar"));
    pipedreamer_image::publish::archive::write(&image, &archive).unwrap();
    let out = Command::new("podman")
        .args(["load", "-i"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (tag, archive)
}

fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (v1, archive_v1) = build_and_load(dir.path(), "1.0");
        let (v2, _) = build_and_load(dir.path(), "2.0");
        Images {
            v1,
            v2,
            archive_v1,
            _dir: dir,
        }
    })
}

/// Ports handed to tests of this binary, so two tests never pick the same free port.
fn port() -> u16 {
    static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut taken = TAKEN.lock().unwrap();
    let p = pick_port(31000..=31999, &taken, LOCALHOST).expect("a free port in 31000-31999");
    taken.push(p);
    p
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Runtime {
    Runc,
    Runsc,
}

/// The host under test, or `None` when the runsc half is skipped on purpose.
fn host(runtime: Runtime) -> Option<Host> {
    let host = Host::detect().expect("podman must answer (scripts/test.sh installs it)");
    assert_eq!(host.engine(), LocalEngine::Podman);
    match runtime {
        Runtime::Runc => Some(host.without_gvisor()),
        Runtime::Runsc => {
            if host.uses_gvisor() {
                Some(host)
            } else if std::env::var("PIPEDREAMER_TEST_RUNSC").as_deref() == Ok("skip") {
                eprintln!("runsc tests skipped (PIPEDREAMER_TEST_RUNSC=skip)");
                None
            } else {
                panic!(
                    "runsc is not installed: `apt-get install -y runsc` (scripts/test.sh does), or set PIPEDREAMER_TEST_RUNSC=skip"
                );
            }
        }
    }
}

/// Removes the test's containers however the test ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let out = Command::new("podman")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("label=pipedreamer.deployment={}", self.0))
            .output();
        if let Ok(out) = out {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("podman")
                    .args(["rm", "-f", "-t", "0"])
                    .args(&ids)
                    .output();
            }
        }
    }
}

fn deployment(test: &str, runtime: Runtime) -> (String, Cleanup) {
    let name = format!("t{}-{test}-{runtime:?}", std::process::id()).to_lowercase();
    (name.clone(), Cleanup(name))
}

fn spec(deployment: &str, build: &str, image: &str, port: u16) -> ContainerSpec {
    ContainerSpec {
        deployment: deployment.into(),
        build_id: build.into(),
        image: image.into(),
        bind: LOCALHOST,
        port,
        secrets_dir: None,
        memory_bytes: MEMORY,
        report: None,
    }
}

/// One HTTP/1.1 exchange on a new connection: (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s =
        TcpStream::connect_timeout(&SocketAddr::new(LOCALHOST, port), Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {answer:?}")))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The workflow version `/readyz` reports.
fn served_version(port: u16) -> Option<String> {
    let (status, body) = http(port, "GET", "/readyz", "").ok()?;
    let doc: serde_json::Value = serde_json::from_str(&body).ok()?;
    (status == 200).then(|| doc["version"].as_str().unwrap_or_default().to_owned())
}

/// A secrets directory with one secret, the directory at `mode` (root's).
fn secrets_dir(mode: u32) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api_key"), "s3cr3t-value").unwrap();
    std::fs::set_permissions(
        dir.path().join("api_key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Names of the deployment's containers.
fn containers(deployment: &str) -> Vec<String> {
    podman(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=pipedreamer.deployment={deployment}"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(str::to_owned)
    .collect()
}

fn inspect(name: &str) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_str(&podman(&["inspect", name])).unwrap();
    doc[0].clone()
}

// ---------------------------------------------------------------------------------------------

async fn runs_hardened_and_answers_run(runtime: Runtime) {
    let Some(host) = host(runtime) else { return };
    let images = images();
    host.load(&images.archive_v1).await.unwrap();
    let (name, _cleanup) = deployment("hardened", runtime);
    let secrets = secrets_dir(0o755);
    let mut s = spec(&name, "0199b1aa-0001", &images.v1, port());
    s.secrets_dir = Some(secrets.path().to_owned());

    let begun = Instant::now();
    host.replace(&s, READY).await.unwrap();
    eprintln!(
        "{runtime:?}: first start to ready in {} ms",
        begun.elapsed().as_millis()
    );

    let names = containers(&name);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with(&format!("pipedreamer-{name}-0199b1aa-")),
        "{names:?}"
    );
    let c = inspect(&names[0]);
    assert_eq!(c["Config"]["User"], "65532:65532");
    assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true);
    assert_eq!(c["HostConfig"]["Memory"], MEMORY);
    assert_eq!(c["HostConfig"]["NetworkMode"], "host");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "no");
    // `--cap-drop=ALL`: podman records every default capability as dropped, none added.
    let cap_drop = c["HostConfig"]["CapDrop"].to_string();
    for cap in [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SYS_CHROOT",
    ] {
        assert!(cap_drop.contains(cap), "{cap} dropped: {cap_drop}");
    }
    assert!(
        c["HostConfig"]["CapAdd"].is_null() || c["HostConfig"]["CapAdd"] == serde_json::json!([]),
        "{}",
        c["HostConfig"]["CapAdd"]
    );
    if runtime == Runtime::Runc {
        // The engine process itself, as the kernel sees it: uid 65532, no capabilities, not
        // even in its bounding set, and no_new_privs.
        let pid = c["State"]["Pid"].as_u64().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        assert!(field("Uid:").starts_with("65532"), "{status}");
        assert_eq!(field("CapEff:"), "0000000000000000", "{status}");
        assert_eq!(field("CapBnd:"), "0000000000000000", "{status}");
        assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    }
    assert!(
        c["HostConfig"]["SecurityOpt"]
            .to_string()
            .contains("no-new-privileges"),
        "{}",
        c["HostConfig"]["SecurityOpt"]
    );
    let mount = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/app/secrets")
        .expect("secrets mounted");
    assert_eq!(mount["RW"], false);
    let runtime_name = c["OCIRuntime"].as_str().unwrap_or_default().to_owned();
    match runtime {
        Runtime::Runsc => assert!(runtime_name.contains("runsc"), "{runtime_name}"),
        Runtime::Runc => assert!(!runtime_name.contains("runsc"), "{runtime_name}"),
    }
    // Neither the command line nor the environment podman records carries the secret.
    assert!(!c.to_string().contains("s3cr3t-value"));

    let (status, body) = http(s.port, "POST", "/run", r#"{"name": "Ada"}"#).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Ada"), "{body}");
    // The engine inside really runs as 65532 and cannot write its root.
    let logs = host.logs(&name, 50).await.unwrap();
    assert!(logs.contains("engine ready"), "{logs}");
    assert!(logs.contains("loaded secrets"), "{logs}");

    host.remove(&name).await.unwrap();
    assert!(containers(&name).is_empty());
    assert!(http(s.port, "GET", "/readyz", "").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_hardened_and_answers_run_under_runc() {
    runs_hardened_and_answers_run(Runtime::Runc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_hardened_and_answers_run_under_runsc() {
    runs_hardened_and_answers_run(Runtime::Runsc).await;
}

// ---------------------------------------------------------------------------------------------

/// What a loop of fresh-connection requests saw during a replacement.
#[derive(Debug, Default)]
struct Traffic {
    versions: BTreeMap<String, usize>,
    failures: Vec<(Duration, String)>,
    /// Longest stretch without a successful answer.
    longest_gap: Duration,
}

fn watch(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Traffic> {
    std::thread::spawn(move || {
        let begun = Instant::now();
        let mut traffic = Traffic::default();
        let mut last_ok = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            match http(port, "POST", "/run", r#"{"name": "Ada"}"#) {
                Ok((200, _)) => {
                    let version = served_version(port).unwrap_or_else(|| "?".into());
                    *traffic.versions.entry(version).or_default() += 1;
                    traffic.longest_gap = traffic.longest_gap.max(last_ok.elapsed());
                    last_ok = Instant::now();
                }
                Ok((status, body)) => traffic
                    .failures
                    .push((begun.elapsed(), format!("HTTP {status}: {body}"))),
                Err(e) => traffic
                    .failures
                    .push((begun.elapsed(), format!("{:?}: {e}", e.kind()))),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        traffic
    })
}

async fn replace_keeps_the_port_answering(runtime: Runtime) {
    let Some(host) = host(runtime) else { return };
    let images = images();
    let (name, _cleanup) = deployment("replace", runtime);
    let port = port();
    host.replace(&spec(&name, "0199b1aa-0001", &images.v1, port), READY)
        .await
        .unwrap();
    assert_eq!(served_version(port).as_deref(), Some("1.0"));

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(port, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let begun = Instant::now();
    host.replace(&spec(&name, "0199b1aa-0002", &images.v2, port), READY)
        .await
        .unwrap();
    let took = begun.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let traffic = watcher.join().unwrap();
    eprintln!(
        "{runtime:?}: replace took {} ms; served {:?}; longest gap {} ms; failures {:?}",
        took.as_millis(),
        traffic.versions,
        traffic.longest_gap.as_millis(),
        traffic.failures
    );

    let names = containers(&name);
    assert_eq!(names.len(), 1, "only the new container is left: {names:?}");
    assert_eq!(
        inspect(&names[0])["Config"]["Labels"]["pipedreamer.build"],
        "0199b1aa-0002"
    );
    assert_eq!(served_version(port).as_deref(), Some("2.0"));
    assert!(
        traffic.versions.get("1.0").is_some_and(|n| *n > 0),
        "{traffic:?}"
    );
    assert!(
        traffic.versions.get("2.0").is_some_and(|n| *n > 0),
        "{traffic:?}"
    );
    match runtime {
        // Both engines share the port: not one request fails during the switch.
        Runtime::Runc => assert!(traffic.failures.is_empty(), "{traffic:?}"),
        // Debian's gVisor cannot share the port: a handover, where the new engine takes the
        // port milliseconds after the old one closes it. A request that lands in that window
        // is refused (or reset), nothing else fails.
        Runtime::Runsc => assert!(
            traffic
                .failures
                .iter()
                .all(|(_, why)| why.starts_with("ConnectionRefused")
                    || why.starts_with("ConnectionReset")),
            "{traffic:?}"
        ),
    }

    // The same build again is a new instance: replace tells it apart from the old one.
    let begun = Instant::now();
    host.replace(&spec(&name, "0199b1aa-0002", &images.v2, port), READY)
        .await
        .unwrap();
    eprintln!(
        "{runtime:?}: second replace took {} ms",
        begun.elapsed().as_millis()
    );
    let again = containers(&name);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again, names);

    // A broken version now (under runsc: a handover, where the new engine exits before the
    // old one is stopped) leaves the running one serving.
    let secrets = secrets_dir(0o700);
    let mut broken = spec(&name, "0199b1aa-0003", &images.v1, port);
    broken.secrets_dir = Some(secrets.path().to_owned());
    let err = host.replace(&broken, READY).await.unwrap_err();
    assert!(matches!(err, HostError::Exited { .. }), "{err}");
    assert_eq!(containers(&name), again);
    assert_eq!(served_version(port).as_deref(), Some("2.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_keeps_the_port_answering_under_runc() {
    replace_keeps_the_port_answering(Runtime::Runc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_keeps_the_port_answering_under_runsc() {
    replace_keeps_the_port_answering(Runtime::Runsc).await;
}

// ---------------------------------------------------------------------------------------------

async fn a_version_that_never_gets_ready_leaves_the_old_serving(runtime: Runtime) {
    let Some(host) = host(runtime) else { return };
    let images = images();
    let (name, _cleanup) = deployment("broken", runtime);
    let port = port();
    host.replace(&spec(&name, "0199b1aa-0001", &images.v1, port), READY)
        .await
        .unwrap();
    let before = containers(&name);

    // The new version's engine exits at start: its secrets directory is not readable by
    // 65532 (root's, mode 0700).
    let secrets = secrets_dir(0o700);
    let mut broken = spec(&name, "0199b1aa-0002", &images.v2, port);
    broken.secrets_dir = Some(secrets.path().to_owned());
    let err = host.replace(&broken, READY).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, HostError::Exited { .. }), "{text}");
    assert!(
        text.contains("Permission denied"),
        "the log says why: {text}"
    );
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert_eq!(containers(&name), before, "the new container is gone");
    assert_eq!(served_version(port).as_deref(), Some("1.0"));

    // An image that does not exist: the engine's error, the old version untouched.
    let missing = spec(&name, "0199b1aa-0003", "localhost/no-such-image:1", port);
    let err = host.replace(&missing, READY).await.unwrap_err();
    assert!(matches!(err, HostError::Command { .. }), "{err}");
    assert!(err.hint().is_some());
    assert_eq!(containers(&name), before);
    assert_eq!(served_version(port).as_deref(), Some("1.0"));

    // A version that does not answer ready in time (here: given none) is removed too.
    let slow = spec(&name, "0199b1aa-0004", &images.v2, port);
    let err = host
        .replace(&slow, Duration::from_millis(1))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::NotReady { .. }), "{err}");
    assert_eq!(containers(&name), before);
    assert_eq!(served_version(port).as_deref(), Some("1.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_never_gets_ready_leaves_the_old_serving_under_runc() {
    a_version_that_never_gets_ready_leaves_the_old_serving(Runtime::Runc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_never_gets_ready_leaves_the_old_serving_under_runsc() {
    a_version_that_never_gets_ready_leaves_the_old_serving(Runtime::Runsc).await;
}

// ---------------------------------------------------------------------------------------------

async fn ensure_running_recreates_a_removed_container(runtime: Runtime) {
    let Some(host) = host(runtime) else { return };
    let images = images();
    let (name, _cleanup) = deployment("ensure", runtime);
    let port = port();
    let s = spec(&name, "0199b1aa-0001", &images.v1, port);
    host.replace(&s, READY).await.unwrap();
    let first = containers(&name);

    // Running already: it stays, and a leftover of the deployment (here a container that
    // was created and never started) goes.
    podman(&[
        "create",
        "--label",
        &format!("pipedreamer.deployment={name}"),
        "--label",
        "pipedreamer.build=0199b1aa-0000",
        &images.v1,
    ]);
    assert_eq!(containers(&name).len(), 2);
    host.ensure_running(&s, READY).await.unwrap();
    assert_eq!(containers(&name), first);

    // Gone (a reboot, someone's `podman rm`): back from the stored image, on the same port.
    podman(&["rm", "-f", "-t", "0", &first[0]]);
    assert!(http(port, "GET", "/readyz", "").is_err());
    host.ensure_running(&s, READY).await.unwrap();
    let second = containers(&name);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);
    assert_eq!(served_version(port).as_deref(), Some("1.0"));

    // Stopped (the host restarted): replaced by a fresh one, the stopped one removed.
    podman(&["stop", "-t", "5", &second[0]]);
    host.ensure_running(&s, READY).await.unwrap();
    let third = containers(&name);
    assert_eq!(third.len(), 1, "{third:?}");
    assert_ne!(third, second);
    assert_eq!(served_version(port).as_deref(), Some("1.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_running_recreates_a_removed_container_under_runc() {
    ensure_running_recreates_a_removed_container(Runtime::Runc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_running_recreates_a_removed_container_under_runsc() {
    ensure_running_recreates_a_removed_container(Runtime::Runsc).await;
}

// ---------------------------------------------------------------------------------------------

/// A build cancelled during its rollout drops `replace` at any point: while `podman run` is
/// still creating the container, or while it waits for `/readyz`. Whatever was created goes,
/// by itself (the server's stop may never come), and at the latest when `remove` returns.
async fn an_abandoned_replace_leaves_no_container(runtime: Runtime) {
    let Some(host) = host(runtime) else { return };
    let images = images();
    let (name, _cleanup) = deployment("abandoned", runtime);
    let port = port();
    for (i, after) in [30u64, 120, 250, 500].into_iter().enumerate() {
        let s = spec(&name, &format!("0199b1aa-010{i}"), &images.v1, port);
        let abandoned = tokio::time::timeout(Duration::from_millis(after), host.replace(&s, READY))
            .await
            .is_err();
        if abandoned {
            // On its own: the removal started when `replace` was dropped.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !containers(&name).is_empty() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "abandoned after {after} ms, {:?} still there a minute later",
                    containers(&name)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        host.remove(&name).await.unwrap();
        assert_eq!(containers(&name), Vec::<String>::new(), "after {after} ms");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_replace_leaves_no_container_under_runc() {
    an_abandoned_replace_leaves_no_container(Runtime::Runc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_replace_leaves_no_container_under_runsc() {
    an_abandoned_replace_leaves_no_container(Runtime::Runsc).await;
}
