//! The web dashboard at `/`: server-rendered pages (askama) with htmx for the parts that
//! update themselves, the build log live over server-sent events, sign-in with an API token
//! turned into a session cookie ([`session`]), embedded, content-hashed assets ([`assets`]),
//! and the runs deployed engines report ([`runs`]: a deployment's Runs tab, a run's page with
//! its node timeline, Replay).
//!
//! Every action calls the same functions as the API's handlers (`crate::api::deployments`,
//! `crate::api::builds`, `crate::api::runs`, the views' validation), so the dashboard cannot
//! accept what the API refuses. `/api/*` stays bearer-only: nothing here reads a bearer token, and nothing on
//! `/api/*` reads the cookie.
//!
//! | page | scope |
//! |---|---|
//! | `/`, `/workspaces/{ws}`, `/deployments/{id}`, `/builds/{id}`, `/builds/{id}/log` | read (webhook secrets for admin only) |
//! | `/deployments/{id}/runs`, `/runs/{id}` | read (Replay shown to deploy) |
//! | Deploy, Stop, Cancel, Replay | deploy |
//! | new workspace, new / edit / delete deployment, the auto-rebuild toggle | admin |
//!
//! Every POST needs the session's CSRF token and a same-origin `Origin` (or `Referer`); every
//! answer carries a strict Content-Security-Policy (`default-src 'self'`, no inline script).

mod assets;
mod pages;
mod runs;
mod session;

use crate::api::AppState;
use crate::api::deployments::{
    change_deployment, new_deployment, new_workspace, remove_deployment, stop_deployment,
};
use crate::api::views::{NewDeploymentBody, PatchDeploymentBody, TargetSpec};
use crate::auth::grants;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pages::{
    BuildPage, BuildResult, BuildRow, Card, DeletePage, DeploymentHead, DeploymentPage,
    DeploymentsPage, FieldError, FormPage, Layout, LiveFragment, Page, WorkspacesPage, html,
};
use pipedreamer_store::{Scope, Target};
use serde::Deserialize;
use session::Session;

/// The Content-Security-Policy of every dashboard answer: only this origin's files, no inline
/// script or style, no framing.
pub(crate) const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Deployments shown per page of a workspace.
const CARDS_PER_PAGE: usize = 50;
/// Builds shown per page of a deployment's history.
const BUILDS_PER_PAGE: u32 = 20;

/// The dashboard's routes (merged into [`crate::api::router`]).
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(workspaces).post(create_workspace))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/workspaces/{ws}", get(deployments))
        .route("/workspaces/{ws}/new", get(new_form).post(create))
        .route("/deployments/{id}", get(deployment))
        .route("/deployments/{id}/live", get(deployment_live))
        .route("/deployments/{id}/edit", get(edit_form).post(edit))
        .route("/deployments/{id}/deploy", post(deploy))
        .route("/deployments/{id}/stop", post(stop))
        .route("/deployments/{id}/auto-rebuild", post(auto_rebuild))
        .route("/deployments/{id}/delete", get(delete_page).post(delete))
        .route("/deployments/{id}/runs", get(runs::deployment_runs))
        .route(
            "/deployments/{id}/runs/live",
            get(runs::deployment_runs_live),
        )
        .route("/runs/{id}", get(runs::run))
        .route("/runs/{id}/ready", get(runs::run_ready))
        .route("/runs/{id}/replay", post(runs::replay))
        .route("/builds/{id}", get(build))
        .route("/builds/{id}/log", get(build_log))
        .route("/builds/{id}/cancel", post(cancel))
        .route("/assets/{hash}/{name}", get(assets::serve))
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers on every dashboard answer.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show secrets to admins and change by the second.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Unknown routes: the dashboard's 404 page for a browser, the API's JSON otherwise.
pub(crate) async fn not_found(req: Request) -> Response {
    let browser = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser && !req.uri().path().starts_with("/api/") {
        let res = pages::error_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "Nothing lives at this address. The deployments are listed from the start page.",
        );
        return security_headers(res).await;
    }
    crate::api::ops::not_found().await
}

