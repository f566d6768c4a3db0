//! Builds a [`Workflow`] from `workflow.yaml` text, collecting every structural problem (unknown
//! keys, wrong types, missing fields, bad durations and sizes) instead of stopping at the first.

use crate::diagnostic::{Diagnostic, Pos, did_you_mean};
use crate::model::*;
use crate::yaml::{self, as_str, entries, items, kind};
use saphyr::MarkedYaml;
use std::time::Duration;

/// The result of parsing: the workflow as far as it could be understood, and what was wrong.
#[derive(Debug)]
pub struct Parsed {
    /// `None` only when the text is not a YAML mapping at all.
    pub workflow: Option<Workflow>,
    /// Structural problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses `workflow.yaml` text. `file` is the name diagnostics report.
pub fn parse_workflow(text: &str, file: &str) -> Parsed {
    let mut p = Parser {
        file,
        text,
        diags: Vec::new(),
    };
    let workflow = match yaml::parse(text) {
        Err(e) => {
            p.diags.push(
                Diagnostic::error(
                    "yaml-syntax",
                    file,
                    e.pos,
                    format!("invalid YAML: {}", e.message),
                )
                .with_hint("check indentation and quoting around this position"),
            );
            None
        }
        Ok(None) => {
            p.diags.push(
                Diagnostic::error(
                    "empty-workflow",
                    file,
                    Pos::new(1, 1),
                    "the workflow file is empty",
                )
                .with_hint("start from `pipedreamer init`, or add `name`, `version` and `nodes`"),
            );
            None
        }
        Ok(Some(root)) => p.workflow(&root),
    };
    Parsed {
        workflow,
        diagnostics: p.diags,
    }
}

struct Parser<'f> {
    file: &'f str,
    text: &'f str,
    diags: Vec<Diagnostic>,
}

const TOP_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "nodes",
    "triggers",
    "config",
    "fetch",
];
const NODE_KEYS: &[&str] = &["id", "file", "depends_on", "timeout"];
const CRON_KEYS: &[&str] = &["type", "name", "schedule", "timezone"];
const QUEUE_KEYS: &[&str] = &["type", "subject", "stream", "durable"];
const WEBHOOK_KEYS: &[&str] = &["type", "name", "secret", "events", "branches"];
const CONFIG_KEYS: &[&str] = &[
    "nats_url",
    "memory_limit",
    "max_body",
    "resources",
    "cron_image",
];
const FETCH_KEYS: &[&str] = &["allow", "auth"];
const AUTH_KEYS: &[&str] = &["host", "secret", "scheme"];
const RESOURCES_KEYS: &[&str] = &["requests", "limits"];
const AMOUNT_KEYS: &[&str] = &["memory", "cpu"];
const TRIGGER_TYPES: &[&str] = &["cron", "queue", "webhook"];

type Entries<'a, 'i> = Vec<(String, Pos, &'a MarkedYaml<'i>)>;

