//! The thread of a submission: messages between its provider and its validator (PRODUCT.md,
//! journey step 6). Each message reaches the other side by email; the store writes the
//! message, its audit event and the email in one transaction.

use crate::Timestamp;
use crate::ids::{SubmissionId, UserId};
use serde::{Deserialize, Serialize};

crate::recording::uuid_id!(
    /// A message in a submission's thread.
    MessageId
);

/// Which side of the thread wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// A member of the provider account.
    Provider,
    /// Marketplace staff: the validator (or an admin speaking for the marketplace).
    Validator,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Provider => "provider",
            Side::Validator => "validator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Side::Provider, Side::Validator]
            .into_iter()
            .find(|side| side.as_str() == s)
    }

    /// The side that is told about a message from this one.
    pub fn other(self) -> Self {
        match self {
            Side::Provider => Side::Validator,
            Side::Validator => Side::Provider,
        }
    }
}

/// One message of a submission's thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub submission_id: SubmissionId,
    pub author: UserId,
    pub side: Side,
    pub body: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_round_trip_and_face_each_other() {
        for side in [Side::Provider, Side::Validator] {
            assert_eq!(Side::parse(side.as_str()), Some(side));
            assert_ne!(side.other(), side);
            assert_eq!(side.other().other(), side);
        }
        assert_eq!(Side::parse("admin"), None);
    }
}
