//! The test context: a real store (SQLite in a temp dir, or a fresh PostgreSQL database from
//! `PIPEDREAMER_TEST_POSTGRES`), real tokens, real (idle) workers, and the router driven with
//! `tower::ServiceExt::oneshot`.
#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use pipedreamer_pipeline::{LocalConfig, PhaseTimeouts, PipelineConfig, Workers};
use pipedreamer_server::metrics::Metrics;
use pipedreamer_server::{AppState, Tokens};
use pipedreamer_store::{Scope, Store};
use serde_json::{Value, json};
use sqlx::Connection;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// Which database a case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs `$case(Db)` as two tests, `sqlite` and `postgres`, in a module named after the case.
#[macro_export]
macro_rules! both {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$case(super::common::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if super::common::postgres_skipped() {
                    return;
                }
                super::$case(super::common::Db::Postgres).await;
            }
        }
    };
}

/// `PIPEDREAMER_TEST_POSTGRES=skip` opts out; unset fails with how to set it.
pub fn postgres_skipped() -> bool {
    match std::env::var("PIPEDREAMER_TEST_POSTGRES") {
        Ok(v) if v == "skip" => true,
        Ok(_) => false,
        Err(_) => panic!(
            "PIPEDREAMER_TEST_POSTGRES is not set: these tests run against PostgreSQL too.\n\
             Set it to a superuser-ish URL whose role may CREATE DATABASE, e.g.\n\
             PIPEDREAMER_TEST_POSTGRES=postgres://pipedreamer:pipedreamer@127.0.0.1:5432/postgres\n\
             (`scripts/test.sh` starts the cluster and sets it), or to `skip` to run SQLite only."
        ),
    }
}

/// A fresh PostgreSQL database, dropped when this guard drops.
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: a separate thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut conn)
                            .await;
                }
            });
        })
        .join();
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A store over a fresh database; the guard keeps it alive.
pub async fn fresh_store(db: Db) -> (Store, Box<dyn std::any::Any + Send>) {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            (Store::open(&url).await.unwrap(), Box::new(dir))
        }
        Db::Postgres => {
            let admin_url = std::env::var("PIPEDREAMER_TEST_POSTGRES").unwrap();
            let name = format!("pd_server_{}", uuid::Uuid::now_v7().simple());
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("connect to PIPEDREAMER_TEST_POSTGRES");
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            let guard = PgDatabase {
                admin_url: admin_url.clone(),
                name: name.clone(),
            };
            let store = Store::open(&replace_database(&admin_url, &name))
                .await
                .unwrap();
            (store, Box::new(guard))
        }
    }
}

/// Everything a case needs.
pub struct Ctx {
    pub app: Router,
    pub store: Store,
    pub tokens: Tokens,
    pub admin: String,
    pub deploy: String,
    pub read: String,
    pub report: String,
    pub workers: Arc<Workers>,
    _guard: Box<dyn std::any::Any + Send>,
    _data: tempfile::TempDir,
}

pub const PUBLIC_URL: &str = "https://deploy.example.test";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

/// Real workers (real `check_target`, events, `stop_deployment`) over a second, empty
/// database of their own: nothing claims the API's queue, so the cases see it as the API left
/// it and act as the worker themselves where they need one. (The pipeline always starts at
/// least one worker; its own tests and the end-to-end tests cover claiming.)
pub async fn idle_workers(data: &std::path::Path) -> Workers {
    let url = format!("sqlite://{}", data.join("workers-own.db").display());
    let own = Store::open(&url).await.unwrap();
    Workers::start(
        own,
        PipelineConfig {
            concurrency: 1,
            lease: Duration::from_secs(30),
            timeouts: PhaseTimeouts::default(),
            data_dir: data.to_owned(),
            engine: data.join("no-engine"),
            local: LocalConfig::default(),
            registry: None,
            git_token: None,
            insecure_registry: false,
            poll_interval: Duration::from_secs(60),
            kube_routing: None,
            reporting: None,
        },
    )
}