impl Parser<'_> {
    fn err(&mut self, code: &'static str, pos: Pos, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags
            .push(Diagnostic::error(code, self.file, pos, msg));
        self.diags.last_mut().expect("just pushed")
    }

    /// Reports keys outside `allowed` (with a suggestion) and returns the mapping's entries.
    fn mapping<'a, 'i>(
        &mut self,
        node: &'a MarkedYaml<'i>,
        allowed: &[&str],
        what: &str,
    ) -> Option<Entries<'a, 'i>> {
        let Some(entries) = entries(node) else {
            self.err(
                "wrong-type",
                yaml::pos(node),
                format!("{what} must be a mapping, found {}", kind(node)),
            );
            return None;
        };
        for (key, pos, _) in &entries {
            if !allowed.contains(&key.as_str()) {
                let hint = match did_you_mean(key, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("allowed keys here: {}", allowed.join(", ")),
                };
                self.err(
                    "unknown-key",
                    *pos,
                    format!("unknown key `{key}` in {what}"),
                )
                .hint = Some(hint);
            }
        }
        Some(entries)
    }

    /// The node's text as written (YAML would turn `1.10` into the number 1.1).
    fn source_of(&self, node: &MarkedYaml<'_>) -> String {
        let (start, end) = (node.span.start.index(), node.span.end.index());
        let raw: String = self
            .text
            .chars()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect();
        let raw = raw.trim();
        if raw.is_empty() {
            yaml::scalar_text(node).unwrap_or_default()
        } else {
            raw.to_owned()
        }
    }

    fn string(&mut self, node: &MarkedYaml<'_>, what: &str) -> Option<String> {
        match as_str(node) {
            Some(s) => Some(s.to_owned()),
            None => {
                self.err(
                    "wrong-type",
                    yaml::pos(node),
                    format!("{what} must be a string, found {}", kind(node)),
                );
                None
            }
        }
    }

    fn string_list(&mut self, node: &MarkedYaml<'_>, what: &str) -> Vec<(String, Pos)> {
        // A single string where a list is expected is a common slip; accept it as a one-item list.
        if let Some(s) = as_str(node) {
            return vec![(s.to_owned(), yaml::pos(node))];
        }
        let Some(list) = items(node) else {
            self.err(
                "wrong-type",
                yaml::pos(node),
                format!("{what} must be a list, found {}", kind(node)),
            );
            return Vec::new();
        };
        list.iter()
            .filter_map(|item| {
                self.string(item, &format!("each entry of {what}"))
                    .map(|s| (s, yaml::pos(item)))
            })
            .collect()
    }

    fn workflow(&mut self, root: &MarkedYaml<'_>) -> Option<Workflow> {
        let entries = self.mapping(root, TOP_KEYS, "the workflow")?;
        let mut wf = Workflow {
            name: String::new(),
            version: String::new(),
            description: None,
            nodes: Vec::new(),
            triggers: Vec::new(),
            config: Config::default(),
            fetch: FetchPolicy::default(),
            positions: WorkflowPositions::default(),
        };
        let (mut has_name, mut has_version, mut has_nodes) = (false, false, false);
        for (key, _, value) in &entries {
            match key.as_str() {
                "name" => {
                    has_name = true;
                    wf.positions.name = yaml::pos(value);
                    wf.name = self.string(value, "`name`").unwrap_or_default();
                }
                "version" => {
                    has_version = true;
                    wf.positions.version = yaml::pos(value);
                    if let Some(s) = as_str(value) {
                        wf.version = s.to_owned();
                    } else {
                        let shown = self.source_of(value);
                        self.err(
                            "wrong-type",
                            yaml::pos(value),
                            format!("`version` must be a string, found {}", kind(value)),
                        )
                        .hint = Some(format!(
                            "quote it so YAML keeps it as written: version: \"{shown}\""
                        ));
                    }
                }
                "description" => wf.description = self.string(value, "`description`"),
                "nodes" => {
                    has_nodes = true;
                    wf.nodes = self.nodes(value);
                }
                "triggers" => wf.triggers = self.triggers(value),
                "config" => wf.config = self.config(value),
                "fetch" => wf.fetch = self.fetch(value),
                _ => {}
            }
        }
        let top = Pos::new(1, 1);
        if !has_name {
            self.err("missing-field", top, "missing required field `name`")
                .hint =
                Some("add e.g. `name: my-workflow` (lowercase letters, digits and dashes)".into());
        }
        if !has_version {
            self.err("missing-field", top, "missing required field `version`")
                .hint = Some("add e.g. `version: \"1.0\"`".into());
        }
        if !has_nodes {
            self.err("missing-field", top, "missing required field `nodes`")
                .hint = Some("add a list of nodes, each with `id` and `file`".into());
        }
        Some(wf)
    }

    fn nodes(&mut self, value: &MarkedYaml<'_>) -> Vec<NodeSpec> {
        let Some(list) = items(value) else {
            self.err(
                "wrong-type",
                yaml::pos(value),
                format!("`nodes` must be a list, found {}", kind(value)),
            );
            return Vec::new();
        };
        list.iter().filter_map(|item| self.node(item)).collect()
    }

    fn node(&mut self, item: &MarkedYaml<'_>) -> Option<NodeSpec> {
        let entries = self.mapping(item, NODE_KEYS, "a node")?;
        let start = yaml::pos(item);
        let mut node = NodeSpec {
            id: String::new(),
            file: String::new(),
            depends_on: Vec::new(),
            timeout: DEFAULT_NODE_TIMEOUT,
            pos: NodePositions {
                id: start,
                file: start,
                depends_on: Vec::new(),
            },
        };
        let (mut has_id, mut has_file) = (false, false);
        for (key, _, value) in &entries {
            match key.as_str() {
                "id" => {
                    has_id = true;
                    node.pos.id = yaml::pos(value);
                    node.id = self.string(value, "a node `id`").unwrap_or_default();
                }
                "file" => {
                    has_file = true;
                    node.pos.file = yaml::pos(value);
                    node.file = self.string(value, "a node `file`").unwrap_or_default();
                }
                "depends_on" => {
                    let deps = self.string_list(value, "`depends_on`");
                    node.pos.depends_on = deps.iter().map(|(_, p)| *p).collect();
                    node.depends_on = deps.into_iter().map(|(d, _)| d).collect();
                }
                "timeout" => {
                    if let Some(d) = self.duration(value, "`timeout`") {
                        node.timeout = d;
                    }
                }
                _ => {}
            }
        }
        if !has_id {
            self.err("missing-field", start, "node is missing `id`")
                .hint = Some("add e.g. `id: fetch`".into());
        }
        if !has_file {
            self.err("missing-field", start, "node is missing `file`")
                .hint = Some("add e.g. `file: nodes/fetch.ts`".into());
        }
        Some(node)
    }

    fn duration(&mut self, value: &MarkedYaml<'_>, what: &str) -> Option<Duration> {
        let text = yaml::scalar_text(value)?;
        match humantime::parse_duration(&text) {
            Ok(d) if d.is_zero() => {
                self.err(
                    "bad-duration",
                    yaml::pos(value),
                    format!("{what} must be longer than zero"),
                );
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.err(
                    "bad-duration",
                    yaml::pos(value),
                    format!("invalid duration `{text}` for {what}"),
                )
                .hint = Some("use a number with a unit, e.g. `500ms`, `10s`, `2m`".into());
                None
            }
        }
    }

    fn size(&mut self, value: &MarkedYaml<'_>, what: &str) -> Option<u64> {
        let text = yaml::scalar_text(value)?;
        match parse_size(&text) {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.err(
                    "bad-size",
                    yaml::pos(value),
                    format!("invalid size `{text}` for {what}"),
                )
                .hint = Some(
                    "use bytes or a binary unit, e.g. `1048576`, `512Ki`, `64Mi`, `1Gi`".into(),
                );
                None
            }
        }
    }

    fn triggers(&mut self, value: &MarkedYaml<'_>) -> Vec<Trigger> {
        let Some(list) = items(value) else {
            self.err(
                "wrong-type",
                yaml::pos(value),
                format!("`triggers` must be a list, found {}", kind(value)),
            );
            return Vec::new();
        };
        list.iter().filter_map(|item| self.trigger(item)).collect()
    }

    fn trigger(&mut self, item: &MarkedYaml<'_>) -> Option<Trigger> {
        let pos = yaml::pos(item);
        let Some(all) = entries(item) else {
            self.err(
                "wrong-type",
                pos,
                format!("a trigger must be a mapping, found {}", kind(item)),
            );
            return None;
        };
        let Some((_, _, ty_node)) = all.iter().find(|(k, _, _)| k == "type") else {
            self.err("missing-field", pos, "trigger is missing `type`")
                .hint = Some(format!("use one of: {}", TRIGGER_TYPES.join(", ")));
            return None;
        };
        let ty = self.string(ty_node, "trigger `type`")?;
        let field = |name: &str| all.iter().find(|(k, _, _)| k == name).map(|(_, _, v)| *v);
        match ty.as_str() {
            "cron" => {
                self.mapping(item, CRON_KEYS, "a cron trigger");
                let schedule = match field("schedule") {
                    Some(v) => self.string(v, "`schedule`").unwrap_or_default(),
                    None => {
                        self.err("missing-field", pos, "cron trigger is missing `schedule`")
                            .hint = Some(
                            "add e.g. `schedule: \"0 9 * * *\"` (minute hour day month weekday)"
                                .into(),
                        );
                        String::new()
                    }
                };
                Some(Trigger::Cron(CronTrigger {
                    name: field("name").and_then(|v| self.string(v, "trigger `name`")),
                    schedule,
                    timezone: field("timezone").and_then(|v| self.string(v, "`timezone`")),
                    pos: field("schedule").map_or(pos, yaml::pos),
                }))
            }
            "queue" => {
                self.mapping(item, QUEUE_KEYS, "a queue trigger");
                let subject = match field("subject") {
                    Some(v) => self.string(v, "`subject`").unwrap_or_default(),
                    None => {
                        self.err("missing-field", pos, "queue trigger is missing `subject`")
                            .hint = Some("add e.g. `subject: events.github.push`".into());
                        String::new()
                    }
                };
                let mut jetstream_name = |key: &str| {
                    let node = field(key)?;
                    let name = self.string(node, &format!("`{key}`"))?;
                    if !is_jetstream_name(&name) {
                        self.err(
                            "bad-jetstream-name",
                            yaml::pos(node),
                            format!("invalid JetStream {key} name `{name}`"),
                        )
                        .hint = Some(
                            "use letters, digits, `-` and `_` (no spaces, `.`, `*`, `>` or slashes)"
                                .into(),
                        );
                    }
                    Some(name)
                };
                let stream = jetstream_name("stream");
                let durable = jetstream_name("durable");
                if let (Some(node), None) = (field("durable"), &stream) {
                    self.err(
                        "durable-without-stream",
                        yaml::pos(node),
                        "`durable` only applies to JetStream: it needs `stream`",
                    )
                    .hint = Some(
                        "add `stream: <NAME>` for at-least-once delivery, or drop `durable`".into(),
                    );
                }
                Some(Trigger::Queue(QueueTrigger {
                    subject,
                    stream,
                    durable,
                    pos: field("subject").map_or(pos, yaml::pos),
                }))
            }
            "webhook" => {
                self.mapping(item, WEBHOOK_KEYS, "a webhook trigger");
                let mut required = |name: &str, example: &str| match field(name) {
                    Some(v) => self.string(v, &format!("`{name}`")).unwrap_or_default(),
                    None => {
                        self.err(
                            "missing-field",
                            pos,
                            format!("webhook trigger is missing `{name}`"),
                        )
                        .hint = Some(format!("add e.g. `{name}: {example}`"));
                        String::new()
                    }
                };
                let name = required("name", "github");
                let secret = required("secret", "github.webhook_secret");
                let list = |p: &mut Self, key: &str| {
                    field(key)
                        .map(|v| p.string_list(v, &format!("`{key}`")))
                        .unwrap_or_default()
                };
                let events = list(self, "events").into_iter().map(|(s, _)| s).collect();
                let branches = list(self, "branches").into_iter().map(|(s, _)| s).collect();
                Some(Trigger::Webhook(WebhookTrigger {
                    name,
                    secret,
                    events,
                    branches,
                    pos: field("name").map_or(pos, yaml::pos),
                }))
            }
            other => {
                let hint = match did_you_mean(other, TRIGGER_TYPES.iter().copied()) {
                    Some(s) => {
                        format!("did you mean `{s}`? (HTTP is always on and needs no trigger)")
                    }
                    None => format!(
                        "use one of: {} (HTTP is always on)",
                        TRIGGER_TYPES.join(", ")
                    ),
                };
                self.err(
                    "unknown-trigger",
                    yaml::pos(ty_node),
                    format!("unknown trigger type `{other}`"),
                )
                .hint = Some(hint);
                None
            }
        }
    }

    fn config(&mut self, value: &MarkedYaml<'_>) -> Config {
        let mut config = Config::default();
        let Some(entries) = self.mapping(value, CONFIG_KEYS, "`config`") else {
            return config;
        };
        for (key, _, v) in &entries {
            match key.as_str() {
                "nats_url" => config.nats_url = self.string(v, "`config.nats_url`"),
                "memory_limit" => config.memory_limit = self.size(v, "`config.memory_limit`"),
                "max_body" => config.max_body = self.size(v, "`config.max_body`"),
                "cron_image" => config.cron_image = self.string(v, "`config.cron_image`"),
                "resources" => config.resources = Some(self.resources(v)),
                _ => {}
            }
        }
        config
    }

    fn resources(&mut self, value: &MarkedYaml<'_>) -> Resources {
        let mut res = Resources::default();
        for (key, _, v) in self
            .mapping(value, RESOURCES_KEYS, "`config.resources`")
            .unwrap_or_default()
        {
            let what = format!("`config.resources.{key}`");
            let mut amounts = ResourceAmounts::default();
            for (k, _, q) in self.mapping(v, AMOUNT_KEYS, &what).unwrap_or_default() {
                let text = yaml::scalar_text(q);
                if !text.as_deref().is_some_and(is_quantity) {
                    self.err(
                        "bad-quantity",
                        yaml::pos(q),
                        format!("invalid Kubernetes quantity for {what}.{k}"),
                    )
                    .hint = Some("use e.g. `128Mi` for memory or `250m` for cpu".into());
                    continue;
                }
                match k.as_str() {
                    "memory" => amounts.memory = text,
                    "cpu" => amounts.cpu = text,
                    _ => {}
                }
            }
            match key.as_str() {
                "requests" => res.requests = amounts,
                "limits" => res.limits = amounts,
                _ => {}
            }
        }
        res
    }

    fn fetch(&mut self, value: &MarkedYaml<'_>) -> FetchPolicy {
        let mut policy = FetchPolicy::default();
        let Some(entries) = self.mapping(value, FETCH_KEYS, "`fetch`") else {
            return policy;
        };
        for (key, _, v) in &entries {
            match key.as_str() {
                "allow" => {
                    let hosts = self.string_list(v, "`fetch.allow`");
                    for (h, p) in &hosts {
                        if !is_host_pattern(h) {
                            self.err(
                                "bad-host",
                                *p,
                                format!("`{h}` is not a host name or `*.domain` pattern"),
                            )
                            .hint = Some(
                                "write hosts without scheme, port or path, e.g. `api.github.com`"
                                    .into(),
                            );
                        }
                    }
                    policy.allow = Some(hosts.into_iter().map(|(h, _)| h).collect());
                }
                "auth" => {
                    let Some(list) = items(v) else {
                        self.err(
                            "wrong-type",
                            yaml::pos(v),
                            format!("`fetch.auth` must be a list, found {}", kind(v)),
                        );
                        continue;
                    };
                    for item in list {
                        if let Some(rule) = self.auth_rule(item) {
                            policy.auth.push(rule);
                        }
                    }
                }
                _ => {}
            }
        }
        policy
    }

    fn auth_rule(&mut self, item: &MarkedYaml<'_>) -> Option<FetchAuth> {
        let entries = self.mapping(item, AUTH_KEYS, "a `fetch.auth` rule")?;
        let pos = yaml::pos(item);
        let get = |name: &str| {
            entries
                .iter()
                .find(|(k, _, _)| k == name)
                .map(|(_, _, v)| *v)
        };
        let host = get("host").and_then(|v| self.string(v, "`host`"));
        let secret = get("secret").and_then(|v| self.string(v, "`secret`"));
        let scheme = match get("scheme") {
            None => Some(AuthScheme::Bearer),
            Some(v) => {
                let s = self.string(v, "`scheme`")?;
                match s.as_str() {
                    "bearer" => Some(AuthScheme::Bearer),
                    "basic" => Some(AuthScheme::Basic),
                    h if h.starts_with("header:") && is_header_name(&h[7..]) => {
                        Some(AuthScheme::Header(h[7..].to_owned()))
                    }
                    _ => {
                        self.err(
                            "bad-scheme",
                            yaml::pos(v),
                            format!("unknown auth scheme `{s}`"),
                        )
                        .hint = Some(
                            "use `bearer`, `basic` or `header:<Name>` (e.g. `header:X-Api-Key`)"
                                .into(),
                        );
                        None
                    }
                }
            }
        };
        if host.is_none() {
            self.err("missing-field", pos, "auth rule is missing `host`");
        }
        if secret.is_none() {
            self.err("missing-field", pos, "auth rule is missing `secret`")
                .hint = Some("name a dotted path into .secrets.yaml, e.g. `github.token`".into());
        }
        if let Some(h) = &host
            && !is_host_pattern(h)
        {
            self.err(
                "bad-host",
                pos,
                format!("`{h}` is not a host name or `*.domain` pattern"),
            );
        }
        Some(FetchAuth {
            host: host?,
            secret: secret?,
            scheme: scheme?,
        })
    }
}

