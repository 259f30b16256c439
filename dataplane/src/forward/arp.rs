//! ARP: answer for our addresses, learn neighbours, build requests.

use std::net::Ipv4Addr;

use super::{ETH_LEN, Forwarder, Output, Sink};
use crate::counters::DropReason;
use crate::time::Instant;
use crate::vip::virtual_mac;
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, MacAddr, WireError,
};

/// Ethernet + ARP, before padding to the 60-byte minimum.
const ARP_FRAME_LEN: usize = 14 + 28;
/// Minimum Ethernet frame without FCS: short frames are padded with zeros.
const MIN_FRAME_LEN: usize = 60;

impl<P: AsRef<[u8]> + AsMut<[u8]>> Forwarder<P> {
    /// Learn from an ARP frame that another worker received and answers: update this worker's
    /// neighbour table (releasing packets that waited for it), never reply. The frame is freed.
    pub fn learn_arp(&mut self, now: Instant, rx_port: usize, pkt: P, out: &mut Output<P>) {
        self.arp_inner(now, rx_port, pkt, out, false);
    }

    pub(super) fn arp(&mut self, now: Instant, rx_port: usize, pkt: P, out: &mut Output<P>) {
        self.arp_inner(now, rx_port, pkt, out, true);
    }

    fn arp_inner(
        &mut self,
        now: Instant,
        rx_port: usize,
        mut pkt: P,
        out: &mut Output<P>,
        answer: bool,
    ) {
        let parsed = pkt
            .as_ref()
            .get(ETH_LEN..)
            .ok_or(WireError::Truncated)
            .and_then(ArpPacket::new_checked)
            .and_then(|p| ArpRepr::parse(&p));
        let our = self.ports.get(rx_port).map(|p| (p.mac, p.addr));
        let (repr, our_mac, our_ip) = match (parsed, our) {
            (Ok(repr), Some((mac, Some(ip)))) => (repr, mac, ip),
            // Copies are counted by the worker that received the original.
            _ if !answer => return out.free.push(pkt),
            (Err(WireError::Unsupported), _) => {
                return self.discard(pkt, DropReason::ArpUnsupported, out);
            }
            (Err(_), _) => return self.discard(pkt, DropReason::ArpMalformed, out),
            (Ok(_), _) => return self.discard(pkt, DropReason::ArpNotForUs, out),
        };
        let sender_ip = repr.source_protocol_addr;
        // Probes (sender 0.0.0.0) and conflicting claims of our own address teach nothing.
        // Nor do a peer's gratuitous ARPs for a VIP we share.
        let learnable = !sender_ip.is_unspecified()
            && sender_ip != our_ip
            && !self.vips.is_vip_on(rx_port, sender_ip)
            && repr.source_hardware_addr.is_unicast();
        // Our address, or a VIP of a vhid we are MASTER of (answered with its virtual MAC).
        let target = repr.target_protocol_addr;
        let answer_as = if target == our_ip {
            Some((our_mac, our_ip))
        } else {
            self.vips
                .answering(rx_port, target)
                .map(|vhid| (virtual_mac(vhid), target))
        };
        // A host asking for a VIP talks to whoever is MASTER; a BACKUP learns it too (creates
        // the entry, as for a request to its own address), so that a takeover finds its
        // neighbours resolved instead of holding, and dropping, their first packets.
        let create = answer_as.is_some() || self.vips.is_vip_on(rx_port, target);
        if learnable {
            let mut sink = Sink {
                ports: &self.ports,
                out,
                counters: &mut self.counters,
                generated: &mut self.generated,
            };
            self.neighbours.learn(
                now,
                rx_port,
                sender_ip,
                repr.source_hardware_addr,
                create,
                &mut sink,
            );
        }
        if !answer {
            // A copy: the worker that received the original counts and answers it.
            out.free.push(pkt);
            return;
        }
        // A sender using one of our VIPs is the peer announcing it (its gratuitous ARP as it
        // takes over) or a conflict: a reply, from the virtual MAC, would move the switch's
        // entry for that MAC back here while the peer is MASTER (the race of a role change,
        // when this worker has not yet heard it stepped down).
        if self.vips.is_vip_on(rx_port, sender_ip) {
            return self.discard(pkt, DropReason::ArpVipClaimed, out);
        }
        let Some((our_mac, our_ip)) = answer_as else {
            return self.discard(pkt, DropReason::ArpNotForUs, out);
        };
        match repr.operation {
            ArpOperation::Request => {
                let reply = ArpRepr {
                    operation: ArpOperation::Reply,
                    source_hardware_addr: our_mac,
                    source_protocol_addr: our_ip,
                    target_hardware_addr: repr.source_hardware_addr,
                    target_protocol_addr: sender_ip,
                };
                let frame = pkt.as_mut();
                let mut eth = EthernetFrame::new_unchecked(&mut *frame);
                eth.set_dst_addr(repr.source_hardware_addr);
                eth.set_src_addr(our_mac);
                if let Some(arp_bytes) = frame.get_mut(ETH_LEN..) {
                    reply.emit(&mut ArpPacket::new_unchecked(arp_bytes));
                }
                self.counters.arp_replies_sent += 1;
                if let Some(tx) = out.tx.get_mut(rx_port) {
                    tx.push(pkt);
                }
            }
            ArpOperation::Reply => {
                self.counters.arp_replies_received += 1;
                out.free.push(pkt);
            }
            ArpOperation::Unknown(_) => self.discard(pkt, DropReason::ArpUnsupported, out),
        }
    }
}

/// Write a broadcast ARP request for `target` into `buf`; returns the frame length (0 if `buf`
/// is too small).
pub(super) fn emit_request(
    buf: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> usize {
    let Some(frame) = buf.get_mut(..MIN_FRAME_LEN) else {
        return 0;
    };
    frame.fill(0);
    EthernetRepr {
        src_addr: our_mac,
        dst_addr: MacAddr::BROADCAST,
        ethertype: EtherType::ARP,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    let Some(arp_bytes) = frame.get_mut(ETH_LEN..ARP_FRAME_LEN) else {
        return 0;
    };
    ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: our_mac,
        source_protocol_addr: our_ip,
        target_hardware_addr: MacAddr::ZERO,
        target_protocol_addr: target,
    }
    .emit(&mut ArpPacket::new_unchecked(arp_bytes));
    MIN_FRAME_LEN
}
