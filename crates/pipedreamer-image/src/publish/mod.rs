//! Publishers: where a built [`Image`] goes, behind one [`Publisher`] trait (ko's
//! `publish.Interface`). One file each: [`registry`] (OCI distribution push), [`oci_layout`]
//! (a layout directory), [`archive`] (a tar `docker load`/`podman load` accept), [`daemon`] (loaded
//! into a local docker or podman); [`MultiPublisher`] runs several in order and
//! [`DefaultPublisher`] is what `pipedreamer build` does without a target: load into a local
//! engine if one answers, else write an OCI layout and say so in the result.
//!
//! Nothing here prints. Progress reaches the caller through callbacks
//! ([`RegistryPublisher::on_blob`], [`MultiPublisher::publish_each`]) and the returned
//! [`Published`] values.
//!
//! # Build, then publish
//!
//! What a server does for one workflow directory, in full:
//!
//! ```no_run
//! use pipedreamer_image::publish::{DaemonPublisher, Publisher, RegistryPublisher};
//! use pipedreamer_image::{BuildRequest, Reference};
//! use pipedreamer_spec::source::DirSource;
//! # async fn example(dir: &std::path::Path, engine: std::path::PathBuf) -> Result<(), Box<dyn std::error::Error>> {
//! let resolved = pipedreamer_spec::resolve(&DirSource::new(dir)).map_err(|_| "invalid workflow")?;
//! // `<name>:<version>` in the registry; `None` for a local-only image.
//! let reference = Reference::for_workflow(&resolved.workflow, None, Some("127.0.0.1:5000"))?;
//! let request = BuildRequest::new(dir, resolved, engine, reference.clone())?;
//! let image = pipedreamer_image::build_async(request).await?;
//!
//! // Kubernetes target: push to the registry.
//! let published = RegistryPublisher::new().publish(&image, &reference).await?;
//! // Local target: `podman load` (or `docker load`), whichever answers.
//! let published = DaemonPublisher::detect()?.publish(&image, &reference).await?;
//!
//! println!("{}@{}", published.reference, published.digest);
//! # Ok(()) }
//! ```

pub mod archive;
pub mod daemon;
mod fallback;
mod multi;
pub mod oci_layout;
pub mod registry;

pub use archive::ArchivePublisher;
pub use daemon::{DaemonPublisher, LocalEngine};
pub use fallback::DefaultPublisher;
pub use multi::MultiPublisher;
pub use oci_layout::OciLayoutPublisher;
pub use registry::{BlobEvent, PushReport, ReferrersListing, RegistryPublisher, SbomReferrer};

use crate::builder::Image;
use crate::{Error, Reference};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// The future a [`Publisher`] returns (boxed, so publishers can sit behind `dyn Publisher`).
pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Result<Published, Error>> + Send + 'a>>;

/// Puts a built image somewhere under a reference. Implement it as
/// `fn publish<'a>(&'a self, image: &'a Image, reference: &'a Reference) -> PublishFuture<'a> {
/// Box::pin(async move { ... }) }`.
pub trait Publisher: Send + Sync {
    /// Publishes `image` as `reference` and says where it went.
    fn publish<'a>(&'a self, image: &'a Image, reference: &'a Reference) -> PublishFuture<'a>;
}

/// Where an image went.
#[derive(Debug, Clone)]
pub struct Published {
    /// The reference it is known by there.
    pub reference: Reference,
    /// The manifest digest (`sha256:…`); for a registry, the one it confirmed.
    pub digest: String,
    /// The kind of place, with what the caller may want to report.
    pub destination: Destination,
}

impl Published {
    /// The push report, when the image went to a registry.
    pub fn push_report(&self) -> Option<&PushReport> {
        match &self.destination {
            Destination::Registry(report) => Some(report),
            _ => None,
        }
    }

    /// `reference@digest`: the exact image, whatever the tag points at later.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.reference, self.digest)
    }
}

/// The kind of place an image was published to.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Pushed to a registry; what happened to each blob.
    Registry(PushReport),
    /// Written into an OCI image layout directory under a tag.
    OciLayout {
        /// The layout directory.
        dir: PathBuf,
        /// The tag in its index.
        tag: String,
    },
    /// Written as an archive that `docker load` and `podman load` accept.
    Archive {
        /// The tar file.
        path: PathBuf,
    },
    /// Loaded into a local container engine.
    Daemon {
        /// Which one.
        engine: LocalEngine,
    },
    /// No local engine answered, so the [`DefaultPublisher`] wrote an OCI layout instead.
    LayoutFallback {
        /// The layout directory.
        dir: PathBuf,
        /// The tag in its index.
        tag: String,
    },
}

/// Runs blocking file work on the blocking pool. An [`Image`] clones cheaply (its blobs are
/// shared), so the task owns its copy.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}
