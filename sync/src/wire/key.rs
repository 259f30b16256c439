//! A state key as FreeBSD's pfsync carries it (`struct pfsync_state_key`, 36 bytes): two
//! endpoints by pf index, no family or protocol (the state record carries those).
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 0 | 16 | addr\[0\] | `pf_addr`: IPv6, or IPv4 in bytes 0–3 and zeros after |
//! | 16 | 16 | addr\[1\] | |
//! | 32 | 2 | port\[0\] | BE (ICMP: the echo id) |
//! | 34 | 2 | port\[1\] | BE |
//!
//! Index 0 is the creating packet's source for an inbound state and its destination for an
//! outbound one. `key[0]` of a state is its wire key, `key[1]` its stack key (they differ
//! under NAT).

use super::bytes::{Field, array, put, put_u16, u16_at};

/// Bytes of a key.
pub const KEY_LEN: usize = 36;
/// IPv4 (`AF_INET`).
pub const AF_INET: u8 = 2;
/// IPv6 as FreeBSD numbers it (`AF_INET6`; OpenBSD uses 24).
pub const AF_INET6: u8 = 28;

mod field {
    use super::Field;
    pub(super) const ADDR0: Field = 0..16;
    pub(super) const ADDR1: Field = 16..32;
    pub(super) const PORT0: Field = 32..34;
    pub(super) const PORT1: Field = 34..36;
}

/// A key record. Addresses are raw network-order bytes; ports host order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct KeyRecord {
    /// Addresses by pf index.
    pub addr: [[u8; 16]; 2],
    /// Ports (ICMP echo id) by pf index.
    pub port: [u16; 2],
}

impl KeyRecord {
    /// Reads the key at the start of `b` (zeros where `b` is short).
    pub fn parse(b: &[u8]) -> KeyRecord {
        KeyRecord {
            addr: [array(b, field::ADDR0), array(b, field::ADDR1)],
            port: [u16_at(b, field::PORT0), u16_at(b, field::PORT1)],
        }
    }

    /// Writes it into the first [`KEY_LEN`] bytes of `out`.
    pub fn emit(&self, out: &mut [u8]) {
        put(out, field::ADDR0, &self.addr[0]);
        put(out, field::ADDR1, &self.addr[1]);
        put_u16(out, field::PORT0, self.port[0]);
        put_u16(out, field::PORT1, self.port[1]);
    }

    /// Whether pf could have built it for family `af`: an IPv4 `pf_addr` has zeros after its
    /// fourth byte (pf hashes all 16 bytes, so a state with anything there would never match a
    /// packet).
    pub fn sane_for(&self, af: u8) -> bool {
        af != AF_INET || self.addr.iter().all(|a| a.iter().skip(4).all(|b| *b == 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_deconstruct() {
        let mut b = [0u8; 36];
        b[..4].copy_from_slice(&[10, 0, 0, 1]);
        b[16..20].copy_from_slice(&[192, 0, 2, 1]);
        b[32..36].copy_from_slice(&[0x04, 0xd2, 0x00, 0x50]);
        let k = KeyRecord::parse(&b);
        assert_eq!(k.port, [1234, 80]);
        assert_eq!(k.addr[1][..4], [192, 0, 2, 1]);
        assert!(k.sane_for(AF_INET));
        let mut out = [0xffu8; 36];
        k.emit(&mut out);
        assert_eq!(out, b);
        let mut bad = k;
        bad.addr[0][15] = 1;
        assert!(!bad.sane_for(AF_INET));
        assert!(bad.sane_for(AF_INET6));
    }
}
