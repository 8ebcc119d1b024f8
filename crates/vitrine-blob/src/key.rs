//! Keys that name files in the blob store. They become file names, so they are checked
//! once, when made, and every path the store builds from one is inside its root.

use std::fmt;

use crate::error::{BlobError, Result};

const MAX_KEY_LEN: usize = 128;

fn check_key(key: &str) -> Result<()> {
    let reason = if key.is_empty() {
        Some("empty")
    } else if key.len() > MAX_KEY_LEN {
        Some("longer than 128 characters")
    } else if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Some("only ASCII letters, digits, '-' and '_' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(BlobError::InvalidKey {
            key: key.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

macro_rules! key_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks that `key` is 1 to 128 ASCII letters, digits, `-` or `_` (a UUID's
            /// text form is one), so that it is a file name and never a path.
            pub fn new(key: impl Into<String>) -> Result<Self> {
                let key = key.into();
                check_key(&key)?;
                Ok(Self(key))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = BlobError;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }
    };
}

key_type!(
    /// Names a partial upload (the server uses the upload's id).
    UploadKey
);
key_type!(
    /// Names a finished recording (the server uses the recording's id).
    RecordingKey
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuid_text_and_refuses_paths() {
        assert!(UploadKey::new("0195f3c2-7a7e-7cc1-9a51-1f0f1c2d3e4f").is_ok());
        assert!(RecordingKey::new("abc_DEF-123").is_ok());
        for bad in ["", "../etc", "a/b", "a.part", ".", "é", &"x".repeat(129)] {
            let error = UploadKey::new(bad).unwrap_err();
            assert!(
                matches!(error, BlobError::InvalidKey { .. }),
                "{bad:?}: {error}"
            );
        }
    }
}
