//! WebM and Matroska (EBML): after the EBML header comes the Segment, whose Info element
//! holds TimecodeScale (nanoseconds per tick, default 1,000,000) and Duration (a float, in
//! ticks). Muxers that cannot seek back (a browser's MediaRecorder, `ffmpeg -f webm -`)
//! write no Duration and leave sizes unknown; the duration is then unknown too.

use std::io::{self, Read, Seek, SeekFrom};

use super::{MAX_HEADERS_VISITED, read_array};

const EBML_HEADER: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const DEFAULT_TIMECODE_SCALE: u64 = 1_000_000;

struct Element {
    id: u32,
    data_start: u64,
    /// `None` for an element of unknown size (it runs until its parent ends).
    data_len: Option<u64>,
}

/// An EBML variable-length integer: the number of leading zero bits of the first byte
/// says how many more bytes follow. Returns the raw bytes as a number, with the length
/// marker bit still set, and the length; `None` if longer than `max_len`.
fn read_vint<R: Read>(reader: &mut R, max_len: u32) -> io::Result<Option<(u64, u32)>> {
    let [first] = read_array(reader)?;
    let len = first.leading_zeros() + 1;
    if len > max_len {
        return Ok(None);
    }
    let mut raw = u64::from(first);
    for _ in 1..len {
        let [next] = read_array(reader)?;
        raw = (raw << 8) | u64::from(next);
    }
    Ok(Some((raw, len)))
}

/// The element whose header starts at `at`, or `None` if there is none before `limit` or
/// its header is malformed.
fn read_element_header<R: Read + Seek>(
    reader: &mut R,
    at: u64,
    limit: u64,
) -> io::Result<Option<Element>> {
    if at >= limit {
        return Ok(None);
    }
    reader.seek(SeekFrom::Start(at))?;
    match read_element_header_here(reader, at) {
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        other => other,
    }
}

fn read_element_header_here<R: Read>(reader: &mut R, at: u64) -> io::Result<Option<Element>> {
    // IDs keep their marker bit (0x1A45DFA3 is the EBML header's ID as written).
    let Some((id, id_len)) = read_vint(reader, 4)? else {
        return Ok(None);
    };
    let Some((raw_size, size_len)) = read_vint(reader, 8)? else {
        return Ok(None);
    };
    let value_mask = (1u64 << (7 * size_len)) - 1;
    let size = raw_size & value_mask;
    let data_start = at + u64::from(id_len + size_len);
    Ok(Some(Element {
        id: u32::try_from(id).map_err(|_| io::ErrorKind::InvalidData)?,
        data_start,
        // All value bits set is the reserved "unknown size".
        data_len: (size != value_mask).then_some(size),
    }))
}

impl Element {
    /// Where the element's data ends, within its parent's end (sizes past it are broken
    /// or unknown).
    fn end_within(&self, parent_end: u64) -> u64 {
        self.data_len.map_or(parent_end, |len| {
            self.data_start.saturating_add(len).min(parent_end)
        })
    }
}

/// The first child with `id` among the elements spanning `start..end`. Stops at a child of
/// unknown size, which cannot be skipped (a live recording's first Cluster).
fn find_child<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    end: u64,
    id: u32,
) -> io::Result<Option<Element>> {
    let mut at = start;
    for _ in 0..MAX_HEADERS_VISITED {
        let Some(element) = read_element_header(reader, at, end)? else {
            return Ok(None);
        };
        if element.id == id {
            return Ok(Some(element));
        }
        let Some(len) = element.data_len else {
            return Ok(None);
        };
        at = element.data_start.saturating_add(len);
    }
    Ok(None)
}

fn read_uint<R: Read + Seek>(reader: &mut R, element: &Element) -> io::Result<Option<u64>> {
    match element.data_len {
        Some(len @ 0..=8) => {
            reader.seek(SeekFrom::Start(element.data_start))?;
            let mut value = 0u64;
            for _ in 0..len {
                let [byte] = read_array(reader)?;
                value = (value << 8) | u64::from(byte);
            }
            Ok(Some(value))
        }
        _ => Ok(None),
    }
}

fn read_float<R: Read + Seek>(reader: &mut R, element: &Element) -> io::Result<Option<f64>> {
    reader.seek(SeekFrom::Start(element.data_start))?;
    match element.data_len {
        Some(4) => Ok(Some(f64::from(f32::from_be_bytes(read_array(reader)?)))),
        Some(8) => Ok(Some(f64::from_be_bytes(read_array(reader)?))),
        _ => Ok(None),
    }
}

