//! A lossless element tree for pfSense-style XML, with a reader and a writer that
//! follow pfSense's `xmlparse.inc` rules (reference `xmlrpc.md` §7.1).
//!
//! The tree keeps every element, in document order, including ones nothing in
//! rampart understands; only comments, processing instructions, the XML
//! declaration, a `DOCTYPE` and insignificant whitespace are dropped.
//!
//! Reading:
//! * element names are ASCII-lower-cased (pfSense folds case). Inside an
//!   `<opnsense>` document names are kept as written, because OPNsense's MVC
//!   sections (`<OPNsense>`, `<Gateways>`, …) are case-sensitive;
//! * text and CDATA content are both entity-decoded (see [`decode_entities`]:
//!   the XML entities, numeric references and HTML Latin-1 names such as
//!   `&eacute;`; an unknown `&…;` is kept literally, like PHP's
//!   `html_entity_decode`), joined, then trimmed of leading/trailing tab, CR and
//!   LF. A value made only of spaces counts as empty (pfSense ignores it too);
//! * `<flag/>`, `<flag></flag>` and an element holding only whitespace are all
//!   the empty string `""`;
//! * an element with both non-blank text and child elements ("mixed content")
//!   is rejected with [`XmlError::MixedContent`]: pfSense would silently turn it
//!   into garbage, and no real config has it;
//! * nesting deeper than [`MAX_DEPTH`] is rejected with [`XmlError::TooDeep`].
//!
//! Writing ([`write_document`]): `<?xml version="1.0"?>`, one element per line,
//! tab indentation, empty elements as `<name></name>`, attributes kept. Text is
//! escaped (`& < > " '`, and CR as `&#13;`); elements whose name starts with one
//! of [`CDATA_PREFIXES`] are written as `<![CDATA[…]]>` with the same escaping
//! applied inside (pfSense's quirk), so `]]>` in a value can never end the
//! section early.
//!
//! Round trip: for any input `x` that parses, `parse(write(parse(x))) ==
//! parse(x)`.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Deepest element nesting accepted by [`parse`] (the root is depth 1).
/// Real configs stay below 12.
pub const MAX_DEPTH: usize = 64;

/// pfSense's "listtags": element names that may repeat under one parent (master
/// list, reference §7.1). Any other name occurring twice under one parent makes
/// pfSense refuse the file.
pub const LISTTAGS: &[&str] = &[
    "acls",
    "alias",
    "aliasurl",
    "allowedhostname",
    "allowedip",
    "authserver",
    "bridged",
    "build_port_path",
    "ca",
    "cacert",
    "cert",
    "checkipservice",
    "clone",
    "columnitem",
    "config",
    "container",
    "crl",
    "depends_on_package",
    "disk",
    "dnsserver",
    "dnsupdate",
    "domainoverrides",
    "dyndns",
    "earlyshellcmd",
    "element",
    "encryption-algorithm-option",
    "field",
    "fieldname",
    "gateway_group",
    "gateway_item",
    "gif",
    "gre",
    "group",
    "hash-algorithm-option",
    "hosts",
    "ifgroupentry",
    "igmpentry",
    "interface_array",
    "item",
    "key",
    "l7rules",
    "lagg",
    "laggroup",
    "lbaction",
    "lbpool",
    "lbprotocol",
    "member",
    "menu",
    "mobilegroup",
    "mobilekey",
    "monitor_type",
    "mount",
    "npt",
    "ntpserver",
    "onetoone",
    "openvpn-client",
    "openvpn-csc",
    "openvpn-server",
    "option",
    "package",
    "pages",
    "passthrumac",
    "phase1",
    "phase2",
    "pipe",
    "pool",
    "ppp",
    "pppoe",
    "priv",
    "proxyarpnet",
    "qinqentry",
    "queue",
    "radnsserver",
    "roll",
    "route",
    "row",
    "rrddatafile",
    "rule",
    "schedule",
    "servernat",
    "servers",
    "serversdisabled",
    "service",
    "shellcmd",
    "sshkeyfile",
    "staticmap",
    "subqueue",
    "switch",
    "swport",
    "tab",
    "timerange",
    "tunnel",
    "user",
    "vip",
    "virtual_server",
    "vlan",
    "vlangroup",
    "voucherdbfile",
    "vxlan",
    "wgpeer",
    "widget",
    "winsserver",
    "wolentry",
    "xmldatafile",
];