pub async fn ctx(db: Db) -> Ctx {
    let (store, guard) = fresh_store(db).await;
    let data = tempfile::tempdir().unwrap();
    let tokens = Tokens::new(store.clone(), SECRET, Duration::from_secs(3600));
    let mint = |scope: Scope, dep: Option<String>| {
        let tokens = tokens.clone();
        async move { tokens.mint(scope, None, dep).await.unwrap().token }
    };
    let admin = mint(Scope::Admin, None).await;
    let deploy = mint(Scope::Deploy, None).await;
    let read = mint(Scope::Read, None).await;
    // A report token is bound to a deployment that exists.
    let reporting = store.create_workspace("reporting").await.unwrap();
    let reporter = store
        .create_deployment(pipedreamer_store::NewDeployment {
            workspace_id: reporting.id,
            name: "reporter".into(),
            description: String::new(),
            repo: "file:///nonexistent".into(),
            branch: "main".into(),
            path: ".".into(),
            target: pipedreamer_store::Target::Local,
            auto_rebuild: false,
            subdomain: None,
            webhook_secret: "unused".into(),
        })
        .await
        .unwrap();
    let report = mint(Scope::Report, Some(reporter.id)).await;
    let workers = Arc::new(idle_workers(data.path()).await);
    let state = AppState::new(
        store.clone(),
        tokens.clone(),
        workers.clone(),
        Arc::new(Metrics::new()),
        PUBLIC_URL,
        [127, 0, 0, 1].into(),
    );
    Ctx {
        app: pipedreamer_server::router(state),
        store,
        tokens,
        admin,
        deploy,
        read,
        report,
        workers,
        _guard: guard,
        _data: data,
    }
}

/// A response, its body as text and (when it parses) JSON.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// Asserts the status, printing the body when it differs; returns the reply for the
    /// checks that follow.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Reply {
        assert_eq!(self.status, status, "{}", self.text);
        self
    }

    /// [`Reply::expect`] for a case in a loop: `case` names what was sent.
    #[track_caller]
    pub fn expect_for(self, status: StatusCode, case: impl std::fmt::Display) -> Reply {
        assert_eq!(self.status, status, "{case}: {}", self.text);
        self
    }

    /// The string field `key` of the JSON body (an id, usually); panics when it is missing.
    #[track_caller]
    pub fn field(&self, key: &str) -> String {
        match self.json[key].as_str() {
            Some(v) => v.to_owned(),
            None => panic!("no string `{key}` in {}", self.text),
        }
    }

    /// The `Content-Type` header; panics when there is none.
    #[track_caller]
    pub fn content_type(&self) -> &str {
        self.headers["content-type"].to_str().unwrap()
    }

    /// The `error` message of a refusal; panics when the body has none.
    #[track_caller]
    pub fn error(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error: {}", self.text))
    }
}

impl Ctx {
    pub fn request(&self, method: Method, path: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(path)
    }

    /// [`Ctx::request`] with `Authorization: Bearer <token>`, for requests the helpers below
    /// cannot express (odd headers, raw bodies).
    pub fn authorized(
        &self,
        method: Method,
        path: &str,
        token: &str,
    ) -> axum::http::request::Builder {
        self.request(method, path)
            .header("authorization", format!("Bearer {token}"))
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// A call with an optional token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.request(method, path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    /// `GET path` with `token`.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// `GET path` without a token: probes, `/metrics`, the OpenAPI document, unknown routes.
    pub async fn get_public(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, None).await
    }

    /// `POST path` with `token` and a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// `POST path` with `token` and no body: the actions (`/deploy`, `/stop`, `/cancel`).
    pub async fn post_empty(&self, path: &str, token: &str) -> Reply {
        self.call(Method::POST, path, Some(token), None).await
    }

