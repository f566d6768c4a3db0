//! What can go wrong talking to the control plane's database, and how a database error becomes
//! a message a user understands.

use sqlx::error::ErrorKind;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one the store can open.
    #[error("database url `{url}` is not supported: {reason}")]
    BadUrl {
        /// The URL with any password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
        /// How to write one that works.
        hint: &'static str,
    },
    /// A row the caller named does not exist.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What kind of record (`workspace`, `deployment`, `build`, `token`).
        what: &'static str,
        /// The id (or name) that was asked for.
        id: String,
    },
    /// A write would break a uniqueness rule (a duplicate name, subdomain, port, or a build that
    /// already finished); `what` says which, in words.
    #[error("{what}")]
    Conflict {
        /// The whole message, e.g. "a deployment named `x` already exists in workspace `y`".
        what: String,
    },
    /// The caller passed a value the store refuses (e.g. changing a deployment's target type).
    #[error("{what}")]
    Invalid {
        /// The whole message, naming the field and the value.
        what: String,
    },
    /// A stored value the store cannot read back (a word outside an enum, broken JSON).
    #[error("stored {column} `{value}` is not valid: {reason}")]
    Corrupt {
        /// `table.column` of the value.
        column: &'static str,
        /// The stored text.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database (or the connection to it) failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// A line saying how to fix the problem, when there is one.
    pub fn hint(&self) -> Option<&str> {
        match self {
            StoreError::BadUrl { hint, .. } => Some(hint),
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                Some("the database did not answer in time; check that it is running and reachable")
            }
            _ => None,
        }
    }

    /// True for errors that mean "the row the caller named does not exist".
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// True for errors that mean "this would duplicate something" (HTTP 409).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// Which rule a failed write broke, if it was a uniqueness or reference rule. `detail` is the
/// constraint name on PostgreSQL and the message on SQLite ("UNIQUE constraint failed:
/// deployments.workspace_id, deployments.name"); callers match on the column or index words
/// in it, which the schema keeps distinct.
pub(crate) enum Violation {
    /// A unique index or primary key.
    Unique(String),
    /// A foreign key: the referenced row does not exist.
    ForeignKey,
}

/// Classifies a database error as a rule violation (or `None` for anything else).
pub(crate) fn violation(err: &sqlx::Error) -> Option<Violation> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    match db.kind() {
        ErrorKind::UniqueViolation => Some(Violation::Unique(
            db.constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned()),
        )),
        ErrorKind::ForeignKeyViolation => Some(Violation::ForeignKey),
        _ => None,
    }
}

/// True when a transaction lost a race that retrying resolves: a unique index another writer
/// filled first, a serialization failure or deadlock (PostgreSQL), a stale snapshot (SQLite).
pub(crate) fn is_retryable(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    if db.kind() == ErrorKind::UniqueViolation {
        return true;
    }
    matches!(
        db.code().as_deref(),
        // PostgreSQL: serialization_failure, deadlock_detected. SQLite: SQLITE_BUSY_SNAPSHOT
        // (a stale read snapshot). Plain SQLITE_BUSY is not retried: it comes after the 5 s
        // busy timeout, and a lock held that long is a problem to report, not to wait out.
        Some("40001" | "40P01" | "517")
    )
}