/// An action's failure as a page.
fn failed(session: &Session, e: ApiError) -> Response {
    let heading = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::BAD_GATEWAY => "The target did not answer",
        s if s.is_server_error() => "Something failed on the server",
        _ => "The request was refused",
    };
    pages::error_for(session, e.status, heading, &message_of(&e))
}

/// An API error as one line for a page: its message and hint.
fn message_of(e: &ApiError) -> String {
    match &e.body.hint {
        Some(hint) => format!("{} (hint: {hint})", e.body.error),
        None => e.body.error.clone(),
    }
}

/// Refuses a POST whose CSRF token or origin is wrong, or whose scope is too small.
// The refusal is the page answered, once per request: boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn guard(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    csrf: &str,
    need: Scope,
) -> Result<(), Response> {
    if !session::same_origin(state, headers) || !session.csrf_ok(csrf) {
        tracing::warn!(token_id = %session.token_id, "dashboard: a form post failed the CSRF or origin check");
        return Err(pages::error_for(
            session,
            StatusCode::FORBIDDEN,
            "Refused",
            "This form was not sent from this dashboard's own page (its CSRF token or origin does not match). Reload the page and try again.",
        ));
    }
    if !grants(session.scope, need) {
        return Err(pages::error_for(
            session,
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!(
                "A `{}` token may not do this: it needs `{need}`. Sign in with a token of that scope.",
                session.scope
            ),
        ));
    }
    Ok(())
}

type Page2 = Result<Response, Response>;

fn render_failed(session: &Session, e: &askama::Error) -> Response {
    failed(session, ApiError::internal("rendering a dashboard page", e))
}

// ---- sign-in -------------------------------------------------------------------------------

async fn signin_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Signed in already: straight to the deployments.
    if session::read(&state, &headers).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    Page::signin(None).render_status(StatusCode::OK)
}

#[derive(Deserialize)]
struct SigninForm {
    token: String,
}

async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    if !session::same_origin(&state, &headers) {
        return Page::signin(Some(
            "Sign-in must come from this dashboard's own page.".into(),
        ))
        .render_status(StatusCode::FORBIDDEN);
    }
    let claims = match state.tokens().verify(form.token.trim()).await {
        Ok(c) => c,
        Err(e) => {
            let why = format!("This token cannot sign in: {}.", e.body.error);
            return Page::signin(Some(why)).render_status(StatusCode::UNAUTHORIZED);
        }
    };
    if !grants(claims.scope, Scope::Read) {
        return Page::signin(Some(format!(
            "A `{}` token cannot sign in: use a `read`, `deploy` or `admin` token.",
            claims.scope
        )))
        .render_status(StatusCode::FORBIDDEN);
    }
    let session = match Session::start(&state, claims.jti, claims.scope, claims.exp) {
        Ok(s) => s,
        Err(e) => return ApiError::internal("starting a session", &e).into_response(),
    };
    tracing::info!(token_id = %session.token_id, scope = %session.scope, "dashboard sign-in");
    let mut res = Redirect::to("/").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session.cookie(&state));
    res
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn signout(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Read)?;
    session
        .end(&state)
        .await
        .map_err(|e| failed(&session, e.into()))?;
    let mut res = Redirect::to("/signin").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&state));
    Ok(res)
}

// ---- workspaces ----------------------------------------------------------------------------

async fn workspaces(State(state): State<AppState>, session: Session) -> Page2 {
    workspaces_page(&state, &session, String::new(), None, StatusCode::OK).await
}

async fn workspaces_page(
    state: &AppState,
    session: &Session,
    name: String,
    error: Option<(String, Option<String>)>,
    status: StatusCode,
) -> Page2 {
    let all = state
        .store()
        .workspaces()
        .await
        .map_err(|e| failed(session, e.into()))?;
    Ok(html(
        status,
        &WorkspacesPage {
            layout: Layout::new("Workspaces", Some(session)),
            admin: session.is_admin(),
            workspaces: all.into_iter().map(|w| (w.id, w.name)).collect(),
            name,
            error,
        },
    ))
}

