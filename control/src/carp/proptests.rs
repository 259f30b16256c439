//! Property tests: the codec round-trips, arbitrary bytes never panic anything, and the
//! reference test vectors (carp.md §2.6) come out byte for byte.

use std::net::IpAddr;

use proptest::prelude::*;

use super::auth::Auth;
use super::machine::{Config, Event, Machine};
use super::rx::{self, Incoming};
use super::wire::{Advert, CarpPacket, HEADER_LEN};
use super::{DropReason, Instant};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// One reference vector: password, vhid, addresses, fields, expected HMAC and header.
struct Vector {
    password: &'static [u8],
    vhid: u8,
    addrs: &'static [&'static str],
    advskew: u8,
    counter: u64,
    hmac: &'static str,
    checksum: u16,
}

const VECTORS: [Vector; 5] = [
    // TV1
    Vector {
        password: b"s3cretpass",
        vhid: 7,
        addrs: &["192.0.2.100"],
        advskew: 0,
        counter: 1,
        hmac: "185b0809482f975cd108449cc215f053626ff133",
        checksum: 0xc34d,
    },
    // TV2: a captured ucarp advert.
    Vector {
        password: b"s3cretpass",
        vhid: 7,
        addrs: &["192.0.2.100"],
        advskew: 100,
        counter: 0xbc05_460e_a5a9_894f,
        hmac: "8b5be67d24045c0ed8101a6814fcbab9ee7d5d5b",
        checksum: 0x49ef,
    },
    // TV3: two of each family, link-local included (FreeBSD / OpenBSD ORIG).
    Vector {
        password: b"pfsense",
        vhid: 1,
        addrs: &["192.168.1.1", "10.0.0.1", "fe80::1", "2001:db8::1"],
        advskew: 100,
        counter: 0x0102_0304_0506_0708,
        hmac: "572dfde5faefe2a84b548a1fbefeeb0c9de2e657",
        checksum: 0x347c,
    },
    // TV4: a 23-byte password, cut to 19.
    Vector {
        password: b"0123456789abcdefghijXYZ",
        vhid: 1,
        addrs: &["10.0.0.1"],
        advskew: 0,
        counter: 42,
        hmac: "866a6e5cb13813ff2b553da5c6f067e4d2e3e423",
        checksum: 0xd5f6,
    },
    // TV5: no password (all-zero key).
    Vector {
        password: b"",
        vhid: 1,
        addrs: &["10.0.0.1"],
        advskew: 0,
        counter: 42,
        hmac: "921863f3bec28dc8584ad7954899fed5f26e1156",
        checksum: 0x2121,
    },
];

#[test]
fn test_reference_vectors() {
    for (i, v) in VECTORS.iter().enumerate() {
        let addrs = ips(v.addrs);
        let auth = Auth::new(v.password, v.vhid, &addrs);
        let advert = Advert {
            vhid: v.vhid,
            advbase: 1,
            advskew: v.advskew,
            demote: 0,
            counter: v.counter,
        };
        let bytes = advert.to_bytes(&auth);
        let mut want = vec![0x21, v.vhid, v.advskew, 7, 0, 1];
        want.extend(v.checksum.to_be_bytes());
        want.extend(v.counter.to_be_bytes());
        want.extend(hex(v.hmac));
        assert_eq!(bytes.to_vec(), want, "TV{}", i + 1);

        let packet = rx::parse(&bytes).unwrap();
        assert_eq!(Advert::parse(&packet), advert);
        assert!(auth.verify(&packet.counter_bytes(), &packet.hmac()));
    }
}

#[test]
fn test_tv2_is_the_captured_frame() {
    // The CARP part of the lab capture (carp.md §4.3, B's first advert as master).
    let captured =
        hex("21 07 64 07 00 01 49ef bc05460ea5a9894f 8b5be67d24045c0ed8101a6814fcbab9ee7d5d5b");
    let packet = rx::parse(&captured).unwrap();
    assert_eq!(packet.counter(), 13548312082736843087);
    let auth = Auth::new(b"s3cretpass", 7, &ips(&["192.0.2.100"]));
    assert!(auth.verify(&packet.counter_bytes(), &packet.hmac()));
}

