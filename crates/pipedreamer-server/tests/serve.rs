//! `serve` over a real socket: first start (generated JWT secret, admin token file), the API
//! answering with that token, graceful stop on SIGTERM, and a restart that keeps both.
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
    sigterm_and_wait(server).await;
}
