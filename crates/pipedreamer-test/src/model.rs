//! Test files as a model with positions: `tests/*.yaml` (and `.yml`) next to `workflow.yaml`.
//!
//! ```yaml
//! cases:
//!   - name: greets by name
//!     trigger: {http: {name: "ada"}}   # or {webhook: {name, event, branch, delivery, body}},
//!                                      #    {cron: NAME}, {queue: {subject, body}}
//!     secrets: {api: {token: "test"}}
//!     fetch:
//!       - match: {method: GET, url: "https://api.github.com/users/*"}
//!         respond: {status: 200, headers: {content-type: application/json}, body: {login: ada}}
//!     expect:
//!       status: succeeded                # the default; `failed` when `error` is given
//!       output: {message: "Hello, Ada!"} # or output_contains: {...} (a subset)
//!       error: "greet failed"            # a substring of the run's error
//!       nodes: {greet: succeeded}
//!       logs: {contains: ["parsed name"], excludes: ["test"]}
//! ```
//!
//! Every value keeps where it was written, so a failed expectation names its `file:line:col`.
//! Parsing reports every problem at once, as [`Diagnostic`]s (as `validate` does for the
//! workflow); [`check_against`] then checks the cases against the workflow they test (trigger
//! names, node ids).

use pipedreamer_runs::{NodeStatus, RunStatus};
use pipedreamer_spec::diagnostic::did_you_mean;
use pipedreamer_spec::source::SourceProvider;
use pipedreamer_spec::yaml;
use pipedreamer_spec::{Diagnostic, Pos, Trigger, Workflow};
use saphyr::MarkedYaml;
use serde_json::Value;

/// The directory of test files, relative to the workflow directory.
pub const TESTS_DIR: &str = "tests";

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    /// The value.
    pub value: T,
    /// Where it starts.
    pub pos: Pos,
}

/// One test file.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The file, relative to the workflow directory (`tests/greet.yaml`).
    pub file: String,
    /// Its cases, in file order.
    pub cases: Vec<Case>,
}

/// One test case: a run and what it must produce.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case's name (unique in its file).
    pub name: String,
    /// Where the case starts.
    pub pos: Pos,
    /// What starts the run.
    pub trigger: At<CaseTrigger>,
    /// The secrets the run sees (nothing from `.secrets.yaml`: cases are self-contained).
    pub secrets: Value,
    /// Fetch stubs, tried in order; a fetch none matches fails the case.
    pub fetch: Vec<Stub>,
    /// What the run must produce.
    pub expect: Expect,
}

/// What starts a case's run, as the engine's triggers would.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseTrigger {
    /// `POST /run` with `body`.
    Http {
        /// The request body.
        body: Value,
    },
    /// A delivery to `/hooks/<name>`.
    Webhook {
        /// The webhook trigger's name.
        name: String,
        /// `X-GitHub-Event`.
        event: Option<String>,
        /// `X-GitHub-Delivery`.
        delivery: Option<String>,
        /// The payload.
        body: Value,
    },
    /// A cron trigger firing, by name (or schedule, for an unnamed one).
    Cron {
        /// The trigger's name or schedule.
        name: String,
    },
    /// A queue message on a trigger's subject.
    Queue {
        /// The queue trigger's subject.
        subject: String,
        /// The message body.
        body: Value,
    },
}

/// A canned response for the fetches it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Stub {
    /// Where the stub starts.
    pub pos: Pos,
    /// The method it matches (upper case); any when absent.
    pub method: Option<String>,
    /// The URL glob it matches: `*` any characters but `/`, `**` any characters.
    pub url: String,
    /// The response status (200 by default).
    pub status: u16,
    /// The response headers (`content-type: application/json` added for a non-string body).
    pub headers: Vec<(String, String)>,
    /// The response body: a string as is, anything else as JSON.
    pub body: Vec<u8>,
}

