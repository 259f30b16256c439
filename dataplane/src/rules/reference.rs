//! The reference evaluator: pf's walk over the rule list, one rule at a time.

use super::{
    Direction, Interfaces, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, PacketMeta, ProtoSpec,
    RuleAction, RuleDirection, RuleSpec, RulesetOptions, Verdict,
};

/// Evaluates `meta` against `rules` (config order) by a linear scan with the semantics of the
/// module docs: disabled rules skipped, floating rules first, last match wins unless quick,
/// `match` rules never decide, defaults block in / pass out. Same answers as
/// [`Ruleset::evaluate`](super::Ruleset::evaluate), in time proportional to the rule count:
/// the reference for tests and benchmarks.
pub fn linear_evaluate(rules: &[RuleSpec], options: &RulesetOptions, meta: &PacketMeta) -> Verdict {
    let default = Verdict::default_for(meta, options);
    if meta.src.is_ipv6() != meta.dst.is_ipv6() || meta.port >= options.ports {
        return default;
    }
    let floating = rules.iter().filter(|r| r.floating);
    let others = rules.iter().filter(|r| !r.floating);
    let mut last: Option<&RuleSpec> = None;
    for rule in floating.chain(others) {
        if rule.disabled || !matches(rule, meta) {
            continue;
        }
        if rule.quick {
            if rule.action == RuleAction::Match {
                break;
            }
            return Verdict::of_rule(rule);
        }
        if rule.action != RuleAction::Match {
            last = Some(rule);
        }
    }
    last.map_or(default, Verdict::of_rule)
}

/// Whether `rule` matches `meta`, test by test.
fn matches(rule: &RuleSpec, meta: &PacketMeta) -> bool {
    let v6 = meta.is_v6();
    let on_port = match &rule.interfaces {
        Interfaces::Any => true,
        Interfaces::Ports(ports) => ports.contains(&meta.port),
    };
    let direction = match rule.direction {
        RuleDirection::Any => true,
        RuleDirection::In => meta.direction == Direction::In,
        RuleDirection::Out => meta.direction == Direction::Out,
    };
    let proto = match &rule.proto {
        ProtoSpec::Any => true,
        ProtoSpec::Tcp => meta.proto == PROTO_TCP,
        ProtoSpec::Udp => meta.proto == PROTO_UDP,
        ProtoSpec::TcpUdp => meta.proto == PROTO_TCP || meta.proto == PROTO_UDP,
        ProtoSpec::Icmp { v4, v6: icmp6 } => {
            if v6 {
                meta.proto == PROTO_ICMPV6 && icmp6.accepts(meta.icmp_type)
            } else {
                meta.proto == PROTO_ICMP && v4.accepts(meta.icmp_type)
            }
        }
        ProtoSpec::Number(n) => meta.proto == *n,
    };
    let has_ports = meta.proto == PROTO_TCP || meta.proto == PROTO_UDP;
    let ports = (rule.src_ports.is_empty() && rule.dst_ports.is_empty())
        || (has_ports
            && (rule.src_ports.is_empty()
                || rule.src_ports.iter().any(|r| r.contains(meta.src_port)))
            && (rule.dst_ports.is_empty()
                || rule.dst_ports.iter().any(|r| r.contains(meta.dst_port))));
    let flags = match rule.tcp_flags {
        Some(m) if meta.proto == PROTO_TCP => m.accepts(meta.tcp_flags),
        _ => true,
    };
    on_port
        && direction
        && rule.families.has(v6)
        && proto
        && rule.src.accepts(meta.src)
        && rule.dst.accepts(meta.dst)
        && ports
        && flags
}
