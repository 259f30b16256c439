//! CARP adverts (the IP payload of protocol 112): every getter on any bytes, the receive
//! checks of a configured vhid, encode → parse round trips, and the state machine fed the
//! parsed fields directly (the HMAC would keep the fuzzer out of the election otherwise).
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use rampart_control::carp::{rx, Advert, CarpPacket, Config, Event, Incoming, Instant, Machine};

fuzz_target!(|data: &[u8]| {
    let packet = CarpPacket::new_unchecked(data);
    black_box((packet.version(), packet.kind(), packet.vhid(), packet.advskew()));
    black_box((packet.authlen(), packet.demote(), packet.advbase(), packet.checksum()));
    black_box((packet.counter(), packet.hmac(), packet.verify_checksum()));

    let vip = "192.0.2.100".parse().unwrap();
    let v6 = "fe80::64".parse().unwrap();
    let mut config = Config::new(7, "s3cretpass", vec![vip, v6]);
    config.advskew = 100;
    let mut machine = Machine::new(config, 1).unwrap();
    let mut now = Instant::from_secs(1);
    machine.handle(now, Event::LinkUp);
    let ttl = data.first().copied().unwrap_or(255);
    let incoming = Incoming { src: "192.0.2.2".parse().unwrap(), ttl, bytes: data };
    let _ = machine.receive(now, &incoming);

    let Ok(packet) = rx::parse(data) else {
        return;
    };
    let advert = Advert::parse(&packet);
    let auth = machine.verifier().auth.clone();
    let bytes = advert.to_bytes(&auth);
    let again = rx::parse(&bytes).map(|p| Advert::parse(&p));
    assert_eq!(again, Ok(advert), "encode → parse changed the advert");

    // The same fields as if verified, as backup and (after its timer) as master.
    for _ in 0..2 {
        machine.handle(now, Event::Advert(Advert { vhid: 7, ..advert }));
        while machine.poll_action().is_some() {}
        if let Some(t) = machine.poll_timeout() {
            now = t;
            machine.handle(now, Event::Tick);
            while machine.poll_action().is_some() {}
        }
        machine.handle(now, Event::Advert(Advert { vhid: 7, counter: advert.counter ^ 1, ..advert }));
        while machine.poll_action().is_some() {}
    }
});
