//! Dashboard sessions: an API token, checked once at sign-in, becomes a signed cookie.
//!
//! The cookie holds `<token id>.<scope>.<expiry>.<session id>.<MAC>` (HMAC-SHA256 under a key
//! derived from the token secret, so every replica accepts it), never the token itself: a
//! cookie that leaks is worth at most 12 hours and nothing on `/api/*`. On every request the
//! MAC and expiry are checked and the store is asked whether the token is still recorded
//! unrevoked ([`crate::auth::Tokens::check_recorded`], the last step of bearer verification),
//! so revoking the token ends its sessions at once. The expiry is the earlier of sign-in + 12 h
//! and the token's own expiry.
//!
//! Forms carry a CSRF token, the HMAC of the session id (so it changes with every sign-in and
//! cannot be computed without the key), and every POST must also come from this origin
//! (`Origin`, or `Referer` when a browser sends no `Origin`). With `SameSite=Strict` the
//! cookie is not even sent on a cross-site request; the two checks stand behind it.

use super::pages::{self, Page};
use crate::api::AppState;
use crate::auth::grants;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use pipedreamer_store::Scope;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "pd_session";
/// The longest a session lasts.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(12 * 3600);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A signed-in reader of the dashboard.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The token's id (`jti`).
    pub(crate) token_id: String,
    /// The token's scope.
    pub(crate) scope: Scope,
    /// Unix seconds when the session ends.
    pub(crate) expires: u64,
    /// Random, per sign-in: what the CSRF token is derived from.
    sid: String,
    /// The form token of this session.
    pub(crate) csrf: String,
}

impl Session {
    /// Ends this session for every replica (signing out): a copy of its cookie is refused too.
    pub(crate) async fn end(&self, state: &AppState) -> Result<(), pipedreamer_store::StoreError> {
        let expires = i64::try_from(self.expires).unwrap_or(i64::MAX);
        state.store().end_session(&self.sid, expires).await
    }

    /// May start, stop and cancel builds.
    pub(crate) fn can_deploy(&self) -> bool {
        grants(self.scope, Scope::Deploy)
    }

    /// May create, change and delete, and see webhook secrets.
    pub(crate) fn is_admin(&self) -> bool {
        grants(self.scope, Scope::Admin)
    }

    /// A new session for a verified token: `token_exp` is the token's expiry (unix seconds).
    pub(crate) fn start(
        state: &AppState,
        token_id: String,
        scope: Scope,
        token_exp: u64,
    ) -> std::io::Result<Session> {
        let sid = hex::encode(crate::random_bytes::<16>()?);
        let expires = (now_secs() + MAX_AGE.as_secs()).min(token_exp);
        let csrf = csrf_for(state, &sid);
        Ok(Session {
            token_id,
            scope,
            expires,
            sid,
            csrf,
        })
    }

