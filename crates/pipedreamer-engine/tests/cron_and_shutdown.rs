//! Local cron (named payloads, never two overlapping runs of one trigger) on an accelerated clock,
//! and graceful shutdown under steady HTTP load against the real binary.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use pipedreamer_engine::cron::{SchedulerClock, run_scheduler_with};
use pipedreamer_engine::{EngineState, SecretsSource};
use pipedreamer_sandbox::{PoolOptions, Sandbox};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mod common;

use common::{Engine, slow_server, write_files};

/// What a node reported, and with which body, in arrival order.
type Events = Arc<Mutex<Vec<(String, String)>>>;

/// Records what nodes report: `POST /event/<what>` with the node's input as body.
async fn recorder() -> (u16, Events) {
    let events: Events = Default::default();
    let app = Router::new()
        .route(
            "/event/{what}",
            post(
                |State(events): State<Events>, Path(what): Path<String>, body: String| async move {
                    events.lock().unwrap().push((what, body));
                    "ok"
                },
            ),
        )
        .route(
            "/sleep/{ms}",
            get(|Path(ms): Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "slept"
            }),
        )
        .with_state(events.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, events)
}

fn scheduler(
    files: &[(&str, &str)],
    speed: u32,
) -> (Arc<EngineState>, CancellationToken, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), files);
    let workload = pipedreamer_engine::load(dir.path(), &SecretsSource::None).unwrap();
    let state = EngineState::new(
        Sandbox::start(PoolOptions::default()).unwrap(),
        Some(workload),
        None,
    );
    let stop = CancellationToken::new();
    tokio::spawn(run_scheduler_with(
        state.clone(),
        stop.clone(),
        SchedulerClock::accelerated(speed),
    ));
    (state, stop, dir)
}

async fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_cron_fires_with_the_named_payload() {
    let (port, events) = recorder().await;
    let node = format!(
        "export default async function run(ctx, input) {{ await ctx.fetch('http://127.0.0.1:{port}/event/fired', {{ method: 'POST', body: JSON.stringify(input) }}); return input; }}\n"
    );
    let workflow = "name: c\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\ntriggers:\n  - {type: cron, name: every-minute, schedule: \"* * * * *\"}\n  - {type: cron, schedule: \"*/2 * * * *\"}\n";
    // 120x: a minute passes every half second.
    let (_state, stop, _dir) = scheduler(&[("workflow.yaml", workflow), ("a.js", &node)], 120);
    wait_for("six cron runs", Duration::from_secs(15), || {
        events.lock().unwrap().len() >= 6
    })
    .await;
    stop.cancel();
    let events = events.lock().unwrap().clone();
    let named = events
        .iter()
        .filter(|(_, body)| body == r#"{"trigger":"every-minute"}"#)
        .count();
    let unnamed = events.iter().filter(|(_, body)| body == "{}").count();
    assert_eq!(
        named + unnamed,
        events.len(),
        "only the two payloads appear: {events:?}"
    );
    assert!(named >= 3, "{events:?}");
    assert!(unnamed >= 1, "{events:?}");
    assert!(
        named > unnamed,
        "every minute fires more often than every two: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_cron_never_overlaps_runs_of_one_trigger() {
    let (port, events) = recorder().await;
    // Each run takes ~0.7 s of real time; at 120x the trigger comes due every 0.5 s.
    let node = format!(
        "export default async function run(ctx) {{ const b = 'http://127.0.0.1:{port}'; await ctx.fetch(b + '/event/begin', {{ method: 'POST' }}); await ctx.fetch(b + '/sleep/700'); await ctx.fetch(b + '/event/end', {{ method: 'POST' }}); return 1; }}\n"
    );
    let workflow = "name: c\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\ntriggers:\n  - {type: cron, name: slow, schedule: \"* * * * *\"}\n";
    let (_state, stop, _dir) = scheduler(&[("workflow.yaml", workflow), ("a.js", &node)], 120);
    wait_for("three runs", Duration::from_secs(15), || {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| w == "end")
            .count()
            >= 3
    })
    .await;
    stop.cancel();
    let order: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .map(|(w, _)| w.clone())
        .collect();
    for pair in order.chunks(2) {
        assert!(
            pair[0] == "begin" && pair.get(1).is_none_or(|e| e == "end"),
            "runs overlapped: {order:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_steady_http_load_fails_no_request() {
    let slow = slow_server().await;
    let node = format!(
        "export default async function run(ctx, input) {{ await ctx.fetch('http://127.0.0.1:{slow}/sleep/150'); return input; }}\n"
    );
    let mut engine = Engine::start(
        &[
            (
                "workflow.yaml",
                "name: s\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
            ),
            ("a.js", &node),
        ],
        &["--shutdown-grace", "10s"],
    );
    // One connection per request: a load balancer would have stopped sending on readiness;
    // what must never happen is a request the engine accepted and then dropped.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let url = format!("{}/run", engine.base);
    let stop_sending = CancellationToken::new();
    let mut clients = Vec::new();
    for worker in 0..16 {
        let (client, url, stop_sending) = (client.clone(), url.clone(), stop_sending.clone());
        clients.push(tokio::spawn(async move {
            let (mut ok, mut refused, mut failed) = (0, 0, Vec::new());
            let mut i = 0;
            while !stop_sending.is_cancelled() {
                i += 1;
                match client
                    .post(&url)
                    .body(format!("{{\"w\":{worker},\"i\":{i}}}"))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => failed.push(format!("HTTP {}", r.status())),
                    Err(e) if e.is_connect() => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => failed.push(format!("{e:?}")),
                }
            }
            (ok, refused, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    engine.signal("TERM");
    let status = engine.wait_exit(Duration::from_secs(15)).await;
    stop_sending.cancel();
    let (mut ok, mut refused, mut failed) = (0, 0, Vec::new());
    for c in clients {
        let (o, r, f) = c.await.unwrap();
        ok += o;
        refused += r;
        failed.extend(f);
    }
    assert!(
        status.success(),
        "exit {status:?}; logs:\n{}",
        engine.logs()
    );
    assert!(
        failed.is_empty(),
        "{} request(s) failed after being accepted: {failed:?}",
        failed.len()
    );
    assert!(ok >= 50, "steady load: {ok} succeeded");
    assert!(
        refused > 0,
        "the clients kept sending until the listener closed"
    );
    assert!(
        engine.logs().contains("shutdown complete"),
        "{}",
        engine.logs()
    );
}

/// Issue 10 (tidy): a shutdown that cuts runs off is a failure, and the exit status says so
/// (it was 0), with a log line naming the runs.
#[tokio::test]
async fn a_grace_period_that_cuts_runs_off_exits_non_zero() {
    let slow = slow_server().await;
    let node = format!(
        "export default async function run(ctx, input) {{ await ctx.fetch('http://127.0.0.1:{slow}/sleep/5000'); return input; }}\n"
    );
    let mut engine = Engine::start(
        &[
            (
                "workflow.yaml",
                "name: u\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 10s}\n",
            ),
            ("a.js", &node),
        ],
        &["--shutdown-grace", "1s"],
    );
    let url = format!("{}/run", engine.base);
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .body("{}")
            .timeout(Duration::from_secs(20))
            .send()
            .await
    });
    // The run is in flight (it waits on the slow server for 5 s).
    tokio::time::sleep(Duration::from_millis(500)).await;
    engine.signal("TERM");
    let status = engine.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(1), "logs:\n{}", engine.logs());
    assert!(
        engine
            .logs()
            .contains("the grace period ended with 1 run(s) still going"),
        "{}",
        engine.logs()
    );
    let _ = request.await;
}
