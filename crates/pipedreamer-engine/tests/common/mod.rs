//! Helpers shared by the tests that spawn the real `pipedreamer-engine` binary: the engine
//! process (logs captured, killed on drop), ports, files, a slow HTTP server for nodes to fetch,
//! and a throwaway `nats-server`.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance; `pub` here means "for the test files".
#![allow(dead_code, unreachable_pub)]

pub mod nats_server;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The engine binary running a workflow from a temporary directory.
pub struct Engine {
    pub child: Child,
    pub base: String,
    pub logs: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The address from the engine's "engine ready" log line, once logged: `addr=HOST:PORT` in
/// text logs, `"addr":"HOST:PORT"` in JSON ones.
fn ready_addr(logs: &str) -> Option<&str> {
    let line = logs.lines().find(|l| l.contains("engine ready"))?;
    let (_, rest) = line
        .split_once("addr=")
        .or_else(|| line.split_once("\"addr\":\""))?;
    rest.split(|c: char| c.is_whitespace() || c == '"').next()
}

pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

impl Engine {
    pub fn start(files: &[(&str, &str)], args: &[&str]) -> Self {
        Self::start_with_env(files, args, &[])
    }

    /// Starts the engine on a port the kernel picks and waits (up to 10 s) until `/readyz`
    /// answers 200. The port comes from the engine's "engine ready" line (so a `RUST_LOG` in
    /// `env` must let `pipedreamer_engine=info` through): a port picked here and
    /// handed over could be taken by a parallel test in between, and the probe would then reach
    /// that test's engine.
    pub fn start_with_env(files: &[(&str, &str)], args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), files);
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipedreamer-engine"))
            .args([
                "--workflow",
                dir.path().to_str().unwrap(),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ])
            .args(args)
            .env("NO_COLOR", "1")
            // The caller's filter could hide the "engine ready" line; a test sets its own.
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let sink = logs.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut engine = Self {
            child,
            base: String::new(),
            logs,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if engine.base.is_empty()
                && let Some(addr) = ready_addr(&engine.logs())
            {
                engine.base = format!("http://{addr}");
            }
            if !engine.base.is_empty()
                && let Ok(r) = probe::blocking_get(&format!("{}/readyz", engine.base))
                && r == 200
            {
                return engine;
            }
            assert!(
                Instant::now() < deadline && engine.child.try_wait().unwrap().is_none(),
                "engine did not become ready; logs:\n{}",
                engine.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.logs().lines().filter(|l| l.contains(needle)).count()
    }

    /// Polls the logs until `needle` appears `times` times; panics with the logs at the deadline.
    pub async fn wait_for_log(&self, needle: &str, times: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.count(needle) < times {
            assert!(
                Instant::now() < deadline,
                "`{needle}` did not appear {times} time(s) within {within:?}; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn post(&self, path: &str, body: impl Into<::reqwest::Body>) -> (u16, Value) {
        let r = ::reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = ::reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    /// Sends a signal (`TERM`, `KILL`) to the engine process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit; panics after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "engine did not exit within {within:?}; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A blocking GET without pulling in reqwest's blocking client.
pub mod probe {
    pub fn blocking_get(url: &str) -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(status_code(&buf))
    }

    /// The status code of an HTTP/1 answer (0 when there is none).
    pub fn status_code(answer: &str) -> u16 {
        answer
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
}

/// A local HTTP server whose `GET /sleep/<ms>` answers `{"slept": <ms>}` after that long, so a
/// node can be slow without blocking a sandbox worker thread.
pub async fn slow_server() -> u16 {
    use axum::{Json, Router, extract::Path, routing::get};
    let app = Router::new().route(
        "/sleep/{ms}",
        get(|Path(ms): Path<u64>| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Json(serde_json::json!({ "slept": ms }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}
