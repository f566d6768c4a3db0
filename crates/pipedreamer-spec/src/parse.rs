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
const NODE_KEYS: &[&str] = &[
    "id",
    "file",
    "depends_on",
    "timeout",
    "retries",
    "retry_delay",
];
const CRON_KEYS: &[&str] = &["type", "name", "schedule", "timezone"];
const QUEUE_KEYS: &[&str] = &["type", "subject", "stream", "durable"];
const WEBHOOK_KEYS: &[&str] = &["type", "name", "secret", "events", "branches"];
const CONFIG_KEYS: &[&str] = &[
    "nats_url",
    "memory_limit",
    "max_body",
    "resources",
    "cron_image",
    "record_io",
    "replicas",
    "strategy",
];
const FETCH_KEYS: &[&str] = &["allow", "auth"];
const AUTH_KEYS: &[&str] = &["host", "secret", "scheme", "allow_http"];
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

    /// A string that must say something. `id: ""` or `secret: ""` is as good as missing, so it is
    /// reported here, where its position is known; `None` makes later checks skip the value.
    fn non_empty(&mut self, node: &MarkedYaml<'_>, what: &str, example: &str) -> Option<String> {
        let s = self.string(node, what)?;
        if s.trim().is_empty() {
            self.err("empty-value", yaml::pos(node), format!("{what} is empty"))
                .hint = Some(format!("write a value, e.g. `{example}`"));
            return None;
        }
        Some(s)
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
            retries: 0,
            retry_delay: DEFAULT_RETRY_DELAY,
            pos: NodePositions {
                id: start,
                file: start,
                depends_on: Vec::new(),
            },
        };
        let (mut has_id, mut has_file) = (false, false);
        let mut retry_delay_pos = None;
        for (key, _, value) in &entries {
            match key.as_str() {
                "id" => {
                    has_id = true;
                    node.pos.id = yaml::pos(value);
                    node.id = self
                        .non_empty(value, "a node `id`", "id: fetch")
                        .unwrap_or_default();
                }
                "file" => {
                    has_file = true;
                    node.pos.file = yaml::pos(value);
                    node.file = self
                        .non_empty(value, "a node `file`", "file: nodes/fetch.ts")
                        .unwrap_or_default();
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
                "retries" => node.retries = self.retries(value).unwrap_or(0),
                "retry_delay" => {
                    retry_delay_pos = Some(yaml::pos(value));
                    if let Some(d) = self.retry_delay(value) {
                        node.retry_delay = d;
                    }
                }
                _ => {}
            }
        }
        if let Some(pos) = retry_delay_pos
            && node.retries == 0
        {
            let d = Diagnostic::warning(
                "retry-delay-without-retries",
                self.file,
                pos,
                "`retry_delay` has no effect: the node has no `retries`",
            )
            .with_hint("add e.g. `retries: 2` to the node, or remove `retry_delay`");
            self.diags.push(d);
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

    /// A node's `retries`: a whole number from 0 to [`MAX_RETRIES`].
    fn retries(&mut self, value: &MarkedYaml<'_>) -> Option<u32> {
        let text = yaml::scalar_text(value);
        let problem = match text.as_deref().map(str::parse::<i64>) {
            Some(Ok(n)) if (0..=i64::from(MAX_RETRIES)).contains(&n) => {
                return u32::try_from(n).ok();
            }
            Some(Ok(n)) if n < 0 => format!("`retries: {n}` is negative"),
            Some(Ok(n)) => format!("`retries: {n}` is too many"),
            Some(Err(_)) => format!(
                "`retries` must be a whole number, found `{}`",
                text.unwrap_or_default()
            ),
            None => format!("`retries` must be a whole number, found {}", kind(value)),
        };
        self.err("bad-retries", yaml::pos(value), problem).hint = Some(format!(
            "use a whole number from 0 to {MAX_RETRIES}: the attempts after the first when the node throws or times out (the default is 0)"
        ));
        None
    }

    /// A node's `retry_delay`: a duration, at most [`MAX_RETRY_DELAY`].
    fn retry_delay(&mut self, value: &MarkedYaml<'_>) -> Option<Duration> {
        let d = self.duration(value, "`retry_delay`")?;
        if d <= MAX_RETRY_DELAY {
            return Some(d);
        }
        let text = yaml::scalar_text(value).unwrap_or_default();
        self.err(
            "bad-duration",
            yaml::pos(value),
            format!(
                "`retry_delay: {text}` is longer than the {}s cap on the wait between attempts",
                MAX_RETRY_DELAY.as_secs()
            ),
        )
        .hint = Some(format!(
            "use at most `{}s` (the wait doubles for each later attempt, up to that cap; the default is `{}s`)",
            MAX_RETRY_DELAY.as_secs(),
            DEFAULT_RETRY_DELAY.as_secs()
        ));
        None
    }

    /// A `true`/`false` value.
    fn boolean(&mut self, value: &MarkedYaml<'_>, what: &str) -> Option<bool> {
        match yaml::scalar_text(value).as_deref() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => {
                self.err(
                    "wrong-type",
                    yaml::pos(value),
                    format!("{what} must be true or false, found {}", kind(value)),
                );
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
                    Some(v) => self
                        .non_empty(v, "`schedule`", "schedule: \"0 9 * * *\"")
                        .unwrap_or_default(),
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
                    Some(v) => self
                        .non_empty(v, "`subject`", "subject: events.github.push")
                        .unwrap_or_default(),
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
                    Some(v) => self
                        .non_empty(v, &format!("`{name}`"), &format!("{name}: {example}"))
                        .unwrap_or_default(),
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
                    secret_pos: field("secret").map_or(pos, yaml::pos),
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
                "memory_limit" => config.memory_limit = self.memory_limit(v),
                "max_body" => config.max_body = self.size(v, "`config.max_body`"),
                "cron_image" => config.cron_image = self.string(v, "`config.cron_image`"),
                "resources" => config.resources = Some(self.resources(v)),
                "record_io" => {
                    config.record_io = self.boolean(v, "`config.record_io`").unwrap_or(false)
                }
                "replicas" => config.replicas = self.replicas(v),
                "strategy" => config.strategy = self.strategy(v).unwrap_or_default(),
                _ => {}
            }
        }
        self.single_writer(&config, &entries);
        config
    }

    /// `config.replicas`: a whole number from 1 to [`MAX_REPLICAS`].
    fn replicas(&mut self, value: &MarkedYaml<'_>) -> Option<u32> {
        let text = yaml::scalar_text(value);
        let problem = match text.as_deref().map(str::parse::<i64>) {
            Some(Ok(n)) if (1..=i64::from(MAX_REPLICAS)).contains(&n) => {
                return u32::try_from(n).ok();
            }
            Some(Ok(n)) if n < 1 => format!("`config.replicas: {n}` leaves no engine running"),
            Some(Ok(n)) => format!("`config.replicas: {n}` is more than {MAX_REPLICAS}"),
            Some(Err(_)) => format!(
                "`config.replicas` must be a whole number, found `{}`",
                text.unwrap_or_default()
            ),
            None => format!(
                "`config.replicas` must be a whole number, found {}",
                kind(value)
            ),
        };
        self.err("bad-replicas", yaml::pos(value), problem).hint = Some(format!(
            "use a whole number from 1 to {MAX_REPLICAS} (the default is {DEFAULT_REPLICAS})"
        ));
        None
    }

    /// `config.strategy`: `RollingUpdate` or `Recreate`, spelled as Kubernetes spells them.
    fn strategy(&mut self, value: &MarkedYaml<'_>) -> Option<Strategy> {
        const ALL: [Strategy; 2] = [Strategy::RollingUpdate, Strategy::Recreate];
        let text = self.string(value, "`config.strategy`")?;
        if let Some(s) = ALL.iter().find(|s| s.as_str() == text) {
            return Some(*s);
        }
        let hint = match did_you_mean(&text, ALL.iter().map(|s| s.as_str())) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "use `Recreate` (one copy at a time: the old pod stops before the new one starts) or `RollingUpdate` (the default)".to_owned(),
        };
        self.err(
            "bad-strategy",
            yaml::pos(value),
            format!("unknown `config.strategy: {text}`"),
        )
        .hint = Some(hint);
        None
    }

    /// `strategy: Recreate` promises one copy at a time, which more than one replica breaks:
    /// reported at `strategy`, naming where `replicas` was written.
    fn single_writer(&mut self, config: &Config, entries: &Entries<'_, '_>) {
        if config.strategy != Strategy::Recreate || config.replica_count() <= 1 {
            return;
        }
        let at = |key: &str| {
            entries
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, _, v)| yaml::pos(v))
        };
        let (Some(strategy), Some(replicas)) = (at("strategy"), at("replicas")) else {
            return;
        };
        self.err(
            "recreate-with-replicas",
            strategy,
            format!(
                "`config.strategy: Recreate` runs a single copy, but `config.replicas` is {} (line {})",
                config.replica_count(),
                replicas.line
            ),
        )
        .hint = Some(
            "set `replicas: 1` for a single writer, or drop `strategy: Recreate` to run several copies with rolling updates".to_owned(),
        );
    }

    /// `config.memory_limit`, within what a run can use: the realm it runs in is set up under the
    /// same limit, so a tiny limit fails every run, and a huge one is a typo.
    fn memory_limit(&mut self, value: &MarkedYaml<'_>) -> Option<u64> {
        let bytes = self.size(value, "`config.memory_limit`")?;
        let problem = if bytes < MIN_MEMORY_LIMIT {
            "too small: the JS realm a run needs does not fit"
        } else if bytes > MAX_MEMORY_LIMIT {
            "too large: no engine container has that much memory for one run"
        } else {
            return Some(bytes);
        };
        let text = yaml::scalar_text(value).unwrap_or_default();
        self.err(
            "bad-memory-limit",
            yaml::pos(value),
            format!("`config.memory_limit: {text}` is {problem}"),
        )
        .hint = Some(format!(
            "use between `{}Mi` and `{}Gi` (the default is `{}Mi`)",
            MIN_MEMORY_LIMIT >> 20,
            MAX_MEMORY_LIMIT >> 30,
            DEFAULT_MEMORY_LIMIT >> 20
        ));
        None
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
        let host = get("host").and_then(|v| self.non_empty(v, "`host`", "host: api.github.com"));
        let secret =
            get("secret").and_then(|v| self.non_empty(v, "`secret`", "secret: github.token"));
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
        if get("host").is_none() {
            self.err("missing-field", pos, "auth rule is missing `host`");
        }
        if get("secret").is_none() {
            self.err("missing-field", pos, "auth rule is missing `secret`")
                .hint = Some("name a dotted path into .secrets.yaml, e.g. `github.token`".into());
        }
        let (host, port) = match host.as_deref().map(split_host_port) {
            Some(Ok((h, port))) if is_host_pattern(h) => (Some(h.to_owned()), port),
            Some(_) => {
                let h = host.unwrap_or_default();
                self.err(
                    "bad-host",
                    pos,
                    format!("`{h}` is not a host name, `*.domain` pattern or `host:port`"),
                )
                .hint =
                    Some("e.g. `api.github.com` or `127.0.0.1:8443` (no scheme, no path)".into());
                (None, None)
            }
            None => (None, None),
        };
        let allow_http = match get("allow_http") {
            None => false,
            Some(v) => self.boolean(v, "`allow_http`").unwrap_or(false),
        };
        Some(FetchAuth {
            host: host?,
            port,
            secret: secret?,
            scheme: scheme?,
            allow_http,
        })
    }
}

