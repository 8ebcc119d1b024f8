//! A large message read without holding it: its *outline*.
//!
//! A reply carrying a 50 MiB recording is 68 MiB as sent (base64). Parsing it whole keeps
//! the raw bytes and mail-parser's decoded copy alive together; instead the caller spools
//! the message to a file and feeds its bytes, in order, to an [`OutlineBuilder`], which
//! writes a *skeleton*: the message with every large binary base64 body cut down to its first
//! [`PREFIX_CHARS`] characters (enough for the recording check to sniff the type), and
//! notes where each cut body lies in the spooled bytes ([`LargePart`]) and how many bytes
//! it decodes to. The skeleton is then read like any message
//! ([`crate::parse::InboundMessage::parse_outline`]); an attachment whose body was cut says
//! so ([`crate::parse::Attachment::spooled`]), and the caller decodes it from the file with
//! [`Base64Decoder`], a chunk at a time, straight into the recording store.
//!
//! The scan knows just enough MIME for that: header fields (folded), `Content-Type` with its
//! `boundary`, `Content-Transfer-Encoding`, and delimiter lines of every open multipart
//! (RFC 2046). Everything else is copied as it is, so mail-parser sees the same structure.
//! No I/O here: bytes in, skeleton out.

/// Base64 characters of a cut body kept in the skeleton (6,144 decoded bytes: the recording
/// check sniffs 4,096).
pub const PREFIX_CHARS: usize = 8192;

/// A base64 body longer than this (as sent) is cut; shorter ones stay whole.
pub const CUT_ABOVE: usize = 256 * 1024;

/// A line longer than this is handled in pieces (a message without line breaks).
const MAX_LINE: usize = 64 * 1024;

/// A base64 body left out of the skeleton.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LargePart {
    /// Where its (cut) body starts in the skeleton: the part mail-parser finds there.
    pub skeleton_body: usize,
    /// Its encoded body in the spooled message: `start..end`.
    pub start: u64,
    pub end: u64,
    /// The bytes it decodes to.
    pub decoded_len: u64,
}

/// A message as the builder read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outline {
    /// The message with its large base64 bodies cut.
    pub skeleton: Vec<u8>,
    pub large_parts: Vec<LargePart>,
    /// The bytes fed.
    pub len: u64,
}

impl Outline {
    /// The large part whose body starts at `offset` of the skeleton.
    pub fn large_part_at(&self, offset: usize) -> Option<&LargePart> {
        self.large_parts.iter().find(|p| p.skeleton_body == offset)
    }
}

#[derive(Debug)]
enum State {
    /// Reading a part's header fields (the message's own first).
    Headers { fields: Vec<u8> },
    /// A body copied as it is (a multipart's preamble or epilogue, a text part, …).
    Verbatim,
    /// A base64 body: held until it proves large, then counted.
    Base64(Base64Body),
}

#[derive(Debug)]
struct Base64Body {
    /// Where the body starts in the spooled message.
    start: u64,
    /// The body as sent, while it is small enough to keep whole.
    held: Vec<u8>,
    /// Once cut: where it starts in the skeleton.
    cut_at: Option<usize>,
    /// Base64 characters seen (padding and line breaks left out).
    chars: u64,
}

/// Reads a message fed in pieces of any size, in order.
#[derive(Debug)]
pub struct OutlineBuilder {
    skeleton: Vec<u8>,
    large_parts: Vec<LargePart>,
    /// Open multiparts' delimiters, `--boundary`, innermost last.
    delimiters: Vec<Vec<u8>>,
    state: State,
    /// The unfinished line of the last piece.
    line: Vec<u8>,
    /// The offset of `line`'s first byte in the message.
    line_start: u64,
    fed: u64,
}

impl Default for OutlineBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl OutlineBuilder {
    pub fn new() -> Self {
        OutlineBuilder {
            skeleton: Vec::new(),
            large_parts: Vec::new(),
            delimiters: Vec::new(),
            state: State::Headers { fields: Vec::new() },
            line: Vec::new(),
            line_start: 0,
            fed: 0,
        }
    }

