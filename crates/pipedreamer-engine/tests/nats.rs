//! Queue triggers against a real `nats-server` (one per test): queue groups, request-reply,
//! auth, TLS, JetStream ack/nak/redelivery and shutdown through the real engine binary, and a
//! `dev`-style reload through the library.

mod common;

use async_nats::jetstream;
use common::nats_server::{NatsConfig, NatsServer, TestCa};
use common::{Engine, slow_server};
use futures_util::future::join_all;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const NODE: &str = r#"
export default async function run(ctx, input) {
  if (input.id !== undefined) ctx.log.info("handling [" + input.id + "]");
  if (input.sleep) await ctx.fetch("http://127.0.0.1:" + input.port + "/sleep/" + input.sleep);
  if (input.do === "throw") throw new Error("node exploded");
  if (input.id !== undefined) ctx.log.info("handled [" + input.id + "]");
  return { echo: input };
}
"#;

fn workflow(nats_url: Option<&str>, trigger: &str) -> String {
    let config = nats_url.map_or(String::new(), |u| {
        format!("config: {{nats_url: \"{u}\"}}\n")
    });
    format!(
        "name: q\nversion: \"1\"\nnodes:\n  - {{id: main, file: main.js, timeout: 20s}}\ntriggers:\n  - {trigger}\nfetch: {{allow: [127.0.0.1]}}\n{config}"
    )
}

fn start(workflow: &str, secrets: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Engine {
    let mut files = vec![("workflow.yaml", workflow), ("main.js", NODE)];
    if let Some(s) = secrets {
        files.push((".secrets.yaml", s));
    }
    Engine::start_with_env(&files, args, env)
}

async fn client(url: &str) -> async_nats::Client {
    tokio::time::timeout(Duration::from_secs(10), async_nats::connect(url))
        .await
        .expect("connect timed out")
        .expect("test client cannot connect")
}

/// Sends a request and parses the JSON reply.
async fn request(
    client: &async_nats::Client,
    subject: &str,
    payload: impl Into<bytes::Bytes>,
) -> Result<Value, async_nats::RequestErrorKind> {
    let reply = tokio::time::timeout(
        Duration::from_secs(20),
        client.request(subject.to_owned(), payload.into()),
    )
    .await
    .expect("request hung past its own timeout")
    .map_err(|e| e.kind())?;
    Ok(serde_json::from_slice(&reply.payload).expect("reply is not JSON"))
}

/// Retries until the engine's subscription has reached the server (no more "no responders").
async fn wait_for_responder(client: &async_nats::Client, subject: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match request(client, subject, "{}").await {
            Ok(_) => return,
            Err(async_nats::RequestErrorKind::NoResponders) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("no responder on `{subject}`: {e:?}"),
        }
    }
}

