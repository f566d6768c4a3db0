//! Semantic checks over a parsed workflow: names, ids, the DAG, triggers and the fetch policy.
//! Every problem is reported; nothing stops at the first. Node files and what they import are
//! checked by the import graph's walk (`graph.rs`).

use crate::dag::{self, Dag};
use crate::diagnostic::{Diagnostic, Pos, did_you_mean};
use crate::model::*;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// A cron trigger's schedule, parsed once by validation.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The trigger's index in [`Workflow::triggers`].
    pub trigger: usize,
    /// The trigger's name, or its schedule text when unnamed.
    pub name: String,
    /// The five-field expression.
    pub cron: croner::Cron,
    /// Where it is evaluated (UTC when the trigger names none).
    pub timezone: chrono_tz::Tz,
}

/// What validation found: problems, and the cron schedules it parsed.
#[derive(Debug, Default)]
pub struct Validation {
    /// Every problem.
    pub diagnostics: Vec<Diagnostic>,
    /// The valid cron triggers' schedules, in trigger order.
    pub schedules: Vec<Schedule>,
}

/// Runs every semantic check. `file` is the workflow file's name for diagnostics.
pub fn validate(wf: &Workflow, file: &str) -> Validation {
    let mut v = Validator {
        file,
        out: Vec::new(),
        schedules: Vec::new(),
    };
    v.name(wf);
    v.version(wf);
    v.nodes(wf);
    v.dag(wf);
    v.triggers(wf);
    v.fetch(wf);
    Validation {
        diagnostics: v.out,
        schedules: v.schedules,
    }
}

/// Checks what depends on secret values against the secrets the workflow will run with.
/// `lookup` reads a dotted path the way the engine does (`Secrets::lookup`), so both agree on what
/// "missing" means.
///
/// A webhook trigger whose secret is missing or empty never accepts a delivery: an HMAC keyed
/// with `""` is one anyone can compute, so the engine refuses them. That is an error here, so it
/// is found before the workflow ships rather than by the first sender.
pub fn secrets(
    wf: &Workflow,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for trigger in &wf.triggers {
        let Trigger::Webhook(w) = trigger else {
            continue;
        };
        // An empty path was reported by the parser already.
        if w.secret.is_empty() {
            continue;
        }
        let problem = match lookup(&w.secret) {
            Some(value) if !value.trim().is_empty() => continue,
            Some(_) => "is empty",
            None => "is missing (or not a string)",
        };
        out.push(
            Diagnostic::error(
                "webhook-secret-missing",
                file,
                w.secret_pos,
                format!(
                    "webhook trigger `{}`: secret `{}` {problem}, so `/hooks/{}` would refuse every delivery",
                    w.name, w.secret, w.name
                ),
            )
            .with_hint(format!(
                "set it in {SECRETS_FILE} as `{}` (locally) and in the workflow's Secret `{}-secrets` (in the cluster)",
                yaml_example(&w.secret),
                wf.name
            )),
        );
    }
    out
}

/// `github.webhook_secret` as the YAML that sets it: `github: {webhook_secret: "<value>"}`.
fn yaml_example(path: &str) -> String {
    let mut keys = path.rsplit('.');
    let leaf = keys.next().unwrap_or_default();
    keys.fold(format!("{leaf}: \"<value>\""), |inner, key| {
        format!("{key}: {{{inner}}}")
    })
}

struct Validator<'f> {
    file: &'f str,
    out: Vec<Diagnostic>,
    schedules: Vec<Schedule>,
}

/// Whether `s` is a DNS-1123 label (Kubernetes object names).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 label made from any text: lowercase, other characters as `-`, at most 63.
pub fn suggest_dns_label(s: &str) -> String {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').chars().take(63).collect()
}

