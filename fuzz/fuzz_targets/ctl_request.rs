//! Control socket requests: any line gives a command or a typed error, never a panic; a
//! command prints back to a line that parses to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_control::ctl::proto::parse_request;

fuzz_target!(|data: &[u8]| {
    let Ok(cmd) = parse_request(data) else {
        return;
    };
    let line = cmd.to_line();
    assert_eq!(parse_request(line.trim_end().as_bytes()).ok(), Some(cmd));
});