pub(super) fn duration<R: Read + Seek>(reader: &mut R, file_len: u64) -> io::Result<Option<f64>> {
    let Some(header) = read_element_header(reader, 0, file_len)? else {
        return Ok(None);
    };
    let (EBML_HEADER, Some(header_len)) = (header.id, header.data_len) else {
        return Ok(None);
    };
    let after_header = header.data_start.saturating_add(header_len);
    let Some(segment) = find_child(reader, after_header, file_len, SEGMENT)? else {
        return Ok(None);
    };
    let segment_end = segment.end_within(file_len);
    let Some(info) = find_child(reader, segment.data_start, segment_end, INFO)? else {
        return Ok(None);
    };
    let info_end = info.end_within(segment_end);

    let mut timecode_scale = DEFAULT_TIMECODE_SCALE;
    let mut ticks = None;
    let mut at = info.data_start;
    for _ in 0..MAX_HEADERS_VISITED {
        let Some(element) = read_element_header(reader, at, info_end)? else {
            break;
        };
        let Some(len) = element.data_len else {
            break;
        };
        let element_end = element.data_start.saturating_add(len);
        if element_end > info_end {
            break;
        }
        match element.id {
            TIMECODE_SCALE => {
                timecode_scale = read_uint(reader, &element)?.unwrap_or(timecode_scale)
            }
            DURATION => ticks = read_float(reader, &element)?,
            _ => {}
        }
        at = element_end;
    }
    if timecode_scale == 0 {
        return Ok(None);
    }
    Ok(ticks.map(|ticks| ticks * timecode_scale as f64 / 1e9))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// An element with a one-byte size (data under 127 bytes) or an eight-byte one.
    fn element(id: &[u8], data: &[u8]) -> Vec<u8> {
        let mut bytes = id.to_vec();
        if data.len() < 127 {
            bytes.push(0x80 | data.len() as u8);
        } else {
            bytes.push(0x01);
            bytes.extend_from_slice(&(data.len() as u64).to_be_bytes()[1..]);
        }
        bytes.extend_from_slice(data);
        bytes
    }

    fn ebml_header(doc_type: &[u8]) -> Vec<u8> {
        element(
            &[0x1A, 0x45, 0xDF, 0xA3],
            &[
                element(&[0x42, 0x86], &[1]),
                element(&[0x42, 0x82], doc_type),
            ]
            .concat(),
        )
    }

    fn info(children: &[Vec<u8>]) -> Vec<u8> {
        element(&[0x15, 0x49, 0xA9, 0x66], &children.concat())
    }

    fn parse(bytes: &[u8]) -> Option<f64> {
        duration(&mut Cursor::new(bytes), bytes.len() as u64).unwrap()
    }

    #[test]
    fn f64_duration_with_default_scale_after_a_seek_head() {
        let seek_head = element(&[0x11, 0x4D, 0x9B, 0x74], &[0xEC; 40]);
        let duration = element(&[0x44, 0x89], &1234.5f64.to_be_bytes());
        let segment = element(
            &[0x18, 0x53, 0x80, 0x67],
            &[seek_head, info(&[duration])].concat(),
        );
        assert_eq!(
            parse(&[ebml_header(b"webm"), segment].concat()),
            Some(1.2345)
        );
    }

    #[test]
    fn f32_duration_with_explicit_scale_in_an_unknown_size_segment() {
        let scale = element(&[0x2A, 0xD7, 0xB1], &[0x0F, 0x42, 0x40]); // 1,000,000 ns
        let muxing_app = element(&[0x4D, 0x80], b"hand");
        let duration = element(&[0x44, 0x89], &2500f32.to_be_bytes());
        let mut segment = vec![
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        segment.extend(info(&[scale, muxing_app, duration]));
        assert_eq!(
            parse(&[ebml_header(b"matroska"), segment].concat()),
            Some(2.5)
        );

        let microseconds = element(&[0x2A, 0xD7, 0xB1], &[0x03, 0xE8]); // 1,000 ns
        let ticks = element(&[0x44, 0x89], &4_000_000f64.to_be_bytes());
        let segment = element(&[0x18, 0x53, 0x80, 0x67], &info(&[microseconds, ticks]));
        assert_eq!(parse(&[ebml_header(b"webm"), segment].concat()), Some(4.0));
    }

    #[test]
    fn no_duration_or_broken_structure_gives_none() {
        let scale_only = element(&[0x2A, 0xD7, 0xB1], &[0x0F, 0x42, 0x40]);
        let segment = element(&[0x18, 0x53, 0x80, 0x67], &info(&[scale_only]));
        assert_eq!(
            parse(&[ebml_header(b"webm"), segment].concat()),
            None,
            "live recording"
        );

        // A Cluster of unknown size before any Info: nothing can be skipped past it.
        let mut live = vec![0x18, 0x53, 0x80, 0x67, 0xFF];
        live.extend_from_slice(&[0x1F, 0x43, 0xB6, 0x75, 0xFF, 0xE7, 0x81, 0x00]);
        assert_eq!(parse(&[ebml_header(b"webm"), live].concat()), None);

        let duration = element(&[0x44, 0x89], &1000f64.to_be_bytes());
        let mut truncated = [
            ebml_header(b"webm"),
            element(&[0x18, 0x53, 0x80, 0x67], &info(&[duration])),
        ]
        .concat();
        truncated.truncate(truncated.len() - 4);
        assert_eq!(parse(&truncated), None, "truncated Duration");
        assert_eq!(parse(b"not ebml at all"), None);
        assert_eq!(parse(&[]), None);
    }
}
