//! The control plane's database: workspaces, deployments and their secrets, the build queue
//! and history, build logs, API tokens, and run records (also `pipedreamer dev`'s `runs.db`).
//!
//! One [`Store`] over `sqlx` Any pools: SQLite by default (one file under the data dir, WAL,
//! one writer connection and a few readers), PostgreSQL for teams and several server replicas. Both run the same schema
//! and the same SQL text; the embedded migrations are applied by [`Store::open`] (on
//! PostgreSQL under sqlx's advisory lock, so replicas starting together migrate once).
//!
//! The database is the build queue: no broker. Its invariants live in the schema, so they hold
//! whatever the number of servers: a unique index on `builds.delivery_id` (a GitHub delivery
//! makes one build), and partial unique indexes allowing one `PENDING` and one `BUILDING`
//! build per deployment. [`Store::enqueue_build`] supersedes a still-pending build in the same
//! transaction and retries when a racing enqueue wins an index; [`Store::claim_build`] moves
//! the oldest claimable build to `BUILDING` in one statement (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, SQLite's single writer), and workers hold a lease that a crashed server's
//! successor turns into `FAILED`.

mod deployments;
mod error;
mod logs;
mod model;
mod queue;
mod rows;
mod runs;
mod tokens;
mod workspaces;

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, Transaction};

pub use error::StoreError;
pub use model::{
    Build, BuildOutcome, BuildStatus, Deployment, DeploymentPatch, DeploymentStatus, Enqueued,
    LeaseState, LogChunk, NewBuild, NewDeployment, Scope, Target, TokenRecord, Trigger, Workspace,
};
pub use queue::{CANCELLED_BY_USER, INTERRUPTED};
pub use runs::{MAX_RUNS_LIMIT, RunFilter, StoredRun};
pub use tokens::token_hash;

/// Results of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file: one server.
    Sqlite,
    /// A PostgreSQL database: one or several servers.
    Postgres,
}

/// The control plane's database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads (and, on PostgreSQL, everything).
    pool: AnyPool,
    /// Writes. On SQLite one connection: writers queue here in order instead of meeting at the
    /// file lock, where SQLite's busy handler would make them sleep and poll.
    writer: AnyPool,
    backend: Backend,
}

/// How to write a database URL, for errors about one.
const URL_HINT: &str =
    "use `sqlite:///absolute/path/pipedreamer.db` or `postgres://user:password@host:5432/database`";

/// Connections per process. SQLite: one writer (the file has one anyway) and a few readers,
/// each with its own page cache, so few; PostgreSQL connections are server processes, so a
/// modest number per replica.
const SQLITE_READERS: u32 = 3;
const POSTGRES_CONNECTIONS: u32 = 8;

/// Per-connection SQLite settings: WAL lets readers run beside the writer; a writer waits up
/// to 5 s for the lock instead of failing; foreign keys make deletes cascade; NORMAL sync is
/// durable across a process crash (the case the lease handling is for).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

impl Store {
    /// Opens (and creates, for SQLite) the database at `url` and applies the migrations.
    ///
    /// `sqlite:///abs/path.db` (also `sqlite:relative.db`) creates the file and its parent
    /// directory; `postgres://user:password@host:port/db` (or `postgresql://`) connects to an
    /// existing database.
    pub async fn open(url: &str) -> Result<Store> {
        install_default_drivers();
        let (backend, connect_url) = connection_url(url)?;
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                // The writer first: it creates the file and switches it to WAL.
                let writer = connect(&connect_url, backend, 1).await?;
                (
                    connect(&connect_url, backend, SQLITE_READERS).await?,
                    writer,
                )
            }
            Backend::Postgres => {
                let pool = connect(&connect_url, backend, POSTGRES_CONNECTIONS).await?;
                (pool.clone(), pool)
            }
        };
        Migrator::new(EmbeddedMigrations)
            .await?
            .run(&writer)
            .await?;
        Ok(Store {
            pool,
            writer,
            backend,
        })
    }

    /// The database behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; the store answers errors afterwards.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): sqlx's plain `begin()` is DEFERRED there, and a deferred transaction that
    /// reads and then writes can fail with SQLITE_BUSY_SNAPSHOT instead of waiting.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }

    /// The pool for statements that only read.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for statements that write.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }
}

/// A pool of at most `max` connections, idle ones closed after a minute (an idle server keeps
/// little memory), SQLite connections set up with [`SQLITE_PRAGMAS`].
async fn connect(url: &str, backend: Backend, max: u32) -> Result<AnyPool> {
    let is_sqlite = backend == Backend::Sqlite;
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .idle_timeout(Some(Duration::from_secs(60)))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if is_sqlite {
                    conn.execute(SQLITE_PRAGMAS).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A duration in milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A new time-ordered id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Which backend a URL names, and the URL sqlx should connect with (SQLite: the file is
/// created, with its parent directory).
fn connection_url(url: &str) -> Result<(Backend, String)> {
    let bad = |reason: &str| StoreError::BadUrl {
        url: mask_password(url),
        reason: reason.to_owned(),
        hint: URL_HINT,
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(bad(
            "only `sqlite:` and `postgres:` databases are supported",
        ));
    };
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(bad(
            "the SQLite database must be a file (an in-memory database is lost with its connection)",
        ));
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            bad(&format!(
                "cannot create the directory `{}`: {e}",
                parent.display()
            ))
        })?;
    }
    // sqlx percent-decodes the path; keep `%`, `?` and `#` in file names literal.
    let encoded = path
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    let mut params: Vec<&str> = params.split('&').filter(|p| !p.is_empty()).collect();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc");
    }
    Ok((
        Backend::Sqlite,
        format!("sqlite://{encoded}?{}", params.join("&")),
    ))
}

/// The URL with the password (if any) replaced by `***`, for messages.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The migrations, compiled into the binary (sqlx's `migrate!` would need its macros crate).
#[derive(Debug)]
struct EmbeddedMigrations;

/// `(version, description, sql)`, in order. Never edit an applied one: add the next.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "ended sessions",
        include_str!("../migrations/0002_ended_sessions.sql"),
    ),
    (3, "runs", include_str!("../migrations/0003_runs.sql")),
];

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = std::result::Result<Vec<Migration>, sqlx::error::BoxDynError>,
                > + Send
                + 's,
        >,
    > {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_become_files_created_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/p.db");
        let (backend, url) = connection_url(&format!("sqlite://{}", path.display())).unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert_eq!(url, format!("sqlite://{}?mode=rwc", path.display()));
        assert!(path.parent().unwrap().is_dir());
        let (_, url) = connection_url(&format!("sqlite:{}?mode=ro", path.display())).unwrap();
        assert_eq!(url, format!("sqlite://{}?mode=ro", path.display()));
    }

    #[test]
    fn unsupported_urls_say_what_works_without_the_password() {
        let err = connection_url("mysql://root:hunter2@db/x").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("root:***@db/x"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(err.hint().unwrap().contains("sqlite:///"));
        assert!(connection_url("sqlite::memory:").is_err());
    }
}