    /// Feeds the next bytes of the message.
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.fed += bytes.len() as u64;
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(at) => {
                    self.line.extend_from_slice(&bytes[..=at]);
                    bytes = &bytes[at + 1..];
                    self.end_line();
                }
                None => {
                    self.line.extend_from_slice(bytes);
                    bytes = &[];
                    if self.line.len() > MAX_LINE {
                        self.end_line();
                    }
                }
            }
        }
    }

    /// The outline of everything fed.
    pub fn finish(mut self) -> Outline {
        if !self.line.is_empty() {
            self.end_line();
        }
        let end = self.fed;
        self.close_body(end);
        Outline {
            skeleton: self.skeleton,
            large_parts: self.large_parts,
            len: self.fed,
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let start = self.line_start;
        self.line_start += line.len() as u64;
        self.take_line(&line, start);
        // Keep the allocation for the next line.
        self.line = line;
        self.line.clear();
    }

    fn take_line(&mut self, line: &[u8], start: u64) {
        if let State::Headers { fields } = &mut self.state {
            self.skeleton.extend_from_slice(line);
            if is_blank(line) {
                let fields = std::mem::take(fields);
                self.start_body(&fields, start + line.len() as u64);
            } else {
                fields.extend_from_slice(line);
            }
            return;
        }
        if let Some((depth, closing)) = self.delimiter(line) {
            self.close_body(start);
            self.skeleton.extend_from_slice(line);
            if closing {
                // The epilogue belongs to the enclosing multipart's body.
                self.delimiters.truncate(depth);
                self.state = State::Verbatim;
            } else {
                self.delimiters.truncate(depth + 1);
                self.state = State::Headers { fields: Vec::new() };
            }
            return;
        }
        match &mut self.state {
            State::Headers { .. } => {}
            State::Verbatim => self.skeleton.extend_from_slice(line),
            State::Base64(body) => {
                body.chars += line.iter().filter(|&&b| base64_value(b).is_some()).count() as u64;
                if body.cut_at.is_none() {
                    body.held.extend_from_slice(line);
                    if body.held.len() > CUT_ABOVE {
                        let cut_at = self.skeleton.len();
                        let kept: Vec<u8> = body
                            .held
                            .iter()
                            .copied()
                            .filter(|&b| base64_value(b).is_some())
                            .take(PREFIX_CHARS)
                            .collect();
                        let kept = &kept[..kept.len() - kept.len() % 4];
                        for chunk in kept.chunks(76) {
                            self.skeleton.extend_from_slice(chunk);
                            self.skeleton.extend_from_slice(b"\r\n");
                        }
                        body.held = Vec::new();
                        body.cut_at = Some(cut_at);
                    }
                }
            }
        }
    }

    /// The body after a header block: its kind from the block's fields.
    fn start_body(&mut self, fields: &[u8], start: u64) {
        let fields = header_fields(fields);
        let content_type = fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.as_str())
            .unwrap_or_default();
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let encoding = fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-transfer-encoding"))
            .map(|(_, value)| value.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media_type.starts_with("multipart/")
            && let Some(boundary) = parameter(content_type, "boundary")
            && !boundary.is_empty()
        {
            let mut delimiter = b"--".to_vec();
            delimiter.extend_from_slice(boundary.as_bytes());
            self.delimiters.push(delimiter);
            self.state = State::Verbatim;
        } else if encoding == "base64"
            && !media_type.is_empty()
            && !media_type.starts_with("message/")
            && !media_type.starts_with("text/")
        {
            // Only binary bodies are cut: a text body (even a long HTML one) is read whole,
            // since it may be the message's text.
            self.state = State::Base64(Base64Body {
                start,
                held: Vec::new(),
                cut_at: None,
                chars: 0,
            });
        } else {
            self.state = State::Verbatim;
        }
    }

    /// Ends the current body at `end` (the start of the delimiter line, or of nothing).
    fn close_body(&mut self, end: u64) {
        match std::mem::replace(&mut self.state, State::Verbatim) {
            State::Base64(body) => match body.cut_at {
                None => self.skeleton.extend_from_slice(&body.held),
                Some(cut_at) => self.large_parts.push(LargePart {
                    skeleton_body: cut_at,
                    start: body.start,
                    end,
                    decoded_len: decoded_len(body.chars),
                }),
            },
            State::Headers { .. } | State::Verbatim => {}
        }
    }

    /// Whether `line` is the delimiter of an open multipart: its depth in the stack and
    /// whether it closes it (`--boundary--`).
    fn delimiter(&self, line: &[u8]) -> Option<(usize, bool)> {
        if !line.starts_with(b"--") {
            return None;
        }
        let line = trim_end(line);
        self.delimiters
            .iter()
            .enumerate()
            .rev()
            .find_map(|(depth, delimiter)| {
                let rest = line.strip_prefix(delimiter.as_slice())?;
                match trim_end(rest) {
                    b"" => Some((depth, false)),
                    b"--" => Some((depth, true)),
                    _ => None,
                }
            })
    }
}

