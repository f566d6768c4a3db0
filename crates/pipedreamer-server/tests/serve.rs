//! `serve` over a real socket: first start (generated JWT secret, admin token file), the API
//! answering with that token, graceful stop on SIGTERM, and a restart that keeps both, and the
//! run records reported before it (retention, which runs at start, deletes only the expired).
//!
//! Alone in its test binary: it sends SIGTERM to its own process, which `serve` handles.

use pipedreamer_server::{Config, Overrides};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not answer /healthz within 10 s");
}

async fn sigterm_and_wait(
    server: tokio::task::JoinHandle<Result<(), pipedreamer_server::ServeError>>,
) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let result = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("serve returns after SIGTERM")
        .unwrap();
    result.expect("serve stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_sigterm_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let flags = Overrides {
        data_dir: Some(data.clone()),
        port: Some(port),
        ..Overrides::default()
    };
    let env = vec![("HOME".to_owned(), dir.path().display().to_string())];
    let config = Config::load_from(&flags, &env).unwrap();
    let engine = dir.path().join("no-engine");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    let server = tokio::spawn(pipedreamer_server::serve(config.clone(), engine.clone()));
    wait_healthy(&client, &base).await;
    // Test output is not a terminal: the admin token went to a file only its owner reads.
    let token_file = data.join("admin-token");
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let secret_file = data.join("jwt-secret");
    assert_eq!(
        std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let r = client
        .post(format!("{base}/api/workspaces"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "team-a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // An engine of a deployment reports two runs, one past `runs.retention` (14 days).
    let r = client
        .post(format!("{base}/api/workspaces/team-a/deployments"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "orders", "repo": "https://github.com/acme/orders.git", "target": {"type": "kubernetes", "registry": "registry.example.test"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let deployment = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = report_token(&config, &secret, &deployment).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let run = |id: &str, started_at: i64| {
        serde_json::json!({"id": id, "workflow": "orders", "version": "1", "trigger": "http",
            "status": "succeeded", "started_at": started_at, "ended_at": started_at + 5,
            "nodes": {"a": {"status": "succeeded", "attempts": 1, "started_ms": 0.0, "duration_ms": 5.0}}})
    };
    let r = client
        .post(format!("{base}/api/ingest/runs"))
        .bearer_auth(&report)
        .json(&serde_json::json!({"runs": [run("kept", now), run("expired", now - 15 * 24 * 3600 * 1000)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    sigterm_and_wait(server).await;
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "the port is closed"
    );

    // A restart keeps the secret and mints no second admin token: the old token still works.
    let server = tokio::spawn(pipedreamer_server::serve(config, engine));
    wait_healthy(&client, &base).await;
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), token);
    let r = client
        .get(format!("{base}/api/workspaces/team-a/deployments"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // The reported run survived the restart; the expired one goes with the pass at start.
    let run = |id: &'static str| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            client
                .get(format!("{base}/api/runs/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(run("kept").await, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while run("expired").await != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "retention at start did not delete the expired run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(run("kept").await, 200);
    sigterm_and_wait(server).await;
}

/// A `report` token for `deployment`, minted as `pipedreamer server token create` does: over
/// the same database and key as the running server.
async fn report_token(config: &Config, secret: &str, deployment: &str) -> String {
    let store = pipedreamer_store::Store::open(&config.database)
        .await
        .unwrap();
    let tokens =
        pipedreamer_server::Tokens::new(store.clone(), secret.trim(), Duration::from_secs(3600));
    let minted = tokens
        .mint(
            pipedreamer_store::Scope::Report,
            None,
            Some(deployment.to_owned()),
        )
        .await
        .unwrap();
    store.close().await;
    minted.token
}
