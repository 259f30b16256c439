//! Bytes ⇄ XML-RPC messages: `methodCall`, `methodResponse` with a value or a `fault`.
//!
//! Decoding is lenient where real senders differ and strict about structure:
//! * whitespace between elements is ignored (pfSense sends none, Python and others
//!   pretty-print); a `<value>` without a type element is a string, kept exactly;
//! * `<int>`, `<i4>` and `<i8>` are all integers (64-bit); `<boolean>` is `0` or `1`;
//!   `<base64>` may be wrapped (Python breaks lines) and padded or not;
//! * a struct member that repeats a name replaces the earlier value in place, as PHP does;
//! * `<nil/>` is refused (pfSense can neither send nor read it), so is a `DOCTYPE` (no
//!   entity tricks); the body must be UTF-8 (pfSense's server only reads UTF-8), a leading
//!   byte-order mark is skipped;
//! * elements may nest at most [`MAX_DEPTH`] deep, so a hostile body cannot exhaust the
//!   stack; decoding never panics on any input.
//!
//! Encoding follows pfSense's own encoder (reference §1.2, §2): `<?xml version="1.0"?>`
//! before a call, `<?xml version="1.0" encoding="utf-8"?>` and a newline before a response,
//! then no whitespace between elements; every string is typed `<string>`; integers are
//! `<int>` when they fit 32 bits, else `<i8>`; never `<nil/>`. `&`, `<` and `>` are escaped;
//! so are CR (`&#13;`, which XML parsers would otherwise fold) and the other C0 control
//! characters (`&#N;`: XML 1.0 has no way to carry them, so a strict peer will refuse the
//! message rather than silently lose them; NUL cannot be read back at all).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use quick_xml::Reader;
use quick_xml::events::Event;

use super::value::{Fault, Value};

/// Deepest element nesting [`decode_call`] and [`decode_response`] accept (the root is
/// depth 1). A config subtree needs about three elements per level, and configs stay below
/// 12 levels.
pub const MAX_DEPTH: usize = 256;

/// Standard base64, padding optional on input.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A decoded `methodCall`.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// `methodName`, e.g. `pfsense.host_firmware_version`.
    pub method: String,
    /// The parameters in order.
    pub params: Vec<Value>,
}

/// A decoded `methodResponse`.
#[derive(Debug, Clone, PartialEq)]
pub enum MethodResponse {
    /// `<params><param>` with the returned value.
    Value(Value),
    /// `<fault>`.
    Fault(Fault),
}

/// Why a body is not a well-formed XML-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body is not UTF-8.
    #[error("body is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Not well-formed XML (quick-xml's message, or an unclosed element).
    #[error("XML syntax error: {0}")]
    Syntax(String),
    /// Elements nested deeper than [`MAX_DEPTH`].
    #[error("elements nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Well-formed XML that is not the expected XML-RPC structure.
    #[error("not an XML-RPC message: {0}")]
    Structure(String),
    /// A scalar whose text does not parse as its type.
    #[error("`{text}` is not a valid <{ty}>")]
    BadScalar {
        /// The type element.
        ty: &'static str,
        /// Its text (cut to 64 characters).
        text: String,
    },
    /// `<nil/>`, which pfSense cannot handle.
    #[error("<nil/> is not supported")]
    Nil,
}

/// An element of the body: its name, its text (entity-decoded, CDATA included, untrimmed)
/// and its child elements. Attributes are ignored: XML-RPC has none.
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn structure(msg: impl Into<String>) -> DecodeError {
    DecodeError::Structure(msg.into())
}

fn parse_tree(input: &[u8]) -> Result<Node, DecodeError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let input = std::str::from_utf8(input).map_err(|e| DecodeError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut reader = Reader::from_str(input);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            DecodeError::Syntax(format!("{e} (at byte {})", reader.error_position()))
        })?;
        let (name, empty) = match &event {
            Event::Start(e) => (Some(e.name()), false),
            Event::Empty(e) => (Some(e.name()), true),
            _ => (None, false),
        };
        if let Some(name) = name {
            if root.is_some() && stack.is_empty() {
                return Err(structure("a second root element"));
            }
            if stack.len() >= MAX_DEPTH {
                return Err(DecodeError::TooDeep);
            }
            stack.push(Node {
                name: String::from_utf8_lossy(name.as_ref()).into_owned(),
                text: String::new(),
                children: Vec::new(),
            });
            if empty {
                close(&mut stack, &mut root);
            }
            continue;
        }
        match event {
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| DecodeError::Syntax(e.to_string()))?;
                add_text(&mut stack, &text)?;
            }
            Event::CData(c) => {
                let text = String::from_utf8_lossy(&c);
                add_text(&mut stack, &text)?;
            }
            Event::DocType(_) => return Err(structure("a DOCTYPE")),
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(DecodeError::Syntax(format!(
                        "unexpected end of body: <{}> is not closed",
                        open.name
                    )));
                }
                return root.ok_or_else(|| structure("no root element"));
            }
            _ => {}
        }
    }
}