/// Name prefixes whose elements pfSense writes as `<![CDATA[…]]>` (reference
/// §7.1). Matching is by prefix, so `statetype` and `description` are CDATA too.
pub const CDATA_PREFIXES: &[&str] = &[
    "aclname",
    "auth_pass",
    "auth_prompt",
    "auth_user",
    "certca",
    "certname",
    "city",
    "common_name",
    "descr",
    "detail",
    "email",
    "encryption_password",
    "hint",
    "ldap_attr",
    "ldap_authcn",
    "ldap_basedn",
    "ldap_basedomain",
    "ldap_bind",
    "ldapbinddn",
    "ldapbindpass",
    "ldap_extended_query",
    "ldap_filter",
    "ldap_pam_groupdn",
    "ldap_pass",
    "ldap_user",
    "login_banner",
    "organization",
    "password",
    "proxypass",
    "proxyuser",
    "rangedescr",
    "state",
    "text",
    "username",
    "varusersusername",
    "varuserspassword",
];

/// Whether `name` is one of pfSense's repeatable [`LISTTAGS`].
#[must_use]
pub fn is_listtag(name: &str) -> bool {
    LISTTAGS.contains(&name)
}

/// Whether an element called `name` is written as CDATA (see [`CDATA_PREFIXES`]).
#[must_use]
pub fn is_cdata_name(name: &str) -> bool {
    CDATA_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Normalises a leaf value the way the reader does: trims leading/trailing tab,
/// CR and LF; a value made only of spaces becomes empty.
#[must_use]
pub fn normalize_text(text: &str) -> String {
    let t = text.trim_matches(['\t', '\r', '\n']);
    if t.chars().all(|c| c == ' ') {
        String::new()
    } else {
        t.to_owned()
    }
}

/// One XML element: a name, its attributes, and either a text value or child
/// elements (never both; an element with neither is the empty string `""`).
///
/// The fields are private so that this invariant holds: [`Element::set_text`]
/// drops the children, [`Element::push`] and [`Element::children_mut`] drop the
/// text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    /// An empty element. Names in a pfSense document should be lower-case: the
    /// reader folds case, so an upper-case name would not survive a round trip.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// A leaf element holding `text` (normalised with [`normalize_text`]).
    #[must_use]
    pub fn with_text(name: impl Into<String>, text: &str) -> Self {
        let mut e = Self::new(name);
        e.set_text(text);
        e
    }

    /// Builder form of [`Element::push`].
    #[must_use]
    pub fn with_child(mut self, child: Element) -> Self {
        self.push(child);
        self
    }

    /// Builder form of [`Element::set_attribute`].
    #[must_use]
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_attribute(name, value);
        self
    }

    /// The element name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text value; `""` for containers and empty elements.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Sets the text value (normalised with [`normalize_text`]) and removes all
    /// children.
    pub fn set_text(&mut self, text: &str) {
        self.children.clear();
        self.text = normalize_text(text);
    }

    /// True when the element has neither text nor children (`<x></x>`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.children.is_empty()
    }

    /// The child elements, in document order.
    #[must_use]
    pub fn children(&self) -> &[Element] {
        &self.children
    }

    /// Mutable access to the children. Clears the text value, since an element
    /// cannot hold both.
    pub fn children_mut(&mut self) -> &mut Vec<Element> {
        self.text.clear();
        &mut self.children
    }

    /// Appends a child (clears the text value).
    pub fn push(&mut self, child: Element) {
        self.children_mut().push(child);
    }

    /// The first child called `name`.
    #[must_use]
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The first child called `name`, mutably.
    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.children.iter_mut().find(|c| c.name == name)
    }

    /// All children called `name`, in order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child called `name`, if there is one.
    #[must_use]
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(Element::text)
    }

    /// Whether a child called `name` exists: pfSense's flag test (`isset`), so
    /// `<x/>`, `<x>on</x>` and `<x>1</x>` all count as set.
    #[must_use]
    pub fn has_child(&self, name: &str) -> bool {
        self.child(name).is_some()
    }

    /// Puts `child` in place of the first child with the same name (removing any
    /// further ones), or appends it. Returns the child it replaced.
    pub fn set_child(&mut self, child: Element) -> Option<Element> {
        let mut removed = self.replace_children_named(&child.name.clone(), vec![child]);
        if removed.is_empty() {
            None
        } else {
            Some(removed.swap_remove(0))
        }
    }

    /// Removes every child called `name` and inserts `replacement` where the
    /// first one was (or at the end). This is the "replace a list" operation,
    /// e.g. `system/user` during an XMLRPC sync. Returns the removed children.
    pub fn replace_children_named(
        &mut self,
        name: &str,
        replacement: Vec<Element>,
    ) -> Vec<Element> {
        self.text.clear();
        let at = self.children.iter().position(|c| c.name == name);
        let removed = self.remove_children_named(name);
        let at = at.unwrap_or(self.children.len());
        self.children.splice(at..at, replacement);
        removed
    }

    /// Removes and returns every child called `name`.
    pub fn remove_children_named(&mut self, name: &str) -> Vec<Element> {
        let (removed, kept) = std::mem::take(&mut self.children)
            .into_iter()
            .partition(|c| c.name == name);
        self.children = kept;
        removed
    }

    /// The attributes, in document order (entity-decoded).
    #[must_use]
    pub fn attributes(&self) -> &[(String, String)] {
        &self.attributes
    }

    /// The value of attribute `name`.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (or adds) attribute `name`.
    pub fn set_attribute(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.attributes.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((name, value)),
        }
    }
}

