//! Run records (issue 15): what deployed engines report and `pipedreamer dev` keeps.
//!
//! A record is stored whole, as the JSON of its [`RunRecord`] (so `GET /api/runs/:id` serves
//! exactly what the engine sent), next to copies of the fields the lists filter and order by.
//! Lists are newest first by `(started_at, id)` and paged with a cursor (the last run id of a
//! page): unlike an offset, it neither skips nor repeats runs while new ones arrive.
//!
//! A run belongs to a deployment (`deployment_id`, deleted with it) or to none (`dev`'s
//! `.pipedreamer/runs.db`).

use pipedreamer_runs::{IngestReply, RunRecord, RunStatus};
use sqlx::any::AnyRow;

use crate::error::{StoreError, Violation, violation};
use crate::rows;
use crate::{Result, Store, now_ms};

/// The most runs one [`Store::runs`] call returns.
pub const MAX_RUNS_LIMIT: u32 = 500;

/// The trigger kinds a [`RunFilter::trigger`] may name to match every trigger of that kind
/// (`cron` matches `cron:nightly`); the engine's trigger words.
const TRIGGER_KINDS: &[&str] = &["http", "webhook", "cron", "queue"];

/// Rows per `INSERT` statement of [`Store::insert_runs`]: 11 parameters each stays far below
/// both databases' parameter limits, and a few statements per batch instead of one per record
/// is what makes ingestion fast.
const INSERT_CHUNK: usize = 100;

/// Rows per `DELETE` statement of [`Store::delete_runs_before`]: a long retention backlog is
/// deleted in short write transactions, so ingestion is not held up behind one huge delete.
const DELETE_CHUNK: i64 = 5_000;

/// Which runs [`Store::runs`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFilter {
    /// Only this deployment's runs; `None`: every run.
    pub deployment_id: Option<String>,
    /// Only runs that ended this way.
    pub status: Option<RunStatus>,
    /// A kind (`http`|`webhook`|`cron`|`queue`) matches every trigger of that kind (`cron`
    /// matches `cron:nightly`); anything else matches the trigger exactly.
    pub trigger: Option<String>,
    /// Only runs with `started_at >= since` (unix ms).
    pub since: Option<i64>,
    /// Paging cursor: only runs older (in list order) than this run id. `Invalid` when no such
    /// run exists (e.g. retention deleted it): start again without it.
    pub before: Option<String>,
    /// At most this many runs, 1..=[`MAX_RUNS_LIMIT`].
    pub limit: u32,
}

impl Default for RunFilter {
    /// Every run, the first 50.
    fn default() -> Self {
        RunFilter {
            deployment_id: None,
            status: None,
            trigger: None,
            since: None,
            before: None,
            limit: 50,
        }
    }
}

/// One stored run and the deployment it was reported for (`None`: `dev`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    /// The deployment whose engine reported it.
    pub deployment_id: Option<String>,
    /// The record as reported.
    pub record: RunRecord,
}

/// `$n` placeholders numbered as the values are pushed, so the dynamic list query cannot put a
/// value under the wrong number.
#[derive(Default)]
struct Params {
    values: Vec<Param>,
}

enum Param {
    Text(String),
    Int(i64),
}

impl Params {
    fn text(&mut self, v: impl Into<String>) -> String {
        self.values.push(Param::Text(v.into()));
        format!("${}", self.values.len())
    }

    fn int(&mut self, v: i64) -> String {
        self.values.push(Param::Int(v));
        format!("${}", self.values.len())
    }

    fn bind<'q>(
        self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for v in self.values {
            q = match v {
                Param::Text(t) => q.bind(t),
                Param::Int(i) => q.bind(i),
            };
        }
        q
    }
}

/// The condition selecting one deployment's runs, or the runs of none for `None` (`dev`'s).
fn deployment_clause(deployment_id: Option<&str>, params: &mut Params) -> String {
    match deployment_id {
        Some(id) => format!("deployment_id = {}", params.text(id)),
        None => "deployment_id IS NULL".to_owned(),
    }
}

