//! The control socket's request parser on arbitrary input: it never panics, and whatever it
//! accepts is a command that prints back to an equivalent request line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use proptest::prelude::*;
use rampart_control::ctl::proto::{COMMANDS, parse_request};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(cmd) = parse_request(&bytes) {
            let line = cmd.to_line();
            prop_assert_eq!(parse_request(line.trim_end().as_bytes()).unwrap(), cmd);
        }
    }

    #[test]
    fn envelope_like_input_never_panics(
        v in prop_oneof![Just("1".to_string()), any::<i64>().prop_map(|n| n.to_string()), Just("\"1\"".into())],
        cmd in prop_oneof![proptest::sample::select(COMMANDS).prop_map(str::to_string), "[a-z.]{0,12}"],
        args in prop_oneof![
            Just("null".to_string()),
            Just("{}".to_string()),
            "\\{\"(on|proto|port|addr|iface|limit|xml)\":(true|1|-1|70000|\"tcp\"|\"x\"|null)\\}",
            "[ -~]{0,40}",
        ],
    ) {
        let line = format!("{{\"v\":{v},\"cmd\":\"{cmd}\",\"args\":{args}}}");
        if let Ok(parsed) = parse_request(line.as_bytes()) {
            prop_assert!(COMMANDS.contains(&parsed.name()));
        }
    }
}
