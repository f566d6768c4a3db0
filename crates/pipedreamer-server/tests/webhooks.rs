//! GitHub webhooks and live logs against a real store, on SQLite and PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Ctx, Db, ctx, push_payload, sha, sign, webhook};
use http_body_util::BodyExt;
use pipedreamer_store::{BuildOutcome, BuildStatus};
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

/// Asserts a delivery was acknowledged (202) and ignored, whatever the reason.
#[track_caller]
fn expect_ignored(r: &common::Reply) {
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (StatusCode::ACCEPTED, Some("ignored")),
        "{}",
        r.text
    );
}

/// Asserts a delivery was acknowledged (202) and ignored for exactly `reason`.
#[track_caller]
fn expect_ignored_for(r: &common::Reply, reason: &str) {
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json, json!({"status": "ignored", "reason": reason}));
}

async fn builds_of(c: &Ctx, id: &str) -> Vec<pipedreamer_store::Build> {
    c.store.builds(id, 100, None).await.unwrap()
}

async fn signatures_and_events(db: Db) {
    let c = ctx(db).await;
    let common::Orders { id, secret, .. } = c.orders(json!({})).await;
    let body = push_payload("main", &sha(1), "fix: orders");

    // Wrong, missing, and other-key signatures: 401 and no build row.
    for signature in [
        None,
        Some("sha256=00".to_owned()),
        Some(sign("not-the-secret", &body)),
        Some(sign(&secret, b"other body")),
    ] {
        let r = c
            .send(webhook(
                &id,
                "push",
                "d-bad",
                body.clone(),
                signature.clone(),
            ))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{signature:?}: {}",
            r.text
        );
        assert!(r.json["hint"].is_string());
        assert!(!r.text.contains(&secret));
    }
    assert!(
        builds_of(&c, &id).await.is_empty(),
        "a refused delivery must not build"
    );

    // ping → 200, no build.
    let ping = json!({"zen": "Design for failure.", "hook_id": 1})
        .to_string()
        .into_bytes();
    let r = c.deliver(&id, &secret, "ping", "d-ping", &ping).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "pong");

    // Other events, other branches, deleted branches: 202 ignored with a reason.
    let issue = json!({"action": "opened"}).to_string().into_bytes();
    let r = c.deliver(&id, &secret, "issues", "d-issue", &issue).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json["status"], "ignored");
    let other = push_payload("feature", &sha(2), "wip");
    let r = c.deliver(&id, &secret, "push", "d-other", &other).await;
    expect_ignored_for(
        &r,
        "push to `refs/heads/feature`; this deployment builds `refs/heads/main`",
    );
    let deleted = json!({"ref": "refs/heads/main", "after": "0".repeat(40), "deleted": true, "head_commit": null}).to_string().into_bytes();
    let r = c.deliver(&id, &secret, "push", "d-del", &deleted).await;
    expect_ignored(&r);
    assert!(builds_of(&c, &id).await.is_empty());

    // Signed but not JSON: 415 by content type, 400 for a broken body.
    let form = b"payload=%7B%7D".to_vec();
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/deployments/{id}/webhook"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-event", "push")
        .header("x-hub-signature-256", sign(&secret, &form))
        .body(Body::from(form))
        .unwrap();
    let r = c.send(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
    let broken = b"{\"ref\": ".to_vec();
    let r = c.deliver(&id, &secret, "push", "d-broken", &broken).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let not_push = json!({"ref": "refs/heads/main"}).to_string().into_bytes();
    let r = c.deliver(&id, &secret, "push", "d-np", &not_push).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(builds_of(&c, &id).await.is_empty());

    // Unknown deployment: 404.
    let r = c.deliver("nope", &secret, "push", "d-x", &body).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Payloads up to 5 MiB are read (GitHub's list many commits); larger ones are refused.
    let big = |size: usize| {
        json!({"ref": "refs/heads/feature", "after": sha(3), "head_commit": {"message": "x".repeat(size)}})
            .to_string()
            .into_bytes()
    };
    let body2 = big(2 << 20);
    let r = c.deliver(&id, &secret, "push", "d-2mib", &body2).await;
    expect_ignored(&r);
    let body6 = big(6 << 20);
    let r = c.deliver(&id, &secret, "push", "d-6mib", &body6).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(r.json["error"].is_string());

    // A good push: 202 with the build id; hash, message and branch from the payload.
    let r = c.deliver(&id, &secret, "push", "d-good", &body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let build_id = r.json["build_id"].as_str().unwrap();
    let b = c.store.build(build_id).await.unwrap();
    assert_eq!(b.status, BuildStatus::Pending);
    assert_eq!(b.commit_hash.as_deref(), Some(sha(1).as_str()));
    assert_eq!(b.commit_message.as_deref(), Some("fix: orders"));
    assert_eq!(b.branch, "main");
    assert_eq!(b.triggered_by, pipedreamer_store::Trigger::Webhook);
    assert_eq!(b.delivery_id.as_deref(), Some("d-good"));
}
both!(signatures_and_events);

async fn auto_rebuild_off_never_builds(db: Db) {
    let c = ctx(db).await;
    let common::Orders { id, secret, .. } = c.orders(json!({"auto_rebuild": false})).await;
    let body = push_payload("main", &sha(1), "x");
    let r = c.deliver(&id, &secret, "push", "d-1", &body).await;
    expect_ignored_for(&r, "auto_rebuild is off for this deployment");
    assert!(builds_of(&c, &id).await.is_empty());
}
both!(auto_rebuild_off_never_builds);

async fn same_delivery_five_times_at_once(db: Db) {
    let c = ctx(db).await;
    let common::Orders { id, secret, .. } = c.orders(json!({})).await;
    let body = push_payload("main", &sha(7), "feat");
    let signature = sign(&secret, &body);
    let sends = (0..5).map(|_| {
        let app = c.app.clone();
        let req = webhook(
            &id,
            "push",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            body.clone(),
            Some(signature.clone()),
        );
        tokio::spawn(async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        })
    });
    let mut answers = Vec::new();
    for s in sends {
        answers.push(s.await.unwrap());
    }
    let created: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .collect();
    let duplicates: Vec<_> = answers
        .iter()
        .filter(|(s, j)| *s == StatusCode::OK && j["duplicate"] == true)
        .collect();
    assert_eq!((created.len(), duplicates.len()), (1, 4), "{answers:?}");
    let build_id = &created[0].1["build_id"];
    assert!(
        duplicates.iter().all(|(_, j)| &j["build_id"] == build_id),
        "{answers:?}"
    );
    let builds = builds_of(&c, &id).await;
    assert_eq!(builds.len(), 1, "one delivery, one build");
    assert_eq!(builds[0].status, BuildStatus::Pending);
}
both!(same_delivery_five_times_at_once);

async fn twenty_pushes_newest_wins(db: Db) {
    let c = ctx(db).await;
    let common::Orders { id, secret, .. } = c.orders(json!({})).await;
    let mut ids = Vec::new();
    for n in 1..=20 {
        let body = push_payload("main", &sha(n), &format!("commit {n}"));
        let r = c
            .deliver(&id, &secret, "push", &format!("delivery-{n}"), &body)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        ids.push(r.json["build_id"].as_str().unwrap().to_owned());
    }
    let builds = builds_of(&c, &id).await;
    assert_eq!(builds.len(), 20);
    let pending: Vec<_> = builds
        .iter()
        .filter(|b| b.status == BuildStatus::Pending)
        .collect();
    assert_eq!(pending.len(), 1, "one PENDING per deployment");
    assert_eq!(pending[0].id, ids[19]);
    assert_eq!(pending[0].commit_hash.as_deref(), Some(sha(20).as_str()));
    for b in builds.iter().filter(|b| b.id != ids[19]) {
        assert_eq!(b.status, BuildStatus::Cancelled, "{b:?}");
        let msg = b.error_message.as_deref().unwrap_or_default();
        assert!(msg.starts_with("superseded by "), "{msg}");
    }
    // Build n was superseded by push n+1, whose short sha the reason names.
    let first = builds.iter().find(|b| b.id == ids[0]).unwrap();
    assert!(
        first
            .error_message
            .as_deref()
            .unwrap()
            .contains(&sha(2)[..7]),
        "{first:?}"
    );
    // A worker claiming now gets the newest commit.
    let claimed = common::claim(&c.store, "test-worker").await;
    assert_eq!(claimed.commit_hash.as_deref(), Some(sha(20).as_str()));
}
both!(twenty_pushes_newest_wins);

/// Parses an SSE body into (id, event, data) triples; comments are skipped.
fn sse_events(text: &str) -> Vec<(Option<String>, String, String)> {
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let (mut id, mut event, mut data) = (None, "message".to_owned(), Vec::new());
        for line in block.lines() {
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = Some(value.to_owned()),
                "event" => event = value.to_owned(),
                "data" => data.push(value.to_owned()),
                other => panic!("unexpected SSE field {other}"),
            }
        }
        if !data.is_empty() || id.is_some() {
            out.push((id, event, data.join("\n")));
        }
    }
    out
}

