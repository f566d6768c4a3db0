//! API tokens: HS256 JWTs carrying an id (`jti`), a scope, an optional deployment (for
//! `report` tokens) and an expiry. The store keeps only the id, scope, SHA-256 of the token,
//! expiry and a revoked flag, so a leaked database mints nothing and revocation is a row update.
//!
//! Scopes form a lattice `read < deploy < admin`; `report` stands apart (bound to one
//! deployment, for the run-ingest endpoint: the records go to the token's deployment) and is
//! refused everywhere else.
//!
//! | route | scope |
//! |---|---|
//! | `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /api/openapi.json` | none |
//! | `POST /api/deployments/{id}/webhook` | none (HMAC signature) |
//! | `GET /api/workspaces/{ws}/deployments`, `GET /api/deployments/{id}` | read (`webhook_secret` only for admin) |
//! | `GET /api/deployments/{id}/builds`, `GET /api/builds/{id}`, `GET /api/builds/{id}/logs` | read |
//! | `GET /api/deployments/{id}/secrets` (key names only) | read |
//! | `GET /api/deployments/{id}/runs`, `GET /api/runs/{id}` | read |
//! | `POST /api/runs/{id}/replay` | deploy |
//! | `POST /api/ingest/runs` | report (records bound to the token's deployment) |
//! | `POST /api/deployments/{id}/deploy`, `POST /api/deployments/{id}/stop`, `POST /api/builds/{id}/cancel` | deploy |
//! | `POST /api/workspaces`, `POST /api/workspaces/{ws}/deployments` | admin |
//! | `PATCH /api/deployments/{id}`, `DELETE /api/deployments/{id}`, `PUT /api/deployments/{id}/secrets` | admin |
//!
//! Failures: no token, a malformed, badly signed, expired, unknown or revoked token answer 401
//! with a hint; a valid token whose scope does not reach the route's answers 403. Token text
//! never reaches a log line or an error message.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pipedreamer_store::{Scope, Store, StoreError, TokenRecord};
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Token problems outside a request (minting, listing, revoking).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// `report` tokens are bound to a deployment; other scopes are not.
    #[error(
        "a `report` token needs a deployment id, and only a `report` token takes one\nhint: pass --deployment ID with --scope report"
    )]
    Binding,
    /// The TTL is zero or does not fit a timestamp.
    #[error("token lifetime `{0}` is out of range\nhint: use e.g. `24h` or `720h`")]
    Ttl(String),
    /// Signing failed (the key is unusable).
    #[error("cannot sign the token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The admin token file could not be written.
    #[error(
        "cannot write the admin token to `{path}`: {source}\nhint: check the permissions of the data directory"
    )]
    AdminFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Whether a token of scope `have` may call a route that needs `need`.
pub fn grants(have: Scope, need: Scope) -> bool {
    fn rank(s: Scope) -> Option<u8> {
        match s {
            Scope::Read => Some(1),
            Scope::Deploy => Some(2),
            Scope::Admin => Some(3),
            Scope::Report => None,
        }
    }
    match (rank(have), rank(need)) {
        (Some(h), Some(n)) => h >= n,
        // `report` grants only `report`; nothing else grants it.
        (None, None) => true,
        _ => false,
    }
}

/// The JWT's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Token id, as stored.
    pub jti: String,
    /// What it may do.
    pub scope: Scope,
    /// The deployment a `report` token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Expires at (unix seconds).
    pub exp: u64,
}

/// A freshly minted token: the text (shown once) and what the store keeps.
pub struct Minted {
    /// The JWT. Shown to its owner once; never logged.
    pub token: String,
    /// The stored record.
    pub record: TokenRecord,
}

// By hand so `{:?}` never prints the token.
impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("token", &"***")
            .field("record", &self.record)
            .finish()
    }
}

