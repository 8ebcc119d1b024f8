//! MP4 and QuickTime (ISO base media file format): the top-level boxes are walked to `moov`
//! wherever it is (muxers that cannot seek back put it after `mdat`), then `moov/mvhd`
//! gives the timescale and duration. A fragmented file announces 0 there and may give the
//! total in `moov/mvex/mehd` instead.

use std::io::{self, Read, Seek, SeekFrom};

use super::{MAX_HEADERS_VISITED, read_array};

struct BoxHeader {
    kind: [u8; 4],
    body_start: u64,
    end: u64,
}

/// The header of the box at `at`, or `None` when there is none or it does not fit in
/// `limit` (the end of its parent).
fn read_box_header<R: Read + Seek>(
    reader: &mut R,
    at: u64,
    limit: u64,
) -> io::Result<Option<BoxHeader>> {
    if at.saturating_add(8) > limit {
        return Ok(None);
    }
    reader.seek(SeekFrom::Start(at))?;
    let header: [u8; 8] = read_array(reader)?;
    let short_size = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let kind = [header[4], header[5], header[6], header[7]];
    let (size, header_len) = match short_size {
        // A 64-bit size follows the type.
        1 => {
            if at.saturating_add(16) > limit {
                return Ok(None);
            }
            (u64::from_be_bytes(read_array(reader)?), 16)
        }
        // The box runs to the end of its parent.
        0 => (limit - at, 8),
        size => (u64::from(size), 8),
    };
    match at.checked_add(size) {
        Some(end) if size >= header_len && end <= limit => Ok(Some(BoxHeader {
            kind,
            body_start: at + header_len,
            end,
        })),
        _ => Ok(None),
    }
}

fn find_child<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    end: u64,
    kind: &[u8; 4],
) -> io::Result<Option<BoxHeader>> {
    let mut at = start;
    for _ in 0..MAX_HEADERS_VISITED {
        let Some(header) = read_box_header(reader, at, end)? else {
            return Ok(None);
        };
        if &header.kind == kind {
            return Ok(Some(header));
        }
        at = header.end;
    }
    Ok(None)
}

/// Reads a full box's version, skips its flags, and leaves the reader after them.
fn read_version<R: Read + Seek>(reader: &mut R, header: &BoxHeader) -> io::Result<u8> {
    reader.seek(SeekFrom::Start(header.body_start))?;
    let [version, _, _, _] = read_array(reader)?;
    Ok(version)
}

pub(super) fn duration<R: Read + Seek>(reader: &mut R, file_len: u64) -> io::Result<Option<f64>> {
    let Some(moov) = find_child(reader, 0, file_len, b"moov")? else {
        return Ok(None);
    };
    let Some(mvhd) = find_child(reader, moov.body_start, moov.end, b"mvhd")? else {
        return Ok(None);
    };
    // Version 0: creation and modification times, timescale, duration, all u32.
    // Version 1: the two times and the duration as u64. All ones means "unknown".
    let body_len = mvhd.end - mvhd.body_start;
    let (timescale, movie_duration) = match read_version(reader, &mvhd)? {
        0 if body_len >= 20 => {
            reader.seek(SeekFrom::Current(8))?;
            let timescale = u32::from_be_bytes(read_array(reader)?);
            let duration = u32::from_be_bytes(read_array(reader)?);
            (
                timescale,
                (duration != u32::MAX).then_some(u64::from(duration)),
            )
        }
        1 if body_len >= 32 => {
            reader.seek(SeekFrom::Current(16))?;
            let timescale = u32::from_be_bytes(read_array(reader)?);
            let duration = u64::from_be_bytes(read_array(reader)?);
            (timescale, (duration != u64::MAX).then_some(duration))
        }
        _ => return Ok(None),
    };
    if timescale == 0 {
        return Ok(None);
    }
    let in_seconds = |units: u64| units as f64 / f64::from(timescale);
    match movie_duration {
        Some(units) if units > 0 => Ok(Some(in_seconds(units))),
        _ => Ok(fragment_duration(reader, &moov)?.map(in_seconds)),
    }
}

