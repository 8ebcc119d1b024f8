//! HTML-only mail turned into plain text, with `html2text` (html5ever's parser: scripts,
//! styles and comments dropped, entities decoded, block elements and `<br>` on their own
//! lines, `<blockquote>` content as `> ` lines, lists as `* ` items).
//!
//! Lines are never wrapped (the width is effectively unlimited), so that an attribution line
//! stays one line for [`crate::trim`]. Links keep their target: `the doc <https://…>`
//! (`mailto:` links and links whose text is their address show the text only). Emphasis is
//! not decorated. If html2text fails, mail-parser's own simpler converter is used.

use html2text::render::{TaggedLine, TextDecorator};

/// Wide enough that no line of a real email is wrapped.
const WIDTH: usize = 100_000;

pub(crate) fn to_text(html: &str) -> String {
    let rendered = html2text::config::with_decorator(MailDecorator::default())
        .no_table_borders()
        .link_footnotes(false)
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), WIDTH);
    let text = match rendered {
        Ok(text) => text,
        Err(_) => mail_parser::decoders::html::html_to_text(html),
    };
    tidy(&text)
}

/// Non-breaking spaces (from `&nbsp;`) become spaces, trailing spaces go, and a link whose
/// text is its own address (`https://x <https://x>`) keeps one copy.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.replace(['\u{a0}', '\u{202f}'], " ");
        out.push_str(&collapse_self_links(line.trim_end()));
        out.push('\n');
    }
    out
}

fn collapse_self_links(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find(" <") {
        let (before, after) = rest.split_at(start);
        let inner = &after[2..];
        match inner.find('>') {
            Some(end) if before.ends_with(&inner[..end]) && end > 0 => {
                out.push_str(before);
                rest = &inner[end + 1..];
            }
            _ => {
                out.push_str(before);
                out.push_str(" <");
                rest = inner;
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Clone, Debug, Default)]
struct MailDecorator {
    links: Vec<String>,
}

impl TextDecorator for MailDecorator {
    type Annotation = ();

    fn decorate_link_start(&mut self, url: &str) -> (String, Self::Annotation) {
        self.links.push(url.to_owned());
        (String::new(), ())
    }

    fn decorate_link_end(&mut self) -> String {
        match self.links.pop() {
            Some(url)
                if !url.is_empty()
                    && !url.starts_with('#')
                    && !url.to_ascii_lowercase().starts_with("mailto:") =>
            {
                format!(" <{url}>")
            }
            _ => String::new(),
        }
    }

    fn decorate_em_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_em_end(&self) -> String {
        String::new()
    }

    fn decorate_strong_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_strong_end(&self) -> String {
        String::new()
    }

    fn decorate_strikeout_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_strikeout_end(&self) -> String {
        String::new()
    }

    fn decorate_code_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_code_end(&self) -> String {
        String::new()
    }

    fn decorate_preformat_first(&self) -> Self::Annotation {}

    fn decorate_preformat_cont(&self) -> Self::Annotation {}

    fn decorate_image(&mut self, _src: &str, title: &str) -> (String, Self::Annotation) {
        // Images are mostly logos and tracking pixels: their alt text, if any, in brackets.
        if title.trim().is_empty() {
            (String::new(), ())
        } else {
            (format!("[{}]", title.trim()), ())
        }
    }

    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }

    fn quote_prefix(&self) -> String {
        "> ".to_owned()
    }

    fn unordered_item_prefix(&self) -> String {
        "* ".to_owned()
    }

    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }

    fn make_subblock_decorator(&self) -> Self {
        Self::default()
    }

    fn finalise(&mut self, _urls: Vec<String>) -> Vec<TaggedLine<Self::Annotation>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_breaks_entities_and_hidden_content() {
        let html = "<html><head><style>p { color: red }</style><title>t</title></head>\
            <body><p>Hello&nbsp;Ana &amp; team,</p><div>line one<br>line two</div>\
            <script>document.write('<b>no</b>')</script><!-- a comment -->\
            <p>caf&eacute; &#8364;5 &lt;ok&gt;</p></body></html>";
        assert_eq!(
            to_text(html),
            "Hello Ana & team,\n\nline one\nline two\n\ncafé €5 <ok>\n"
        );
    }

    #[test]
    fn blockquotes_become_quoted_lines() {
        let html = "<div>Yes.</div><blockquote><div>Can you?</div>\
            <blockquote>Nested</blockquote></blockquote><div>After</div>";
        assert_eq!(
            to_text(html),
            "Yes.\n\n> Can you?\n>\n> > Nested\n\nAfter\n"
        );
    }

    #[test]
    fn links_keep_their_target_unless_it_is_their_text() {
        let html = "<p>See <a href=\"https://docs.example/x\">the doc</a>, \
            <a href=\"https://a.example/\">https://a.example/</a> and \
            <a href=\"mailto:ana@x.example\">ana@x.example</a>.</p>";
        assert_eq!(
            to_text(html),
            "See the doc <https://docs.example/x>, https://a.example/ and ana@x.example.\n"
        );
    }

    #[test]
    fn long_lines_are_not_wrapped() {
        let long = "word ".repeat(100);
        let text = to_text(&format!("<p>{long}</p>"));
        assert_eq!(text, format!("{}\n", long.trim_end()));
    }

    #[test]
    fn collapse_keeps_other_angle_brackets() {
        assert_eq!(collapse_self_links("a <b> c"), "a <b> c");
        assert_eq!(collapse_self_links("x <x> y <z"), "x y <z");
        assert_eq!(collapse_self_links("Ana <ana@x>"), "Ana <ana@x>");
    }
}
