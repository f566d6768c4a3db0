//! The dashboard's pages as askama templates (`templates/`, HTML-escaped by default) and the
//! rows they show, built from the store's records and the API's views.

use super::assets;
use super::session::Session;
use crate::api::views::DeploymentView;
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pipedreamer_store::{Build, BuildStatus, Target};
use std::time::{SystemTime, UNIX_EPOCH};

/// What every page's frame needs: its title, the asset URLs, and who is signed in.
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) css: String,
    pub(crate) htmx: String,
    pub(crate) sse: String,
    pub(crate) js: String,
    /// The sign-out form's CSRF token and the scope shown; `None` on the sign-in page.
    pub(crate) user: Option<(String, String)>,
}

impl Layout {
    pub(crate) fn new(title: impl Into<String>, session: Option<&Session>) -> Layout {
        Layout {
            title: title.into(),
            css: assets::url("dashboard.css"),
            htmx: assets::url("htmx-2.0.11.min.js"),
            sse: assets::url("htmx-ext-sse-2.2.4.min.js"),
            js: assets::url("dashboard.js"),
            user: session.map(|s| (s.csrf.clone(), s.scope.to_string())),
        }
    }
}

/// Renders a template into an HTML response with `status`.
pub(crate) fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a dashboard page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the page failed",
            )
                .into_response()
        }
    }
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "signin.html")]
pub(crate) struct Page {
    layout: Layout,
    error: Option<String>,
}

impl Page {
    pub(crate) fn signin(error: Option<String>) -> Page {
        Page {
            layout: Layout::new("Sign in", None),
            error,
        }
    }

    pub(crate) fn render_status(&self, status: StatusCode) -> Response {
        html(status, self)
    }
}

/// An error page (404, 403, 409, 502…).
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    layout: Layout,
    status: u16,
    heading: String,
    message: String,
}

/// An error page without a session bar (the reader may have none).
pub(crate) fn error_page(status: StatusCode, heading: &str, message: &str) -> Response {
    html(
        status,
        &ErrorPage {
            layout: Layout::new(heading, None),
            status: status.as_u16(),
            heading: heading.to_owned(),
            message: message.to_owned(),
        },
    )
}

/// An error page for a signed-in reader.
pub(crate) fn error_for(
    session: &Session,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    html(
        status,
        &ErrorPage {
            layout: Layout::new(heading, Some(session)),
            status: status.as_u16(),
            heading: heading.to_owned(),
            message: message.to_owned(),
        },
    )
}

/// The CSS class of a status word (`SUCCESS` → `success`).
pub(crate) fn status_class(word: &str) -> String {
    word.to_ascii_lowercase()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// "3 min ago" from unix milliseconds.
pub(crate) fn age(ms: i64) -> String {
    let secs = (now_ms() - ms).max(0) / 1000;
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86400),
    }
}

/// "1 min 5 s" between two unix milliseconds.
fn duration(from: i64, to: i64) -> String {
    let secs = (to - from).max(0) / 1000;
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// A build as a table row or a card's "last build".
pub(crate) struct BuildRow {
    pub(crate) id: String,
    pub(crate) status: &'static str,
    pub(crate) class: String,
    pub(crate) commit: String,
    pub(crate) message: String,
    pub(crate) branch: String,
    pub(crate) trigger: &'static str,
    pub(crate) started: String,
    pub(crate) duration: String,
}

impl From<&Build> for BuildRow {
    fn from(b: &Build) -> BuildRow {
        let started = b.started_at.unwrap_or(b.created_at);
        BuildRow {
            id: b.id.clone(),
            status: b.status.as_str(),
            class: status_class(b.status.as_str()),
            commit: b
                .commit_hash
                .as_deref()
                .map_or_else(|| "branch head".to_owned(), |c| c.chars().take(8).collect()),
            message: b
                .commit_message
                .as_deref()
                .and_then(|m| m.lines().next())
                .unwrap_or_default()
                .chars()
                .take(80)
                .collect(),
            branch: b.branch.clone(),
            trigger: b.triggered_by.as_str(),
            started: age(started),
            duration: match (b.started_at, b.completed_at) {
                (Some(s), Some(c)) => duration(s, c),
                (Some(s), None) => format!("{} so far", duration(s, now_ms())),
                _ => "—".to_owned(),
            },
        }
    }
}

/// A deployment as a card or a detail header.
pub(crate) struct Card {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) status: &'static str,
    pub(crate) class: String,
    pub(crate) url: Option<String>,
    pub(crate) subdomain: Option<String>,
    pub(crate) repo: String,
    pub(crate) branch: String,
    pub(crate) path: String,
    pub(crate) target: String,
    pub(crate) auto_rebuild: bool,
    pub(crate) webhook_url: String,
    /// Only for admins.
    pub(crate) webhook_secret: Option<String>,
    pub(crate) last: Option<BuildRow>,
    /// The form token, for admins (the auto-rebuild toggle).
    pub(crate) csrf: Option<String>,
}

