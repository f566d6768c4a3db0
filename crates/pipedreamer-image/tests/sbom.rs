//! The image's SPDX SBOM: what it lists (the engine's crates from the static test engine, the
//! workflow's npm packages, the CA bundle), that it is reproducible, that it ships in the image,
//! and that a push attaches it to the image: by the tag schema on Debian's docker-registry (no
//! referrers API), by the referrers API on a small in-test registry that has it. Every document
//! is also judged by SPDX's own validator (`pyspdxtools` from PyPI's `spdx-tools`).

use pipedreamer_image::blob::{media, sha256_digest};
use pipedreamer_image::publish::{Publisher, ReferrersListing, RegistryPublisher};
use pipedreamer_image::{BuildOptions, Image, Reference, sbom};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

mod common;
use common::{Registry, build, build_with, workflow};

/// `hello` with two npm packages its node imports (one scoped, one with the old `licenses`
/// array) and one it does not (which must not ship, so not be listed).
fn workflow_with_packages(name: &str) -> tempfile::TempDir {
    let dir = workflow(name);
    let files = [
        (
            "nodes/a.js",
            "import { pad } from 'leftpad';\nimport util from '@acme/util';\nexport default async (ctx, input) => ({ p: pad(util) })\n",
        ),
        (
            "node_modules/leftpad/package.json",
            r#"{"name":"leftpad","version":"1.3.0","licenses":[{"type":"MIT"}],"main":"index.js"}"#,
        ),
        (
            "node_modules/leftpad/index.js",
            "exports.pad = (s) => ' ' + s;\n",
        ),
        (
            "node_modules/@acme/util/package.json",
            r#"{"name":"@acme/util","version":"2.0.1","license":"Apache-2.0","main":"index.js"}"#,
        ),
        (
            "node_modules/@acme/util/index.js",
            "module.exports = 'u';\n",
        ),
        (
            "node_modules/unused/package.json",
            r#"{"name":"unused","version":"9.9.9","license":"MIT"}"#,
        ),
        ("node_modules/unused/index.js", "module.exports = 1;\n"),
    ];
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn reference(name: &str) -> Reference {
    Reference::parse(&format!("{name}:1-2")).unwrap()
}

/// The files of a layer, by path.
fn layer_files(image: &Image, index: usize) -> std::collections::BTreeMap<String, Vec<u8>> {
    let gz = flate2::read::GzDecoder::new(image.layers[index].blob.data.as_slice());
    let mut archive = tar::Archive::new(gz);
    let mut files = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.insert(path, data);
    }
    files
}

