//! [`Value`]: one XML-RPC value, and [`Fault`]: an XML-RPC fault.
//!
//! The model is XML-RPC's own, minus `<nil/>`: pfSense's library cannot encode PHP `NULL`
//! (reference §2.6), so nothing here can express it and the decoder refuses it.

use std::fmt;

/// One XML-RPC value.
///
/// Struct members keep their order; the decoder keeps one member per name (the last
/// value, at the first position, as PHP's arrays do), so lookups by name are unambiguous.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<string>`, or a `<value>` with no type element.
    Str(String),
    /// `<int>`, `<i4>` or `<i8>`.
    Int(i64),
    /// `<boolean>` (`0` or `1`).
    Bool(bool),
    /// `<double>`.
    Double(f64),
    /// `<base64>`, decoded.
    Base64(Vec<u8>),
    /// `<dateTime.iso8601>`, kept as written.
    DateTime(String),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<struct>`: (name, value) members in order.
    Struct(Vec<(String, Value)>),
}

impl Value {
    /// A string value.
    #[must_use]
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    /// A struct from (name, value) pairs.
    #[must_use]
    pub fn structure<K: Into<String>>(members: impl IntoIterator<Item = (K, Value)>) -> Self {
        Self::Struct(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The string, if this is a [`Value::Str`].
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar as text, the way PHP turns it into a config leaf: strings as they are,
    /// integers and doubles in decimal, `true` as `"1"` and `false` as `""`, a date as
    /// written, base64 as its UTF-8 text. `None` for arrays, structs and base64 that is not
    /// UTF-8.
    #[must_use]
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Self::Str(s) | Self::DateTime(s) => Some(s.clone()),
            Self::Int(i) => Some(i.to_string()),
            Self::Double(d) => Some(d.to_string()),
            Self::Bool(b) => Some(if *b { "1".into() } else { String::new() }),
            Self::Base64(bytes) => String::from_utf8(bytes.clone()).ok(),
            Self::Array(_) | Self::Struct(_) => None,
        }
    }

    /// The member called `name`, if this is a struct that has one.
    #[must_use]
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Self::Struct(members) => members
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether this is an array or a struct (PHP's `is_array`).
    #[must_use]
    pub fn is_container(&self) -> bool {
        matches!(self, Self::Array(_) | Self::Struct(_))
    }

    /// Whether this is an empty array, an empty struct or the empty string: the three ways
    /// pfSense sends an empty section (reference §2.5).
    #[must_use]
    pub fn is_empty_section(&self) -> bool {
        match self {
            Self::Array(a) => a.is_empty(),
            Self::Struct(m) => m.is_empty(),
            Self::Str(s) => s.is_empty(),
            _ => false,
        }
    }

    /// PHP truthiness, for the checks pfSense writes as `if ($x)`: empty string, `"0"`, `0`,
    /// `0.0`, `false` and empty containers are false.
    #[must_use]
    pub fn is_truthy(&self) -> bool {
        match self {
            Self::Str(s) => !s.is_empty() && s != "0",
            Self::Int(i) => *i != 0,
            Self::Bool(b) => *b,
            Self::Double(d) => *d != 0.0,
            Self::Base64(b) => !b.is_empty(),
            Self::DateTime(s) => !s.is_empty(),
            Self::Array(a) => !a.is_empty(),
            Self::Struct(m) => !m.is_empty(),
        }
    }

    /// The items of a list: an array's items, or the members of a struct whose names are
    /// all decimal integers, ordered by that number (how PHP sends a list with holes,
    /// reference §2.5). `None` for anything else; an empty struct is an empty list.
    #[must_use]
    pub fn as_list(&self) -> Option<Vec<&Value>> {
        match self {
            Self::Array(items) => Some(items.iter().collect()),
            Self::Struct(members) => {
                let mut keyed = Vec::with_capacity(members.len());
                for (k, v) in members {
                    keyed.push((list_index(k)?, v));
                }
                // Stable: equal keys (impossible after decoding) keep their order.
                keyed.sort_by_key(|(i, _)| *i);
                Some(keyed.into_iter().map(|(_, v)| v).collect())
            }
            _ => None,
        }
    }

    /// The XML-RPC type name, for error messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Str(_) => "string",
            Self::Int(_) => "int",
            Self::Bool(_) => "boolean",
            Self::Double(_) => "double",
            Self::Base64(_) => "base64",
            Self::DateTime(_) => "dateTime.iso8601",
            Self::Array(_) => "array",
            Self::Struct(_) => "struct",
        }
    }
}

/// A struct member name that PHP would turn into an integer array key: `0`, or decimal
/// digits without a leading zero (an optional `-` too, which never names a list slot here,
/// so it is refused).
#[must_use]
pub fn list_index(name: &str) -> Option<u64> {
    if name == "0" {
        return Some(0);
    }
    if name.starts_with('0') || name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

/// An XML-RPC fault: a code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultCode`.
    pub code: i64,
    /// `faultString`.
    pub message: String,
}

impl Fault {
    /// A fault with `code` and `message`.
    #[must_use]
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault {}: {}", self.code, self.message)
    }
}

impl std::error::Error for Fault {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_list_with_holes() {
        let v = Value::structure([
            ("2", Value::str("c")),
            ("0", Value::str("a")),
            ("10", Value::str("d")),
        ]);
        let items: Vec<_> = v.as_list().unwrap().into_iter().cloned().collect();
        assert_eq!(items, [Value::str("a"), Value::str("c"), Value::str("d")]);
        assert!(
            Value::structure([("rule", Value::str("x"))])
                .as_list()
                .is_none()
        );
        assert!(
            Value::structure([("01", Value::str("x"))])
                .as_list()
                .is_none()
        );
        assert_eq!(Value::Struct(vec![]).as_list().map(|l| l.len()), Some(0));
        assert!(Value::str("").as_list().is_none());
    }

    #[test]
    fn test_truthy_and_empty() {
        assert!(!Value::str("0").is_truthy());
        assert!(Value::str("on").is_truthy());
        assert!(Value::str("").is_empty_section());
        assert!(Value::Array(vec![]).is_empty_section());
        assert!(!Value::Int(0).is_empty_section());
        assert_eq!(Value::Int(-3).scalar_text().as_deref(), Some("-3"));
        assert_eq!(Value::Bool(false).scalar_text().as_deref(), Some(""));
    }
}