async fn sse_request(c: &Ctx, build: &str, last_event_id: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .uri(format!("/api/builds/{build}/logs"))
        .header("authorization", format!("Bearer {}", c.read))
        .header("accept", "text/event-stream");
    if let Some(n) = last_event_id {
        req = req.header("last-event-id", n);
    }
    req.body(Body::empty()).unwrap()
}

/// Sends `req` and reads its event stream to the end (it must end within `secs`).
async fn stream_events(
    c: &Ctx,
    req: Request<Body>,
    secs: u64,
) -> (String, Vec<(Option<String>, String, String)>) {
    let res = c.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = tokio::time::timeout(Duration::from_secs(secs), res.into_body().collect())
        .await
        .expect("the stream ends once the build has ended")
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let events = sse_events(&text);
    (text, events)
}

async fn live_logs_and_resume(db: Db) {
    let c = ctx(db).await;
    let common::Orders { id, .. } = c.orders(json!({})).await;
    let build = c.deploy_now(&id).await.field("build_id");
    // Act as the worker: claim, write three chunks.
    let claimed = common::claim(&c.store, "w1").await;
    assert_eq!(claimed.id, build);
    c.store.append_log(&build, "fetch: ok\n").await.unwrap();
    c.store
        .append_log(&build, "validate: 2 nodes\nvalidate: ok\n")
        .await
        .unwrap();
    c.store
        .append_log(&build, "build: layer 1/2\rbuild: layer 2/2\n")
        .await
        .unwrap();

    // A live stream: it sends what exists, then waits for more and for the end.
    let worker = {
        let store = c.store.clone();
        let build = build.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            // The pipeline writes chunks without their last newline.
            store.append_log(&build, "rollout: ready").await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let outcome = BuildOutcome {
                status: BuildStatus::Failed,
                image: None,
                image_digest: None,
                error_message: Some("rollout: pods not ready".into()),
            };
            assert!(store.finish_build(&build, "w1", outcome).await.unwrap());
        })
    };
    let (text, events) = stream_events(&c, sse_request(&c, &build, None).await, 20).await;
    worker.await.unwrap();
    let ids: Vec<_> = events.iter().map(|e| e.0.clone()).collect();
    assert_eq!(
        ids,
        [
            Some("1".into()),
            Some("2".into()),
            Some("3".into()),
            Some("4".into()),
            None
        ],
        "{text}"
    );
    assert!(events[..4].iter().all(|e| e.1 == "log"));
    assert_eq!(
        events[1].2, "validate: 2 nodes\nvalidate: ok",
        "one data line per log line"
    );
    assert!(
        text.contains("data: validate: 2 nodes\ndata: validate: ok\n"),
        "{text}"
    );
    assert_eq!(
        events[2].2, "build: layer 1/2\nbuild: layer 2/2",
        "a carriage return becomes a line"
    );
    assert_eq!(events[3].2, "rollout: ready");
    assert_eq!(events[4].1, "end");
    let end: Value = serde_json::from_str(&events[4].2).unwrap();
    assert_eq!(
        end,
        json!({"status": "FAILED", "error_message": "rollout: pods not ready"})
    );

    // Resume after chunk 2: chunks 3 and 4, then the end.
    let (_, events) = stream_events(&c, sse_request(&c, &build, Some("2")).await, 10).await;
    let ids: Vec<_> = events.iter().map(|e| e.0.clone()).collect();
    assert_eq!(ids, [Some("3".into()), Some("4".into()), None]);
    // Resume after the last chunk: only the end.
    let (_, events) = stream_events(&c, sse_request(&c, &build, Some("4")).await, 10).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, "end");
    // A bad Last-Event-ID is a 400.
    let r = c.send(sse_request(&c, &build, Some("x")).await).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The plain text log.
    let r = c.get(&format!("/api/builds/{build}/logs"), &c.read).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type().starts_with("text/plain"));
    assert_eq!(
        r.text,
        "fetch: ok\nvalidate: 2 nodes\nvalidate: ok\nbuild: layer 1/2\rbuild: layer 2/2\nrollout: ready\n"
    );
}
both!(live_logs_and_resume);