/// Why an XML document could not be read. Positions are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The input is not valid UTF-8.
    #[error("input is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The XML itself is malformed (reported by quick-xml).
    #[error("XML syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// Line of the error.
        line: usize,
        /// Column (in characters) of the error.
        column: usize,
        /// quick-xml's description.
        message: String,
    },
    /// The input ended while an element was still open (truncated file).
    #[error("unexpected end of input at line {line}, column {column}: <{open}> is not closed")]
    UnexpectedEof {
        /// Line at end of input.
        line: usize,
        /// Column at end of input.
        column: usize,
        /// Name of the innermost open element.
        open: String,
    },
    /// Elements are nested deeper than [`MAX_DEPTH`].
    #[error("elements nested deeper than {max} levels at line {line}, column {column}")]
    TooDeep {
        /// Line of the element that went too deep.
        line: usize,
        /// Its column.
        column: usize,
        /// The limit.
        max: usize,
    },
    /// An element contains both text and child elements.
    #[error(
        "<{element}> mixes text and child elements (text at line {line}, column {column}); \
         pfSense configs never do"
    )]
    MixedContent {
        /// The element's name.
        element: String,
        /// Line of the offending text.
        line: usize,
        /// Its column.
        column: usize,
    },
    /// Non-whitespace text before or after the root element.
    #[error("text outside the root element at line {line}, column {column}")]
    TextOutsideRoot {
        /// Line of the text.
        line: usize,
        /// Its column.
        column: usize,
    },
    /// A second top-level element.
    #[error("second root element <{name}> at line {line}, column {column}")]
    MultipleRoots {
        /// Its name.
        name: String,
        /// Its line.
        line: usize,
        /// Its column.
        column: usize,
    },
    /// The input holds no element at all.
    #[error("no root element (empty document)")]
    NoRoot,
    /// The root element is neither `<pfsense>` nor `<opnsense>`.
    #[error("root element is <{found}>, expected <pfsense> or <opnsense>")]
    WrongRoot {
        /// The root element's name.
        found: String,
    },
}

/// An element being built while its end tag has not been seen yet.
struct Open {
    element: Element,
    text: String,
    /// Offset of the first non-blank text piece, for [`XmlError::MixedContent`].
    text_at: Option<u64>,
}