fn is_blank(line: &[u8]) -> bool {
    matches!(line, b"\n" | b"\r\n")
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |at| at + 1);
    &bytes[..end]
}

/// Header fields `(name, unfolded value)` of a header block.
fn header_fields(block: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(block);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

/// A parameter of a structured header value, such as `boundary` (quoted or not).
fn parameter(value: &str, name: &str) -> Option<String> {
    let mut rest = value;
    while let Some(at) = rest.find(';') {
        rest = &rest[at + 1..];
        let (key, tail) = rest.split_once('=')?;
        let tail = tail.trim_start();
        let (found, after) = if let Some(quoted) = tail.strip_prefix('"') {
            let close = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..close], &quoted[close..])
        } else {
            let end = tail.find(';').unwrap_or(tail.len());
            (tail[..end].trim(), &tail[end..])
        };
        if key.trim().eq_ignore_ascii_case(name) {
            return Some(found.to_owned());
        }
        rest = after;
    }
    None
}

fn base64_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// The bytes `chars` base64 characters decode to (a lone last character decodes to none).
fn decoded_len(chars: u64) -> u64 {
    chars / 4 * 3 + [0, 0, 1, 2][(chars % 4) as usize]
}

/// Decodes base64 fed in pieces of any size: line breaks, padding and anything outside the
/// alphabet are skipped, as mail readers do.
#[derive(Clone, Debug, Default)]
pub struct Base64Decoder {
    quad: u32,
    held: u8,
}