/// Parses `123`, `512Ki`, `64Mi`, `1Gi` (also `K`, `M`, `G` and a trailing `B`) into bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t.strip_suffix('B').unwrap_or(t);
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn is_quantity(s: &str) -> bool {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    !num.is_empty()
        && num.parse::<f64>().is_ok()
        && ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"].contains(&unit)
}

fn is_host_pattern(s: &str) -> bool {
    let host = s.strip_prefix("*.").unwrap_or(s);
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Stream and consumer names become NATS subject tokens and file names on the server.
fn is_jetstream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64Mi"), Some(64 << 20));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn quantities() {
        assert!(is_quantity("128Mi"));
        assert!(is_quantity("0.5"));
        assert!(is_quantity("250m"));
        assert!(!is_quantity("lots"));
    }

    #[test]
    fn queue_jetstream_names_are_checked_where_written() {
        let text = "name: q\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\ntriggers:\n  - type: queue\n    subject: events.>\n    stream: GIT HUB\n  - type: queue\n    subject: x\n    durable: d\n  - {type: queue, subject: y, stream: OK, durable: ok-1, strem: X}\n";
        let parsed = parse_workflow(text, "workflow.yaml");
        let found: Vec<(&str, usize, usize)> = parsed
            .diagnostics
            .iter()
            .map(|d| (d.code, d.pos.line, d.pos.col))
            .collect();
        assert_eq!(
            found,
            [
                ("bad-jetstream-name", 8, 13),
                ("durable-without-stream", 11, 14),
                ("unknown-key", 12, 58),
            ],
            "{:?}",
            parsed.diagnostics
        );
        let wf = parsed.workflow.unwrap();
        assert!(
            matches!(&wf.triggers[2], Trigger::Queue(q) if q.stream.as_deref() == Some("OK") && q.durable.as_deref() == Some("ok-1"))
        );
    }
}
