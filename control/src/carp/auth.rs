//! CARP authentication: HMAC-SHA1 over the vhid's addresses and the counter
//! (carp.md §2), as FreeBSD, OpenBSD and ucarp compute it.
//!
//! * **Key**: the password cut where `strlcpy` into a 20-byte buffer cuts it (at most 19
//!   bytes, and at a NUL), zero-padded. It is not hashed. No password is an all-zero key
//!   (FreeBSD without `pass`).
//! * **Message**: version (2), type (1), vhid, then every IPv4 address of the vhid in
//!   ascending numeric order, then every IPv6 address in ascending byte order, then the 8
//!   counter bytes as on the wire. Duplicates count once, and `0.0.0.0`,
//!   `255.255.255.255`, `::` and `ffff:…:ffff` are never hashed: the BSDs pick "the next
//!   larger address" strictly between those bounds. IPv6 addresses with an embedded scope
//!   (link-local unicast, link- and interface-local multicast) are hashed with bytes 2–3
//!   zeroed, which is their wire form.
//! * Source address, advbase, advskew and demote are **not** covered: anyone on the segment
//!   can replay an advert with other timers. This protects against misconfiguration, not
//!   against an attacker on the link.
//!
//! Sending uses FreeBSD's form (link-local addresses included). Verifying also accepts
//! OpenBSD's `HMAC_NOV6LL` form, which leaves scope-embedded addresses out; the two differ
//! only when such an address is on the vhid.
//!
//! The part of the message before the counter is hashed once per configuration;
//! each advert clones that state and adds the counter.

use std::net::{IpAddr, Ipv6Addr};

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::wire::{TYPE_ADVERT, VERSION};

type HmacSha1 = Hmac<Sha1>;

/// Bytes of the key buffer; at most `KEY_LEN - 1` password bytes are used.
pub const KEY_LEN: usize = 20;

/// The 20-byte key the BSD `ifconfig … pass` builds from a password.
pub fn key_from_password(password: &[u8]) -> [u8; KEY_LEN] {
    let mut key = [0; KEY_LEN];
    // strlcpy: stop at a NUL and leave room for the terminating one.
    let used = password
        .iter()
        .take(KEY_LEN - 1)
        .take_while(|&&b| b != 0)
        .count();
    if let (Some(dst), Some(src)) = (key.get_mut(..used), password.get(..used)) {
        dst.copy_from_slice(src);
    }
    key
}

/// Whether an IPv6 address carries a KAME-embedded scope in bytes 2–3
/// (`IN6_IS_SCOPE_EMBED`).
fn scope_embedded(addr: &Ipv6Addr) -> bool {
    let o = addr.octets();
    let link_local = o[0] == 0xfe && o[1] & 0xc0 == 0x80;
    let scoped_multicast = o[0] == 0xff && matches!(o[1] & 0x0f, 0x01 | 0x02);
    link_local || scoped_multicast
}

/// The addresses of a vhid in hashing order: IPv4 ascending, then IPv6 ascending in wire
/// form; with `skip_scoped`, IPv6 scope-embedded addresses left out (OpenBSD NOV6LL).
fn hashed_addresses(addrs: &[IpAddr], skip_scoped: bool) -> Vec<u8> {
    let mut v4: Vec<u32> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(a) => Some(u32::from(*a)),
            IpAddr::V6(_) => None,
        })
        .filter(|&a| a != 0 && a != u32::MAX)
        .collect();
    v4.sort_unstable();
    v4.dedup();

    let mut v6: Vec<[u8; 16]> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        })
        .filter(|a| !(skip_scoped && scope_embedded(a)))
        .map(|a| {
            let mut o = a.octets();
            if scope_embedded(a) {
                o[2] = 0;
                o[3] = 0;
            }
            o
        })
        .filter(|o| *o != [0; 16] && *o != [0xff; 16])
        .collect();
    v6.sort_unstable();
    v6.dedup();

    let mut out = Vec::with_capacity(v4.len() * 4 + v6.len() * 16);
    for a in v4 {
        out.extend_from_slice(&a.to_be_bytes());
    }
    for a in v6 {
        out.extend_from_slice(&a);
    }
    out
}

