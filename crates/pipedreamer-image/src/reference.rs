//! Image references: `[registry/]repository[:tag]`.

use crate::Error;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (with port), if given.
    pub registry: Option<String>,
    /// Repository path.
    pub repository: String,
    /// Tag.
    pub tag: String,
}

impl Reference {
    /// Parses `[registry/]repo[:tag]`; the tag defaults to `latest`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadReference(format!("`{s}`: {why}"));
        if s.is_empty() || s.contains(char::is_whitespace) {
            return Err(bad("must be non-empty without spaces"));
        }
        let (registry, rest) = match s.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_owned()), rest)
            }
            _ => (None, s),
        };
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_owned(), t.to_owned()),
            _ => (rest.to_owned(), "latest".to_owned()),
        };
        if repository.is_empty() || repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("the repository must be lowercase"));
        }
        if tag.is_empty()
            || tag.len() > 128
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(bad(
                "tags use letters, digits, `.`, `_` and `-` (at most 128)",
            ));
        }
        Ok(Self {
            registry,
            repository,
            tag,
        })
    }

    /// The same image in another registry (`--cluster-registry`).
    pub fn with_registry(&self, registry: &str) -> Self {
        Self {
            registry: Some(registry.trim_end_matches('/').to_owned()),
            ..self.clone()
        }
    }

    /// Whether the registry is on the loopback interface (plain HTTP is allowed there).
    pub fn is_loopback(&self) -> bool {
        self.registry.as_deref().is_some_and(|r| {
            let host = r.rsplit_once(':').map_or(r, |(h, _)| h);
            host == "localhost" || host.starts_with("127.") || host == "[::1]"
        })
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_repo_and_tag() {
        let r = Reference::parse("127.0.0.1:5000/team/flow:1-0").unwrap();
        assert_eq!(
            (r.registry.as_deref(), r.repository.as_str(), r.tag.as_str()),
            (Some("127.0.0.1:5000"), "team/flow", "1-0")
        );
        assert!(r.is_loopback());
        let r = Reference::parse("flow").unwrap();
        assert_eq!((r.registry, r.tag.as_str()), (None, "latest"));
        assert_eq!(
            Reference::parse("ghcr.io/a/b:v1").unwrap().to_string(),
            "ghcr.io/a/b:v1"
        );
        assert!(Reference::parse("Bad/Name").is_err());
    }
}