fn add_text(stack: &mut [Node], text: &str) -> Result<(), DecodeError> {
    // XML has no NUL, raw or escaped (quick-xml refuses `&#0;` but not a raw byte).
    if text.contains('\0') {
        return Err(DecodeError::Syntax("NUL character in text".into()));
    }
    match stack.last_mut() {
        Some(node) => {
            node.text.push_str(text);
            Ok(())
        }
        None if is_blank(text) => Ok(()),
        None => Err(structure("text outside the root element")),
    }
}

fn close(stack: &mut Vec<Node>, root: &mut Option<Node>) {
    // quick-xml checks end names, so every End matches the top of the stack.
    if let Some(node) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(node),
            None => *root = Some(node),
        }
    }
}

/// Checks that `node` holds only child elements (whitespace aside).
fn container(node: &Node) -> Result<&[Node], DecodeError> {
    if is_blank(&node.text) {
        Ok(&node.children)
    } else {
        Err(structure(format!("text inside <{}>", node.name)))
    }
}

/// The only child of `node`, which must be called `name`.
fn only_child<'a>(node: &'a Node, name: &str) -> Result<&'a Node, DecodeError> {
    match container(node)? {
        [child] if child.name == name => Ok(child),
        _ => Err(structure(format!(
            "<{}> must hold exactly one <{name}>",
            node.name
        ))),
    }
}

fn leaf_text(node: &Node) -> Result<&str, DecodeError> {
    if node.children.is_empty() {
        Ok(&node.text)
    } else {
        Err(structure(format!("<{}> holds elements", node.name)))
    }
}

fn bad(ty: &'static str, text: &str) -> DecodeError {
    DecodeError::BadScalar {
        ty,
        text: text.chars().take(64).collect(),
    }
}

/// Decodes a `<value>` element.
fn value(node: &Node) -> Result<Value, DecodeError> {
    match node.children.as_slice() {
        // No type element: a string, exactly as written.
        [] => Ok(Value::Str(node.text.clone())),
        [typed] if is_blank(&node.text) => typed_value(typed),
        [_] => Err(structure("text next to the type element in <value>")),
        _ => Err(structure("<value> holds more than one element")),
    }
}

fn typed_value(node: &Node) -> Result<Value, DecodeError> {
    match node.name.as_str() {
        "string" => Ok(Value::Str(leaf_text(node)?.to_owned())),
        "int" | "i4" | "i8" => {
            let text = leaf_text(node)?;
            let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
            let t = t.strip_prefix('+').unwrap_or(t);
            t.parse().map(Value::Int).map_err(|_| bad("int", text))
        }
        "boolean" => {
            let text = leaf_text(node)?;
            match text.trim_matches(|c: char| c.is_ascii_whitespace()) {
                "1" => Ok(Value::Bool(true)),
                "0" => Ok(Value::Bool(false)),
                _ => Err(bad("boolean", text)),
            }
        }
        "double" => {
            let text = leaf_text(node)?;
            text.trim_matches(|c: char| c.is_ascii_whitespace())
                .parse()
                .map(Value::Double)
                .map_err(|_| bad("double", text))
        }
        "base64" => {
            let text = leaf_text(node)?;
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            BASE64
                .decode(compact.as_bytes())
                .map(Value::Base64)
                .map_err(|_| bad("base64", text))
        }
        "dateTime.iso8601" => Ok(Value::DateTime(
            leaf_text(node)?
                .trim_matches(|c: char| c.is_ascii_whitespace())
                .to_owned(),
        )),
        "array" => {
            let data = only_child(node, "data")?;
            let items = container(data)?
                .iter()
                .map(|v| {
                    if v.name == "value" {
                        value(v)
                    } else {
                        Err(structure(format!("<{}> inside <data>", v.name)))
                    }
                })
                .collect::<Result<_, _>>()?;
            Ok(Value::Array(items))
        }
        "struct" => {
            let mut members: Vec<(String, Value)> = Vec::new();
            for member in container(node)? {
                if member.name != "member" {
                    return Err(structure(format!("<{}> inside <struct>", member.name)));
                }
                let (name, v) = match container(member)? {
                    [a, b] if a.name == "name" && b.name == "value" => (a, b),
                    [a, b] if a.name == "value" && b.name == "name" => (b, a),
                    _ => {
                        return Err(structure("<member> must hold one <name> and one <value>"));
                    }
                };
                let name = leaf_text(name)?.to_owned();
                let v = value(v)?;
                // PHP keeps one entry per key: the last value, at the first position.
                match members.iter_mut().find(|(k, _)| *k == name) {
                    Some(slot) => slot.1 = v,
                    None => members.push((name, v)),
                }
            }
            Ok(Value::Struct(members))
        }
        "nil" => Err(DecodeError::Nil),
        other => Err(structure(format!("unknown value type <{other}>"))),
    }
}

