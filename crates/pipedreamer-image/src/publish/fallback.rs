//! What `pipedreamer build` does without a target: load into a local docker or podman if one
//! answers, so `docker run <reference>` works next; else write an OCI layout and say so in the
//! result ([`Destination::LayoutFallback`]), so nothing built is thrown away.

use super::{
    DaemonPublisher, Destination, OciLayoutPublisher, PublishFuture, Published, Publisher, daemon,
};
use crate::Reference;
use crate::builder::Image;
use std::path::PathBuf;

/// Loads into a local engine, else writes an OCI layout.
#[derive(Debug, Clone)]
pub struct DefaultPublisher {
    fallback_layout: PathBuf,
}

impl DefaultPublisher {
    /// Falls back to the layout at `fallback_layout` (the CLI uses `<workflow>/.pipedreamer/oci`).
    pub fn new(fallback_layout: impl Into<PathBuf>) -> Self {
        Self {
            fallback_layout: fallback_layout.into(),
        }
    }
}

impl Publisher for DefaultPublisher {
    fn publish<'a>(&'a self, image: &'a Image, reference: &'a Reference) -> PublishFuture<'a> {
        Box::pin(async move {
            // `detect` waits on `docker info`/`podman info`; keep that off the runtime's threads.
            let engine = tokio::task::spawn_blocking(daemon::detect)
                .await
                .map_err(|e| crate::Error::Task(e.to_string()))?;
            if let Some(engine) = engine {
                return DaemonPublisher::new(engine).publish(image, reference).await;
            }
            let layout = OciLayoutPublisher::new(&self.fallback_layout)
                .publish(image, reference)
                .await?;
            Ok(Published {
                destination: Destination::LayoutFallback {
                    dir: self.fallback_layout.clone(),
                    tag: reference.tag.clone(),
                },
                ..layout
            })
        })
    }
}
