//! `pipedreamer dev` records runs in `.pipedreamer/runs.db`; `pipedreamer runs list|show|replay`
//! read them: the real CLI on real directories.

use crate::{pipedreamer, text, write};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "supersecret-value-0123";

/// `pipedreamer dev` on a free port in `dir`; killed (SIGTERM first, so it flushes) on drop.
struct Dev {
    child: Child,
    port: u16,
}

impl Dev {
    fn start(dir: &Path) -> Dev {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
            .args(["dev", ".", "--no-watch", "--port", &port.to_string()])
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let dev = Dev { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::blocking::get(format!("http://127.0.0.1:{port}/readyz"))
            .map_or(true, |r| !r.status().is_success())
        {
            assert!(Instant::now() < deadline, "dev did not get ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        dev
    }

    /// POSTs `body` to `/run`: (HTTP status, answer).
    fn run(&self, body: &str) -> (u16, Value) {
        let r = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{}/run", self.port))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .timeout(Duration::from_secs(20))
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    /// SIGTERM, and wait for the exit (the recorder flushes on the way out).
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `runs list -o json` in `dir`.
fn list(dir: &Path) -> Vec<Value> {
    let out = pipedreamer(&["runs", "list", ".", "-o", "json"], dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `runs list` until it has `n` runs (dev writes them in the background).
fn wait_for_runs(dir: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = list(dir);
        if runs.len() >= n {
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} runs recorded",
            runs.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A two-node workflow: `check` logs (with a secret), reports progress and an output; `greet`
/// refuses `bob` (the bug a replay fixes), with the secret in its error.
fn workflow(dir: &Path, record_io: bool) {
    write(
        dir,
        &[
            (
                "workflow.yaml",
                &format!(
                    "name: recorded\nversion: \"3.0\"\nconfig:\n  record_io: {record_io}\nnodes:\n  - {{id: check, file: check.js}}\n  - {{id: greet, file: greet.js, depends_on: [check]}}\n"
                ),
            ),
            (
                "check.js",
                "export default (ctx, input) => { ctx.log.info(`using ${ctx.secrets.key}`); ctx.progress(50, 'halfway'); ctx.output('seen', { name: input.name }); return input; }",
            ),
            (
                "greet.js",
                "export default (ctx, input) => { if (input.name === 'bob') throw new Error(`no bob with ${ctx.secrets.key}`); return { hi: input.name }; }",
            ),
            (".secrets.yaml", &format!("key: {SECRET}\n")),
        ],
    );
}

#[test]
fn dev_records_runs_that_runs_list_and_show_read() {
    let dir = tempfile::tempdir().unwrap();
    workflow(dir.path(), true);
    // Before dev ever ran: an empty list, not an error.
    assert_eq!(list(dir.path()), Vec::<Value>::new());
    let dev = Dev::start(dir.path());
    let (status, ok) = dev.run(r#"{"name": "ann"}"#);
    assert_eq!(status, 200, "{ok}");
    let (status, failed) = dev.run(r#"{"name": "bob"}"#);
    assert_eq!(status, 500, "{failed}");
    let runs = wait_for_runs(dir.path(), 2);
    assert_eq!(runs.len(), 2);
    // Newest first.
    assert_eq!(runs[0]["id"], failed["run_id"]);
    assert_eq!(runs[1]["id"], ok["run_id"]);
    let ok_run = &runs[1];
    for key in [
        "id",
        "workflow",
        "version",
        "trigger",
        "status",
        "started_at",
        "ended_at",
        "nodes",
        "logs",
        "progress",
        "outputs",
        "error",
    ] {
        assert!(ok_run.get(key).is_some(), "no `{key}` in {ok_run}");
    }
    assert_eq!(ok_run["workflow"], "recorded");
    assert_eq!(ok_run["version"], "3.0");
    assert_eq!(ok_run["trigger"], "http");
    assert_eq!(ok_run["status"], "succeeded");
    assert_eq!(ok_run["nodes"]["check"]["status"], "succeeded");
    assert_eq!(ok_run["nodes"]["greet"]["attempts"], 1);
    assert!(ok_run["nodes"]["greet"]["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(ok_run["input"], serde_json::json!({"name": "ann"}));
    assert_eq!(ok_run["output"], serde_json::json!({"hi": "ann"}));
    assert_eq!(
        ok_run["outputs"]["seen"],
        serde_json::json!({"name": "ann"})
    );
    assert_eq!(ok_run["progress"][0]["percent"], 50.0);
    assert_eq!(ok_run["progress"][0]["message"], "halfway");
    assert_eq!(ok_run["logs"][0]["message"], "using [REDACTED]");
    let failed_run = &runs[0];
    assert_eq!(failed_run["status"], "failed");
    assert_eq!(failed_run["nodes"]["greet"]["status"], "failed");
    assert_eq!(failed_run["error"]["node"], "greet");
    // Filters reach the store.
    let out = pipedreamer(
        &["runs", "list", ".", "--status", "failed", "-o", "json"],
        dir.path(),
    );
    let only: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["id"], failed["run_id"]);

    // `show` as JSON is the list's record; as text, a timeline a person reads.
    let id = failed["run_id"].as_str().unwrap();
    let out = pipedreamer(&["runs", "show", id, "-o", "json"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(&shown, failed_run);
    let out = pipedreamer(&["runs", "show", id, "--dir", "."], dir.path());
    let timeline = text(&out.stdout);
    for expect in [
        "failed",
        "check",
        "greet",
        "1 attempt",
        "error (thrown) in greet: Error: no bob with [REDACTED]",
        "halfway",
        "using [REDACTED]",
        "seen = {\"name\":\"bob\"}",
    ] {
        assert!(timeline.contains(expect), "no `{expect}` in:\n{timeline}");
    }
    // The secret is nowhere a user or the database can see it.
    let list_text = text(&pipedreamer(&["runs", "list", "."], dir.path()).stdout);
    assert!(list_text.contains(id), "{list_text}");
    for shown in [
        timeline.as_str(),
        list_text.as_str(),
        &serde_json::to_string(&runs).unwrap(),
    ] {
        assert!(!shown.contains(SECRET));
    }
    dev.stop();
    let db = std::fs::read(dir.path().join(".pipedreamer/runs.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(SECRET));

    // An unknown id is a clear error.
    let out = pipedreamer(&["runs", "show", "no-such-run"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no run `no-such-run`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_failed_run_replayed_after_the_fix_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    workflow(dir.path(), true);
    let dev = Dev::start(dir.path());
    let (status, failed) = dev.run(r#"{"name": "bob"}"#);
    assert_eq!(status, 500);
    wait_for_runs(dir.path(), 1);
    dev.stop();
    let id = failed["run_id"].as_str().unwrap();

    // Not fixed yet: the replay fails too (exit 1), and is recorded as a replay.
    let out = pipedreamer(&["runs", "replay", id, "-o", "json"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["status"], "failed");
    assert_eq!(again["replay_of"], id);

    // Fixed on disk: the replay succeeds on the current code, with the recorded input.
    write(
        dir.path(),
        &[(
            "greet.js",
            "export default (ctx, input) => ({ hi: input.name })",
        )],
    );
    let out = pipedreamer(
        &["runs", "replay", id, "--dir", ".", "-o", "json"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fixed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fixed["status"], "succeeded");
    assert_eq!(fixed["replay_of"], id);
    assert_eq!(fixed["output"], serde_json::json!({"hi": "bob"}));
    assert_ne!(fixed["id"], id);
    let runs = list(dir.path());
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["id"], fixed["id"]);
    assert_eq!(runs[0]["replay_of"], id);
}

#[test]
fn a_run_without_recorded_input_cannot_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    workflow(dir.path(), false);
    let dev = Dev::start(dir.path());
    let (_, answer) = dev.run(r#"{"name": "ann"}"#);
    let runs = wait_for_runs(dir.path(), 1);
    dev.stop();
    // Payloads are kept only with config.record_io.
    assert!(runs[0].get("input").is_none() && runs[0].get("output").is_none());
    let id = answer["run_id"].as_str().unwrap();
    let out = pipedreamer(&["runs", "replay", id], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("has no recorded input"), "{stderr}");
    assert!(stderr.contains("config.record_io: true"), "{stderr}");
}
