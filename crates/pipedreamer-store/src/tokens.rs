//! API tokens: the server mints JWTs; the store keeps their ids, scopes, expiry, revocation and
//! the SHA-256 of the token text, never the token.

use sha2::{Digest, Sha256};

use crate::deployments::found;
use crate::error::{StoreError, Violation, violation};
use crate::rows::{self, token_columns};
use crate::{Result, Store, TokenRecord, now_ms};

/// Lower-case hex SHA-256 of a token, as stored in [`TokenRecord::token_hash`].
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Records a minted token. `Conflict` for an id already recorded; `NotFound` for a
    /// `deployment_id` that does not exist.
    pub async fn insert_token(&self, t: &TokenRecord) -> Result<()> {
        let inserted = sqlx::query(concat!(
            "INSERT INTO api_tokens (",
            token_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&t.id)
        .bind(t.scope.as_str())
        .bind(&t.deployment_id)
        .bind(&t.token_hash)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(i64::from(t.revoked))
        .execute(self.writer())
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) => Err(match violation(&e) {
                Some(Violation::Unique(_)) => StoreError::Conflict {
                    what: format!("a token with id `{}` already exists", t.id),
                },
                Some(Violation::ForeignKey) => StoreError::NotFound {
                    what: "deployment",
                    id: t.deployment_id.clone().unwrap_or_default(),
                },
                None => e.into(),
            }),
        }
    }

    /// Every recorded token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(rows::token)
        .collect()
    }

    /// Revokes a token; `NotFound` for an unknown id. Revoking twice is fine.
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        let done = sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await?;
        found(done.rows_affected(), "token", id)
    }

    /// Ends a dashboard session (`sid`) that would last until `expires_at` (unix seconds):
    /// [`Store::session_ended`] says so from now on, on every replica. Ending it twice is fine;
    /// rows of sessions past their expiry go at the same time.
    pub async fn end_session(&self, sid: &str, expires_at: i64) -> Result<()> {
        let now = now_ms() / 1000;
        sqlx::query("DELETE FROM ended_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(self.writer())
            .await?;
        sqlx::query(
            "INSERT INTO ended_sessions (sid, expires_at) VALUES ($1, $2) ON CONFLICT (sid) DO NOTHING",
        )
        .bind(sid)
        .bind(expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Whether the dashboard session `sid` was ended by signing out.
    pub async fn session_ended(&self, sid: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS ended FROM ended_sessions WHERE sid = $1")
            .bind(sid)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Whether a token id must be refused: revoked, or unknown (a token this database never
    /// recorded, e.g. one whose deployment was deleted).
    pub async fn token_revoked(&self, id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT revoked FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => rows::flag(&row, "revoked"),
            None => Ok(true),
        }
    }
}
