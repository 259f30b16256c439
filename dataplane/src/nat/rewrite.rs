//! Rewriting an IPv4 packet from one flow to another (a NAT state's wire and stack keys), with
//! every checksum kept valid by incremental update (RFC 1624): the IP header, the TCP/UDP
//! checksum over the pseudo-header and ports, the ICMP checksum over the echo id. For an ICMP
//! error the quoted packet is translated the other way, and the outer addresses with it.

use std::net::Ipv4Addr;

use thiserror::Error;

use super::v4;
use crate::state::{Af, PacketKey};
use crate::wire::checksum;
use crate::wire::icmpv4::msg_type;
use crate::wire::{Icmpv4Packet, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket};

/// Why a packet could not be rewritten; the caller drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RewriteError {
    /// Not a complete IPv4 packet, or the flows are not IPv4.
    #[error("not an IPv4 packet of the flow")]
    NotIpv4,
    /// The transport header is too short for what changes.
    #[error("transport header truncated")]
    Truncated,
}

/// A TCP/UDP checksum updated for new pseudo-header addresses and new ports.
fn update_transport(
    sum: u16,
    (old_src, old_dst): (Ipv4Addr, Ipv4Addr),
    (new_src, new_dst): (Ipv4Addr, Ipv4Addr),
    (old_sp, old_dp): (u16, u16),
    (new_sp, new_dp): (u16, u16),
) -> u16 {
    let sum = checksum::update_u32(sum, old_src.into(), new_src.into());
    let sum = checksum::update_u32(sum, old_dst.into(), new_dst.into());
    let sum = checksum::update_u16(sum, old_sp, new_sp);
    checksum::update_u16(sum, old_dp, new_dp)
}

/// Rewrites `ip` (from the IPv4 header on), a packet of flow `from`, into flow `to`: addresses,
/// ports (the echo id for ICMP echo) and checksums.
///
/// # Errors
///
/// [`RewriteError`] when the packet is not what `from` says; nothing is changed then.
pub fn rewrite_flow(ip: &mut [u8], from: &PacketKey, to: &PacketKey) -> Result<(), RewriteError> {
    if from.af != Af::Inet || to.af != Af::Inet {
        return Err(RewriteError::NotIpv4);
    }
    let mut pkt = Ipv4Packet::new_checked(&mut *ip).map_err(|_| RewriteError::NotIpv4)?;
    let (old_src, old_dst) = (v4(from.src), v4(from.dst));
    let (new_src, new_dst) = (v4(to.src), v4(to.dst));
    let first_fragment = pkt.frag_offset() == 0;
    let proto = pkt.next_header();
    if first_fragment {
        let l4 = pkt.payload_mut();
        match proto {
            IpProtocol::TCP => {
                let mut tcp = TcpPacket::new_checked(l4).map_err(|_| RewriteError::Truncated)?;
                let sum = update_transport(
                    tcp.checksum(),
                    (old_src, old_dst),
                    (new_src, new_dst),
                    (tcp.src_port(), tcp.dst_port()),
                    (to.src_port, to.dst_port),
                );
                tcp.set_src_port(to.src_port);
                tcp.set_dst_port(to.dst_port);
                tcp.set_checksum(sum);
            }
            IpProtocol::UDP => {
                let mut udp = UdpPacket::new_checked(l4).map_err(|_| RewriteError::Truncated)?;
                let old = udp.checksum();
                // A zero UDP checksum means "none" and stays so.
                if old != 0 {
                    let sum = update_transport(
                        old,
                        (old_src, old_dst),
                        (new_src, new_dst),
                        (udp.src_port(), udp.dst_port()),
                        (to.src_port, to.dst_port),
                    );
                    udp.set_checksum(if sum == 0 { 0xffff } else { sum });
                }
                udp.set_src_port(to.src_port);
                udp.set_dst_port(to.dst_port);
            }
            IpProtocol::ICMP => {
                let mut icmp =
                    Icmpv4Packet::new_checked(l4).map_err(|_| RewriteError::Truncated)?;
                let t = icmp.msg_type();
                if matches!(t, msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY) {
                    // Echo carries the id where ports would be; both ports of the key hold it.
                    let old = icmp.echo_ident();
                    if old != to.src_port {
                        let sum = checksum::update_u16(icmp.checksum(), old, to.src_port);
                        icmp.set_echo_ident(to.src_port);
                        icmp.set_checksum(sum);
                    }
                }
            }
            _ => {}
        }
    }
    let mut pkt = Ipv4Packet::new_unchecked(&mut *ip);
    if old_src != new_src {
        pkt.set_src_addr_incremental(new_src);
    }
    if old_dst != new_dst {
        pkt.set_dst_addr_incremental(new_dst);
    }
    Ok(())
}