    /// The `Set-Cookie` value that stores this session.
    pub(crate) fn cookie(&self, state: &AppState) -> HeaderValue {
        let payload = format!(
            "{}.{}.{}.{}",
            self.token_id, self.scope, self.expires, self.sid
        );
        let mac = hex::encode(ring::hmac::sign(
            state.tokens().session_key(),
            payload.as_bytes(),
        ));
        let max_age = self.expires.saturating_sub(now_secs());
        let value = format!(
            "{COOKIE}={payload}.{mac}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
            secure_attr(state)
        );
        // Every part is ASCII from a fixed alphabet (hex, digits, a UUID, a scope word).
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Whether `token` is this session's form token (constant time).
    pub(crate) fn csrf_ok(&self, token: &str) -> bool {
        // Constant time: the comparison must not tell how many leading characters matched.
        let (a, b) = (self.csrf.as_bytes(), token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn secure_attr(state: &AppState) -> &'static str {
    if state.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// The `Set-Cookie` value that ends a session in the browser.
pub(crate) fn clear_cookie(state: &AppState) -> HeaderValue {
    let value = format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        secure_attr(state)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn csrf_for(state: &AppState, sid: &str) -> String {
    let tag = ring::hmac::sign(
        state.tokens().session_key(),
        format!("csrf:{sid}").as_bytes(),
    );
    hex::encode(&tag.as_ref()[..16])
}

/// Why a request has no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSession {
    /// No cookie: never signed in (or signed out).
    Missing,
    /// A cookie that is malformed or not signed by this server.
    Invalid,
    /// Past its 12 h or its token's expiry.
    Expired,
    /// The token was revoked (or this database never knew it).
    Revoked,
    /// Signed out (the cookie may have been copied before).
    SignedOut,
    /// The store could not be asked.
    Unavailable,
}

/// The session cookie's value among the request's cookies.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Reads and checks the session of a request.
pub(crate) async fn read(state: &AppState, headers: &HeaderMap) -> Result<Session, NoSession> {
    let value = cookie_value(headers).ok_or(NoSession::Missing)?;
    let (payload, mac) = value.rsplit_once('.').ok_or(NoSession::Invalid)?;
    let mac = hex::decode(mac).map_err(|_| NoSession::Invalid)?;
    ring::hmac::verify(state.tokens().session_key(), payload.as_bytes(), &mac)
        .map_err(|_| NoSession::Invalid)?;
    let mut parts = payload.split('.');
    let (Some(token_id), Some(scope), Some(expires), Some(sid), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(NoSession::Invalid);
    };
    let scope: Scope = scope.parse().map_err(|_| NoSession::Invalid)?;
    let expires: u64 = expires.parse().map_err(|_| NoSession::Invalid)?;
    if expires <= now_secs() {
        return Err(NoSession::Expired);
    }
    match state.tokens().check_recorded(token_id).await {
        Ok(()) => {}
        Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => {
            return Err(NoSession::Revoked);
        }
        Err(_) => return Err(NoSession::Unavailable),
    }
    match state.store().session_ended(sid).await {
        Ok(false) => {}
        Ok(true) => return Err(NoSession::SignedOut),
        Err(_) => return Err(NoSession::Unavailable),
    }
    Ok(Session {
        token_id: token_id.to_owned(),
        scope,
        expires,
        csrf: csrf_for(state, sid),
        sid: sid.to_owned(),
    })
}

impl NoSession {
    /// What a page answers without a session: the sign-in page (a reason shown when the
    /// session ended rather than never began).
    pub(crate) fn response(self, state: &AppState) -> Response {
        match self {
            NoSession::Missing => Redirect::to("/signin").into_response(),
            NoSession::Unavailable => pages::error_page(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable",
                "Retry in a moment.",
            ),
            ended => {
                let why = match ended {
                    NoSession::Expired => {
                        "Your session has expired (sessions last 12 hours at most, and never longer than their token)."
                    }
                    NoSession::Revoked => {
                        "The token this session was started with has been revoked."
                    }
                    NoSession::SignedOut => "This session was signed out.",
                    _ => "Your session is not valid on this server.",
                };
                let mut res = Page::signin(Some(why.to_owned()))
                    .render_status(axum::http::StatusCode::UNAUTHORIZED);
                res.headers_mut()
                    .insert(header::SET_COOKIE, clear_cookie(state));
                res
            }
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        read(state, &parts.headers)
            .await
            .map_err(|no| no.response(state))
    }
}

/// Whether a POST comes from this server's own pages: its `Origin` (or, without one, its
/// `Referer`) names the host the request was sent to, or the configured public URL.
pub(crate) fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(source) = source else {
        return false;
    };
    let Some((scheme, rest)) = source.split_once("://") else {
        return false; // e.g. `Origin: null` from a sandboxed frame or a data: URL
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let origin = format!("{scheme}://{authority}");
    if origin.eq_ignore_ascii_case(state.public_url()) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    matches!(scheme, "http" | "https") && host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
}
