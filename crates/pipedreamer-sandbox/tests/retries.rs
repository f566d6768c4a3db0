//! Per-node `retries`: which failures are retried, the per-attempt timeout, the growing waits,
//! and what the outcome says about the attempts.

mod common;

use common::*;
use pipedreamer_runs::LogLevel;
use pipedreamer_sandbox::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A local HTTP server that answers 500 to its first `failures` requests, then 200 with the
/// request count as JSON: state outside the run, as a flaky upstream would be.
async fn flaky_server(failures: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let mut buf = vec![0; 8192];
                let _ = sock.read(&mut buf).await;
                let (status, body) = if n <= failures {
                    (
                        "500 Internal Server Error",
                        format!("{{\"error\":\"flaky {n}\"}}"),
                    )
                } else {
                    ("200 OK", format!("{{\"n\":{n}}}"))
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    (port, count)
}

fn flaky_workflow(port: u16, retries: u32) -> Arc<Workload> {
    workload(
        &format!(
            "name: f\nversion: \"1\"\nfetch: {{allow: [127.0.0.1]}}\nnodes:\n  - {{id: call, file: call.js, retries: {retries}, retry_delay: 20ms}}\n  - {{id: after, file: after.js, depends_on: [call]}}\n"
        ),
        &[
            (
                "call.js",
                &format!(
                    "export default async (ctx, input) => {{
                       ctx.log.info('attempt with', input.k);
                       input.k = 'changed by the attempt';
                       const r = await fetch('http://127.0.0.1:{port}/');
                       const body = await r.json();
                       if (!r.ok) throw new Error('upstream said ' + body.error);
                       return body.n;
                     }}"
                ),
            ),
            ("after.js", "export default (ctx, n) => n * 10"),
        ],
        json!({}),
    )
}

#[tokio::test]
async fn a_flaky_node_succeeds_on_its_third_attempt() {
    let (port, count) = flaky_server(2).await;
    let wl = flaky_workflow(port, 2);
    let (out, json) = run_bounded(&sandbox(), &wl, json!({"k": "v"})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(json["output"], 30);
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let call = out.nodes.get("call").unwrap();
    assert_eq!((call.status, call.attempts), (NodeStatus::Succeeded, 3));
    assert_eq!(json["nodes"]["call"]["attempts"], 3);
    assert_eq!(out.nodes.get("after").unwrap().attempts, 1);
    // Every attempt saw the same input, though the one before changed its copy; each retry
    // left a warning with the error (its stack names the module without the run's slot).
    let lines: Vec<(&str, LogLevel, &str)> = out
        .journal
        .logs
        .iter()
        .map(|l| (l.node.as_str(), l.level, l.message.as_str()))
        .collect();
    let attempt = ("call", LogLevel::Info, "attempt with v");
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!([lines[0], lines[2], lines[4]], [attempt; 3], "{lines:#?}");
    for (line, expected) in [
        (
            lines[1],
            "attempt 2 of 3 after: Error: upstream said flaky 1 (at default (call.js:",
        ),
        (
            lines[3],
            "attempt 3 of 3 after: Error: upstream said flaky 2 (at default (call.js:",
        ),
    ] {
        assert_eq!((line.0, line.1), ("call", LogLevel::Warn));
        assert!(line.2.starts_with(expected), "{}", line.2);
    }
}

#[tokio::test]
async fn the_last_failure_fails_the_run_after_all_attempts() {
    let (port, count) = flaky_server(usize::MAX).await;
    let wl = flaky_workflow(port, 1);
    let (out, json) = run_bounded(&sandbox(), &wl, json!({"k": "v"})).await;
    assert_eq!(out.failure(), Some(FailureKind::Thrown), "{json}");
    assert_eq!(count.load(Ordering::SeqCst), 2);
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Error: upstream said flaky 2 "),
        "{message}"
    );
    let call = out.nodes.get("call").unwrap();
    assert_eq!((call.status, call.attempts), (NodeStatus::Failed, 2));
    assert_eq!(out.nodes.get("after").unwrap().status, NodeStatus::Skipped);
}

