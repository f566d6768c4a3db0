//! What the sandbox's integration tests share: workflows from in-memory files, sandboxes, and
//! runs that fail the test instead of hanging.
#![allow(dead_code, unreachable_pub)]

use pipedreamer_sandbox::*;
use pipedreamer_spec::source::MemorySource;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn workload(yaml: &str, files: &[(&str, &str)], secrets: Value) -> Arc<Workload> {
    let mut all = vec![("workflow.yaml", yaml)];
    all.extend_from_slice(files);
    let program =
        Program::load(&MemorySource::from_pairs(all)).unwrap_or_else(|d| panic!("{d:#?}"));
    Arc::new(Workload::new(program, Secrets::new(secrets)).0)
}

pub fn sandbox() -> Sandbox {
    Sandbox::start(PoolOptions { workers: 2 }).unwrap()
}

pub async fn run(sb: &Sandbox, wl: &Arc<Workload>, input: Value) -> (RunOutcome, Value) {
    let out = sb
        .run(
            wl.clone(),
            RunRequest::new(input.to_string(), Trigger::Http),
        )
        .await;
    let json = serde_json::to_value(&out).unwrap();
    (out, json)
}

/// A one-node workflow (`a.js`) with extra top-level YAML (e.g. a `config:` line).
pub fn one_node_with(yaml: &str, js: &str) -> Arc<Workload> {
    workload(
        &format!("name: r\nversion: \"1\"\n{yaml}nodes:\n  - {{id: a, file: a.js}}\n"),
        &[("a.js", js)],
        json!({}),
    )
}

pub fn one_node(js: &str) -> Arc<Workload> {
    one_node_with("", js)
}

/// Runs `wl` `runs` times on one sandbox; every run must return `expected`.
pub async fn assert_every_run_returns(wl: &Arc<Workload>, runs: usize, expected: Value) {
    let sb = sandbox();
    for _ in 0..runs {
        let (_, json) = run(&sb, wl, json!({})).await;
        assert_eq!(json["output"], expected, "{json}");
    }
}

/// A one-node workflow on a single worker thread, so successive runs share one realm.
pub fn single_worker() -> Sandbox {
    Sandbox::start(PoolOptions { workers: 1 }).unwrap()
}

/// Runs `wl` with `input`, failing the test instead of hanging when the sandbox does.
pub async fn run_bounded(sb: &Sandbox, wl: &Arc<Workload>, input: Value) -> (RunOutcome, Value) {
    tokio::time::timeout(std::time::Duration::from_secs(30), run(sb, wl, input))
        .await
        .expect("the run hung: the sandbox did not stop it")
}

/// Runs `wl` once on a new sandbox with `input` and returns its output, failing the test when
/// the run fails (or hangs).
pub async fn output_of(wl: &Arc<Workload>, input: Value) -> Value {
    let (out, json) = run_bounded(&sandbox(), wl, input).await;
    assert!(out.succeeded(), "{json:#}");
    json["output"].clone()
}
