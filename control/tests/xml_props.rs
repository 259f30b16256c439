//! Property tests for the XML layer: write→parse is the identity on any tree,
//! and no input makes the parser or the analysis panic.

// Test glue: helpers outside #[test] fns may panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rampart_control::config::xml::{self, Element};
use rampart_control::config::{Config, ConfigDocument};

/// Names from a small alphabet, including CDATA-prefixed ones (`descr`,
/// `password`, `statetype`, …), listtags and pfSense section names.
fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "b-c",
        "x_y",
        "item",
        "rule",
        "descr",
        "detail",
        "password",
        "statetype",
        "username",
        "text",
        "if",
        "vip",
        "port",
        "interfaces",
        "gateways",
        "lan",
        "wan",
        "subnet",
        "ipaddr",
        "name",
        "vhid",
        "rampart",
        "hasync",
        "n1.2",
    ])
    .prop_map(str::to_owned)
}

/// Text with markup characters, quotes, whitespace, unicode and `]]>`.
fn text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a",
        "Z",
        "0",
        " ",
        "\t",
        "\n",
        "\r",
        "<",
        ">",
        "&",
        "'",
        "\"",
        "]]>",
        "]]",
        "<![CDATA[",
        "&amp;",
        "&lt;",
        "&#65;",
        "&nbsp;",
        "é",
        "中",
        "🦀",
        "--",
        "-->",
        "?>",
        ";",
    ]);
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn attr() -> impl Strategy<Value = (String, String)> {
    (prop::sample::select(vec!["version", "id", "k"]), text()).prop_map(|(k, v)| (k.to_owned(), v))
}

fn leaf() -> impl Strategy<Value = Element> {
    (name(), text(), prop::option::of(attr())).prop_map(|(n, t, a)| {
        let mut e = Element::with_text(n, &t);
        if let Some((k, v)) = a {
            e.set_attribute(k, v);
        }
        e
    })
}

fn tree() -> impl Strategy<Value = Element> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        (name(), prop::collection::vec(inner, 0..6)).prop_map(|(n, children)| {
            let mut e = Element::new(n);
            for c in children {
                e.push(c);
            }
            e
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn write_then_parse_is_identity(children in prop::collection::vec(tree(), 0..5)) {
        let mut root = Element::new("pfsense");
        for c in children {
            root.push(c);
        }
        let written = xml::write_document(&root);
        let parsed = xml::parse(written.as_bytes());
        prop_assert_eq!(parsed.as_ref(), Ok(&root), "written:\n{}", written);
        // And as a document, whose analysis must not panic either.
        let doc = ConfigDocument::parse(written.as_bytes()).unwrap();
        let _ = Config::analyze(doc);
    }

    #[test]
    fn cdata_named_leaves_survive_any_text(t in text(), n in prop::sample::select(vec!["descr", "password", "detail", "a"])) {
        let root = Element::new("pfsense").with_child(Element::with_text(n, &t));
        let written = xml::write_document(&root);
        let parsed = xml::parse(written.as_bytes()).unwrap();
        prop_assert_eq!(&parsed, &root);
        prop_assert_eq!(parsed.children()[0].text(), xml::normalize_text(&t));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = xml::parse(&bytes);
        if let Ok(doc) = ConfigDocument::parse(&bytes) {
            let _ = Config::analyze(doc);
        }
    }

    #[test]
    fn xml_like_input_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "<", ">", "/", "</", "/>", "<?xml version=\"1.0\"?>", "<!--", "-->", "<![CDATA[", "]]>",
        "pfsense", "interfaces", "lan", "if", "ipaddr", "10.0.0.1", "subnet", "24", "rampart",
        "port", "vip", "carp", "mode", "=", "\"", "'", " a=\"1\"", "&", "&amp;", "&#", ";", "\n",
        "\t", " ", "x", "<!DOCTYPE x>", "<?pi?>", "\u{FEFF}", "é",
    ]), 0..80)) {
        let s = parts.concat();
        if let Ok(doc) = ConfigDocument::parse(s.as_bytes()) {
            let _ = Config::analyze(doc.clone());
            // Anything that parses round-trips.
            let again = ConfigDocument::parse(doc.to_xml().as_bytes()).unwrap();
            prop_assert_eq!(again, doc);
        }
    }

    /// Random pfSense-shaped documents: analysis never panics, and whatever
    /// it finds is stable across a write/parse round trip.
    #[test]
    fn analysis_is_stable_over_round_trip(
        ifaces in prop::collection::vec((
            prop::sample::select(vec!["wan", "lan", "opt1", "opt2"]),
            prop::sample::select(vec!["em0", "em1", "igb0", ""]),
            prop::sample::select(vec!["10.0.0.1", "dhcp", "10.0.0.256", "", "x y"]),
            prop::sample::select(vec!["24", "33", "", "-1", "032"]),
            any::<bool>(),
        ), 0..5),
        vhids in prop::collection::vec(prop::sample::select(vec!["0", "1", "1", "255", "256", "", "x"]), 0..4),
        ports in prop::collection::vec(prop::sample::select(vec!["em0", "em1", "igb9", ""]), 0..4),
        workers in prop::sample::select(vec!["", "0", "1", "64", "65", "many"]),
    ) {
        let mut interfaces = Element::new("interfaces");
        for (key, dev, ip, subnet, enabled) in ifaces {
            let mut i = Element::new(key)
                .with_child(Element::with_text("if", dev))
                .with_child(Element::with_text("ipaddr", ip))
                .with_child(Element::with_text("subnet", subnet));
            if enabled {
                i.push(Element::new("enable"));
            }
            interfaces.push(i);
        }
        let mut vips = Element::new("virtualip");
        for v in vhids {
            vips.push(
                Element::new("vip")
                    .with_child(Element::with_text("mode", "carp"))
                    .with_child(Element::with_text("interface", "lan"))
                    .with_child(Element::with_text("vhid", v))
                    .with_child(Element::with_text("subnet", "10.0.0.9")),
            );
        }
        let mut rampart = Element::new("rampart").with_child(Element::with_text("workers", workers));
        for p in ports {
            rampart.push(
                Element::new("port")
                    .with_child(Element::with_text("if", p))
                    .with_child(Element::with_text("devargs", "net_null0")),
            );
        }
        let root = Element::new("pfsense")
            .with_child(interfaces)
            .with_child(vips)
            .with_child(rampart);
        let doc = ConfigDocument::from_root(root).unwrap();
        let (config, errors) = Config::analyze(doc.clone());
        let doc2 = ConfigDocument::parse(doc.to_xml().as_bytes()).unwrap();
        let (config2, errors2) = Config::analyze(doc2);
        prop_assert_eq!(config, config2);
        prop_assert_eq!(errors, errors2);
    }
}