/// Turns a byte offset into a 1-based (line, column in characters).
fn line_col(input: &str, offset: u64) -> (usize, usize) {
    let offset = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(input.len());
    // Step back to a char boundary so slicing cannot fail.
    let mut end = offset;
    while end > 0 && !input.is_char_boundary(end) {
        end -= 1;
    }
    let before = input.get(..end).unwrap_or("");
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

fn is_blank(s: &str) -> bool {
    s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Parses an XML document into its root [`Element`] (any root name).
///
/// # Errors
/// Returns an [`XmlError`] for non-UTF-8 input, malformed or truncated XML,
/// nesting deeper than [`MAX_DEPTH`], mixed content, text or a second element
/// outside the root, or a document without any element. Never panics.
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let input = std::str::from_utf8(input).map_err(|e| XmlError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut reader = Reader::from_str(input);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Element> = None;
    // Decided at the root: OPNsense documents keep element-name case.
    let mut fold_case = true;

    let err_at = |offset: u64| line_col(input, offset);

    loop {
        let event_start = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let (line, column) = err_at(reader.error_position());
                return Err(XmlError::Syntax {
                    line,
                    column,
                    message: e.to_string(),
                });
            }
        };
        match event {
            Event::Start(start) | Event::Empty(start) if stack.is_empty() && root.is_some() => {
                let (line, column) = err_at(event_start);
                return Err(XmlError::MultipleRoots {
                    name: String::from_utf8_lossy(start.name().as_ref()).into_owned(),
                    line,
                    column,
                });
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                if stack.len() >= MAX_DEPTH {
                    let (line, column) = err_at(event_start);
                    return Err(XmlError::TooDeep {
                        line,
                        column,
                        max: MAX_DEPTH,
                    });
                }
                if stack.is_empty() {
                    fold_case = !start.name().as_ref().eq_ignore_ascii_case(b"opnsense");
                }
                let element =
                    start_element(start, fold_case || stack.is_empty(), input, event_start)?;
                stack.push(Open {
                    element,
                    text: String::new(),
                    text_at: None,
                });
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root, input)?;
                }
            }
            Event::End(_) => close(&mut stack, &mut root, input)?,
            Event::Text(t) => {
                let raw = String::from_utf8_lossy(&t);
                add_text(&mut stack, &raw, event_start, input)?;
            }
            Event::CData(c) => {
                let raw = String::from_utf8_lossy(&c);
                if stack.is_empty() {
                    let (line, column) = err_at(event_start);
                    return Err(XmlError::TextOutsideRoot { line, column });
                }
                add_text(&mut stack, &raw, event_start, input)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    let (line, column) = err_at(input.len() as u64);
                    return Err(XmlError::UnexpectedEof {
                        line,
                        column,
                        open: open.element.name.clone(),
                    });
                }
                return root.ok_or(XmlError::NoRoot);
            }
        }
    }
}

fn add_text(stack: &mut [Open], raw: &str, at: u64, input: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        None => {
            if is_blank(raw) {
                Ok(())
            } else {
                let (line, column) = line_col(input, at);
                Err(XmlError::TextOutsideRoot { line, column })
            }
        }
        Some(open) => {
            let decoded = decode_entities(raw);
            if open.text_at.is_none() && !is_blank(&decoded) {
                open.text_at = Some(at);
            }
            open.text.push_str(&decoded);
            Ok(())
        }
    }
}

fn start_element(
    start: &BytesStart<'_>,
    fold_case: bool,
    input: &str,
    at: u64,
) -> Result<Element, XmlError> {
    let mut name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    if fold_case {
        name.make_ascii_lowercase();
    }
    let mut element = Element::new(name);
    for attr in start.attributes() {
        let attr = attr.map_err(|e| {
            let (line, column) = line_col(input, at);
            XmlError::Syntax {
                line,
                column,
                message: e.to_string(),
            }
        })?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = decode_entities(&String::from_utf8_lossy(&attr.value)).into_owned();
        element.attributes.push((key, value));
    }
    Ok(element)
}

fn close(stack: &mut Vec<Open>, root: &mut Option<Element>, input: &str) -> Result<(), XmlError> {
    let Some(open) = stack.pop() else {
        // quick-xml reports unmatched end tags itself; nothing to close.
        return Ok(());
    };
    let mut element = open.element;
    if element.children.is_empty() {
        element.text = normalize_text(&open.text);
    } else if let Some(at) = open.text_at {
        let (line, column) = line_col(input, at);
        return Err(XmlError::MixedContent {
            element: element.name,
            line,
            column,
        });
    }
    match stack.last_mut() {
        Some(parent) => parent.element.children.push(element),
        None => *root = Some(element),
    }
    Ok(())
}

