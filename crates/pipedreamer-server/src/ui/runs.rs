//! The dashboard's run pages: a deployment's Runs tab (the runs its engine reported, newest
//! first, filtered by status and trigger, paged with the store's cursor, refreshing itself on
//! the first page) and one run (header, a Gantt-style bar per node, last progress per node,
//! logs, outputs, recorded input and output, and Replay).
//!
//! Everything shown comes from the [`RunRecord`] the API serves as `GET /api/runs/:id`, HTML-
//! escaped by askama: node code wrote the logs and outputs, so they are untrusted text. The
//! bars are SVG `rect`s with percentage attributes: the CSP allows no inline `style`.

use super::pages::{DeploymentHead, Layout, age, html, status_class};
use super::session::Session;
use super::{CsrfForm, Page2, failed, guard, message_of, render_failed};
use crate::api::AppState;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use pipedreamer_runs::{RunRecord, RunStatus};
use pipedreamer_store::{RunFilter, Scope};
use serde::{Deserialize, Serialize};
use std::time::{Duration, UNIX_EPOCH};

/// Runs shown per page of a deployment's Runs tab.
const RUNS_PER_PAGE: u32 = 25;

/// The longest trigger filter taken from a query (a record's trigger is at most 512 bytes).
const MAX_TRIGGER_FILTER: usize = 512;