/// Decodes a `methodCall` body.
///
/// # Errors
/// [`DecodeError`] when the body is not UTF-8, not well-formed, nested too deep, or not a
/// `methodCall` of valid values. Never panics.
pub fn decode_call(body: &[u8]) -> Result<MethodCall, DecodeError> {
    let root = parse_tree(body)?;
    if root.name != "methodCall" {
        return Err(structure(format!(
            "root is <{}>, not <methodCall>",
            root.name
        )));
    }
    let mut method = None;
    let mut params = Vec::new();
    for child in container(&root)? {
        match child.name.as_str() {
            "methodName" if method.is_none() => {
                method = Some(
                    leaf_text(child)?
                        .trim_matches(|c: char| c.is_ascii_whitespace())
                        .to_owned(),
                );
            }
            "params" if params.is_empty() => {
                for param in container(child)? {
                    if param.name != "param" {
                        return Err(structure(format!("<{}> inside <params>", param.name)));
                    }
                    params.push(value(only_child(param, "value")?)?);
                }
            }
            other => return Err(structure(format!("unexpected <{other}> in <methodCall>"))),
        }
    }
    let method = method
        .filter(|m| !m.is_empty())
        .ok_or_else(|| structure("no <methodName>"))?;
    Ok(MethodCall { method, params })
}

/// Decodes a `methodResponse` body.
///
/// # Errors
/// [`DecodeError`] as for [`decode_call`], and when a fault lacks an integer `faultCode`
/// or a string `faultString`.
pub fn decode_response(body: &[u8]) -> Result<MethodResponse, DecodeError> {
    let root = parse_tree(body)?;
    if root.name != "methodResponse" {
        return Err(structure(format!(
            "root is <{}>, not <methodResponse>",
            root.name
        )));
    }
    match container(&root)? {
        [params] if params.name == "params" => {
            let param = only_child(params, "param")?;
            Ok(MethodResponse::Value(value(only_child(param, "value")?)?))
        }
        [fault] if fault.name == "fault" => {
            let v = value(only_child(fault, "value")?)?;
            let code = match v.member("faultCode") {
                Some(Value::Int(c)) => *c,
                // Some servers send the code as a string.
                Some(Value::Str(s)) => s.trim().parse().map_err(|_| bad("int", s))?,
                _ => return Err(structure("fault without an integer faultCode")),
            };
            let message = match v.member("faultString") {
                Some(Value::Str(s)) => s.clone(),
                _ => return Err(structure("fault without a string faultString")),
            };
            Ok(MethodResponse::Fault(Fault { code, message }))
        }
        _ => Err(structure(
            "<methodResponse> must hold one <params> or one <fault>",
        )),
    }
}

/// Appends `s` with `&`, `<`, `>`, CR and the other C0 controls escaped (see the module
/// docs).
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' => out.push(c),
            c if u32::from(c) < 0x20 => {
                out.push_str("&#");
                out.push_str(&u32::from(c).to_string());
                out.push(';');
            }
            c => out.push(c),
        }
    }
}