#[derive(Deserialize)]
struct WorkspaceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn create_workspace(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<WorkspaceForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Admin)?;
    match new_workspace(&state, form.name.trim()).await {
        Ok(ws) => Ok(Redirect::to(&format!("/workspaces/{}", ws.name)).into_response()),
        Err(e) if e.status.is_client_error() => {
            let status = e.status;
            workspaces_page(
                &state,
                &session,
                form.name,
                Some((e.body.error, e.body.hint)),
                status,
            )
            .await
        }
        Err(e) => Err(failed(&session, e)),
    }
}

// ---- deployments of a workspace --------------------------------------------------------------

#[derive(Deserialize)]
struct PageQuery {
    page: Option<usize>,
}

async fn deployments(
    State(state): State<AppState>,
    session: Session,
    Path(ws): Path<String>,
    Query(query): Query<PageQuery>,
) -> Page2 {
    let fail = |e: ApiError| failed(&session, e);
    let workspace = state
        .store()
        .workspace(&ws)
        .await
        .map_err(|e| fail(e.into()))?;
    let all = state
        .store()
        .deployments(&workspace.id)
        .await
        .map_err(|e| fail(e.into()))?;
    let total = all.len();
    let pages = total.div_ceil(CARDS_PER_PAGE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let mut cards = Vec::new();
    for d in all
        .into_iter()
        .skip((page - 1) * CARDS_PER_PAGE)
        .take(CARDS_PER_PAGE)
    {
        let last = state
            .store()
            .builds(&d.id, 1, None)
            .await
            .map_err(|e| fail(e.into()))?;
        let view = state.deployment_view(d, session.is_admin());
        cards.push(Card::new(view, last.first(), &session));
    }
    Ok(html(
        StatusCode::OK,
        &DeploymentsPage {
            layout: Layout::new(format!("{} · deployments", workspace.name), Some(&session)),
            admin: session.is_admin(),
            workspace: workspace.name,
            cards,
            page,
            pages,
            total,
        },
    ))
}

// ---- the deployment form -------------------------------------------------------------------

/// The deployment form's fields, as the browser sends them (and as the form shows them again
/// next to its errors).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DeploymentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) repo: String,
    #[serde(default)]
    pub(crate) branch: String,
    #[serde(default)]
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) target: String,
    #[serde(default)]
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) context: String,
    #[serde(default)]
    pub(crate) registry: String,
    #[serde(default)]
    pub(crate) cluster_registry: String,
    /// A checkbox: present (`on`) when ticked.
    #[serde(default)]
    pub(crate) auto_rebuild: Option<String>,
    #[serde(default)]
    pub(crate) subdomain: String,
}

impl Default for DeploymentForm {
    fn default() -> Self {
        DeploymentForm {
            csrf: String::new(),
            name: String::new(),
            description: String::new(),
            repo: String::new(),
            branch: "main".into(),
            path: ".".into(),
            target: "local".into(),
            namespace: String::new(),
            context: String::new(),
            registry: String::new(),
            cluster_registry: String::new(),
            auto_rebuild: Some("on".into()),
            subdomain: String::new(),
        }
    }
}

