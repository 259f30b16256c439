//! The per-bucket index: elementary intervals per dimension, each mapped to the bitset of the
//! rules that accept it. See the parent module for the idea and its cost.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{
    AddrSpec, Direction, IcmpMatch, Interfaces, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
    PacketMeta, PortRange, ProtoSpec, RuleAction, RuleDirection, RuleSpec,
};

/// Family × protocol class of a packet; each has its own buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Class {
    Tcp4 = 0,
    Udp4 = 1,
    Icmp4 = 2,
    Other4 = 3,
    Tcp6 = 4,
    Udp6 = 5,
    Icmp6 = 6,
    Other6 = 7,
}

impl Class {
    pub(super) const COUNT: usize = 8;
    pub(super) const ALL: [Class; Class::COUNT] = [
        Class::Tcp4,
        Class::Udp4,
        Class::Icmp4,
        Class::Other4,
        Class::Tcp6,
        Class::Udp6,
        Class::Icmp6,
        Class::Other6,
    ];

    fn of(v6: bool, proto: u8) -> Class {
        match (v6, proto) {
            (false, PROTO_TCP) => Class::Tcp4,
            (false, PROTO_UDP) => Class::Udp4,
            (false, PROTO_ICMP) => Class::Icmp4,
            (false, _) => Class::Other4,
            (true, PROTO_TCP) => Class::Tcp6,
            (true, PROTO_UDP) => Class::Udp6,
            (true, PROTO_ICMPV6) => Class::Icmp6,
            (true, _) => Class::Other6,
        }
    }

    fn is_v6(self) -> bool {
        self as usize >= 4
    }

    fn is_tcp(self) -> bool {
        matches!(self, Class::Tcp4 | Class::Tcp6)
    }

    fn has_ports(self) -> bool {
        matches!(self, Class::Tcp4 | Class::Udp4 | Class::Tcp6 | Class::Udp6)
    }

    fn is_icmp(self) -> bool {
        matches!(self, Class::Icmp4 | Class::Icmp6)
    }

    /// The protocol number every packet of a TCP/UDP/ICMP class has.
    fn proto(self) -> Option<u8> {
        match self {
            Class::Tcp4 | Class::Tcp6 => Some(PROTO_TCP),
            Class::Udp4 | Class::Udp6 => Some(PROTO_UDP),
            Class::Icmp4 => Some(PROTO_ICMP),
            Class::Icmp6 => Some(PROTO_ICMPV6),
            Class::Other4 | Class::Other6 => None,
        }
    }
}

/// The lookup keys of a packet.
pub(super) struct Keys {
    pub(super) class: Class,
    src: u128,
    dst: u128,
    /// Source port (TCP/UDP), else 0.
    k1: u16,
    /// Destination port (TCP/UDP), ICMP type (ICMP) or protocol number (other).
    k2: u16,
    /// TCP flags (TCP), else 0.
    k3: u16,
}