async fn deploy_streams_its_build(db: Db) {
    let c = ctx(db).await;
    let common::Orders { id, .. } = c.orders(json!({})).await;
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/deployments/{id}/deploy"))
        .header("authorization", format!("Bearer {}", c.deploy))
        .header("accept", "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let res = c.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let build = res.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/api/builds/")
        .to_owned();
    let store = c.store.clone();
    let worker = tokio::spawn(async move {
        let claimed = common::claim(&store, "w1").await;
        store
            .append_log(&claimed.id, "hello from the worker\n")
            .await
            .unwrap();
        let outcome = BuildOutcome {
            status: BuildStatus::Success,
            image: Some("r/x:1".into()),
            image_digest: None,
            error_message: None,
        };
        store
            .finish_build(&claimed.id, "w1", outcome)
            .await
            .unwrap();
        claimed.id
    });
    let body = tokio::time::timeout(Duration::from_secs(20), res.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(worker.await.unwrap(), build);
    let events = sse_events(std::str::from_utf8(&body).unwrap());
    assert_eq!(
        events[0],
        (
            Some("1".into()),
            "log".into(),
            "hello from the worker".into()
        )
    );
    assert_eq!(events.last().unwrap().1, "end");
    assert!(events.last().unwrap().2.contains("\"SUCCESS\""));
}
both!(deploy_streams_its_build);

/// Not a timed assertion (speed targets live in benchmarks): prints the acknowledgement
/// latency of 50 concurrent signed deliveries over a real socket, and checks none was lost
/// or duplicated. `cargo test -p pipedreamer-server --test webhooks -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run explicitly"]
async fn webhook_ack_latency_50_concurrent() {
    let db = if common::postgres_skipped() {
        Db::Sqlite
    } else {
        Db::Postgres
    };
    for db in [Db::Sqlite, db] {
        for spread in [false, true] {
            let c = ctx(db).await;
            let ws = c.workspace("team-a").await;
            // One deployment (every enqueue takes its turn on it), or one per delivery.
            let mut targets = Vec::new();
            for n in 0..(if spread { 50 } else { 1 }) {
                let d = c.deployment(&ws, &format!("d{n}"), json!({})).await;
                targets.push((
                    d["id"].as_str().unwrap().to_owned(),
                    d["webhook_secret"].as_str().unwrap().to_owned(),
                ));
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = c.app.clone();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            for round in 0..4 {
                let sends = (0..50u32).map(|n| {
                    let (id, secret) = &targets[n as usize % targets.len()];
                    let body = push_payload("main", &sha(round * 100 + n), "m");
                    let req = client
                        .post(format!("http://{addr}/api/deployments/{id}/webhook"))
                        .header("content-type", "application/json")
                        .header("x-github-event", "push")
                        .header("x-github-delivery", format!("r{round}-{n}"))
                        .header("x-hub-signature-256", sign(secret, &body))
                        .body(body);
                    tokio::spawn(async move {
                        let t = std::time::Instant::now();
                        let res = req.send().await.unwrap();
                        (res.status().as_u16(), t.elapsed())
                    })
                });
                for s in sends.collect::<Vec<_>>() {
                    let (status, elapsed) = s.await.unwrap();
                    assert_eq!(status, 202);
                    latencies.push(elapsed);
                }
            }
            latencies.sort();
            let pct = |p: f64| {
                latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)]
            };
            let total: i64 = c
                .store
                .build_counts()
                .await
                .unwrap()
                .iter()
                .map(|(_, n)| n)
                .sum();
            assert_eq!(total, 200, "every delivery has exactly one build");
            assert_eq!(c.store.queue_depth().await.unwrap(), targets.len() as i64);
            println!(
                "{db:?}, {} deployment(s): {} deliveries in rounds of 50: p50 {:?}, p99 {:?}, max {:?}",
                targets.len(),
                latencies.len(),
                pct(0.5),
                pct(0.99),
                latencies.last().unwrap()
            );
        }
    }
}
