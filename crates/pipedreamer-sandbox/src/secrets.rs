//! Secret values and their redaction. Every string a node or the network can put into a log line
//! or an error passes through [`Redactor::redact`].

use serde_json::Value;
use std::sync::Arc;

/// Secrets shorter than this are not redacted: masking `1` or `ok` everywhere would garble logs
/// without protecting anything.
const MIN_REDACTED_LEN: usize = 4;

/// The workflow's secrets, a JSON tree (nested YAML locally, one key per file in production).
#[derive(Clone)]
pub struct Secrets {
    tree: Arc<Value>,
    redactor: Redactor,
}

impl Default for Secrets {
    /// No secrets: nodes see `ctx.secrets` as `{}`, never `null`.
    fn default() -> Self {
        Self::new(Value::Null)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

impl Secrets {
    /// Wraps a JSON tree; `null` means no secrets.
    pub fn new(tree: Value) -> Self {
        let tree = if tree.is_null() {
            Value::Object(Default::default())
        } else {
            tree
        };
        let mut values = Vec::new();
        collect_strings(&tree, &mut values);
        Self {
            redactor: Redactor::new(values),
            tree: Arc::new(tree),
        }
    }

    /// The whole tree, as nodes see it in `ctx.secrets`.
    pub fn tree(&self) -> &Value {
        &self.tree
    }

    /// The string at a dotted path (`github.token`). A `{ "value": "..." }` object, as produced
    /// by a secrets-directory file that is not JSON, yields its `value`.
    pub fn lookup(&self, path: &str) -> Option<String> {
        let mut node = self.tree.as_ref();
        for part in path.split('.') {
            node = node.get(part)?;
        }
        match node {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => o.get("value").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        }
    }

    /// The redactor for these secrets.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// How many leaf values there are (for the startup log; never the values).
    pub fn count(&self) -> usize {
        self.redactor.values.len()
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// Replaces secret values in text with `[REDACTED]`.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Arc<Vec<String>>,
}

impl Redactor {
    /// A redactor for these values (short ones are ignored, longest are replaced first).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_REDACTED_LEN)
            .collect();
        // Derived forms leak too. The engine itself writes secrets in two other encodings: base64
        // (basic auth's `user:pass`) and JSON string escaping (`ctx.log.info(ctx.secrets)`, an
        // error message holding `JSON.stringify(...)`), where a PEM key's newlines become `\n`
        // and quotes or backslashes gain a backslash, so the raw value no longer matches.
        let derived: Vec<String> = values
            .iter()
            .flat_map(|v| {
                let base64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v);
                [Some(base64), json_escaped(v)]
            })
            .flatten()
            .collect();
        values.extend(derived);
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self {
            values: Arc::new(values),
        }
    }

    /// How many values are redacted (raw and derived forms).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.values.len()
    }

    /// `text` with every secret value replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for v in self.values.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "[REDACTED]");
            }
        }
        out
    }
}

/// `v` as it appears inside a JSON string, when that differs from `v`.
fn json_escaped(v: &str) -> Option<String> {
    let quoted = serde_json::to_string(v).ok()?;
    let inner = &quoted[1..quoted.len() - 1];
    (inner != v).then(|| inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_follows_dots_and_value_objects() {
        let s = Secrets::new(json!({"github": {"token": "ghp_abc"}, "api": {"value": "k-123"}}));
        assert_eq!(s.lookup("github.token").as_deref(), Some("ghp_abc"));
        assert_eq!(s.lookup("api").as_deref(), Some("k-123"));
        assert_eq!(s.lookup("github.nope"), None);
    }

    #[test]
    fn redacts_values_and_their_base64() {
        let s = Secrets::new(json!({"a": "hunter22", "short": "ok"}));
        assert_eq!(s.redactor().redact("pw=hunter22 ok"), "pw=[REDACTED] ok");
        assert_eq!(
            s.redactor().redact("Basic aHVudGVyMjI="),
            "Basic [REDACTED]"
        );
    }

    // Regression (red-team review): `ctx.log.info(ctx.secrets)` and
    // `throw new Error(JSON.stringify(ctx.secrets))` printed keys with newlines, quotes or
    // backslashes in clear, because JSON escaping changed them.
    #[test]
    fn redacts_json_escaped_values() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n";
        let quoted = r#"pa"ss\word"#;
        let s = Secrets::new(json!({"key": pem, "pw": quoted, "ctl": "tab\there"}));
        let logged = serde_json::to_string(s.tree()).unwrap();
        let redacted = s.redactor().redact(&logged);
        assert!(!redacted.contains("MIIEvQIBADANBg"), "{redacted}");
        assert!(!redacted.contains("ss\\\\word"), "{redacted}");
        assert!(!redacted.contains("there"), "{redacted}");
        assert_eq!(redacted.matches("[REDACTED]").count(), 3, "{redacted}");
        // A value JSON leaves alone gets no extra entry.
        assert_eq!(
            Secrets::new(json!({"a": "plain-value"})).redactor().len(),
            2
        );
    }

    #[test]
    fn no_secrets_is_an_empty_object() {
        assert_eq!(Secrets::default().tree(), &json!({}));
    }

    #[test]
    fn debug_never_prints_values() {
        let s = Secrets::new(json!({"a": "hunter22"}));
        assert!(!format!("{s:?}").contains("hunter22"));
    }
}