fn addr_key(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl Keys {
    /// `None` when source and destination are of different families.
    pub(super) fn of(meta: &PacketMeta) -> Option<Keys> {
        let v6 = meta.src.is_ipv6();
        if meta.dst.is_ipv6() != v6 {
            return None;
        }
        let class = Class::of(v6, meta.proto);
        let (k1, k2) = if class.has_ports() {
            (meta.src_port, meta.dst_port)
        } else if class.is_icmp() {
            (0, u16::from(meta.icmp_type))
        } else {
            (0, u16::from(meta.proto))
        };
        Some(Keys {
            class,
            src: addr_key(meta.src),
            dst: addr_key(meta.dst),
            k1,
            k2,
            k3: if class.is_tcp() {
                u16::from(meta.tcp_flags)
            } else {
                0
            },
        })
    }
}

/// Whether `rule` can match any packet of `class` on `port` in `direction` (the dimensions
/// decide the rest). Mirrors the reference evaluator's tests.
pub(super) fn applies(rule: &RuleSpec, port: usize, direction: Direction, class: Class) -> bool {
    let on_port = match &rule.interfaces {
        Interfaces::Any => true,
        Interfaces::Ports(ports) => ports.contains(&port),
    };
    let dir_ok = matches!(
        (rule.direction, direction),
        (RuleDirection::Any, _)
            | (RuleDirection::In, Direction::In)
            | (RuleDirection::Out, Direction::Out)
    );
    let v6 = class.is_v6();
    let proto_ok = match (&rule.proto, class.proto()) {
        (ProtoSpec::Any, _) => true,
        (ProtoSpec::Tcp, Some(p)) => p == PROTO_TCP,
        (ProtoSpec::Udp, Some(p)) => p == PROTO_UDP,
        (ProtoSpec::TcpUdp, Some(p)) => p == PROTO_TCP || p == PROTO_UDP,
        (ProtoSpec::Icmp { v4, .. }, _) if class == Class::Icmp4 => *v4 != IcmpMatch::None,
        (ProtoSpec::Icmp { v6, .. }, _) if class == Class::Icmp6 => *v6 != IcmpMatch::None,
        (ProtoSpec::Number(n), Some(p)) => *n == p,
        // An "other" class holds every protocol but the class ones: the k2 dimension checks it.
        (ProtoSpec::Number(n), None) => Class::of(v6, *n) == class,
        _ => false,
    };
    let ports_ok = (rule.src_ports.is_empty() && rule.dst_ports.is_empty()) || class.has_ports();
    on_port
        && dir_ok
        && rule.families.has(v6)
        && proto_ok
        && ports_ok
        && rule.src.allows(v6)
        && rule.dst.allows(v6)
}

/// A key type of a dimension.
trait Key: Copy + Ord {
    const MIN: Self;
    fn succ(self) -> Option<Self>;
}

impl Key for u16 {
    const MIN: u16 = 0;
    fn succ(self) -> Option<u16> {
        self.checked_add(1)
    }
}

impl Key for u128 {
    const MIN: u128 = 0;
    fn succ(self) -> Option<u128> {
        self.checked_add(1)
    }
}

/// One rule's test in one dimension.
enum Pred<K> {
    Any,
    /// Inclusive ranges; `negate` accepts the keys outside them.
    Ranges(Vec<(K, K)>, bool),
}

/// A dimension: interval `i` is `[bounds[i], bounds[i + 1])`; `sets[i]` is its bitset id.
#[derive(Debug, Clone)]
struct Dim<K> {
    bounds: Vec<K>,
    sets: Vec<u32>,
}

impl<K: Key> Dim<K> {
    fn lookup(&self, key: K) -> Option<u32> {
        let i = self.bounds.partition_point(|b| *b <= key);
        self.sets.get(i.checked_sub(1)?).copied()
    }

    fn memory_bytes(&self) -> usize {
        self.bounds.len() * std::mem::size_of::<K>() + self.sets.len() * 4
    }
}

/// Deduplicated bitsets of one bucket, `words` u64s each.
struct Pool {
    words: usize,
    sets: Vec<u64>,
    ids: HashMap<Vec<u64>, u32>,
}

impl Pool {
    fn intern(&mut self, set: &[u64]) -> u32 {
        if let Some(&id) = self.ids.get(set) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.sets.extend_from_slice(set);
        self.ids.insert(set.to_vec(), id);
        id
    }
}

/// Builds a dimension over `preds` (one per bucket rule, in bucket order); `None` when every
/// rule accepts every key.
fn build_dim<K: Key>(preds: &[Pred<K>], pool: &mut Pool) -> Option<Dim<K>> {
    if preds.iter().all(|p| matches!(p, Pred::Any)) {
        return None;
    }
    let mut bounds = vec![K::MIN];
    for p in preds {
        if let Pred::Ranges(ranges, _) = p {
            for &(lo, hi) in ranges {
                bounds.push(lo);
                bounds.extend(hi.succ());
            }
        }
    }
    bounds.sort_unstable();
    bounds.dedup();
    let words = pool.words;
    let mut matrix = vec![0u64; bounds.len() * words];
    let mut covered = vec![false; bounds.len()];
    for (bit, p) in preds.iter().enumerate() {
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        let set_row = |matrix: &mut Vec<u64>, row: usize| {
            if let Some(w) = matrix.get_mut(row * words + word) {
                *w |= mask;
            }
        };
        match p {
            Pred::Any => (0..bounds.len()).for_each(|row| set_row(&mut matrix, row)),
            Pred::Ranges(ranges, negate) => {
                covered.fill(false);
                for &(lo, hi) in ranges {
                    let start = bounds.partition_point(|b| *b < lo);
                    let end = match hi.succ() {
                        Some(next) => bounds.partition_point(|b| *b < next),
                        None => bounds.len(),
                    };
                    if let Some(slice) = covered.get_mut(start..end) {
                        slice.fill(true);
                    }
                }
                for (row, &c) in covered.iter().enumerate() {
                    if c != *negate {
                        set_row(&mut matrix, row);
                    }
                }
            }
        }
    }
    let mut dim = Dim {
        bounds: Vec::new(),
        sets: Vec::new(),
    };
    for (&bound, row) in bounds.iter().zip(matrix.chunks_exact(words)) {
        let id = pool.intern(row);
        if dim.sets.last() != Some(&id) {
            dim.bounds.push(bound);
            dim.sets.push(id);
        }
    }
    Some(dim)
}

fn addr_pred(spec: &AddrSpec, v6: bool) -> Pred<u128> {
    match spec {
        AddrSpec::Any => Pred::Any,
        AddrSpec::Nets { v4, v6: n6, negate } => {
            let ranges = if v6 {
                n6.iter()
                    .flatten()
                    .map(|n| {
                        let lo = u128::from(n.network());
                        let host = u128::MAX
                            .checked_shr(u32::from(n.prefix_len()))
                            .unwrap_or(0);
                        (lo, lo | host)
                    })
                    .collect()
            } else {
                v4.iter()
                    .flatten()
                    .map(|n| {
                        let lo = u32::from(n.network());
                        let host = u32::MAX.checked_shr(u32::from(n.prefix_len())).unwrap_or(0);
                        (u128::from(lo), u128::from(lo | host))
                    })
                    .collect()
            };
            Pred::Ranges(ranges, *negate)
        }
    }
}

fn port_pred(ranges: &[PortRange]) -> Pred<u16> {
    if ranges.is_empty() {
        Pred::Any
    } else {
        Pred::Ranges(ranges.iter().map(|r| (r.first, r.last)).collect(), false)
    }
}

fn singles(values: impl IntoIterator<Item = u16>) -> Pred<u16> {
    Pred::Ranges(values.into_iter().map(|v| (v, v)).collect(), false)
}

/// The k2 test: destination port, ICMP type or protocol number, by class.
fn k2_pred(rule: &RuleSpec, class: Class) -> Pred<u16> {
    if class.has_ports() {
        return port_pred(&rule.dst_ports);
    }
    match (&rule.proto, class) {
        (ProtoSpec::Icmp { v4, .. }, Class::Icmp4)
        | (ProtoSpec::Icmp { v6: v4, .. }, Class::Icmp6) => match v4 {
            IcmpMatch::Any => Pred::Any,
            IcmpMatch::None => singles([]),
            IcmpMatch::Types(types) => singles(types.iter().map(|&t| u16::from(t))),
        },
        (ProtoSpec::Number(n), Class::Other4 | Class::Other6) => singles([u16::from(*n)]),
        _ => Pred::Any,
    }
}

/// The k3 test: TCP flags (as the set of flag bytes accepted).
fn k3_pred(rule: &RuleSpec, class: Class) -> Pred<u16> {
    match rule.tcp_flags {
        Some(m) if class.is_tcp() => {
            singles((0..=u8::MAX).filter(|&f| m.accepts(f)).map(u16::from))
        }
        _ => Pred::Any,
    }
}

/// The index of one bucket.
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    /// Rule positions (into the ruleset's rule list), in evaluation order; bit `i` is `rules[i]`.
    rules: Vec<u32>,
    words: usize,
    /// Rules that are quick.
    quick: Vec<u64>,
    /// Rules that are not quick and decide (not `match`).
    remember: Vec<u64>,
    src: Option<Dim<u128>>,
    dst: Option<Dim<u128>>,
    k1: Option<Dim<u16>>,
    k2: Option<Dim<u16>>,
    k3: Option<Dim<u16>>,
    sets: Vec<u64>,
}

