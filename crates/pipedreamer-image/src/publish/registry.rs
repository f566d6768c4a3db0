//! Push over the OCI distribution API, no daemon: blobs the registry already has are skipped,
//! transient failures retried with backoff, credentials read from Docker's `config.json`
//! (`DOCKER_CONFIG` respected), bearer-token challenges answered. Plain HTTP only for loopback
//! registries or with `insecure`.

use super::{Destination, PublishFuture, Published, Publisher};
use crate::Error;
use crate::blob::Blob;
use crate::blob::media;
use crate::builder::Image;
use crate::cache::PushedRepositories;
use crate::reference::Reference;
use base64::Engine as _;
use reqwest::{Method, StatusCode, header};
use std::path::PathBuf;
use std::time::Duration;

const ATTEMPTS: u32 = 4;

/// What happened to each blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobEvent {
    /// The registry had it.
    Skipped {
        /// Digest.
        digest: String,
    },
    /// Mounted from another repository of the same registry (no upload).
    Mounted {
        /// Digest.
        digest: String,
        /// The repository it came from.
        from: String,
    },
    /// Uploaded.
    Uploaded {
        /// Digest.
        digest: String,
        /// Bytes sent.
        size: u64,
    },
}

/// The outcome of a push.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// Per blob, in push order (layers, then config).
    pub blobs: Vec<BlobEvent>,
    /// The manifest digest the registry confirmed.
    pub digest: String,
    /// The SBOM attached to the image, when it has one.
    pub sbom: Option<SbomReferrer>,
}

/// The SBOM pushed as an OCI artifact referring to the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomReferrer {
    /// The artifact manifest's digest.
    pub digest: String,
    /// How clients find it from the image.
    pub listed_by: ReferrersListing,
}

/// How a registry lists an image's referrers (OCI distribution spec 1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferrersListing {
    /// The registry's referrers API (`GET /v2/<name>/referrers/<digest>`): it answered the
    /// artifact's push with `OCI-Subject`.
    Api,
    /// The tag schema fallback, for registries without the API: an image index under the tag
    /// `sha256-<hex of the image digest>` lists the artifact.
    TagSchema {
        /// The index's tag.
        tag: String,
    },
}

impl PushReport {
    /// How many blobs were uploaded.
    pub fn uploaded(&self) -> usize {
        self.blobs
            .iter()
            .filter(|b| matches!(b, BlobEvent::Uploaded { .. }))
            .count()
    }
}

/// Progress callback, called once per blob.
pub type BlobCallback = Box<dyn Fn(&BlobEvent) + Send + Sync>;

/// Publishes by pushing to the reference's registry. Mount sources come from, and successful
/// pushes go to, the pushed-repositories cache ([`PushedRepositories::default_location`] unless
/// told otherwise).
pub struct RegistryPublisher {
    insecure: bool,
    on_blob: Option<BlobCallback>,
    pushed: Option<PushedRepositories>,
}

impl std::fmt::Debug for RegistryPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryPublisher")
            .field("insecure", &self.insecure)
            .field("pushed", &self.pushed)
            .finish_non_exhaustive()
    }
}

impl Default for RegistryPublisher {
    fn default() -> Self {
        Self::new()
    }
}

impl RegistryPublisher {
    /// HTTPS (plain HTTP for loopback registries), the user's pushed-repositories cache, no
    /// progress callback.
    pub fn new() -> Self {
        Self {
            insecure: false,
            on_blob: None,
            pushed: PushedRepositories::default_location(),
        }
    }

    /// Allow plain HTTP to a registry that is not on loopback.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Called once per blob as it is skipped, mounted or uploaded.
    pub fn on_blob(mut self, callback: impl Fn(&BlobEvent) + Send + Sync + 'static) -> Self {
        self.on_blob = Some(Box::new(callback));
        self
    }

    /// Where pushes are remembered for cross-repository mounts; `None` to neither read nor write.
    pub fn pushed_repositories(mut self, cache: Option<PushedRepositories>) -> Self {
        self.pushed = cache;
        self
    }
}

