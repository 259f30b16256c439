//! Receive checks, in the order FreeBSD applies them (carp.md §1.4), each failure a named
//! [`DropReason`] with a stable counter name.
//!
//! 1. `short`: fewer than 36 bytes.
//! 2. `bad_checksum`: the Internet checksum over the 36 header bytes.
//! 3. `wrong_vhid`: no machine for this vhid here ([`parse`] leaves this to the caller's
//!    lookup; [`Verifier::check`] repeats it against its own vhid).
//! 4. `own_advert`: the source address is one of ours: our own advert echoed back by a
//!    switch (FreeBSD checks this only for vhid 0; we check every vhid, by address, which
//!    carp.md §2.3 recommends over counter-based loop checks).
//! 5. `bad_version`: not version 2 (VRRPv3 shares protocol 112).
//! 6. `bad_type`: not type 1. FreeBSD and ucarp do not look, but no other type exists.
//! 7. `bad_ttl`: TTL / hop limit not 255, unless the vhid runs unicast (FreeBSD ≥ 14).
//! 8. `bad_hmac`: wrong password or a different address set.
//!
//! Then the machine applies `replay` (a counter accepted recently, see `replay`) and
//! `inactive` (the vhid is in INIT).

use std::net::IpAddr;

use super::auth::Auth;
use super::wire::{Advert, CarpPacket, TYPE_ADVERT, VERSION};

/// The IP TTL / hop limit every CARP advert is sent with and must arrive with.
pub const TTL: u8 = 255;

/// Why an advert was dropped ([`DropReason::name`] is the counter name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum DropReason {
    /// Shorter than the 36-byte header.
    #[error("shorter than the 36-byte CARP header")]
    Short,
    /// Checksum wrong.
    #[error("bad CARP checksum")]
    BadChecksum,
    /// A vhid not configured here.
    #[error("vhid not configured here")]
    WrongVhid,
    /// Sent from one of our own addresses: a network loop echoed it back.
    #[error("our own advert came back (network loop)")]
    OwnAdvert,
    /// Version is not 2.
    #[error("CARP version is not 2")]
    BadVersion,
    /// Type is not 1 (advertisement).
    #[error("CARP type is not advertisement")]
    BadType,
    /// TTL or hop limit is not 255 (multicast mode).
    #[error("TTL is not 255")]
    BadTtl,
    /// HMAC does not verify: another password or another address set.
    #[error("HMAC does not verify (password or address set differs)")]
    BadHmac,
    /// The counter was accepted recently: a replayed or duplicated advert.
    #[error("counter seen recently (replay or duplicate)")]
    Replay,
    /// The vhid is in INIT (link down or stopped) and ignores adverts.
    #[error("vhid is in INIT")]
    Inactive,
}

impl DropReason {
    /// Every reason, in check order (indexes [`DropCounts`]).
    pub const ALL: [DropReason; 10] = [
        DropReason::Short,
        DropReason::BadChecksum,
        DropReason::WrongVhid,
        DropReason::OwnAdvert,
        DropReason::BadVersion,
        DropReason::BadType,
        DropReason::BadTtl,
        DropReason::BadHmac,
        DropReason::Replay,
        DropReason::Inactive,
    ];

    /// Stable counter name.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Short => "short",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::WrongVhid => "wrong_vhid",
            DropReason::OwnAdvert => "own_advert",
            DropReason::BadVersion => "bad_version",
            DropReason::BadType => "bad_type",
            DropReason::BadTtl => "bad_ttl",
            DropReason::BadHmac => "bad_hmac",
            DropReason::Replay => "replay",
            DropReason::Inactive => "inactive",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Drops counted by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts([u64; DropReason::ALL.len()]);

impl DropCounts {
    /// Counts one drop.
    pub fn add(&mut self, reason: DropReason) {
        if let Some(n) = self.0.get_mut(reason.index()) {
            *n += 1;
        }
    }

