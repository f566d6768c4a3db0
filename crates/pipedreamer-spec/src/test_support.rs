//! What the npm package tests of this crate and the sandbox share (the `test-support` feature,
//! which only their dev-dependencies turn on).

use std::path::Path;
use std::process::Command;

/// A workflow directory under `tmp` (a test's `CARGO_TARGET_TMPDIR`) holding the npm fixture's
/// `node_modules` (tests/fixtures/npm, installed by scripts/npm-fixture.sh as hard links) and
/// `files`; `None` (after a loud message) only when npm is missing.
pub fn npm_workflow(tmp: &Path, files: &[(&str, &str)]) -> Option<tempfile::TempDir> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir_in(tmp).unwrap();
    let out = Command::new("bash")
        .arg(repo.join("scripts/npm-fixture.sh"))
        .arg(dir.path())
        .output()
        .expect("run scripts/npm-fixture.sh");
    if out.status.code() == Some(3) {
        eprintln!(
            "\n!!!!! SKIPPED: npm is not installed, so the npm package tests did not run !!!!!\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    Some(dir)
}