/// `moov/mvex/mehd`: the whole duration of a fragmented file, in the `mvhd` timescale.
fn fragment_duration<R: Read + Seek>(reader: &mut R, moov: &BoxHeader) -> io::Result<Option<u64>> {
    let Some(mvex) = find_child(reader, moov.body_start, moov.end, b"mvex")? else {
        return Ok(None);
    };
    let Some(mehd) = find_child(reader, mvex.body_start, mvex.end, b"mehd")? else {
        return Ok(None);
    };
    let body_len = mehd.end - mehd.body_start;
    let units = match read_version(reader, &mehd)? {
        0 if body_len >= 8 => u64::from(u32::from_be_bytes(read_array(reader)?)),
        1 if body_len >= 12 => u64::from_be_bytes(read_array(reader)?),
        _ => return Ok(None),
    };
    Ok((units > 0).then_some(units))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut bytes = u32::try_from(body.len() + 8)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        bytes.extend_from_slice(kind);
        bytes.extend_from_slice(body);
        bytes
    }

    fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
        let mut body = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2];
        body.extend_from_slice(&timescale.to_be_bytes());
        body.extend_from_slice(&duration.to_be_bytes());
        body.extend_from_slice(&[0; 80]); // rate, volume, matrix, next track id
        mp4_box(b"mvhd", &body)
    }

    fn mvhd_v1(timescale: u32, duration: u64) -> Vec<u8> {
        let mut body = vec![1, 0, 0, 0];
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&timescale.to_be_bytes());
        body.extend_from_slice(&duration.to_be_bytes());
        body.extend_from_slice(&[0; 80]);
        mp4_box(b"mvhd", &body)
    }

    fn parse(bytes: &[u8]) -> Option<f64> {
        duration(&mut Cursor::new(bytes), bytes.len() as u64).unwrap()
    }

    fn file(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn version_0_with_moov_first() {
        let ftyp = mp4_box(b"ftyp", b"isom\0\0\x02\0isom");
        let moov = mp4_box(b"moov", &mvhd_v0(1000, 12_500));
        let mdat = mp4_box(b"mdat", &[7; 100]);
        assert_eq!(parse(&file(&[ftyp, moov, mdat])), Some(12.5));
    }

    #[test]
    fn version_1_with_moov_after_a_large_size_mdat() {
        let ftyp = mp4_box(b"ftyp", b"mp42\0\0\0\0mp42");
        // mdat with a 64-bit size, as muxers write for files over 4 GiB.
        let mut mdat = vec![0, 0, 0, 1];
        mdat.extend_from_slice(b"mdat");
        mdat.extend_from_slice(&(16u64 + 50).to_be_bytes());
        mdat.extend_from_slice(&[0; 50]);
        let moov = mp4_box(
            b"moov",
            &[mp4_box(b"udta", &[1; 9]), mvhd_v1(90_000, 270_000)].concat(),
        );
        assert_eq!(parse(&file(&[ftyp, mdat, moov])), Some(3.0));
    }

    #[test]
    fn fragmented_file_takes_mehd_and_unknown_durations_give_none() {
        let mehd = mp4_box(b"mehd", &[0, 0, 0, 0, 0, 0, 0x0B, 0xB8]);
        let moov = mp4_box(
            b"moov",
            &[mvhd_v0(1000, 0), mp4_box(b"mvex", &mehd)].concat(),
        );
        assert_eq!(parse(&moov), Some(3.0));

        let without_mehd = mp4_box(b"moov", &[mvhd_v0(1000, 0), mp4_box(b"mvex", &[])].concat());
        assert_eq!(parse(&without_mehd), None);
        assert_eq!(parse(&mp4_box(b"moov", &mvhd_v0(1000, u32::MAX))), None);
        assert_eq!(parse(&mp4_box(b"moov", &mvhd_v0(0, 100))), None);
    }

    #[test]
    fn broken_structure_gives_none() {
        let ftyp = mp4_box(b"ftyp", b"isom\0\0\x02\0isom");
        assert_eq!(parse(&ftyp), None, "no moov");
        let mut moov = mp4_box(b"moov", &mvhd_v0(1000, 5000));
        moov.truncate(40);
        assert_eq!(parse(&file(&[ftyp.clone(), moov])), None, "truncated moov");
        let mut zero_size = vec![0, 0, 0, 4];
        zero_size.extend_from_slice(b"free");
        assert_eq!(
            parse(&file(&[ftyp, zero_size])),
            None,
            "box smaller than its header"
        );
        assert_eq!(parse(&[]), None);
    }
}