#[tokio::test]
async fn without_retries_a_node_has_one_attempt() {
    let (port, count) = flaky_server(1).await;
    let wl = flaky_workflow(port, 0);
    let (out, _) = run_bounded(&sandbox(), &wl, json!({"k": "v"})).await;
    assert_eq!(out.failure(), Some(FailureKind::Thrown));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(out.nodes.get("call").unwrap().attempts, 1);
    assert!(out.journal.logs.iter().all(|l| l.level != LogLevel::Warn));
}

#[tokio::test]
async fn a_node_over_the_memory_limit_is_not_retried() {
    let wl = workload(
        "name: m\nversion: \"1\"\nconfig: {memory_limit: 16Mi}\nnodes:\n  - {id: bomb, file: a.js, retries: 3, retry_delay: 10ms}\n",
        &[(
            "a.js",
            "export default (ctx) => { ctx.log.info('start'); const a = []; for (;;) a.push('x'.repeat(1024) + a.length) }",
        )],
        json!({}),
    );
    let sb = sandbox();
    let (out, json) = run_bounded(&sb, &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Memory), "{json}");
    let bomb = out.nodes.get("bomb").unwrap();
    assert_eq!((bomb.status, bomb.attempts), (NodeStatus::Failed, 1));
    assert_eq!(out.journal.logs.len(), 1, "{:?}", out.journal.logs);
}

/// Each attempt gets the node's whole timeout: three attempts of 400 ms each take longer than
/// the 1 s timeout, and succeed.
#[tokio::test]
async fn the_timeout_applies_per_attempt() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: slow, file: a.js, timeout: 1s, retries: 2, retry_delay: 10ms}\n",
        &[(
            "a.js",
            // Module state belongs to the run, so it counts the run's attempts.
            "let attempts = 0;
             export default async (ctx) => {
               attempts++;
               await new Promise((r) => setTimeout(r, 400));
               if (attempts < 3) throw new Error('not yet ' + attempts);
               return attempts;
             }",
        )],
        json!({}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(json["output"], 3);
    let slow = out.nodes.get("slow").unwrap();
    assert_eq!(slow.attempts, 3);
    assert!(slow.duration_ms >= 1200.0, "{slow:?}");
}

/// A timeout is retried on both paths: an await the tokio timer ends, and a synchronous loop
/// the interrupt handler stops (whose stop must not fail the run once the retry succeeds).
#[tokio::test]
async fn timeouts_are_retried_async_and_in_synchronous_loops() {
    for (name, hang) in [
        ("await", "await new Promise(() => {})"),
        ("loop", "for (;;) {}"),
        // The loop runs in a promise job after the await, not in the node's first call.
        ("loop after an await", "await null; for (;;) {}"),
        (
            "loop in a timer",
            "await new Promise((r) => setTimeout(r, 1)); for (;;) {}",
        ),
    ] {
        let wl = workload(
            "name: t\nversion: \"1\"\nnodes:\n  - {id: hang, file: a.js, timeout: 200ms, retries: 1, retry_delay: 10ms}\n  - {id: next, file: b.js, depends_on: [hang]}\n",
            &[
                (
                    "a.js",
                    &format!(
                        "let attempts = 0;
                         export default async (ctx) => {{ attempts++; if (attempts === 1) {{ {hang} }} return attempts; }}"
                    ),
                ),
                ("b.js", "export default (ctx, n) => n + 1"),
            ],
            json!({}),
        );
        let sb = single_worker();
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{name}: {json}");
        assert_eq!(json["output"], 3, "{name}");
        let hang = out.nodes.get("hang").unwrap();
        assert_eq!(
            (hang.status, hang.attempts),
            (NodeStatus::Succeeded, 2),
            "{name}"
        );
        let warn = &out.journal.logs[0];
        assert_eq!(warn.level, LogLevel::Warn, "{name}");
        assert!(
            warn.message
                .starts_with("attempt 2 of 2 after: node `hang` timed out after 200ms"),
            "{name}: {}",
            warn.message
        );
        // The runtime serves the next run as usual, in a new realm: a realm whose run had a
        // failed attempt (stopped part-way) is not reused.
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{name}: {json}");
        assert_eq!(wl.realms_created(), 2, "{name}");
    }
}