/// What a case's run must produce. Every field is checked; absent ones are not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    /// Where `expect` starts (the case's start without one).
    pub pos: Pos,
    /// The run's status; `succeeded` unless `error` is given.
    pub status: Option<At<RunStatus>>,
    /// The exact output.
    pub output: Option<At<Value>>,
    /// A subset of the output: every key given must be there with that value (recursively);
    /// arrays must match item by item.
    pub output_contains: Option<At<Value>>,
    /// A substring of the run's error message.
    pub error: Option<At<String>>,
    /// Node id → final status.
    pub nodes: Vec<(At<String>, At<NodeStatus>)>,
    /// Texts some log line must contain.
    pub logs_contains: Vec<At<String>>,
    /// Texts no log line may contain.
    pub logs_excludes: Vec<At<String>>,
}

impl Expect {
    /// The status the run must end with, and where that was said.
    pub fn status(&self) -> At<RunStatus> {
        self.status.clone().unwrap_or(At {
            value: if self.error.is_some() {
                RunStatus::Failed
            } else {
                RunStatus::Succeeded
            },
            pos: self.pos,
        })
    }
}

/// Reads and parses every test file in `source`'s [`TESTS_DIR`] (`names` lists them, relative
/// to it, as [`list`] finds them). All problems are reported at once.
pub fn load(source: &dyn SourceProvider, names: &[String]) -> Result<Vec<Suite>, Vec<Diagnostic>> {
    let mut suites = Vec::new();
    let mut diags = Vec::new();
    for name in names {
        let file = format!("{TESTS_DIR}/{name}");
        match source.read(&file) {
            Ok(text) => match parse(&file, &text) {
                Ok(suite) => suites.push(suite),
                Err(d) => diags.extend(d),
            },
            Err(e) => diags.push(Diagnostic::error(
                "test-unreadable",
                &file,
                Pos::new(1, 1),
                format!("cannot read `{file}`: {e}"),
            )),
        }
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(suites)
}

/// The test files in `dir/tests` (`*.yaml`, `*.yml`), sorted; empty when there is no such
/// directory.
pub fn list(dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    let tests = dir.join(TESTS_DIR);
    let entries = match std::fs::read_dir(&tests) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if is_yaml && !name.starts_with('.') && entry.path().is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Parses one test file; `file` is its path relative to the workflow directory.
pub fn parse(file: &str, text: &str) -> Result<Suite, Vec<Diagnostic>> {
    let mut p = Parser {
        file,
        diags: Vec::new(),
    };
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            return Err(vec![Diagnostic::error(
                "test-yaml",
                file,
                e.pos,
                format!("invalid YAML: {}", e.message),
            )]);
        }
    };
    let mut cases = Vec::new();
    match root.as_ref().and_then(|r| p.mapping(r, "the test file")) {
        None if root.is_none() => p.error(
            "test-empty",
            Pos::new(1, 1),
            "the test file is empty".into(),
            Some("start with `cases:` and a list of cases"),
        ),
        None => {}
        Some(top) => {
            p.known(&top, &["cases"], "the test file");
            match top.iter().find(|(k, _, _)| k == "cases") {
                None => p.error(
                    "test-no-cases",
                    Pos::new(1, 1),
                    "missing `cases`".into(),
                    Some("add `cases:` with a list of cases"),
                ),
                Some((_, _, node)) => match yaml::items(node) {
                    Some(items) => {
                        for item in items {
                            if let Some(case) = p.case(item) {
                                cases.push(case);
                            }
                        }
                    }
                    None => p.expected(node, "`cases`", "a list"),
                },
            }
        }
    }
    let mut seen: Vec<&Case> = Vec::new();
    let mut dupes = Vec::new();
    for case in &cases {
        if let Some(first) = seen.iter().find(|c| c.name == case.name) {
            dupes.push(
                Diagnostic::error(
                    "test-duplicate",
                    file,
                    case.pos,
                    format!(
                        "case `{}` is already defined at line {}",
                        case.name, first.pos.line
                    ),
                )
                .with_hint("case names must be unique in a file; they name the case in reports"),
            );
        } else {
            seen.push(case);
        }
    }
    p.diags.extend(dupes);
    if p.diags.is_empty() {
        Ok(Suite {
            file: file.to_owned(),
            cases,
        })
    } else {
        Err(p.diags)
    }
}

