//! The Caddy client against a real Caddy (`tls internal`) on free loopback ports: routes are
//! added, changed, removed and reconciled through the admin API, and real HTTPS requests reach
//! real upstreams through it.

use pipedreamer_proxy::test_support::TestCaddy;
use pipedreamer_proxy::{Caddy, Exposure, ProxyRoute, TLS_POLICY_ID, TlsMode, route_id};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tiny HTTP upstream that answers `<name> <method> <path>` and counts its requests.
struct Upstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn upstream(name: &'static str) -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let line = String::from_utf8_lossy(&head);
                let mut parts = line.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let body = format!("{name} {method} {path}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Upstream { addr, hits }
}

fn route(deployment: &str, host: &str, upstream: SocketAddr) -> ProxyRoute {
    ProxyRoute {
        id: route_id(deployment),
        host: host.into(),
        upstream,
        exposure: Exposure::Workflow,
    }
}

/// `POST https://<host>:<https port><path>` through Caddy, retried until Caddy has the
/// certificate (issued asynchronously after a config change) or the deadline passes.
async fn post(
    client: &reqwest::Client,
    caddy: &TestCaddy,
    host: &str,
    path: &str,
) -> (u16, String) {
    let url = format!("https://{host}:{}{path}", caddy.https_port);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.post(&url).body("{}").send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                return (status, response.text().await.unwrap_or_default());
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{url}: {e:?}\nCaddy's log:\n{}", caddy.log()),
        }
    }
}