impl Publisher for RegistryPublisher {
    fn publish<'a>(&'a self, image: &'a Image, reference: &'a Reference) -> PublishFuture<'a> {
        Box::pin(async move {
            let mount_from = self
                .pushed
                .as_ref()
                .map(|p| p.mount_sources(reference))
                .unwrap_or_default();
            let on_blob = |e: &BlobEvent| {
                if let Some(cb) = &self.on_blob {
                    cb(e)
                }
            };
            let report = push_with(image, reference, self.insecure, &mount_from, &on_blob).await?;
            if let Some(pushed) = &self.pushed
                && let Err(e) = pushed.remember(reference)
            {
                // Only an optimization: the next push uploads shared layers again.
                tracing::debug!("cannot remember the push: {e}");
            }
            Ok(Published {
                reference: reference.clone(),
                digest: report.digest.clone(),
                destination: Destination::Registry(report),
            })
        })
    }
}

/// Push settings.
#[derive(Default)]
pub struct PushOptions {
    /// Allow plain HTTP to a non-loopback registry.
    pub insecure: bool,
    /// Called for each blob as it is handled (progress on stderr).
    pub on_blob: Option<BlobCallback>,
    /// Other repositories on the same registry that may hold our blobs (cross-repo mounts).
    pub mount_from: Vec<String>,
}

/// `user:password` for a registry from Docker's config.
fn docker_credentials(registry: &str) -> Option<(String, String)> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).ok()?).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.iter().find(|(k, _)| {
        let k = k
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        k == registry || k.split('/').next() == Some(registry)
    })?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(entry.1.get("auth")?.as_str()?)
        .ok()?;
    let (u, p) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_owned(), p.to_owned()))?;
    Some((u, p))
}

struct Session {
    client: reqwest::Client,
    base: String,
    registry: String,
    repository: String,
    basic: Option<(String, String)>,
    token: Option<String>,
    /// The `Accept` header for the next requests (manifest reads).
    accept: Option<String>,
}

