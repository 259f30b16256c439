//! Property tests: every value round-trips through the codec, config subtrees round-trip
//! through XML-RPC values, and arbitrary bytes or values never panic the decoder, the
//! converters, the merges or the handler.

use proptest::prelude::*;

use super::codec::{
    MethodResponse, decode_call, decode_response, encode_call, encode_fault, encode_response,
};
use super::handler::{CallContext, Handler, HandlerOptions};
use super::merge::{merge_config_section, merge_installedpackages_section, restore_config_section};
use super::store::MemoryStore;
use super::tree::{element_to_value, value_to_elements};
use super::value::{Fault, Value};
use crate::config::xml::{Element, is_listtag};
use crate::config::{Config, ConfigDocument};
use rampart_dataplane::time::Instant;

const PRIMARY: &str = include_str!("../../tests/data/ha-primary.xml");

/// Any string XML can carry back: every char but NUL.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 <>&;:'\"/.-]{0,12}",
        any::<String>().prop_map(|s| s.replace('\0', "")),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>()
            .prop_filter("finite", |d| d.is_finite())
            .prop_map(Value::Double),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Base64),
        "[0-9T:]{0,17}".prop_map(Value::DateTime),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Struct(m.into_iter().collect())),
        ]
    })
}

/// Lower-case element names, listtags among them.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("rule".to_owned()),
        Just("vip".to_owned()),
        Just("descr".to_owned()),
        "[a-z][a-z0-9_-]{0,6}",
    ]
}

/// Normalised leaf text, as the config reader leaves it.
fn leaf_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 <>&é]{0,8}".prop_map(|s| crate::config::xml::normalize_text(&s))
}

/// Config subtrees in the shape pfSense's arrays can express: same-named children are
/// adjacent, a non-listtag name occurs once unless it repeats on purpose.
fn element() -> impl Strategy<Value = Element> {
    let leaf = (name(), leaf_text()).prop_map(|(n, t)| Element::with_text(n, &t));
    leaf.prop_recursive(4, 40, 5, |inner| {
        (name(), proptest::collection::vec((inner, 1..3usize), 1..5)).prop_map(|(n, groups)| {
            let mut e = Element::new(n);
            let mut seen: Vec<String> = Vec::new();
            for (child, count) in groups {
                if seen.contains(&child.name().to_owned()) {
                    continue;
                }
                seen.push(child.name().to_owned());
                let count = if is_listtag(child.name()) { count } else { 1 };
                for _ in 0..count {
                    e.push(child.clone());
                }
            }
            e
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn prop_value_round_trip(v in value()) {
        let body = encode_response(&v);
        prop_assert_eq!(decode_response(body.as_bytes()), Ok(MethodResponse::Value(v.clone())));
        let call = decode_call(encode_call("pfsense.x", std::slice::from_ref(&v)).as_bytes()).unwrap();
        prop_assert_eq!(call.params, vec![v]);
    }

    #[test]
    fn prop_fault_round_trip(code in any::<i64>(), message in text()) {
        let f = Fault::new(code, message);
        prop_assert_eq!(decode_response(encode_fault(&f).as_bytes()), Ok(MethodResponse::Fault(f)));
    }

    #[test]
    fn prop_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_call(&bytes);
        let _ = decode_response(&bytes);
    }

    #[test]
    fn prop_mangled_bodies_never_panic(v in value(), cut in any::<usize>(), at in any::<usize>(), byte in any::<u8>()) {
        let mut body = encode_call("pfsense.restore_config_section", &[v]).into_bytes();
        let cut = cut % (body.len() + 1);
        body.truncate(cut.max(1));
        if !body.is_empty() {
            let i = at % body.len();
            body[i] = byte;
        }
        let _ = decode_call(&body);
    }

    #[test]
    fn prop_tree_round_trip(e in element()) {
        // Under a section, as in a config (an empty listtag element alone is dropped, as
        // pfSense's reader drops it).
        let section = Element::new("section").with_child(e);
        let v = element_to_value(&section);
        let back = value_to_elements("section", &v).unwrap();
        prop_assert_eq!(back, vec![section]);
    }

    #[test]
    fn prop_values_to_trees_never_panic(n in "[a-zA-Z_0-9-]{1,8}", v in value()) {
        if let Ok(elements) = value_to_elements(&n, &v) {
            for e in &elements {
                // What converts can be written and read back as config XML.
                let xml = crate::config::xml::write_fragment(e, 0);
                prop_assert!(crate::config::xml::parse(xml.as_bytes()).is_ok(), "{}", xml);
            }
        }
    }

    #[test]
    fn prop_merges_never_panic(v in value(), sections in proptest::collection::vec((name(), value()), 0..4)) {
        let doc = ConfigDocument::parse(PRIMARY.as_bytes()).unwrap();
        let payload = Value::Struct(sections);
        for p in [&v, &payload] {
            let _ = restore_config_section(&doc, p);
            let _ = merge_config_section(&doc, p);
            let _ = merge_installedpackages_section(&doc, p);
        }
    }
}

proptest! {
    // Each case runs a (cost 4) bcrypt check.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn prop_handler_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), v in value()) {
        let h = bcrypt::hash("pw", 4).unwrap();
        let xml = PRIMARY.replace("$2b$10$13u6qwCOwODv34GyCMgdWub6oQF3RX0rG7c3d3X4JvzuEmAXLYDd2", &h);
        let store = MemoryStore::new(Config::parse(xml.as_bytes()).unwrap());
        let mut handler = Handler::new(store, HandlerOptions::default());
        let creds = super::auth::Credentials::new("admin", "pw");
        let ctx = CallContext { now: Instant::from_secs(1), peer: "192.0.2.9".parse().unwrap(), auth: Some(&creds) };
        for body in [bytes, encode_call("pfsense.restore_config_section", std::slice::from_ref(&v)).into_bytes(),
                     encode_call("pfsense.merge_config_section", &[v]).into_bytes()] {
            let r = handler.handle(&body, &ctx);
            prop_assert!(decode_response(r.body.as_bytes()).is_ok());
        }
    }
}
