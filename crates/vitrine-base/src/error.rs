//! The errors a rule can give. The HTTP layer maps each to a problem document, in the
//! reader's language: every reason is a [`Text`] (both languages and a stable code).

use crate::text::Text;

/// One input field that was refused, with a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field in the request body, dotted (`plans.0.pricing.amount`).
    pub field: String,
    /// Why it was refused.
    pub message: Text,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: Text) -> Self {
        Self {
            field: field.into(),
            message,
        }
    }
}

/// Why a command was refused. Nothing was changed when one of these is returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The input breaks a rule; every broken rule is listed.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The caller must sign in first.
    #[error("authentication required")]
    Unauthenticated,
    /// The caller is known but may not do this.
    #[error("forbidden: {0}")]
    Forbidden(Text),
    /// The thing does not exist, or the caller may not know it exists.
    #[error("not found")]
    NotFound,
    /// The current state does not allow this change.
    #[error("conflict: {0}")]
    Conflict(Text),
    /// The caller did this too often; it may again after `retry_after_secs`.
    #[error("too many requests: {reason}")]
    RateLimited { reason: Text, retry_after_secs: u64 },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: Text) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
    pub fn forbidden(reason: Text) -> Self {
        Self::Forbidden(reason)
    }
    pub fn conflict(reason: Text) -> Self {
        Self::Conflict(reason)
    }
    /// The refusal's reason (for `Invalid`, its first field's), for tests and logs.
    pub fn reason(&self) -> Option<&Text> {
        match self {
            DomainError::Invalid(errors) => errors.first().map(|e| &e.message),
            DomainError::Forbidden(reason) | DomainError::Conflict(reason) => Some(reason),
            DomainError::RateLimited { reason, .. } => Some(reason),
            DomainError::Unauthenticated | DomainError::NotFound => None,
        }
    }
}

/// Collects field errors so that one response lists everything wrong with an input.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, field: impl Into<String>, message: Text) {
        self.0.push(FieldError::new(field, message));
    }
    /// Records the error of `result` under `field`, if any, and gives back the value.
    pub fn check<T>(&mut self, result: Result<T, DomainError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(DomainError::Invalid(errors)) => {
                self.0.extend(errors);
                None
            }
            Err(other) => {
                let message = other
                    .reason()
                    .cloned()
                    .unwrap_or_else(|| crate::tr!("input.refused", "was refused", "a été refusé"));
                self.0.push(FieldError::new("", message));
                None
            }
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_result(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}
