//! A build's log: append-only chunks in the store, secret values masked before they are written,
//! an [`Event::Log`] for live readers after each chunk.

use crate::Event;
use pipedreamer_store::Store;
use tokio::sync::broadcast;

/// Values shorter than this are not masked: masking `a` or `on` would garble every line and
/// protect nothing (such a value is guessable anyway).
const MIN_MASKED_LEN: usize = 4;

/// `text` with every occurrence of each secret replaced by `***` (longest first, so a secret that
/// contains another is masked whole).
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.len() >= MIN_MASKED_LEN && out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// Every string leaf of a secrets document (`.secrets.yaml` as JSON), for masking.
pub fn secret_values(doc: &serde_json::Value, out: &mut Vec<String>) {
    match doc {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Number(n) => out.push(n.to_string()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| secret_values(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| secret_values(v, out)),
        _ => {}
    }
}

/// The log of one build.
pub(crate) struct BuildLog {
    store: Store,
    build_id: String,
    secrets: Vec<String>,
    events: broadcast::Sender<Event>,
}

impl BuildLog {
    pub(crate) fn new(
        store: Store,
        build_id: String,
        mut secrets: Vec<String>,
        events: broadcast::Sender<Event>,
    ) -> Self {
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self {
            store,
            build_id,
            secrets,
            events,
        }
    }

    /// Appends `text` (one or more lines) as one chunk. A log that cannot be written must not
    /// fail the build, so the failure is only traced.
    pub(crate) async fn write(&self, text: &str) {
        let text = mask(text.trim_end_matches('\n'), &self.secrets);
        match self.store.append_log(&self.build_id, &text).await {
            Ok(seq) => {
                // No receiver is fine: nobody is watching live.
                let _ = self.events.send(Event::Log {
                    build_id: self.build_id.clone(),
                    seq,
                });
            }
            Err(e) => {
                tracing::warn!(build = %self.build_id, error = %e, "cannot append to the build log")
            }
        }
    }

    /// The masked form of `text`, for error messages that leave through the API.
    pub(crate) fn masked(&self, text: &str) -> String {
        mask(text, &self.secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_longest_first_and_skips_short_values() {
        let secrets = vec![
            "hunter2-long".to_owned(),
            "hunter2".to_owned(),
            "ab".to_owned(),
        ];
        assert_eq!(
            mask("a hunter2-long and hunter2, ab", &secrets),
            "a *** and ***, ab"
        );
    }

    #[test]
    fn collects_every_leaf() {
        let doc = serde_json::json!({"a": {"b": "x1234", "c": [5678, "y"]}, "d": true});
        let mut out = Vec::new();
        secret_values(&doc, &mut out);
        assert_eq!(out, vec!["x1234", "5678", "y"]);
    }
}
