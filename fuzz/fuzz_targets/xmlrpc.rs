//! XML-RPC bodies: any bytes decode to a call, a response or an error, never a panic; what
//! decodes re-encodes to a body that decodes to the same thing (compared as encoded text,
//! so NaN compares equal); decoded values go through the config-tree conversion and
//! pfSense's merges against the reference HA config without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_control::config::ConfigDocument;
use rampart_control::xmlrpc::codec::{
    MethodResponse, decode_call, decode_response, encode_call, encode_fault, encode_response,
};
use rampart_control::xmlrpc::merge::{
    merge_config_section, merge_installedpackages_section, restore_config_section,
};
use rampart_control::xmlrpc::tree::value_to_elements;

const CONFIG: &[u8] = include_bytes!("../../control/tests/data/ha-primary.xml");

fn encode(r: &MethodResponse) -> String {
    match r {
        MethodResponse::Value(v) => encode_response(v),
        MethodResponse::Fault(f) => encode_fault(f),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = decode_call(data) {
        let body = encode_call(&call.method, &call.params);
        let again = decode_call(body.as_bytes()).expect("a re-encoded call decodes");
        assert_eq!(encode_call(&again.method, &again.params), body, "call round trip");
        let doc = ConfigDocument::parse(CONFIG).expect("fixture");
        for p in &call.params {
            let _ = value_to_elements("section", p);
            let _ = restore_config_section(&doc, p);
            let _ = merge_config_section(&doc, p);
            let _ = merge_installedpackages_section(&doc, p);
        }
    }
    if let Ok(resp) = decode_response(data) {
        let body = encode(&resp);
        let again = decode_response(body.as_bytes()).expect("a re-encoded response decodes");
        assert_eq!(encode(&again), body, "response round trip");
    }
});