    /// `PUT path` with `token` and a JSON body.
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// `PATCH path` with the admin token and a JSON body (only admins change deployments).
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(&self.admin), Some(body))
            .await
    }

    /// `DELETE path` with `token`.
    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /api/workspaces/{ws}/deployments` with the admin token: `body` as given, so a
    /// case can send one the server refuses.
    pub async fn create_deployment(&self, ws: &str, body: Value) -> Reply {
        self.post(
            &format!("/api/workspaces/{ws}/deployments"),
            &self.admin,
            body,
        )
        .await
    }

    /// `POST /api/deployments/{id}/deploy` with the deploy token: queues a manual build.
    pub async fn deploy_now(&self, deployment_id: &str) -> Reply {
        self.post_empty(
            &format!("/api/deployments/{deployment_id}/deploy"),
            &self.deploy,
        )
        .await
    }

    /// A push, ping or other event for `deployment_id`, signed with `secret` as GitHub signs.
    pub async fn deliver(
        &self,
        deployment_id: &str,
        secret: &str,
        event: &str,
        delivery: &str,
        body: &[u8],
    ) -> Reply {
        let signature = sign(secret, body);
        self.send(webhook(
            deployment_id,
            event,
            delivery,
            body.to_vec(),
            Some(signature),
        ))
        .await
    }

    pub async fn workspace(&self, name: &str) -> String {
        self.post("/api/workspaces", &self.admin, json!({ "name": name }))
            .await
            .expect(StatusCode::CREATED)
            .field("id")
    }

    /// A kubernetes deployment (no container engine needed to create one); returns its JSON.
    pub async fn deployment(&self, ws: &str, name: &str, extra: Value) -> Value {
        let mut body = json!({
            "name": name,
            "repo": "https://github.com/acme/orders.git",
            "target": {"type": "kubernetes", "namespace": "team-a", "registry": "registry.example.test"},
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.create_deployment(ws, body)
            .await
            .expect(StatusCode::CREATED)
            .json
    }

    /// The deployment most cases work on: `orders` (with `extra` fields) in a new workspace
    /// `team-a`, addressed by the workspace's id.
    pub async fn orders(&self, extra: Value) -> Orders {
        let ws = self.workspace("team-a").await;
        let json = self.deployment(&ws, "orders", extra).await;
        Orders {
            id: json["id"].as_str().unwrap().to_owned(),
            secret: json["webhook_secret"].as_str().unwrap().to_owned(),
            ws,
            json,
        }
    }
}

/// What [`Ctx::orders`] made.
pub struct Orders {
    /// The workspace's id.
    pub ws: String,
    /// The deployment's id.
    pub id: String,
    /// Its webhook secret (the admin token's view shows it).
    pub secret: String,
    /// The deployment as the create call answered.
    pub json: Value,
}

/// Acts as a pipeline worker named `worker`: claims the oldest pending build with a 30 s
/// lease; panics when there is none to claim.
pub async fn claim(store: &Store, worker: &str) -> pipedreamer_store::Build {
    store
        .claim_build(worker, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a pending build to claim")
}

/// `sha256=<hex>` of `body` under `secret`, as GitHub signs.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

/// A push payload for `branch` at `sha`.
pub fn push_payload(branch: &str, sha: &str, message: &str) -> Vec<u8> {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "before": "0000000000000000000000000000000000000000",
        "after": sha,
        "deleted": false,
        "head_commit": {"id": sha, "message": message},
        "repository": {"full_name": "acme/orders"},
    })
    .to_string()
    .into_bytes()
}

/// A webhook request.
pub fn webhook(
    deployment_id: &str,
    event: &str,
    delivery: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/deployments/{deployment_id}/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery);
    if let Some(s) = signature {
        req = req.header("x-hub-signature-256", s);
    }
    req.body(Body::from(body)).unwrap()
}

/// A 40-hex commit id made from `n`.
pub fn sha(n: u32) -> String {
    format!("{n:08x}{}", "a".repeat(32))
}
