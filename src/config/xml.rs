//! A small XML element tree with spans, read with quick-xml.
//!
//! web.config is tiny, so a tree is simpler to walk than the event stream, and every element
//! and attribute keeps the byte span of its name and value for diagnostics. This module
//! knows nothing about IIS: it only turns text into [`Element`]s or one syntax
//! [`Diagnostic`] pointing at the offending markup. Text content, comments, processing
//! instructions and the XML declaration are dropped (no IIS section iisn reads uses text);
//! a declaration anywhere but at the very start is an error, as XML requires.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::config::source::{SourceId, Span, offset_in};
use crate::diag::{Diagnostic, codes};

/// One attribute, its value unescaped (`&quot;` → `"`) and normalised as XML requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub name_span: Span,
    pub value: String,
    /// The span of the value between the quotes.
    pub value_span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    /// The span of the element name in its start tag.
    pub name_span: Span,
    pub attributes: Vec<Attribute>,
    pub children: Vec<Element>,
    /// Where the first text (or CDATA) directly inside the element starts, if it has any
    /// besides whitespace: no IIS section has text content, so it is a mistake (often an
    /// element that lost its `<`).
    pub text: Option<Span>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The span covering `<name`: where diagnostics about the whole element point.
    pub fn span(&self) -> Span {
        self.name_span
    }
}

/// Deepest nesting accepted; deeper input is reported instead of exhausting the stack.
const MAX_DEPTH: usize = 256;

/// Parse a whole document and return its root element.
pub fn parse(source: SourceId, text: &str) -> Result<Element, Diagnostic> {
    // quick-xml would treat a BOM as text before the root; skip it and keep offsets right.
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let body = &text[bom..];
    let mut reader = Reader::from_str(body);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    config.trim_text(true);

    let error_at = |pos: u64, msg: String, help: &str| {
        let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(body.len());
        Diagnostic::new(&codes::XML_SYNTAX, msg)
            .at(Span::point(source, pos + bom))
            .help(help.to_string())
    };

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let before = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(err) => {
                return Err(error_at(
                    reader.error_position(),
                    format!("malformed XML: {err}"),
                    help_for(&err),
                ));
            }
        };
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() && stack.is_empty() => {
                let qname = start.name();
                let name: &str = qname.as_ref();
                let at = offset_in(body, name).map_or(before, |o| o.saturating_sub(1) as u64);
                return Err(error_at(
                    at,
                    format!("a second root element <{name}> after </configuration>"),
                    "An XML document has exactly one root element; move this element inside it.",
                ));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(error_at(
                        before,
                        format!("elements nested deeper than {MAX_DEPTH} levels"),
                        "No IIS configuration nests this deep; look for unclosed tags.",
                    ));
                }
                stack.push(element(&start, body, source, bom)?);
            }
            Event::Empty(start) => {
                let el = element(&start, body, source, bom)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                // check_end_names guarantees this matches the innermost open element.
                if let Some(done) = stack.pop() {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => root = Some(done),
                    }
                }
            }
            Event::Text(_) | Event::CData(_) | Event::GeneralRef(_)
                if stack.last().is_some_and(|e| e.text.is_none())
                    && !matches!(&event, Event::Text(t) if t.as_ref().trim_ascii().is_empty()) =>
            {
                let start = usize::try_from(before)
                    .unwrap_or(usize::MAX)
                    .min(body.len());
                let rest = &body[start..];
                let lead = rest.len() - rest.trim_start().len();
                if lead < rest.len()
                    && let Some(open) = stack.last_mut()
                {
                    let at = start + lead + bom;
                    let len = rest[lead..].find(['\n', '<']).unwrap_or(rest.len() - lead);
                    open.text = Some(Span::new(source, at, at + len.max(1)));
                }
            }
            Event::Text(t) if stack.is_empty() && !t.as_ref().trim_ascii().is_empty() => {
                return Err(error_at(
                    before,
                    "text outside the root element".into(),
                    "Only comments and whitespace may stand outside <configuration>.",
                ));
            }
            // XML allows the declaration only as the very first thing in the file (after a
            // byte order mark): not after whitespace, a comment or the root. IIS's parser
            // rejects such a file like any conforming one (500.19, not well-formed XML).
            Event::Decl(_) if before != 0 || !body.starts_with("<?xml") => {
                let at = body
                    .get(usize::try_from(before).unwrap_or(usize::MAX)..)
                    .and_then(|rest| rest.find("<?xml"))
                    .map_or(before, |o| before + o as u64);
                return Err(error_at(
                    at,
                    "malformed XML: the XML declaration `<?xml ...?>` is not at the very start of the file".into(),
                    "Move `<?xml version=\"1.0\" encoding=\"utf-8\"?>` to the first line, first column (nothing before it, not even spaces), or delete it: it is optional.",
                ));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(Diagnostic::new(
            &codes::XML_SYNTAX,
            format!("malformed XML: <{}> is never closed", open.name),
        )
        .at(open.name_span)
        .help(format!(
            "Add </{}> at the right place, or write the element as <{} ... />.",
            open.name, open.name
        )));
    }
    root.ok_or_else(|| {
        Diagnostic::new(&codes::XML_SYNTAX, "the file has no root element")
            .at(Span::point(source, 0))
            .help("A web.config holds one <configuration> element with the sections inside it.")
    })
}

