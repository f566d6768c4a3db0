//! `pipedreamer build`'s SBOM as users meet it: written next to the build output
//! (`.pipedreamer/sbom.spdx.json`), reproducible across builds with `SOURCE_DATE_EPOCH`, left out
//! with `--no-sbom`, and attached to the image on `--push` (Debian's docker-registry: the
//! referrers tag). What the document lists is tested in `pipedreamer-image/tests/sbom.rs`.

use crate::server_support::Registry;
use crate::{text, write};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn hello() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: sbomcli\nversion: \"1.0\"\nnodes:\n  - {id: a, file: nodes/a.js}\n",
            ),
            ("nodes/a.js", "export default async (ctx, input) => input"),
        ],
    );
    dir
}

/// `pipedreamer build . -o json ARGS` in `dir` at a fixed epoch, with its own layer cache.
fn build(dir: &Path, args: &[&str]) -> Output {
    let engine = Path::new(env!("CARGO_BIN_EXE_pipedreamer")).with_file_name("pipedreamer-engine");
    let cache = dir.join(".test-cache");
    Command::new(env!("CARGO_BIN_EXE_pipedreamer"))
        .args(["build", ".", "-o", "json", "--engine"])
        .arg(&engine)
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", &cache)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "build failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn build_writes_a_reproducible_sbom_next_to_its_output_unless_told_not_to() {
    let (a, b) = (hello(), hello());
    let first = build(a.path(), &["--oci-layout", "out"]);
    let second = build(b.path(), &["--oci-layout", "out"]);
    let (j1, j2) = (json(&first), json(&second));
    assert_eq!(j1["digest"], j2["digest"], "same inputs, same image");
    assert_eq!(j1["sbom"]["digest"], j2["sbom"]["digest"], "and same SBOM");
    let path = a.path().join(".pipedreamer/sbom.spdx.json");
    assert!(
        text(&first.stderr).contains("wrote SBOM"),
        "{}",
        text(&first.stderr)
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        pipedreamer_image::blob::sha256_digest(&bytes),
        j1["sbom"]["digest"].as_str().unwrap()
    );
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(
        std::fs::read(b.path().join(".pipedreamer/sbom.spdx.json")).unwrap(),
        bytes
    );

    let c = hello();
    let without = json(&build(c.path(), &["--oci-layout", "out", "--no-sbom"]));
    assert!(without["sbom"].is_null(), "{without}");
    assert_ne!(without["digest"], j1["digest"]);
    assert!(!c.path().join(".pipedreamer/sbom.spdx.json").exists());
}

#[test]
fn push_attaches_the_sbom_through_the_referrers_tag_on_docker_registry() {
    let storage = tempfile::tempdir().unwrap();
    let registry = Registry::start(storage.path());
    let wf = hello();
    let out = build(wf.path(), &["--push", "-r", &registry.host]);
    let doc = json(&out);
    let digest = doc["digest"].as_str().unwrap();
    let referrer = &doc["sbom"]["referrer"];
    let tag = digest.replace(':', "-");
    assert_eq!(referrer["listed_by"]["kind"], "tag-schema", "{doc}");
    assert_eq!(referrer["listed_by"]["tag"], tag.as_str());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("listed in the referrers tag `{tag}`")),
        "{stderr}"
    );
    // The registry serves the index under that tag, listing the artifact.
    let index = Command::new("curl")
        .args([
            "-sf",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json",
        ])
        .arg(format!(
            "http://{}/v2/sbomcli/manifests/{tag}",
            registry.host
        ))
        .output()
        .expect("curl is not installed: apt-get install -y curl");
    assert!(index.status.success(), "{}", text(&index.stderr));
    let index: Value = serde_json::from_slice(&index.stdout).unwrap();
    assert_eq!(index["manifests"][0]["digest"], referrer["digest"]);
}