impl Bucket {
    /// Builds the index of `members` (positions into `rules`) for `class`.
    pub(super) fn build(rules: &[RuleSpec], members: &[u32], class: Class) -> Bucket {
        let words = members.len().div_ceil(64).max(1);
        let bucket_rules: Vec<&RuleSpec> = members
            .iter()
            .filter_map(|&p| rules.get(p as usize))
            .collect();
        let mut quick = vec![0u64; words];
        let mut remember = vec![0u64; words];
        for (bit, r) in bucket_rules.iter().enumerate() {
            let (word, mask) = (bit / 64, 1u64 << (bit % 64));
            let target = if r.quick {
                Some(&mut quick)
            } else if r.action != RuleAction::Match {
                Some(&mut remember)
            } else {
                None
            };
            if let Some(w) = target.and_then(|t| t.get_mut(word)) {
                *w |= mask;
            }
        }
        let v6 = class.is_v6();
        let mut pool = Pool {
            words,
            sets: Vec::new(),
            ids: HashMap::new(),
        };
        let src: Vec<_> = bucket_rules.iter().map(|r| addr_pred(&r.src, v6)).collect();
        let dst: Vec<_> = bucket_rules.iter().map(|r| addr_pred(&r.dst, v6)).collect();
        let k1: Vec<_> = bucket_rules
            .iter()
            .map(|r| {
                if class.has_ports() {
                    port_pred(&r.src_ports)
                } else {
                    Pred::Any
                }
            })
            .collect();
        let k2: Vec<_> = bucket_rules.iter().map(|r| k2_pred(r, class)).collect();
        let k3: Vec<_> = bucket_rules.iter().map(|r| k3_pred(r, class)).collect();
        Bucket {
            rules: members.to_vec(),
            words,
            quick,
            remember,
            src: build_dim(&src, &mut pool),
            dst: build_dim(&dst, &mut pool),
            k1: build_dim(&k1, &mut pool),
            k2: build_dim(&k2, &mut pool),
            k3: build_dim(&k3, &mut pool),
            sets: pool.sets,
        }
    }

