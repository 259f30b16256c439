//! The sync port's link layer, sans-IO (pfsync.md §1): pfsync frames travel in IPv4
//! protocol 240 with TTL 255, to the group 224.0.0.240 or to a configured unicast peer,
//! whose MAC this module resolves with ARP; it also answers ARP for the node's sync address.
//! On receive the TTL must be exactly 255 (so pfsync never crosses a router) and the
//! destination the group or our address.

use std::net::Ipv4Addr;
use std::time::Duration;

use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, IpProtocol,
    Ipv4Packet, Ipv4Repr, MacAddr,
};

/// pfsync's IP protocol number.
pub const PROTO: IpProtocol = IpProtocol(240);
/// pfsync's multicast group.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 240);
/// The group's Ethernet address (01:00:5e + the low 23 bits of the group).
pub const GROUP_MAC: MacAddr = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0xf0]);
/// TTL sent and required.
pub const TTL: u8 = 255;
/// How often an unresolved peer is asked for again.
const ARP_RETRY: Duration = Duration::from_secs(1);

const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const ARP_LEN: usize = 28;

/// Why a frame on the sync port was not a pfsync frame for us. Frames that are simply not
/// pfsync (other protocols) are [`Inbound::Ignored`], not drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportDrop {
    /// IPv4 header malformed or its checksum wrong.
    BadIp,
    /// TTL other than 255 (pf's `badttl`).
    BadTtl,
    /// An IPv4 fragment (pfsync frames fit the MTU; pf does not reassemble them either).
    Fragment,
    /// Neither to the group nor to our address.
    NotForUs,
    /// From our own address (a looped-back frame).
    OwnFrame,
    /// A unicast peer is configured and this came from another address.
    WrongPeer,
}

impl TransportDrop {
    /// Stable counter name.
    pub fn name(self) -> &'static str {
        match self {
            TransportDrop::BadIp => "bad_ip",
            TransportDrop::BadTtl => "bad_ttl",
            TransportDrop::Fragment => "fragment",
            TransportDrop::NotForUs => "not_for_us",
            TransportDrop::OwnFrame => "own_frame",
            TransportDrop::WrongPeer => "wrong_peer",
        }
    }
}

/// What a received frame is.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// A pfsync frame (the IP payload) from `src`.
    Pfsync {
        /// Sender.
        src: Ipv4Addr,
        /// IP payload: the pfsync frame and any trailer.
        payload: &'a [u8],
    },
    /// An ARP request for our address: send this reply.
    ArpReply(Vec<u8>),
    /// Dropped, with the reason.
    Drop(TransportDrop),
    /// Not for the sync machinery (other protocols, ARP not for us, learnt ARP replies).
    Ignored,
}

/// A unicast peer whose MAC is not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pfsync peer {0} has not answered ARP yet")]
pub struct PeerUnresolved(pub Ipv4Addr);

/// The sync port's addresses and what it knows of the peer.
#[derive(Debug, Clone)]
pub struct SyncTransport {
    mac: MacAddr,
    addr: Ipv4Addr,
    peer: Option<Ipv4Addr>,
    peer_mac: Option<MacAddr>,
    last_arp: Option<Instant>,
    ident: u16,
}

impl SyncTransport {
    /// A sync port with `mac` and `addr`, sending to `peer` (unicast) or to the group.
    pub fn new(mac: MacAddr, addr: Ipv4Addr, peer: Option<Ipv4Addr>) -> Self {
        SyncTransport {
            mac,
            addr,
            peer: peer.filter(|p| *p != GROUP && !p.is_unspecified()),
            peer_mac: None,
            last_arp: None,
            ident: 0,
        }
    }

    /// Where frames go.
    pub fn destination(&self) -> Ipv4Addr {
        self.peer.unwrap_or(GROUP)
    }

    /// Whether a unicast peer's MAC is known (always true for multicast).
    pub fn resolved(&self) -> bool {
        self.peer.is_none() || self.peer_mac.is_some()
    }

