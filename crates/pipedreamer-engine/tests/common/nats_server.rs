//! A throwaway `nats-server` (JetStream on, own port and store directory), killed on drop, plus
//! a test CA for TLS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server`.
pub struct NatsServer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Server options.
#[derive(Default)]
pub struct NatsConfig {
    /// Require this token.
    pub token: Option<String>,
    /// Serve TLS with this certificate chain and key (PEM).
    pub tls: Option<(String, String)>,
}

impl NatsServer {
    /// Starts a server on a port of its own choosing and waits (up to 10 s) until it greets.
    ///
    /// The server picks the port (`-1`) and reports it in a ports file: a port picked by the
    /// test and handed over could be taken by a parallel test in between, and a bare TCP
    /// connect as the readiness check can succeed against whatever took it (or, in the
    /// ephemeral range, against itself), which is how this helper once handed out a dead port.
    pub fn start(config: NatsConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("js");
        let mut conf = format!(
            "listen: \"127.0.0.1:-1\"\nports_file_dir: {:?}\njetstream {{ store_dir: {:?} }}\n",
            dir.path().to_str().unwrap(),
            store.to_str().unwrap()
        );
        if let Some(t) = &config.token {
            conf.push_str(&format!("authorization {{ token: {t:?} }}\n"));
        }
        if let Some((cert, key)) = &config.tls {
            let (c, k) = (dir.path().join("server.pem"), dir.path().join("server.key"));
            std::fs::write(&c, cert).unwrap();
            std::fs::write(&k, key).unwrap();
            conf.push_str(&format!(
                "tls {{ cert_file: {:?}, key_file: {:?}, timeout: 2 }}\n",
                c.to_str().unwrap(),
                k.to_str().unwrap()
            ));
        }
        let conf_path = dir.path().join("nats.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log_path = dir.path().join("nats.log");
        let mut child = Command::new("nats-server")
            .args(["-c", conf_path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("nats-server is not installed; run scripts/test.sh (it installs it)");
        let ports_file = dir.path().join(format!("nats-server_{}.ports", child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "nats-server exited ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            if let Some(port) = listening_port(&ports_file)
                && greets(port)
            {
                break port;
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Self { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The client port from a ports file (`{"nats":["nats://127.0.0.1:PORT"]}`), once written.
fn listening_port(ports_file: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(ports_file).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = ports["nats"][0].as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

/// Whether a NATS server answers on `port` with its `INFO` greeting.
fn greets(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut greeting = [0u8; 5];
    s.read_exact(&mut greeting).is_ok() && &greeting == b"INFO "
}

/// A CA and a server certificate for `127.0.0.1` and `localhost` signed by it (PEM).
pub struct TestCa {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "pipedreamer test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        let cert = params.signed_by(&key, &issuer).unwrap();
        Self {
            ca_pem: ca_cert.pem(),
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
        }
    }

    /// Writes the CA to `dir/ca.pem` and returns the path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let p = dir.join("ca.pem");
        std::fs::write(&p, &self.ca_pem).unwrap();
        p
    }
}