impl Session {
    async fn send(
        &mut self,
        method: Method,
        url: &str,
        body: Option<(&'static str, &Blob)>,
    ) -> Result<reqwest::Response, Error> {
        let mut challenged = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.client.request(method.clone(), url);
            if let Some(accept) = &self.accept {
                req = req.header(header::ACCEPT, accept);
            }
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            } else if let Some((u, p)) = &self.basic
                && challenged
            {
                req = req.basic_auth(u, Some(p));
            }
            if let Some((content_type, blob)) = body {
                req = req
                    .header(header::CONTENT_TYPE, content_type)
                    .body(blob.data.as_ref().clone());
            }
            let result = req.send().await;
            let retryable = match &result {
                Err(e) => e.is_connect() || e.is_timeout() || e.is_request(),
                Ok(r) => {
                    r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS
                }
            };
            if retryable && attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt - 1))).await;
                continue;
            }
            let resp = result.map_err(|e| {
                Error::Registry(format!(
                    "cannot reach registry `{}`: {}",
                    self.registry,
                    root_cause(&e)
                ))
            })?;
            if resp.status() == StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let challenge = resp
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                if challenge.to_ascii_lowercase().starts_with("bearer") {
                    self.token = Some(self.fetch_token(&challenge).await?);
                }
                attempt = 0;
                continue;
            }
            if matches!(
                resp.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) {
                let how = if self.basic.is_some() {
                    "the stored credentials were refused"
                } else {
                    "no credentials found"
                };
                return Err(Error::Auth(format!(
                    "registry `{}` refused the push ({}): {how}; run `docker login {}` (or set DOCKER_CONFIG)",
                    self.registry,
                    resp.status(),
                    self.registry
                )));
            }
            return Ok(resp);
        }
    }

    async fn fetch_token(&self, challenge: &str) -> Result<String, Error> {
        let param = |name: &str| {
            challenge.split(',').find_map(|part| {
                let (k, v) = part
                    .trim()
                    .trim_start_matches("Bearer ")
                    .trim_start_matches("bearer ")
                    .split_once('=')?;
                (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
            })
        };
        let realm = param("realm").ok_or_else(|| {
            Error::Auth(format!(
                "registry `{}` sent an unreadable auth challenge",
                self.registry
            ))
        })?;
        let scope = format!("repository:{}:pull,push", self.repository);
        let mut req = self.client.get(&realm).query(&[("scope", scope.as_str())]);
        if let Some(service) = param("service") {
            req = req.query(&[("service", service.as_str())]);
        }
        if let Some((u, p)) = &self.basic {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.map_err(|e| {
            Error::Auth(format!(
                "token request to `{realm}` failed: {}",
                root_cause(&e)
            ))
        })?;
        if !resp.status().is_success() {
            return Err(Error::Auth(format!(
                "registry `{}` refused a token ({}); run `docker login {}`",
                self.registry,
                resp.status(),
                self.registry
            )));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| Error::Auth(format!("unreadable token response: {e}")))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::Auth("token response without a token".into()))
    }

    async fn push_blob(&mut self, blob: &Blob, mount_from: &[String]) -> Result<BlobEvent, Error> {
        let head = format!("{}/v2/{}/blobs/{}", self.base, self.repository, blob.digest);
        if self.send(Method::HEAD, &head, None).await?.status() == StatusCode::OK {
            return Ok(BlobEvent::Skipped {
                digest: blob.digest.clone(),
            });
        }
        let mut started = None;
        let own = self.repository.clone();
        for from in mount_from.iter().filter(|r| **r != own) {
            let url = format!(
                "{}/v2/{}/blobs/uploads/?mount={}&from={from}",
                self.base, self.repository, blob.digest
            );
            let resp = self.send(Method::POST, &url, None).await?;
            if resp.status() == StatusCode::CREATED {
                return Ok(BlobEvent::Mounted {
                    digest: blob.digest.clone(),
                    from: from.clone(),
                });
            }
            if resp.status() == StatusCode::ACCEPTED {
                // The registry did not have it there and opened an ordinary upload instead.
                started = Some(resp);
                break;
            }
        }
        let resp = match started {
            Some(r) => r,
            None => {
                let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.repository);
                self.send(Method::POST, &start, None).await?
            }
        };
        if resp.status() != StatusCode::ACCEPTED {
            return Err(Error::Registry(format!(
                "starting an upload failed: {} {}",
                resp.status(),
                text(resp).await
            )));
        }
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Registry("upload started without a Location".into()))?;
        let location = if location.starts_with("http") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", blob.digest);
        let resp = self
            .send(Method::PUT, &url, Some(("application/octet-stream", blob)))
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(Error::Registry(format!(
                "uploading {} failed: {} {}",
                blob.digest,
                resp.status(),
                text(resp).await
            )));
        }
        Ok(BlobEvent::Uploaded {
            digest: blob.digest.clone(),
            size: blob.size(),
        })
    }
}

async fn text(resp: reqwest::Response) -> String {
    resp.text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    msg
}

/// Pushes `image` to `reference` (which must name a registry).
pub async fn push(
    image: &Image,
    reference: &Reference,
    options: &PushOptions,
) -> Result<PushReport, Error> {
    let on_blob = |e: &BlobEvent| {
        if let Some(cb) = &options.on_blob {
            cb(e)
        }
    };
    push_with(
        image,
        reference,
        options.insecure,
        &options.mount_from,
        &on_blob,
    )
    .await
}