#[tokio::test]
async fn a_node_that_keeps_timing_out_fails_with_a_timeout_after_its_attempts() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: spin, file: a.js, timeout: 100ms, retries: 2, retry_delay: 10ms}\n",
        &[("a.js", "export default () => { for (;;) {} }")],
        json!({}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Timeout), "{json}");
    let spin = out.nodes.get("spin").unwrap();
    assert_eq!((spin.status, spin.attempts), (NodeStatus::TimedOut, 3));
    assert!(spin.duration_ms >= 300.0, "{spin:?}");
}

/// The wait before attempt k+1 is `retry_delay · 2^(k−1)` ±20 %: each gap between attempts
/// (measured by the attempts' own log lines) is at least 80 % of its nominal wait, so a
/// constant wait would fail the later ones.
#[tokio::test]
async fn waits_between_attempts_double() {
    let wl = workload(
        "name: d\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, retries: 3, retry_delay: 100ms}\n",
        &[(
            "a.js",
            "export default (ctx) => { ctx.log.info('start'); throw new Error('boom') }",
        )],
        json!({}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Thrown), "{json}");
    let a = out.nodes.get("a").unwrap();
    assert_eq!((a.status, a.attempts), (NodeStatus::Failed, 4));
    let starts: Vec<f64> = out
        .journal
        .logs
        .iter()
        .filter(|l| l.message == "start")
        .map(|l| l.at_ms)
        .collect();
    assert_eq!(starts.len(), 4, "{:?}", out.journal.logs);
    let warns: Vec<&str> = out
        .journal
        .logs
        .iter()
        .filter(|l| l.level == LogLevel::Warn)
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(warns.len(), 3);
    assert!(
        warns[2].starts_with("attempt 4 of 4 after: Error: boom"),
        "{warns:?}"
    );
    for (k, gap) in starts.windows(2).map(|w| w[1] - w[0]).enumerate() {
        let nominal = 100.0 * f64::from(1u32 << k);
        assert!(
            gap >= 0.8 * nominal,
            "gap {k}: {gap} ms < 80 % of {nominal} ms ({starts:?})"
        );
    }
    assert!(a.duration_ms >= 0.8 * 700.0, "{a:?}");
}

/// A node that fails while another one retries cancels it, with the attempts it made so far.
#[tokio::test]
async fn a_node_cancelled_while_retrying_reports_its_attempts() {
    let wl = workload(
        "name: c\nversion: \"1\"\nnodes:\n  - {id: flaky, file: a.js, retries: 5, retry_delay: 50ms}\n  - {id: fails, file: b.js}\n",
        &[
            ("a.js", "export default () => { throw new Error('again') }"),
            (
                "b.js",
                "export default async () => { await new Promise((r) => setTimeout(r, 120)); throw new Error('done') }",
            ),
        ],
        json!({}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(json["error"]["node"], "fails", "{json}");
    let flaky = out.nodes.get("flaky").unwrap();
    assert_eq!(flaky.status, NodeStatus::Cancelled, "{json}");
    assert!((2..=5).contains(&flaky.attempts), "{flaky:?}");
}

/// A timer callback is code no attempt awaits: stopped at the node's deadline, it fails the run
/// with that node's timeout, without a retry (documented in `executor`).
#[tokio::test]
async fn a_timer_callback_stopped_at_a_deadline_is_not_retried() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 200ms, retries: 2, retry_delay: 10ms}\n",
        &[(
            "a.js",
            "export default async () => { setTimeout(() => { for (;;) {} }, 1); await new Promise(() => {}); }",
        )],
        json!({}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Timeout), "{json}");
    assert_eq!(json["error"]["node"], "a");
    let a = out.nodes.get("a").unwrap();
    assert_eq!((a.status, a.attempts), (NodeStatus::TimedOut, 1), "{json}");
}
