use crate::{pipedreamer, repo_root, text, write};

/// Regression guard for the diagnostics users see: every problem at once, each with
/// file:line:col, the source line and a fix.
#[test]
fn reports_every_problem_with_location_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: Bad_Name\nversion: 1.10\nnodes:\n  - id: a\n    file: nodes/a.ts\n    dependson: [b]\n  - id: b\n    file: nodes/missing.ts\n    depends_on: [c]\n  - id: c\n    file: nodes/c.js\n    depends_on: [b, fetchh]\n    timeout: 10 parsecs\n  - id: a\n    file: nodes/c.js\ntriggers:\n  - type: cron\n    schedule: \"61 * * * *\"\n    timezone: Mars/Olympus\n  - type: htp\nfetch:\n  allow: [\"https://api.github.com\"]\n",
            ),
            (
                "nodes/a.ts",
                "import fs from 'node:fs';\nexport function run(ctx: any) {\n  return (;\n}\n",
            ),
            ("nodes/c.js", "export const x = 1\n"),
        ],
    );
    let out = pipedreamer(&["validate", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(text(&out.stderr));
}

#[test]
fn json_output_lists_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: x\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, depends_on: [a]}\n",
            ),
            ("a.js", "export default () => 1"),
        ],
    );
    let out = pipedreamer(&["validate", "-o", "json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    insta::assert_json_snapshot!(v);
}

#[test]
fn examples_are_valid() {
    for example in ["hello", "fan-out", "fetch-auth", "daily-report"] {
        let out = pipedreamer(&["validate", &format!("examples/{example}")], repo_root());
        assert!(out.status.success(), "{example}: {}", text(&out.stderr));
    }
}

#[test]
fn missing_workflow_says_how_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = pipedreamer(&["validate"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("pipedreamer init"));
}