/// Mints and verifies tokens against the store.
#[derive(Clone)]
pub struct Tokens {
    store: Store,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    default_ttl: Duration,
    /// Signs the dashboard's session cookies and CSRF tokens: derived from the token secret
    /// (so every replica agrees) but never equal to it (a session MAC is not a JWT signature).
    session_key: ring::hmac::Key,
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Tokens {
    /// Tokens signed with `secret`, minted with `default_ttl` unless told otherwise.
    pub fn new(store: Store, secret: &str, default_ttl: Duration) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "jti"]);
        let derived = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
            b"pipedreamer dashboard session key v1",
        );
        Tokens {
            session_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()),
            store,
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            default_ttl,
        }
    }

    /// Mints a token and records it. `report` tokens need `deployment_id`, others refuse one.
    pub async fn mint(
        &self,
        scope: Scope,
        ttl: Option<Duration>,
        deployment_id: Option<String>,
    ) -> Result<Minted, AuthError> {
        if (scope == Scope::Report) != deployment_id.is_some() {
            return Err(AuthError::Binding);
        }
        let ttl = ttl.unwrap_or(self.default_ttl);
        let created_at = now_millis();
        let ttl_ms = i64::try_from(ttl.as_millis())
            .ok()
            .filter(|ms| *ms > 0 && ms.checked_add(created_at).is_some())
            .ok_or_else(|| AuthError::Ttl(humantime::format_duration(ttl).to_string()))?;
        let expires_at = created_at + ttl_ms;
        let claims = Claims {
            jti: uuid::Uuid::now_v7().to_string(),
            scope,
            deployment_id: deployment_id.clone(),
            iat: (created_at / 1000) as u64,
            exp: (expires_at / 1000) as u64,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        let record = TokenRecord {
            id: claims.jti,
            scope,
            deployment_id,
            token_hash: pipedreamer_store::token_hash(&token),
            created_at,
            expires_at: Some(expires_at),
            revoked: false,
        };
        self.store.insert_token(&record).await?;
        Ok(Minted { token, record })
    }

    /// Checks a bearer token: signature, expiry, and that the store knows it unrevoked.
    pub async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let claims = match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => data.claims,
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::InvalidSignature => {
                        "the token's signature does not match this server's key"
                    }
                    _ => "the token is not a valid Pipedreamer token",
                };
                return Err(unauthorized(why));
            }
        };
        self.check_recorded(&claims.jti).await?;
        Ok(claims)
    }

    /// Checks that the store still knows token `jti` unrevoked: [`Tokens::verify`]'s last step,
    /// and what a dashboard session (which keeps only the id) repeats on every request.
    pub async fn check_recorded(&self, jti: &str) -> Result<(), ApiError> {
        if self.store.token_revoked(jti).await? {
            return Err(unauthorized("the token has been revoked"));
        }
        Ok(())
    }

    /// The key of the dashboard's session cookies and CSRF tokens.
    pub(crate) fn session_key(&self) -> &ring::hmac::Key {
        &self.session_key
    }

    /// Every token record, newest first.
    pub async fn list(&self) -> Result<Vec<TokenRecord>, AuthError> {
        let mut all = self.store.tokens().await?;
        all.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(all)
    }

    /// Revokes a token by id (its JWT is refused from now on).
    pub async fn revoke(&self, id: &str) -> Result<(), AuthError> {
        Ok(self.store.revoke_token(id).await?)
    }

    /// On first start (no token recorded yet), mints an admin token. The caller shows it once
    /// on a terminal or stores it with [`write_admin_token`].
    pub async fn first_admin_token(&self) -> Result<Option<Minted>, AuthError> {
        if !self.store.tokens().await?.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.mint(Scope::Admin, None, None).await?))
    }
}

/// Writes the admin token to `<data_dir>/admin-token` (mode 0600) and returns the path.
pub fn write_admin_token(data_dir: &Path, minted: &Minted) -> Result<PathBuf, AuthError> {
    let path = data_dir.join("admin-token");
    std::fs::create_dir_all(data_dir)
        .and_then(|()| crate::write_private(&path, &minted.token))
        .map_err(|source| AuthError::AdminFile {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

fn unauthorized(why: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, why).hint(
        "send `Authorization: Bearer <token>`; `pipedreamer server token create --scope read|deploy|admin` mints one",
    )
}

/// What a route needs; see the module docs for the table.
pub trait Requirement: Send + Sync + 'static {
    /// The least scope that may call the route.
    const SCOPE: Scope;
}

/// Routes that only read.
pub struct NeedRead;
/// Routes that start, stop or cancel builds.
pub struct NeedDeploy;
/// Routes that create, change or delete records, or see secrets.
pub struct NeedAdmin;
/// The run-ingest route: only a `report` token, bound to a deployment.
pub struct NeedReport;

impl Requirement for NeedRead {
    const SCOPE: Scope = Scope::Read;
}
impl Requirement for NeedDeploy {
    const SCOPE: Scope = Scope::Deploy;
}
impl Requirement for NeedAdmin {
    const SCOPE: Scope = Scope::Admin;
}
impl Requirement for NeedReport {
    const SCOPE: Scope = Scope::Report;
}

/// An extractor that admits a request with a valid token whose scope grants `R` (401/403
/// otherwise). Put it first among a handler's arguments so it answers before the body is read.
pub struct Authorized<R> {
    /// The verified claims.
    pub claims: Claims,
    _need: PhantomData<R>,
}

impl<R> Authorized<R> {
    /// Whether the caller is an admin (e.g. to show webhook secrets).
    pub fn is_admin(&self) -> bool {
        self.claims.scope == Scope::Admin
    }
}

impl<R: Requirement> FromRequestParts<crate::api::AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::api::AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("this route needs a bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, token) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header is not `Bearer <token>`"))?;
        let claims = state.tokens().verify(token).await?;
        if !grants(claims.scope, R::SCOPE) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "a `{}` token may not call this route: it needs `{}`",
                    claims.scope,
                    R::SCOPE
                ),
            )
            .hint(format!(
                "mint one with `pipedreamer server token create --scope {}{}`",
                R::SCOPE,
                // A report token is bound to the deployment whose runs it reports.
                if R::SCOPE == Scope::Report {
                    " --deployment ID"
                } else {
                    ""
                }
            )));
        }
        Ok(Authorized {
            claims,
            _need: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lattice() {
        use Scope::*;
        for (have, need, ok) in [
            (Read, Read, true),
            (Read, Deploy, false),
            (Deploy, Read, true),
            (Deploy, Admin, false),
            (Admin, Deploy, true),
            (Admin, Report, false),
            (Report, Read, false),
            (Report, Report, true),
        ] {
            assert_eq!(grants(have, need), ok, "{have} for {need}");
        }
    }
}