fn optional(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl DeploymentForm {
    fn target(&self) -> Target {
        if self.target == "kubernetes" {
            Target::Kubernetes {
                namespace: optional(&self.namespace),
                context: optional(&self.context),
                registry: optional(&self.registry),
                cluster_registry: optional(&self.cluster_registry),
            }
        } else {
            Target::Local
        }
    }

    fn new_body(&self) -> NewDeploymentBody {
        NewDeploymentBody {
            name: self.name.trim().to_owned(),
            description: self.description.clone(),
            repo: self.repo.trim().to_owned(),
            branch: self.branch.trim().to_owned(),
            path: self.path.trim().to_owned(),
            target: Some(TargetSpec(self.target())),
            auto_rebuild: self.auto_rebuild.is_some(),
            subdomain: optional(&self.subdomain),
        }
    }

    fn patch_body(&self) -> PatchDeploymentBody {
        PatchDeploymentBody {
            name: None,
            description: Some(self.description.clone()),
            repo: Some(self.repo.trim().to_owned()),
            branch: Some(self.branch.trim().to_owned()),
            path: Some(self.path.trim().to_owned()),
            target: Some(TargetSpec(self.target())),
            auto_rebuild: Some(self.auto_rebuild.is_some()),
            subdomain: Some(optional(&self.subdomain)),
        }
    }

    fn from_deployment(d: &pipedreamer_store::Deployment) -> DeploymentForm {
        let mut form = DeploymentForm {
            name: d.name.clone(),
            description: d.description.clone(),
            repo: d.repo.clone(),
            branch: d.branch.clone(),
            path: d.path.clone(),
            target: d.target.kind().to_owned(),
            auto_rebuild: d.auto_rebuild.then(|| "on".into()),
            subdomain: d.subdomain.clone().unwrap_or_default(),
            ..DeploymentForm::default()
        };
        if let Target::Kubernetes {
            namespace,
            context,
            registry,
            cluster_registry,
        } = &d.target
        {
            form.namespace = namespace.clone().unwrap_or_default();
            form.context = context.clone().unwrap_or_default();
            form.registry = registry.clone().unwrap_or_default();
            form.cluster_registry = cluster_registry.clone().unwrap_or_default();
        }
        form
    }
}

/// The form field an API validation error is about: its message starts with `<field>: `.
fn error_field(e: &ApiError) -> String {
    const FIELDS: &[&str] = &[
        "name",
        "description",
        "repo",
        "branch",
        "path",
        "subdomain",
        "target.namespace",
        "target.context",
        "target.registry",
        "target.cluster_registry",
    ];
    let field = e.body.error.split(": ").next().unwrap_or_default();
    if FIELDS.contains(&field) {
        field.trim_start_matches("target.").to_owned()
    } else {
        String::new()
    }
}

fn form_error(e: ApiError) -> (String, FieldError) {
    (
        error_field(&e),
        FieldError {
            message: e.body.error,
            hint: e.body.hint,
        },
    )
}

async fn new_form(
    State(state): State<AppState>,
    session: Session,
    Path(ws): Path<String>,
) -> Page2 {
    if !session.is_admin() {
        return Err(failed(&session, not_admin(&session)));
    }
    let workspace = state
        .store()
        .workspace(&ws)
        .await
        .map_err(|e| failed(&session, e.into()))?;
    Ok(html(
        StatusCode::OK,
        &FormPage {
            layout: Layout::new("New deployment", Some(&session)),
            editing: None,
            action: format!("/workspaces/{}/new", workspace.name),
            workspace: workspace.name,
            values: DeploymentForm::default(),
            errors: Vec::new(),
        },
    ))
}

fn not_admin(session: &Session) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "a `{}` token may not change deployments: it needs `admin`",
            session.scope
        ),
    )
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(ws): Path<String>,
    Form(form): Form<DeploymentForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Admin)?;
    let workspace = state
        .store()
        .workspace(&ws)
        .await
        .map_err(|e| failed(&session, e.into()))?;
    match new_deployment(&state, &workspace.id, form.new_body()).await {
        Ok(d) => Ok(Redirect::to(&format!("/deployments/{}", d.id)).into_response()),
        Err(e) if e.status.is_client_error() => Ok(html(
            e.status,
            &FormPage {
                layout: Layout::new("New deployment", Some(&session)),
                editing: None,
                action: format!("/workspaces/{}/new", workspace.name),
                workspace: workspace.name,
                values: form,
                errors: vec![form_error(e)],
            },
        )),
        Err(e) => Err(failed(&session, e)),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Page2 {
    if !session.is_admin() {
        return Err(failed(&session, not_admin(&session)));
    }
    let fail = |e: pipedreamer_store::StoreError| failed(&session, e.into());
    let d = state.store().deployment(&id).await.map_err(fail)?;
    let ws = state
        .store()
        .workspace(&d.workspace_id)
        .await
        .map_err(fail)?;
    Ok(html(
        StatusCode::OK,
        &FormPage {
            layout: Layout::new(format!("Edit {}", d.name), Some(&session)),
            editing: Some(d.id.clone()),
            action: format!("/deployments/{}/edit", d.id),
            workspace: ws.name,
            values: DeploymentForm::from_deployment(&d),
            errors: Vec::new(),
        },
    ))
}

async fn edit(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(mut form): Form<DeploymentForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Admin)?;
    let fail = |e: pipedreamer_store::StoreError| failed(&session, e.into());
    let d = state.store().deployment(&id).await.map_err(fail)?;
    let ws = state
        .store()
        .workspace(&d.workspace_id)
        .await
        .map_err(fail)?;
    // Name and target type are immutable: the form shows them, the change never carries them.
    form.name = d.name.clone();
    form.target = d.target.kind().to_owned();
    match change_deployment(&state, &id, form.patch_body()).await {
        Ok(d) => Ok(Redirect::to(&format!("/deployments/{}", d.id)).into_response()),
        Err(e) if e.status.is_client_error() => Ok(html(
            e.status,
            &FormPage {
                layout: Layout::new(format!("Edit {}", d.name), Some(&session)),
                editing: Some(d.id.clone()),
                action: format!("/deployments/{}/edit", d.id),
                workspace: ws.name,
                values: form,
                errors: vec![form_error(e)],
            },
        )),
        Err(e) => Err(failed(&session, e)),
    }
}

