//! Run records outside the API: the `report` tokens deployments get at each rollout (the
//! pipeline's [`ReportTokens`]), and retention (`runs.retention`), enforced by a background
//! task at start and every [`RETENTION_INTERVAL`].

use crate::auth::Tokens;
use crate::metrics::Metrics;
use pipedreamer_pipeline::{ReportTokens, TokenFuture};
use pipedreamer_store::{Deployment, Scope, Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often retention runs (and once at start).
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Lifetime of a deployment's report token. Each rollout mints a fresh one, so this only has
/// to outlast the time between rollouts of a deployment that keeps running.
pub const REPORT_TOKEN_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Report tokens of one deployment left valid when a new one is minted: the new one and the
/// one before it (the previous container still reports until the new one has replaced it).
const REPORT_TOKENS_KEPT: usize = 2;

/// Mints a deployment's `report` token for each rollout, recorded like every token (its hash),
/// and revokes the deployment's older ones. A token's text is never stored, so one cannot be
/// handed out twice: each rollout gets a new one.
#[derive(Clone)]
pub struct ServerReportTokens {
    tokens: Tokens,
}

impl ServerReportTokens {
    /// Report tokens from `tokens`.
    pub fn new(tokens: Tokens) -> ServerReportTokens {
        ServerReportTokens { tokens }
    }

    /// A new token for `deployment_id`; older ones but the previous revoked.
    pub async fn mint(&self, deployment_id: &str) -> Result<String, String> {
        let minted = self
            .tokens
            .mint(
                Scope::Report,
                Some(REPORT_TOKEN_TTL),
                Some(deployment_id.to_owned()),
            )
            .await
            .map_err(|e| format!("cannot mint the deployment's run-report token: {e}"))?;
        // Revocation is tidiness, not safety (tokens are bound to the deployment and expire):
        // a failure is logged and the rollout goes on.
        if let Err(e) = self.revoke_older(deployment_id).await {
            tracing::warn!(deployment = %deployment_id, error = %e, "could not revoke older run-report tokens");
        }
        Ok(minted.token)
    }

    async fn revoke_older(&self, deployment_id: &str) -> Result<(), crate::auth::AuthError> {
        let mut mine: Vec<_> = self
            .tokens
            .list()
            .await?
            .into_iter()
            .filter(|t| {
                t.scope == Scope::Report
                    && !t.revoked
                    && t.deployment_id.as_deref() == Some(deployment_id)
            })
            .collect();
        // Newest first; tokens minted in the same millisecond by their time-ordered (UUIDv7) id.
        mine.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        let older = mine.into_iter().skip(REPORT_TOKENS_KEPT);
        for t in older {
            self.tokens.revoke(&t.id).await?;
        }
        Ok(())
    }
}

impl ReportTokens for ServerReportTokens {
    fn token_for<'a>(&'a self, deployment: &'a Deployment) -> TokenFuture<'a> {
        Box::pin(self.mint(&deployment.id))
    }
}

/// Unix milliseconds `age` ago.
fn cutoff(age: Duration) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.saturating_sub(age).as_millis()).unwrap_or(i64::MAX)
}

/// One retention pass: deletes the run records (of every deployment) that started more than
/// `retention` ago; how many went. Nothing else is touched.
pub async fn enforce_retention(store: &Store, retention: Duration) -> Result<u64, StoreError> {
    store.delete_runs_before(cutoff(retention)).await
}

/// Runs [`enforce_retention`] now and every [`RETENTION_INTERVAL`] until the task is aborted. A
/// failed pass is logged and the next one tries again.
pub fn spawn_retention(
    store: Store,
    retention: Duration,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(RETENTION_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match enforce_retention(&store, retention).await {
                Ok(0) => {}
                Ok(n) => {
                    metrics.runs_expired(n);
                    tracing::info!(deleted = n, retention = %humantime::format_duration(retention), "run records past retention deleted");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "run retention pass failed; the next one in 10 minutes tries again")
                }
            }
        }
    })
}
