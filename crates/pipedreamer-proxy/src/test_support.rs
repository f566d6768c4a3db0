//! A real Caddy for tests and benches (feature `test-support`): started on free loopback ports
//! with its own data directory, its admin API on loopback, `tls internal`'s CA not installed
//! into the system's trust store, and stopped (killed) on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Caddy gets to open its admin endpoint, and its CA to appear.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running Caddy.
pub struct TestCaddy {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The admin API's port (127.0.0.1).
    pub admin_port: u16,
    /// Caddy's `http_port` (its HTTP→HTTPS redirects).
    pub http_port: u16,
    /// Caddy's `https_port`: the port to give `ensure_server`.
    pub https_port: u16,
}

/// A port nothing listens on right now, on every address (Caddy's `:<port>` binds them all).
pub fn free_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl TestCaddy {
    /// Starts Caddy (Debian's `caddy` on PATH; `apt-get install -y caddy`).
    pub fn start() -> TestCaddy {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut caddy = TestCaddy {
            child: None,
            dir,
            admin_port: free_port(),
            http_port: free_port(),
            https_port: free_port(),
        };
        caddy.write_config();
        caddy.spawn();
        caddy
    }

    /// `http://127.0.0.1:<admin port>`, the `caddy.admin` setting.
    pub fn admin(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// Caddy's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The internal CA's root certificate (PEM), waiting for Caddy to create it.
    pub fn root_ca(&self) -> Vec<u8> {
        let path = self.data_dir().join("pki/authorities/local/root.crt");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(pem) = std::fs::read(&path)
                && !pem.is_empty()
            {
                return pem;
            }
            assert!(
                Instant::now() < deadline,
                "Caddy did not create its CA at {}; log:\n{}",
                path.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The root certificate's path (for `curl --cacert`), once it exists.
    pub fn root_ca_path(&self) -> PathBuf {
        self.root_ca();
        self.data_dir().join("pki/authorities/local/root.crt")
    }

    /// What Caddy wrote to stdout and stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }

    /// Kills Caddy (its API changes are lost, as in a crash or a restart) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Caddy again from its config file, on the same ports and data directory (same CA).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// A client that trusts the internal CA and sends every `host` to Caddy's HTTPS port on
    /// loopback (what `curl --resolve host:port:127.0.0.1 --cacert root.crt` does).
    pub fn https_client(&self, hosts: &[&str]) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&self.root_ca()).expect("Caddy's root is PEM");
        let addr = SocketAddr::from(([127, 0, 0, 1], self.https_port));
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(ca)
            .no_proxy()
            // A kept-alive connection is served by the old config until it closes (Caddy's
            // graceful reload): each request gets a fresh one so that it sees the latest.
            .pool_max_idle_per_host(0)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15));
        for host in hosts {
            builder = builder.resolve(host, addr);
        }
        builder.build().expect("https client")
    }

    fn write_config(&self) {
        let config = serde_json::json!({
            "admin": {"listen": format!("127.0.0.1:{}", self.admin_port)},
            "storage": {"module": "file_system", "root": self.data_dir()},
            "logging": {"logs": {"default": {"level": "WARN"}}},
            "apps": {
                "http": {"http_port": self.http_port, "https_port": self.https_port},
                // The CA is created at start, and never put into this machine's trust store.
                "pki": {"certificate_authorities": {"local": {"install_trust": false}}}
            }
        });
        std::fs::write(self.config_path(), config.to_string()).expect("write Caddy's config");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("caddy.json")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("caddy.log"))
            .expect("Caddy's log file");
        let home = self.dir.path().join("home");
        let child = Command::new("caddy")
            .arg("run")
            .arg("--config")
            .arg(self.config_path())
            // Autosaves and the default data dir go under the test's directory, not ~.
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `caddy` ({e}): install it with `apt-get install -y caddy`")
            });
        self.child = Some(child);
        wait_for_port(self.admin_port, &self.dir.path().join("caddy.log"));
    }
}

fn wait_for_port(port: u16, log: &Path) {
    let deadline = Instant::now() + START_TIMEOUT;
    // A connection to itself (possible in the ephemeral range while nothing listens) is not
    // Caddy.
    while !TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
    {
        assert!(
            Instant::now() < deadline,
            "Caddy's admin endpoint on port {port} did not open; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

impl Drop for TestCaddy {
    fn drop(&mut self) {
        self.kill();
    }
}
