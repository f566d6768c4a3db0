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

    /// `tag` (`name[:tag]`) prefixed with `registry` (`host[:port][/namespace]`, if any), parsed.
    pub fn qualified(tag: &str, registry: Option<&str>) -> Result<Self, Error> {
        match registry {
            Some(r) => Self::parse(&format!("{}/{tag}", r.trim_end_matches('/'))),
            None => Self::parse(tag),
        }
    }

    /// The reference for a workflow's image: `tag`, else [`default_tag`], prefixed with
    /// `registry` if given.
    pub fn for_workflow(
        workflow: &pipedreamer_spec::Workflow,
        tag: Option<&str>,
        registry: Option<&str>,
    ) -> Result<Self, Error> {
        let tag = tag.map_or_else(|| default_tag(workflow), str::to_owned);
        Self::qualified(&tag, registry)
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

/// A workflow's default image tag: `<name>:<version with dots as dashes>`.
pub fn default_tag(workflow: &pipedreamer_spec::Workflow) -> String {
    format!("{}:{}", workflow.name, workflow.image_tag())
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

    #[test]
    fn qualified_prefixes_the_registry_once() {
        let r = Reference::qualified("flow:1-0", Some("127.0.0.1:5000/team/")).unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/flow:1-0");
        assert_eq!(r.repository, "team/flow");
        assert_eq!(
            Reference::qualified("flow", None).unwrap().to_string(),
            "flow:latest"
        );
    }
}
