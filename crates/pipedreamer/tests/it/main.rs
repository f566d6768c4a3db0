//! CLI integration tests: the real `pipedreamer` binary on real directories, with insta
//! snapshots of what users read.

mod build;
mod ci_files;
mod completions;
mod dashboard;
mod deploy;
mod dev;
mod fake_kube;
mod init;
mod kube_contract;
mod runs;
mod sbom;
mod server_e2e;
mod server_kube_contract;
mod server_manifests;
mod server_routing;
mod server_schemathesis;
mod server_support;
mod validate;
mod workflow_tests;

use std::path::Path;
use std::process::{Command, Output};

pub(crate) fn pipedreamer(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run pipedreamer")
}

pub(crate) fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, t) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, t).unwrap();
    }
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// A workflow directory (under the target dir, so hard links work) holding the pinned npm
/// fixture's `node_modules` (scripts/npm-fixture.sh) and `files`; `None`, after a loud
/// message, only when npm is missing.
pub(crate) fn npm_workflow(files: &[(&str, &str)]) -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/npm-fixture.sh"))
        .arg(dir.path())
        .output()
        .expect("run scripts/npm-fixture.sh");
    if out.status.code() == Some(3) {
        eprintln!(
            "\n!!!!! SKIPPED: npm is not installed, so this npm package test did not run !!!!!\n{}",
            text(&out.stderr)
        );
        return None;
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    write(dir.path(), files);
    Some(dir)
}
