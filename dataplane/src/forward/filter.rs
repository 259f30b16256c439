//! The forwarder's side of the firewall: filter a packet on the port it arrives on and the port
//! it leaves by, apply a state's translation, and answer for `reject` rules.

use std::net::Ipv4Addr;

use super::{ETH_LEN, Forwarder, icmp, push_generated};
use crate::counters::DropReason;
use crate::firewall::{FilterPacket, Outcome};
use crate::nat;
use crate::state::{Classified, Match, PacketKey, PfDirection, StateHandle};
use crate::time::Instant;
use crate::wire::tcp::flag;
use crate::wire::{
    EtherType, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, MacAddr,
    TcpPacket, TcpRepr,
};

const MIN_FRAME_LEN: usize = 60;

impl<P: AsRef<[u8]> + AsMut<[u8]>> Forwarder<P> {
    /// The inbound pass on `rx_port`. `Ok(None)`: there is no firewall. `Ok(Some(..))`: the
    /// packet passed; it is described as it is now (after any translation), with the state
    /// it matched or created. With `hint`, the state lookup was done already (for a burst).
    pub(super) fn filter_in(
        &mut self,
        now: Instant,
        rx_port: usize,
        pkt: &mut P,
        hint: Option<(FilterPacket, Option<Match>)>,
    ) -> Result<Option<Filtered>, DropReason> {
        if self.firewall.is_none() {
            return Ok(None);
        }
        let (fp, hint) = match hint {
            Some((fp, m)) => (fp, Some(m)),
            None => (read(pkt)?, None),
        };
        let (packet, state, created) =
            self.filter_pass(now, rx_port, rx_port, PfDirection::In, fp, pkt, hint)?;
        Ok(Some(Filtered {
            packet,
            state,
            created,
        }))
    }

    /// The outbound lookup of a packet that matched `inbound` on the way in, if the state
    /// linked to that one is its match (see `StateTable::twin_match`); `None`: look it up.
    pub(super) fn twin_hint(&self, inbound: &Filtered) -> Option<Match> {
        let table = self.firewall.as_ref()?.table();
        let twin = table.twin(inbound.state?)?;
        table.twin_match(twin, inbound.packet.key(), PfDirection::Out)
    }

    /// The state linked to the one `inbound` matched (unchecked: for preloading).
    pub(super) fn twin_of(&self, inbound: &Filtered) -> Option<StateHandle> {
        self.firewall
            .as_ref()?
            .table()
            .twin_unchecked(inbound.state?)
    }

    /// The outbound pass on `egress` for a packet that passed inbound as `inbound`; links the
    /// two states of the connection when both exist. Returns the state this packet created
    /// (on either pass), if any.
    pub(super) fn filter_out(
        &mut self,
        now: Instant,
        rx_port: usize,
        egress: usize,
        inbound: &Filtered,
        pkt: &mut P,
        hint: Option<Option<Match>>,
    ) -> Result<Option<StateHandle>, DropReason> {
        let hint = hint.or_else(|| self.twin_hint(inbound).map(Some));
        let (_, state, created) = self.filter_pass(
            now,
            rx_port,
            egress,
            PfDirection::Out,
            inbound.packet,
            pkt,
            hint,
        )?;
        if let (Some(a), Some(b), Some(fw)) = (inbound.state, state, self.firewall.as_mut()) {
            let table = fw.table_mut();
            if table.twin(a) != Some(b) {
                table.link_twins(a, b);
            }
        }
        Ok(match (inbound.created, created) {
            (true, _) => inbound.state,
            (false, true) => state,
            (false, false) => None,
        })
    }

    #[allow(clippy::too_many_arguments)] // one pass's whole context; called from two places
    fn filter_pass(
        &mut self,
        now: Instant,
        rx_port: usize,
        port: usize,
        dir: PfDirection,
        fp: FilterPacket,
        pkt: &mut P,
        hint: Option<Option<Match>>,
    ) -> Result<(FilterPacket, Option<StateHandle>, bool), DropReason> {
        let Some(fw) = self.firewall.as_mut() else {
            return Ok((fp, None, false));
        };
        match fw.filter(now, port, dir, &fp, hint, &mut self.counters.firewall) {
            Outcome::Pass {
                translate: None,
                state,
                created,
            } => Ok((fp, state, created)),
            Outcome::Pass {
                translate: Some(to),
                state,
                created,
            } => {
                translate(pkt, &fp, &to)?;
                Ok((read(pkt)?, state, created))
            }
            Outcome::Block { reason, reject } => {
                if reject {
                    self.reject(now, rx_port, pkt, &fp);
                }
                Err(reason)
            }
        }
    }