async fn readyz(e: &Engine) -> Value {
    let (status, body) = e.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn wait_for_nats_state(e: &Engine, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body = readyz(e).await;
        if body["nats"] == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "nats never became `{want}`: {body}\n{}",
            e.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn queue_group_shares_messages_between_replicas() {
    let nats = NatsServer::start(NatsConfig::default());
    let wf = workflow(Some(&nats.url()), "{type: queue, subject: jobs.run}");
    let a = start(&wf, None, &[], &[]);
    let b = start(&wf, None, &[], &[]);
    a.wait_for_log("subscribed", 1, Duration::from_secs(10))
        .await;
    b.wait_for_log("subscribed", 1, Duration::from_secs(10))
        .await;
    let c = client(&nats.url()).await;
    wait_for_responder(&c, "jobs.run").await;
    // Batches until both replicas have taken some; the total must match exactly.
    let mut sent = 0;
    while (a.count("handled [") == 0 || b.count("handled [") == 0) && sent < 400 {
        let replies = join_all((sent..sent + 20).map(|id| {
            let c = c.clone();
            async move { request(&c, "jobs.run", json!({ "id": id }).to_string()).await }
        }))
        .await;
        for r in replies {
            assert_eq!(r.expect("request failed")["status"], "succeeded");
        }
        sent += 20;
        let deadline = Instant::now() + Duration::from_secs(10);
        while a.count("handled [") + b.count("handled [") < sent {
            assert!(Instant::now() < deadline, "runs missing from the logs");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (na, nb) = (a.count("handled ["), b.count("handled ["));
    assert!(na > 0 && nb > 0, "one replica got nothing: {na} / {nb}");
    assert_eq!(na + nb, sent, "every message runs exactly once");
}

#[tokio::test]
async fn request_reply_success_failure_and_bad_payloads() {
    let nats = NatsServer::start(NatsConfig::default());
    let wf = workflow(Some(&nats.url()), "{type: queue, subject: \"jobs.*\"}");
    let e = start(&wf, None, &[], &[]);
    let c = client(&nats.url()).await;
    // One run: `{}`.
    wait_for_responder(&c, "jobs.a").await;

    let ok = request(&c, "jobs.a", r#"{"hello": 1}"#).await.unwrap();
    assert_eq!(ok["status"], "succeeded", "{ok}");
    assert_eq!(ok["output"], json!({"echo": {"hello": 1}}));
    assert_eq!(ok["nodes"]["main"]["status"], "succeeded");
    assert!(ok["run_id"].as_str().unwrap().len() >= 32);

    let empty = request(&c, "jobs.b", "").await.unwrap();
    assert_eq!(
        empty["output"],
        json!({"echo": {}}),
        "empty payload is {{}}"
    );

    let failed = request(&c, "jobs.a", r#"{"do": "throw"}"#).await.unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["node"], "main");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("node exploded")
    );
    assert_eq!(failed["nodes"]["main"]["status"], "failed");

    let bad = request(&c, "jobs.a", "{not json").await.unwrap();
    assert!(
        bad["error"].as_str().unwrap().contains("not valid JSON"),
        "{bad}"
    );
    // Without a reply subject the error can only be logged.
    c.publish("jobs.a", "also not json".into()).await.unwrap();
    c.flush().await.unwrap();
    e.wait_for_log("dropping message", 1, Duration::from_secs(10))
        .await;

    // Still serving both ways.
    let again = request(&c, "jobs.a", r#"{"id": 1}"#).await.unwrap();
    assert_eq!(again["status"], "succeeded");
    assert_eq!(e.post("/run", "{}").await.0, 200);
    let ready = readyz(&e).await;
    assert_eq!(ready["nats"], "connected", "{ready}");
    let (_, metrics) = e.get("/metrics").await;
    for line in [
        "pipedreamer_nats_connected 1",
        r#"pipedreamer_nats_messages_total{subject="jobs.*",outcome="succeeded"} 4"#,
        r#"pipedreamer_nats_messages_total{subject="jobs.*",outcome="failed"} 1"#,
        r#"pipedreamer_nats_messages_total{subject="jobs.*",outcome="bad_payload"} 2"#,
        r#"pipedreamer_runs_total{status="succeeded",trigger="queue"} 4"#,
    ] {
        assert!(metrics.contains(line), "missing `{line}` in\n{metrics}");
    }
}

#[tokio::test]
async fn token_auth_is_used_and_refusals_are_reported_without_the_token() {
    let token = "s3cr3t-nats-token-42";
    let nats = NatsServer::start(NatsConfig {
        token: Some(token.into()),
        ..Default::default()
    });
    let wf = workflow(Some(&nats.url()), "{type: queue, subject: jobs.run}");
    let good = start(&wf, Some(&format!("nats:\n  token: {token}\n")), &[], &[]);
    let wrong = start(&wf, Some("nats:\n  token: wrong-token-987654\n"), &[], &[]);
    let missing = start(&wf, None, &[], &[]);

    let c = async_nats::ConnectOptions::with_token(token.into())
        .connect(nats.url())
        .await
        .unwrap();
    wait_for_responder(&c, "jobs.run").await;
    let ok = request(&c, "jobs.run", r#"{"id": 1}"#).await.unwrap();
    assert_eq!(ok["status"], "succeeded");
    good.wait_for_log("handled [1]", 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        wait_for_nats_state(&good, "connected").await["status"],
        "ready"
    );

    wrong
        .wait_for_log("refused the connection", 1, Duration::from_secs(15))
        .await;
    assert!(wrong.logs().contains("check `nats.token` in the secrets"));
    let ready = wait_for_nats_state(&wrong, "unauthorized").await;
    assert!(!ready.to_string().contains("wrong-token"), "{ready}");
    assert_eq!(wrong.post("/run", "{}").await.0, 200, "HTTP keeps working");
    assert_eq!(
        wrong.count("refused the connection"),
        1,
        "logged once per streak"
    );

    missing
        .wait_for_log(
            "add `nats.token` to the secrets",
            1,
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(missing.post("/run", "{}").await.0, 200);

    for e in [&good, &wrong, &missing] {
        let logs = e.logs();
        assert!(
            !logs.contains(token) && !logs.contains("wrong-token-987654"),
            "token in logs:\n{logs}"
        );
    }
}

#[tokio::test]
async fn tls_with_a_test_ca_from_ssl_cert_file() {
    let ca = TestCa::new();
    let nats = NatsServer::start(NatsConfig {
        tls: Some((ca.server_cert_pem.clone(), ca.server_key_pem.clone())),
        ..Default::default()
    });
    let ca_path = ca.write_ca(nats.dir());
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let wf = workflow(Some(&url), "{type: queue, subject: jobs.run}");
    let e = start(
        &wf,
        None,
        &[],
        &[("SSL_CERT_FILE", ca_path.to_str().unwrap())],
    );
    // Without the CA the server's certificate is not trusted.
    let untrusting = start(&wf, None, &[], &[("SSL_CERT_FILE", "/nonexistent.pem")]);

    let c = tokio::time::timeout(
        Duration::from_secs(10),
        async_nats::ConnectOptions::new()
            .add_root_certificates(ca_path.clone())
            .require_tls(true)
            .connect(url.as_str()),
    )
    .await
    .unwrap()
    .unwrap();
    wait_for_responder(&c, "jobs.run").await;
    let ok = request(&c, "jobs.run", r#"{"id": 5}"#).await.unwrap();
    assert_eq!(ok["status"], "succeeded", "{ok}");
    wait_for_nats_state(&e, "connected").await;

    untrusting
        .wait_for_log("cannot reach NATS", 1, Duration::from_secs(15))
        .await;
    assert_ne!(readyz(&untrusting).await["nats"], "connected");
    assert_eq!(untrusting.post("/run", "{}").await.0, 200);
}

#[tokio::test]
async fn missing_nats_url_serves_http_only_with_one_warning() {
    let wf = workflow(None, "{type: queue, subject: jobs.run}");
    let e = start(&wf, None, &[], &[]);
    e.wait_for_log("serving HTTP only", 1, Duration::from_secs(10))
        .await;
    let (s, body) = e.post("/run", r#"{"id": 3}"#).await;
    assert_eq!((s, &body["status"]), (200, &json!("succeeded")));
    assert_eq!(readyz(&e).await["nats"], "not configured");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(e.count("serving HTTP only"), 1, "{}", e.logs());
    let (_, metrics) = e.get("/metrics").await;
    assert!(
        metrics.contains("pipedreamer_nats_connected 0"),
        "{metrics}"
    );
}

// --- JetStream ---

async fn create_stream(client: &async_nats::Client) -> jetstream::stream::Stream {
    let js = jetstream::new(client.clone());
    js.create_stream(jetstream::stream::Config {
        name: "EV".into(),
        subjects: vec!["ev.>".into()],
        ..Default::default()
    })
    .await
    .expect("cannot create the test stream")
}

/// A nats-server with the `EV` stream, a client, and a workflow consuming `trigger` from it.
struct JetStreamRig {
    nats: NatsServer,
    c: async_nats::Client,
    stream: jetstream::stream::Stream,
    wf: String,
}

async fn jetstream_rig(trigger: &str) -> JetStreamRig {
    let nats = NatsServer::start(NatsConfig::default());
    let c = client(&nats.url()).await;
    let stream = create_stream(&c).await;
    let wf = workflow(Some(&nats.url()), trigger);
    JetStreamRig {
        nats,
        c,
        stream,
        wf,
    }
}

async fn publish(client: &async_nats::Client, subject: &str, payload: Value) {
    let js = jetstream::new(client.clone());
    js.publish(subject.to_owned(), payload.to_string().into())
        .await
        .unwrap()
        .await
        .expect("stream did not ack the publish");
}

/// Polls the consumer until nothing is pending or unacked.
async fn wait_until_settled(stream: &jetstream::stream::Stream, durable: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(info) = stream.consumer_info(durable).await
            && info.num_pending == 0
            && info.num_ack_pending == 0
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "consumer did not settle: {:?}",
            stream
                .consumer_info(durable)
                .await
                .map(|i| (i.num_pending, i.num_ack_pending))
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn handled_ids(logs: &str) -> Vec<u64> {
    logs.lines()
        .filter_map(|l| {
            let rest = &l[l.find("handled [")? + 9..];
            rest[..rest.find(']')?].parse().ok()
        })
        .collect()
}

#[tokio::test]
async fn jetstream_acks_after_success_and_runs_exactly_once() {
    let JetStreamRig {
        nats: _server,
        c,
        stream,
        wf,
    } = jetstream_rig("{type: queue, subject: ev.ok, stream: EV, durable: digest}").await;
    let e = start(&wf, None, &["--nats-ack-wait", "1s"], &[]);
    for id in 0..5 {
        publish(&c, "ev.ok", json!({ "id": id })).await;
    }
    e.wait_for_log("run succeeded", 5, Duration::from_secs(15))
        .await;
    wait_until_settled(&stream, "digest", Duration::from_secs(10)).await;
    // Past two ack waits: an unacked message would have come back by now.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut ids = handled_ids(&e.logs());
    ids.sort();
    assert_eq!(ids, [0, 1, 2, 3, 4], "{}", e.logs());
    let info = stream.consumer_info("digest").await.unwrap();
    // One delivery per message: the consumer sequence counts redeliveries too.
    assert_eq!(info.delivered.consumer_sequence, 5);
    assert_eq!(info.delivered.stream_sequence, 5);
    assert_eq!(info.ack_floor.stream_sequence, 5);
    assert_eq!(info.config.filter_subject, "ev.ok");
}

#[tokio::test]
async fn jetstream_missing_stream_is_a_clear_error_and_http_stays_up() {
    let nats = NatsServer::start(NatsConfig::default());
    let wf = workflow(
        Some(&nats.url()),
        "{type: queue, subject: ev.x, stream: GITHUB}",
    );
    let e = start(&wf, None, &[], &[]);
    e.wait_for_log(
        "JetStream stream `GITHUB` not found; create it with `nats stream add GITHUB",
        1,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(e.post("/run", "{}").await.0, 200);
}

#[tokio::test]
async fn jetstream_redelivers_after_the_engine_is_killed_mid_run() {
    let port = slow_server().await;
    let JetStreamRig {
        nats: _server,
        c,
        stream,
        wf,
    } = jetstream_rig("{type: queue, subject: ev.slow, stream: EV}").await;
    let args = ["--nats-ack-wait", "2s"];
    let mut first = start(&wf, None, &args, &[]);
    // Longer than the ack wait: the second engine keeps it with progress acks.
    publish(
        &c,
        "ev.slow",
        json!({ "id": 1, "sleep": 3500, "port": port }),
    )
    .await;
    first
        .wait_for_log("handling [1]", 1, Duration::from_secs(10))
        .await;
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(first.count("handled [1]"), 0);

    let second = start(&wf, None, &args, &[]);
    second
        .wait_for_log("handled [1]", 1, Duration::from_secs(20))
        .await;
    wait_until_settled(&stream, "q", Duration::from_secs(10)).await;
    assert_eq!(second.count("handling [1]"), 1, "{}", second.logs());
    let info = stream.consumer_info("q").await.unwrap();
    assert_eq!(
        info.delivered.consumer_sequence, 2,
        "delivered twice: once to the killed engine, once after; progress acks kept it there"
    );
}

#[tokio::test]
async fn jetstream_naks_failures_then_terminates_after_max_deliver() {
    let JetStreamRig {
        nats: _server,
        c,
        stream,
        wf,
    } = jetstream_rig("{type: queue, subject: ev.fail, stream: EV}").await;
    let e = start(
        &wf,
        None,
        &["--nats-max-deliver", "3", "--nats-retry-delay", "100ms"],
        &[],
    );
    publish(&c, "ev.fail", json!({ "id": 7, "do": "throw" })).await;
    e.wait_for_log(
        "giving up on message after 3 failed deliveries",
        1,
        Duration::from_secs(15),
    )
    .await;
    let logs = e.logs();
    let terminal = logs
        .lines()
        .find(|l| l.contains("giving up on message"))
        .unwrap();
    for part in [
        "stream=EV",
        "sequence=1",
        "subject=ev.fail",
        "node=main",
        "node exploded",
    ] {
        assert!(terminal.contains(part), "`{part}` missing in: {terminal}");
    }
    assert_eq!(e.count("message will be redelivered"), 2, "{logs}");
    wait_until_settled(&stream, "q", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        e.count("handling [7]"),
        3,
        "no delivery after the terminal one"
    );
    let (_, metrics) = e.get("/metrics").await;
    assert!(
        metrics.contains(r#"pipedreamer_nats_messages_total{subject="ev.fail",outcome="dead"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn sigterm_during_a_request_burst_answers_every_taken_request() {
    let port = slow_server().await;
    let nats = NatsServer::start(NatsConfig::default());
    let wf = workflow(Some(&nats.url()), "{type: queue, subject: jobs.run}");
    let mut e = start(&wf, None, &["--nats-max-in-flight", "10"], &[]);
    let c = client(&nats.url()).await;
    wait_for_responder(&c, "jobs.run").await;
    let burst: Vec<_> = (0..60)
        .map(|id| {
            let c = c.clone();
            tokio::spawn(async move {
                let body = json!({ "id": id, "sleep": 300, "port": port }).to_string();
                request(&c, "jobs.run", body).await
            })
        })
        .collect();
    e.wait_for_log("handled [", 10, Duration::from_secs(15))
        .await;
    e.signal("TERM");
    // Sent after the drain began: nobody takes these, and the requester hears so at once.
    e.wait_for_log("received SIGTERM", 1, Duration::from_secs(5))
        .await;
    let late = join_all((100..105).map(|id| {
        let c = c.clone();
        async move { request(&c, "jobs.run", json!({ "id": id }).to_string()).await }
    }))
    .await;
    let status = e.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", e.logs());
    for r in join_all(burst).await {
        let reply = r.unwrap().expect("a request of the burst got no reply");
        assert_eq!(reply["status"], "succeeded", "{reply}");
    }
    for r in late {
        match r {
            Ok(reply) => assert_eq!(reply["status"], "succeeded"),
            Err(kind) => assert_eq!(kind, async_nats::RequestErrorKind::NoResponders),
        }
    }
    let ids: BTreeSet<u64> = handled_ids(&e.logs())
        .into_iter()
        .filter(|i| *i < 60)
        .collect();
    assert_eq!(ids, (0..60).collect::<BTreeSet<_>>());
}

/// Publishes `count` slow messages to `subject`, stops a first engine with SIGTERM mid-burst,
/// then starts a second one: every message must be handled exactly by one of them within
/// `settle` (started runs finish on the first; the rest go to the second).
async fn sigterm_mid_burst(subject: &str, count: u64, args: &[&str], settle: Duration) {
    let port = slow_server().await;
    let JetStreamRig {
        nats: _server,
        c,
        stream,
        wf,
    } = jetstream_rig(&format!("{{type: queue, subject: {subject}, stream: EV}}")).await;
    let mut first = start(&wf, None, args, &[]);
    for id in 0..count {
        publish(&c, subject, json!({ "id": id, "sleep": 300, "port": port })).await;
    }
    first
        .wait_for_log("handled [", 4, Duration::from_secs(15))
        .await;
    first.signal("TERM");
    let status = first.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", first.logs());
    // Whatever the first engine started, it finished: started == finished.
    assert_eq!(first.count("handling ["), first.count("handled ["));

    let second = start(&wf, None, args, &[]);
    wait_until_settled(&stream, "q", settle).await;
    let ids: BTreeSet<u64> = handled_ids(&first.logs())
        .into_iter()
        .chain(handled_ids(&second.logs()))
        .collect();
    assert_eq!(ids, (0..count).collect::<BTreeSet<_>>(), "messages lost");
}

#[tokio::test]
async fn sigterm_during_a_jetstream_burst_loses_no_message() {
    let args = ["--nats-max-in-flight", "5", "--nats-ack-wait", "1s"];
    sigterm_mid_burst("ev.burst", 40, &args, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn sigterm_leaves_no_message_waiting_for_ack_wait() {
    // A long ack wait: a message the first engine fetched but did not start could only reach
    // the second engine after two minutes.
    let args = ["--nats-max-in-flight", "4", "--nats-ack-wait", "120s"];
    sigterm_mid_burst("ev.handback", 30, &args, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn a_reload_with_other_queue_triggers_subscribes_again() {
    use pipedreamer_sandbox::{PoolOptions, Program, Sandbox, Secrets, Workload};
    let server = NatsServer::start(NatsConfig::default());
    let c = client(&server.url()).await;
    let workload = |trigger: &str| {
        let yaml = workflow(Some(&server.url()), trigger);
        let files = vec![("workflow.yaml", yaml.as_str()), ("main.js", NODE)];
        let source = pipedreamer_spec::source::MemorySource::from_pairs(files);
        let program = Program::load(&source).unwrap_or_else(|d| panic!("{d:#?}"));
        Workload::new(program, Secrets::new(json!({}))).0
    };
    let sandbox = Sandbox::start(PoolOptions { workers: 1 }).unwrap();
    let state = pipedreamer_engine::state::EngineState::new(
        sandbox,
        Some(workload("{type: queue, subject: reload.a}")),
        None,
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let queues = tokio::spawn(pipedreamer_engine::nats::run(
        state.clone(),
        Default::default(),
        stop.clone(),
    ));
    wait_for_responder(&c, "reload.a").await;

    state.replace(workload("{type: queue, subject: reload.b}"));
    wait_for_responder(&c, "reload.b").await;
    let reply = request(&c, "reload.b", r#"{"via": "b"}"#).await.unwrap();
    assert_eq!(reply["output"]["echo"], json!({"via": "b"}));
    assert_eq!(
        request(&c, "reload.a", "{}").await.unwrap_err(),
        async_nats::RequestErrorKind::NoResponders,
        "the old subject is still served"
    );

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), queues)
        .await
        .expect("queue triggers did not stop")
        .unwrap();
}

/// Issue 10, item 13: with NATS configured but unreachable, shutdown does not wait for a flush
/// that cannot happen (it took the whole 5 s flush timeout).
#[tokio::test]
async fn shutdown_skips_the_flush_when_nats_is_unreachable() {
    let nowhere = format!("nats://127.0.0.1:{}", common::free_port());
    let wf = workflow(Some(&nowhere), "{type: queue, subject: jobs.run}");
    let mut e = start(&wf, None, &[], &[]);
    e.wait_for_log("cannot reach NATS", 1, Duration::from_secs(15))
        .await;
    let asked = Instant::now();
    e.signal("TERM");
    let status = e.wait_exit(Duration::from_secs(15)).await;
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}; logs:\n{}", e.logs());
    let logs = e.logs();
    assert!(
        logs.contains("not connected to NATS; skipping the flush"),
        "{logs}"
    );
    assert!(!logs.contains("could not flush"), "{logs}");
    eprintln!("shutdown with NATS unreachable took {took:?}");
}
