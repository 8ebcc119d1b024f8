//! The tus checksum extension: `Upload-Checksum: sha256 <base64 of the body's digest>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{BlobError, Result};

/// The sha256 a client announced for one request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sha256Expectation([u8; 32]);

impl Sha256Expectation {
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// Parses the value of a tus `Upload-Checksum` header. Only sha256 is offered in
    /// `Tus-Checksum-Algorithm`, so any other algorithm is refused (tus says 400).
    pub fn from_tus_header(value: &str) -> Result<Self> {
        let Some((algorithm, encoded)) = value.trim().split_once(' ') else {
            return Err(BlobError::MalformedChecksum {
                reason: "expected an algorithm, a space and a base64 digest",
            });
        };
        if !algorithm.eq_ignore_ascii_case("sha256") {
            return Err(BlobError::UnsupportedChecksumAlgorithm {
                algorithm: algorithm.to_owned(),
            });
        }
        let digest = STANDARD
            .decode(encoded.trim())
            .map_err(|_| BlobError::MalformedChecksum {
                reason: "the digest is not base64",
            })?;
        let digest = <[u8; 32]>::try_from(digest).map_err(|_| BlobError::MalformedChecksum {
            reason: "a sha256 digest is 32 bytes",
        })?;
        Ok(Self(digest))
    }

    pub(crate) fn matches(&self, digest: &[u8]) -> bool {
        self.0.as_slice() == digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tus_header() {
        // sha256("") in base64.
        let header = "sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let expectation = Sha256Expectation::from_tus_header(header).unwrap();
        let empty_digest = [
            0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
            0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
            0x78, 0x52, 0xb8, 0x55,
        ];
        assert_eq!(expectation, Sha256Expectation::from_digest(empty_digest));
        assert!(expectation.matches(&empty_digest));
    }

    #[test]
    fn refuses_other_algorithms_and_bad_digests() {
        assert!(matches!(
            Sha256Expectation::from_tus_header("md5 1B2M2Y8AsgTpgAmY7PhCfg=="),
            Err(BlobError::UnsupportedChecksumAlgorithm { algorithm }) if algorithm == "md5"
        ));
        for bad in ["sha256", "sha256 not*base64", "sha256 AAAA", ""] {
            assert!(
                matches!(
                    Sha256Expectation::from_tus_header(bad),
                    Err(BlobError::MalformedChecksum { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
