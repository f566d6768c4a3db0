//! For the tests of crates that build images (the `test-support` feature): where the static
//! engine that goes into test images is.

use std::path::{Path, PathBuf};

/// The static debug engine `cargo test --workspace` builds next to the test binaries: one
/// directory above their `deps/` (`target/<triple>/debug/pipedreamer-engine`). Panics with
/// what to run when it is missing.
pub fn test_engine() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let engine = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<triple>/debug/deps")
        .join("pipedreamer-engine");
    assert!(
        engine.is_file(),
        "{} is missing: run `cargo build -p pipedreamer-engine` (scripts/test.sh does)",
        engine.display()
    );
    engine
}
