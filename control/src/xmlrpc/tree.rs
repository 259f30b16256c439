//! XML-RPC values ⇄ `config.xml` subtrees, the way pfSense's PHP arrays sit between them.
//!
//! pfSense reads `config.xml` into nested PHP arrays (reference §7.1): a leaf is a string,
//! an empty element is `""`, a "listtag" element ([`is_listtag`]) is always a list even
//! when it occurs once, any other element is a keyed map. XML_RPC2 then sends a list as an
//! `<array>` and a map as a `<struct>` (§2.5). On the way back pfSense writes the arrays
//! out with `dump_xml_config_sub`. This module does both directions on our
//! [`Element`] tree.
//!
//! [`element_to_value`] (config → XML-RPC):
//! * a leaf is a string (a flag is `""`); attributes are dropped (PHP's parser has none);
//! * a container is a struct with one member per child name, in order of first
//!   appearance; a listtag name, or any name that repeats, becomes an array of its
//!   elements.
//!
//! [`value_to_elements`] (XML-RPC → config), for a value arriving under a member name:
//! * a scalar is a leaf: a string as is, an integer or double in decimal (so `advskew`
//!   sent as `<int>` and as `<string>` end the same), `true` a flag (empty element) and
//!   `false` no element at all; base64 must hold UTF-8 text;
//! * a list — an array, or a struct whose member names are all decimal integers (a list
//!   with holes, §2.5) — is one element per item under the same name. pfSense would
//!   write a list under a non-listtag name as elements called `<0>`, `<1>`, which breaks
//!   its config; repeating the name is what the sender meant, and validation decides;
//! * an empty array, empty struct or `""` is an empty container: no element under a
//!   listtag name (an empty list), one empty element otherwise (`<schedules></schedules>`);
//!   top-level sections are no different (`<cert>`, `<ca>` and `<crl>` are listtags that
//!   sit directly under the root);
//! * any other struct is an element whose children are its members, converted the same way.
//!
//! Refused ([`TreeError`]): member names that are not XML names (they become element
//! names; ASCII letters, digits, `_`, `-`, `.`, not starting with a digit, `-` or `.`;
//! upper case is folded, as pfSense's reader does), C0 control characters other than tab,
//! LF and CR in text (they cannot be written to `config.xml`), a list item that is itself
//! a list, and trees deeper than the config reader accepts ([`MAX_DEPTH`]). Leaf text is
//! normalised as the config reader would normalise it ([`Element::set_text`]), so a value
//! written and read back is the value kept.

use crate::config::xml::{Element, MAX_DEPTH, is_listtag};

use super::value::Value;

/// Why a value cannot become part of a config tree. `path` is the member path from the
/// section down, e.g. `filter/rule/3/descr`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A member name that cannot be an element name.
    #[error("{path}: `{name}` is not a valid element name")]
    BadName {
        /// Where.
        path: String,
        /// The name (cut to 64 characters).
        name: String,
    },
    /// Text with a control character XML cannot carry.
    #[error("{path}: control character U+{code:04X} in text")]
    ControlChar {
        /// Where.
        path: String,
        /// The character.
        code: u32,
    },
    /// A list item that is itself a list.
    #[error("{path}: a list inside a list")]
    NestedList {
        /// Where.
        path: String,
    },
    /// Base64 data that is not UTF-8 text.
    #[error("{path}: base64 data is not UTF-8 text")]
    Binary {
        /// Where.
        path: String,
    },
    /// Nesting deeper than a config file may be.
    #[error("{path}: nested deeper than {MAX_DEPTH} elements")]
    TooDeep {
        /// Where.
        path: String,
    },
}