impl Card {
    pub(crate) fn new(v: DeploymentView, last: Option<&Build>, session: &Session) -> Card {
        let target = match &v.target.0 {
            Target::Local => "local (this host)".to_owned(),
            Target::Kubernetes {
                namespace, context, ..
            } => format!(
                "kubernetes ({}{})",
                namespace.as_deref().unwrap_or("default namespace"),
                context
                    .as_deref()
                    .map(|c| format!(", context {c}"))
                    .unwrap_or_default()
            ),
        };
        Card {
            class: status_class(v.status.as_str()),
            status: v.status.as_str(),
            id: v.id,
            name: v.name,
            description: v.description,
            url: v.url,
            subdomain: v.subdomain,
            repo: v.repo,
            branch: v.branch,
            path: v.path,
            target,
            auto_rebuild: v.auto_rebuild,
            webhook_url: v.webhook_url,
            webhook_secret: v.webhook_secret,
            last: last.map(BuildRow::from),
            csrf: session.is_admin().then(|| session.csrf.clone()),
        }
    }
}

/// `/`: the workspaces.
#[derive(Template)]
#[template(path = "workspaces.html")]
pub(crate) struct WorkspacesPage {
    pub(crate) layout: Layout,
    pub(crate) admin: bool,
    pub(crate) workspaces: Vec<(String, String)>,
    pub(crate) name: String,
    pub(crate) error: Option<(String, Option<String>)>,
}

/// `/workspaces/{ws}`: a card per deployment.
#[derive(Template)]
#[template(path = "deployments.html")]
pub(crate) struct DeploymentsPage {
    pub(crate) layout: Layout,
    pub(crate) admin: bool,
    pub(crate) workspace: String,
    pub(crate) cards: Vec<Card>,
    pub(crate) page: usize,
    pub(crate) pages: usize,
    pub(crate) total: usize,
}

/// One field's inline error: the API's message and hint.
pub(crate) struct FieldError {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

/// The new / edit deployment form.
#[derive(Template)]
#[template(path = "deployment_form.html")]
pub(crate) struct FormPage {
    pub(crate) layout: Layout,
    /// `None` for a new deployment.
    pub(crate) editing: Option<String>,
    pub(crate) workspace: String,
    pub(crate) action: String,
    pub(crate) values: super::DeploymentForm,
    /// (field, error); a field of `""` is a general error shown above the form.
    pub(crate) errors: Vec<(String, FieldError)>,
}

impl FormPage {
    pub(crate) fn error(&self, field: &str) -> Option<&FieldError> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, e)| e)
    }
}

/// The top of a deployment's pages (`deployment_head.html`): breadcrumb, name, the actions the
/// session may take, and the tabs (overview and builds, runs).
pub(crate) struct DeploymentHead {
    pub(crate) csrf: String,
    pub(crate) admin: bool,
    pub(crate) deploy: bool,
    pub(crate) workspace: String,
    pub(crate) id: String,
    pub(crate) name: String,
    /// Which tab is shown: the runs (`true`) or the overview with the builds.
    pub(crate) runs_tab: bool,
}

impl DeploymentHead {
    pub(crate) fn new(
        session: &Session,
        workspace: String,
        id: String,
        name: String,
        runs_tab: bool,
    ) -> DeploymentHead {
        DeploymentHead {
            csrf: session.csrf.clone(),
            admin: session.is_admin(),
            deploy: session.can_deploy(),
            workspace,
            id,
            name,
            runs_tab,
        }
    }
}

/// `/deployments/{id}`.
#[derive(Template)]
#[template(path = "deployment.html")]
pub(crate) struct DeploymentPage {
    pub(crate) layout: Layout,
    pub(crate) head: DeploymentHead,
    /// The rendered [`LiveFragment`] (escaped by its own template).
    pub(crate) live_html: String,
}

/// The part of the deployment page that refreshes itself (status, URL, build history).
#[derive(Template)]
#[template(path = "deployment_live.html")]
pub(crate) struct LiveFragment {
    pub(crate) card: Card,
    pub(crate) builds: Vec<BuildRow>,
    /// The query of this page of the history (`?before=…`), kept by the refresh.
    pub(crate) query: String,
    pub(crate) older: Option<String>,
    pub(crate) paged: bool,
}

/// The delete confirmation.
#[derive(Template)]
#[template(path = "delete.html")]
pub(crate) struct DeletePage {
    pub(crate) layout: Layout,
    pub(crate) csrf: String,
    pub(crate) id: String,
    pub(crate) name: String,
}

/// `/builds/{id}`.
#[derive(Template)]
#[template(path = "build.html")]
pub(crate) struct BuildPage {
    pub(crate) layout: Layout,
    pub(crate) csrf: String,
    pub(crate) deploy: bool,
    pub(crate) row: BuildRow,
    pub(crate) deployment_id: String,
    pub(crate) deployment_name: String,
    pub(crate) running: bool,
    /// The rendered [`BuildResult`] (escaped by its own template).
    pub(crate) result_html: String,
}

/// The build's outcome: rendered in the page, and sent as the log stream's `end` event.
#[derive(Template)]
#[template(path = "build_result.html")]
pub(crate) struct BuildResult {
    pub(crate) status: &'static str,
    pub(crate) class: String,
    pub(crate) finished: bool,
    pub(crate) error: Option<String>,
    pub(crate) image: Option<String>,
    pub(crate) digest: Option<String>,
}

impl From<&Build> for BuildResult {
    fn from(b: &Build) -> BuildResult {
        BuildResult {
            status: b.status.as_str(),
            class: status_class(b.status.as_str()),
            finished: b.status.is_finished(),
            error: b.error_message.clone(),
            image: b.image.clone(),
            digest: b.image_digest.clone(),
        }
    }
}

/// Whether a build may still be cancelled.
pub(crate) fn running(status: BuildStatus) -> bool {
    !status.is_finished()
}