    /// Classifies a frame received on the sync port.
    pub fn on_frame<'a>(&mut self, frame: &'a [u8]) -> Inbound<'a> {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return Inbound::Ignored;
        };
        match eth.ethertype() {
            EtherType::ARP => self.on_arp(eth.payload()),
            EtherType::IPV4 => self.on_ipv4(frame.get(ETH_LEN..).unwrap_or_default()),
            _ => Inbound::Ignored,
        }
    }

    fn on_ipv4<'a>(&mut self, l3: &'a [u8]) -> Inbound<'a> {
        let Ok(ip) = Ipv4Packet::new_checked(l3) else {
            return Inbound::Drop(TransportDrop::BadIp);
        };
        let Ok(repr) = Ipv4Repr::parse(&ip) else {
            return Inbound::Drop(TransportDrop::BadIp);
        };
        if repr.next_header != PROTO {
            return Inbound::Ignored;
        }
        if repr.ttl != TTL {
            return Inbound::Drop(TransportDrop::BadTtl);
        }
        if ip.is_fragment() {
            return Inbound::Drop(TransportDrop::Fragment);
        }
        if repr.dst_addr != GROUP && repr.dst_addr != self.addr {
            return Inbound::Drop(TransportDrop::NotForUs);
        }
        if repr.src_addr == self.addr {
            return Inbound::Drop(TransportDrop::OwnFrame);
        }
        if self.peer.is_some_and(|p| p != repr.src_addr) {
            return Inbound::Drop(TransportDrop::WrongPeer);
        }
        let start = usize::from(ip.header_len());
        let end = start + repr.payload_len;
        match l3.get(start..end) {
            Some(payload) => Inbound::Pfsync {
                src: repr.src_addr,
                payload,
            },
            None => Inbound::Drop(TransportDrop::BadIp),
        }
    }

    fn on_arp(&mut self, l3: &[u8]) -> Inbound<'static> {
        let Ok(repr) = ArpPacket::new_checked(l3).and_then(|p| ArpRepr::parse(&p)) else {
            return Inbound::Ignored;
        };
        if Some(repr.source_protocol_addr) == self.peer {
            self.peer_mac = Some(repr.source_hardware_addr);
        }
        if repr.operation == ArpOperation::Request && repr.target_protocol_addr == self.addr {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: self.mac,
                source_protocol_addr: self.addr,
                target_hardware_addr: repr.source_hardware_addr,
                target_protocol_addr: repr.source_protocol_addr,
            };
            return Inbound::ArpReply(arp_frame(self.mac, repr.source_hardware_addr, &reply));
        }
        Inbound::Ignored
    }

    /// An ARP request for the unicast peer, if it is unresolved and the last request is
    /// older than a second.
    pub fn poll_arp(&mut self, now: Instant) -> Option<Vec<u8>> {
        let peer = self.peer?;
        if self.peer_mac.is_some() || self.last_arp.is_some_and(|t| now.since(t) < ARP_RETRY) {
            return None;
        }
        self.last_arp = Some(now);
        let request = ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: self.mac,
            source_protocol_addr: self.addr,
            target_hardware_addr: MacAddr([0; 6]),
            target_protocol_addr: peer,
        };
        Some(arp_frame(self.mac, MacAddr([0xff; 6]), &request))
    }

    /// An Ethernet frame carrying `payload` (a pfsync frame and any trailer) to the peer.
    ///
    /// # Errors
    /// [`PeerUnresolved`] while a unicast peer's MAC is unknown.
    pub fn wrap(&mut self, payload: &[u8]) -> Result<Vec<u8>, PeerUnresolved> {
        let dst_mac = match self.peer {
            None => GROUP_MAC,
            Some(peer) => self.peer_mac.ok_or(PeerUnresolved(peer))?,
        };
        self.ident = self.ident.wrapping_add(1);
        let mut frame = vec![0u8; ETH_LEN + IP_LEN + payload.len()];
        let eth = EthernetRepr {
            src_addr: self.mac,
            dst_addr: dst_mac,
            ethertype: EtherType::IPV4,
        };
        eth.emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        let ip = Ipv4Repr {
            src_addr: self.addr,
            dst_addr: self.destination(),
            next_header: PROTO,
            payload_len: payload.len(),
            ttl: TTL,
            // Low delay, as pf sends it.
            dscp: 0x10 >> 2,
            ident: self.ident,
            dont_frag: true,
        };
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut frame[ETH_LEN..]));
        frame[ETH_LEN + IP_LEN..].copy_from_slice(payload);
        Ok(frame)
    }
}

