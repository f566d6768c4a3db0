//! One `GET /readyz` on a fresh connection, and which engine instance answered.
//!
//! A fresh connection each time matters: while an old and a new engine share a port
//! (`SO_REUSEPORT`), the kernel picks a listener per connection, so only new connections can
//! reach the new one. Plain HTTP/1.1 over a `TcpStream` keeps this crate free of an HTTP client.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The header the engine names its instance in (`pipedreamer_engine::http::INSTANCE_HEADER`).
const INSTANCE_HEADER: &str = "x-pipedreamer-instance";

/// What one probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Nothing accepted the connection (or it broke before an answer).
    Unreachable(String),
    /// An HTTP answer: its status and the instance header, when present.
    Answered {
        status: u16,
        instance: Option<String>,
    },
}

impl Probe {
    /// Whether `instance` answered ready.
    pub(crate) fn is_ready(&self, instance: &str) -> bool {
        matches!(self, Probe::Answered { status: 200, instance: Some(i) } if i == instance)
    }

    /// For error messages: what the last probe saw.
    pub(crate) fn describe(&self) -> String {
        match self {
            Probe::Unreachable(why) => format!("no answer ({why})"),
            Probe::Answered { status, instance } => format!(
                "HTTP {status} from instance `{}`",
                instance.as_deref().unwrap_or("unnamed")
            ),
        }
    }
}

/// Asks `addr` for `/readyz` once, within `timeout`.
pub(crate) async fn readyz(addr: SocketAddr, timeout: Duration) -> Probe {
    match tokio::time::timeout(timeout, exchange(addr)).await {
        Ok(Ok(answer)) => parse(&answer),
        Ok(Err(e)) => Probe::Unreachable(e.to_string()),
        Err(_) => Probe::Unreachable(format!("no answer within {}s", timeout.as_secs_f64())),
    }
}

async fn exchange(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    // The readiness document is small; a cap keeps a confused peer from feeding us forever.
    stream.take(64 * 1024).read_to_end(&mut answer).await?;
    Ok(answer)
}

fn parse(answer: &[u8]) -> Probe {
    let text = String::from_utf8_lossy(answer);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    let Some(status) = status else {
        return Probe::Unreachable("not an HTTP answer".into());
    };
    let instance = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case(INSTANCE_HEADER)
            .then(|| value.trim().to_owned())
    });
    Probe::Answered { status, instance }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_and_instance() {
        let p = parse(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nX-Pipedreamer-Instance: b1.x\r\n\r\n{}",
        );
        assert!(p.is_ready("b1.x"));
        assert!(!p.is_ready("b2.x"));
        let p = parse(b"HTTP/1.1 503 Service Unavailable\r\nx-pipedreamer-instance: b1.x\r\n\r\n");
        assert!(!p.is_ready("b1.x"));
        assert_eq!(p.describe(), "HTTP 503 from instance `b1.x`");
        assert!(matches!(parse(b"garbage"), Probe::Unreachable(_)));
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let p = readyz(port, Duration::from_secs(2)).await;
        assert!(matches!(p, Probe::Unreachable(_)), "{p:?}");
    }
}
