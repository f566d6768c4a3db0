//! The HTTP accept loop: the engine's router behind a connection limit, a header read timeout
//! and a body deadline, with graceful shutdown.
//!
//! `axum::serve` offers none of these limits, and without them one slow client holds a
//! connection (and a file descriptor) for as long as it likes: a slowloris client kept
//! connections for 45 s, and 200 half-open connections at a low fd limit made `/run` hang. So the
//! engine accepts connections itself and hands each to hyper's HTTP/1 connection driver.

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use http_body::{Body, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Limits on client connections (engine flags `--header-timeout`, `--body-timeout`,
/// `--max-connections`).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// How long a client may take to send a request's headers, counted from the first byte it
    /// may send. Also how long an idle keep-alive connection is kept.
    pub header_timeout: Duration,
    /// How long a client may take to send a whole request body, from the end of its headers.
    pub body_timeout: Duration,
    /// Connections served at once. At the limit, new connections are not accepted: they wait
    /// in the listen backlog until a connection closes. Lowered (with a warning) when the open
    /// file limit is too small for it.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// A request body did not arrive within the body deadline.
#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive within {}s", .0.as_secs_f64())]
pub struct BodyTimeout(pub Duration);

/// Binds the HTTP listener on `addr`. With `reuse_port` (engine flag `--reuse-port`) the socket
/// sets `SO_REUSEPORT`, so a second engine of the same user can bind the same port while this
/// one still serves: `pipedreamer server`'s `local` target starts the new version next to the
/// old one and stops the old one only once the new one is ready, and the kernel spreads new
/// connections over both meanwhile. Off by default, so a port taken by mistake still fails
/// loudly with "address in use".
pub fn listen(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // What `TcpListener::bind` sets on Unix: a restarted engine may rebind at once while
    // connections of the previous one sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(1024)
}

/// [`listen`], retrying for up to `wait` while the port is taken (engine flag `--port-wait`):
/// a replacement that cannot share the port (gVisor ignores `SO_REUSEPORT`) starts, loads its
/// workflow, and takes the port within a few milliseconds of its predecessor letting go.
pub async fn listen_when_free(
    addr: SocketAddr,
    reuse_port: bool,
    wait: Duration,
) -> std::io::Result<TcpListener> {
    let deadline = Instant::now() + wait;
    let mut told = false;
    loop {
        match listen(addr, reuse_port) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                if !told {
                    tracing::info!(%addr, wait = ?wait, "the port is taken; waiting for it");
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => return other,
        }
    }
}

/// Serves `app` on `listener` until `stop` fires, then stops accepting, lets each connection
/// finish its request in progress and returns once all are closed.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stop: CancellationToken,
) {
    let max_connections = connection_budget(limits.max_connections, fd_soft_limit());
    let slots = Arc::new(Semaphore::new(max_connections));
    let connections = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut at_limit = false;
    let mut accept_failing = false;
    loop {
        // A slot first, then accept: at the limit the kernel holds new connections in the
        // backlog, rather than the engine taking them (and a file descriptor each) and
        // leaving them unanswered.
        if slots.available_permits() == 0 && !at_limit {
            tracing::warn!(
                max_connections,
                "connection limit reached; new connections wait until one closes"
            );
        }
        at_limit = slots.available_permits() == 0;
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
        };
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => {
                accept_failing = false;
                tcp
            }
            // The client gave up before we accepted: nothing to do.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Usually out of file descriptors; retrying at once would spin. Logged once per
                // streak.
                if !accept_failing {
                    tracing::error!("cannot accept connections: {e}; retrying");
                    accept_failing = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let router = app.clone();
        let body_timeout = limits.body_timeout;
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let req = req.map(|b| axum::body::Body::new(DeadlineBody::new(b, body_timeout)));
            router.clone().oneshot(req)
        });
        let conn = http.serve_connection(TokioIo::new(tcp), service);
        let stop = stop.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                // Errors here are the client's (timeouts, resets, bad requests): hyper has
                // answered or closed already, and there is nobody else to tell.
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// The connection limit to enforce: `requested`, unless the file descriptor limit cannot hold
/// that many connections and still leave a quarter (at least 32) for what runs need (fetches,
/// NATS, files). Past the descriptor limit, `accept` fails and so does every fetch, which is
/// worse than making clients wait.
fn connection_budget(requested: usize, fd_limit: Option<u64>) -> usize {
    let requested = requested.max(1);
    let Some(limit) = fd_limit else {
        return requested;
    };
    let reserve = (limit / 4).max(32);
    let fits = usize::try_from(limit.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX);
    if requested > fits {
        tracing::warn!(
            requested,
            fd_limit = limit,
            "--max-connections is more than the open file limit allows; serving at most {fits} connections (raise `ulimit -n` for more)"
        );
        return fits;
    }
    requested
}

/// The soft limit on open files (`None` when unlimited or unknown, e.g. off Linux).
fn fd_soft_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// A request body that fails with [`BodyTimeout`] once its deadline passes, however the bytes
/// trickle in (a per-read timeout would let a client send one byte per interval forever).
struct DeadlineBody<B> {
    inner: B,
    timeout: Duration,
    deadline: Instant,
    /// Made on the first wait only: most bodies are already buffered when read.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout(this.timeout).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_leaves_descriptors_for_runs() {
        assert_eq!(connection_budget(1024, None), 1024);
        assert_eq!(connection_budget(1024, Some(1_048_576)), 1024);
        // 256 descriptors: 64 kept back.
        assert_eq!(connection_budget(1024, Some(256)), 192);
        // Tiny limits keep 32 and still serve one connection.
        assert_eq!(connection_budget(1024, Some(64)), 32);
        assert_eq!(connection_budget(1024, Some(16)), 1);
        assert_eq!(connection_budget(0, None), 1);
    }
}