/// The status filter's choices: (query value, label).
const STATUSES: &[(&str, &str)] = &[
    ("", "any"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
];

/// The trigger filter's choices: the kinds the store matches by prefix.
const TRIGGERS: &[(&str, &str)] = &[
    ("", "any"),
    ("http", "http"),
    ("webhook", "webhook:…"),
    ("cron", "cron:…"),
    ("queue", "queue:…"),
];

/// The snake_case word serde gives a record's enum (`timed_out`, `warn`, `thrown`): the page
/// shows what the API's JSON says, from the one place that spells it.
fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A duration in milliseconds for people: `0.4 ms`, `12 ms`, `1.25 s`, `2 min 5 s`.
fn ms(value: f64) -> String {
    let value = if value.is_finite() {
        value.max(0.0)
    } else {
        0.0
    };
    if value < 10.0 {
        format!("{value:.1} ms")
    } else if value < 1000.0 {
        format!("{value:.0} ms")
    } else if value < 60_000.0 {
        format!("{:.2} s", value / 1000.0)
    } else {
        let secs = (value / 1000.0) as u64;
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// Unix milliseconds as RFC 3339 (`2026-11-27T04:31:07Z`), for `<time datetime>`.
fn iso(unix_ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(unix_ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The same instant to read: `2026-11-27 04:31:07 UTC`.
fn readable(unix_ms: i64) -> String {
    iso(unix_ms).replace('T', " ").replace('Z', " UTC")
}

/// The end of a run id, enough to tell runs apart on a page (UUIDv7s share their time-ordered
/// start, so the random end is the part that differs).
fn short(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    chars[chars.len().saturating_sub(8)..].iter().collect()
}

// ---- the Runs tab ---------------------------------------------------------------------------

/// `?status=&trigger=&before=` of the Runs tab (empty values mean "any", as the form sends).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RunsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    trigger: String,
    #[serde(default)]
    before: String,
}

impl RunsQuery {
    fn status(&self) -> Result<Option<RunStatus>, ApiError> {
        if self.status.is_empty() {
            return Ok(None);
        }
        self.status
            .parse()
            .map(Some)
            .map_err(|e: String| ApiError::invalid("status", e))
    }

    fn trigger(&self) -> Result<Option<String>, ApiError> {
        let t = self.trigger.trim();
        if t.len() > MAX_TRIGGER_FILTER {
            return Err(ApiError::invalid(
                "trigger",
                format!("is over {MAX_TRIGGER_FILTER} bytes"),
            ));
        }
        Ok((!t.is_empty()).then(|| t.to_owned()))
    }

    /// The query string of these filters and `before` (`""` when all are empty).
    fn query(&self, before: Option<&str>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !self.status.is_empty() {
            q.append_pair("status", &self.status);
        }
        if !self.trigger.is_empty() {
            q.append_pair("trigger", &self.trigger);
        }
        if let Some(b) = before.filter(|b| !b.is_empty()) {
            q.append_pair("before", b);
        }
        let q = q.finish();
        if q.is_empty() { q } else { format!("?{q}") }
    }
}

/// A run as a row of the Runs tab.
pub(crate) struct RunRow {
    pub(crate) id: String,
    pub(crate) short: String,
    pub(crate) status: &'static str,
    pub(crate) class: String,
    pub(crate) trigger: String,
    pub(crate) version: String,
    pub(crate) started: String,
    pub(crate) started_at: String,
    pub(crate) started_iso: String,
    pub(crate) duration: String,
    pub(crate) replay_of: Option<String>,
    /// The failure's first line, cut for the table.
    pub(crate) error: Option<String>,
}

impl From<&RunRecord> for RunRow {
    fn from(r: &RunRecord) -> RunRow {
        RunRow {
            id: r.id.clone(),
            short: short(&r.id),
            status: r.status.as_str(),
            class: status_class(r.status.as_str()),
            trigger: r.trigger.clone(),
            version: r.version.clone(),
            started: age(r.started_at),
            started_at: readable(r.started_at),
            started_iso: iso(r.started_at),
            duration: ms(r.duration_ms() as f64),
            replay_of: r.replay_of.clone(),
            error: r.error.as_ref().map(|e| {
                let line = e.message.lines().next().unwrap_or_default();
                let cut: String = line.chars().take(120).collect();
                match &e.node {
                    Some(node) => format!("{node}: {cut}"),
                    None => cut,
                }
            }),
        }
    }
}

/// The part of the Runs tab that refreshes itself.
#[derive(Template)]
#[template(path = "runs_live.html")]
pub(crate) struct RunsFragment {
    pub(crate) deployment_id: String,
    pub(crate) rows: Vec<RunRow>,
    /// The query of this page (filters and cursor), kept by the refresh.
    pub(crate) query: String,
    /// The first page with these filters.
    pub(crate) newest: String,
    /// The next page's query, when there is one.
    pub(crate) older: Option<String>,
    pub(crate) paged: bool,
    pub(crate) filtered: bool,
    /// Only the first page refreshes: an older page does not change under the reader.
    pub(crate) refresh: bool,
}

/// `/deployments/{id}/runs`.
#[derive(Template)]
#[template(path = "runs.html")]
pub(crate) struct RunsPage {
    pub(crate) layout: Layout,
    pub(crate) head: DeploymentHead,
    pub(crate) statuses: &'static [(&'static str, &'static str)],
    pub(crate) triggers: &'static [(&'static str, &'static str)],
    pub(crate) status: String,
    pub(crate) trigger: String,
    /// The rendered [`RunsFragment`] (escaped by its own template).
    pub(crate) live_html: String,
}

async fn runs_fragment(
    state: &AppState,
    deployment_id: &str,
    query: &RunsQuery,
) -> Result<RunsFragment, ApiError> {
    let before = (!query.before.is_empty()).then(|| query.before.clone());
    let filter = RunFilter {
        deployment_id: Some(deployment_id.to_owned()),
        status: query.status()?,
        trigger: query.trigger()?,
        since: None,
        before: before.clone(),
        // One more than a page: whether there is an older page.
        limit: RUNS_PER_PAGE + 1,
    };
    let filtered = filter.status.is_some() || filter.trigger.is_some();
    let mut runs = state.store().runs(&filter).await?;
    let older = (runs.len() > RUNS_PER_PAGE as usize).then(|| {
        runs.truncate(RUNS_PER_PAGE as usize);
        query.query(runs.last().map(|r| r.id.as_str()))
    });
    Ok(RunsFragment {
        deployment_id: deployment_id.to_owned(),
        rows: runs.iter().map(RunRow::from).collect(),
        query: query.query(before.as_deref()),
        newest: query.query(None),
        older,
        paged: before.is_some(),
        filtered,
        refresh: before.is_none(),
    })
}

pub(super) async fn deployment_runs(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Page2 {
    let fail = |e: ApiError| failed(&session, e);
    let d = state
        .store()
        .deployment(&id)
        .await
        .map_err(|e| fail(e.into()))?;
    let ws = state
        .store()
        .workspace(&d.workspace_id)
        .await
        .map_err(|e| fail(e.into()))?;
    let live = runs_fragment(&state, &d.id, &query).await.map_err(fail)?;
    let live_html = live.render().map_err(|e| render_failed(&session, &e))?;
    Ok(html(
        StatusCode::OK,
        &RunsPage {
            layout: Layout::new(format!("{} · runs", d.name), Some(&session)),
            head: DeploymentHead::new(&session, ws.name, d.id, d.name, true),
            statuses: STATUSES,
            triggers: TRIGGERS,
            status: query.status.clone(),
            trigger: query.trigger.clone(),
            live_html,
        },
    ))
}

pub(super) async fn deployment_runs_live(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Page2 {
    let fail = |e: ApiError| failed(&session, e);
    // A deleted deployment's tab stops refreshing with a 404, not an empty list.
    let d = state
        .store()
        .deployment(&id)
        .await
        .map_err(|e| fail(e.into()))?;
    let live = runs_fragment(&state, &d.id, &query).await.map_err(fail)?;
    Ok(html(StatusCode::OK, &live))
}

// ---- one run --------------------------------------------------------------------------------

/// The run's header facts.
pub(crate) struct RunView {
    pub(crate) id: String,
    pub(crate) short: String,
    pub(crate) workflow: String,
    pub(crate) version: String,
    pub(crate) trigger: String,
    pub(crate) status: &'static str,
    pub(crate) class: String,
    pub(crate) started: String,
    pub(crate) started_at: String,
    pub(crate) started_iso: String,
    pub(crate) ended_at: String,
    pub(crate) ended_iso: String,
    pub(crate) duration: String,
    pub(crate) replay_of: Option<String>,
}

/// The deployment a run belongs to, for the breadcrumb.
pub(crate) struct RunDeployment {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) workspace: String,
}

/// The last `ctx.progress` of a node.
pub(crate) struct ProgressView {
    /// 0 to 100, whole percent.
    pub(crate) percent: u8,
    pub(crate) message: Option<String>,
}

/// A node: its facts and its bar on the run's timeline.
pub(crate) struct NodeRow {
    pub(crate) id: String,
    /// `succeeded`, `failed`, `timed_out`, `cancelled`, `skipped`: also the bar's class.
    pub(crate) status: String,
    pub(crate) attempts: u32,
    pub(crate) started: String,
    pub(crate) duration: String,
    /// Whether it ran (a skipped node has no bar).
    pub(crate) bar: bool,
    /// The bar's start and width, percent of the timeline.
    pub(crate) left: String,
    pub(crate) width: String,
    pub(crate) progress: Option<ProgressView>,
}

/// A log line.
pub(crate) struct LogRow {
    pub(crate) at: String,
    pub(crate) level: String,
    pub(crate) node: String,
    pub(crate) message: String,
}

/// Why the run failed.
pub(crate) struct ErrorView {
    pub(crate) node: Option<String>,
    pub(crate) message: String,
    pub(crate) kind: String,
}

/// `/runs/{id}`.
#[derive(Template)]
#[template(path = "run.html")]
pub(crate) struct RunPage {
    pub(crate) layout: Layout,
    pub(crate) deployment: Option<RunDeployment>,
    pub(crate) run: RunView,
    pub(crate) error: Option<ErrorView>,
    pub(crate) nodes: Vec<NodeRow>,
    /// The timeline's length and half of it, for its axis.
    pub(crate) span: String,
    pub(crate) span_half: String,
    pub(crate) logs: Vec<LogRow>,
    pub(crate) dropped_logs: u32,
    pub(crate) dropped_progress: u32,
    /// (name, pretty JSON).
    pub(crate) outputs: Vec<(String, String)>,
    pub(crate) input: Option<String>,
    pub(crate) output: Option<String>,
    /// The Replay form's token: only for `deploy` sessions, only for a deployment's run.
    pub(crate) replay_csrf: Option<String>,
    pub(crate) has_input: bool,
    /// Why the last Replay was refused (the API's message).
    pub(crate) replay_error: Option<String>,
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Percent of `span` with one decimal, for an SVG attribute.
fn percent(part: f64, span: f64) -> f64 {
    if part.is_finite() && span > 0.0 {
        (part / span * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    }
}

/// The timeline's length: the run's wall time, or the end of its last node if a clock skew
/// put that later, never 0 (the bars divide by it).
fn span_ms(r: &RunRecord) -> f64 {
    r.nodes
        .0
        .iter()
        .map(|(_, n)| n.started_ms + n.duration_ms)
        .filter(|end| end.is_finite())
        .fold(r.duration_ms() as f64, f64::max)
        .max(1.0)
}

/// The node rows of a run, with their bars: left = `started_ms`, width = `duration_ms`, both
/// relative to the run's span; a bar is at least 0.5 % wide so a fast node stays visible.
fn node_rows(r: &RunRecord, span: f64) -> Vec<NodeRow> {
    r.nodes
        .0
        .iter()
        .map(|(id, n)| {
            let status = word(&n.status);
            let left = percent(n.started_ms, span).min(99.5);
            let width = percent(n.duration_ms, span).clamp(0.5, 100.0 - left);
            let progress = r
                .progress
                .iter()
                .rev()
                .find(|p| &p.node == id)
                .map(|p| ProgressView {
                    percent: p.percent.clamp(0.0, 100.0).round() as u8,
                    message: p.message.clone(),
                });
            let ran = n.attempts > 0 && status != "skipped";
            NodeRow {
                id: id.clone(),
                bar: ran,
                status,
                attempts: n.attempts,
                started: if ran {
                    format!("+{}", ms(n.started_ms))
                } else {
                    "—".into()
                },
                duration: if ran { ms(n.duration_ms) } else { "—".into() },
                left: format!("{left:.1}"),
                width: format!("{width:.1}"),
                progress,
            }
        })
        .collect()
}

/// The run page of `record`; `replay_error` is a refused Replay's message.
fn run_page(
    session: &Session,
    record: &RunRecord,
    deployment: Option<RunDeployment>,
    replay_error: Option<String>,
) -> RunPage {
    let span = span_ms(record);
    RunPage {
        layout: Layout::new(format!("Run {}", short(&record.id)), Some(session)),
        replay_csrf: (session.can_deploy() && deployment.is_some()).then(|| session.csrf.clone()),
        deployment,
        run: RunView {
            id: record.id.clone(),
            short: short(&record.id),
            workflow: record.workflow.clone(),
            version: record.version.clone(),
            trigger: record.trigger.clone(),
            status: record.status.as_str(),
            class: status_class(record.status.as_str()),
            started: age(record.started_at),
            started_at: readable(record.started_at),
            started_iso: iso(record.started_at),
            ended_at: readable(record.ended_at),
            ended_iso: iso(record.ended_at),
            duration: ms(record.duration_ms() as f64),
            replay_of: record.replay_of.clone(),
        },
        error: record.error.as_ref().map(|e| ErrorView {
            node: e.node.clone(),
            message: e.message.clone(),
            kind: word(&e.kind),
        }),
        nodes: node_rows(record, span),
        span: ms(span),
        span_half: ms(span / 2.0),
        logs: record
            .logs
            .iter()
            .map(|l| LogRow {
                at: format!("+{}", ms(l.at_ms)),
                level: word(&l.level),
                node: l.node.clone(),
                message: l.message.clone(),
            })
            .collect(),
        dropped_logs: record.dropped.logs,
        dropped_progress: record.dropped.progress,
        outputs: record
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), pretty(v)))
            .collect(),
        input: record.input.as_ref().map(pretty),
        output: record.output.as_ref().map(pretty),
        has_input: record.input.is_some(),
        replay_error,
    }
}

/// A run and its deployment (for the breadcrumb), from the store.
async fn load(state: &AppState, id: &str) -> Result<(RunRecord, Option<RunDeployment>), ApiError> {
    let stored = state.store().run(id).await?;
    let deployment = match stored.deployment_id {
        Some(d) => {
            let d = state.store().deployment(&d).await?;
            let ws = state.store().workspace(&d.workspace_id).await?;
            Some(RunDeployment {
                id: d.id,
                name: d.name,
                workspace: ws.name,
            })
        }
        None => None,
    };
    Ok((stored.record, deployment))
}

/// `?replay_of=` of a run page: set by a Replay, whose new run's record may not be here yet.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RunQuery {
    replay_of: Option<String>,
}

/// The page shown while a replay's record is on its way (the engine reports in batches).
#[derive(Template)]
#[template(path = "run_pending.html")]
pub(crate) struct PendingPage {
    pub(crate) layout: Layout,
    pub(crate) id: String,
    pub(crate) replay_of: String,
}

pub(super) async fn run(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<RunQuery>,
) -> Page2 {
    match load(&state, &id).await {
        Ok((record, deployment)) => Ok(html(
            StatusCode::OK,
            &run_page(&session, &record, deployment, None),
        )),
        // Just replayed: the new run ran, its record comes with the engine's next report.
        Err(e) if e.status == StatusCode::NOT_FOUND && query.replay_of.is_some() => Ok(html(
            StatusCode::ACCEPTED,
            &PendingPage {
                layout: Layout::new("Replay", Some(&session)),
                id,
                replay_of: query.replay_of.unwrap_or_default(),
            },
        )),
        Err(e) => Err(failed(&session, e)),
    }
}

/// `GET /runs/{id}/ready`, polled by the pending page: 204 while the record is not stored,
/// then an htmx redirect to the run's page.
pub(super) async fn run_ready(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Page2 {
    match state.store().run(&id).await {
        Ok(_) => Ok((StatusCode::OK, [("hx-redirect", run_path(&id, None))]).into_response()),
        Err(pipedreamer_store::StoreError::NotFound { .. }) => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(e) => Err(failed(&session, e.into())),
    }
}

/// `/runs/<id>[?replay_of=<of>]`, the id percent-encoded (it came from an engine's answer).
fn run_path(id: &str, replay_of: Option<&str>) -> String {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    match replay_of {
        Some(of) => {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("replay_of", of);
            format!("/runs/{id}?{}", q.finish())
        }
        None => format!("/runs/{id}"),
    }
}

/// The Replay button: the API's replay (`crate::api::runs::replay_run`, the same checks and
/// the same call to the engine), then the new run's page; a refusal (no recorded input, the
/// deployment stopped, the engine unreachable) is shown on this run's page with the API's
/// message and hint.
pub(super) async fn replay(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Deploy)?;
    let (record, deployment) = load(&state, &id).await.map_err(|e| failed(&session, e))?;
    match crate::api::runs::replay_run(&state, &id).await {
        Ok(reply) => {
            tracing::info!(run = %id, new_run = %reply.id, status = %reply.status.as_str(), token_id = %session.token_id, "run replayed (dashboard)");
            Ok(Redirect::to(&run_path(&reply.id, Some(&id))).into_response())
        }
        Err(e) => Ok(html(
            e.status,
            &run_page(&session, &record, deployment, Some(message_of(&e))),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipedreamer_runs::{Dropped, NodeRecord, NodeStatus, Nodes};

    fn record(nodes: Vec<(&str, NodeStatus, u32, f64, f64)>) -> RunRecord {
        RunRecord {
            id: "0190b3c2-7d1e-7c3a-9f00-00000000abcd".into(),
            workflow: "hello".into(),
            version: "1.0.0".into(),
            trigger: "http".into(),
            status: RunStatus::Succeeded,
            started_at: 1_700_000_000_000,
            ended_at: 1_700_000_000_200,
            nodes: Nodes(
                nodes
                    .into_iter()
                    .map(|(id, status, attempts, started_ms, duration_ms)| {
                        (
                            id.to_owned(),
                            NodeRecord {
                                status,
                                attempts,
                                started_ms,
                                duration_ms,
                            },
                        )
                    })
                    .collect(),
            ),
            logs: vec![],
            progress: vec![],
            outputs: Default::default(),
            error: None,
            replay_of: None,
            input: None,
            output: None,
            dropped: Dropped::default(),
        }
    }

    #[test]
    fn bars_are_placed_relative_to_the_run() {
        let r = record(vec![
            ("parse", NodeStatus::Succeeded, 1, 0.0, 50.0),
            ("greet", NodeStatus::TimedOut, 3, 50.0, 150.0),
            ("fast", NodeStatus::Succeeded, 1, 100.0, 0.01),
            ("never", NodeStatus::Skipped, 0, 0.0, 0.0),
        ]);
        let span = span_ms(&r);
        assert_eq!(span, 200.0);
        let rows = node_rows(&r, span);
        assert_eq!(
            (rows[0].left.as_str(), rows[0].width.as_str()),
            ("0.0", "25.0")
        );
        assert_eq!(
            (rows[1].left.as_str(), rows[1].width.as_str()),
            ("25.0", "75.0")
        );
        assert_eq!(rows[1].status, "timed_out");
        // A fast node still shows; a skipped one has no bar.
        assert_eq!(rows[2].width, "0.5");
        assert!(rows[2].bar && !rows[3].bar);
        assert_eq!(
            (rows[3].started.as_str(), rows[3].duration.as_str()),
            ("—", "—")
        );
    }

    #[test]
    fn a_node_ending_after_the_run_widens_the_timeline() {
        // Clock skew between the run's wall times and the nodes' offsets: no bar past 100 %.
        let r = record(vec![("late", NodeStatus::Succeeded, 1, 150.0, 250.0)]);
        let span = span_ms(&r);
        assert_eq!(span, 400.0);
        let rows = node_rows(&r, span);
        assert_eq!(
            (rows[0].left.as_str(), rows[0].width.as_str()),
            ("37.5", "62.5")
        );
        // A run of 0 ms with nodes of 0 ms divides by 1, not 0.
        let mut r = record(vec![("n", NodeStatus::Succeeded, 1, 0.0, 0.0)]);
        r.ended_at = r.started_at;
        assert_eq!(span_ms(&r), 1.0);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(ms(0.42), "0.4 ms");
        assert_eq!(ms(12.4), "12 ms");
        assert_eq!(ms(1250.0), "1.25 s");
        assert_eq!(ms(125_000.0), "2 min 5 s");
        assert_eq!(ms(f64::NAN), "0.0 ms");
        assert_eq!(readable(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(short("0190b3c2-7d1e-7c3a-9f00-00000000abcd"), "0000abcd");
        assert_eq!(word(&NodeStatus::TimedOut), "timed_out");
    }

    #[test]
    fn the_query_keeps_the_filters() {
        let q = RunsQuery {
            status: "failed".into(),
            trigger: "cron".into(),
            before: String::new(),
        };
        assert_eq!(q.query(Some("r1")), "?status=failed&trigger=cron&before=r1");
        assert_eq!(RunsQuery::default().query(None), "");
        assert!(
            RunsQuery {
                status: "bogus".into(),
                ..RunsQuery::default()
            }
            .status()
            .is_err()
        );
    }
}
