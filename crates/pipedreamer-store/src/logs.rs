//! Build logs: append-only chunks numbered 1, 2, 3… per build.

use std::time::Duration;

use crate::error::{StoreError, Violation, is_retryable, violation};
use crate::rows;
use crate::{LogChunk, Result, Store, now_ms};

/// Retries for an append that raced another append of the same build to the same number.
const APPEND_ATTEMPTS: u32 = 16;

impl Store {
    /// Appends a chunk to a build's log; its sequence number (1 for the first). The number is
    /// chosen by the insert itself, so concurrent appenders never overwrite each other (a
    /// collision on the primary key is retried with the next number).
    pub async fn append_log(&self, build_id: &str, text: &str) -> Result<i64> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let appended = sqlx::query(
                "INSERT INTO build_logs (build_id, seq, text, created_at) \
                 SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM build_logs WHERE build_id = $1 \
                 RETURNING seq",
            )
            .bind(build_id)
            .bind(text)
            .bind(now_ms())
            .fetch_one(self.writer())
            .await;
            match appended {
                Ok(row) => return rows::int(&row, "seq"),
                Err(e) if matches!(violation(&e), Some(Violation::ForeignKey)) => {
                    return Err(StoreError::NotFound {
                        what: "build",
                        id: build_id.to_owned(),
                    });
                }
                Err(e) if is_retryable(&e) && attempt < APPEND_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The chunks of a build's log numbered after `after_seq` (0: all), in order.
    pub async fn logs_after(&self, build_id: &str, after_seq: i64) -> Result<Vec<LogChunk>> {
        sqlx::query(
            "SELECT seq, text, created_at FROM build_logs \
             WHERE build_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(build_id)
        .bind(after_seq)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(rows::log_chunk)
        .collect()
    }
}
