//! Workspaces: a team's space, named uniquely.

use crate::error::{StoreError, Violation, violation};
use crate::rows::{self, workspace_columns};
use crate::{Result, Store, Workspace, new_id, now_ms};

impl Store {
    /// Creates a workspace; `Conflict` when the name is taken.
    pub async fn create_workspace(&self, name: &str) -> Result<Workspace> {
        let workspace = Workspace {
            id: new_id(),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&workspace.id)
            .bind(&workspace.name)
            .bind(workspace.created_at)
            .execute(self.writer())
            .await
            .map_err(|e| match violation(&e) {
                Some(Violation::Unique(_)) => StoreError::Conflict {
                    what: format!("a workspace named `{name}` already exists"),
                },
                _ => e.into(),
            })?;
        Ok(workspace)
    }

    /// The workspace with this id, or else with this name.
    pub async fn workspace(&self, id_or_name: &str) -> Result<Workspace> {
        // An id wins over a name that happens to look like one.
        let row = sqlx::query(concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE id = $1 OR name = $1",
            " ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(id_or_name)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => rows::workspace(&row),
            None => Err(StoreError::NotFound {
                what: "workspace",
                id: id_or_name.to_owned(),
            }),
        }
    }

    /// Every workspace, oldest first.
    pub async fn workspaces(&self) -> Result<Vec<Workspace>> {
        sqlx::query(concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(rows::workspace)
        .collect()
    }
}
