//! Identifiers. UUID v7: unique across servers without coordination, ordered by creation
//! time, and they reveal nothing about how many rows exist (sequential ids would let an
//! outsider count hidden offerings).

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new identifier, ordered after every one made before on this machine.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A user: a person who signs in.
    UserId
);
id_type!(
    /// An account: an organisation (customer, provider or both).
    AccountId
);
id_type!(
    /// An offering: a service a provider lists in the catalog.
    OfferingId
);
id_type!(
    /// A personal API token.
    TokenId
);
id_type!(
    /// A go-live submission of an offering.
    SubmissionId
);
id_type!(
    /// A demo recording (a video file).
    RecordingId
);
id_type!(
    /// A run of the prerequisite checks (broker, documentation, sign-in) of an offering.
    CheckRunId
);