// ---- one deployment ------------------------------------------------------------------------

#[derive(Deserialize)]
struct HistoryQuery {
    before: Option<String>,
}

async fn live_fragment(
    state: &AppState,
    session: &Session,
    id: &str,
    before: Option<String>,
) -> Result<(LiveFragment, String), ApiError> {
    let d = state.store().deployment(id).await?;
    let ws = state.store().workspace(&d.workspace_id).await?;
    // One more than a page: whether there is an older page.
    let mut builds = state
        .store()
        .builds(id, BUILDS_PER_PAGE + 1, before.as_deref())
        .await?;
    let older = (builds.len() > BUILDS_PER_PAGE as usize).then(|| {
        builds.truncate(BUILDS_PER_PAGE as usize);
        builds.last().map(|b| b.id.clone()).unwrap_or_default()
    });
    let rows: Vec<BuildRow> = builds.iter().map(BuildRow::from).collect();
    let last = builds.first().filter(|_| before.is_none());
    let view = state.deployment_view(d, session.is_admin());
    let card = Card::new(view, last, session);
    let query = before
        .as_ref()
        .map(|b| format!("?before={b}"))
        .unwrap_or_default();
    Ok((
        LiveFragment {
            card,
            builds: rows,
            query,
            older,
            paged: before.is_some(),
        },
        ws.name,
    ))
}

async fn deployment(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Page2 {
    let (live, workspace) = live_fragment(&state, &session, &id, query.before)
        .await
        .map_err(|e| failed(&session, e))?;
    let live_html = live.render().map_err(|e| render_failed(&session, &e))?;
    Ok(html(
        StatusCode::OK,
        &DeploymentPage {
            layout: Layout::new(live.card.name.clone(), Some(&session)),
            head: DeploymentHead::new(
                &session,
                workspace,
                live.card.id.clone(),
                live.card.name.clone(),
                false,
            ),
            live_html,
        },
    ))
}

async fn deployment_live(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Page2 {
    let (live, _) = live_fragment(&state, &session, &id, query.before)
        .await
        .map_err(|e| failed(&session, e))?;
    Ok(html(StatusCode::OK, &live))
}

async fn deploy(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Deploy)?;
    let build = crate::api::builds::queue_manual_build(&state, &id)
        .await
        .map_err(|e| failed(&session, e))?;
    tracing::info!(deployment = %id, build = %build.id, token_id = %session.token_id, "manual build queued (dashboard)");
    Ok(Redirect::to(&format!("/builds/{}", build.id)).into_response())
}

async fn stop(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Deploy)?;
    stop_deployment(&state, &id)
        .await
        .map_err(|e| failed(&session, e))?;
    Ok(Redirect::to(&format!("/deployments/{id}")).into_response())
}

