//! The one place node capabilities are decided. Node code has no file system, environment,
//! process or socket access at all (QuickJS gets none of those host functions); the network is
//! reachable only through `ctx.fetch`, and every fetch, including every redirect hop, asks
//! [`FetchCapability::check`] and [`FetchCapability::credential_for`].

use crate::secrets::Secrets;
use pipedreamer_spec::{AuthScheme, FetchPolicy, host_matches};

/// Why a fetch was refused; the message says how to allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Not an http(s) URL.
    #[error("ctx.fetch only supports http and https URLs, not `{0}`")]
    Scheme(String),
    /// The URL could not be parsed.
    #[error("invalid URL `{0}`")]
    InvalidUrl(String),
    /// The host is not in `fetch.allow`.
    #[error("requires network access to `{0}`; add it to `fetch.allow` in workflow.yaml")]
    Host(String),
}

/// A resolved fetch policy: allowed hosts plus credentials looked up from the secrets.
#[derive(Debug, Clone, Default)]
pub struct FetchCapability {
    allow: Option<Vec<String>>,
    credentials: Vec<(String, Credential)>,
}

/// A header to add for a host; the value is secret.
#[derive(Clone)]
pub struct Credential {
    /// Header name.
    pub header: String,
    /// Header value (secret).
    pub value: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}: <redacted>)", self.header)
    }
}

impl FetchCapability {
    /// Resolves `policy` against `secrets`. Missing secrets are returned as warnings: the rule is
    /// skipped, so requests go out without credentials rather than with a wrong one.
    pub fn resolve(policy: &FetchPolicy, secrets: &Secrets) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut credentials = Vec::new();
        for rule in &policy.auth {
            let Some(secret) = secrets.lookup(&rule.secret) else {
                warnings.push(format!(
                    "fetch.auth for `{}`: secret `{}` is missing, requests go out without credentials",
                    rule.host, rule.secret
                ));
                continue;
            };
            let (header, value) = match &rule.scheme {
                AuthScheme::Bearer => ("authorization".to_owned(), format!("Bearer {secret}")),
                AuthScheme::Basic => (
                    "authorization".to_owned(),
                    format!(
                        "Basic {}",
                        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &secret)
                    ),
                ),
                AuthScheme::Header(name) => (name.to_ascii_lowercase(), secret),
            };
            credentials.push((rule.host.clone(), Credential { header, value }));
        }
        (
            Self {
                allow: policy.allow.clone(),
                credentials,
            },
            warnings,
        )
    }

    /// Checks that `url` may be fetched and returns its host.
    pub fn check(&self, url: &reqwest::Url) -> Result<String, Denied> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Denied::Scheme(url.scheme().to_owned()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Denied::InvalidUrl(url.to_string()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if let Some(allow) = &self.allow
            && !allow.iter().any(|p| host_matches(p, &host))
        {
            return Err(Denied::Host(host));
        }
        Ok(host)
    }

    /// The credential for `host`, if a rule matches (first rule wins).
    pub fn credential_for(&self, host: &str) -> Option<&Credential> {
        self.credentials
            .iter()
            .find(|(p, _)| host_matches(p, host))
            .map(|(_, c)| c)
    }

    /// Names of headers the sandbox sets itself; node code cannot override or read them.
    pub fn credential_headers(&self) -> impl Iterator<Item = &str> {
        self.credentials.iter().map(|(_, c)| c.header.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipedreamer_spec::FetchAuth;
    use serde_json::json;

    fn cap(allow: Option<&[&str]>) -> FetchCapability {
        let policy = FetchPolicy {
            allow: allow.map(|a| a.iter().map(|s| s.to_string()).collect()),
            auth: vec![FetchAuth {
                host: "api.github.com".into(),
                secret: "github.token".into(),
                scheme: AuthScheme::Bearer,
            }],
        };
        FetchCapability::resolve(
            &policy,
            &Secrets::new(json!({"github": {"token": "t0ken"}})),
        )
        .0
    }

    #[test]
    fn allow_list_is_enforced() {
        let c = cap(Some(&["api.github.com", "*.slack.com"]));
        assert!(
            c.check(&"https://api.github.com/x".parse().unwrap())
                .is_ok()
        );
        assert!(
            c.check(&"https://hooks.slack.com/x".parse().unwrap())
                .is_ok()
        );
        let denied = c.check(&"https://evil.io/".parse().unwrap()).unwrap_err();
        assert!(denied.to_string().contains("add it to `fetch.allow`"));
        assert!(c.check(&"file:///etc/passwd".parse().unwrap()).is_err());
    }

    #[test]
    fn absent_allow_list_allows_all() {
        assert!(
            cap(None)
                .check(&"https://anything.example/".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn credentials_only_for_matching_host() {
        let c = cap(None);
        assert_eq!(
            c.credential_for("api.github.com").unwrap().value,
            "Bearer t0ken"
        );
        assert!(c.credential_for("github.com").is_none());
        assert!(!format!("{:?}", c).contains("t0ken"));
    }
}
