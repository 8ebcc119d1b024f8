//! Reads a recording's duration from its container header, by seeking through the file's
//! structure: only box and element headers and a few numbers are read, never the media.
//!
//! Written by hand: the crates that read these headers (mp4, matroska, symphonia and the
//! like) are whole demuxers or are no longer kept up, and all that is needed here is two
//! numbers from one box (`mvhd`) or one element (`Info`), about a hundred lines each.
//! Malformed or truncated structure is not an error: the duration is then unknown.

mod iso_bmff;
mod matroska;

use std::io::{self, Read, Seek};

use crate::media::MediaType;

/// The duration in seconds the container declares, or `None` when it declares none (a
/// live WebM from a browser, a fragmented MP4 without `mehd`) or its structure is broken.
pub fn container_duration<R: Read + Seek>(
    reader: &mut R,
    file_len: u64,
    media_type: MediaType,
) -> io::Result<Option<f64>> {
    let parsed = if media_type.is_iso_bmff() {
        iso_bmff::duration(reader, file_len)
    } else {
        matroska::duration(reader, file_len)
    };
    match parsed {
        Ok(seconds) => Ok(seconds.filter(|seconds| seconds.is_finite() && *seconds >= 0.0)),
        // A box or element that claims more bytes than the file holds: broken, not fatal.
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(error) => Err(error),
    }
}

/// Upper bound on headers visited in one file, so that a crafted file made of millions of
/// tiny boxes cannot keep a blocking thread busy.
const MAX_HEADERS_VISITED: usize = 100_000;

fn read_array<const N: usize, R: Read>(reader: &mut R) -> io::Result<[u8; N]> {
    let mut bytes = [0; N];
    reader.read_exact(&mut bytes)?;
    Ok(bytes)
}