impl Validator<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    fn name(&mut self, wf: &Workflow) {
        if !wf.name.is_empty() && !is_dns_label(&wf.name) {
            let fixed = suggest_dns_label(&wf.name);
            self.push(
                Diagnostic::error(
                    "bad-name",
                    self.file,
                    wf.positions.name,
                    format!("workflow name `{}` is not a valid DNS-1123 label", wf.name),
                )
                .with_hint(format!(
                    "use lowercase letters, digits and `-`, at most 63 characters, e.g. `{fixed}`"
                )),
            );
        }
    }

    fn version(&mut self, wf: &Workflow) {
        let tag = wf.image_tag();
        let ok = !wf.version.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !tag.starts_with('-');
        if !wf.version.is_empty() && !ok {
            self.push(
                Diagnostic::error(
                    "bad-version",
                    self.file,
                    wf.positions.version,
                    format!("version `{}` cannot become an image tag", wf.version),
                )
                .with_hint("use letters, digits, `.`, `-` and `_`, e.g. `1.0` or `2024-06-01`"),
            );
        }
    }

    fn nodes(&mut self, wf: &Workflow) {
        if wf.nodes.is_empty() {
            self.push(
                Diagnostic::error(
                    "no-nodes",
                    self.file,
                    Pos::new(1, 1),
                    "the workflow has no nodes",
                )
                .with_hint("add at least one node with `id` and `file`"),
            );
        }
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for node in &wf.nodes {
            if !node.id.is_empty() {
                let valid = node.id.len() <= 63
                    && node.id.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    });
                if !valid {
                    self.push(
                        Diagnostic::error(
                            "bad-node-id",
                            self.file,
                            node.pos.id,
                            format!("node id `{}` is invalid", node.id),
                        )
                        .with_hint(
                            "use lowercase letters, digits, `-` and `_`, at most 63 characters",
                        ),
                    );
                }
                if let Some(first) = seen.insert(&node.id, node.pos.id) {
                    self.push(
                        Diagnostic::error(
                            "duplicate-node",
                            self.file,
                            node.pos.id,
                            format!("duplicate node id `{}`", node.id),
                        )
                        .with_hint(format!(
                            "the first `{}` is at line {}; give each node a unique id",
                            node.id, first.line
                        )),
                    );
                }
            }
            if node.timeout > MAX_TIMEOUT {
                self.push(
                    Diagnostic::error(
                        "bad-duration",
                        self.file,
                        node.pos.id,
                        format!("node `{}` timeout is longer than 1h", node.id),
                    )
                    .with_hint("long work belongs in a queue-triggered workflow split into steps"),
                );
            }
        }
    }

    fn dag(&mut self, wf: &Workflow) {
        let mut ids: Vec<&str> = wf.nodes.iter().map(|n| n.id.as_str()).collect();
        ids.dedup();
        let mut seen_ids = HashSet::new();
        ids.retain(|id| seen_ids.insert(*id));
        for node in &wf.nodes {
            let mut seen = BTreeSet::new();
            for (i, dep) in node.depends_on.iter().enumerate() {
                let pos = node.pos.depends_on.get(i).copied().unwrap_or(node.pos.id);
                if !seen.insert(dep) {
                    self.push(Diagnostic::warning(
                        "duplicate-dependency",
                        self.file,
                        pos,
                        format!("node `{}` lists `{dep}` twice", node.id),
                    ));
                }
                if !ids.contains(&dep.as_str()) {
                    let hint = match did_you_mean(dep, ids.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("known nodes: {}", ids.join(", ")),
                    };
                    self.push(
                        Diagnostic::error(
                            "unknown-dependency",
                            self.file,
                            pos,
                            format!("node `{}` depends on unknown node `{dep}`", node.id),
                        )
                        .with_hint(hint),
                    );
                }
            }
        }
        // Look for cycles among the known dependencies even when some are unknown.
        let known: Vec<NodeSpec> = wf
            .nodes
            .iter()
            .map(|n| NodeSpec {
                depends_on: n
                    .depends_on
                    .iter()
                    .filter(|d| ids.contains(&d.as_str()))
                    .cloned()
                    .collect(),
                ..n.clone()
            })
            .collect();
        if let Err(dag::DagError::Cycle(cycle)) = Dag::build(&known) {
            let pos = wf.node(&cycle[0]).map_or(Pos::new(1, 1), |n| n.pos.id);
            self.push(
                Diagnostic::error(
                    "dependency-cycle",
                    self.file,
                    pos,
                    format!("dependency cycle: {}", cycle.join(" -> ")),
                )
                .with_hint("remove one `depends_on` entry in the cycle; nodes form a DAG"),
            );
        }
    }

    fn triggers(&mut self, wf: &Workflow) {
        let mut names: HashMap<String, Pos> = HashMap::new();
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build();
        for (index, trigger) in wf.triggers.iter().enumerate() {
            match trigger {
                Trigger::Cron(c) => {
                    let cron = match parser.parse(&c.schedule) {
                        Ok(cron) => Some(cron),
                        // An empty schedule was reported by the parser already.
                        Err(_) if c.schedule.is_empty() => None,
                        Err(e) => {
                            self.push(
                                Diagnostic::error("bad-cron", self.file, c.pos, format!("invalid cron schedule `{}`: {e}", c.schedule))
                                    .with_hint("use five fields: minute hour day-of-month month day-of-week, e.g. `0 9 * * 1-5`"),
                            );
                            None
                        }
                    };
                    let timezone = c
                        .timezone
                        .as_deref()
                        .unwrap_or("UTC")
                        .parse::<chrono_tz::Tz>();
                    if let (Some(cron), Ok(timezone)) = (cron, timezone) {
                        self.schedules.push(Schedule {
                            trigger: index,
                            name: c.name.clone().unwrap_or_else(|| c.schedule.clone()),
                            cron,
                            timezone,
                        });
                    }
                    if let Some(tz) = &c.timezone
                        && timezone.is_err()
                    {
                        self.push(
                            Diagnostic::error(
                                "bad-timezone",
                                self.file,
                                c.pos,
                                format!("unknown time zone `{tz}`"),
                            )
                            .with_hint(
                                "use an IANA name such as `Europe/Berlin` or `America/New_York`",
                            ),
                        );
                    }
                    if let Some(name) = &c.name {
                        self.unique_trigger_name(&mut names, name, c.pos);
                    }
                }
                Trigger::Queue(q) => {
                    if !q.subject.is_empty() && !is_nats_subject(&q.subject) {
                        self.push(
                            Diagnostic::error("bad-subject", self.file, q.pos, format!("invalid NATS subject `{}`", q.subject))
                                .with_hint("use dot-separated tokens without spaces; `*` matches one token, `>` the rest (last only)"),
                        );
                    }
                    if wf.config.nats_url.is_none() {
                        self.push(
                            Diagnostic::warning("no-nats-url", self.file, q.pos, "queue trigger without `config.nats_url`: the engine will serve HTTP only")
                                .with_hint("add `config: { nats_url: \"nats.example.com:4222\" }`"),
                        );
                    }
                }
                Trigger::Webhook(w) => {
                    if !w.name.is_empty() {
                        if !w.name.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        }) {
                            self.push(
                                Diagnostic::error(
                                    "bad-trigger-name",
                                    self.file,
                                    w.pos,
                                    format!(
                                        "webhook name `{}` cannot be a URL path segment",
                                        w.name
                                    ),
                                )
                                .with_hint("use lowercase letters, digits, `-` and `_`"),
                            );
                        }
                        self.unique_trigger_name(&mut names, &w.name, w.pos);
                    }
                }
            }
        }
    }

    fn unique_trigger_name(&mut self, names: &mut HashMap<String, Pos>, name: &str, pos: Pos) {
        if let Some(first) = names.insert(name.to_owned(), pos) {
            self.push(
                Diagnostic::error(
                    "duplicate-trigger",
                    self.file,
                    pos,
                    format!("duplicate trigger name `{name}`"),
                )
                .with_hint(format!(
                    "the first is at line {}; trigger names must be unique",
                    first.line
                )),
            );
        }
    }

    fn fetch(&mut self, wf: &Workflow) {
        let Some(allow) = &wf.fetch.allow else { return };
        for rule in &wf.fetch.auth {
            let reachable = allow.iter().any(|p| {
                host_matches(p, &rule.host) || (rule.host.starts_with("*.") && p == &rule.host)
            });
            if !reachable {
                self.push(
                    Diagnostic::warning("auth-host-not-allowed", self.file, Pos::new(1, 1), format!("auth rule for `{}` can never apply: `fetch.allow` does not permit that host", rule.host))
                        .with_hint(format!("add `{}` to `fetch.allow`", rule.host)),
                );
            }
        }
    }
}