    /// Drops for one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0.get(reason.index()).copied().unwrap_or(0)
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(counter name, value)` for every reason, in check order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r.name(), self.get(r)))
    }
}

/// A received CARP packet: the IP payload and what the IP header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming<'a> {
    /// Source address.
    pub src: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The IP payload (the CARP header, trailing bytes ignored).
    pub bytes: &'a [u8],
}

/// Steps 1–2, which need no configuration: length and checksum. The caller then finds the
/// machine by [`CarpPacket::vhid`] (a miss is [`DropReason::WrongVhid`]).
///
/// # Errors
/// [`DropReason::Short`] or [`DropReason::BadChecksum`].
pub fn parse(bytes: &[u8]) -> Result<CarpPacket<&[u8]>, DropReason> {
    let packet = CarpPacket::new_checked(bytes)?;
    if !packet.verify_checksum() {
        return Err(DropReason::BadChecksum);
    }
    Ok(packet)
}

/// What one vhid checks an advert against.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// The vhid.
    pub vhid: u8,
    /// Its HMAC state.
    pub auth: Auth,
    /// Whether the TTL must be 255 (multicast mode; FreeBSD skips it for unicast).
    pub check_ttl: bool,
    /// Our own addresses on the link, which adverts from us carry as source.
    pub local: Vec<IpAddr>,
}

impl Verifier {
    /// All checks of carp.md §1.4, in order, up to and including the HMAC.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn check(&self, incoming: &Incoming<'_>) -> Result<Advert, DropReason> {
        let packet = parse(incoming.bytes)?;
        if packet.vhid() != self.vhid {
            return Err(DropReason::WrongVhid);
        }
        if self.local.contains(&incoming.src) {
            return Err(DropReason::OwnAdvert);
        }
        if packet.version() != VERSION {
            return Err(DropReason::BadVersion);
        }
        if packet.kind() != TYPE_ADVERT {
            return Err(DropReason::BadType);
        }
        if self.check_ttl && incoming.ttl != TTL {
            return Err(DropReason::BadTtl);
        }
        if !self.auth.verify(&packet.counter_bytes(), &packet.hmac()) {
            return Err(DropReason::BadHmac);
        }
        Ok(Advert::parse(&packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> Verifier {
        let vip: IpAddr = "192.0.2.100".parse().unwrap();
        Verifier {
            vhid: 7,
            auth: Auth::new(b"s3cretpass", 7, &[vip]),
            check_ttl: true,
            local: vec!["192.0.2.1".parse().unwrap()],
        }
    }

    fn good() -> [u8; 36] {
        Advert {
            vhid: 7,
            advbase: 1,
            advskew: 100,
            demote: 0,
            counter: 5,
        }
        .to_bytes(&verifier().auth)
    }

    fn check(bytes: &[u8], src: &str, ttl: u8) -> Result<Advert, DropReason> {
        verifier().check(&Incoming {
            src: src.parse().unwrap(),
            ttl,
            bytes,
        })
    }

    /// Rewrites the checksum after a field change, so later checks are reached.
    fn refill(mut bytes: [u8; 36]) -> [u8; 36] {
        CarpPacket::new_unchecked(&mut bytes[..]).fill_checksum();
        bytes
    }

    #[test]
    fn test_each_reason_in_order() {
        let peer = "192.0.2.2";
        assert!(check(&good(), peer, 255).is_ok());
        assert_eq!(check(&good()[..35], peer, 255), Err(DropReason::Short));

        let mut b = good();
        b[10] ^= 1;
        assert_eq!(check(&b, peer, 255), Err(DropReason::BadChecksum));

        let mut b = good();
        b[1] = 8;
        assert_eq!(check(&refill(b), peer, 255), Err(DropReason::WrongVhid));

        assert_eq!(check(&good(), "192.0.2.1", 255), Err(DropReason::OwnAdvert));

        let mut b = good();
        b[0] = 0x31;
        // A bad version wins over a bad TTL: the order is FreeBSD's.
        assert_eq!(check(&refill(b), peer, 1), Err(DropReason::BadVersion));

        let mut b = good();
        b[0] = 0x22;
        assert_eq!(check(&refill(b), peer, 255), Err(DropReason::BadType));

        assert_eq!(check(&good(), peer, 254), Err(DropReason::BadTtl));

        let mut b = good();
        b[20] ^= 0x80;
        assert_eq!(check(&refill(b), peer, 255), Err(DropReason::BadHmac));
        let mut b = good();
        b[15] ^= 1; // the counter is authenticated
        assert_eq!(check(&refill(b), peer, 255), Err(DropReason::BadHmac));

        // advskew, advbase and demote are not.
        let mut b = good();
        b[2] = 0;
        b[4] = 9;
        b[5] = 255;
        assert!(check(&refill(b), peer, 255).is_ok());
    }

    #[test]
    fn test_unicast_skips_ttl() {
        let mut v = verifier();
        v.check_ttl = false;
        let incoming = Incoming {
            src: "198.51.100.2".parse().unwrap(),
            ttl: 60,
            bytes: &good(),
        };
        assert!(v.check(&incoming).is_ok());
    }

    #[test]
    fn test_counts() {
        let mut counts = DropCounts::default();
        counts.add(DropReason::Replay);
        counts.add(DropReason::Replay);
        counts.add(DropReason::Short);
        assert_eq!(counts.get(DropReason::Replay), 2);
        assert_eq!(counts.total(), 3);
        let names: Vec<_> = counts.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), DropReason::ALL.len());
        assert_eq!(names[0], "short");
        // ALL is in declaration order, so index() addresses it.
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
