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
