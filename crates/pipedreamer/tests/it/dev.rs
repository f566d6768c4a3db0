use crate::write;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn post(port: u16, body: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split(' ').nth(1)?.parse().ok()?;
    Some((code, buf.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()))
}

fn wait_for(what: &str, deadline: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `pipedreamer dev <args>` in `dir` on a free port (stderr piped, stdout discarded).
fn start_dev(dir: &std::path::Path, args: &[&str]) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
        .args(["dev", ".", "--port", &port.to_string()])
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (child, port)
}

/// Starts `pipedreamer dev` in `dir` (watching) and collects its stderr as it comes.
fn start_dev_logged(dir: &std::path::Path) -> (std::process::Child, u16, Arc<Mutex<String>>) {
    let (mut child, port) = start_dev(dir, &[]);
    let logs = Arc::new(Mutex::new(String::new()));
    let sink = logs.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(l + "\n"));
        }
    });
    (child, port, logs)
}

/// `dev` serves, reloads on save, and keeps the last good version when an edit is broken.
#[test]
fn dev_reloads_and_survives_broken_edits() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: d\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
            ),
            ("a.js", "export default () => 'v1'"),
        ],
    );
    let (mut child, port, logs) = start_dev_logged(dir.path());
    let body = |port| post(port, "{}").map(|(_, b)| b).unwrap_or_default();
    wait_for("first response", Duration::from_secs(15), || {
        body(port).contains("\"v1\"")
    });
    assert!(
        logs.lock()
            .unwrap()
            .contains(&format!("http://127.0.0.1:{port}/run"))
    );

    std::fs::write(dir.path().join("a.js"), "export default () => 'v2'").unwrap();
    wait_for("reload to v2", Duration::from_secs(10), || {
        body(port).contains("\"v2\"")
    });

    std::fs::write(
        dir.path().join("a.js"),
        "export default () => { return (; }",
    )
    .unwrap();
    wait_for("reload failure report", Duration::from_secs(10), || {
        logs.lock()
            .unwrap()
            .contains("keeping the last good version")
    });
    assert!(
        logs.lock().unwrap().contains("a.js:1:"),
        "{}",
        logs.lock().unwrap()
    );
    assert!(body(port).contains("\"v2\""));
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue 10, item 13: `dev` drains on SIGTERM like the engine binary: a run in flight still
/// gets its answer (dev died at once and dropped it).
#[test]
fn dev_finishes_runs_in_flight_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: d\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 10s}\n",
            ),
            // Busy for 1.5 s: long enough to be in flight when the signal arrives.
            (
                "a.js",
                "export default () => { const end = Date.now() + 1500; while (Date.now() < end) {} return 'done' }",
            ),
        ],
    );
    let (mut child, port) = start_dev(dir.path(), &["--no-watch"]);
    wait_for("dev to listen", Duration::from_secs(15), || {
        // A connection to itself (possible in the ephemeral range) is not `dev` listening.
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
    });
    let in_flight = std::thread::spawn(move || post(port, "{}"));
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let answer = in_flight.join().unwrap();
    let status = child.wait().unwrap();
    let (code, body) = answer.expect("the request in flight got no answer");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"done\""), "{body}");
    assert!(status.success(), "dev exited {status:?}");
}

/// Issue 11: `dev` watches `node_modules` only where the import graph reaches: a change to an
/// imported package file reloads, a change elsewhere in `node_modules` does not, and an
/// `npm install` (its `node_modules/.package-lock.json`) that adds a missing package does.
#[test]
fn dev_reloads_on_the_graph_not_all_of_node_modules() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: d\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
            ),
            (
                "a.js",
                "import word from 'word';\nexport default () => word;",
            ),
            ("node_modules/word/package.json", r#"{"main":"index.js"}"#),
            ("node_modules/word/index.js", "module.exports = 'v1';"),
            ("node_modules/other/index.js", "module.exports = 0;"),
        ],
    );
    let (mut child, port, logs) = start_dev_logged(dir.path());
    let body = |port| post(port, "{}").map(|(_, b)| b).unwrap_or_default();
    let loads = || logs.lock().unwrap().matches("loaded `d`").count();
    wait_for("first response", Duration::from_secs(15), || {
        body(port).contains("\"v1\"")
    });

    write(
        dir.path(),
        &[("node_modules/word/index.js", "module.exports = 'v2';")],
    );
    wait_for("reload on a graph file", Duration::from_secs(10), || {
        body(port).contains("\"v2\"")
    });
    let before = loads();
    write(
        dir.path(),
        &[("node_modules/other/index.js", "module.exports = 1;")],
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(loads(), before, "{}", logs.lock().unwrap());

    // A missing package fails the reload; installing it (npm writes its hidden lockfile last)
    // reloads although no file of the last good graph changed.
    write(
        dir.path(),
        &[(
            "a.js",
            "import word from 'word';\nimport extra from 'extra';\nexport default () => word + extra;",
        )],
    );
    wait_for("missing package report", Duration::from_secs(10), || {
        logs.lock()
            .unwrap()
            .contains("package `extra` is not installed")
    });
    write(
        dir.path(),
        &[
            ("node_modules/extra/index.js", "module.exports = '+x';"),
            ("node_modules/.package-lock.json", "{}"),
        ],
    );
    wait_for("reload after install", Duration::from_secs(10), || {
        body(port).contains("\"v2+x\"")
    });
    let _ = child.kill();
    let _ = child.wait();
}