async fn admin_get(caddy: &TestCaddy, path: &str) -> Value {
    let text = reqwest::Client::new()
        .get(format!("{}{path}", caddy.admin()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn ids(routes: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = routes
        .iter()
        .filter_map(|r| r.get("@id").and_then(Value::as_str).map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_reach_their_own_upstream_over_https_and_removal_leaves_the_other() {
    let caddy = TestCaddy::start();
    let (a, b) = (upstream("alpha").await, upstream("beta").await);
    let client = Caddy::new(&caddy.admin()).unwrap();
    client.check().await.unwrap();
    client
        .ensure_server(caddy.https_port, &TlsMode::Internal)
        .await
        .unwrap();
    // Twice is the same as once.
    client
        .ensure_server(caddy.https_port, &TlsMode::Internal)
        .await
        .unwrap();
    client
        .upsert(&route("a", "alpha.example.test", a.addr))
        .await
        .unwrap();
    client
        .upsert(&route("b", "beta.example.test", b.addr))
        .await
        .unwrap();
    // Upserting the same route again adds nothing.
    client
        .upsert(&route("b", "beta.example.test", b.addr))
        .await
        .unwrap();
    assert_eq!(
        ids(&client.routes().await.unwrap()),
        ["pipedreamer-a", "pipedreamer-b"]
    );
    let policy = admin_get(&caddy, &format!("/id/{TLS_POLICY_ID}")).await;
    assert_eq!(
        policy["subjects"],
        json!(["alpha.example.test", "beta.example.test"])
    );
    assert_eq!(policy["issuers"], json!([{"module": "internal"}]));

    let https = caddy.https_client(&["alpha.example.test", "beta.example.test"]);
    assert_eq!(
        post(&https, &caddy, "alpha.example.test", "/run").await,
        (200, "alpha POST /run".into())
    );
    assert_eq!(
        post(&https, &caddy, "beta.example.test", "/run").await,
        (200, "beta POST /run".into())
    );
    assert_eq!(
        post(&https, &caddy, "beta.example.test", "/hooks/github").await,
        (200, "beta POST /hooks/github".into())
    );
    // The engine's /metrics, /healthz and /readyz stay private: Caddy answers 404 itself.
    let before = a.hits.load(Ordering::SeqCst);
    for private in ["/metrics", "/healthz", "/readyz", "/runs", "/"] {
        let (status, _) = post(&https, &caddy, "alpha.example.test", private).await;
        assert_eq!(status, 404, "{private} must not be routed");
    }
    assert_eq!(a.hits.load(Ordering::SeqCst), before);

    // A changed upstream is rewritten in place.
    let a2 = upstream("alpha-2").await;
    client
        .upsert(&route("a", "alpha.example.test", a2.addr))
        .await
        .unwrap();
    assert_eq!(
        post(&https, &caddy, "alpha.example.test", "/run").await,
        (200, "alpha-2 POST /run".into())
    );

    client.remove("pipedreamer-a").await.unwrap();
    // Removing what is not there is fine.
    client.remove("pipedreamer-a").await.unwrap();
    assert_eq!(ids(&client.routes().await.unwrap()), ["pipedreamer-b"]);
    let before = a2.hits.load(Ordering::SeqCst);
    // Its host is gone from the policy too: Caddy refuses the handshake, or (with a certificate
    // still cached) answers without the upstream.
    let url = format!("https://alpha.example.test:{}/run", caddy.https_port);
    if let Ok(response) = https.post(&url).send().await {
        let body = response.text().await.unwrap_or_default();
        assert!(
            !body.contains("alpha"),
            "removed route still answers: {body}"
        );
    }
    assert_eq!(a2.hits.load(Ordering::SeqCst), before);
    assert_eq!(
        post(&https, &caddy, "beta.example.test", "/run").await,
        (200, "beta POST /run".into())
    );
    let policy = admin_get(&caddy, &format!("/id/{TLS_POLICY_ID}")).await;
    assert_eq!(policy["subjects"], json!(["beta.example.test"]));

    // Without routes the policy goes: one without subjects would apply to every name.
    client.remove("pipedreamer-b").await.unwrap();
    assert!(client.routes().await.unwrap().is_empty());
    let policies = admin_get(&caddy, "/config/apps/tls/automation/policies").await;
    assert_eq!(policies, json!([]));

    // A deployment that starts again after the last one stopped gets its route and policy back
    // (regression: inserting into the emptied policy list was refused as out of bounds).
    client
        .upsert(&route("b", "beta.example.test", b.addr))
        .await
        .unwrap();
    let policy = admin_get(&caddy, &format!("/id/{TLS_POLICY_ID}")).await;
    assert_eq!(policy["subjects"], json!(["beta.example.test"]));
    assert_eq!(
        post(&https, &caddy, "beta.example.test", "/run").await,
        (200, "beta POST /run".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_touches_only_our_routes_and_hand_made_ones_survive() {
    let caddy = TestCaddy::start();
    let (a, b, c) = (
        upstream("alpha").await,
        upstream("beta").await,
        upstream("gamma").await,
    );
    let client = Caddy::new(&caddy.admin()).unwrap();
    client
        .ensure_server(caddy.https_port, &TlsMode::Internal)
        .await
        .unwrap();
    client
        .upsert(&route("a", "alpha.example.test", a.addr))
        .await
        .unwrap();
    client
        .upsert(&route("b", "beta.example.test", a.addr))
        .await
        .unwrap();
    client
        .upsert(&route("stale", "stale.example.test", c.addr))
        .await
        .unwrap();
    // Routes made by hand: one in our server without our prefix, one in a server of its own.
    let hand_made = json!({
        "@id": "hand-made",
        "match": [{"host": ["manual.example.test"]}],
        "handle": [{"handler": "static_response", "body": "manual"}]
    });
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{}/config/apps/http/servers/pipedreamer/routes",
            caddy.admin()
        ))
        .json(&hand_made)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let other_port = pipedreamer_proxy::test_support::free_port();
    let other = json!({"listen": [format!("127.0.0.1:{other_port}")], "routes": [
        {"@id": "pipedreamer-looks-ours-but-is-elsewhere", "handle": [{"handler": "static_response", "body": "other"}]}
    ], "automatic_https": {"disable": true}});
    let r = http
        .put(format!("{}/config/apps/http/servers/other", caddy.admin()))
        .json(&other)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    // Desired: a as is, b moved to its own upstream, stale gone, d new. (ACME is not tried
    // here: Let's Encrypt cannot be reached from test machines; its policy is a unit test.)
    let d = upstream("delta").await;
    let desired = [
        route("a", "alpha.example.test", a.addr),
        route("b", "beta.example.test", b.addr),
        route("d", "delta.example.test", d.addr),
    ];
    let report = client.reconcile(&desired).await.unwrap();
    assert_eq!(report.added, ["pipedreamer-d"]);
    assert_eq!(report.updated, ["pipedreamer-b"]);
    assert_eq!(report.removed, ["pipedreamer-stale"]);
    assert_eq!(report.unchanged, 1);
    assert!(report.changed());
    assert_eq!(
        ids(&client.routes().await.unwrap()),
        [
            "hand-made",
            "pipedreamer-a",
            "pipedreamer-b",
            "pipedreamer-d"
        ]
    );
    let elsewhere = admin_get(&caddy, "/config/apps/http/servers/other/routes").await;
    assert_eq!(
        ids(elsewhere.as_array().unwrap()),
        ["pipedreamer-looks-ours-but-is-elsewhere"]
    );
    let policy = admin_get(&caddy, &format!("/id/{TLS_POLICY_ID}")).await;
    assert_eq!(
        policy["subjects"],
        json!([
            "alpha.example.test",
            "beta.example.test",
            "delta.example.test"
        ])
    );
    assert_eq!(policy["issuers"], json!([{"module": "internal"}]));

    // Nothing to do the second time.
    let again = client.reconcile(&desired).await.unwrap();
    assert!(!again.changed(), "{again:?}");
    assert_eq!(again.unchanged, 3);

    let https = caddy.https_client(&["beta.example.test", "delta.example.test"]);
    assert_eq!(
        post(&https, &caddy, "beta.example.test", "/run").await,
        (200, "beta POST /run".into())
    );
    assert_eq!(
        post(&https, &caddy, "delta.example.test", "/run").await,
        (200, "delta POST /run".into())
    );

    // A route named in `keep` stays when present (a deployment rolling out) and is not added
    // when absent; its host stays covered by the TLS policy.
    let keep: std::collections::BTreeSet<String> = [
        "pipedreamer-d".to_string(),
        "pipedreamer-absent".to_string(),
    ]
    .into();
    let report = client
        .reconcile_keeping(&desired[..2], &keep)
        .await
        .unwrap();
    assert!(
        report.removed.is_empty() && report.added.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.unchanged, 3);
    let policy = admin_get(&caddy, &format!("/id/{TLS_POLICY_ID}")).await;
    assert_eq!(
        policy["subjects"],
        json!([
            "alpha.example.test",
            "beta.example.test",
            "delta.example.test"
        ])
    );

    // Everything of ours removed; the hand-made route stays.
    let report = client.reconcile(&[]).await.unwrap();
    assert_eq!(report.removed.len(), 3);
    assert_eq!(ids(&client.routes().await.unwrap()), ["hand-made"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_caddy_loses_the_routes_and_reconcile_brings_them_back() {
    let mut caddy = TestCaddy::start();
    let a = upstream("alpha").await;
    let client = Caddy::new(&caddy.admin()).unwrap();
    client
        .ensure_server(caddy.https_port, &TlsMode::Internal)
        .await
        .unwrap();
    let desired = [route("a", "alpha.example.test", a.addr)];
    client.reconcile(&desired).await.unwrap();
    let https = caddy.https_client(&["alpha.example.test"]);
    assert_eq!(
        post(&https, &caddy, "alpha.example.test", "/run").await,
        (200, "alpha POST /run".into())
    );

    caddy.restart();
    assert!(
        client.routes().await.unwrap().is_empty(),
        "Caddy keeps API changes only in memory"
    );
    let report = client.reconcile(&desired).await.unwrap();
    assert_eq!(report.added, ["pipedreamer-a"]);
    let https = caddy.https_client(&["alpha.example.test"]);
    assert_eq!(
        post(&https, &caddy, "alpha.example.test", "/run").await,
        (200, "alpha POST /run".into())
    );

    // A stopped Caddy is an error that says how to start it, not a hang.
    caddy.kill();
    let e = client.reconcile(&desired).await.unwrap_err();
    assert!(e.to_string().contains("caddy run"), "{e}");
}
