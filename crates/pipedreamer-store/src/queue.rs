//! Builds: the queue and the history in one table.
//!
//! Invariants, held by the schema's indexes on both backends: one build per GitHub delivery,
//! at most one `PENDING` and one `BUILDING` build per deployment. The functions here keep to
//! them without locks in the application, so several servers can share one PostgreSQL.

use std::time::Duration;

use sqlx::any::AnyRow;

use crate::error::{StoreError, Violation, is_retryable, violation};
use crate::rows::{self, build_columns};
use crate::{
    Backend, Build, BuildOutcome, BuildStatus, Enqueued, LeaseState, NewBuild, Result, Store, ms,
    new_id, now_ms,
};

/// How often `enqueue_build` retries a transaction that lost a race to another enqueue. Each
/// loss means another enqueue of the same deployment committed, so this bounds the number of
/// simultaneous requests for one deployment a caller can lose to (far above GitHub's rate).
const ENQUEUE_ATTEMPTS: u32 = 64;

/// The message of a build that was building when its server went away.
pub const INTERRUPTED: &str = "interrupted: the server stopped during the build";

/// The message of a pending build a user cancelled.
pub const CANCELLED_BY_USER: &str = "cancelled by a user";

impl Store {
    /// Queues a build of a deployment, in one transaction:
    /// - a `delivery_id` seen before answers `Duplicate` with the id of the build it made;
    /// - a still-`PENDING` build of the deployment becomes `CANCELLED`, "superseded by <the
    ///   new commit's first 12 characters>" (or "by a newer request" without a commit);
    /// - the new build is inserted `PENDING`.
    ///
    /// Racing enqueues (several webhooks at once, several servers) are resolved by the unique
    /// indexes: the loser's transaction rolls back and is retried, so a race never fails the
    /// caller and a delivery never makes two builds. `created_at` grows with commit order per
    /// deployment, so the pending build is always the newest request.
    pub async fn enqueue_build(&self, deployment_id: &str, new: NewBuild) -> Result<Enqueued> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_enqueue(deployment_id, &new).await {
                Ok(enqueued) => return Ok(enqueued),
                Err(StoreError::Database(e)) if is_retryable(&e) && attempt < ENQUEUE_ATTEMPTS => {
                    tracing::debug!(deployment_id, attempt, "enqueue lost a race; retrying");
                    // A little jitter so the losers of one race do not collide again.
                    let jitter = u64::from(uuid::Uuid::now_v7().as_bytes()[15] % 8);
                    tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_enqueue(&self, deployment_id: &str, new: &NewBuild) -> Result<Enqueued> {
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            // Enqueues of one deployment take turns on its row instead of racing to the
            // `builds_one_pending` index and retrying (SQLite: BEGIN IMMEDIATE already did).
            // NO KEY: inserts elsewhere that only reference the deployment are not blocked.
            let locked = sqlx::query("SELECT id FROM deployments WHERE id = $1 FOR NO KEY UPDATE")
                .bind(deployment_id)
                .fetch_optional(&mut *tx)
                .await?;
            if locked.is_none() {
                return Err(StoreError::NotFound {
                    what: "deployment",
                    id: deployment_id.to_owned(),
                });
            }
        }
        if let Some(delivery_id) = &new.delivery_id {
            let seen = sqlx::query("SELECT id FROM builds WHERE delivery_id = $1")
                .bind(delivery_id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = seen {
                return Ok(Enqueued::Duplicate(rows::text(&row, "id")?));
            }
        }
        let now = now_ms();
        let reason = match &new.commit_hash {
            Some(sha) => format!("superseded by {}", sha.chars().take(12).collect::<String>()),
            None => "superseded by a newer request".to_owned(),
        };
        sqlx::query(
            "UPDATE builds SET status = 'CANCELLED', error_message = $2, completed_at = $3 \
             WHERE deployment_id = $1 AND status = 'PENDING'",
        )
        .bind(deployment_id)
        .bind(&reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Later than every build of the deployment, so "newest" is also "last committed".
        let latest = sqlx::query(
            "SELECT COALESCE(MAX(created_at), 0) AS latest FROM builds WHERE deployment_id = $1",
        )
        .bind(deployment_id)
        .fetch_one(&mut *tx)
        .await?;
        let created_at = now.max(rows::int(&latest, "latest")? + 1);
        let inserted = sqlx::query(concat!(
            "INSERT INTO builds (id, deployment_id, status, commit_hash, commit_message, branch, ",
            "triggered_by, delivery_id, cancel_requested, created_at) ",
            "VALUES ($1, $2, 'PENDING', $3, $4, $5, $6, $7, 0, $8) RETURNING ",
            build_columns!()
        ))
        .bind(new_id())
        .bind(deployment_id)
        .bind(&new.commit_hash)
        .bind(&new.commit_message)
        .bind(&new.branch)
        .bind(new.triggered_by.as_str())
        .bind(&new.delivery_id)
        .bind(created_at)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) if matches!(violation(&e), Some(Violation::ForeignKey)) => {
                return Err(StoreError::NotFound {
                    what: "deployment",
                    id: deployment_id.to_owned(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let build = rows::build(&row)?;
        tx.commit().await?;
        Ok(Enqueued::Created(build))
    }

    /// Claims the oldest `PENDING` build whose deployment has no `BUILDING` one: it becomes
    /// `BUILDING`, started now, leased to `worker_id` for `lease`. `None` when nothing is
    /// claimable.
    ///
    /// One statement on both backends. PostgreSQL locks the candidate with `FOR UPDATE SKIP
    /// LOCKED`, so concurrent claimers (other servers) take different builds instead of
    /// waiting; SQLite runs a writing statement under its single write lock from the start. In
    /// both the `builds_one_building` index is the last guard: a claim that would make a second
    /// `BUILDING` build fails and is retried.
    pub async fn claim_build(&self, worker_id: &str, lease: Duration) -> Result<Option<Build>> {
        const ATTEMPTS: u32 = 8;
        let sql = match self.backend() {
            Backend::Postgres => CLAIM_POSTGRES,
            Backend::Sqlite => CLAIM_SQLITE,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = now_ms();
            let claimed = sqlx::query(sql)
                .bind(worker_id)
                .bind(now)
                .bind(now.saturating_add(ms(lease)))
                .fetch_optional(self.writer())
                .await;
            match claimed {
                Ok(row) => return row.as_ref().map(rows::build).transpose(),
                Err(e) if is_retryable(&e) && attempt < ATTEMPTS => {
                    tracing::debug!(worker_id, attempt, "claim lost a race; retrying");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Extends the lease of a build this worker holds. `Cancelled` when a user asked to cancel
    /// it (the lease is still extended, so the worker can stop cleanly); `Lost` when the build
    /// is not this worker's `BUILDING` build anymore.
    pub async fn renew_lease(
        &self,
        build_id: &str,
        worker_id: &str,
        lease: Duration,
    ) -> Result<LeaseState> {
        let row = sqlx::query(
            "UPDATE builds SET lease_until = $3 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'BUILDING' \
             RETURNING cancel_requested",
        )
        .bind(build_id)
        .bind(worker_id)
        .bind(now_ms().saturating_add(ms(lease)))
        .fetch_optional(self.writer())
        .await?;
        Ok(match row {
            None => LeaseState::Lost,
            Some(row) if rows::flag(&row, "cancel_requested")? => LeaseState::Cancelled,
            Some(_) => LeaseState::Held,
        })
    }

    /// Ends a build this worker holds. `false` when the lease was lost (someone else ended
    /// it); `Invalid` for an outcome that is not a finished status.
    pub async fn finish_build(
        &self,
        build_id: &str,
        worker_id: &str,
        outcome: BuildOutcome,
    ) -> Result<bool> {
        if !outcome.status.is_finished() {
            return Err(StoreError::Invalid {
                what: format!(
                    "status: a build ends `SUCCESS`, `FAILED` or `CANCELLED`, not `{}`",
                    outcome.status
                ),
            });
        }
        let done = sqlx::query(
            "UPDATE builds SET status = $3, image = $4, image_digest = $5, error_message = $6, \
             completed_at = $7, lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2 AND status = 'BUILDING'",
        )
        .bind(build_id)
        .bind(worker_id)
        .bind(outcome.status.as_str())
        .bind(outcome.image)
        .bind(outcome.image_digest)
        .bind(outcome.error_message)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records the commit a build resolved (a manual build of a branch head learns it only when
    /// its worker fetches). Only a `BUILDING` build held by `worker_id` changes.
    pub async fn set_build_commit(
        &self,
        build_id: &str,
        worker_id: &str,
        commit_hash: &str,
        commit_message: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE builds SET commit_hash = $3, commit_message = $4 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'BUILDING'",
        )
        .bind(build_id)
        .bind(worker_id)
        .bind(commit_hash)
        .bind(commit_message)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Cancels a build: a `PENDING` one ends `CANCELLED` now; a `BUILDING` one gets
    /// `cancel_requested` (its worker sees it at the next lease renewal and stops the phase).
    /// `Conflict` for a build that already finished.
    pub async fn request_cancel(&self, build_id: &str) -> Result<Build> {
        let cancelled = sqlx::query(concat!(
            "UPDATE builds SET status = 'CANCELLED', error_message = $2, completed_at = $3 ",
            "WHERE id = $1 AND status = 'PENDING' RETURNING ",
            build_columns!()
        ))
        .bind(build_id)
        .bind(CANCELLED_BY_USER)
        .bind(now_ms())
        .fetch_optional(self.writer())
        .await?;
        if let Some(row) = cancelled {
            return rows::build(&row);
        }
        // Not pending (anymore): a worker may have claimed it since; ask that worker.
        let requested = sqlx::query(concat!(
            "UPDATE builds SET cancel_requested = 1 WHERE id = $1 AND status = 'BUILDING' ",
            "RETURNING ",
            build_columns!()
        ))
        .bind(build_id)
        .fetch_optional(self.writer())
        .await?;
        if let Some(row) = requested {
            return rows::build(&row);
        }
        let build = self.build(build_id).await?;
        Err(StoreError::Conflict {
            what: format!(
                "build `{build_id}` already finished (`{}`); only a pending or building build can be cancelled",
                build.status
            ),
        })
    }

    /// Ends every `BUILDING` build whose lease ran out as `FAILED` ("interrupted: …"); the ids.
    /// Run at start and periodically: a server that died mid-build leaves nothing `BUILDING`.
    pub async fn fail_expired_leases(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE builds SET status = 'FAILED', error_message = $1, completed_at = $2, \
             lease_owner = NULL, lease_until = NULL \
             WHERE status = 'BUILDING' AND lease_until < $2 RETURNING id",
        )
        .bind(INTERRUPTED)
        .bind(now_ms())
        .fetch_all(self.writer())
        .await?;
        ids(&rows)
    }

    /// Ends every `BUILDING` build as `FAILED` ("interrupted: …"), leases or not; the ids.
    /// Only for SQLite at start: one server owns the file, so nothing can still be building.
    pub async fn fail_all_building(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE builds SET status = 'FAILED', error_message = $1, completed_at = $2, \
             lease_owner = NULL, lease_until = NULL WHERE status = 'BUILDING' RETURNING id",
        )
        .bind(INTERRUPTED)
        .bind(now_ms())
        .fetch_all(self.writer())
        .await?;
        ids(&rows)
    }

    /// A deployment's builds, newest first, at most `limit`; `before` (a build id) pages: only
    /// builds older than that one.
    pub async fn builds(
        &self,
        deployment_id: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<Build>> {
        let rows = match before {
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    build_columns!(),
                    " FROM builds WHERE deployment_id = $1",
                    " ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(deployment_id)
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?
            }
            Some(before) => {
                let cursor = self.build(before).await?;
                sqlx::query(concat!(
                    "SELECT ",
                    build_columns!(),
                    " FROM builds WHERE deployment_id = $1",
                    " AND (created_at < $2 OR (created_at = $2 AND id < $3))",
                    " ORDER BY created_at DESC, id DESC LIMIT $4"
                ))
                .bind(deployment_id)
                .bind(cursor.created_at)
                .bind(cursor.id)
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(rows::build).collect()
    }

    /// One build.
    pub async fn build(&self, id: &str) -> Result<Build> {
        let row = sqlx::query(concat!(
            "SELECT ",
            build_columns!(),
            " FROM builds WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => rows::build(&row),
            None => Err(StoreError::NotFound {
                what: "build",
                id: id.to_owned(),
            }),
        }
    }

    /// How many builds wait for a worker.
    pub async fn queue_depth(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM builds WHERE status = 'PENDING'")
            .fetch_one(self.pool())
            .await?;
        rows::int(&row, "n")
    }

    /// The number of builds in each status (every status, zeros included).
    pub async fn build_counts(&self) -> Result<Vec<(BuildStatus, i64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM builds GROUP BY status")
            .fetch_all(self.pool())
            .await?;
        let mut counts: Vec<(BuildStatus, i64)> =
            BuildStatus::ALL.iter().map(|&s| (s, 0)).collect();
        for row in &rows {
            let status: BuildStatus = rows::word(row, "status")?;
            let n = rows::int(row, "n")?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == status) {
                slot.1 = n;
            }
        }
        Ok(counts)
    }
}

/// The claim statement, with the row-lock clause of its backend after the candidate query.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE builds SET status = 'BUILDING', started_at = $2, lease_owner = $1, ",
            "lease_until = $3 WHERE id = (SELECT b.id FROM builds b WHERE b.status = 'PENDING' ",
            "AND NOT EXISTS (SELECT 1 FROM builds r WHERE r.deployment_id = b.deployment_id ",
            "AND r.status = 'BUILDING') ORDER BY b.created_at, b.id LIMIT 1",
            $lock,
            ") AND status = 'PENDING' RETURNING ",
            build_columns!()
        )
    };
}

/// PostgreSQL locks the candidate row and skips rows other claimers hold.
const CLAIM_POSTGRES: &str = claim_sql!(" FOR UPDATE OF b SKIP LOCKED");

/// SQLite has no row locks: the statement holds the database's write lock from its first step.
const CLAIM_SQLITE: &str = claim_sql!("");

fn ids(rows: &[AnyRow]) -> Result<Vec<String>> {
    rows.iter().map(|row| rows::text(row, "id")).collect()
}