async fn push_with(
    image: &Image,
    reference: &Reference,
    insecure: bool,
    mount_from: &[String],
    on_blob: &(dyn Fn(&BlobEvent) + Send + Sync),
) -> Result<PushReport, Error> {
    let registry = reference.registry.clone().ok_or_else(|| {
        Error::BadReference(format!(
            "`{reference}` names no registry; pass `-r REGISTRY` (e.g. `-r ghcr.io/you`)"
        ))
    })?;
    let plain = reference.is_loopback() || insecure;
    let scheme = if plain { "http" } else { "https" };
    let client = reqwest::Client::builder()
        .hickory_dns(true)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .user_agent(concat!("pipedreamer/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Registry(e.to_string()))?;
    let mut session = Session {
        client,
        base: format!("{scheme}://{registry}"),
        basic: docker_credentials(&registry),
        registry: registry.clone(),
        repository: reference.repository.clone(),
        token: None,
        accept: None,
    };
    let ping = session
        .send(Method::GET, &format!("{}/v2/", session.base), None)
        .await?;
    if !ping.status().is_success() {
        return Err(Error::Registry(format!(
            "`{registry}` does not answer like an OCI registry ({} on /v2/)",
            ping.status()
        )));
    }
    let mut report = PushReport::default();
    for blob in image.layers.iter().map(|l| &l.blob).chain([&image.config]) {
        let event = session.push_blob(blob, mount_from).await?;
        on_blob(&event);
        report.blobs.push(event);
    }
    let url = format!(
        "{}/v2/{}/manifests/{}",
        session.base, reference.repository, reference.tag
    );
    let resp = session
        .send(
            Method::PUT,
            &url,
            Some((crate::blob::media::MANIFEST, &image.manifest)),
        )
        .await?;
    if resp.status() != StatusCode::CREATED {
        return Err(Error::Registry(format!(
            "registry refused the manifest: {} {}",
            resp.status(),
            text(resp).await
        )));
    }
    report.digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(image.digest())
        .to_owned();
    if let Some(sbom) = &image.sbom {
        report.sbom = Some(session.push_sbom(sbom, image, mount_from).await?);
    }
    Ok(report)
}

impl Session {
    /// Uploads `manifest` under `reference` (a tag or its digest) and returns the response.
    async fn put_manifest(
        &mut self,
        reference: &str,
        content_type: &'static str,
        manifest: &Blob,
    ) -> Result<reqwest::Response, Error> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let resp = self
            .send(Method::PUT, &url, Some((content_type, manifest)))
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(Error::Registry(format!(
                "registry `{}` refused the manifest {reference}: {} {}\nhint: pass `--no-sbom` if this registry cannot store OCI artifacts",
                self.registry,
                resp.status(),
                text(resp).await
            )));
        }
        Ok(resp)
    }

    /// Pushes the SBOM as an OCI 1.1 artifact whose `subject` is the image. A registry with the
    /// referrers API says so with `OCI-Subject` on the artifact's push and lists it itself;
    /// otherwise the tag schema's index (`sha256-<hex>`) is read, extended and written back.
    async fn push_sbom(
        &mut self,
        sbom: &Blob,
        image: &Image,
        mount_from: &[String],
    ) -> Result<SbomReferrer, Error> {
        for blob in [&crate::sbom::empty_config(), sbom] {
            self.push_blob(blob, mount_from).await?;
        }
        let artifact = crate::sbom::artifact_manifest(sbom, &image.manifest);
        let resp = self
            .put_manifest(&artifact.digest, media::MANIFEST, &artifact)
            .await?;
        if resp.headers().contains_key("oci-subject") {
            return Ok(SbomReferrer {
                digest: artifact.digest,
                listed_by: ReferrersListing::Api,
            });
        }
        let tag = image.digest().replace(':', "-");
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.repository);
        let mut manifests = Vec::new();
        let existing = self.get(&url, media::INDEX).await?;
        match existing.status() {
            StatusCode::OK => {
                let index: serde_json::Value = existing.json().await.map_err(|e| {
                    Error::Registry(format!(
                        "the referrers index {tag} on `{}` is not JSON: {e}",
                        self.registry
                    ))
                })?;
                manifests = index["manifests"].as_array().cloned().unwrap_or_default();
            }
            StatusCode::NOT_FOUND => {}
            status => {
                return Err(Error::Registry(format!(
                    "reading the referrers index {tag} from `{}` failed: {status} {}",
                    self.registry,
                    text(existing).await
                )));
            }
        }
        // Pushing the same build again must not list the artifact twice.
        manifests.retain(|m| m["digest"] != artifact.digest.as_str());
        let mut descriptor = artifact.descriptor();
        descriptor["artifactType"] = crate::sbom::MEDIA_TYPE.into();
        manifests.push(descriptor);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::INDEX,
            "manifests": manifests,
        });
        let index = Blob::new(media::INDEX, serde_json::to_vec(&index).unwrap_or_default());
        self.put_manifest(&tag, media::INDEX, &index).await?;
        Ok(SbomReferrer {
            digest: artifact.digest,
            listed_by: ReferrersListing::TagSchema { tag },
        })
    }

    /// A GET with an `Accept` header, through the same auth and retries as every request.
    async fn get(&mut self, url: &str, accept: &str) -> Result<reqwest::Response, Error> {
        self.accept = Some(accept.to_owned());
        let resp = self.send(Method::GET, url, None).await;
        self.accept = None;
        resp
    }
}
