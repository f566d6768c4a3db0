//! The one place node capabilities are decided. Node code has no file system, environment,
//! process or socket access at all (QuickJS gets none of those host functions); the network is
//! reachable only through `ctx.fetch`, and every fetch, including every redirect hop, asks
//! [`FetchCapability::check`] and [`FetchCapability::credential_for`]. A credential is bound to
//! an origin (scheme, host and port), never to a host alone.

use crate::secrets::Secrets;
use pipedreamer_spec::{AuthScheme, FetchAuth, FetchPolicy, host_matches};

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
    /// A plain-HTTP request to a host that has a credential for HTTPS only: sending it would put
    /// the secret on the wire in clear, and leaving it out would only produce a puzzling 401.
    #[error(
        "refusing plain http:// to `{0}`, which has a `fetch.auth` credential for HTTPS only; \
         use https://, or set `allow_http: true` on its rule in workflow.yaml"
    )]
    PlainHttp(String),
}

/// A resolved fetch policy: allowed hosts plus credentials looked up from the secrets.
#[derive(Debug, Clone, Default)]
pub struct FetchCapability {
    allow: Option<Vec<String>>,
    credentials: Vec<(FetchAuth, Credential)>,
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
                    rule.origin_text(),
                    rule.secret
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
            credentials.push((rule.clone(), Credential { header, value }));
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

    /// The credential for `url`'s origin, if a rule applies to it (first rule wins).
    /// `host` is what [`Self::check`] returned for `url`.
    pub fn credential_for(
        &self,
        url: &reqwest::Url,
        host: &str,
    ) -> Result<Option<&Credential>, Denied> {
        let port = url.port_or_known_default().unwrap_or(0);
        if let Some((_, c)) = self
            .credentials
            .iter()
            .find(|(rule, _)| rule.applies_to(url.scheme(), host, port))
        {
            return Ok(Some(c));
        }
        let https_only = |rule: &FetchAuth| {
            rule.names_host(host) && !rule.allow_http && rule.port.is_none_or(|p| p == port)
        };
        if url.scheme() == "http" && self.credentials.iter().any(|(rule, _)| https_only(rule)) {
            return Err(Denied::PlainHttp(host.to_owned()));
        }
        Ok(None)
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
            auth: vec![
                FetchAuth {
                    host: "api.github.com".into(),
                    port: None,
                    secret: "github.token".into(),
                    scheme: AuthScheme::Bearer,
                    allow_http: false,
                },
                FetchAuth {
                    host: "127.0.0.1".into(),
                    port: Some(18091),
                    secret: "github.token".into(),
                    scheme: AuthScheme::Bearer,
                    allow_http: true,
                },
            ],
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

    /// The credential (header value) `c` sends to `url`, or the refusal.
    fn sent(c: &FetchCapability, url: &str) -> Result<Option<String>, Denied> {
        let url: reqwest::Url = url.parse().unwrap();
        let host = c.check(&url)?;
        Ok(c.credential_for(&url, &host)?.map(|c| c.value.clone()))
    }

    #[test]
    fn credentials_only_for_matching_host() {
        let c = cap(None);
        assert_eq!(
            sent(&c, "https://api.github.com/x").unwrap().as_deref(),
            Some("Bearer t0ken")
        );
        assert_eq!(sent(&c, "https://github.com/").unwrap(), None);
        assert!(!format!("{:?}", c).contains("t0ken"));
    }

    // Regression (red-team review): credentials followed the host to any port and scheme.
    #[test]
    fn credentials_are_bound_to_scheme_host_and_port() {
        let c = cap(None);
        // Another port of the same host gets nothing.
        assert_eq!(sent(&c, "https://api.github.com:8443/x").unwrap(), None);
        assert_eq!(sent(&c, "http://127.0.0.1:18092/x").unwrap(), None);
        assert_eq!(sent(&c, "https://127.0.0.1/x").unwrap(), None);
        // The named port, over plain HTTP because the rule allows it.
        assert_eq!(
            sent(&c, "http://127.0.0.1:18091/x").unwrap().as_deref(),
            Some("Bearer t0ken")
        );
        // Plain HTTP to an HTTPS-only credential's host is refused, not sent in clear.
        let refused = sent(&c, "http://api.github.com/x").unwrap_err();
        assert!(matches!(refused, Denied::PlainHttp(_)), "{refused}");
        assert!(refused.to_string().contains("allow_http: true"));
    }
}
