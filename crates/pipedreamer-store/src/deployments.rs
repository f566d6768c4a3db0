//! Deployments and their secrets.

use sqlx::any::AnyRow;

use crate::error::{StoreError, Violation, violation};
use crate::rows::{self, deployment_columns};
use crate::{
    Deployment, DeploymentPatch, DeploymentStatus, NewDeployment, Result, Store, Target, new_id,
    now_ms,
};

impl Store {
    /// Creates a `STOPPED` deployment. `NotFound` for an unknown workspace; `Conflict` when the
    /// name is taken in the workspace or the subdomain by any deployment.
    pub async fn create_deployment(&self, new: NewDeployment) -> Result<Deployment> {
        let now = now_ms();
        let deployment = Deployment {
            id: new_id(),
            workspace_id: new.workspace_id,
            name: new.name,
            description: new.description,
            repo: new.repo,
            branch: new.branch,
            path: new.path,
            target: new.target,
            auto_rebuild: new.auto_rebuild,
            subdomain: new.subdomain,
            webhook_secret: new.webhook_secret,
            status: DeploymentStatus::Stopped,
            current_build_id: None,
            local_port: None,
            created_at: now,
            updated_at: now,
        };
        let inserted = sqlx::query(
            "INSERT INTO deployments (id, workspace_id, name, description, repo, branch, path, \
             target, auto_rebuild, subdomain, webhook_secret, status, current_build_id, \
             local_port, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, $13, $13)",
        )
        .bind(&deployment.id)
        .bind(&deployment.workspace_id)
        .bind(&deployment.name)
        .bind(&deployment.description)
        .bind(&deployment.repo)
        .bind(&deployment.branch)
        .bind(&deployment.path)
        .bind(target_json(&deployment.target)?)
        .bind(i64::from(deployment.auto_rebuild))
        .bind(&deployment.subdomain)
        .bind(&deployment.webhook_secret)
        .bind(deployment.status.as_str())
        .bind(now)
        .execute(self.writer())
        .await;
        match inserted {
            Ok(_) => Ok(deployment),
            Err(e) => Err(match violation(&e) {
                Some(Violation::Unique(detail)) => {
                    self.deployment_conflict(&detail, &deployment).await
                }
                Some(Violation::ForeignKey) => StoreError::NotFound {
                    what: "workspace",
                    id: deployment.workspace_id,
                },
                None => e.into(),
            }),
        }
    }

