//! [`ConfigDocument`]: a whole `config.xml` as a lossless tree, with
//! section-level access for the XMLRPC sync code.

use super::xml::{self, Element, XmlError};

/// Root element names accepted by [`ConfigDocument`].
pub const ROOT_NAMES: &[&str] = &["pfsense", "opnsense"];

/// A parsed `config.xml`. This tree is the source of truth for writing the file
/// back: everything in it, understood or not, is written out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDocument {
    root: Element,
}

impl ConfigDocument {
    /// Parses a `config.xml`.
    ///
    /// # Errors
    /// Any [`XmlError`] from [`xml::parse`], or [`XmlError::WrongRoot`] when the
    /// root is neither `<pfsense>` nor `<opnsense>`.
    pub fn parse(bytes: &[u8]) -> Result<Self, XmlError> {
        Self::from_root(xml::parse(bytes)?)
    }

    /// Wraps an existing tree.
    ///
    /// # Errors
    /// [`XmlError::WrongRoot`] when the root is neither `<pfsense>` nor
    /// `<opnsense>`.
    pub fn from_root(root: Element) -> Result<Self, XmlError> {
        if ROOT_NAMES.contains(&root.name()) {
            Ok(Self { root })
        } else {
            Err(XmlError::WrongRoot {
                found: root.name().to_owned(),
            })
        }
    }

    /// Serialises the document in pfSense's style (see [`xml::write_document`]).
    #[must_use]
    pub fn to_xml(&self) -> String {
        xml::write_document(&self.root)
    }

    /// The root element.
    #[must_use]
    pub fn root(&self) -> &Element {
        &self.root
    }

    /// The root element, mutably (for edits below section level).
    pub fn root_mut(&mut self) -> &mut Element {
        &mut self.root
    }

    /// Consumes the document, returning its root element.
    #[must_use]
    pub fn into_root(self) -> Element {
        self.root
    }

    /// `pfsense` or `opnsense`.
    #[must_use]
    pub fn root_name(&self) -> &str {
        self.root.name()
    }

    /// The config version (`<version>`), e.g. `23.3`.
    #[must_use]
    pub fn version(&self) -> Option<&str> {
        self.root.child_text("version")
    }

    /// The first top-level section called `name` (e.g. `filter`).
    #[must_use]
    pub fn section(&self, name: &str) -> Option<&Element> {
        self.root.child(name)
    }

    /// The first top-level section called `name`, mutably.
    pub fn section_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.root.child_mut(name)
    }

    /// All top-level sections in document order.
    #[must_use]
    pub fn sections(&self) -> &[Element] {
        self.root.children()
    }

    /// Replaces the top-level section with the same name as `section`, keeping
    /// its position (any duplicates of it are removed), or appends it when the
    /// document has none. Returns the section that was replaced.
    pub fn replace_section(&mut self, section: Element) -> Option<Element> {
        self.root.set_child(section)
    }

    /// Removes every top-level section called `name`; returns the first one.
    pub fn remove_section(&mut self, name: &str) -> Option<Element> {
        self.root.remove_children_named(name).into_iter().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sections() {
        let mut d = ConfigDocument::parse(
            b"<pfsense><version>23.3</version><filter><rule><type>pass</type></rule></filter><nat/></pfsense>",
        )
        .unwrap();
        assert_eq!(d.version(), Some("23.3"));
        assert_eq!(d.root_name(), "pfsense");
        let old = d.replace_section(Element::new("filter")).unwrap();
        assert_eq!(old.children().len(), 1);
        assert!(d.section("filter").unwrap().is_empty());
        assert_eq!(d.sections()[1].name(), "filter");
        assert!(d.replace_section(Element::new("aliases")).is_none());
        assert_eq!(d.sections()[3].name(), "aliases");
        assert!(d.remove_section("nat").is_some());
        assert!(d.section("nat").is_none());
        let again = ConfigDocument::parse(d.to_xml().as_bytes()).unwrap();
        assert_eq!(again, d);
    }

    #[test]
    fn test_wrong_root() {
        assert_eq!(
            ConfigDocument::parse(b"<config><a/></config>"),
            Err(XmlError::WrongRoot {
                found: "config".into()
            })
        );
        let d = ConfigDocument::parse(b"<opnsense><Foo/></opnsense>").unwrap();
        assert_eq!(d.root_name(), "opnsense");
        assert!(d.to_xml().contains("<Foo></Foo>"));
    }
}