    /// Answers a packet a `reject` rule blocked, as pf's `block return`: a TCP RST for TCP
    /// (never for a RST), an ICMP port unreachable for everything else (rate-limited like every
    /// ICMP error). The answer goes back out of the port the packet came in by.
    fn reject(&mut self, now: Instant, rx_port: usize, pkt: &P, fp: &FilterPacket) {
        let Some(seg) = fp.tcp else {
            if fp.src.is_ipv6() {
                self.icmp6_error(now, rx_port, pkt, super::icmpv6::Error6::PortUnreachable);
            } else {
                self.icmp_error(now, rx_port, pkt, icmp::Error::PortUnreachable);
            }
            self.counters.firewall.rejects_icmp += 1;
            return;
        };
        if fp.src.is_ipv6() {
            // A TCP RST for IPv6 is not built yet: the segment is dropped without an answer.
            return;
        }
        if seg.flags & flag::RST != 0 {
            return;
        }
        let Some(port_mac) = self.ports.get(rx_port).map(|p| p.mac) else {
            return;
        };
        let frame = pkt.as_ref();
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        let Some(Ok(ip)) = frame.get(ETH_LEN..).map(Ipv4Packet::new_checked) else {
            return;
        };
        let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
            return;
        };
        // pf_send_tcp for return-rst: RST|ACK, seq = their ack, ack = their seq + what the
        // segment occupies in sequence space.
        let occupies = seg.payload_len
            + u32::from(seg.flags & flag::SYN != 0)
            + u32::from(seg.flags & flag::FIN != 0);
        let rst = Rst {
            src_mac: port_mac,
            dst_mac: eth.src_addr(),
            src: ip.dst_addr(),
            dst: ip.src_addr(),
            tcp: TcpRepr {
                src_port: tcp.dst_port(),
                dst_port: tcp.src_port(),
                seq_number: seg.ack,
                ack_number: seg.seq.wrapping_add(occupies),
                flags: flag::RST | flag::ACK,
                window_len: 0,
                window_scale: None,
                max_seg_size: None,
                payload_len: 0,
            },
        };
        if push_generated(&mut self.generated, rx_port, |buf| rst.emit(buf)) {
            self.counters.firewall.rejects_rst += 1;
        } else {
            self.counters.generate_failed += 1;
        }
    }
}

/// A packet that passed its inbound pass.
#[derive(Debug, Clone, Copy)]
pub(super) struct Filtered {
    /// The packet as it is after the pass.
    pub(super) packet: FilterPacket,
    /// The state it matched or created.
    pub(super) state: Option<StateHandle>,
    /// Whether this packet created it.
    pub(super) created: bool,
}

/// Reads the IPv4 or IPv6 packet in `pkt` for the filter.
pub(super) fn read<P: AsRef<[u8]>>(pkt: &P) -> Result<FilterPacket, DropReason> {
    let frame = pkt.as_ref();
    let l3 = frame.get(ETH_LEN..).unwrap_or(&[]);
    let is_v6 = EthernetFrame::new_checked(frame).is_ok_and(|e| e.ethertype() == EtherType::IPV6);
    if is_v6 {
        let ip = Ipv6Packet::new_checked(l3).map_err(|_| DropReason::Ipv6Malformed)?;
        return FilterPacket::ipv6(&ip).map_err(DropReason::from);
    }
    let ip = Ipv4Packet::new_checked(l3).map_err(|_| DropReason::Ipv4Malformed)?;
    FilterPacket::ipv4(&ip).map_err(DropReason::from)
}

/// Rewrites the packet in `pkt`, read as `fp`, to flow `to` (a NAT state's other side).
fn translate<P: AsMut<[u8]>>(
    pkt: &mut P,
    fp: &FilterPacket,
    to: &PacketKey,
) -> Result<(), DropReason> {
    let ip = pkt
        .as_mut()
        .get_mut(ETH_LEN..)
        .ok_or(DropReason::Ipv4Malformed)?;
    let rewritten = match &fp.class {
        Classified::Flow(from) => nat::rewrite_flow(ip, from, to),
        Classified::IcmpError(err) => nat::rewrite_icmp_error(ip, &err.key, to),
    };
    rewritten.map_err(|_| DropReason::NatRewriteFailed)
}

/// A TCP RST to build.
struct Rst {
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tcp: TcpRepr,
}

impl Rst {
    /// Ethernet + IPv4 + TCP into `buf`; returns the frame length (0 if it does not fit).
    fn emit(&self, buf: &mut [u8]) -> usize {
        const IP_LEN: usize = 20;
        const TCP_LEN: usize = 20;
        let len = ETH_LEN + IP_LEN + TCP_LEN;
        let Some(frame) = buf.get_mut(..len.max(MIN_FRAME_LEN)) else {
            return 0;
        };
        frame.fill(0);
        EthernetRepr {
            src_addr: self.src_mac,
            dst_addr: self.dst_mac,
            ethertype: EtherType::IPV4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut *frame));
        let Some(ip_bytes) = frame.get_mut(ETH_LEN..len) else {
            return 0;
        };
        Ipv4Repr {
            src_addr: self.src,
            dst_addr: self.dst,
            next_header: IpProtocol::TCP,
            payload_len: TCP_LEN,
            ttl: 64,
            dscp: 0,
            ident: 0,
            dont_frag: true,
        }
        .emit(&mut Ipv4Packet::new_unchecked(&mut *ip_bytes));
        let Some(tcp_bytes) = ip_bytes.get_mut(IP_LEN..) else {
            return 0;
        };
        let mut tcp = TcpPacket::new_unchecked(tcp_bytes);
        self.tcp.emit(&mut tcp);
        tcp.fill_checksum_v4(self.src, self.dst);
        len.max(MIN_FRAME_LEN)
    }
}
