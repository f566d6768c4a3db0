//! Client connection limits of the real engine binary over real sockets (issue 10, item 10): a
//! slowloris client is cut off after `--header-timeout`, a trickled body after `--body-timeout`,
//! and `--max-connections` holds further connections in the backlog until one closes.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod common;

use common::Engine;

fn engine(args: &[&str]) -> Engine {
    Engine::start(
        &[
            (
                "workflow.yaml",
                "name: c\nversion: \"1\"\nnodes:\n  - {id: main, file: main.js}\n",
            ),
            ("main.js", "export default (ctx, input) => input"),
        ],
        args,
    )
}

fn connect(e: &Engine) -> TcpStream {
    TcpStream::connect(e.base.trim_start_matches("http://")).unwrap()
}

/// Sends `bytes` one at a time, `gap` apart, until the engine closes the connection (and
/// returns how long that took) or everything was sent (`None`).
fn trickle(s: &mut TcpStream, bytes: &[u8], gap: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(gap)).unwrap();
    let mut buf = [0u8; 1024];
    for b in bytes {
        if s.write_all(&[*b]).is_err() {
            return Some(start.elapsed());
        }
        match s.read(&mut buf) {
            // Closed, or answered (an error status) and then closed.
            Ok(_) => return Some(start.elapsed()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// The status line's code of whatever the engine answered on `s`, reading until it closes.
fn status_of(s: &mut TcpStream) -> std::io::Result<u16> {
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    Ok(common::probe::status_code(&answer))
}

#[test]
fn a_slowloris_client_is_cut_off_after_the_header_timeout() {
    let e = engine(&["--header-timeout", "1s"]);
    let mut s = connect(&e);
    // 80 bytes at 100 ms each would hold the connection for 8 s.
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(40)
    );
    let closed = trickle(&mut s, request.as_bytes(), Duration::from_millis(100))
        .expect("the engine waited for every header byte");
    assert!(
        closed < Duration::from_secs(4),
        "closed only after {closed:?}"
    );
    // Other clients are served meanwhile and after.
    assert_eq!(
        common::probe::blocking_get(&format!("{}/healthz", e.base)).unwrap(),
        200
    );
}

#[test]
fn an_idle_connection_is_closed_after_the_header_timeout() {
    let e = engine(&["--header-timeout", "1s"]);
    let mut s = connect(&e);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the engine to close the idle connection");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_trickled_body_is_refused_after_the_body_timeout() {
    let e = engine(&["--body-timeout", "1s"]);
    let mut s = connect(&e);
    let body = format!("{{\"pad\": \"{}\"}}", "x".repeat(60));
    write!(
        s,
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // ~70 bytes at 100 ms each would take 7 s.
    let cut = trickle(&mut s, body.as_bytes(), Duration::from_millis(100))
        .expect("the engine waited for the whole trickled body");
    assert!(cut < Duration::from_secs(4), "cut off only after {cut:?}");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // 408 if it still could be read, else the connection was closed: both are refusals.
    if let Ok(code) = status_of(&mut s) {
        assert!(code == 408 || code == 0, "answered {code}");
    }
    let (_, metrics) = e.get("/metrics").await;
    let line = r#"pipedreamer_rejected_requests_total{source="http",reason="body_timeout"} 1"#;
    assert!(metrics.contains(line), "{metrics}");
}

#[test]
fn connections_beyond_the_limit_wait_until_one_closes() {
    let e = engine(&["--max-connections", "4", "--header-timeout", "60s"]);
    let held: Vec<TcpStream> = (0..4).map(|_| connect(&e)).collect();
    // Let the engine accept all four.
    std::thread::sleep(Duration::from_millis(300));
    let mut fifth = connect(&e);
    write!(
        fifth,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let mut buf = [0u8; 64];
    match fifth.read(&mut buf) {
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the fifth connection was served at the limit: {other:?}"),
    }
    drop(held);
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let code = status_of(&mut fifth).unwrap();
    assert_eq!(code, 200, "logs:\n{}", e.logs());
    assert!(
        e.logs().contains("connection limit reached"),
        "{}",
        e.logs()
    );
    assert_eq!(
        common::probe::blocking_get(&format!("{}/healthz", e.base)).unwrap(),
        200
    );
}

/// At a low open file limit, the connection limit is lowered so that descriptors remain for
/// runs (their fetches, NATS, files), and the log says so.
#[test]
fn the_connection_limit_fits_the_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    common::write_files(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: c\nversion: \"1\"\nnodes:\n  - {id: main, file: main.js}\n",
            ),
            ("main.js", "export default (ctx, input) => input"),
        ],
    );
    let port = common::free_port().to_string();
    let mut child = std::process::Command::new("prlimit")
        .args([
            "--nofile=256:256",
            "--",
            env!("CARGO_BIN_EXE_pipedreamer-engine"),
        ])
        .args([
            "--workflow",
            dir.path().to_str().unwrap(),
            "--host",
            "127.0.0.1",
        ])
        .args(["--port", &port, "--max-connections", "1024"])
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("serving at most") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("serving at most 192 connections"), "{seen}");
}
