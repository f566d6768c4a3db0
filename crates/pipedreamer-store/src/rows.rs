//! Reading rows back into the model: one column list and one decoder per record, shared by
//! every query that returns it.

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Result;
use crate::error::StoreError;
use crate::model::{Build, Deployment, LogChunk, Target, TokenRecord, Workspace};

/// The columns `workspace` reads, in `SELECT` form.
macro_rules! workspace_columns {
    () => {
        "id, name, created_at"
    };
}

/// The columns `deployment` reads (never the secrets).
macro_rules! deployment_columns {
    () => {
        "id, workspace_id, name, description, repo, branch, path, target, auto_rebuild, \
         subdomain, webhook_secret, status, current_build_id, local_port, created_at, updated_at"
    };
}

/// The columns `build` reads.
macro_rules! build_columns {
    () => {
        "id, deployment_id, status, commit_hash, commit_message, branch, triggered_by, \
         delivery_id, image, image_digest, error_message, cancel_requested, created_at, \
         started_at, completed_at"
    };
}

/// The columns `token` reads.
macro_rules! token_columns {
    () => {
        "id, scope, deployment_id, token_hash, created_at, expires_at, revoked"
    };
}

pub(crate) use {build_columns, deployment_columns, token_columns, workspace_columns};

pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(column)?)
}

pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

pub(crate) fn int(row: &AnyRow, column: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(column)?)
}

pub(crate) fn opt_int(row: &AnyRow, column: &str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(column)?)
}

/// Booleans are BIGINT 0/1 on both backends (the Any driver has no common boolean column).
pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool> {
    Ok(int(row, column)? != 0)
}

/// An enum stored as its word.
pub(crate) fn word<T: FromStr<Err = StoreError>>(row: &AnyRow, column: &str) -> Result<T> {
    text(row, column)?.parse()
}

pub(crate) fn workspace(row: &AnyRow) -> Result<Workspace> {
    Ok(Workspace {
        id: text(row, "id")?,
        name: text(row, "name")?,
        created_at: int(row, "created_at")?,
    })
}

pub(crate) fn deployment(row: &AnyRow) -> Result<Deployment> {
    let target_json = text(row, "target")?;
    let target: Target = serde_json::from_str(&target_json).map_err(|e| StoreError::Corrupt {
        column: "deployments.target",
        value: target_json.clone(),
        reason: e.to_string(),
    })?;
    let local_port = opt_int(row, "local_port")?
        .map(|p| {
            u16::try_from(p).map_err(|_| StoreError::Corrupt {
                column: "deployments.local_port",
                value: p.to_string(),
                reason: "not a port number".to_owned(),
            })
        })
        .transpose()?;
    Ok(Deployment {
        id: text(row, "id")?,
        workspace_id: text(row, "workspace_id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        repo: text(row, "repo")?,
        branch: text(row, "branch")?,
        path: text(row, "path")?,
        target,
        auto_rebuild: flag(row, "auto_rebuild")?,
        subdomain: opt_text(row, "subdomain")?,
        webhook_secret: text(row, "webhook_secret")?,
        status: word(row, "status")?,
        current_build_id: opt_text(row, "current_build_id")?,
        local_port,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
    })
}

pub(crate) fn build(row: &AnyRow) -> Result<Build> {
    Ok(Build {
        id: text(row, "id")?,
        deployment_id: text(row, "deployment_id")?,
        status: word(row, "status")?,
        commit_hash: opt_text(row, "commit_hash")?,
        commit_message: opt_text(row, "commit_message")?,
        branch: text(row, "branch")?,
        triggered_by: word(row, "triggered_by")?,
        delivery_id: opt_text(row, "delivery_id")?,
        image: opt_text(row, "image")?,
        image_digest: opt_text(row, "image_digest")?,
        error_message: opt_text(row, "error_message")?,
        cancel_requested: flag(row, "cancel_requested")?,
        created_at: int(row, "created_at")?,
        started_at: opt_int(row, "started_at")?,
        completed_at: opt_int(row, "completed_at")?,
    })
}

pub(crate) fn log_chunk(row: &AnyRow) -> Result<LogChunk> {
    Ok(LogChunk {
        seq: int(row, "seq")?,
        text: text(row, "text")?,
        created_at: int(row, "created_at")?,
    })
}

pub(crate) fn token(row: &AnyRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: text(row, "id")?,
        scope: word(row, "scope")?,
        deployment_id: opt_text(row, "deployment_id")?,
        token_hash: text(row, "token_hash")?,
        created_at: int(row, "created_at")?,
        expires_at: opt_int(row, "expires_at")?,
        revoked: flag(row, "revoked")?,
    })
}