/// Rewrites an ICMP error whose quoted packet belongs to a translated state. `from` is the
/// error's lookup key (the quoted flow reversed, as [`IcmpErrorFlow::key`]) and `to` the same
/// on the state's other side. The quoted header's addresses, ports and checksum are
/// translated; the outer destination follows the quoted source when they were the same host
/// (the usual case: the error goes back to the sender), and the outer source follows the
/// quoted destination likewise; the ICMP checksum is recomputed (errors are small).
///
/// [`IcmpErrorFlow::key`]: crate::state::IcmpErrorFlow::key
///
/// # Errors
///
/// As [`rewrite_flow`].
pub fn rewrite_icmp_error(
    ip: &mut [u8],
    from: &PacketKey,
    to: &PacketKey,
) -> Result<(), RewriteError> {
    if from.af != Af::Inet || to.af != Af::Inet {
        return Err(RewriteError::NotIpv4);
    }
    // The quoted packet travelled the other way: its source is the key's destination.
    let (quoted_src, quoted_dst) = (v4(from.dst), v4(from.src));
    let (new_quoted_src, new_quoted_dst) = (v4(to.dst), v4(to.src));
    let mut pkt = Ipv4Packet::new_checked(&mut *ip).map_err(|_| RewriteError::NotIpv4)?;
    let (outer_src, outer_dst) = (pkt.src_addr(), pkt.dst_addr());
    {
        let mut icmp =
            Icmpv4Packet::new_checked(pkt.payload_mut()).map_err(|_| RewriteError::Truncated)?;
        let quoted = icmp.data_mut();
        let header_len = usize::from(quoted.first().map_or(0, |b| b & 0x0f)) * 4;
        if quoted.len() < header_len + 4 || header_len < 20 {
            return Err(RewriteError::Truncated);
        }
        let mut inner = Ipv4Packet::new_unchecked(&mut *quoted);
        let inner_proto = inner.next_header();
        inner.set_src_addr_incremental(new_quoted_src);
        inner.set_dst_addr_incremental(new_quoted_dst);
        let l4 = quoted
            .get_mut(header_len..)
            .ok_or(RewriteError::Truncated)?;
        match inner_proto {
            IpProtocol::TCP | IpProtocol::UDP => {
                let (old_sp, old_dp) = (from.dst_port, from.src_port);
                let (new_sp, new_dp) = (to.dst_port, to.src_port);
                if let Some(ports) = l4.get_mut(0..4) {
                    ports[..2].copy_from_slice(&new_sp.to_be_bytes());
                    ports[2..].copy_from_slice(&new_dp.to_be_bytes());
                }
                // A quoted UDP checksum (bytes 6..8) is adjusted like the header; the quoted
                // TCP checksum (bytes 16..18) is seldom quoted and pf leaves it too.
                if inner_proto == IpProtocol::UDP
                    && let Some(field) = l4.get_mut(6..8)
                {
                    let old = u16::from_be_bytes([field[0], field[1]]);
                    if old != 0 {
                        let sum = update_transport(
                            old,
                            (quoted_src, quoted_dst),
                            (new_quoted_src, new_quoted_dst),
                            (old_sp, old_dp),
                            (new_sp, new_dp),
                        );
                        field.copy_from_slice(&sum.to_be_bytes());
                    }
                }
            }
            IpProtocol::ICMP => {
                // A quoted echo: the id at bytes 4..6.
                if let Some(id) = l4.get_mut(4..6) {
                    id.copy_from_slice(&to.dst_port.to_be_bytes());
                }
            }
            _ => {}
        }
        icmp.fill_checksum();
    }
    if outer_dst == quoted_src && quoted_src != new_quoted_src {
        pkt.set_dst_addr_incremental(new_quoted_src);
    }
    if outer_src == quoted_dst && quoted_dst != new_quoted_dst {
        pkt.set_src_addr_incremental(new_quoted_dst);
    }
    Ok(())
}
