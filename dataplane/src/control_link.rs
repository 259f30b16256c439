//! What the control thread exchanges with the workers: CARP packets the workers received
//! (punted, copied out of their mbufs), frames control wants sent (CARP adverts, gratuitous
//! ARPs: worker 0 sends them with its next burst), and the VIP table that says which virtual
//! addresses the node answers for (control publishes, workers follow between bursts).
//!
//! CARP traffic is a few packets a second, so copies and a shared multi-producer queue cost
//! nothing here; none of it is on the path of forwarded packets.

use std::sync::Arc;

use arc_swap::ArcSwap;
use crossbeam::queue::ArrayQueue;

use crate::vip::VipTable;

/// Frames each way held at most; beyond, they are dropped and counted.
pub const CONTROL_SLOTS: usize = 1024;

/// A frame and the port index it arrived on or leaves by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFrame {
    /// Port index.
    pub port: usize,
    /// The whole Ethernet frame.
    pub bytes: Vec<u8>,
    /// For a frame to send: the neighbour whose MAC the worker fills in (resolving it with
    /// ARP if needed); `None` sends the frame as built.
    pub next_hop: Option<std::net::Ipv4Addr>,
}

/// The shared ends; cloning shares them.
#[derive(Debug, Clone)]
pub struct ControlLink {
    punted: Arc<ArrayQueue<PortFrame>>,
    inject: Arc<ArrayQueue<PortFrame>>,
    vips: Arc<ArcSwap<VipTable>>,
}

impl ControlLink {
    /// Empty queues and `vips` (every vhid BACKUP until control decides).
    pub fn new(vips: VipTable) -> ControlLink {
        ControlLink {
            punted: Arc::new(ArrayQueue::new(CONTROL_SLOTS)),
            inject: Arc::new(ArrayQueue::new(CONTROL_SLOTS)),
            vips: Arc::new(ArcSwap::from_pointee(vips)),
        }
    }

    /// A worker hands a CARP packet to control; `false` if the queue was full (count it).
    pub fn punt(&self, frame: PortFrame) -> bool {
        self.punted.push(frame).is_ok()
    }

    /// Control takes the next punted packet.
    pub fn take_punted(&self) -> Option<PortFrame> {
        self.punted.pop()
    }

    /// Control asks for `frame` to be sent; `false` if the queue was full.
    pub fn send(&self, frame: PortFrame) -> bool {
        self.inject.push(frame).is_ok()
    }

    /// Whether control queued frames to send.
    pub fn has_outgoing(&self) -> bool {
        !self.inject.is_empty()
    }

    /// Worker 0 takes the next frame to send.
    pub fn take_outgoing(&self) -> Option<PortFrame> {
        self.inject.pop()
    }

    /// Control publishes a new VIP table.
    pub fn publish_vips(&self, vips: VipTable) {
        self.vips.store(Arc::new(vips));
    }

    /// The VIP table now.
    pub fn vips(&self) -> Arc<VipTable> {
        self.vips.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_queues_are_bounded_and_vips_swap() {
        let link = ControlLink::new(VipTable::default());
        for i in 0..CONTROL_SLOTS {
            assert!(link.punt(PortFrame {
                port: i,
                bytes: vec![],
                next_hop: None,
            }));
        }
        assert!(!link.punt(PortFrame {
            port: 0,
            bytes: vec![],
            next_hop: None,
        }));
        assert_eq!(link.take_punted().map(|f| f.port), Some(0));
        let vip = crate::vip::Vip {
            port: 0,
            addr: std::net::Ipv4Addr::new(10, 0, 0, 100),
            vhid: 1,
            master: true,
        };
        link.publish_vips(VipTable::new(vec![vip]));
        assert!(link.vips().is_local(vip.addr));
    }
}
