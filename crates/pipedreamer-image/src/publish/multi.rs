//! Several publishers in order (ko's `MultiPublisher`): `build --oci-layout DIR --archive FILE
//! --push` writes, then writes, then pushes, and stops at the first failure.

use super::{PublishFuture, Published, Publisher};
use crate::builder::Image;
use crate::{Error, Reference};

/// Publishers run one after another.
#[derive(Default)]
pub struct MultiPublisher {
    publishers: Vec<Box<dyn Publisher>>,
}

impl std::fmt::Debug for MultiPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiPublisher")
            .field("publishers", &self.publishers.len())
            .finish()
    }
}

impl MultiPublisher {
    /// No publishers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a publisher after the ones already there.
    pub fn push(&mut self, publisher: impl Publisher + 'static) {
        self.publishers.push(Box::new(publisher));
    }

    /// Whether no publisher was added.
    pub fn is_empty(&self) -> bool {
        self.publishers.is_empty()
    }

    /// Publishes with each in order, calling `each` as soon as one is done (so progress reads in
    /// order), and returns every result. Stops at the first failure; what was published before it
    /// stays published.
    pub async fn publish_each(
        &self,
        image: &Image,
        reference: &Reference,
        mut each: impl FnMut(&Published) + Send,
    ) -> Result<Vec<Published>, Error> {
        if self.publishers.is_empty() {
            return Err(Error::NoPublisher);
        }
        let mut all = Vec::with_capacity(self.publishers.len());
        for publisher in &self.publishers {
            let published = publisher.publish(image, reference).await?;
            each(&published);
            all.push(published);
        }
        Ok(all)
    }
}

impl Publisher for MultiPublisher {
    /// Publishes with each in order and returns the last result (as ko does).
    fn publish<'a>(&'a self, image: &'a Image, reference: &'a Reference) -> PublishFuture<'a> {
        Box::pin(async move {
            let mut all = self.publish_each(image, reference, |_| {}).await?;
            all.pop().ok_or(Error::NoPublisher)
        })
    }
}
