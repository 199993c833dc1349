//! What can go wrong in storage, in words a CLI user or an API client can act on.

use accord_core::roles::OwnerRuleViolation;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Bad configuration: database URL, master key, data directory.
    #[error("{0}")]
    Config(String),
    /// The object does not exist (or is in another account, which reads the same).
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    /// A uniqueness rule: an email already used, a duplicate role name, …
    #[error("{0}")]
    Conflict(String),
    /// An email asked for without its account is a user of several accounts (only operator tools
    /// ask that way; they must name the account or the user's id instead of getting one of them).
    #[error(
        "{email} is a user in several accounts ({}): name the account or give the user's id",
        accounts.join(", ")
    )]
    AmbiguousEmail {
        email: String,
        accounts: Vec<String>,
    },
    /// Input that breaks a rule of the model.
    #[error("{0}")]
    Invalid(String),
    /// A field of a request that breaks a rule of the model, named for Zoom's `errors[]`.
    #[error(transparent)]
    Field(#[from] accord_core::meetings::FieldError),
    /// A change that would break the owner invariants.
    #[error(transparent)]
    OwnerRule(#[from] OwnerRuleViolation),
    /// A removal the remover may not make ([`accord_core::grants::check_authorization_removal`]).
    #[error(transparent)]
    Refused(#[from] accord_core::grants::RemovalRefusal),
    /// Stored data that cannot be read back (wrong master key, edited by hand).
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("schema migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        StoreError::NotFound {
            what,
            id: id.into(),
        }
    }

    /// Whether the error means the database cannot be reached or cannot serve right now — a lost
    /// or refused connection, an exhausted pool, a server shutting down, SQLite busy past its
    /// timeout — as opposed to a statement the database refused, which is a bug of ours (or input
    /// that should have been refused earlier) and must be logged and answered as such.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(e) => e.code().is_some_and(|code| {
                // PostgreSQL: class 08 (connection exception), 57P01-57P03 (shutdown, cannot
                // connect now), 53300 (too many connections). SQLite: BUSY and LOCKED with their
                // extended codes, IOERR, CANTOPEN.
                code.starts_with("08")
                    || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
                    || matches!(
                        code.as_ref(),
                        "5" | "6" | "10" | "14" | "261" | "262" | "517" | "773"
                    )
            }),
            _ => false,
        }
    }

    /// Whether the database refused a write for breaking a unique constraint.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                e.is_unique_violation()
                    || e.code()
                        .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_failures_count_as_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(StoreError::Database(sqlx::Error::Io(io)).is_unavailable());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::Database(sqlx::Error::PoolClosed).is_unavailable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Invalid("bad".into()).is_unavailable());
        assert!(!StoreError::Corrupt("bad".into()).is_unavailable());
    }
}
