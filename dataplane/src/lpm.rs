//! IPv4 longest-prefix match in at most three table reads (DIR-16-8-8, after DPDK's rte_lpm
//! idea of direct tables): `top[addr >> 16]` holds a value or points to a 256-entry group for
//! bits 8..16, whose entries may point to a group for bits 0..8. Built from the whole route list
//! at once, shortest prefixes first, so each longer prefix paints over what it covers.
//!
//! Memory: 256 KiB for the top table plus 1 KiB per /16 (and per /24) that holds longer routes.

/// What a table entry holds: nothing, a value (index + 1), or a group (index | GROUP).
const GROUP: u32 = 1 << 31;
const EMPTY: u32 = 0;

/// A longest-prefix-match table from IPv4 prefixes to small values (`u32` below 2^31 - 1).
#[derive(Debug, Clone)]
pub struct Lpm {
    top: Vec<u32>,
    groups: Vec<[u32; 256]>,
}

impl Default for Lpm {
    fn default() -> Self {
        Lpm {
            top: vec![EMPTY; 1 << 16],
            groups: Vec::new(),
        }
    }
}

impl Lpm {
    /// Build from `(network, prefix_len, value)`; host bits of `network` are ignored, prefix
    /// lengths over 32 and values of 2^31 - 1 or more are skipped. Where two entries have the
    /// same prefix, the later one wins.
    pub fn build(routes: &[(u32, u8, u32)]) -> Lpm {
        let mut sorted: Vec<&(u32, u8, u32)> = routes
            .iter()
            .filter(|(_, len, value)| *len <= 32 && *value < GROUP - 1)
            .collect();
        sorted.sort_by_key(|(_, len, _)| *len);
        let mut lpm = Lpm::default();
        for &&(net, len, value) in &sorted {
            lpm.paint(net & mask(len), len, value + 1);
        }
        lpm
    }

    fn paint(&mut self, net: u32, len: u8, entry: u32) {
        if len <= 16 {
            let first = (net >> 16) as usize;
            let count = 1usize << (16 - len);
            if let Some(slots) = self.top.get_mut(first..first + count) {
                slots.fill(entry);
            }
            return;
        }
        let top_index = (net >> 16) as usize;
        let Some(group) = self.group_at(Slot::Top(top_index)) else {
            return;
        };
        if len <= 24 {
            let first = ((net >> 8) & 0xff) as usize;
            let count = 1usize << (24 - len);
            if let Some(slots) = self
                .groups
                .get_mut(group)
                .and_then(|g| g.get_mut(first..first + count))
            {
                slots.fill(entry);
            }
            return;
        }
        let mid_index = ((net >> 8) & 0xff) as usize;
        let Some(leaf) = self.group_at(Slot::Mid(group, mid_index)) else {
            return;
        };
        let first = (net & 0xff) as usize;
        let count = 1usize << (32 - len);
        if let Some(slots) = self
            .groups
            .get_mut(leaf)
            .and_then(|g| g.get_mut(first..first + count))
        {
            slots.fill(entry);
        }
    }

    /// The group an entry points to, creating it (filled with the entry's value) if needed.
    fn group_at(&mut self, slot: Slot) -> Option<usize> {
        let current = match slot {
            Slot::Top(i) => *self.top.get(i)?,
            Slot::Mid(g, i) => *self.groups.get(g)?.get(i)?,
        };
        if current & GROUP != 0 {
            return Some((current & !GROUP) as usize);
        }
        let index = self.groups.len();
        self.groups.push([current; 256]);
        let pointer = GROUP | u32::try_from(index).ok()?;
        match slot {
            Slot::Top(i) => *self.top.get_mut(i)? = pointer,
            Slot::Mid(g, i) => *self.groups.get_mut(g)?.get_mut(i)? = pointer,
        }
        Some(index)
    }

    /// The value of the longest prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<u32> {
        let mut entry = self
            .top
            .get((addr >> 16) as usize)
            .copied()
            .unwrap_or(EMPTY);
        if entry & GROUP != 0 {
            entry = self.group_entry(entry, (addr >> 8) & 0xff);
            if entry & GROUP != 0 {
                entry = self.group_entry(entry, addr & 0xff);
            }
        }
        entry.checked_sub(1)
    }

    #[inline]
    fn group_entry(&self, pointer: u32, index: u32) -> u32 {
        self.groups
            .get((pointer & !GROUP) as usize)
            .and_then(|g| g.get(index as usize))
            .copied()
            .unwrap_or(EMPTY)
    }

    /// 256-entry groups in use.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }
}

#[derive(Clone, Copy)]
enum Slot {
    Top(usize),
    Mid(usize, usize),
}

const fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - prefix_len as u32)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The definition: the matching route with the longest prefix, the later one on a tie.
    fn reference(routes: &[(u32, u8, u32)], addr: u32) -> Option<u32> {
        let mut best: Option<(u8, u32)> = None;
        for &(net, len, value) in routes {
            if len <= 32
                && addr & mask(len) == net & mask(len)
                && best.is_none_or(|(l, _)| len >= l)
            {
                best = Some((len, value));
            }
        }
        best.map(|(_, v)| v)
    }

    #[test]
    fn levels_and_defaults() {
        let routes = [
            (0, 0, 1),
            (0x0a00_0000, 8, 2),
            (0x0a01_0000, 16, 3),
            (0x0a01_0200, 24, 4),
            (0x0a01_0280, 25, 5),
            (0x0a01_0203, 32, 6),
        ];
        let lpm = Lpm::build(&routes);
        for (addr, want) in [
            (0x0800_0808, 1),
            (0x0a09_0000, 2),
            (0x0a01_ff00, 3),
            (0x0a01_0201, 4),
            (0x0a01_02ff, 5),
            (0x0a01_0203, 6),
        ] {
            assert_eq!(lpm.lookup(addr), Some(want), "{addr:08x}");
        }
        assert_eq!(lpm.groups(), 2);
        assert_eq!(Lpm::build(&[(0x0a00_0000, 8, 0)]).lookup(0x0b00_0000), None);
    }

    proptest! {
        #[test]
        fn agrees_with_the_definition(
            routes in proptest::collection::vec((any::<u32>(), 0u8..=32, 0u32..1000), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 64),
        ) {
            let lpm = Lpm::build(&routes);
            // Probe random addresses and the edges of every route.
            let edges = routes.iter().flat_map(|&(n, l, _)| [n & mask(l), (n & mask(l)) | !mask(l)]);
            for addr in probes.into_iter().chain(edges) {
                prop_assert_eq!(lpm.lookup(addr), reference(&routes, addr), "addr {:08x}", addr);
            }
        }
    }
}