fn arp_frame(src: MacAddr, dst: MacAddr, repr: &ArpRepr) -> Vec<u8> {
    let mut frame = vec![0u8; ETH_LEN + ARP_LEN];
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: EtherType::ARP,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    repr.emit(&mut ArpPacket::new_unchecked(&mut frame[ETH_LEN..]));
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    const A_MAC: MacAddr = MacAddr([2, 0, 0, 0, 9, 1]);
    const B_MAC: MacAddr = MacAddr([2, 0, 0, 0, 9, 2]);
    const A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

    #[test]
    fn test_multicast_round_trip_with_ttl_255() {
        let mut a = SyncTransport::new(A_MAC, A, None);
        let mut b = SyncTransport::new(B_MAC, B, None);
        let frame = a.wrap(b"pfsync bytes").unwrap();
        assert_eq!(&frame[..6], &GROUP_MAC.0);
        assert_eq!(
            b.on_frame(&frame),
            Inbound::Pfsync {
                src: A,
                payload: b"pfsync bytes"
            }
        );
        // Our own frame coming back is not taken for the peer's.
        assert_eq!(a.on_frame(&frame), Inbound::Drop(TransportDrop::OwnFrame));
    }

    #[test]
    fn test_ttl_below_255_is_dropped() {
        let mut a = SyncTransport::new(A_MAC, A, None);
        let mut frame = a.wrap(b"x").unwrap();
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_LEN..]);
        ip.set_ttl(254);
        ip.fill_checksum();
        let mut b = SyncTransport::new(B_MAC, B, None);
        assert_eq!(b.on_frame(&frame), Inbound::Drop(TransportDrop::BadTtl));
    }

    #[test]
    fn test_unicast_resolves_the_peer_and_answers_arp() {
        let mut a = SyncTransport::new(A_MAC, A, Some(B));
        let mut b = SyncTransport::new(B_MAC, B, Some(A));
        assert_eq!(a.wrap(b"x"), Err(PeerUnresolved(B)));
        let request = a.poll_arp(Instant::ZERO).unwrap();
        assert!(
            a.poll_arp(Instant::from_millis(500)).is_none(),
            "once a second"
        );
        let Inbound::ArpReply(reply) = b.on_frame(&request) else {
            panic!("B must answer");
        };
        // B learnt A from the request; A learns B from the reply.
        assert!(b.resolved());
        assert_eq!(a.on_frame(&reply), Inbound::Ignored);
        let frame = a.wrap(b"unicast").unwrap();
        assert_eq!(&frame[..6], &B_MAC.0);
        assert_eq!(
            b.on_frame(&frame),
            Inbound::Pfsync {
                src: A,
                payload: b"unicast"
            }
        );
        // A third host on the segment is not our peer.
        let mut c = SyncTransport::new(
            MacAddr([2, 0, 0, 0, 9, 3]),
            Ipv4Addr::new(10, 9, 0, 3),
            Some(B),
        );
        c.peer_mac = Some(B_MAC);
        let forged = c.wrap(b"forged").unwrap();
        assert_eq!(b.on_frame(&forged), Inbound::Drop(TransportDrop::WrongPeer));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120)) {
            let _ = SyncTransport::new(A_MAC, A, Some(B)).on_frame(&bytes);
        }
    }
}