/// The fields SPDX 2.3 requires, and that every relationship names an element of the document.
fn check_required_fields(doc: &Value) {
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["dataLicense"], "CC0-1.0");
    assert_eq!(doc["SPDXID"], "SPDXRef-DOCUMENT");
    assert!(doc["name"].as_str().is_some_and(|n| !n.is_empty()));
    let namespace = doc["documentNamespace"].as_str().unwrap();
    assert!(
        namespace.starts_with("https://") && !namespace.contains('#'),
        "{namespace}"
    );
    assert!(
        !doc["creationInfo"]["creators"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let created = doc["creationInfo"]["created"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'));
    let mut ids = BTreeSet::from(["SPDXRef-DOCUMENT".to_owned()]);
    for p in doc["packages"].as_array().unwrap() {
        let id = p["SPDXID"].as_str().unwrap();
        assert!(
            id.strip_prefix("SPDXRef-")
                .is_some_and(|rest| !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')),
            "{id}"
        );
        assert!(ids.insert(id.to_owned()), "duplicate {id}");
        assert!(p["name"].as_str().is_some_and(|n| !n.is_empty()), "{p}");
        assert!(p["downloadLocation"].is_string(), "{p}");
    }
    for r in doc["relationships"].as_array().unwrap() {
        for end in ["spdxElementId", "relatedSpdxElement"] {
            assert!(ids.contains(r[end].as_str().unwrap()), "{r}");
        }
    }
}

/// SPDX's own validator accepts the document.
fn pyspdxtools_accepts(sbom: &[u8]) {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/pyspdxtools");
    assert!(
        tool.is_file(),
        "{} is missing: run `.venv/bin/pip install spdx-tools` (scripts/test.sh does)",
        tool.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sbom.spdx.json");
    std::fs::write(&file, sbom).unwrap();
    let out = std::process::Command::new(&tool)
        .arg("-i")
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "pyspdxtools refused the SBOM:\n{text}"
    );
}

fn package<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sbom_lists_the_engine_crates_the_npm_packages_and_the_ca_bundle() {
    let wf = workflow_with_packages("sbomtest");
    let image = build_with(
        wf.path(),
        &reference("sbomtest"),
        1_700_000_000,
        BuildOptions::default(),
    )
    .await;
    let sbom = image.sbom.as_ref().expect("an SBOM by default");
    assert_eq!(sbom.media_type, "application/spdx+json");
    let doc: Value = serde_json::from_slice(&sbom.data).unwrap();
    check_required_fields(&doc);
    pyspdxtools_accepts(&sbom.data);
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(doc["name"], "sbomtest-1.2");

    // In the image at /sbom.spdx.json, byte for byte.
    let workflow_files = layer_files(&image, 1);
    assert_eq!(workflow_files["sbom.spdx.json"], *sbom.data);

    // The engine: its checksum is the shipped binary's, its crates come from the binary.
    let engine_files = layer_files(&image, 0);
    let engine = package(&doc, "pipedreamer-engine");
    assert_eq!(
        format!(
            "sha256:{}",
            engine["checksums"][0]["checksumValue"].as_str().unwrap()
        ),
        sha256_digest(&engine_files["app/engine/pipedreamer-engine"])
    );
    assert_eq!(engine["versionInfo"], env!("CARGO_PKG_VERSION"));
    let tokio = package(&doc, "tokio");
    assert_eq!(tokio["licenseDeclared"], "MIT");
    assert!(
        tokio["externalRefs"][0]["referenceLocator"]
            .as_str()
            .unwrap()
            .starts_with("pkg:cargo/tokio@")
    );
    assert_eq!(
        package(&doc, "pipedreamer-sandbox")["downloadLocation"],
        "NOASSERTION"
    );
    // The engine's graph, not the CLI's: no Kubernetes client, no image builder.
    let names: BTreeSet<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for absent in [
        "kube",
        "kube-client",
        "pipedreamer-image",
        "clap_complete",
        "unused",
    ] {
        assert!(!names.contains(absent), "{absent} is listed");
    }
    assert!(names.len() > 100, "only {} packages", names.len());

    // npm packages with their licenses, the old `licenses` array included.
    let leftpad = package(&doc, "leftpad");
    assert_eq!(
        (&leftpad["versionInfo"], &leftpad["licenseDeclared"]),
        (&json!("1.3.0"), &json!("MIT"))
    );
    let util = package(&doc, "@acme/util");
    assert_eq!(util["licenseDeclared"], "Apache-2.0");
    assert_eq!(
        util["externalRefs"][0]["referenceLocator"],
        "pkg:npm/%40acme/util@2.0.1"
    );

    // The CA bundle, by the checksum of the file in the image.
    let ca = package(&doc, "ca-certificates.crt");
    assert_eq!(
        format!(
            "sha256:{}",
            ca["checksums"][0]["checksumValue"].as_str().unwrap()
        ),
        sha256_digest(&engine_files["etc/ssl/certs/ca-certificates.crt"])
    );

    // Every package hangs off the image: contained, or a dependency of what is contained.
    let relationships = doc["relationships"].as_array().unwrap();
    let related: BTreeSet<&str> = relationships
        .iter()
        .map(|r| r["relatedSpdxElement"].as_str().unwrap())
        .collect();
    for p in doc["packages"].as_array().unwrap() {
        assert!(related.contains(p["SPDXID"].as_str().unwrap()), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_builds_give_the_same_sbom_and_image_and_the_sbom_follows_the_content() {
    // Two copies in different directories: nothing about where the build ran may leak in.
    let (a, b) = (
        workflow_with_packages("reprotest"),
        workflow_with_packages("reprotest"),
    );
    let r = reference("reprotest");
    let first = build_with(a.path(), &r, 1_700_000_000, BuildOptions::default()).await;
    let second = build_with(b.path(), &r, 1_700_000_000, BuildOptions::default()).await;
    assert_eq!(first.digest(), second.digest());
    let (s1, s2) = (first.sbom.unwrap(), second.sbom.unwrap());
    assert_eq!(s1.data, s2.data);

    // Another epoch: another `created`, so another namespace (it is derived from the content).
    let later = build_with(a.path(), &r, 1_800_000_000, BuildOptions::default()).await;
    let namespace = |d: &[u8]| {
        serde_json::from_slice::<Value>(d).unwrap()["documentNamespace"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let later_sbom = later.sbom.unwrap();
    assert_ne!(namespace(&s1.data), namespace(&later_sbom.data));
    // Another package version: another document.
    std::fs::write(
        a.path().join("node_modules/leftpad/package.json"),
        r#"{"name":"leftpad","version":"1.3.1","license":"MIT","main":"index.js"}"#,
    )
    .unwrap();
    let changed = build_with(a.path(), &r, 1_700_000_000, BuildOptions::default()).await;
    let changed_sbom = changed.sbom.unwrap();
    assert_ne!(namespace(&s1.data), namespace(&changed_sbom.data));
    let doc: Value = serde_json::from_slice(&changed_sbom.data).unwrap();
    assert_eq!(package(&doc, "leftpad")["versionInfo"], "1.3.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_sbom_the_image_has_no_sbom_file() {
    let wf = workflow("nosbomtest");
    let r = reference("nosbomtest");
    let with = build(wf.path(), &r).await;
    let without = build_with(wf.path(), &r, 0, BuildOptions { sbom: false }).await;
    assert!(without.sbom.is_none());
    assert!(!layer_files(&without, 1).contains_key("sbom.spdx.json"));
    assert!(layer_files(&with, 1).contains_key("sbom.spdx.json"));
    assert_ne!(with.digest(), without.digest());
}

/// GETs `path` from a plain-HTTP registry with `accept`: status and body.
async fn get(addr: &str, path: &str, accept: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("http://{addr}{path}"))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

/// The artifact manifest `digest` refers to `image` and carries its SBOM, which the registry
/// serves byte for byte.
async fn check_artifact(addr: &str, repository: &str, digest: &str, image: &Image) {
    let (status, body) = get(
        addr,
        &format!("/v2/{repository}/manifests/{digest}"),
        media::MANIFEST,
    )
    .await;
    assert_eq!(status, 200);
    let artifact: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(artifact["artifactType"], "application/spdx+json");
    assert_eq!(artifact["subject"]["digest"], image.digest());
    assert_eq!(
        artifact["config"]["mediaType"],
        sbom::EMPTY_CONFIG_MEDIA_TYPE
    );
    let layer = artifact["layers"][0]["digest"].as_str().unwrap();
    let (status, blob) = get(addr, &format!("/v2/{repository}/blobs/{layer}"), "*/*").await;
    assert_eq!(status, 200);
    assert_eq!(blob, *image.sbom.as_ref().unwrap().data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_registry_gets_the_sbom_through_the_tag_schema_fallback() {
    let registry = Registry::start();
    let wf = workflow_with_packages("fallbacktest");
    let r = Reference::qualified("fallbacktest:1-2", Some(&registry.addr)).unwrap();
    let image = build(wf.path(), &r).await;
    let publisher = RegistryPublisher::new().pushed_repositories(None);
    let published = publisher.publish(&image, &r).await.unwrap();
    let referrer = published.push_report().unwrap().sbom.clone().unwrap();
    let tag = image.digest().replace(':', "-");
    assert_eq!(
        referrer.listed_by,
        ReferrersListing::TagSchema { tag: tag.clone() }
    );
    check_artifact(&registry.addr, "fallbacktest", &referrer.digest, &image).await;

    // Pushed again: the index still lists it once.
    let again = publisher.publish(&image, &r).await.unwrap();
    assert_eq!(
        again.push_report().unwrap().sbom.as_ref().unwrap().digest,
        referrer.digest
    );
    let (status, body) = get(
        &registry.addr,
        &format!("/v2/fallbacktest/manifests/{tag}"),
        media::INDEX,
    )
    .await;
    assert_eq!(status, 200);
    let index: Value = serde_json::from_slice(&body).unwrap();
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{index}");
    assert_eq!(listed[0]["digest"], referrer.digest.as_str());
    assert_eq!(listed[0]["artifactType"], "application/spdx+json");
}

/// A registry with the OCI 1.1 referrers API, just enough of it for a push: blobs, manifests by
/// tag and digest, `OCI-Subject` on a manifest with a `subject`, and `GET /referrers/<digest>`.
mod fake_registry {
    use axum::Json;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
    use axum::response::{IntoResponse, Response};
    use pipedreamer_image::blob::{media, sha256_digest};
    use serde_json::{Value, json};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    pub(crate) struct Store {
        blobs: HashMap<String, Vec<u8>>,
        /// By tag and by digest: (content type, bytes).
        manifests: HashMap<String, (String, Vec<u8>)>,
        /// Subject digest → descriptors of the manifests that refer to it.
        referrers: HashMap<String, Vec<Value>>,
        /// Every manifest PUT, by the reference it was PUT under.
        pub(crate) manifest_puts: Vec<String>,
    }

    pub(crate) type Shared = Arc<Mutex<Store>>;

    /// Serves on a free loopback port until the test ends.
    pub(crate) async fn start() -> (String, Shared) {
        let store = Shared::default();
        let app = axum::Router::new()
            .fallback(handle)
            // The engine layer is tens of MiB.
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, store)
    }

    async fn handle(
        State(store): State<Shared>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let path = uri.path().strip_prefix("/v2/").unwrap_or_default();
        let mut store = store.lock().unwrap();
        if path.is_empty() {
            return Json(json!({})).into_response();
        }
        if let Some((repo, _)) = path.split_once("/blobs/uploads/") {
            if method == Method::POST {
                let location = format!("/v2/{repo}/blobs/uploads/upload");
                return (StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response();
            }
            let digest = uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("digest=")))
                .unwrap_or_default()
                .replace("%3A", ":");
            assert_eq!(sha256_digest(&body), digest, "the blob's digest");
            store.blobs.insert(digest, body.to_vec());
            return StatusCode::CREATED.into_response();
        }
        if let Some((_, digest)) = path.split_once("/blobs/") {
            return match (store.blobs.get(digest), method) {
                (Some(_), Method::HEAD) => StatusCode::OK.into_response(),
                (Some(data), _) => data.clone().into_response(),
                (None, _) => StatusCode::NOT_FOUND.into_response(),
            };
        }
        if let Some((_, digest)) = path.split_once("/referrers/") {
            let manifests = store.referrers.get(digest).cloned().unwrap_or_default();
            let index =
                json!({ "schemaVersion": 2, "mediaType": media::INDEX, "manifests": manifests });
            return ([(header::CONTENT_TYPE, media::INDEX)], index.to_string()).into_response();
        }
        let Some((_, reference)) = path.split_once("/manifests/") else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if method == Method::PUT {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let digest = sha256_digest(&body);
            let manifest: Value = serde_json::from_slice(&body).unwrap();
            store.manifest_puts.push(reference.to_owned());
            for key in [reference.to_owned(), digest.clone()] {
                store
                    .manifests
                    .insert(key, (content_type.clone(), body.to_vec()));
            }
            let mut response = (
                StatusCode::CREATED,
                [("docker-content-digest", digest.clone())],
            )
                .into_response();
            if let Some(subject) = manifest["subject"]["digest"].as_str() {
                let descriptor = json!({
                    "mediaType": content_type, "digest": digest, "size": body.len(),
                    "artifactType": manifest["artifactType"],
                });
                store
                    .referrers
                    .entry(subject.to_owned())
                    .or_default()
                    .push(descriptor);
                response
                    .headers_mut()
                    .insert("oci-subject", subject.parse().unwrap());
            }
            return response;
        }
        match store.manifests.get(reference) {
            Some((content_type, data)) => {
                ([(header::CONTENT_TYPE, content_type.clone())], data.clone()).into_response()
            }
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_with_the_referrers_api_lists_the_sbom_itself() {
    let (addr, store) = fake_registry::start().await;
    let wf = workflow("apitest");
    let r = Reference::qualified("apitest:1-2", Some(&addr)).unwrap();
    let image = build(wf.path(), &r).await;
    let published = RegistryPublisher::new()
        .pushed_repositories(None)
        .publish(&image, &r)
        .await
        .unwrap();
    let referrer = published.push_report().unwrap().sbom.clone().unwrap();
    assert_eq!(referrer.listed_by, ReferrersListing::Api);
    check_artifact(&addr, "apitest", &referrer.digest, &image).await;
    // No fallback tag was written: the image's tag and the artifact by digest, nothing else.
    assert_eq!(
        store.lock().unwrap().manifest_puts,
        ["1-2".to_owned(), referrer.digest.clone()]
    );
    let (status, body) = get(
        &addr,
        &format!("/v2/apitest/referrers/{}", image.digest()),
        media::INDEX,
    )
    .await;
    assert_eq!(status, 200);
    let index: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(index["manifests"][0]["digest"], referrer.digest.as_str());
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/spdx+json"
    );
}
