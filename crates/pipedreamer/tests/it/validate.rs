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

/// Runs `validate` (text, then `-o json`) with `PD_CANARY` in its environment and returns all
/// it printed.
fn validate_output(dir: &std::path::Path) -> (Option<i32>, String) {
    let mut all = String::new();
    let mut code = None;
    for args in [&["validate", "."][..], &["validate", ".", "-o", "json"][..]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env("PD_CANARY", "environ-canary-7731")
            .output()
            .unwrap();
        code = out.status.code();
        all.push_str(&text(&out.stdout));
        all.push_str(&text(&out.stderr));
    }
    (code, all)
}

/// Regression (issue 10, item 9): with `workflow.yaml` linked to `/proc/self/environ`, the
/// "path leaves the workflow directory" diagnostic printed the environment as its excerpt.
/// Links to files outside, for the workflow, a node or an import, are refused and never shown.
#[test]
fn files_outside_the_directory_are_never_printed() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.js");
    std::fs::write(&secret, "TOKEN=outside-canary-4412\nexport default 1\n").unwrap();
    let link = |dir: &std::path::Path, target: &std::path::Path, name: &str| {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    };
    let canaries = ["environ-canary-7731", "outside-canary-4412"];

    for target in [std::path::Path::new("/proc/self/environ"), secret.as_path()] {
        let dir = tempfile::tempdir().unwrap();
        link(dir.path(), target, "workflow.yaml");
        let (code, out) = validate_output(dir.path());
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("path leaves the workflow directory"), "{out}");
        assert!(out.contains("not a link out of it"), "{out}");
        for c in canaries {
            assert!(!out.contains(c), "{target:?} leaked {c}:\n{out}");
        }
    }

    // A node file and an import linked out of the directory.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: x\nversion: \"1\"\nnodes:\n  - {id: a, file: nodes/a.js}\n  - {id: b, file: nodes/b.js}\n",
            ),
            (
                "nodes/b.js",
                "import x from './lib/secret.js';\nexport default () => x;\n",
            ),
        ],
    );
    link(dir.path(), &secret, "nodes/a.js");
    link(dir.path(), outside.path(), "nodes/lib");
    let (code, out) = validate_output(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        out.matches("path leaves the workflow directory").count(),
        4,
        "node and import, in text and JSON:\n{out}"
    );
    for c in canaries {
        assert!(!out.contains(c), "leaked {c}:\n{out}");
    }
}

/// Issue 10, item 8: with `.secrets.yaml` present, a webhook whose secret is missing or empty
/// is an error naming the trigger and the path; the secrets' values are never printed.
#[test]
fn webhook_secrets_are_checked_when_secrets_are_present() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: hooks\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\ntriggers:\n  - type: webhook\n    name: github\n    secret: github.webhook_secret\n",
            ),
            ("a.js", "export default () => 1"),
        ],
    );
    // No secrets file: they live in the cluster, nothing to check against.
    let out = pipedreamer(&["validate", "."], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));

    for secrets in [
        "github:\n  webhook_secret: \"\"\nother: value-canary-9912\n",
        "other: value-canary-9912\n",
    ] {
        write(dir.path(), &[(".secrets.yaml", secrets)]);
        let out = pipedreamer(&["validate", "."], dir.path());
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains("error[webhook-secret-missing]: webhook trigger `github`: secret `github.webhook_secret`"),
            "{err}"
        );
        assert!(err.contains("--> workflow.yaml:8:13"), "{err}");
        assert!(
            err.contains(
                "hint: set it in .secrets.yaml as `github: {webhook_secret: \"<value>\"}`"
            ),
            "{err}"
        );
        assert!(!err.contains("value-canary-9912"), "{err}");
    }

    // A broken secrets file is reported at its position, without an excerpt of its values.
    write(
        dir.path(),
        &[(".secrets.yaml", "github: [value-canary-9912\n")],
    );
    let out = pipedreamer(&["validate", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error[bad-secrets]"), "{err}");
    assert!(err.contains("--> .secrets.yaml:"), "{err}");
    assert!(!err.contains("value-canary-9912"), "{err}");

    write(
        dir.path(),
        &[(".secrets.yaml", "github:\n  webhook_secret: s3cret\n")],
    );
    let out = pipedreamer(&["validate", "."], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Regression (issue 10, item 12): `memory_limit: 1` and `100000Gi` validated (every run then
/// failed), and so did `id: ""`.
#[test]
fn memory_limits_out_of_range_and_empty_ids_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: limits\nversion: \"1\"\nnodes:\n  - id: \"\"\n    file: a.js\nconfig:\n  memory_limit: 1\n",
            ),
            ("a.js", "export default () => 1"),
        ],
    );
    let out = pipedreamer(&["validate", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(text(&out.stderr));

    write(
        dir.path(),
        &[(
            "workflow.yaml",
            "name: limits\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\nconfig:\n  memory_limit: 100000Gi\n",
        )],
    );
    let out = pipedreamer(&["validate", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("`config.memory_limit: 100000Gi` is too large"),
        "{}",
        text(&out.stderr)
    );
}

/// Issue 11: a forbidden builtin imported at load time deep inside a package is refused with
/// the chain from the node to it; the same module `require`d inside a function only warns.
#[test]
fn forbidden_builtins_are_refused_with_the_import_chain() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: chain\nversion: \"1\"\nnodes:\n  - {id: fetch-data, file: nodes/a.ts}\n",
            ),
            (
                "nodes/a.ts",
                "import store from 'tiny-store';\nexport default async (ctx: any) => store.get('x');\n",
            ),
            (
                "node_modules/tiny-store/package.json",
                r#"{"name":"tiny-store","main":"lib/index.js"}"#,
            ),
            (
                "node_modules/tiny-store/lib/index.js",
                "const disk = require('./disk');\nmodule.exports = { get: (k) => disk.read(k) };\n",
            ),
            (
                "node_modules/tiny-store/lib/disk.js",
                "const fs = require('node:fs');\nexports.read = (k) => fs.readFileSync(k, 'utf8');\nexports.spawn = () => require('child_process').spawn('sh');\n",
            ),
        ],
    );
    let out = pipedreamer(&["validate", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(text(&out.stderr));
}

/// Issue 11: a package that is not installed is named with the command that installs it.
#[test]
fn missing_packages_name_the_install_command() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: pkgs\nversion: \"1\"\nnodes:\n  - {id: a, file: nodes/a.ts}\n",
            ),
            (
                "nodes/a.ts",
                "import { z } from 'zod';\nexport default async (ctx: any, input: unknown) => z.string().parse(input);\n",
            ),
            ("package.json", r#"{"dependencies":{"zod":"4.6.7"}}"#),
            ("package-lock.json", "{}"),
        ],
    );
    let out = pipedreamer(&["validate", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(text(&out.stderr));
}
