//! Every real `config.xml` in `shared/fixtures/pfsense-configs/` must load,
//! write back, and load again to the same tree and the same typed model; its
//! validation outcome is pinned in [`EXPECTED`] so regressions show up.

// Test glue: helpers outside #[test] fns may panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use rampart_control::config::{Config, ConfigDocument, ConfigError, VipMode, XmlError};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/pfsense-configs")
}

fn fixtures() -> Vec<PathBuf> {
    let dir = fixture_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixture folder {} is missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.xml fixtures in {}", dir.display());
    files
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Expected outcome per fixture: the validation errors (rendered as
/// `path: message`; empty = valid) and a few counts that pin what the typed
/// model read: (interfaces, gateway items, static routes, VIPs, CARP VIPs,
/// hasync present, aliases, filter rules, users, groups).
struct Expect {
    file: &'static str,
    errors: &'static [&'static str],
    counts: (
        usize,
        usize,
        usize,
        usize,
        usize,
        bool,
        usize,
        usize,
        usize,
        usize,
    ),
}

const EXPECTED: &[Expect] = &[
    Expect {
        file: "EvilBit-Labs__opnDossier__config-2.6.x.xml",
        errors: &[],
        counts: (2, 0, 0, 0, 0, false, 0, 2, 1, 1),
    },
    Expect {
        file: "EvilBit-Labs__opnDossier__config-2.7.x.xml",
        errors: &[],
        counts: (2, 1, 1, 0, 0, false, 0, 1, 2, 2),
    },
    Expect {
        file: "EvilBit-Labs__opnDossier__pfsense-aliases.xml",
        errors: &[],
        counts: (0, 0, 0, 0, 0, false, 5, 1, 0, 0),
    },
    Expect {
        file: "cshearhod-heart__pfsense-ha-builder__sample-config-existing-ha.xml",
        errors: &[],
        counts: (5, 1, 0, 1, 1, true, 0, 0, 0, 0),
    },
    Expect {
        file: "cshearhod-heart__pfsense-ha-builder__sample-config-kea-existing-ha.xml",
        errors: &[],
        counts: (3, 0, 0, 1, 1, true, 0, 0, 0, 0),
    },
    Expect {
        file: "cshearhod-heart__pfsense-ha-builder__sample-config-multi-vip.xml",
        errors: &[],
        counts: (5, 1, 0, 2, 2, true, 0, 0, 0, 0),
    },
    Expect {
        file: "cshearhod-heart__pfsense-ha-builder__sample-config.xml",
        errors: &[],
        counts: (3, 1, 0, 0, 0, false, 0, 0, 0, 0),
    },
    Expect {
        file: "grounzero__pfsense-redactor__test-config2.xml",
        errors: &[],
        counts: (7, 0, 0, 0, 0, false, 0, 13, 1, 2),
    },
    Expect {
        file: "opoplawski__ansible-pfsense__pfsense_syslog_config.xml",
        errors: &[],
        counts: (6, 0, 0, 2, 0, false, 0, 0, 0, 0),
    },
    Expect {
        file: "oxypwn__pfsense-tools__config.xml",
        errors: &[],
        counts: (2, 0, 0, 0, 0, false, 0, 2, 0, 0),
    },
    Expect {
        file: "pfsense__FreeBSD-ports__config.xml",
        errors: &[],
        counts: (2, 0, 0, 0, 0, false, 0, 2, 1, 2),
    },
    Expect {
        file: "pfsense__pfsense__config.xml",
        errors: &[],
        counts: (2, 0, 0, 0, 0, false, 0, 2, 1, 2),
    },
    Expect {
        file: "pfsensible__core__pfsense_dns_resolver_config_full.xml",
        errors: &[],
        counts: (4, 0, 0, 0, 0, false, 0, 0, 1, 5),
    },
    Expect {
        file: "thoai-system443__pfsense-network-map__floating.xml",
        errors: &[],
        counts: (3, 0, 0, 0, 0, false, 0, 4, 0, 0),
    },
    Expect {
        file: "thoai-system443__pfsense-network-map__routed.xml",
        errors: &[],
        counts: (3, 2, 2, 0, 0, false, 0, 1, 0, 0),
    },
    Expect {
        file: "wesparish__pfsense-to-mikrotik-routerboard__minimal.xml",
        errors: &[],
        counts: (4, 0, 0, 0, 0, false, 0, 5, 0, 0),
    },
];

fn load(path: &Path) -> (Config, Vec<ConfigError>) {
    let bytes = std::fs::read(path).unwrap();
    let doc = ConfigDocument::parse(&bytes)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", name(path)));
    Config::analyze(doc)
}

#[test]
fn every_fixture_round_trips() {
    for path in fixtures() {
        let (config, _) = load(&path);
        let written = config.to_xml();
        let doc2 = ConfigDocument::parse(written.as_bytes())
            .unwrap_or_else(|e| panic!("{}: written form does not parse: {e}", name(&path)));
        assert_eq!(
            doc2,
            config.doc,
            "{}: tree changed in round trip",
            name(&path)
        );
        let (config2, _) = Config::analyze(doc2);
        assert_eq!(
            config2,
            config,
            "{}: typed model changed in round trip",
            name(&path)
        );
        // Writing is a fixed point after one pass.
        assert_eq!(
            config2.to_xml(),
            written,
            "{}: second write differs",
            name(&path)
        );
        assert!(written.starts_with("<?xml version=\"1.0\"?>\n<pfsense"));
    }
}

#[test]
fn every_fixture_has_the_expected_validation_outcome() {
    let files = fixtures();
    let names: Vec<String> = files.iter().map(|p| name(p)).collect();
    for e in EXPECTED {
        assert!(
            names.iter().any(|n| n == e.file),
            "fixture {} disappeared",
            e.file
        );
    }
    for path in &files {
        let file = name(path);
        let expect = EXPECTED
            .iter()
            .find(|e| e.file == file)
            .unwrap_or_else(|| panic!("new fixture {file}: add it to EXPECTED"));
        let (c, errors) = load(path);
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered, expect.errors,
            "{file}: validation outcome changed"
        );
        let counts = (
            c.interfaces.len(),
            c.gateways.items.len(),
            c.static_routes.len(),
            c.virtual_ips.len(),
            c.virtual_ips
                .iter()
                .filter(|v| v.mode == VipMode::Carp)
                .count(),
            c.hasync.is_some(),
            c.aliases.len(),
            c.filter_rules.len(),
            c.system.users.len(),
            c.system.groups.len(),
        );
        assert_eq!(counts, expect.counts, "{file}: typed model counts changed");
        if expect.errors.is_empty() {
            Config::load(path).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn truncated_fixtures_are_rejected_without_panicking() {
    for path in fixtures() {
        let bytes = std::fs::read(&path).unwrap();
        let end = bytes.len();
        // Every prefix is tried near the ends (where the root closes), every
        // 37th byte elsewhere.
        let cut_points = (0..end).filter(|&i| i < 64 || end - i < 64 || i % 37 == 0);
        for cut in cut_points {
            let prefix = &bytes[..cut];
            if let Ok(doc) = ConfigDocument::parse(prefix) {
                // Only possible when just trailing whitespace was cut.
                assert!(
                    bytes[cut..].iter().all(u8::is_ascii_whitespace),
                    "{} parsed when cut at {cut}",
                    name(&path)
                );
                let _ = Config::analyze(doc);
            }
        }
    }
}

#[test]
fn known_fixture_details() {
    let dir = fixture_dir();
    let (c, _) = load(&dir.join("pfsense__pfsense__config.xml"));
    assert_eq!(c.doc.version(), Some("13.1"));
    let wan = c.interface("wan").unwrap();
    assert!(wan.enabled);
    assert_eq!(wan.if_name, "em0");
    assert_eq!(
        wan.ipv4,
        rampart_control::config::Ipv4Mode::Dynamic("dhcp".into())
    );
    assert_eq!(wan.mtu, None);
    let lan = c.interface_by_if("em1").unwrap();
    assert_eq!(lan.ipv4_cidr().unwrap().to_string(), "192.168.1.1/24");
    assert_eq!(c.filter_rules[0].tracker, "0100000101");
    assert_eq!(c.filter_rules[0].descr, "Default allow LAN to any rule");
    assert_eq!(c.system.users[0].privs, ["user-shell-access"]);
    assert_eq!(c.system.group("admins").unwrap().members, [0]);

    // Legacy <defaultgw> flag, root attribute kept.
    let (c, _) = load(&dir.join("cshearhod-heart__pfsense-ha-builder__sample-config.xml"));
    assert_eq!(c.default_gateway_v4().unwrap().name, "WANGW");
    assert_eq!(c.doc.root().attribute("version"), Some("24.11"));
    assert!(c.to_xml().contains("<pfsense version=\"24.11\">\n"));

    // hasync + CARP.
    let (c, _) =
        load(&dir.join("cshearhod-heart__pfsense-ha-builder__sample-config-multi-vip.xml"));
    let h = c.hasync.as_ref().unwrap();
    assert!(h.pfsync_enabled);
    assert_eq!(h.pfsync_interface.as_deref(), Some("opt1"));
    assert_eq!(h.pfsync_peer_ip, Some("10.255.255.2".parse().unwrap()));
    assert!(h.syncs("rules") && h.syncs("virtualip") && !h.syncs("openvpn"));
    assert_eq!(h.synchronize.len(), 7);
    let vhids: Vec<_> = c.carp_vips().map(|v| v.vhid.unwrap()).collect();
    assert_eq!(vhids, [7, 8]);

    // Comments are dropped; the entity inside a legacy descr is decoded.
    let (c, _) = load(&dir.join("oxypwn__pfsense-tools__config.xml"));
    assert_eq!(c.filter_rules[0].descr, "Default LAN -> any");
    assert!(c.doc.section("staticroutes").unwrap().is_empty());
    assert!(!c.to_xml().contains("<!--"));
    assert!(
        c.to_xml()
            .contains("<descr><![CDATA[Default LAN -&gt; any]]></descr>")
    );

    // Static IPv6 + empty <gateway>.
    let (c, _) = load(&dir.join("opoplawski__ansible-pfsense__pfsense_syslog_config.xml"));
    let lan = c.interface("lan").unwrap();
    assert_eq!(lan.ipv6_cidr().unwrap().to_string(), "2001::2001:22/64");
    assert_eq!(lan.gateway, None);
    assert!(!c.interface("opt2").unwrap().enabled);

    // Static routes through a named gateway.
    let (c, _) = load(&dir.join("thoai-system443__pfsense-network-map__routed.xml"));
    assert_eq!(c.static_routes[1].gateway, "CORE_ROUTER");
    assert_eq!(
        c.static_routes[1].network,
        rampart_control::config::RouteNetwork::V4("10.20.5.0/24".parse().unwrap())
    );

    // Aliases split on whitespace.
    let (c, _) = load(&dir.join("EvilBit-Labs__opnDossier__pfsense-aliases.xml"));
    assert_eq!(
        c.alias("ALL_SERVERS").unwrap().addresses,
        ["WEB_SERVERS", "10.20.30.50"]
    );
}

#[test]
fn wrong_root_is_rejected() {
    assert!(matches!(
        ConfigDocument::parse(b"<?xml version=\"1.0\"?>\n<config><system/></config>"),
        Err(XmlError::WrongRoot { .. })
    ));
}