/// Decodes the XML entities (`&amp; &lt; &gt; &quot; &apos;`), numeric
/// character references, and the HTML 4.01 entities PHP's `htmlentities()`
/// produces for Latin-1 and common typography (`&eacute;`, `&nbsp;`, `&euro;`,
/// `&ndash;`, …; pfSense writes values with `htmlentities()`). Anything else
/// starting with `&` is kept as written, like PHP's `html_entity_decode` does
/// with unknown entities.
#[must_use]
pub fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or(""));
        let after = rest.get(i + 1..).unwrap_or("");
        let decoded = after
            .find(';')
            .filter(|&j| j <= 10)
            .and_then(|j| Some((decode_entity(after.get(..j)?)?, j)));
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = after.get(j + 1..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// HTML 4.01 names of U+00A0..=U+00FF, in code point order.
const LATIN1_ENTITIES: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Other HTML 4.01 entities PHP's `htmlentities()` commonly emits.
const OTHER_ENTITIES: [(&str, char); 32] = [
    ("OElig", '\u{152}'),
    ("oelig", '\u{153}'),
    ("Scaron", '\u{160}'),
    ("scaron", '\u{161}'),
    ("Yuml", '\u{178}'),
    ("fnof", '\u{192}'),
    ("circ", '\u{2C6}'),
    ("tilde", '\u{2DC}'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("zwnj", '\u{200C}'),
    ("zwj", '\u{200D}'),
    ("lrm", '\u{200E}'),
    ("rlm", '\u{200F}'),
    ("ndash", '\u{2013}'),
    ("mdash", '\u{2014}'),
    ("lsquo", '\u{2018}'),
    ("rsquo", '\u{2019}'),
    ("sbquo", '\u{201A}'),
    ("ldquo", '\u{201C}'),
    ("rdquo", '\u{201D}'),
    ("bdquo", '\u{201E}'),
    ("dagger", '\u{2020}'),
    ("Dagger", '\u{2021}'),
    ("bull", '\u{2022}'),
    ("hellip", '\u{2026}'),
    ("permil", '\u{2030}'),
    ("lsaquo", '\u{2039}'),
    ("rsaquo", '\u{203A}'),
    ("euro", '\u{20AC}'),
    ("trade", '\u{2122}'),
];

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ if !name.starts_with('#') => {
            if let Some(i) = LATIN1_ENTITIES.iter().position(|&n| n == name) {
                return u32::try_from(i).ok().and_then(|i| char::from_u32(0xA0 + i));
            }
            OTHER_ENTITIES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, c)| c)
        }
        _ => {
            let num = name.strip_prefix('#')?;
            let value = if let Some(hex) = num.strip_prefix(['x', 'X']) {
                if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                u32::from_str_radix(hex, 16).ok()?
            } else {
                if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                num.parse::<u32>().ok()?
            };
            char::from_u32(value).filter(|&c| c != '\0')
        }
    }
}

/// Escapes `s` for element text (or, with `attribute`, for a double-quoted
/// attribute value, where tab and LF are escaped too).
fn escape_into(out: &mut String, s: &str, attribute: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
}

/// Escapes `s` as element text would be (see the module docs).
#[must_use]
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s, false);
    out
}

/// Serialises `root` as a whole document in pfSense's style (see the module
/// docs).
#[must_use]
pub fn write_document(root: &Element) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n");
    write_element(&mut out, root, 0);
    out
}

/// Serialises one element (and its subtree) at `depth` tabs of indentation,
/// without the XML declaration.
#[must_use]
pub fn write_fragment(element: &Element, depth: usize) -> String {
    let mut out = String::new();
    write_element(&mut out, element, depth);
    out
}

fn write_element(out: &mut String, e: &Element, depth: usize) {
    push_indent(out, depth);
    out.push('<');
    out.push_str(&e.name);
    for (k, v) in &e.attributes {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        escape_into(out, v, true);
        out.push('"');
    }
    out.push('>');
    if !e.children.is_empty() {
        out.push('\n');
        for c in &e.children {
            write_element(out, c, depth + 1);
        }
        push_indent(out, depth);
    } else if !e.text.is_empty() {
        if is_cdata_name(&e.name) {
            out.push_str("<![CDATA[");
            escape_into(out, &e.text, false);
            out.push_str("]]>");
        } else {
            escape_into(out, &e.text, false);
        }
    }
    out.push_str("</");
    out.push_str(&e.name);
    out.push_str(">\n");
}