impl Base64Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `input` onto `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() / 4 * 3 + 3);
        for &byte in input {
            let Some(value) = base64_value(byte) else {
                continue;
            };
            self.quad = (self.quad << 6) | u32::from(value);
            self.held += 1;
            if self.held == 4 {
                out.extend_from_slice(&self.quad.to_be_bytes()[1..]);
                self.quad = 0;
                self.held = 0;
            }
        }
    }

    /// The last bytes, from an unfinished group (2 or 3 characters).
    pub fn finish(self, out: &mut Vec<u8>) {
        match self.held {
            2 => out.push((self.quad >> 4) as u8),
            3 => {
                let bytes = ((self.quad >> 2) as u16).to_be_bytes();
                out.extend_from_slice(&bytes);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn outline_of(raw: &[u8], piece: usize) -> Outline {
        let mut builder = OutlineBuilder::new();
        for chunk in raw.chunks(piece.max(1)) {
            builder.push(chunk);
        }
        builder.finish()
    }

    fn base64_lines(bytes: &[u8]) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut out = String::new();
        for chunk in encoded.as_bytes().chunks(76) {
            out.push_str(std::str::from_utf8(chunk).expect("ascii"));
            out.push_str("\r\n");
        }
        out
    }

    fn with_attachment(data: &[u8]) -> Vec<u8> {
        format!(
            "From: a@example.com\r\nTo: b@example.com\r\nSubject: demo\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed;\r\n boundary=\"outer\"\r\n\r\npreamble\r\n\
             --outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n\
             --inner\r\nContent-Type: text/plain\r\n\r\nHello\r\n--inner\r\n\
             Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
             --inner--\r\n\r\n--outer\r\nContent-Type: video/mp4; name=demo.mp4\r\n\
             Content-Transfer-Encoding: BASE64\r\n\r\n{}--outer--\r\nepilogue\r\n",
            base64_lines(b"<p>Hello</p>"),
            base64_lines(data),
        )
        .into_bytes()
    }

    #[test]
    fn a_large_base64_body_is_cut_and_located() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let raw = with_attachment(&data);
        for piece in [1, 7, 4096, raw.len()] {
            let outline = outline_of(&raw, piece);
            assert_eq!(outline.len, raw.len() as u64);
            assert_eq!(outline.large_parts.len(), 1, "piece {piece}");
            let part = outline.large_parts[0];
            assert_eq!(part.decoded_len, data.len() as u64);
            // Decoding the located bytes gives the attachment back.
            let mut decoder = Base64Decoder::new();
            let mut decoded = Vec::new();
            for chunk in raw[part.start as usize..part.end as usize].chunks(1000) {
                decoder.push(chunk, &mut decoded);
            }
            decoder.finish(&mut decoded);
            assert!(decoded == data, "piece {piece}");
            assert!(
                outline.skeleton.len() < 12 * 1024,
                "{}",
                outline.skeleton.len()
            );
            // The skeleton keeps everything else as it was.
            let skeleton = String::from_utf8_lossy(&outline.skeleton);
            assert!(skeleton.contains("preamble\r\n--outer\r\n"));
            assert!(skeleton.contains(&base64_lines(b"<p>Hello</p>")));
            assert!(skeleton.ends_with("--outer--\r\nepilogue\r\n"));
            assert!(skeleton[part.skeleton_body..].starts_with(&base64_lines(&data[..6144])));
        }
    }

    #[test]
    fn the_skeleton_reads_as_the_whole_message_would() {
        use crate::parse::InboundMessage;
        use crate::recording::{RecordingType, check_recording};
        let mut data = vec![0, 0, 0, 0x18];
        data.extend_from_slice(b"ftypisom\0\0\x02\0isommp41");
        data.resize(2_000_000, 7);
        let raw = with_attachment(&data);
        let whole = InboundMessage::parse(&raw).expect("whole");
        let outline = outline_of(&raw, 65536);
        let read = InboundMessage::parse_outline(&outline).expect("outline");
        assert_eq!(read.text, whole.text);
        assert_eq!(read.subject, whole.subject);
        assert_eq!(read.attachments.len(), whole.attachments.len());
        let (cut, full) = (&read.attachments[0], &whole.attachments[0]);
        assert_eq!(cut.size(), full.size());
        assert_eq!(cut.file_name.as_deref(), Some("demo.mp4"));
        assert_eq!(cut.content_type, "video/mp4");
        assert_eq!(cut.spooled, Some(outline.large_parts[0]));
        assert!(full.spooled.is_none());
        assert_eq!(cut.bytes[..], data[..6144]);
        assert_eq!(check_recording(cut, 1 << 30), Ok(RecordingType::Mp4));
        assert_eq!(
            check_recording(cut, 1 << 20).map_err(|e| e.slug()),
            Err("too-large")
        );
        // A cut body mail-parser does not find where it was noted is never taken as whole.
        let mut lost = outline.clone();
        lost.large_parts[0].skeleton_body += 1;
        assert_eq!(
            InboundMessage::parse_outline(&lost).err(),
            Some(crate::parse::ParseError::LargePartLost)
        );
    }

    #[test]
    fn small_messages_are_kept_as_they_are() {
        let raw = with_attachment(b"a small clip");
        let outline = outline_of(&raw, 13);
        assert!(outline.large_parts.is_empty());
        assert_eq!(outline.skeleton, raw);
        let plain = b"From: a@example.com\nSubject: hi\n\nno MIME at all\n-- \nsig";
        assert_eq!(outline_of(plain, 3).skeleton, plain);
        // A long text body in base64 is the message's text: never cut.
        let html = format!(
            "From: a@example.com\r\nContent-Type: text/html\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}",
            base64_lines("<p>long</p>".repeat(40_000).as_bytes())
        )
        .into_bytes();
        let outline = outline_of(&html, 4096);
        assert!(outline.large_parts.is_empty());
        assert_eq!(outline.skeleton, html);
    }

    #[test]
    fn a_whole_message_in_base64_and_odd_lengths() {
        for len in [300_000usize, 300_001, 300_002] {
            let data: Vec<u8> = (0..len).map(|i| (i % 256) as u8).collect();
            let raw = format!(
                "From: a@example.com\nContent-Type: video/webm\nContent-Transfer-Encoding: base64\n\n{}",
                base64_lines(&data).replace("\r\n", "\n")
            )
            .into_bytes();
            let outline = outline_of(&raw, 999);
            let part = outline.large_parts[0];
            assert_eq!(part.decoded_len, len as u64);
            assert_eq!(part.end, raw.len() as u64);
            let mut decoder = Base64Decoder::new();
            let mut decoded = Vec::new();
            decoder.push(&raw[part.start as usize..], &mut decoded);
            decoder.finish(&mut decoded);
            assert!(decoded == data, "length {len}");
        }
    }

    #[test]
    fn boundaries_need_their_own_line_and_parameters_parse() {
        assert_eq!(
            parameter("multipart/mixed; charset=x; boundary=\"a;b\"", "boundary"),
            Some("a;b".to_owned())
        );
        assert_eq!(
            parameter("multipart/mixed;BOUNDARY=abc ; x=y", "boundary"),
            Some("abc".to_owned())
        );
        assert_eq!(parameter("text/plain", "boundary"), None);
        let mut builder = OutlineBuilder::new();
        builder.delimiters.push(b"--abc".to_vec());
        assert_eq!(builder.delimiter(b"--abc\r\n"), Some((0, false)));
        assert_eq!(builder.delimiter(b"--abc--  \r\n"), Some((0, true)));
        assert_eq!(builder.delimiter(b"--abcd\r\n"), None);
        assert_eq!(builder.delimiter(b" --abc\r\n"), None);
    }
}