type Entries<'a, 'i> = Vec<(String, Pos, &'a MarkedYaml<'i>)>;

/// The value of `key` among `entries`.
fn field<'a, 'i>(entries: &Entries<'a, 'i>, key: &str) -> Option<&'a MarkedYaml<'i>> {
    entries.iter().find(|(k, _, _)| k == key).map(|e| e.2)
}

struct Parser<'f> {
    file: &'f str,
    diags: Vec<Diagnostic>,
}

impl Parser<'_> {
    fn error(&mut self, code: &'static str, pos: Pos, message: String, hint: Option<&str>) {
        let mut d = Diagnostic::error(code, self.file, pos, message);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.diags.push(d);
    }

    fn expected(&mut self, node: &MarkedYaml<'_>, what: &str, want: &str) {
        self.error(
            "test-type",
            yaml::pos(node),
            format!("{what} must be {want}, found {}", yaml::kind(node)),
            None,
        );
    }

    fn mapping<'a, 'i>(&mut self, node: &'a MarkedYaml<'i>, what: &str) -> Option<Entries<'a, 'i>> {
        let entries = yaml::entries(node);
        if entries.is_none() {
            self.expected(node, what, "a mapping");
        }
        entries
    }

    /// Reports keys not in `allowed`, with a suggestion for a likely typo.
    fn known(&mut self, entries: &Entries<'_, '_>, allowed: &[&str], what: &str) {
        for (key, pos, _) in entries {
            if !allowed.contains(&key.as_str()) {
                let hint = match did_you_mean(key, allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("expected one of: {}", allowed.join(", ")),
                };
                self.error(
                    "test-unknown-key",
                    *pos,
                    format!("unknown key `{key}` in {what}"),
                    Some(&hint),
                );
            }
        }
    }

    fn string(&mut self, node: &MarkedYaml<'_>, what: &str) -> Option<String> {
        // Numbers and booleans are fine where text is expected (`event: 1` is "1").
        let text = yaml::as_str(node)
            .map(str::to_owned)
            .or_else(|| (!is_null(node)).then(|| yaml::scalar_text(node)).flatten());
        if text.is_none() {
            self.expected(node, what, "a string");
        }
        text
    }

    /// A string that must be there: `None` (reported at `pos`, where it belongs) when absent.
    fn required(
        &mut self,
        value: Option<&MarkedYaml<'_>>,
        what: &str,
        pos: Pos,
        missing: &str,
        hint: Option<&str>,
    ) -> Option<String> {
        match value {
            Some(v) => self.string(v, what),
            None => {
                self.error("test-missing", pos, missing.into(), hint);
                None
            }
        }
    }

    fn strings(&mut self, node: &MarkedYaml<'_>, what: &str) -> Vec<At<String>> {
        let Some(items) = yaml::items(node) else {
            // One text alone is a list of one.
            return self
                .string(node, what)
                .map(|value| {
                    vec![At {
                        value,
                        pos: yaml::pos(node),
                    }]
                })
                .unwrap_or_default();
        };
        items
            .iter()
            .filter_map(|item| {
                self.string(item, what).map(|value| At {
                    value,
                    pos: yaml::pos(item),
                })
            })
            .collect()
    }

    fn case(&mut self, node: &MarkedYaml<'_>) -> Option<Case> {
        let entries = self.mapping(node, "a case")?;
        self.known(
            &entries,
            &["name", "trigger", "secrets", "fetch", "expect"],
            "a case",
        );
        let pos = yaml::pos(node);
        let get = |key: &str| field(&entries, key);
        let name = self.required(
            get("name"),
            "`name`",
            pos,
            "a case needs a `name`",
            Some("add `name: <what the case checks>`"),
        );
        let trigger = match get("trigger") {
            Some(t) => self.trigger(t),
            None => Some(At {
                value: CaseTrigger::Http {
                    body: Value::Object(Default::default()),
                },
                pos,
            }),
        };
        let secrets = match get("secrets") {
            Some(s) if yaml::entries(s).is_some() => yaml::to_json(s),
            Some(s) => {
                self.expected(s, "`secrets`", "a mapping");
                Value::Null
            }
            None => Value::Object(Default::default()),
        };
        let mut fetch = Vec::new();
        if let Some(f) = get("fetch") {
            match yaml::items(f) {
                Some(items) => fetch.extend(items.iter().filter_map(|i| self.stub(i))),
                None => self.expected(f, "`fetch`", "a list of stubs"),
            }
        }
        let expect = match get("expect") {
            Some(e) => self.expect(e),
            None => Some(Expect {
                pos,
                ..Expect::default()
            }),
        };
        Some(Case {
            name: name?,
            pos,
            trigger: trigger?,
            secrets,
            fetch,
            expect: expect?,
        })
    }

    fn trigger(&mut self, node: &MarkedYaml<'_>) -> Option<At<CaseTrigger>> {
        let pos = yaml::pos(node);
        let entries = self.mapping(node, "`trigger`")?;
        let kinds = ["http", "webhook", "cron", "queue"];
        self.known(&entries, &kinds, "`trigger`");
        let [(kind, _, value)] = entries.as_slice() else {
            if !entries.is_empty() && entries.iter().all(|(k, _, _)| kinds.contains(&k.as_str())) {
                self.error(
                    "test-trigger",
                    pos,
                    "a case has one trigger".into(),
                    Some("split it into one case per trigger"),
                );
            } else if entries.is_empty() {
                self.error(
                    "test-trigger",
                    pos,
                    "`trigger` is empty".into(),
                    Some("e.g. `trigger: {http: {name: ada}}`"),
                );
            }
            return None;
        };
        let value = *value;
        let trigger = match kind.as_str() {
            "http" => CaseTrigger::Http {
                body: yaml::to_json(value),
            },
            "cron" => CaseTrigger::Cron {
                name: self.string(value, "`cron` (the trigger's name)")?,
            },
            "webhook" => {
                let fields = self.mapping(value, "`webhook`")?;
                self.known(
                    &fields,
                    &["name", "event", "delivery", "branch", "body"],
                    "`webhook`",
                );
                let get = |key: &str| field(&fields, key);
                let name = self.required(
                    get("name"),
                    "`name`",
                    yaml::pos(value),
                    "a webhook trigger needs the `name` of the workflow's webhook",
                    None,
                );
                let event = get("event").and_then(|e| self.string(e, "`event`"));
                let delivery = get("delivery").and_then(|e| self.string(e, "`delivery`"));
                let branch = get("branch").and_then(|e| self.string(e, "`branch`"));
                let mut body = get("body").map_or(Value::Object(Default::default()), yaml::to_json);
                if let Some(branch) = branch {
                    // GitHub names the branch of a push in `ref`, as the engine's filter reads it.
                    match &mut body {
                        Value::Object(map) => {
                            map.insert("ref".into(), Value::String(format!("refs/heads/{branch}")));
                        }
                        _ => self.error(
                            "test-trigger",
                            yaml::pos(value),
                            "`branch` needs `body` to be a mapping (it sets the payload's `ref`)"
                                .into(),
                            None,
                        ),
                    }
                }
                CaseTrigger::Webhook {
                    name: name?,
                    event,
                    delivery,
                    body,
                }
            }
            "queue" => {
                let fields = self.mapping(value, "`queue`")?;
                self.known(&fields, &["subject", "body"], "`queue`");
                let get = |key: &str| field(&fields, key);
                let subject = self.required(
                    get("subject"),
                    "`subject`",
                    yaml::pos(value),
                    "a queue trigger needs the `subject` of the workflow's queue trigger",
                    None,
                );
                CaseTrigger::Queue {
                    subject: subject?,
                    body: get("body").map_or(Value::Object(Default::default()), yaml::to_json),
                }
            }
            // Reported by `known` above.
            _ => return None,
        };
        Some(At {
            value: trigger,
            pos,
        })
    }

    fn stub(&mut self, node: &MarkedYaml<'_>) -> Option<Stub> {
        let pos = yaml::pos(node);
        let entries = self.mapping(node, "a fetch stub")?;
        self.known(&entries, &["match", "respond"], "a fetch stub");
        let get = |key: &str| field(&entries, key);
        let Some(m) = get("match") else {
            self.error(
                "test-stub",
                pos,
                "a fetch stub needs `match`".into(),
                Some("e.g. `match: {method: GET, url: \"https://api.example.com/*\"}`"),
            );
            return None;
        };
        let fields = self.mapping(m, "`match`")?;
        self.known(&fields, &["method", "url"], "`match`");
        let method = field(&fields, "method")
            .and_then(|n| self.string(n, "`method`"))
            .map(|m| m.to_ascii_uppercase());
        let url = self.required(
            field(&fields, "url"),
            "`url`",
            yaml::pos(m),
            "`match` needs a `url` (a glob: `*` within a path segment, `**` across)",
            None,
        )?;
        let mut stub = Stub {
            pos,
            method,
            url,
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        };
        let Some(r) = get("respond") else {
            return Some(stub);
        };
        let fields = self.mapping(r, "`respond`")?;
        self.known(&fields, &["status", "headers", "body"], "`respond`");
        for (key, _, value) in &fields {
            match key.as_str() {
                "status" => match yaml::scalar_text(value).and_then(|s| s.parse::<u16>().ok()) {
                    Some(s) if (200..=599).contains(&s) => stub.status = s,
                    _ => self.error(
                        "test-stub",
                        yaml::pos(value),
                        format!(
                            "`status` must be an HTTP status from 200 to 599, found {}",
                            yaml::scalar_text(value).unwrap_or_else(|| yaml::kind(value).into())
                        ),
                        None,
                    ),
                },
                "headers" => {
                    for (name, _, v) in self.mapping(value, "`headers`").unwrap_or_default() {
                        if let Some(v) = self.string(v, "a header value") {
                            stub.headers.push((name.to_ascii_lowercase(), v));
                        }
                    }
                }
                "body" => match yaml::as_str(value) {
                    Some(text) => stub.body = text.as_bytes().to_vec(),
                    None => {
                        stub.body = yaml::to_json(value).to_string().into_bytes();
                        if !stub.headers.iter().any(|(k, _)| k == "content-type") {
                            stub.headers
                                .push(("content-type".into(), "application/json".into()));
                        }
                    }
                },
                _ => {}
            }
        }
        Some(stub)
    }

    fn expect(&mut self, node: &MarkedYaml<'_>) -> Option<Expect> {
        let entries = self.mapping(node, "`expect`")?;
        self.known(
            &entries,
            &[
                "status",
                "output",
                "output_contains",
                "error",
                "nodes",
                "logs",
            ],
            "`expect`",
        );
        let mut expect = Expect {
            pos: yaml::pos(node),
            ..Expect::default()
        };
        for (key, _, value) in &entries {
            let pos = yaml::pos(value);
            match key.as_str() {
                "status" => {
                    let text = self.string(value, "`status`");
                    match text.as_deref().map(str::parse::<RunStatus>) {
                        Some(Ok(s)) => expect.status = Some(At { value: s, pos }),
                        Some(Err(e)) => self.error("test-status", pos, e, None),
                        None => {}
                    }
                }
                "output" => {
                    expect.output = Some(At {
                        value: yaml::to_json(value),
                        pos,
                    })
                }
                "output_contains" => {
                    expect.output_contains = Some(At {
                        value: yaml::to_json(value),
                        pos,
                    })
                }
                "error" => {
                    expect.error = self.string(value, "`error`").map(|value| At { value, pos })
                }
                "nodes" => {
                    for (id, id_pos, status) in self.mapping(value, "`nodes`").unwrap_or_default() {
                        let Some(text) = self.string(status, "a node status") else {
                            continue;
                        };
                        match node_status(&text) {
                            Some(s) => expect.nodes.push((
                                At {
                                    value: id,
                                    pos: id_pos,
                                },
                                At {
                                    value: s,
                                    pos: yaml::pos(status),
                                },
                            )),
                            None => self.error(
                                "test-status",
                                yaml::pos(status),
                                format!("unknown node status `{text}`"),
                                Some(&format!("expected one of: {}", NODE_STATUSES.join(", "))),
                            ),
                        }
                    }
                }
                "logs" => {
                    let Some(fields) = self.mapping(value, "`logs`") else {
                        continue;
                    };
                    self.known(&fields, &["contains", "excludes"], "`logs`");
                    for (k, _, v) in &fields {
                        match k.as_str() {
                            "contains" => expect.logs_contains = self.strings(v, "`contains`"),
                            "excludes" => expect.logs_excludes = self.strings(v, "`excludes`"),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if expect.output.is_some()
            && let Some(c) = &expect.output_contains
        {
            self.error(
                "test-expect",
                c.pos,
                "`output` and `output_contains` exclude each other".into(),
                Some("`output` is the exact output; `output_contains` a part of it"),
            );
        }
        Some(expect)
    }
}

fn is_null(node: &MarkedYaml<'_>) -> bool {
    matches!(node.data, saphyr::YamlData::Value(saphyr::Scalar::Null))
}

/// The words for [`NodeStatus`], as run records write them.
const NODE_STATUSES: [&str; 5] = ["succeeded", "failed", "timed_out", "cancelled", "skipped"];

fn node_status(word: &str) -> Option<NodeStatus> {
    serde_json::from_value(Value::String(word.to_owned())).ok()
}

/// How a case names a cron trigger: by its name, or by its schedule when it has none (the
/// label its runs carry in `ctx.run.trigger`).
pub fn cron_label(trigger: &pipedreamer_spec::CronTrigger) -> &str {
    trigger.name.as_deref().unwrap_or(&trigger.schedule)
}

/// Checks the cases against the workflow they test: the triggers they name exist, and so do
/// the nodes their expectations name. Every problem is reported, with a suggestion.
pub fn check_against(suites: &[Suite], workflow: &Workflow) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let node_ids: Vec<&str> = workflow.nodes.iter().map(|n| n.id.as_str()).collect();
    for suite in suites {
        let missing = |what: &str, name: &str, pos: Pos, candidates: Vec<&str>| {
            let hint = match did_you_mean(name, candidates.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if candidates.is_empty() => {
                    format!("the workflow declares no {what} trigger")
                }
                None => format!("the workflow has: {}", candidates.join(", ")),
            };
            Diagnostic::error(
                "test-unknown-trigger",
                &suite.file,
                pos,
                format!("the workflow has no {what} trigger `{name}`"),
            )
            .with_hint(hint)
        };
        for case in &suite.cases {
            let named = |f: fn(&Trigger) -> Option<&str>| -> Vec<&str> {
                workflow.triggers.iter().filter_map(f).collect()
            };
            let (what, name, names) = match &case.trigger.value {
                CaseTrigger::Http { .. } => ("http", "", Vec::new()),
                CaseTrigger::Webhook { name, .. } => (
                    "webhook",
                    name.as_str(),
                    named(|t| match t {
                        Trigger::Webhook(w) => Some(&w.name),
                        _ => None,
                    }),
                ),
                CaseTrigger::Cron { name } => (
                    "cron",
                    name.as_str(),
                    named(|t| match t {
                        Trigger::Cron(c) => Some(cron_label(c)),
                        _ => None,
                    }),
                ),
                CaseTrigger::Queue { subject, .. } => (
                    "queue",
                    subject.as_str(),
                    named(|t| match t {
                        Trigger::Queue(q) => Some(&q.subject),
                        _ => None,
                    }),
                ),
            };
            // HTTP needs no declaration: `POST /run` is always on.
            if what != "http" && !names.contains(&name) {
                diags.push(missing(what, name, case.trigger.pos, names));
            }
            for (id, _) in &case.expect.nodes {
                if !node_ids.contains(&id.value.as_str()) {
                    let hint = match did_you_mean(&id.value, node_ids.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("the workflow's nodes: {}", node_ids.join(", ")),
                    };
                    diags.push(
                        Diagnostic::error(
                            "test-unknown-node",
                            &suite.file,
                            id.pos,
                            format!("the workflow has no node `{}`", id.value),
                        )
                        .with_hint(hint),
                    );
                }
            }
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The issue's example, verbatim.
    const EXAMPLE: &str = r#"cases:
  - name: greets by name
    trigger: {http: {name: "ada"}}
    secrets: {api: {token: "test"}}
    fetch:
      - match: {method: GET, url: "https://api.github.com/users/*"}
        respond: {status: 200, headers: {content-type: application/json}, body: {login: "ada"}}
    expect:
      status: succeeded
      output: {message: "Hello, Ada!"}
      nodes: {greet: succeeded}
      logs: {contains: ["parsed name"], excludes: ["test"]}
"#;

    #[test]
    fn the_issue_example_parses_with_positions() {
        let suite = parse("tests/t.yaml", EXAMPLE).unwrap();
        let [case] = suite.cases.as_slice() else {
            panic!("{suite:?}")
        };
        assert_eq!(
            (case.name.as_str(), case.pos),
            ("greets by name", Pos::new(2, 5))
        );
        assert_eq!(
            case.trigger.value,
            CaseTrigger::Http {
                body: json!({"name": "ada"})
            }
        );
        assert_eq!(case.secrets, json!({"api": {"token": "test"}}));
        let stub = &case.fetch[0];
        assert_eq!(stub.method.as_deref(), Some("GET"));
        assert_eq!(stub.url, "https://api.github.com/users/*");
        assert_eq!(stub.body, br#"{"login":"ada"}"#);
        assert_eq!(
            stub.headers,
            [("content-type".to_owned(), "application/json".to_owned())]
        );
        let e = &case.expect;
        assert_eq!(e.status().value, RunStatus::Succeeded);
        assert_eq!(e.status.as_ref().unwrap().pos, Pos::new(9, 15));
        assert_eq!(e.output.as_ref().unwrap().pos, Pos::new(10, 15));
        assert_eq!(e.nodes[0].0.value, "greet");
        assert_eq!(e.nodes[0].1.value, NodeStatus::Succeeded);
        assert_eq!(e.logs_contains[0].value, "parsed name");
        assert_eq!(e.logs_excludes[0].pos, Pos::new(12, 52));
    }

    #[test]
    fn defaults_an_http_run_that_must_succeed_or_fail_with_an_error() {
        let suite = parse(
            "t",
            "cases:\n  - name: a\n  - name: b\n    expect: {error: boom}\n",
        )
        .unwrap();
        let (a, b) = (&suite.cases[0], &suite.cases[1]);
        assert_eq!(a.trigger.value, CaseTrigger::Http { body: json!({}) });
        assert_eq!(a.expect.status().value, RunStatus::Succeeded);
        assert_eq!(b.expect.status().value, RunStatus::Failed);
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_position() {
        let text = "cases:\n  - name: a\n    trigger: {http: {}, cron: x}\n    fetch:\n      - respond: {status: 99}\n    expect:\n      nodes: {a: done}\n      output: 1\n      output_contains: 1\n  - trigger: {queue: {body: 1}}\n";
        let diags = parse("tests/t.yaml", text).unwrap_err();
        let got: Vec<(String, &str)> = diags
            .iter()
            .map(|d| (format!("{}:{}", d.pos.line, d.pos.col), d.message.as_str()))
            .collect();
        let want = [
            ("3:14", "a case has one trigger"),
            ("5:9", "a fetch stub needs `match`"),
            ("7:18", "unknown node status `done`"),
            ("9:24", "`output` and `output_contains` exclude each other"),
            ("10:5", "a case needs a `name`"),
            (
                "10:22",
                "a queue trigger needs the `subject` of the workflow's queue trigger",
            ),
        ];
        for (pos, message) in want {
            assert!(
                got.iter().any(|(p, m)| p == pos && m == &message),
                "missing {pos} {message:?} in {got:#?}"
            );
        }
        let syntax = parse("t", "cases: [\n").unwrap_err();
        assert!(syntax[0].message.starts_with("invalid YAML"), "{syntax:?}");
        assert_eq!(
            parse("t", "").unwrap_err()[0].message,
            "the test file is empty"
        );
    }
}