fn push_indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push('\t');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Element {
        parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn test_leaf_rules() {
        let e = p("<pfsense><A>\n\t x &amp; y\t\n</A><b/><c></c><d>   </d><e>\n\t</e></pfsense>");
        assert_eq!(e.child_text("a"), Some(" x & y"));
        assert_eq!(e.child_text("b"), Some(""));
        assert_eq!(e.child_text("c"), Some(""));
        assert_eq!(e.child_text("d"), Some(""));
        assert_eq!(e.child_text("e"), Some(""));
        assert_eq!(e.children().len(), 5);
    }

    #[test]
    fn test_cdata_is_decoded() {
        let e = p("<r><descr><![CDATA[A -&gt; B & C]]></descr><x>a<![CDATA[<b>]]>c</x></r>");
        assert_eq!(e.child_text("descr"), Some("A -> B & C"));
        assert_eq!(e.child_text("x"), Some("a<b>c"));
    }

    #[test]
    fn test_entities() {
        assert_eq!(
            decode_entities("&lt;&#65;&#x42;&bogus;&#0;&;&"),
            "<AB&bogus;&#0;&;&"
        );
        assert_eq!(
            decode_entities("caf&eacute;&nbsp;&yuml;&euro;&#039;"),
            "café\u{a0}ÿ€'"
        );
        assert_eq!(decode_entities("&#x+41;"), "&#x+41;");
        assert_eq!(decode_entities("héllo &quot;"), "héllo \"");
    }

    #[test]
    fn test_comments_dropped_and_attributes_kept() {
        let e = p(
            "<?xml version=\"1.0\"?><!-- c --><pfsense version=\"24.11\"><!-- x --><a>1</a></pfsense>",
        );
        assert_eq!(e.attribute("version"), Some("24.11"));
        assert_eq!(e.children().len(), 1);
        let w = write_document(&e);
        assert_eq!(
            w,
            "<?xml version=\"1.0\"?>\n<pfsense version=\"24.11\">\n\t<a>1</a>\n</pfsense>\n"
        );
    }

    #[test]
    fn test_write_style() {
        let root = Element::new("pfsense")
            .with_child(Element::with_text("descr", "A -> B ]]> 'q'"))
            .with_child(Element::new("staticroutes"))
            .with_child(Element::new("filter").with_child(Element::with_text("x", "<&>")));
        let w = write_document(&root);
        assert_eq!(
            w,
            "<?xml version=\"1.0\"?>\n<pfsense>\n\t<descr><![CDATA[A -&gt; B ]]&gt; &#039;q&#039;]]></descr>\n\
             \t<staticroutes></staticroutes>\n\t<filter>\n\t\t<x>&lt;&amp;&gt;</x>\n\t</filter>\n</pfsense>\n"
        );
        assert_eq!(p(&w), root);
    }

    #[test]
    fn test_errors() {
        assert!(matches!(parse(b""), Err(XmlError::NoRoot)));
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::Syntax { .. })));
        assert!(matches!(
            parse(b"<a><b>"),
            Err(XmlError::UnexpectedEof { .. })
        ));
        assert!(matches!(
            parse(b"<a/><b/>"),
            Err(XmlError::MultipleRoots { .. })
        ));
        assert!(matches!(
            parse(b"x<a/>"),
            Err(XmlError::TextOutsideRoot { .. })
        ));
        assert!(matches!(
            parse(b"<a>t<b/></a>"),
            Err(XmlError::MixedContent { .. })
        ));
        assert!(matches!(
            parse(b"<a>\xff</a>"),
            Err(XmlError::NotUtf8 { offset: 3 })
        ));
        let deep = "<a>".repeat(100_000);
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(XmlError::TooDeep { max: 64, .. })
        ));
        let ok = format!("{}{}", "<a>".repeat(64), "</a>".repeat(64));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn test_error_position() {
        match parse(b"<a>\n  <b>\n</a>") {
            Err(XmlError::Syntax { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
        match parse(b"<a>\n  <b>x") {
            Err(XmlError::UnexpectedEof { open, line, .. }) => {
                assert_eq!(open, "b");
                assert_eq!(line, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_opnsense_keeps_case() {
        let e = p("<opnsense><OPNsense><Gateways/></OPNsense><System/></opnsense>");
        assert_eq!(e.children()[0].name(), "OPNsense");
        assert_eq!(e.children()[1].name(), "System");
        let e = p("<PfSense><System/></PfSense>");
        assert_eq!(e.name(), "pfsense");
        assert_eq!(e.children()[0].name(), "system");
    }

    #[test]
    fn test_replace_children() {
        let mut e = p("<r><a>1</a><u>x</u><b/><u>y</u><c/></r>");
        let removed = e.replace_children_named("u", vec![Element::with_text("u", "z")]);
        assert_eq!(removed.len(), 2);
        let names: Vec<_> = e.children().iter().map(Element::name).collect();
        assert_eq!(names, ["a", "u", "b", "c"]);
        assert_eq!(
            e.set_child(Element::with_text("c", "3")),
            Some(Element::new("c"))
        );
        assert_eq!(e.set_child(Element::with_text("d", "4")), None);
        assert_eq!(e.child_text("d"), Some("4"));
    }
}