    /// The deployments of a workspace (by id), by name.
    pub async fn deployments(&self, workspace_id: &str) -> Result<Vec<Deployment>> {
        sqlx::query(concat!(
            "SELECT ",
            deployment_columns!(),
            " FROM deployments WHERE workspace_id = $1 ORDER BY name"
        ))
        .bind(workspace_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(rows::deployment)
        .collect()
    }

    /// Every deployment of every workspace, oldest first (for reconciling at start).
    pub async fn all_deployments(&self) -> Result<Vec<Deployment>> {
        sqlx::query(concat!(
            "SELECT ",
            deployment_columns!(),
            " FROM deployments ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(rows::deployment)
        .collect()
    }

    /// One deployment.
    pub async fn deployment(&self, id: &str) -> Result<Deployment> {
        let row = sqlx::query(concat!(
            "SELECT ",
            deployment_columns!(),
            " FROM deployments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        one_deployment(row, id)
    }

    /// Changes the fields the patch sets. `Invalid` when the target would change type;
    /// `Conflict` for a subdomain another deployment uses.
    pub async fn update_deployment(&self, id: &str, patch: DeploymentPatch) -> Result<Deployment> {
        let current = self.deployment(id).await?;
        // The type never changes, so checking it outside the UPDATE cannot race.
        if let Some(target) = &patch.target
            && target.kind() != current.target.kind()
        {
            return Err(StoreError::Invalid {
                what: format!(
                    "target.type: cannot change from `{}` to `{}`; create a new deployment instead",
                    current.target.kind(),
                    target.kind()
                ),
            });
        }
        let (set_subdomain, subdomain) = match patch.subdomain {
            Some(subdomain) => (1_i64, subdomain),
            None => (0, None),
        };
        // One statement: each field keeps its value unless the patch sets it, so concurrent
        // patches of different fields do not undo each other.
        let row = sqlx::query(concat!(
            "UPDATE deployments SET description = COALESCE($2, description), ",
            "repo = COALESCE($3, repo), branch = COALESCE($4, branch), ",
            "path = COALESCE($5, path), target = COALESCE($6, target), ",
            "auto_rebuild = COALESCE($7, auto_rebuild), ",
            "subdomain = CASE WHEN $8 = 1 THEN $9 ELSE subdomain END, updated_at = $10 ",
            "WHERE id = $1 RETURNING ",
            deployment_columns!()
        ))
        .bind(id)
        .bind(patch.description)
        .bind(patch.repo)
        .bind(patch.branch)
        .bind(patch.path)
        .bind(patch.target.as_ref().map(target_json).transpose()?)
        .bind(patch.auto_rebuild.map(i64::from))
        .bind(set_subdomain)
        .bind(subdomain.clone())
        .bind(now_ms())
        .fetch_optional(self.writer())
        .await;
        match row {
            Ok(row) => one_deployment(row, id),
            Err(e) => Err(match violation(&e) {
                Some(Violation::Unique(detail)) => {
                    let wanted = Deployment {
                        subdomain,
                        ..current
                    };
                    self.deployment_conflict(&detail, &wanted).await
                }
                _ => e.into(),
            }),
        }
    }

    /// Records what a deployment is doing. `current_build_id: None` keeps the deployed build,
    /// except for `STOPPED`, which always clears it (nothing is deployed).
    pub async fn set_deployment_state(
        &self,
        id: &str,
        status: DeploymentStatus,
        current_build_id: Option<&str>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE deployments SET status = $2, current_build_id = CASE WHEN $2 = 'STOPPED' \
             THEN NULL ELSE COALESCE($3, current_build_id) END, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(current_build_id)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        found(done.rows_affected(), "deployment", id)
    }

    /// Stores the host port of a `local` deployment; `Conflict` when another deployment has it.
    pub async fn set_local_port(&self, id: &str, port: u16) -> Result<()> {
        let done =
            sqlx::query("UPDATE deployments SET local_port = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(i64::from(port))
                .bind(now_ms())
                .execute(self.writer())
                .await;
        match done {
            Ok(done) => found(done.rows_affected(), "deployment", id),
            Err(e) => Err(match violation(&e) {
                Some(Violation::Unique(_)) => StoreError::Conflict {
                    what: match self.port_holder(port).await {
                        Ok(holder) => {
                            format!("port `{port}` is already used by deployment `{holder}`")
                        }
                        // Released meanwhile: still this call's conflict.
                        Err(_) => format!("port `{port}` is already used by another deployment"),
                    },
                },
                _ => e.into(),
            }),
        }
    }

    /// The host ports stored for deployments.
    pub async fn taken_ports(&self) -> Result<Vec<u16>> {
        let rows = sqlx::query(
            "SELECT local_port FROM deployments WHERE local_port IS NOT NULL ORDER BY local_port",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let port = rows::int(row, "local_port")?;
                u16::try_from(port).map_err(|_| StoreError::Corrupt {
                    column: "deployments.local_port",
                    value: port.to_string(),
                    reason: "not a port number".to_owned(),
                })
            })
            .collect()
    }

    /// Deletes a deployment with its builds, logs, secrets and report tokens.
    pub async fn delete_deployment(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM deployments WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await?;
        found(done.rows_affected(), "deployment", id)
    }

    /// Replaces the deployment's secrets (`.secrets.yaml` as a JSON object).
    pub async fn put_secrets(&self, id: &str, secrets: &serde_json::Value) -> Result<()> {
        if !secrets.is_object() {
            return Err(StoreError::Invalid {
                what: "secrets: must be an object of names to values (the `.secrets.yaml` content)"
                    .to_owned(),
            });
        }
        let done = sqlx::query(
            "INSERT INTO deployment_secrets (deployment_id, secrets, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (deployment_id) \
             DO UPDATE SET secrets = excluded.secrets, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(secrets.to_string())
        .bind(now_ms())
        .execute(self.writer())
        .await;
        match done {
            Ok(_) => Ok(()),
            Err(e) => Err(match violation(&e) {
                Some(Violation::ForeignKey) => StoreError::NotFound {
                    what: "deployment",
                    id: id.to_owned(),
                },
                _ => e.into(),
            }),
        }
    }

    /// The names of the deployment's secrets, sorted (never the values).
    pub async fn secret_names(&self, id: &str) -> Result<Vec<String>> {
        let mut names: Vec<String> = match self.secrets(id).await? {
            Some(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        names.sort();
        Ok(names)
    }

    /// The deployment's secrets, for the pipeline only; `None` when none were put.
    pub async fn secrets(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query(
            "SELECT d.id, s.secrets FROM deployments d \
             LEFT JOIN deployment_secrets s ON s.deployment_id = d.id WHERE d.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "deployment",
            id: id.to_owned(),
        })?;
        rows::opt_text(&row, "secrets")?
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    column: "deployment_secrets.secrets",
                    // Never the secrets themselves.
                    value: format!("<{} bytes>", text.len()),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// The message for a unique index a deployment write hit. `detail` names the index
    /// (PostgreSQL) or its columns (SQLite); both contain the guarded column's name.
    async fn deployment_conflict(&self, detail: &str, wanted: &Deployment) -> StoreError {
        if detail.contains("subdomain") {
            let subdomain = wanted.subdomain.as_deref().unwrap_or_default();
            return StoreError::Conflict {
                what: format!("subdomain `{subdomain}` is already used by another deployment"),
            };
        }
        let workspace = self
            .workspace(&wanted.workspace_id)
            .await
            .map(|w| w.name)
            .unwrap_or_else(|_| wanted.workspace_id.clone());
        StoreError::Conflict {
            what: format!(
                "a deployment named `{}` already exists in workspace `{workspace}`",
                wanted.name
            ),
        }
    }

    /// The name of the deployment holding a port.
    async fn port_holder(&self, port: u16) -> Result<String> {
        let row = sqlx::query("SELECT name FROM deployments WHERE local_port = $1")
            .bind(i64::from(port))
            .fetch_one(self.pool())
            .await?;
        rows::text(&row, "name")
    }
}

/// The `target` column's JSON.
fn target_json(target: &Target) -> Result<String> {
    serde_json::to_string(target).map_err(|e| StoreError::Invalid {
        what: format!("target: cannot be stored: {e}"),
    })
}

fn one_deployment(row: Option<AnyRow>, id: &str) -> Result<Deployment> {
    match row {
        Some(row) => rows::deployment(&row),
        None => Err(StoreError::NotFound {
            what: "deployment",
            id: id.to_owned(),
        }),
    }
}

/// `NotFound` when an update or delete touched no row.
pub(crate) fn found(rows_affected: u64, what: &'static str, id: &str) -> Result<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound {
            what,
            id: id.to_owned(),
        })
    } else {
        Ok(())
    }
}
