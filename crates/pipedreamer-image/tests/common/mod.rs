//! What the image crate's integration tests share: a workflow on disk, a real docker-registry,
//! running tools, building with the test engine.
#![allow(dead_code)] // each test file uses its own part

use pipedreamer_image::test_support::test_engine;
use pipedreamer_image::{BuildOptions, BuildRequest, Reference};
use pipedreamer_spec::source::DirSource;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn workflow(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "workflow.yaml".to_owned(),
            format!("name: {name}\nversion: \"1.2\"\nnodes:\n  - {{id: a, file: nodes/a.js}}\n"),
        ),
        (
            "nodes/a.js".to_owned(),
            "export default async (ctx, input) => input".to_owned(),
        ),
    ];
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// A docker-registry on a free loopback port, killed on drop.
pub(crate) struct Registry {
    child: Child,
    pub(crate) addr: String,
    _storage: tempfile::TempDir,
}

impl Registry {
    pub(crate) fn start() -> Self {
        let storage = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = storage.path().join("config.yml");
        let data = storage.path().join("data");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
                data.display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is not installed: run scripts/test.sh");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        // A connection to itself (possible in the ephemeral range while nothing listens) is
        // not the registry.
        while !std::net::TcpStream::connect(&addr)
            .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
        {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            addr,
            _storage: storage,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`{cmd}` is not installed ({e}): run scripts/test.sh"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "`{cmd} {args:?}` failed: {text}");
    text
}

pub(crate) async fn build(dir: &Path, reference: &Reference) -> pipedreamer_image::Image {
    build_with(dir, reference, 0, BuildOptions::default()).await
}

/// A build at `epoch` with `options`.
pub(crate) async fn build_with(
    dir: &Path,
    reference: &Reference,
    epoch: u64,
    options: BuildOptions,
) -> pipedreamer_image::Image {
    let resolved = pipedreamer_spec::resolve(&DirSource::new(dir)).expect("valid workflow");
    let mut request = BuildRequest::new(dir, resolved, test_engine(), reference.clone()).unwrap();
    request.epoch = epoch;
    // One engine layer cache for every test here: compressing the engine once is enough.
    request.cache_dir = Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-test-layers"));
    pipedreamer_image::build_async_with(request, options)
        .await
        .unwrap()
}
