//! The time and cancel budget of one fetch, checked between objects.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::GitError;

/// The deadline and the caller's cancel flag of one [`crate::fetch`].
pub(crate) struct Budget<'a> {
    deadline: Instant,
    timeout: Duration,
    cancel: &'a AtomicBool,
    shown_url: &'a str,
}

impl<'a> Budget<'a> {
    pub(crate) fn new(timeout: Duration, cancel: &'a AtomicBool, shown_url: &'a str) -> Self {
        Budget {
            // A timeout too large to add is as good as none.
            deadline: Instant::now()
                .checked_add(timeout)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)),
            timeout,
            cancel,
            shown_url,
        }
    }

    /// `Err` once the caller cancelled or the deadline passed.
    pub(crate) fn check(&self) -> Result<(), GitError> {
        if self.cancelled() {
            return Err(self.cancelled_error());
        }
        if Instant::now() >= self.deadline {
            return Err(self.timeout_error());
        }
        Ok(())
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub(crate) fn cancelled_error(&self) -> GitError {
        GitError::Cancelled {
            url: self.shown_url.to_owned(),
        }
    }

    pub(crate) fn timeout_error(&self) -> GitError {
        GitError::Timeout {
            url: self.shown_url.to_owned(),
            timeout: self.timeout,
        }
    }
}