/// Whether `name` may be an element name here (see the module docs).
#[must_use]
pub fn is_element_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The XML-RPC value pfSense sends for `element` (see the module docs).
#[must_use]
pub fn element_to_value(element: &Element) -> Value {
    if element.children().is_empty() {
        return Value::Str(element.text().to_owned());
    }
    let mut names: Vec<&str> = Vec::new();
    for c in element.children() {
        if !names.contains(&c.name()) {
            names.push(c.name());
        }
    }
    let members = names
        .into_iter()
        .map(|name| {
            let same: Vec<&Element> = element.children_named(name).collect();
            let v = match same.as_slice() {
                [only] if !is_listtag(name) => element_to_value(only),
                _ => Value::Array(same.into_iter().map(element_to_value).collect()),
            };
            (name.to_owned(), v)
        })
        .collect();
    Value::Struct(members)
}

/// The elements a value sent under member `name` becomes (see the module docs): none, one,
/// or one per list item.
///
/// # Errors
/// [`TreeError`] for a bad name, a control character, a nested list, binary base64 or
/// excessive depth anywhere in `value`.
pub fn value_to_elements(name: &str, value: &Value) -> Result<Vec<Element>, TreeError> {
    convert(name, value, name, 1)
}

/// `name` lower-cased as an element name, or [`TreeError::BadName`] at `path`.
pub(crate) fn element_name(name: &str, path: &str) -> Result<String, TreeError> {
    if is_element_name(name) {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(TreeError::BadName {
            path: path.to_owned(),
            name: name.chars().take(64).collect(),
        })
    }
}

fn check_text(text: &str, path: &str) -> Result<(), TreeError> {
    match text
        .chars()
        .find(|&c| u32::from(c) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some(c) => Err(TreeError::ControlChar {
            path: path.to_owned(),
            code: u32::from(c),
        }),
        None => Ok(()),
    }
}

fn leaf(name: &str, value: &Value, path: &str) -> Result<Option<Element>, TreeError> {
    let text = match value {
        Value::Bool(false) => return Ok(None),
        Value::Bool(true) => String::new(),
        other => other.scalar_text().ok_or_else(|| TreeError::Binary {
            path: path.to_owned(),
        })?,
    };
    check_text(&text, path)?;
    Ok(Some(Element::with_text(name, &text)))
}

fn convert(name: &str, value: &Value, path: &str, depth: usize) -> Result<Vec<Element>, TreeError> {
    if depth > MAX_DEPTH {
        return Err(TreeError::TooDeep {
            path: path.to_owned(),
        });
    }
    let name = element_name(name, path)?;
    if value.is_empty_section() {
        return Ok(if is_listtag(&name) {
            Vec::new()
        } else {
            vec![Element::new(name)]
        });
    }
    if let Some(items) = value.as_list() {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let item_path = format!("{path}/{i}");
            if item.as_list().is_some() && !item.is_empty_section() {
                return Err(TreeError::NestedList { path: item_path });
            }
            out.extend(item_element(&name, item, &item_path, depth)?);
        }
        return Ok(out);
    }
    Ok(item_element(&name, value, path, depth)?
        .into_iter()
        .collect())
}

