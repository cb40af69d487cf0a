//! The few XML element shapes the Atom and RSS feeds write, over quick-xml's writer.

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

pub(crate) fn xml_err(e: impl std::fmt::Display) -> String {
    format!("writing XML: {e}")
}

/// Text without what XML 1.0 cannot carry even escaped (`dav::xml::xml_chars`), and without CR.
pub(crate) fn xml_text(s: &str) -> String {
    crate::dav::xml::xml_chars(s).replace('\r', "")
}

/// Attributes whose values went through [`xml_text`].
fn clean_attrs(attrs: &[(&str, &str)]) -> Vec<(String, String)> {
    attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), xml_text(v)))
        .collect()
}

/// An indented XML document being written.
pub(crate) struct Xml {
    pub(crate) w: Writer<Vec<u8>>,
}

impl Xml {
    pub(crate) fn new() -> Self {
        Self {
            w: Writer::new_with_indent(Vec::new(), b' ', 1),
        }
    }

    pub(crate) fn start(&mut self, el: BytesStart<'_>) -> Result<(), String> {
        self.w.write_event(Event::Start(el)).map_err(xml_err)
    }

    pub(crate) fn end(&mut self, name: &str) -> Result<(), String> {
        self.w
            .write_event(Event::End(BytesEnd::new(name)))
            .map_err(xml_err)
    }

    /// `<name attrs>text</name>`.
    pub(crate) fn text_with(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        text: &str,
    ) -> Result<(), String> {
        let attrs = clean_attrs(attrs);
        self.w
            .create_element(name)
            .with_attributes(attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .write_text_content(BytesText::new(&xml_text(text)))
            .map(|_| ())
            .map_err(xml_err)
    }

    /// `<name>text</name>`.
    pub(crate) fn text(&mut self, name: &str, text: &str) -> Result<(), String> {
        self.text_with(name, &[], text)
    }

    /// `<name attrs/>`.
    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), String> {
        let attrs = clean_attrs(attrs);
        self.w
            .create_element(name)
            .with_attributes(attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .write_empty()
            .map(|_| ())
            .map_err(xml_err)
    }

    pub(crate) fn finish(self) -> Result<String, String> {
        String::from_utf8(self.w.into_inner()).map_err(xml_err)
    }
}
