//! The image's SBOM: an SPDX 2.3 JSON document of what the image holds. The engine with the Rust
//! crates linked into it (the list its `build.rs` embedded, see [`rootfs::DEPS_SECTION`]: the
//! engine's own dependency graph, whichever CLI builds the image), the CA bundle, and the
//! workflow with the npm packages it ships (name, version and license from each package's
//! `package.json`).
//!
//! It is reproducible like the image: `created` is the build's epoch (`SOURCE_DATE_EPOCH`),
//! `documentNamespace` ends with a digest of the rest of the document (content-derived, so two
//! builds of the same inputs write the same bytes and no random UUID enters the image), and the
//! JSON has a fixed key order. It ships in the image at [`PATH_IN_IMAGE`] and a registry push
//! attaches it as an OCI artifact whose `subject` is the image ([`artifact_manifest`]).

use crate::blob::{Blob, media, sha256_digest};
use crate::rootfs;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The SBOM's media type (its layer in the artifact, and the artifact's `artifactType`).
pub const MEDIA_TYPE: &str = "application/spdx+json";
/// Where the SBOM lives in the image (`/sbom.spdx.json`).
pub const PATH_IN_IMAGE: &str = "sbom.spdx.json";
/// OCI 1.1's empty config for artifacts.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// A Rust crate linked into the engine, as the engine's `build.rs` recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Crate {
    /// Crate name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The `license` field of its manifest (may be empty).
    pub license: String,
    /// `crates.io`, `local` (a path dependency) or a git URL.
    pub source: String,
}

#[derive(Deserialize)]
struct EmbeddedList {
    format: u32,
    packages: Vec<Crate>,
}

/// The crates embedded in an engine binary, the engine itself first; `None` when the binary has
/// no list (built without its `build.rs`, or by a newer format we do not read).
pub fn engine_crates(engine: &[u8]) -> Option<Vec<Crate>> {
    let section = rootfs::elf_section(engine, rootfs::DEPS_SECTION)?;
    let list: EmbeddedList = serde_json::from_slice(section).ok()?;
    (list.format == 1 && !list.packages.is_empty()).then_some(list.packages)
}

/// An npm package the workflow ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmPackage {
    /// `name` from its `package.json` (e.g. `@scope/pkg`).
    pub name: String,
    /// `version`, when it has one.
    pub version: Option<String>,
    /// Its license as found (`license`, or the old `licenses` array joined with `OR`).
    pub license: Option<String>,
    /// Its directory relative to the workflow (`node_modules/a/node_modules/b`).
    pub dir: String,
}

/// Reads `package.json` files of the workflow's content: `rel` is the file's path relative to
/// the workflow directory. Only a package's own root `package.json` counts (not the
/// `dist/esm/package.json` some packages carry to set `type`), and only one with a name.
pub fn npm_package(rel: &str, package_json: &[u8]) -> Option<NpmPackage> {
    let dir = rel.strip_suffix("/package.json")?;
    let segments: Vec<&str> = dir.split('/').collect();
    let last_nm = segments.iter().rposition(|s| *s == "node_modules")?;
    let name_parts = &segments[last_nm + 1..];
    let is_root = match name_parts {
        [scope, _] => scope.starts_with('@'),
        [name] => !name.starts_with('@'),
        _ => false,
    };
    if !is_root {
        return None;
    }
    let doc: Value = serde_json::from_slice(package_json).ok()?;
    let name = doc.get("name")?.as_str()?.to_owned();
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("type").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let license = doc.get("license").and_then(text).or_else(|| {
        let list: Vec<String> = doc
            .get("licenses")?
            .as_array()?
            .iter()
            .filter_map(text)
            .collect();
        (!list.is_empty()).then(|| list.join(" OR "))
    });
    Some(NpmPackage {
        name,
        version: doc
            .get("version")
            .and_then(Value::as_str)
            .map(str::to_owned),
        license,
        dir: dir.to_owned(),
    })
}

/// What the SBOM describes.
#[derive(Debug)]
pub struct Contents<'a> {
    /// Workflow name (the document and image package name).
    pub workflow: &'a str,
    /// Workflow version.
    pub version: &'a str,
    /// The engine binary.
    pub engine: &'a [u8],
    /// Its `sha256:` digest (the builder has it already; hashing tens of MiB again would be
    /// most of the SBOM's cost).
    pub engine_digest: &'a str,
    /// The CA bundle as shipped.
    pub ca_bundle: &'a [u8],
    /// The npm packages shipped, in any order.
    pub npm: Vec<NpmPackage>,
    /// The build's epoch (`created`).
    pub epoch: u64,
}