fn write_value(out: &mut String, v: &Value) {
    out.push_str("<value>");
    match v {
        Value::Str(s) => {
            out.push_str("<string>");
            escape_into(out, s);
            out.push_str("</string>");
        }
        Value::Int(i) => {
            let tag = if i32::try_from(*i).is_ok() {
                "int"
            } else {
                "i8"
            };
            out.push('<');
            out.push_str(tag);
            out.push('>');
            out.push_str(&i.to_string());
            out.push_str("</");
            out.push_str(tag);
            out.push('>');
        }
        Value::Bool(b) => {
            out.push_str(if *b {
                "<boolean>1</boolean>"
            } else {
                "<boolean>0</boolean>"
            });
        }
        Value::Double(d) => {
            // Rust prints the shortest decimal that reads back exactly, never an exponent.
            out.push_str("<double>");
            out.push_str(&d.to_string());
            out.push_str("</double>");
        }
        Value::Base64(bytes) => {
            out.push_str("<base64>");
            out.push_str(&BASE64.encode(bytes));
            out.push_str("</base64>");
        }
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, v) in members {
                out.push_str("<member><name>");
                escape_into(out, name);
                out.push_str("</name>");
                write_value(out, v);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

/// Encodes a `methodCall` as pfSense's client does.
#[must_use]
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName><params>");
    for p in params {
        out.push_str("<param>");
        write_value(&mut out, p);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>");
    out
}

const RESPONSE_HEAD: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<methodResponse>";

/// Encodes a successful `methodResponse` carrying `value`.
#[must_use]
pub fn encode_response(value: &Value) -> String {
    let mut out = String::from(RESPONSE_HEAD);
    out.push_str("<params><param>");
    write_value(&mut out, value);
    out.push_str("</param></params></methodResponse>");
    out
}

/// Encodes a fault `methodResponse`.
#[must_use]
pub fn encode_fault(fault: &Fault) -> String {
    let mut out = String::from(RESPONSE_HEAD);
    out.push_str("<fault>");
    write_value(
        &mut out,
        &Value::structure([
            ("faultCode", Value::Int(fault.code)),
            ("faultString", Value::Str(fault.message.clone())),
        ]),
    );
    out.push_str("</fault></methodResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_decode_reference_call() {
        // Reference §3.3, pretty-printed as other clients send it.
        let body = br#"<?xml version="1.0"?>
<methodCall>
  <methodName>pfsense.host_firmware_version</methodName>
  <params>
    <param><value><string></string></value></param>
    <param><value><int>240</int></value></param>
  </params>
</methodCall>"#;
        let call = decode_call(body).unwrap();
        assert_eq!(call.method, "pfsense.host_firmware_version");
        assert_eq!(call.params, [Value::str(""), Value::Int(240)]);
    }

    #[test]
    fn test_decode_scalars() {
        let body = "<methodCall><methodName>m</methodName><params>\
            <param><value>  raw &amp; kept  </value></param>\
            <param><value><i4> -7 </i4></value></param>\
            <param><value><i8>9000000000</i8></value></param>\
            <param><value><boolean>1</boolean></value></param>\
            <param><value><double>-1.5e3</double></value></param>\
            <param><value><base64>aGVs\nbG8=</base64></value></param>\
            <param><value><base64>aGk</base64></value></param>\
            <param><value><dateTime.iso8601>20240101T00:00:00</dateTime.iso8601></value></param>\
            <param><value><string><![CDATA[<x>]]> &#233;</string></value></param>\
            <param><value/></param>\
            </params></methodCall>";
        let call = decode_call(body.as_bytes()).unwrap();
        assert_eq!(
            call.params,
            [
                Value::str("  raw & kept  "),
                Value::Int(-7),
                Value::Int(9_000_000_000),
                Value::Bool(true),
                Value::Double(-1500.0),
                Value::Base64(b"hello".to_vec()),
                Value::Base64(b"hi".to_vec()),
                Value::DateTime("20240101T00:00:00".into()),
                Value::str("<x> é"),
                Value::str(""),
            ]
        );
    }

    #[test]
    fn test_decode_struct_and_array() {
        let body = "<methodCall><methodName>m</methodName><params><param><value><struct>\
            <member><name>rule</name><value><array><data>\
              <value><struct><member><value><string>pass</string></value><name>type</name></member></struct></value>\
            </data></array></value></member>\
            <member><name>a</name><value>1</value></member>\
            <member><name>a</name><value>2</value></member>\
            <member><name>empty</name><value><array><data/></array></value></member>\
            </struct></value></param></params></methodCall>";
        let call = decode_call(body.as_bytes()).unwrap();
        let v = &call.params[0];
        assert_eq!(
            v,
            &Value::structure([
                (
                    "rule",
                    Value::Array(vec![Value::structure([("type", Value::str("pass"))])])
                ),
                ("a", Value::str("2")),
                ("empty", Value::Array(vec![])),
            ])
        );
    }

    #[test]
    fn test_decode_errors() {
        type Check = fn(&DecodeError) -> bool;
        let cases: &[(&[u8], Check)] = &[
            (b"", |e| matches!(e, DecodeError::Structure(_))),
            (b"<methodCall>", |e| matches!(e, DecodeError::Syntax(_))),
            (b"<methodCall></methodResponse>", |e| {
                matches!(e, DecodeError::Syntax(_))
            }),
            (b"<a/>", |e| matches!(e, DecodeError::Structure(_))),
            (b"<methodCall><params/></methodCall>", |e| {
                matches!(e, DecodeError::Structure(_))
            }),
            (
                b"<methodCall><methodName>m</methodName><params><param><value><nil/></value></param></params></methodCall>",
                |e| matches!(e, DecodeError::Nil),
            ),
            (
                b"<methodCall><methodName>m</methodName><params><param><value><int>x</int></value></param></params></methodCall>",
                |e| matches!(e, DecodeError::BadScalar { ty: "int", .. }),
            ),
            (
                b"<methodCall><methodName>m</methodName><params><param><value><boolean>true</boolean></value></param></params></methodCall>",
                |e| matches!(e, DecodeError::BadScalar { ty: "boolean", .. }),
            ),
            (
                b"<!DOCTYPE x [<!ENTITY a 'b'>]><methodCall><methodName>m</methodName></methodCall>",
                |e| matches!(e, DecodeError::Structure(_)),
            ),
            (
                b"<methodCall><methodName>&bogus;</methodName></methodCall>",
                |e| matches!(e, DecodeError::Syntax(_)),
            ),
            (b"<methodCall><methodName>a\0</methodName></methodCall>", |e| {
                matches!(e, DecodeError::Syntax(_))
            }),
            (b"<methodCall>\xff</methodCall>", |e| {
                matches!(e, DecodeError::NotUtf8 { offset: 12 })
            }),
            (
                b"<methodCall><methodName>m</methodName><params><param><value>x<string>y</string></value></param></params></methodCall>",
                |e| matches!(e, DecodeError::Structure(_)),
            ),
        ];
        for (body, check) in cases {
            let err = decode_call(body).unwrap_err();
            assert!(check(&err), "{}: {err:?}", String::from_utf8_lossy(body));
        }
        let deep = "<value><array><data>".repeat(200);
        let body = format!("<methodCall><methodName>m</methodName><params><param>{deep}");
        assert_eq!(decode_call(body.as_bytes()), Err(DecodeError::TooDeep));
    }

    #[test]
    fn test_encode_like_pfsense() {
        let body = encode_call(
            "pfsense.host_firmware_version",
            &[Value::str(""), Value::Int(240)],
        );
        assert_eq!(
            body,
            "<?xml version=\"1.0\"?>\n<methodCall><methodName>pfsense.host_firmware_version</methodName>\
             <params><param><value><string></string></value></param><param><value><int>240</int></value></param>\
             </params></methodCall>"
        );
        assert_eq!(
            encode_response(&Value::Bool(true)),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<methodResponse><params><param><value><boolean>1</boolean></value></param></params></methodResponse>"
        );
        let fault = Fault::new(-1, "Authentication failed: Invalid username or password");
        let body = encode_fault(&fault);
        assert!(
            body.contains("<member><name>faultCode</name><value><int>-1</int></value></member>")
        );
        assert_eq!(
            decode_response(body.as_bytes()),
            Ok(MethodResponse::Fault(fault))
        );
        let s = Value::str("a&b<c>\"d'\r\u{1}é");
        let body = encode_response(&s);
        assert!(body.contains("<string>a&amp;b&lt;c&gt;\"d'&#13;&#1;é</string>"));
        assert_eq!(
            decode_response(body.as_bytes()),
            Ok(MethodResponse::Value(s))
        );
        assert!(encode_response(&Value::Int(1 << 40)).contains("<i8>1099511627776</i8>"));
    }

    #[test]
    fn test_decode_fault_with_string_code() {
        let body = b"<methodResponse><fault><value><struct>\
            <member><name>faultString</name><value>nope</value></member>\
            <member><name>faultCode</name><value><string>-32601</string></value></member>\
            </struct></value></fault></methodResponse>";
        assert_eq!(
            decode_response(body),
            Ok(MethodResponse::Fault(Fault::new(-32601, "nope")))
        );
        assert!(decode_response(b"<methodResponse><params/></methodResponse>").is_err());
    }
}
