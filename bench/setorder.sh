#!/usr/bin/env bash
# Why 10,000 declared outside CIDRs cost a new connection CPU (docs/BENCHMARKS.md,
# issue 13): the flow sets are nftables interval sets of concatenated keys, which the
# kernel stores as pipapo. A pipapo lookup ANDs one bitmap per key group (O(n/64) words)
# and then, field by field, maps the rules the field matched onto the next field's
# ("refill"): a cost in the number of rules the first field matches. Every egress
# element has the component's own source (0.0.0.0/0 in its table, its address in the
# stack's), so with the key `ip saddr . ip daddr . ...` the first field matches all of
# them. This script measures one client's connection rate and CPU per connection
# (connrate -cpu: the output chain's lookup runs in its context) through an output chain
# like a component's, with 10 and 10,000 elements, keyed source first (as confine did)
# and destination first. Two namespaces it makes (10.77.0.1 and .2 on a veth pair);
# nothing leaves them. ROUNDS (default 3) of SECS (default 3) seconds. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
secs=${SECS:-3}
ns=confine-sob-$$
c=$ns-c s=$ns-s
work=$(mktemp -d /tmp/confine-sob-XXXX)
srv=
cleanup() {
	[ -z "$srv" ] || kill "$srv" 2>/dev/null || true
	wait 2>/dev/null || true
	ip netns del "$c" 2>/dev/null || true
	ip netns del "$s" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CGO_ENABLED=0 go build -o "$work/connrate" ./bench/connrate
ip netns add "$c"
ip netns add "$s"
ip -n "$c" link add eth0 type veth peer name eth0 netns "$s"
ip -n "$c" addr add 10.77.0.1/24 dev eth0
ip -n "$s" addr add 10.77.0.2/24 dev eth0
for n in "$c" "$s"; do
	ip -n "$n" link set lo up
	ip -n "$n" link set eth0 up
done
if ip -n "$c" -4 route show | grep -vqE '^10\.77\.0\.0/24 dev eth0'; then
	echo "setorder.sh: unexpected route in the client namespace" >&2
	exit 1
fi
# conntrack's TIME_WAIT: one second, as in bench/flows.sh
for n in "$c" "$s"; do ip netns exec "$n" sh -c 'echo 1 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait' 2>/dev/null || true; done
ip netns exec "$s" "$work/connrate" -serve 10.77.0.2:5202 &
srv=$!
sleep 0.3
gen() { # gen N ORDER: ORDER sd (source first) or ds; filler elements in 198.18.0.0/15
	awk -v n="$1" -v o="$2" 'function el(d) { return o == "sd" ? "0.0.0.0/0 . " d : d " . 0.0.0.0/0" }
	BEGIN {
		print "table inet sob\ndelete table inet sob\ntable inet sob {\n\tset f {\n\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n\t\tflags interval\n\t\telements = {"
		for (i = 1; i < n; i++) printf "\t\t\t%s . tcp . 443,\n", el("198.18." int(i / 250) "." (1 + i % 250) "/32")
		printf "\t\t\t%s . tcp . 5202\n\t\t}\n\t}\n", el("10.77.0.2")
		k = o == "sd" ? "ip saddr . ip daddr" : "ip daddr . ip saddr"
		print "\tchain out {\n\t\ttype filter hook output priority filter; policy drop;\n\t\toif \"lo\" accept\n\t\tct state established,related accept"
		print "\t\t" k " . meta l4proto . th dport @f accept\n\t}\n}"
	}'
}
variants="10:sd 10000:sd 10:ds 10000:ds"
for v in $variants; do gen "${v%:*}" "${v#*:}" >"$work/$v.nft"; done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/res"
for ((r = 1; r <= rounds; r++)); do
	for v in $variants; do
		ip netns exec "$c" nft -f "$work/$v.nft"
		ip netns exec "$c" "$work/connrate" -cpu -dial 10.77.0.2:5202 -d "${secs}s" -c 4 |
			awk -v r="$r" -v v="$v" -v t="$secs" '$1 == "cpu" { c = $3 } $1 != "cpu" { n = $1 } END { printf "%s %s %s %.1f\n", r, v, n, c / (n * t) }' >>"$work/res"
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
echo
echo "| output chain's set | connections/s | client CPU µs/conn | per round |"
echo "| --- | --- | --- | --- |"
for v in $variants; do
	awk -v d="$(case $v in *sd) echo "source first" ;; *) echo "destination first" ;; esac), ${v%:*} elements" \
		-v r="$(awk -v v="$v" '$2 == v { print $3 }' "$work/res" | median)" -v c="$(awk -v v="$v" '$2 == v { print $4 }' "$work/res" | median)" \
		-v rs="$(awk -v v="$v" '$2 == v { printf "%s ", $4 }' "$work/res")" 'BEGIN { printf "| %s | %.0f | %.1f | %s|\n", d, r, c, rs }'
done