#[derive(Deserialize)]
struct AutoRebuildForm {
    #[serde(default)]
    csrf: String,
    /// `on` or `off`.
    #[serde(default)]
    auto_rebuild: String,
}

/// The cards' auto-rebuild toggle: a change of that one field, as a PATCH would make it.
async fn auto_rebuild(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AutoRebuildForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Admin)?;
    let on = match form.auto_rebuild.as_str() {
        "on" => true,
        "off" => false,
        other => {
            return Err(failed(
                &session,
                ApiError::invalid("auto_rebuild", format!("`{other}` is not `on` or `off`")),
            ));
        }
    };
    let change = PatchDeploymentBody {
        auto_rebuild: Some(on),
        ..PatchDeploymentBody::default()
    };
    change_deployment(&state, &id, change)
        .await
        .map_err(|e| failed(&session, e))?;
    Ok(Redirect::to(&format!("/deployments/{id}")).into_response())
}

async fn delete_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Page2 {
    if !session.is_admin() {
        return Err(failed(&session, not_admin(&session)));
    }
    let d = state
        .store()
        .deployment(&id)
        .await
        .map_err(|e| failed(&session, e.into()))?;
    Ok(html(
        StatusCode::OK,
        &DeletePage {
            layout: Layout::new(format!("Delete {}", d.name), Some(&session)),
            csrf: session.csrf.clone(),
            id: d.id,
            name: d.name,
        },
    ))
}

async fn delete(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Admin)?;
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
    remove_deployment(&state, &id, false).await.map_err(fail)?;
    Ok(Redirect::to(&format!("/workspaces/{}", ws.name)).into_response())
}

// ---- builds --------------------------------------------------------------------------------

async fn build(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Page2 {
    let fail = |e: pipedreamer_store::StoreError| failed(&session, e.into());
    let b = state.store().build(&id).await.map_err(fail)?;
    let d = state
        .store()
        .deployment(&b.deployment_id)
        .await
        .map_err(fail)?;
    Ok(html(
        StatusCode::OK,
        &BuildPage {
            layout: Layout::new(format!("Build of {}", d.name), Some(&session)),
            csrf: session.csrf.clone(),
            deploy: session.can_deploy(),
            row: BuildRow::from(&b),
            deployment_id: d.id,
            deployment_name: d.name,
            running: pages::running(b.status),
            result_html: BuildResult::from(&b)
                .render()
                .map_err(|e| render_failed(&session, &e))?,
        },
    ))
}

#[derive(Deserialize)]
struct LogQuery {
    /// Resume after this chunk when the browser's `Last-Event-ID` is gone (a new EventSource).
    after: Option<i64>,
}

/// The log as events for the page: the API's stream (same resume rules), with each chunk's
/// text HTML-escaped and the end as the result fragment.
async fn build_log(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Page2 {
    let after = crate::api::logs::last_event_id(&headers)
        .map_err(|e| failed(&session, e))?
        .max(query.after.unwrap_or(0).max(0));
    let b = state
        .store()
        .build(&id)
        .await
        .map_err(|e| failed(&session, e.into()))?;
    let format = crate::api::logs::StreamFormat {
        log: |text| {
            let mut out = escape(&crate::api::logs::data_lines(text));
            out.push('\n');
            out
        },
        end: |b| BuildResult::from(b).render().unwrap_or_default(),
    };
    Ok(crate::api::logs::log_stream(state, b.id, after, format).into_response())
}

/// HTML-escapes text for an element's content.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn cancel(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page2 {
    guard(&state, &session, &headers, &form.csrf, Scope::Deploy)?;
    crate::api::builds::cancel_build(&state, &id)
        .await
        .map_err(|e| failed(&session, e))?;
    Ok(Redirect::to(&format!("/builds/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_text_is_escaped() {
        assert_eq!(
            escape("<img src=x onerror='a()'> & \"b\""),
            "&lt;img src=x onerror=&#39;a()&#39;&gt; &amp; &quot;b&quot;"
        );
    }
}