    /// The rule position behind bit `pos`.
    pub(super) fn rule_at(&self, pos: usize) -> Option<usize> {
        self.rules.get(pos).map(|&p| p as usize)
    }

    fn set(&self, id: u32) -> &[u64] {
        let start = id as usize * self.words;
        self.sets.get(start..start + self.words).unwrap_or(&[])
    }

    /// pf's walk over the bucket's matching rules: the first matching quick rule (if any) and
    /// the last matching non-quick deciding rule before it, as bit positions.
    pub(super) fn scan(&self, keys: &Keys) -> (Option<usize>, Option<usize>) {
        let mut slices: [&[u64]; 5] = [&[]; 5];
        let mut n = 0;
        let lookups = [
            self.src.as_ref().map(|d| d.lookup(keys.src)),
            self.dst.as_ref().map(|d| d.lookup(keys.dst)),
            self.k1.as_ref().map(|d| d.lookup(keys.k1)),
            self.k2.as_ref().map(|d| d.lookup(keys.k2)),
            self.k3.as_ref().map(|d| d.lookup(keys.k3)),
        ];
        for lookup in lookups.into_iter().flatten() {
            let Some(id) = lookup else {
                return (None, None);
            };
            if let Some(slot) = slices.get_mut(n) {
                *slot = self.set(id);
                n += 1;
            }
        }
        let slices = slices.get(..n).unwrap_or(&[]);
        let mut last = None;
        for (w, (&quick, &remember)) in self.quick.iter().zip(&self.remember).enumerate() {
            let mut m = !0u64;
            for s in slices {
                m &= s.get(w).copied().unwrap_or(0);
            }
            if m == 0 {
                continue;
            }
            let q = m & quick;
            if q != 0 {
                let bit = q.trailing_zeros();
                let before = m & remember & ((1u64 << bit) - 1);
                if before != 0 {
                    last = Some(w * 64 + 63 - before.leading_zeros() as usize);
                }
                return (Some(w * 64 + bit as usize), last);
            }
            let t = m & remember;
            if t != 0 {
                last = Some(w * 64 + 63 - t.leading_zeros() as usize);
            }
        }
        (None, last)
    }

    pub(super) fn memory_bytes(&self) -> usize {
        let dims = [&self.src, &self.dst]
            .iter()
            .map(|d| d.as_ref().map_or(0, Dim::memory_bytes))
            .sum::<usize>()
            + [&self.k1, &self.k2, &self.k3]
                .iter()
                .map(|d| d.as_ref().map_or(0, Dim::memory_bytes))
                .sum::<usize>();
        self.rules.len() * 4 + (self.quick.len() + self.remember.len() + self.sets.len()) * 8 + dims
    }
}