/// An SPDX license expression, or `NOASSERTION` for an empty or malformed one. Cargo's old
/// `MIT/Apache-2.0` becomes `MIT OR Apache-2.0`.
fn license_expression(license: Option<&str>) -> String {
    let Some(license) = license.map(str::trim).filter(|l| !l.is_empty()) else {
        return "NOASSERTION".into();
    };
    let license = license.replace('/', " OR ");
    // Operands and operators must alternate, parentheses balance: `see LICENSE file` is three
    // operands in a row, not an expression.
    let (mut expect_operand, mut depth, mut valid) = (true, 0usize, true);
    for token in license
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
    {
        valid &= match token {
            "(" if expect_operand => {
                depth += 1;
                true
            }
            ")" if !expect_operand && depth > 0 => {
                depth -= 1;
                true
            }
            "AND" | "OR" | "WITH" if !expect_operand => {
                expect_operand = true;
                true
            }
            id if expect_operand => {
                expect_operand = false;
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
            }
            _ => false,
        };
    }
    let valid = valid && !expect_operand && depth == 0;
    if valid { license } else { "NOASSERTION".into() }
}

/// `SPDXRef-<kind>-<n>-<name>`: only letters, digits, `.` and `-` are allowed; the index keeps
/// ids unique when two names sanitize alike.
fn spdx_id(kind: &str, n: usize, name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{kind}-{n}-{name}")
}

/// The document, typed: serde writes the fields in this order, and typed fields cost a small
/// part of what building `serde_json::Value`s for hundreds of packages does.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: &'a str,
    document_namespace: &'a str,
    creation_info: CreationInfo,
    packages: Vec<Package<'a>>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: [&'static str; 1],
}

/// `primaryPackagePurpose`.
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Purpose {
    Container,
    Application,
    File,
    Source,
    Library,
}