/// Splits `host:port` (or `[v6]:port`); a bare host has no port. `Err` for a bad port.
fn split_host_port(text: &str) -> Result<(&str, Option<u16>), ()> {
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p)),
        _ => (text, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match port {
        None => Ok((host, None)),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok((host, Some(n))),
            _ => Err(()),
        },
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

    fn codes_at(text: &str) -> Vec<(&'static str, usize, usize)> {
        parse_workflow(text, "workflow.yaml")
            .diagnostics
            .iter()
            .map(|d| (d.code, d.pos.line, d.pos.col))
            .collect()
    }

    /// Regression (issue 10, item 12): `memory_limit: 1` validated, then every run failed with
    /// "cannot create a JS context"; `100000Gi` was accepted too.
    #[test]
    fn memory_limits_are_bounded_where_written() {
        let wf = |limit: &str| {
            format!(
                "name: m\nversion: \"1\"\nnodes:\n  - {{id: a, file: a.js}}\nconfig:\n  memory_limit: {limit}\n"
            )
        };
        for bad in ["1", "4194303", "100000Gi", "5Gi"] {
            assert_eq!(codes_at(&wf(bad)), [("bad-memory-limit", 6, 17)], "{bad}");
        }
        for ok in ["4Mi", "64Mi", "4Gi"] {
            assert_eq!(codes_at(&wf(ok)), [], "{ok}");
        }
        let parsed = parse_workflow(&wf("1"), "workflow.yaml");
        let d = &parsed.diagnostics[0];
        assert!(d.message.contains("too small"), "{d}");
        assert!(
            d.hint.as_deref().unwrap().contains("`4Mi` and `4Gi`"),
            "{d}"
        );
    }

    /// Issue 15: `retries` (0 to 10), `retry_delay` (a duration up to 1m) and `config.record_io`
    /// (a boolean) are checked where written.
    #[test]
    fn retries_retry_delay_and_record_io_are_checked_where_written() {
        let wf = |node: &str, config: &str| {
            format!(
                "name: r\nversion: \"1\"\nnodes:\n  - {{id: a, file: a.js, {node}}}\nconfig:\n  record_io: {config}\n"
            )
        };
        let parsed = parse_workflow(&wf("retries: 3, retry_delay: 250ms", "true"), "w.yaml");
        assert_eq!(parsed.diagnostics, [], "{:?}", parsed.diagnostics);
        let w = parsed.workflow.unwrap();
        assert_eq!(
            (w.nodes[0].retries, w.nodes[0].retry_delay),
            (3, Duration::from_millis(250))
        );
        assert!(w.config.record_io);
        // Defaults: no retries, a 1 s delay, no input/output kept.
        let w = parse_workflow(
            "name: r\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
            "w.yaml",
        )
        .workflow
        .unwrap();
        assert_eq!(
            (
                w.nodes[0].retries,
                w.nodes[0].retry_delay,
                w.config.record_io
            ),
            (0, DEFAULT_RETRY_DELAY, false)
        );
        let cases = [
            ("retries: -1", "false", ("bad-retries", 4, 34), "negative"),
            ("retries: 11", "false", ("bad-retries", 4, 34), "too many"),
            (
                "retries: two",
                "false",
                ("bad-retries", 4, 34),
                "whole number",
            ),
            (
                "retries: 1.5",
                "false",
                ("bad-retries", 4, 34),
                "whole number",
            ),
            (
                "retries: 1, retry_delay: soon",
                "false",
                ("bad-duration", 4, 50),
                "invalid duration",
            ),
            (
                "retries: 1, retry_delay: 2m",
                "false",
                ("bad-duration", 4, 50),
                "longer than the 60s cap",
            ),
            (
                "retries: 1, retry_delay: 0s",
                "false",
                ("bad-duration", 4, 50),
                "longer than zero",
            ),
            ("retries: 0", "yes", ("wrong-type", 6, 14), "true or false"),
        ];
        for (node, config, at, says) in cases {
            let parsed = parse_workflow(&wf(node, config), "w.yaml");
            let found: Vec<_> = parsed
                .diagnostics
                .iter()
                .map(|d| (d.code, d.pos.line, d.pos.col))
                .collect();
            assert_eq!(found, [at], "{node} / {config}: {:?}", parsed.diagnostics);
            let d = &parsed.diagnostics[0];
            assert!(d.message.contains(says), "{node}: {d}");
            assert!(d.is_error(), "{node}: {d}");
        }
        // A delay without retries does nothing: a warning where it is written.
        let parsed = parse_workflow(&wf("retry_delay: 5s", "false"), "w.yaml");
        let d = &parsed.diagnostics[..];
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (d[0].code, d[0].pos.line, d[0].pos.col, d[0].is_error()),
            ("retry-delay-without-retries", 4, 38, false)
        );
    }

    /// Regression (issue 10, item 12): `id: ""` was accepted; so were empty files, schedules,
    /// subjects and webhook names and secrets.
    #[test]
    fn empty_required_strings_are_rejected_where_written() {
        let text = "name: e\nversion: \"1\"\nnodes:\n  - id: \"\"\n    file: \" \"\ntriggers:\n  - {type: cron, schedule: \"\"}\n  - {type: queue, subject: \"\"}\n  - {type: webhook, name: \"\", secret: \"\"}\nfetch:\n  auth:\n    - {host: \"\", secret: \"\"}\n";
        let found = codes_at(text);
        assert!(
            found.iter().all(|(code, _, _)| *code == "empty-value"),
            "{found:?}"
        );
        let lines: Vec<(usize, usize)> = found.iter().map(|(_, l, c)| (*l, *c)).collect();
        assert_eq!(
            lines,
            [
                (4, 9),
                (5, 11),
                (7, 28),
                (8, 28),
                (9, 27),
                (9, 39),
                (12, 14),
                (12, 26)
            ]
        );
        let parsed = parse_workflow(text, "workflow.yaml");
        assert_eq!(parsed.diagnostics[0].message, "a node `id` is empty");
        assert_eq!(
            parsed.diagnostics[0].hint.as_deref(),
            Some("write a value, e.g. `id: fetch`")
        );
    }

    /// Issue 16: `config.replicas` and `config.strategy`; `Recreate` is a single writer, so more
    /// than one replica is refused at `strategy`, naming the `replicas` line.
    #[test]
    fn strategy_and_replicas_are_checked_where_written() {
        let wf = |config: &str| {
            format!("name: r\nversion: \"1\"\nnodes:\n  - {{id: a, file: a.js}}\nconfig:\n{config}")
        };
        let parsed = parse_workflow(&wf("  strategy: Recreate\n  replicas: 1\n"), "w.yaml");
        assert_eq!(parsed.diagnostics, [], "{:?}", parsed.diagnostics);
        let config = parsed.workflow.unwrap().config;
        assert_eq!(
            (config.strategy, config.replica_count()),
            (Strategy::Recreate, 1)
        );
        // Defaults: one replica, rolling updates; `Recreate` alone means one replica.
        for config in ["  record_io: false\n", "  strategy: Recreate\n"] {
            let parsed = parse_workflow(&wf(config), "w.yaml");
            assert_eq!(parsed.diagnostics, [], "{:?}", parsed.diagnostics);
            assert_eq!(parsed.workflow.unwrap().config.replica_count(), 1);
        }
        let parsed = parse_workflow(&wf("  replicas: 3\n"), "w.yaml");
        let config = parsed.workflow.unwrap().config;
        assert_eq!(
            (config.strategy, config.replicas),
            (Strategy::RollingUpdate, Some(3))
        );
        let cases = [
            (
                "  strategy: Recreate\n  replicas: 2\n",
                ("recreate-with-replicas", 6, 13),
                "`config.replicas` is 2 (line 7)",
            ),
            (
                "  replicas: 3\n  strategy: Recreate\n",
                ("recreate-with-replicas", 7, 13),
                "`config.replicas` is 3 (line 6)",
            ),
            (
                "  strategy: recreate\n",
                ("bad-strategy", 6, 13),
                "unknown `config.strategy: recreate`",
            ),
            ("  replicas: 0\n", ("bad-replicas", 6, 13), "no engine"),
            (
                "  replicas: 101\n",
                ("bad-replicas", 6, 13),
                "more than 100",
            ),
            ("  replicas: two\n", ("bad-replicas", 6, 13), "whole number"),
            ("  strategy: [Recreate]\n", ("wrong-type", 6, 13), "string"),
        ];
        for (config, at, says) in cases {
            let parsed = parse_workflow(&wf(config), "w.yaml");
            let found: Vec<_> = parsed
                .diagnostics
                .iter()
                .map(|d| (d.code, d.pos.line, d.pos.col))
                .collect();
            assert_eq!(found, [at], "{config}: {:?}", parsed.diagnostics);
            let d = &parsed.diagnostics[0];
            assert!(d.message.contains(says), "{config}: {d}");
            assert!(d.is_error(), "{config}: {d}");
        }
        let parsed = parse_workflow(&wf("  strategy: recreate\n"), "w.yaml");
        assert_eq!(
            parsed.diagnostics[0].hint.as_deref(),
            Some("did you mean `Recreate`?")
        );
    }
}
