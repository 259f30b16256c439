#!/bin/bash
# The kernel peer: Linux IPv4 forwarding with nftables conntrack (flows ESTABLISHED, 32 rules
# as in ../shared/reference/perf.md §5) in a router namespace between a generator and a sink.
#
#   G [g0] <-veth-> [r0] R [r1] <-veth-> [s0] S
#   G: dpdk-testpmd flowgen over net_af_packet (CPU0), 64 B UDP, FLOWS flows
#   R: kernel forwarding + nft conntrack; its softirq work is steered to CPU1 (RPS)
#   S: counts and drops at netdev ingress (CPU0); sends one reply per flow so they are ESTABLISHED
#
# Usage: kernel-nft.sh PREFIX SECONDS   (root). Prints "kernel_fwd_mpps=X gen_mpps=Y cpu1_busy=Z".
# Every namespace and interface carries PREFIX; all are removed on exit, even on failure.
set -euo pipefail
P=${1:?prefix}; SECS=${2:-8}; FLOWS=${FLOWS:-65536}
HERE=$(cd "$(dirname "$0")" && pwd)
G=${P}g; R=${P}r; S=${P}s
cleanup() {
  [ -n "${GEN:-}" ] && kill -INT "$GEN" 2>/dev/null && wait "$GEN" 2>/dev/null || true
  for n in $G $R $S; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "/var/run/dpdk/${P}gen"
}
trap cleanup EXIT
for n in $G $R $S; do ip netns add "$n"; ip -n "$n" link set lo up; ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
# testpmd flowgen sends from 00:01:02:03:04:00 to 00:01:02:03:04:01.
ip link add ${P}g0 netns $G address 00:01:02:03:04:00 type veth peer name ${P}r0 netns $R address 00:01:02:03:04:01
ip link add ${P}r1 netns $R type veth peer name ${P}s0 netns $S
ip -n $G addr add 10.10.1.2/24 dev ${P}g0; ip -n $G link set ${P}g0 up
ip -n $R addr add 10.10.1.1/24 dev ${P}r0; ip -n $R link set ${P}r0 up
ip -n $R addr add 10.10.2.1/24 dev ${P}r1; ip -n $R link set ${P}r1 up
ip -n $S addr add 10.10.2.2/24 dev ${P}s0; ip -n $S link set ${P}s0 up
ip -n $R route add 10.253.0.0/16 via 10.10.2.2
ip -n $R route add 10.254.0.0/16 via 10.10.1.2
ip -n $S route add 10.254.0.0/16 via 10.10.2.1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
mac() { ip -n "$1" -j link show "$2" | python3 -c 'import json,sys;print(json.load(sys.stdin)[0]["address"])'; }
ip -n $R neigh replace 10.10.2.2 lladdr "$(mac $S ${P}s0)" dev ${P}r1 nud permanent
ip -n $R neigh replace 10.10.1.2 lladdr 00:01:02:03:04:00 dev ${P}r0 nud permanent
ip -n $S neigh replace 10.10.2.1 lladdr "$(mac $R ${P}r1)" dev ${P}s0 nud permanent
ip netns exec $R sh -c "echo 2 > /sys/class/net/${P}r0/queues/rx-0/rps_cpus"
ip netns exec $S sh -c "echo 1 > /sys/class/net/${P}s0/queues/rx-0/rps_cpus"
ip netns exec $S nft -f - <<NFT
table netdev ${P}sink {
  chain in {
    type filter hook ingress device "${P}s0" priority 0; counter drop
  }
}
NFT
{
  echo "table inet ${P}fw {"; echo "chain ${P}forward {"; echo "type filter hook forward priority filter; policy drop;"
  echo "ct state established,related accept"; echo "ct state invalid drop"
  for i in $(seq 1 10); do echo "ip saddr 192.0.2.$i tcp dport { 22, 23, 3389 } drop"; done
  for i in $(seq 1 10); do echo "ip daddr 198.51.100.$i udp dport $((5000 + i)) accept"; done
  for i in $(seq 1 10); do echo "iifname \"${P}r1\" ip saddr 203.0.113.$i tcp dport $((8000 + i)) accept"; done
  echo "iifname \"${P}r0\" oifname \"${P}r1\" ip daddr 10.253.0.0/16 udp dport 1001 ct state new accept"
  echo "}"; echo "}"
} | ip netns exec $R nft -f -
ip netns exec $G taskset -c 0 dpdk-testpmd -l 0,1 --main-lcore 1 --in-memory --file-prefix ${P}gen --no-pci \
  --vdev=net_af_packet0,iface=${P}g0,qdisc_bypass=1 -- --forward-mode=flowgen --nb-cores=1 --stats-period 1 \
  --txpkts=64 --flowgen-flows=$FLOWS > /dev/null 2>&1 &
GEN=$!
sleep 4
# One reply per flow from the sink: conntrack sees both directions (ESTABLISHED).
ip netns exec $S taskset -c 0 python3 "$HERE/inject_replies.py" "$FLOWS" > /dev/null
sleep 2
# TX packets of device $2 in netns $1.
ctr() { ip netns exec "$1" python3 -c "
import sys
for l in open('/proc/net/dev'):
    n, _, rest = l.partition(':')
    if n.strip() == sys.argv[1]: print(rest.split()[9])" "$2"; }
cpu1() { awk '/^cpu1 /{print $2+$3+$4+$6+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
t0=$(date +%s.%N); f0=$(ctr $R ${P}r1); g0=$(ctr $G ${P}g0); read b0 a0 <<< "$(cpu1)"
sleep "$SECS"
t1=$(date +%s.%N); f1=$(ctr $R ${P}r1); g1=$(ctr $G ${P}g0); read b1 a1 <<< "$(cpu1)"
ct=$(ip netns exec $R conntrack -C 2>/dev/null || echo "?")
python3 -c "
dt=$t1-$t0
print('kernel_fwd_mpps=%.4f gen_mpps=%.4f cpu1_busy=%.2f conntrack_entries=%s' % (($f1-$f0)/dt/1e6, ($g1-$g0)/dt/1e6, ($b1-$b0)/max(1,($a1-$a0)), '$ct'))"
