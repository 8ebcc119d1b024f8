//! Which containers are accepted, decided from the first bytes with `infer`.

use crate::error::{BlobError, Result};

/// How many leading bytes the sniffer wants before it decides. `infer` needs more than 256
/// for Matroska (it looks for the DocType there); 4 KiB leaves room for long `ftyp` boxes
/// and EBML headers, and is still small enough to hold in memory per request.
pub const SNIFF_LEN: usize = 4096;

/// An accepted recording container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// ISO base media file format with an MP4 brand (M4V included: it is MP4 for players).
    Mp4,
    /// Apple QuickTime (`.mov`).
    QuickTime,
    /// Matroska with DocType `webm`.
    WebM,
    /// Matroska with DocType `matroska`.
    Matroska,
}

impl MediaType {
    /// The MIME type to store and to serve the recording with.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Mp4 => "video/mp4",
            Self::QuickTime => "video/quicktime",
            Self::WebM => "video/webm",
            Self::Matroska => "video/x-matroska",
        }
    }

    /// The inverse of [`MediaType::mime`], for values read back from the database.
    pub fn from_mime(mime: &str) -> Option<Self> {
        [Self::Mp4, Self::QuickTime, Self::WebM, Self::Matroska]
            .into_iter()
            .find(|media_type| media_type.mime() == mime)
    }

    /// Whether the duration lives in an ISO-BMFF `mvhd` box (else in Matroska's Info).
    pub(crate) fn is_iso_bmff(self) -> bool {
        matches!(self, Self::Mp4 | Self::QuickTime)
    }
}

/// Decides the container from the leading bytes of a file (up to [`SNIFF_LEN`] of them are
/// looked at). Anything that is not an accepted video is refused with the type `infer`
/// recognised, if any, so the error can say what was sent instead.
pub fn sniff(prefix: &[u8]) -> Result<MediaType> {
    let prefix = &prefix[..prefix.len().min(SNIFF_LEN)];
    let detected = infer::get(prefix);
    let media_type = detected.as_ref().and_then(|kind| match kind.mime_type() {
        "video/mp4" | "video/x-m4v" => Some(MediaType::Mp4),
        "video/quicktime" => Some(MediaType::QuickTime),
        "video/webm" => Some(MediaType::WebM),
        "video/x-matroska" => Some(MediaType::Matroska),
        _ => None,
    });
    media_type.ok_or_else(|| BlobError::UnsupportedMediaType {
        detected: detected.map(|kind| kind.mime_type().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0, 20];
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(brand);
        bytes.extend_from_slice(&[0, 0, 2, 0]);
        bytes.extend_from_slice(brand);
        bytes.resize(64, 0);
        bytes
    }

    fn ebml_header(doc_type: &[u8]) -> Vec<u8> {
        let mut body = vec![0x42, 0x86, 0x81, 0x01]; // EBMLVersion 1
        body.extend_from_slice(&[0x42, 0x82, 0x80 | doc_type.len() as u8]);
        body.extend_from_slice(doc_type);
        let mut bytes = vec![0x1A, 0x45, 0xDF, 0xA3, 0x80 | body.len() as u8];
        bytes.extend_from_slice(&body);
        // infer wants more than 256 bytes before it names a Matroska file.
        bytes.resize(300, 0);
        bytes
    }

    #[test]
    fn accepts_the_four_containers() {
        assert_eq!(sniff(&ftyp(b"isom")).unwrap(), MediaType::Mp4);
        assert_eq!(sniff(&ftyp(b"mp42")).unwrap(), MediaType::Mp4);
        assert_eq!(sniff(&ftyp(b"M4V ")).unwrap(), MediaType::Mp4);
        assert_eq!(sniff(&ftyp(b"qt  ")).unwrap(), MediaType::QuickTime);
        assert_eq!(sniff(&ebml_header(b"webm")).unwrap(), MediaType::WebM);
        assert_eq!(
            sniff(&ebml_header(b"matroska")).unwrap(),
            MediaType::Matroska
        );
    }

    #[test]
    fn refuses_other_types_and_says_what_they_are() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
        match sniff(png) {
            Err(BlobError::UnsupportedMediaType { detected }) => {
                assert_eq!(detected.as_deref(), Some("image/png"))
            }
            other => panic!("{other:?}"),
        }
        // An audio-only MPEG-4 file is not a demo recording.
        assert!(matches!(
            sniff(&ftyp(b"M4A ")),
            Err(BlobError::UnsupportedMediaType { detected: Some(_) })
        ));
        assert!(matches!(
            sniff(b"just some text, not a video at all"),
            Err(BlobError::UnsupportedMediaType { detected: None })
        ));
        assert!(matches!(
            sniff(b""),
            Err(BlobError::UnsupportedMediaType { detected: None })
        ));
    }

    #[test]
    fn mime_round_trips() {
        for media_type in [
            MediaType::Mp4,
            MediaType::QuickTime,
            MediaType::WebM,
            MediaType::Matroska,
        ] {
            assert_eq!(MediaType::from_mime(media_type.mime()), Some(media_type));
        }
        assert_eq!(MediaType::from_mime("video/avi"), None);
    }
}
