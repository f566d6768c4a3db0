//! Runs one test body against SQLite and against PostgreSQL, each in a fresh database that is
//! removed afterwards (also when the body panics).

use std::future::Future;

use pipedreamer_store::{Deployment, NewBuild, NewDeployment, Store, Target, Trigger};
use sqlx::{Connection, Executor};

/// The variable naming the PostgreSQL server the tests create their databases on.
const POSTGRES_VAR: &str = "PIPEDREAMER_TEST_POSTGRES";

/// Which database a test body runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh database for one test: `open` gives a new `Store` (a new "server") on it.
pub(crate) struct TestDb {
    pub(crate) url: String,
    pub(crate) kind: Kind,
    // Keeps the SQLite file's directory alive.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub(crate) async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .expect("open the test database")
    }
}

/// Declares each test twice, `sqlite::name` and `postgres::name`, over one body.
#[macro_export]
macro_rules! both_backends {
    ($( $(#[$meta:meta])* async fn $name:ident($db:ident) $body:block )*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    common::run(common::Kind::Sqlite, |$db| async move $body).await
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    common::run(common::Kind::Postgres, |$db| async move $body).await
                }
            )*
        }
    };
}

/// Makes the database, runs the body in its own task (so a panic still reaches the cleanup),
/// drops the database, then re-raises the body's panic.
pub(crate) async fn run<F, Fut>(kind: Kind, body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    sqlx::any::install_default_drivers();
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!(
                "sqlite://{}/control-plane/pipedreamer.db",
                dir.path().display()
            );
            let db = TestDb {
                url,
                kind,
                _dir: Some(dir),
            };
            if let Err(e) = tokio::spawn(body(db)).await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        Kind::Postgres => {
            let Some(admin_url) = postgres_url() else {
                eprintln!("{POSTGRES_VAR}=skip: not running the PostgreSQL half");
                return;
            };
            let name = format!("pipedreamer_test_{}", uuid::Uuid::now_v7().simple());
            let mut admin = sqlx::AnyConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("connect to {POSTGRES_VAR} ({admin_url}): {e}"));
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            let db = TestDb {
                url: with_database(&admin_url, &name),
                kind,
                _dir: None,
            };
            let outcome = tokio::spawn(body(db)).await;
            // WITH (FORCE): a store still open in a panicked body must not keep the database.
            admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await
                .unwrap();
            if let Err(e) = outcome {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

/// The admin URL, or `None` for `skip`; unset fails the test with how to set it.
pub(crate) fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_VAR) {
        Ok(v) if v == "skip" => None,
        Ok(v) if !v.is_empty() => Some(v),
        _ => panic!(
            "{POSTGRES_VAR} is not set: the store's tests run on PostgreSQL too. Run \
             `scripts/test.sh` (it installs and starts PostgreSQL and sets it), or set \
             {POSTGRES_VAR}=postgres://pipedreamer:pipedreamer@127.0.0.1:5432/postgres for a \
             server where that role may create databases; {POSTGRES_VAR}=skip runs SQLite only"
        ),
    }
}

/// `postgres://u:p@h:port/db?x` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

/// A workspace and a `local` deployment in it.
pub(crate) async fn deployment(store: &Store, name: &str) -> Deployment {
    let workspace = match store.workspace("team").await {
        Ok(w) => w,
        Err(_) => store.create_workspace("team").await.unwrap(),
    };
    store
        .create_deployment(new_deployment(&workspace.id, name))
        .await
        .unwrap()
}

pub(crate) fn new_deployment(workspace_id: &str, name: &str) -> NewDeployment {
    NewDeployment {
        workspace_id: workspace_id.to_owned(),
        name: name.to_owned(),
        description: String::new(),
        repo: "file:///srv/repo".to_owned(),
        branch: "main".to_owned(),
        path: ".".to_owned(),
        target: Target::Local,
        auto_rebuild: true,
        subdomain: None,
        webhook_secret: "s3cr3t".to_owned(),
    }
}

/// A webhook build request of `commit`.
pub(crate) fn push(commit: &str, delivery: Option<&str>) -> NewBuild {
    NewBuild {
        commit_hash: Some(commit.to_owned()),
        commit_message: Some(format!("commit {commit}")),
        branch: "main".to_owned(),
        triggered_by: Trigger::Webhook,
        delivery_id: delivery.map(str::to_owned),
    }
}

/// A 40-hex-digit commit hash made from `n`.
pub(crate) fn sha(n: u32) -> String {
    format!("{n:08x}{}", "c0ffee".repeat(6))
        .chars()
        .take(40)
        .collect()
}