/// One element for a non-list value (a struct or a scalar).
fn item_element(
    name: &str,
    value: &Value,
    path: &str,
    depth: usize,
) -> Result<Option<Element>, TreeError> {
    match value {
        Value::Struct(members) => {
            let mut element = Element::new(name);
            for (k, v) in members {
                let child_path = format!("{path}/{k}");
                for child in convert(k, v, &child_path, depth + 1)? {
                    element.push(child);
                }
            }
            Ok(Some(element))
        }
        // An empty array as a list item: an empty element, as PHP writes `<name/>`.
        Value::Array(_) => Ok(Some(Element::new(name))),
        scalar => leaf(name, scalar, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::xml;

    fn el(s: &str) -> Element {
        xml::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn test_element_to_value_lists_and_leaves() {
        let filter =
            el("<filter><rule><type>pass</type><any/></rule><bypassstaticroutes/></filter>");
        assert_eq!(
            element_to_value(&filter),
            Value::structure([
                (
                    "rule",
                    Value::Array(vec![Value::structure([
                        ("type", Value::str("pass")),
                        ("any", Value::str("")),
                    ])])
                ),
                ("bypassstaticroutes", Value::str("")),
            ])
        );
        // A non-listtag name that repeats is still sent as a list.
        let x = el("<x><a>1</a><b/><a>2</a></x>");
        assert_eq!(
            element_to_value(&x),
            Value::structure([
                ("a", Value::Array(vec![Value::str("1"), Value::str("2")])),
                ("b", Value::str("")),
            ])
        );
        assert_eq!(
            element_to_value(&el("<schedules></schedules>")),
            Value::str("")
        );
    }

    fn one(name: &str, v: &Value) -> Result<Element, TreeError> {
        let mut els = value_to_elements(name, v)?;
        assert_eq!(els.len(), 1, "{els:?}");
        Ok(els.remove(0))
    }

    #[test]
    fn test_value_to_elements_pfsense_shapes() {
        // advskew as <int>, a list with holes, flags as booleans, an empty section.
        let vip = Value::structure([(
            "vip",
            Value::structure([
                (
                    "2",
                    Value::structure([("advskew", Value::Int(100)), ("mode", Value::str("carp"))]),
                ),
                (
                    "0",
                    Value::structure([("nosync", Value::Bool(false)), ("Log", Value::Bool(true))]),
                ),
            ]),
        )]);
        let section = one("virtualip", &vip).unwrap();
        assert_eq!(
            xml::write_fragment(&section, 0),
            "<virtualip>\n\t<vip>\n\t\t<log></log>\n\t</vip>\n\t<vip>\n\t\t<advskew>100</advskew>\n\t\t<mode>carp</mode>\n\t</vip>\n</virtualip>\n"
        );
        for empty in [Value::str(""), Value::Array(vec![]), Value::Struct(vec![])] {
            assert!(one("schedules", &empty).unwrap().is_empty());
            assert_eq!(
                value_to_elements("rule", &empty).unwrap(),
                Vec::<Element>::new()
            );
            assert_eq!(
                value_to_elements("cert", &empty).unwrap(),
                Vec::<Element>::new()
            );
        }
        assert_eq!(
            value_to_elements("filter", &Value::Bool(false)).unwrap(),
            vec![]
        );
        // Top-level listtags (<cert>) arrive as lists.
        let certs = Value::Array(vec![
            Value::structure([("refid", Value::str("a"))]),
            Value::structure([("refid", Value::str("b"))]),
        ]);
        assert_eq!(value_to_elements("cert", &certs).unwrap().len(), 2);
    }

    #[test]
    fn test_value_to_elements_refusals() {
        let bad_name = Value::structure([("1abc", Value::str("x")), ("ok", Value::str(""))]);
        assert!(matches!(
            value_to_elements("filter", &bad_name),
            Err(TreeError::BadName { .. })
        ));
        let ctl = Value::structure([("descr", Value::str("a\u{7}b"))]);
        assert_eq!(
            value_to_elements("filter", &ctl),
            Err(TreeError::ControlChar {
                path: "filter/descr".into(),
                code: 7
            })
        );
        let nested = Value::structure([(
            "rule",
            Value::Array(vec![Value::Array(vec![Value::str("x")])]),
        )]);
        assert!(matches!(
            value_to_elements("filter", &nested),
            Err(TreeError::NestedList { .. })
        ));
        assert!(matches!(
            value_to_elements("x", &Value::Base64(vec![0xff])),
            Err(TreeError::Binary { .. })
        ));
        let mut deep = Value::str("x");
        for _ in 0..70 {
            deep = Value::structure([("a", deep)]);
        }
        assert!(matches!(
            value_to_elements("x", &deep),
            Err(TreeError::TooDeep { .. })
        ));
    }

    #[test]
    fn test_round_trip_real_config() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ha-primary.xml");
        let doc = crate::config::ConfigDocument::parse(&std::fs::read(path).unwrap()).unwrap();
        for section in doc.sections() {
            let v = element_to_value(section);
            let back = one(section.name(), &v).unwrap();
            assert_eq!(&back, section, "{}", section.name());
        }
    }
}
