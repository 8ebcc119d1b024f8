//! Is an attachment a plausible demo recording?
//!
//! The type is sniffed from the bytes with `infer` (what the sender's client declared is
//! not trusted: phones send `application/octet-stream`, and anyone can call a PDF
//! `video/mp4`). The accepted containers are those of recording uploads (`vitrine-blob`):
//! MP4 (M4V included), QuickTime, WebM and Matroska. The type is checked before the size,
//! so that a big PDF is refused as "not a recording", the more useful thing to be told.

use crate::parse::Attachment;

/// How many leading bytes are sniffed (as `vitrine-blob` does: `infer` needs more than 256
/// for Matroska).
const SNIFF_LEN: usize = 4096;

/// An accepted recording container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordingType {
    Mp4,
    QuickTime,
    WebM,
    Matroska,
}

impl RecordingType {
    /// The MIME type to store and serve it with (the same as `vitrine-blob`'s).
    pub fn mime(self) -> &'static str {
        match self {
            Self::Mp4 => "video/mp4",
            Self::QuickTime => "video/quicktime",
            Self::WebM => "video/webm",
            Self::Matroska => "video/x-matroska",
        }
    }
}

/// Why an attachment is not taken as a recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordingRefusal {
    /// Not one of the accepted video containers.
    NotARecording {
        /// What the sender's client declared.
        content_type: String,
        /// What the bytes are, when `infer` recognises them (`application/pdf`, …).
        detected: Option<&'static str>,
    },
    /// An accepted container, but over the size limit.
    TooLarge { size: u64, limit: u64 },
}

impl RecordingRefusal {
    /// A stable identifier for logs and translations.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::NotARecording { .. } => "not-a-recording",
            Self::TooLarge { .. } => "too-large",
        }
    }
}

/// The recording's container, or why the attachment is not one. `max_bytes` is the same
/// limit as for uploads.
pub fn check_recording(
    attachment: &Attachment,
    max_bytes: u64,
) -> Result<RecordingType, RecordingRefusal> {
    let prefix = &attachment.bytes[..attachment.bytes.len().min(SNIFF_LEN)];
    let detected = infer::get(prefix).map(|kind| kind.mime_type());
    let recording_type = match detected {
        Some("video/mp4" | "video/x-m4v") => RecordingType::Mp4,
        Some("video/quicktime") => RecordingType::QuickTime,
        Some("video/webm") => RecordingType::WebM,
        Some("video/x-matroska") => RecordingType::Matroska,
        _ => {
            return Err(RecordingRefusal::NotARecording {
                content_type: attachment.content_type.clone(),
                detected,
            });
        }
    };
    let size = attachment.size();
    if size > max_bytes {
        return Err(RecordingRefusal::TooLarge {
            size,
            limit: max_bytes,
        });
    }
    Ok(recording_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(content_type: &str, bytes: Vec<u8>) -> Attachment {
        Attachment {
            file_name: Some("demo".into()),
            content_type: content_type.into(),
            inline: false,
            bytes,
            spooled: None,
        }
    }

    fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0, 0x18];
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(brand);
        bytes.extend_from_slice(&[0, 0, 2, 0]);
        bytes.extend_from_slice(brand);
        bytes.extend_from_slice(b"mp41");
        bytes.resize(64, 0);
        bytes
    }

    fn ebml(doc_type: &[u8]) -> Vec<u8> {
        let mut body = vec![0x42, 0x86, 0x81, 0x01];
        body.extend_from_slice(&[0x42, 0x82, 0x80 | doc_type.len() as u8]);
        body.extend_from_slice(doc_type);
        let mut bytes = vec![0x1A, 0x45, 0xDF, 0xA3, 0x80 | body.len() as u8];
        bytes.extend_from_slice(&body);
        bytes.resize(300, 0);
        bytes
    }

    #[test]
    fn the_four_containers_whatever_was_declared() {
        let cases = [
            (ftyp(b"isom"), RecordingType::Mp4),
            (ftyp(b"mp42"), RecordingType::Mp4),
            (ftyp(b"M4V "), RecordingType::Mp4),
            (ftyp(b"qt  "), RecordingType::QuickTime),
            (ebml(b"webm"), RecordingType::WebM),
            (ebml(b"matroska"), RecordingType::Matroska),
        ];
        for (bytes, expected) in cases {
            let found = check_recording(&attachment("application/octet-stream", bytes), 1 << 20);
            assert_eq!(found, Ok(expected));
        }
        assert_eq!(RecordingType::QuickTime.mime(), "video/quicktime");
    }

    #[test]
    fn other_types_are_refused_with_what_they_are() {
        let pdf = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
        assert_eq!(
            check_recording(&attachment("video/mp4", pdf), 1 << 20),
            Err(RecordingRefusal::NotARecording {
                content_type: "video/mp4".into(),
                detected: Some("application/pdf"),
            })
        );
        // An audio-only MPEG-4 file is no demo recording.
        let m4a = check_recording(&attachment("audio/mp4", ftyp(b"M4A ")), 1 << 20);
        assert!(matches!(
            m4a,
            Err(RecordingRefusal::NotARecording {
                detected: Some(_),
                ..
            })
        ));
        let text = check_recording(&attachment("text/plain", b"hello".to_vec()), 1 << 20);
        assert_eq!(
            text,
            Err(RecordingRefusal::NotARecording {
                content_type: "text/plain".into(),
                detected: None
            })
        );
        let empty = check_recording(&attachment("video/mp4", Vec::new()), 1 << 20);
        assert_eq!(empty.map_err(|e| e.slug()), Err("not-a-recording"));
    }

    #[test]
    fn size_limit_applies_to_recordings() {
        let mp4 = ftyp(b"isom");
        assert_eq!(
            check_recording(&attachment("video/mp4", mp4.clone()), 64),
            Ok(RecordingType::Mp4),
            "exactly at the limit"
        );
        let refusal = check_recording(&attachment("video/mp4", mp4), 63).unwrap_err();
        assert_eq!(
            refusal,
            RecordingRefusal::TooLarge {
                size: 64,
                limit: 63
            }
        );
        assert_eq!(refusal.slug(), "too-large");
    }

    #[test]
    fn type_is_checked_before_size() {
        let mut pdf = b"%PDF-1.4\n".to_vec();
        pdf.resize(1000, b' ');
        let refusal = check_recording(&attachment("application/pdf", pdf), 10).unwrap_err();
        assert_eq!(refusal.slug(), "not-a-recording");
    }
}
