use rampart_control::config::*;
#[test]
fn probe() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/pfsense-configs");
    let mut v: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    for p in v { if p.extension().map_or(true, |e| e != "xml") { continue; }
        let bytes = std::fs::read(&p).unwrap();
        let doc = ConfigDocument::parse(&bytes).unwrap();
        let (c, errs) = Config::analyze(doc.clone());
        println!("== {} ifaces={} gws={} def4={:?} routes={} vips={} hasync={} aliases={} rules={} nat={:?} users={} groups={}", p.file_name().unwrap().to_string_lossy(), c.interfaces.len(), c.gateways.items.len(), c.gateways.default_v4, c.static_routes.len(), c.virtual_ips.len(), c.hasync.is_some(), c.aliases.len(), c.filter_rules.len(), c.nat, c.system.users.len(), c.system.groups.len());
        for e in errs { println!("   {e}"); }
        let again = ConfigDocument::parse(doc.to_xml().as_bytes()).unwrap();
        assert_eq!(again, doc);
    }
}