#[test]
fn test_tv3_openbsd_nov6ll_accepted() {
    let auth = Auth::new(
        b"pfsense",
        1,
        &ips(&["192.168.1.1", "10.0.0.1", "fe80::1", "2001:db8::1"]),
    );
    let counter = 0x0102_0304_0506_0708u64.to_be_bytes();
    let openbsd: [u8; 20] = hex("5861a65ce441e25326c299c7c9f3dc80c6794da1")
        .try_into()
        .unwrap();
    assert!(auth.verify(&counter, &openbsd));
    // Without link-local addresses the two forms are one; nothing else is accepted.
    let v4_only = Auth::new(b"pfsense", 1, &ips(&["10.0.0.1"]));
    assert!(!v4_only.verify(&counter, &openbsd));
}

fn arb_advert() -> impl Strategy<Value = Advert> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u64>(),
    )
        .prop_map(|(vhid, advbase, advskew, demote, counter)| Advert {
            vhid,
            advbase,
            advskew,
            demote,
            counter,
        })
}

fn machine(vhid: u8) -> Machine {
    let mut config = Config::new(vhid.max(1), "pw", ips(&["192.0.2.100", "2001:db8::64"]));
    config.local = ips(&["192.0.2.1"]);
    let mut m = Machine::new(config, 1).unwrap();
    m.handle(Instant::from_secs(1), Event::LinkUp);
    m
}

proptest! {
    #[test]
    fn prop_round_trip(advert in arb_advert(), password in proptest::collection::vec(any::<u8>(), 0..30)) {
        let addrs = ips(&["192.0.2.100", "fe80::5"]);
        let auth = Auth::new(&password, advert.vhid, &addrs);
        let mut buf = [0u8; HEADER_LEN + 8];
        prop_assert_eq!(advert.emit(&auth, &mut buf), Ok(HEADER_LEN));
        let packet = rx::parse(&buf).unwrap();
        prop_assert_eq!(Advert::parse(&packet), advert);
        prop_assert_eq!(packet.version(), 2);
        prop_assert_eq!(packet.kind(), 1);
        prop_assert_eq!(packet.authlen(), 7);
        prop_assert!(auth.verify(&packet.counter_bytes(), &packet.hmac()));
    }

    #[test]
    fn prop_any_single_bit_flip_is_caught(advert in arb_advert(), bit in 0usize..HEADER_LEN * 8) {
        let auth = Auth::new(b"pw", advert.vhid, &ips(&["10.0.0.1"]));
        let mut bytes = advert.to_bytes(&auth);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(rx::parse(&bytes).err(), Some(DropReason::BadChecksum));
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..80),
        ttl in any::<u8>(),
        vhid in any::<u8>(),
    ) {
        let packet = CarpPacket::new_unchecked(&bytes[..]);
        let _ = (packet.version(), packet.kind(), packet.vhid(), packet.advskew());
        let _ = (packet.authlen(), packet.demote(), packet.advbase(), packet.checksum());
        let _ = (packet.counter(), packet.hmac(), packet.verify_checksum());
        if let Ok(p) = rx::parse(&bytes) {
            let _ = Advert::parse(&p);
        }
        let mut m = machine(vhid);
        for src in ["192.0.2.2", "192.0.2.1", "2001:db8::2"] {
            let incoming = Incoming { src: src.parse().unwrap(), ttl, bytes: &bytes };
            let _ = m.receive(Instant::from_secs(2), &incoming);
        }
        while m.poll_action().is_some() {}
    }

    #[test]
    fn prop_arbitrary_adverts_never_panic(adverts in proptest::collection::vec((arb_advert(), 0u64..5000), 0..40)) {
        // Any sequence of verified adverts and ticks leaves the machine consistent.
        let mut m = machine(1);
        let mut now = Instant::from_secs(1);
        for (mut advert, step_ms) in adverts {
            advert.vhid = 1;
            now = Instant(now.0 + step_ms * 1000);
            if m.poll_timeout().is_some_and(|t| t <= now) {
                m.handle(now, Event::Tick);
            }
            m.handle(now, Event::Advert(advert));
            while m.poll_action().is_some() {}
            prop_assert!(m.poll_timeout().is_some_and(|t| t > now));
        }
    }
}