fn element(
    start: &BytesStart<'_>,
    body: &str,
    source: SourceId,
    bom: usize,
) -> Result<Element, Diagnostic> {
    let span_of = |part: &str, fallback: usize| -> Span {
        let start = offset_in(body, part).unwrap_or(fallback) + bom;
        Span::new(source, start, start + part.len())
    };
    let raw_name = start.name();
    let name: &str = raw_name.as_ref();
    let name_span = span_of(name, 0);
    let tag_start = offset_in(body, name).unwrap_or(0);
    let mut attributes = Vec::new();
    for attr in start.attributes() {
        let attr = match attr {
            Ok(a) => a,
            Err(e) => {
                use quick_xml::events::attributes::AttrError;
                let (pos, msg, help) = match &e {
                    AttrError::Duplicated(pos, _) => (
                        *pos,
                        format!("malformed XML: duplicate attribute in <{name}>"),
                        "An attribute may appear once per element; delete one of them.",
                    ),
                    AttrError::ExpectedEq(pos) | AttrError::ExpectedValue(pos) => (
                        *pos,
                        format!("malformed XML: {e}"),
                        "Attributes are written name=\"value\".",
                    ),
                    AttrError::UnquotedValue(pos) | AttrError::ExpectedQuote(pos, _) => (
                        *pos,
                        format!("malformed XML: {e}"),
                        "Put attribute values in double or single quotes.",
                    ),
                };
                // Attribute error positions are relative to the start of the tag's name.
                let at = (tag_start + pos).min(body.len()) + bom;
                return Err(Diagnostic::new(&codes::XML_SYNTAX, msg)
                    .at(Span::point(source, at))
                    .help(help));
            }
        };
        let key: &str = attr.key.as_ref();
        let raw_value: &str = &attr.value;
        let value = match attr.normalized_value(XmlVersion::Implicit1_0) {
            Ok(v) => v.into_owned(),
            Err(e) => {
                let span = span_of(raw_value, tag_start);
                return Err(Diagnostic::new(
                    &codes::XML_SYNTAX,
                    format!("malformed XML in the value of {key}: {e}"),
                )
                .at(span)
                .help("Write `&` as `&amp;`, `<` as `&lt;` and `\"` inside a value as `&quot;`."));
            }
        };
        attributes.push(Attribute {
            name: key.to_string(),
            name_span: span_of(key, tag_start),
            value,
            value_span: span_of(raw_value, tag_start),
        });
    }
    Ok(Element {
        name: name.to_string(),
        name_span,
        attributes,
        children: Vec::new(),
        text: None,
    })
}

