//! Where secrets come from: `.secrets.yaml` locally, a directory of files (a mounted Kubernetes
//! Secret) in production. Values are never logged; only counts and paths are.

use pipedreamer_sandbox::Secrets;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The default secrets directory inside images.
pub const DEFAULT_SECRETS_DIR: &str = "/app/secrets";

/// A secrets source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsSource {
    /// One file per key; the content is JSON if it parses, else `{ "value": "<content>" }`.
    Dir(PathBuf),
    /// A nested YAML file (`.secrets.yaml`).
    File(PathBuf),
    /// No secrets.
    None,
}

/// Secrets could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// I/O failure on a path.
    #[error("cannot read secrets from `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The YAML file is malformed (the message never contains values).
    #[error("invalid YAML in `{path}` at line {line}, column {col}: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// The parser's complaint.
        message: String,
    },
}

impl SecretsSource {
    /// Loads the secrets. A missing source means no secrets, with an info log.
    pub fn load(&self) -> Result<Secrets, SecretsError> {
        match self {
            SecretsSource::None => Ok(Secrets::default()),
            SecretsSource::File(path) => load_file(path),
            SecretsSource::Dir(path) => load_dir(path),
        }
    }
}

fn load_file(path: &Path) -> Result<Secrets, SecretsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(path = %path.display(), "no secrets file; ctx.secrets is empty");
            return Ok(Secrets::default());
        }
        Err(source) => {
            return Err(SecretsError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let tree = pipedreamer_spec::yaml::text_to_json(&text).map_err(|e| SecretsError::Yaml {
        path: path.to_owned(),
        line: e.pos.line,
        col: e.pos.col,
        message: e.message,
    })?;
    let secrets = Secrets::new(tree);
    tracing::info!(path = %path.display(), values = secrets.count(), "loaded secrets");
    Ok(secrets)
}

fn load_dir(dir: &Path) -> Result<Secrets, SecretsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(path = %dir.display(), "no secrets directory; ctx.secrets is empty");
            return Ok(Secrets::default());
        }
        Err(source) => {
            return Err(SecretsError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut tree = Map::new();
    let mut names: Vec<_> = entries.filter_map(Result::ok).collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Kubernetes mounts Secrets through `..data` symlinks; hidden entries are its plumbing.
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let content = std::fs::read_to_string(&path).map_err(|source| SecretsError::Io {
            path: path.clone(),
            source,
        })?;
        let value = serde_json::from_str::<Value>(&content)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .unwrap_or_else(
                || serde_json::json!({ "value": content.trim_end_matches(['\n', '\r']) }),
            );
        tree.insert(name, value);
    }
    let secrets = Secrets::new(Value::Object(tree));
    tracing::info!(path = %dir.display(), values = secrets.count(), "loaded secrets");
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_files_are_json_or_value_objects() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("github"), r#"{"token": "ghp_1"}"#).unwrap();
        std::fs::write(dir.path().join("plain"), "hunter22\n").unwrap();
        std::fs::create_dir(dir.path().join("..data")).unwrap();
        let s = SecretsSource::Dir(dir.path().into()).load().unwrap();
        assert_eq!(s.lookup("github.token").as_deref(), Some("ghp_1"));
        assert_eq!(s.lookup("plain").as_deref(), Some("hunter22"));
        assert_eq!(s.tree()["plain"]["value"], "hunter22");
    }

    #[test]
    fn missing_sources_are_empty() {
        let s = SecretsSource::Dir("/nonexistent/x".into()).load().unwrap();
        assert_eq!(s.count(), 0);
        let s = SecretsSource::File("/nonexistent/x.yaml".into())
            .load()
            .unwrap();
        assert_eq!(s.count(), 0);
    }

    #[test]
    fn yaml_errors_name_the_position_not_the_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".secrets.yaml");
        std::fs::write(&path, "a: hunter22\n b: [\n").unwrap();
        let err = SecretsSource::File(path).load().unwrap_err().to_string();
        assert!(err.contains("line") && !err.contains("hunter22"), "{err}");
    }
}