/// A package: what SPDX requires (`downloadLocation` `NOASSERTION` unless known;
/// `filesAnalyzed: false`, as we list no files), the declared license as an expression, and
/// what scanners use (checksums, purls). The optional `licenseConcluded` and `copyrightText` are
/// left out: they would say `NOASSERTION` hundreds of times.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package<'a> {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<&'a str>,
    download_location: String,
    files_analyzed: bool,
    license_declared: String,
    primary_package_purpose: Purpose,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksums: Option<[Checksum; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_refs: Option<[ExternalRef; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

impl<'a> Package<'a> {
    fn new(
        spdx_id: impl Into<String>,
        name: &'a str,
        version: Option<&'a str>,
        license: Option<&str>,
        purpose: Purpose,
    ) -> Self {
        Self {
            spdx_id: spdx_id.into(),
            name,
            version_info: version,
            download_location: "NOASSERTION".into(),
            files_analyzed: false,
            license_declared: license_expression(license),
            primary_package_purpose: purpose,
            checksums: None,
            supplier: None,
            external_refs: None,
            comment: None,
        }
    }

    fn sha256(mut self, hex: String) -> Self {
        self.checksums = Some([Checksum {
            algorithm: "SHA256",
            checksum_value: hex,
        }]);
        self
    }

    fn purl(mut self, kind: &str) -> Self {
        let name = self.name.replace('@', "%40");
        let reference_locator = match self.version_info {
            Some(v) => format!("pkg:{kind}/{name}@{v}"),
            None => format!("pkg:{kind}/{name}"),
        };
        self.external_refs = Some([ExternalRef {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator,
        }]);
        self
    }

    fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum RelationshipType {
    Describes,
    Contains,
    DependsOn,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: &'static str,
    relationship_type: RelationshipType,
    related_spdx_element: String,
}

fn relationship(from: &'static str, kind: RelationshipType, to: &str) -> Relationship {
    Relationship {
        spdx_element_id: from,
        relationship_type: kind,
        related_spdx_element: to.to_owned(),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    sha256_digest(data).trim_start_matches("sha256:").to_owned()
}

/// The SPDX 2.3 JSON document, as bytes.
pub fn document(c: &Contents<'_>) -> Vec<u8> {
    const IMAGE: &str = "SPDXRef-image";
    const ENGINE: &str = "SPDXRef-engine";
    const CA: &str = "SPDXRef-ca-bundle";
    const WORKFLOW: &str = "SPDXRef-workflow";
    let created = DateTime::<Utc>::from_timestamp(c.epoch as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let crates = engine_crates(c.engine);
    let (engine, linked) = match &crates {
        Some(list) => (Some(&list[0]), &list[1..]),
        None => (None, &[][..]),
    };
    let engine_comment = if engine.is_some() {
        "/app/engine/pipedreamer-engine, a static executable; the crates it links are its DEPENDS_ON relationships (recorded in the binary by its build)."
    } else {
        "/app/engine/pipedreamer-engine, a static executable built without its dependency list (section .pipedreamer.deps), so the crates it links are not listed."
    };
    let mut packages = vec![
        Package::new(IMAGE, c.workflow, Some(c.version), None, Purpose::Container)
            .comment("The OCI image pipedreamer build made of this workflow (FROM scratch)."),
        Package::new(
            ENGINE,
            "pipedreamer-engine",
            engine.map(|e| e.version.as_str()),
            engine.map(|e| e.license.as_str()),
            Purpose::Application,
        )
        .sha256(c.engine_digest.trim_start_matches("sha256:").to_owned())
        .comment(engine_comment),
        Package {
            supplier: Some(
                "Organization: Mozilla CA Certificate Program (via the webpki-root-certs crate)",
            ),
            ..Package::new(CA, "ca-certificates.crt", None, None, Purpose::File)
        }
        .sha256(sha256_hex(c.ca_bundle))
        .comment("/etc/ssl/certs/ca-certificates.crt: Mozilla's trusted TLS server roots as PEM."),
        Package::new(WORKFLOW, c.workflow, Some(c.version), None, Purpose::Source)
            .comment("/app: the workflow's files and the npm packages its import graph reaches."),
    ];
    let mut relationships = vec![relationship(
        "SPDXRef-DOCUMENT",
        RelationshipType::Describes,
        IMAGE,
    )];
    for part in [ENGINE, CA, WORKFLOW] {
        relationships.push(relationship(IMAGE, RelationshipType::Contains, part));
    }
    for (n, k) in linked.iter().enumerate() {
        let id = spdx_id("crate", n, &k.name);
        relationships.push(relationship(ENGINE, RelationshipType::DependsOn, &id));
        let package = Package::new(
            id,
            &k.name,
            Some(&k.version),
            Some(&k.license),
            Purpose::Library,
        );
        packages.push(match k.source.as_str() {
            "crates.io" => Package {
                download_location: format!(
                    "https://crates.io/api/v1/crates/{}/{}/download",
                    k.name, k.version
                ),
                ..package.purl("cargo")
            },
            "local" => package.comment("A path dependency: built from the engine's source tree."),
            git => Package {
                download_location: format!("git+{git}"),
                ..package
            },
        });
    }
    let mut npm: Vec<&NpmPackage> = c.npm.iter().collect();
    npm.sort_by(|a, b| a.dir.cmp(&b.dir));
    for (n, p) in npm.into_iter().enumerate() {
        let id = spdx_id("npm", n, &p.name);
        relationships.push(relationship(WORKFLOW, RelationshipType::DependsOn, &id));
        packages.push(
            Package::new(
                id,
                &p.name,
                p.version.as_deref(),
                p.license.as_deref(),
                Purpose::Library,
            )
            .purl("npm")
            .comment(format!("/app/{}", p.dir)),
        );
    }
    let name = format!("{}-{}", c.workflow, c.version);
    let doc = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: &name,
        document_namespace: "",
        creation_info: CreationInfo {
            created,
            creators: [concat!("Tool: pipedreamer-", env!("CARGO_PKG_VERSION"))],
        },
        packages,
        relationships,
    };
    // Content-derived: the digest of the document with an empty namespace. Same inputs, same
    // namespace; any change in what the image holds, a new one. Serialized once (compact:
    // hundreds of packages, read by tools, compressed into the layer on every build), then the
    // namespace is spliced in: the empty key occurs once, as string values escape their quotes.
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    let safe_name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let namespace = format!(
        "https://spdx.org/spdxdocs/pipedreamer/{safe_name}-{}",
        sha256_hex(&body)
    );
    const EMPTY: &[u8] = br#""documentNamespace":"""#;
    let at = body
        .windows(EMPTY.len())
        .position(|w| w == EMPTY)
        .unwrap_or(body.len());
    let mut out = Vec::with_capacity(body.len() + namespace.len() + 1);
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(format!("\"documentNamespace\":\"{namespace}\"").as_bytes());
    out.extend_from_slice(body.get(at + EMPTY.len()..).unwrap_or_default());
    out.push(b'\n');
    out
}

/// The empty config (`{}`) OCI 1.1 artifacts use.
pub fn empty_config() -> Blob {
    Blob::new(EMPTY_CONFIG_MEDIA_TYPE, b"{}".to_vec())
}

/// The artifact manifest that attaches `sbom` to the image whose manifest is `subject`:
/// `artifactType` `application/spdx+json`, the empty config, one layer, and `subject`.
pub fn artifact_manifest(sbom: &Blob, subject: &Blob) -> Blob {
    let mut layer = sbom.descriptor();
    layer["annotations"] = json!({ "org.opencontainers.image.title": PATH_IN_IMAGE });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": MEDIA_TYPE,
        "config": empty_config().descriptor(),
        "layers": [layer],
        "subject": subject.descriptor(),
    });
    Blob::new(
        media::MANIFEST,
        serde_json::to_vec(&manifest).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_package_roots_with_a_name_count() {
        let pj = br#"{"name":"@s/p","version":"1.0.0","license":"MIT"}"#;
        let p = npm_package("node_modules/@s/p/package.json", pj).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_deref()),
            ("@s/p", Some("1.0.0"))
        );
        assert!(npm_package("node_modules/a/node_modules/@s/p/package.json", pj).is_some());
        assert_eq!(
            npm_package("node_modules/z/dist/esm/package.json", pj),
            None
        );
        assert_eq!(npm_package("node_modules/@s/package.json", pj), None);
        assert_eq!(npm_package("package.json", pj), None);
        assert_eq!(
            npm_package("node_modules/z/package.json", br#"{"type":"module"}"#),
            None
        );
        let old = br#"{"name":"o","licenses":[{"type":"MIT"},{"type":"Apache-2.0"}]}"#;
        let o = npm_package("node_modules/o/package.json", old).unwrap();
        assert_eq!(o.license.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(o.version, None);
    }

    #[test]
    fn licenses_become_spdx_expressions() {
        assert_eq!(
            license_expression(Some("MIT/Apache-2.0")),
            "MIT OR Apache-2.0"
        );
        assert_eq!(
            license_expression(Some("(MIT OR Apache-2.0) AND Unicode-3.0")),
            "(MIT OR Apache-2.0) AND Unicode-3.0"
        );
        assert_eq!(license_expression(Some("see LICENSE file")), "NOASSERTION");
        assert_eq!(license_expression(Some("MIT OR")), "NOASSERTION");
        assert_eq!(license_expression(Some("(MIT")), "NOASSERTION");
        assert_eq!(
            license_expression(Some("SEE LICENSE IN LICENSE.md")),
            "NOASSERTION"
        );
        assert_eq!(license_expression(Some(" ")), "NOASSERTION");
        assert_eq!(license_expression(None), "NOASSERTION");
    }

    #[test]
    fn an_engine_without_its_list_is_one_package_with_its_checksum() {
        let engine = b"\x7fELF\x02\x01 built elsewhere".as_slice();
        assert_eq!(engine_crates(engine), None);
        let npm = npm_package(
            "node_modules/x/package.json",
            br#"{"name":"x","version":"1.0.0","license":"MIT"}"#,
        );
        let contents = Contents {
            workflow: "w",
            version: "1",
            engine,
            engine_digest: "sha256:00ff",
            ca_bundle: b"pem",
            npm: npm.into_iter().collect(),
            epoch: 0,
        };
        let doc: Value = serde_json::from_slice(&document(&contents)).unwrap();
        let names: Vec<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["w", "pipedreamer-engine", "ca-certificates.crt", "w", "x"]
        );
        let engine = &doc["packages"][1];
        assert_eq!(engine["checksums"][0]["checksumValue"], "00ff");
        assert!(engine.get("versionInfo").is_none());
        assert_eq!(doc["creationInfo"]["created"], "1970-01-01T00:00:00Z");
        // The same contents, the same bytes.
        assert_eq!(document(&contents), document(&contents));
    }

    #[test]
    fn ids_are_valid_spdx_ids() {
        assert_eq!(spdx_id("npm", 3, "@s/p_q"), "SPDXRef-npm-3--s-p-q");
    }
}