impl Store {
    /// Stores reported runs for `deployment_id` (`None`: no deployment, as `dev` does), in one
    /// transaction. A run whose id is already stored (a resend after a lost reply) is ignored
    /// and counted in [`IngestReply::duplicates`]; `NotFound` for an unknown deployment.
    pub async fn insert_runs(
        &self,
        deployment_id: Option<&str>,
        runs: &[RunRecord],
    ) -> Result<IngestReply> {
        if runs.is_empty() {
            return Ok(IngestReply::default());
        }
        let received_at = now_ms();
        let mut tx = self.begin_write().await?;
        let mut accepted = 0u64;
        for chunk in runs.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO runs (id, deployment_id, workflow, version, trigger_name, status, \
                 started_at, ended_at, replay_of, record, received_at) VALUES ",
            );
            for i in 0..chunk.len() {
                let n = i * 11;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                sql.push_str(
                    &(1..=11)
                        .map(|k| format!("${}", n + k))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                sql.push(')');
            }
            sql.push_str(" ON CONFLICT (id) DO NOTHING");
            let mut q = sqlx::query(&sql);
            for run in chunk {
                let json = serde_json::to_string(run).map_err(|e| StoreError::Invalid {
                    what: format!("run `{}` cannot be written as JSON: {e}", run.id),
                })?;
                q = q
                    .bind(run.id.clone())
                    .bind(deployment_id.map(str::to_owned))
                    .bind(run.workflow.clone())
                    .bind(run.version.clone())
                    .bind(run.trigger.clone())
                    .bind(run.status.as_str())
                    .bind(run.started_at)
                    .bind(run.ended_at)
                    .bind(run.replay_of.clone())
                    .bind(json)
                    .bind(received_at);
            }
            match q.execute(&mut *tx).await {
                Ok(done) => accepted += done.rows_affected(),
                Err(e) => {
                    return Err(match violation(&e) {
                        Some(Violation::ForeignKey) => StoreError::NotFound {
                            what: "deployment",
                            id: deployment_id.unwrap_or_default().to_owned(),
                        },
                        _ => e.into(),
                    });
                }
            }
        }
        tx.commit().await?;
        Ok(IngestReply {
            accepted,
            duplicates: runs.len() as u64 - accepted,
        })
    }

    /// The runs `filter` selects, newest first (by `started_at`, then id). `Invalid` for a
    /// limit outside 1..=[`MAX_RUNS_LIMIT`] or a `before` cursor naming no stored run.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        if !(1..=MAX_RUNS_LIMIT).contains(&filter.limit) {
            return Err(StoreError::Invalid {
                what: format!(
                    "limit: {} is out of range; ask for 1 to {MAX_RUNS_LIMIT} runs per page",
                    filter.limit
                ),
            });
        }
        let mut params = Params::default();
        let mut conditions = Vec::new();
        if let Some(id) = &filter.deployment_id {
            conditions.push(deployment_clause(Some(id), &mut params));
        }
        if let Some(status) = filter.status {
            conditions.push(format!("status = {}", params.text(status.as_str())));
        }
        if let Some(trigger) = &filter.trigger {
            if TRIGGER_KINDS.contains(&trigger.as_str()) {
                let exact = params.text(trigger.as_str());
                let prefix = params.text(format!("{trigger}:%"));
                conditions.push(format!(
                    "(trigger_name = {exact} OR trigger_name LIKE {prefix})"
                ));
            } else {
                conditions.push(format!("trigger_name = {}", params.text(trigger.as_str())));
            }
        }
        if let Some(since) = filter.since {
            conditions.push(format!("started_at >= {}", params.int(since)));
        }
        if let Some(before) = &filter.before {
            let cursor = sqlx::query("SELECT started_at FROM runs WHERE id = $1")
                .bind(before)
                .fetch_optional(self.pool())
                .await?;
            let Some(cursor) = cursor else {
                return Err(StoreError::Invalid {
                    what: format!(
                        "before: run `{before}` does not exist (retention may have deleted it); \
                         list again without `before`"
                    ),
                });
            };
            let started = params.int(rows::int(&cursor, "started_at")?);
            let id = params.text(before.as_str());
            conditions.push(format!(
                "(started_at < {started} OR (started_at = {started} AND id < {id}))"
            ));
        }
        let limit = params.int(i64::from(filter.limit));
        let condition = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT id, record FROM runs{condition} ORDER BY started_at DESC, id DESC LIMIT {limit}"
        );
        params
            .bind(sqlx::query(&sql))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(record)
            .collect()
    }

    /// One run; `NotFound { what: "run" }` for an unknown id.
    pub async fn run(&self, id: &str) -> Result<StoredRun> {
        let row = sqlx::query("SELECT id, deployment_id, record FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "run",
                id: id.to_owned(),
            })?;
        Ok(StoredRun {
            deployment_id: rows::opt_text(&row, "deployment_id")?,
            record: record(&row)?,
        })
    }

    /// Deletes every run (of any deployment, or none) that started before `cutoff_ms` (unix
    /// ms); how many went. Deletes in chunks, each its own short write.
    pub async fn delete_runs_before(&self, cutoff_ms: i64) -> Result<u64> {
        let mut deleted = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM runs WHERE id IN \
                 (SELECT id FROM runs WHERE started_at < $1 LIMIT $2)",
            )
            .bind(cutoff_ms)
            .bind(DELETE_CHUNK)
            .execute(self.writer())
            .await?;
            deleted += done.rows_affected();
            if done.rows_affected() < DELETE_CHUNK as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Keeps only the `n` newest runs of `deployment_id` (`None`: the runs of no deployment,
    /// `dev`'s), deleting the older ones; how many went.
    pub async fn keep_latest_runs(&self, deployment_id: Option<&str>, n: u64) -> Result<u64> {
        let mut params = Params::default();
        let which = deployment_clause(deployment_id, &mut params);
        let offset = params.int(i64::try_from(n).unwrap_or(i64::MAX));
        // The (n+1)-th newest run and every older one go; with fewer runs the subquery is
        // empty, the comparison NULL, and nothing is deleted.
        let sql = format!(
            "DELETE FROM runs WHERE {which} AND (started_at, id) <= \
             (SELECT started_at, id FROM runs WHERE {which} \
              ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET {offset})"
        );
        let done = params
            .bind(sqlx::query(&sql))
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}

/// The record of a row with `id` and `record` columns.
fn record(row: &AnyRow) -> Result<RunRecord> {
    let json = rows::text(row, "record")?;
    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
        column: "runs.record",
        value: pipedreamer_runs::cut(&json, 200),
        reason: format!("run `{}`: {e}", rows::text(row, "id").unwrap_or_default()),
    })
}
