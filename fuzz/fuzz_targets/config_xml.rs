//! config.xml: any bytes give a document or an error, never a panic; a document that parses
//! writes back to text that parses to the same tree, and validation never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_control::config::{Config, ConfigDocument};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = ConfigDocument::parse(data) else {
        return;
    };
    let written = doc.to_xml();
    let again = ConfigDocument::parse(written.as_bytes());
    assert_eq!(again.as_ref().ok(), Some(&doc), "write → parse changed the tree");
    let (_config, _errors) = Config::analyze(doc);
});