/// The message hashed before the counter (version, type, vhid, addresses).
pub fn message_prefix(vhid: u8, addrs: &[IpAddr]) -> Vec<u8> {
    let mut msg = vec![VERSION, TYPE_ADVERT, vhid];
    msg.extend(hashed_addresses(addrs, false));
    msg
}

/// A vhid's precomputed HMAC state: sign with FreeBSD's form, verify either form.
#[derive(Clone)]
pub struct Auth {
    /// Key and message prefix hashed, counter not yet (FreeBSD / OpenBSD ORIG).
    full: HmacSha1,
    /// OpenBSD NOV6LL, present only when it differs from `full`.
    no_scoped: Option<HmacSha1>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth(..)")
    }
}

impl Auth {
    /// The state for `vhid` with these addresses (VIPs and the IP aliases stacked on them,
    /// in any order) and this password.
    pub fn new(password: &[u8], vhid: u8, addrs: &[IpAddr]) -> Auth {
        // HMAC zero-pads a short key to the SHA-1 block, so padding the 20-byte key to
        // the full block gives the same MAC through the infallible constructor.
        let mut block = hmac::digest::Key::<HmacSha1>::default();
        for (dst, src) in block.iter_mut().zip(key_from_password(password)) {
            *dst = src;
        }
        let prefixed = |skip_scoped: bool| {
            let mut mac = <HmacSha1 as KeyInit>::new(&block);
            mac.update(&[VERSION, TYPE_ADVERT, vhid]);
            mac.update(&hashed_addresses(addrs, skip_scoped));
            mac
        };
        let has_scoped = addrs
            .iter()
            .any(|a| matches!(a, IpAddr::V6(a) if scope_embedded(a)));
        Auth {
            full: prefixed(false),
            no_scoped: has_scoped.then(|| prefixed(true)),
        }
    }

    /// The HMAC for an advert carrying these counter bytes.
    pub fn sign(&self, counter: &[u8; 8]) -> [u8; 20] {
        let mut mac = self.full.clone();
        mac.update(counter);
        mac.finalize().into_bytes().into()
    }

    /// Whether `hmac` authenticates these counter bytes (constant-time compare).
    pub fn verify(&self, counter: &[u8; 8], hmac: &[u8; 20]) -> bool {
        let check = |state: &HmacSha1| {
            let mut mac = state.clone();
            mac.update(counter);
            mac.verify_slice(hmac).is_ok()
        };
        check(&self.full) || self.no_scoped.as_ref().is_some_and(check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn test_key_cut() {
        // TV4: 23 bytes → the first 19.
        assert_eq!(
            &key_from_password(b"0123456789abcdefghijXYZ"),
            b"0123456789abcdefghi\0"
        );
        assert_eq!(key_from_password(b""), [0; 20]);
        assert_eq!(&key_from_password(b"ab\0cd")[..3], b"ab\0");
    }

    #[test]
    fn test_vector_tv1_message() {
        // carp.md §2.6 TV1: 02 01 07 c0000264, then the counter.
        assert_eq!(
            hex(&message_prefix(7, &[ip("192.0.2.100")])),
            "020107c0000264"
        );
    }

    #[test]
    fn test_vector_tv3_message_order() {
        let addrs = [
            ip("192.168.1.1"),
            ip("fe80::1"),
            ip("10.0.0.1"),
            ip("2001:db8::1"),
        ];
        assert_eq!(
            hex(&message_prefix(1, &addrs)),
            "020101\
             0a000001c0a80101\
             20010db8000000000000000000000001\
             fe800000000000000000000000000001"
        );
        // Duplicates and the never-hashed bounds change nothing.
        let mut more = addrs.to_vec();
        more.extend([
            ip("10.0.0.1"),
            ip("0.0.0.0"),
            ip("255.255.255.255"),
            ip("::"),
        ]);
        assert_eq!(message_prefix(1, &more), message_prefix(1, &addrs));
    }

    #[test]
    fn test_link_local_scope_zeroed() {
        // A KAME-embedded scope (fe80:2::1) hashes as fe80::1.
        assert_eq!(
            message_prefix(1, &[ip("fe80:2::1")]),
            message_prefix(1, &[ip("fe80::1")])
        );
        assert_eq!(hashed_addresses(&[ip("fe80::1")], true), Vec::<u8>::new());
    }
}