fn help_for(err: &quick_xml::Error) -> &'static str {
    use quick_xml::Error as E;
    use quick_xml::errors::{IllFormedError, SyntaxError};
    match err {
        E::IllFormed(IllFormedError::MismatchedEndTag { .. }) => {
            "The end tag does not match the element it closes; check the nesting above this line."
        }
        E::IllFormed(IllFormedError::UnmatchedEndTag(_)) => {
            "This end tag closes an element that was never opened; delete it or add the start tag."
        }
        E::IllFormed(IllFormedError::MissingEndTag(_)) => {
            "An element is never closed; add its end tag."
        }
        E::Syntax(SyntaxError::UnclosedTag) => "A tag is missing its closing `>`.",
        E::Syntax(SyntaxError::UnclosedComment) => "A comment is missing its closing `-->`.",
        E::Syntax(
            SyntaxError::UnclosedDoubleQuotedAttributeValue
            | SyntaxError::UnclosedSingleQuotedAttributeValue,
        ) => "An attribute value is missing its closing quote.",
        E::Escape(_) => "Write `&` as `&amp;` and `<` as `&lt;`.",
        _ => "Fix the markup at this position; the file must be well-formed XML.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::SourceFile;

    fn lc(text: &str, d: &Diagnostic) -> (u32, u32) {
        let f = SourceFile::new("t".into(), text.to_string());
        let p = f.line_col(d.primary.expect("span").start);
        (p.line, p.column)
    }

    #[test]
    fn builds_a_tree_with_spans() {
        let text = "<?xml version=\"1.0\"?>\n<configuration>\n  <system.webServer>\n    <iisnode node_env=\"&quot;prod&quot;\" />\n  </system.webServer>\n</configuration>\n";
        let root = parse(SourceId(0), text).expect("parses");
        assert_eq!(root.name, "configuration");
        let ws = &root.children[0];
        assert_eq!(ws.name, "system.webServer");
        let iisnode = &ws.children[0];
        let a = iisnode.attr("node_env").expect("attr");
        assert_eq!(a.value, "\"prod\"");
        let f = SourceFile::new("t".into(), text.into());
        assert_eq!(f.line_col(a.name_span.start).line, 4);
        assert_eq!(f.line_col(a.name_span.start).column, 14);
        assert_eq!(
            &text[a.value_span.start as usize..a.value_span.end as usize],
            "&quot;prod&quot;"
        );
        assert_eq!(f.line_col(iisnode.name_span.start).column, 6);
    }

    #[test]
    fn bom_keeps_offsets() {
        let text = "\u{feff}<configuration a=\"1\"/>";
        let root = parse(SourceId(0), text).expect("parses");
        let a = root.attr("a").expect("a");
        assert_eq!(
            &text[a.value_span.start as usize..a.value_span.end as usize],
            "1"
        );
    }

    #[test]
    fn the_declaration_only_at_the_very_start() {
        for ok in [
            "<?xml version=\"1.0\"?><configuration/>",
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration/>",
            "<configuration/>",
        ] {
            parse(SourceId(0), ok).unwrap_or_else(|d| panic!("{ok:?}: {}", d.message));
        }
        for (bad, at) in [
            ("  <?xml version=\"1.0\"?>\n<configuration/>", (1, 3)),
            (
                "<!-- c -->\n<?xml version=\"1.0\"?><configuration/>",
                (2, 1),
            ),
            ("<configuration/>\n<?xml version=\"1.0\"?>", (2, 1)),
        ] {
            let d = parse(SourceId(0), bad).expect_err(bad);
            assert!(d.message.contains("declaration"), "{bad:?}: {}", d.message);
            assert_eq!(lc(bad, &d), at, "{bad:?}");
        }
    }

    #[test]
    fn text_inside_an_element_is_noted_with_its_place() {
        let text = "<configuration>\n  <!-- c -->\n  <a>\n    add name=\"x\"/>\n  </a>\n  <b> <![CDATA[y]]></b>\n  <c>&amp;</c>\n</configuration>";
        let root = parse(SourceId(0), text).expect("parses");
        assert_eq!(root.text, None, "whitespace and comments are no text");
        let a = &root.children[0];
        let span = a.text.expect("text");
        assert_eq!(
            lc(text, &Diagnostic::new(&codes::XML_SYNTAX, "").at(span)),
            (4, 5)
        );
        assert_eq!(
            &text[span.start as usize..span.end as usize],
            "add name=\"x\"/>"
        );
        assert!(root.children[1].text.is_some(), "CDATA");
        assert!(root.children[2].text.is_some(), "an entity");
    }

    #[test]
    fn mismatched_end_tag_points_at_it() {
        let text = "<configuration>\n  <a>\n  </b>\n</configuration>";
        let d = parse(SourceId(0), text).expect_err("error");
        assert_eq!(d.lint.code, "IISN0001");
        assert_eq!(lc(text, &d), (3, 3));
    }

    #[test]
    fn unclosed_element_points_at_its_start() {
        let text = "<configuration>\n  <system.webServer>\n";
        let d = parse(SourceId(0), text).expect_err("error");
        assert!(d.message.contains("never closed"), "{}", d.message);
        let (line, _) = lc(text, &d);
        assert!(line == 2 || line == 3, "line {line}");
    }

    #[test]
    fn duplicate_attribute_points_at_the_second() {
        let text = "<configuration>\n<iisnode a=\"1\" a=\"2\"/>\n</configuration>";
        let d = parse(SourceId(0), text).expect_err("error");
        assert!(d.message.contains("duplicate attribute"), "{}", d.message);
        assert_eq!(lc(text, &d), (2, 16));
    }

    #[test]
    fn bad_entity_and_second_root() {
        let text = "<configuration>\n<a b=\"x & y\"/>\n</configuration>";
        let d = parse(SourceId(0), text).expect_err("error");
        assert_eq!(lc(text, &d).0, 2);
        let text = "<configuration/>\n<configuration/>";
        let d = parse(SourceId(0), text).expect_err("error");
        assert_eq!(lc(text, &d), (2, 1));
        assert!(parse(SourceId(0), "").is_err());
        assert!(parse(SourceId(0), "   <!-- only a comment -->").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_spans_are_in_bounds(text in "[<>/=\"'a-c &;!?\\-\n\u{e9}\u{feff}]{0,80}") {
            match parse(SourceId(0), &text) {
                Ok(root) => {
                    fn walk(e: &Element, len: usize) {
                        assert!(e.name_span.end as usize <= len);
                        for a in &e.attributes {
                            assert!(a.value_span.end as usize <= len);
                        }
                        for c in &e.children { walk(c, len); }
                    }
                    walk(&root, text.len());
                }
                Err(d) => {
                    let s = d.primary.expect("syntax errors carry a span");
                    proptest::prop_assert!(s.end as usize <= text.len());
                }
            }
        }

        #[test]
        fn mutated_web_config_never_panics(cut in 0usize..400, ins in "[<>\"&/ ]{0,3}") {
            let base = include_str!("../../examples/configuration/web.config");
            let mut s: String = base.chars().take(cut).collect();
            s.push_str(&ins);
            s.extend(base.chars().skip(cut));
            let _ = parse(SourceId(0), &s);
        }
    }
}