fn is_nats_subject(s: &str) -> bool {
    let tokens: Vec<&str> = s.split('.').collect();
    tokens.iter().enumerate().all(|(i, t)| {
        !t.is_empty()
            && !t.contains(char::is_whitespace)
            && (*t != ">" || i == tokens.len() - 1)
            && (t.len() == 1 || !(t.contains('*') || t.contains('>')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("github-digest"));
        assert!(!is_dns_label("GitHub_Digest"));
        assert!(!is_dns_label("-x"));
        assert_eq!(suggest_dns_label("GitHub_Digest"), "github-digest");
    }

    #[test]
    fn nats_subjects() {
        assert!(is_nats_subject("events.github.push"));
        assert!(is_nats_subject("events.*.push"));
        assert!(is_nats_subject("events.>"));
        assert!(!is_nats_subject("events.>.x"));
        assert!(!is_nats_subject("events..x"));
        assert!(!is_nats_subject("a b"));
    }

    /// Issue 10, item 8: a webhook secret that is missing or empty is an error naming the
    /// trigger and the secret path, with the YAML that sets it.
    #[test]
    fn webhook_secrets_must_exist_and_not_be_empty() {
        let text = "name: w\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\ntriggers:\n  - type: webhook\n    name: gh\n    secret: github.webhook_secret\n  - {type: webhook, name: blank, secret: blank.key}\n  - {type: webhook, name: fine, secret: fine.key}\n";
        let wf = crate::parse::parse_workflow(text, "workflow.yaml")
            .workflow
            .unwrap();
        let lookup = |path: &str| match path {
            "blank.key" => Some(" ".to_owned()),
            "fine.key" => Some("s3cret".to_owned()),
            _ => None,
        };
        let found = secrets(&wf, "workflow.yaml", &lookup);
        let summary: Vec<(&str, usize, usize)> = found
            .iter()
            .map(|d| (d.code, d.pos.line, d.pos.col))
            .collect();
        assert_eq!(
            summary,
            [
                ("webhook-secret-missing", 8, 13),
                ("webhook-secret-missing", 9, 42)
            ]
        );
        assert!(found.iter().all(Diagnostic::is_error));
        assert_eq!(
            found[0].message,
            "webhook trigger `gh`: secret `github.webhook_secret` is missing (or not a string), so `/hooks/gh` would refuse every delivery"
        );
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("`github: {webhook_secret: \"<value>\"}`"),
            "{:?}",
            found[0].hint
        );
        assert!(found[1].message.contains("`blank.key` is empty"));
    }
}
