#!/usr/bin/env bash
# Egress and published ports through the uplink (docs/network.md), inside namespaces this
# script makes: a "host" namespace where confine runs (confine-egb-PID-h, 198.51.100.1)
# and an "outside" one behind it (-o, 198.51.100.2, the server at 203.0.113.10). Traffic
# stays in them. Needs root. ROUNDS rounds (default 3) of SECS seconds (default 3) per
# measurement, variants interleaved; medians; ratios are medians of per-round ratios.
#
# - egress: a component runs bench/connrate against the outside server (connection rate,
#   then one stream's throughput) with 10 and with 10,000 declared outside CIDRs; the
#   baseline is the same client in the host namespace, without confine.
# - published ports: the component serves; clients connect through DNAT from the
#   outside, from the host's loopback through the connect-time rewrite and, to a second
#   stack up with CONFINE_LOOPBACK_PROXY=1, through the proxy, and directly to the
#   component's address from the stack's bridge namespace (the baseline).
# - the DNAT rule's own cost: confine's host table forwards into the uplink only replies
#   and DNAT'd connections (by design: only published ports enter), so no routed path
#   from outside reaches a component. A mirror of the same hops, without confine, in
#   namespaces this script makes (-mh host, -mb bridge with a bridge device, -mc
#   component; the client in -o): the same nft hooks (nat prerouting and postrouting,
#   a forward chain of policy drop) in -mh and -mb, the client either dialing the
#   component's address, routed, or the mirror host's address, DNAT'd twice as confine
#   does (host to the bridge namespace's uplink address, that to the component). And
#   a lone run's shape (-ml, by a veth of its own from -mh): DNAT'd once from -o, or
#   direct from -mh, one hop. EGRESS=0 skips the egress variants.
#
# Besides the rates, CPU time per connection and per MB: the client's (connrate -cpu,
# its rusage per phase) and the server's (utime+stime of its process tree, by
# /proc/PID/stat; for published ports the supervisor's, which holds the loopback proxy). A veth hands a packet to the peer's backlog and the softirq that
# forwards it through the next namespaces runs when the sender re-enables bottom halves,
# charged to the sender, so client + server holds the path's netfilter, NAT and veth
# work in both directions (unless ksoftirqd took it: under heavy load some). The CPU
# ratio is the baseline's CPU over the variant's, as a throughput would be at equal CPU.
# The load average is printed before and after. PIN=1 pins every client to CPU 0 and every
# server (the outside servers, the mirrors' and the stacks: supervisor and component) to
# CPU 1, so that no variant's ratio depends on where the scheduler put the two ends.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
secs=${SECS:-3}
ns=confine-egb-$$
sn=egb$$ # the stacks' names: /run/confine/stacks is the whole host's
h=$ns-h o=$ns-o mh=$ns-mh mb=$ns-mb mc=$ns-mc ml=$ns-ml
client_cpu=() server_cpu=()
if [ "${PIN:-0}" = 1 ]; then client_cpu=(taskset -c 0) server_cpu=(taskset -c 1); fi
egress_on=${EGRESS:-1}
work=$(mktemp -d /tmp/confine-egb-XXXX)
pids=()
cleanup() {
	for s in "$sn-10" "$sn-10000" "$sn-pub" "$sn-pubp"; do nsenter --net=/run/netns/"$h" "$work/confine" down --grace 1s "$s" >/dev/null 2>&1 || true; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$h" 2>/dev/null || true
	rm -f /var/lib/confine/ids/"$sn"-*.* # the stacks' id records, which down keeps
	ip netns del "$o" 2>/dev/null || true
	for n in "$mh" "$mb" "$mc" "$ml"; do ip netns del "$n" 2>/dev/null || true; done
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"
CGO_ENABLED=0 go build -o "$work/connrate" ./bench/connrate
go build -o "$work/confine" ./cmd/confine

. bench/hostns.sh
hostns_up "$h" "$o" egress.sh
ip -n "$o" addr add 203.0.113.10/32 dev lo
# The mirror: -o (192.0.2.2) -- -mh (192.0.2.1; 10.98.1.1) -- -mb (uplink 10.98.1.2;
# bridge br0 10.98.0.1) -- -mc (10.98.0.2); routed clients from 192.0.2.3. Forwarding only in the mirror's namespaces.
# The lone shape: -mh (192.0.2.4; 10.98.2.1) -- -ml (10.98.2.2).
ip netns add "$ml"
ip netns add "$mh"
ip netns add "$mb"
ip netns add "$mc"
ip -n "$o" link add m0 type veth peer name eth0 netns "$mh"
ip -n "$mh" link add up0 type veth peer name up1 netns "$mb"
ip -n "$mb" link add br0 type bridge
ip -n "$mb" link add c0 type veth peer name eth0 netns "$mc"
ip -n "$mb" link set c0 master br0
ip -n "$mh" link add l0 type veth peer name eth0 netns "$ml"
for l in "$o":m0:192.0.2.2/24 "$mh":eth0:192.0.2.1/24 "$mh":up0:10.98.1.1/30 "$mb":up1:10.98.1.2/30 \
	"$mb":br0:10.98.0.1/24 "$mb":c0: "$mc":eth0:10.98.0.2/24 "$mh":l0:10.98.2.1/30 "$ml":eth0:10.98.2.2/30; do
	IFS=: read -r n dev a <<<"$l"
	ip -n "$n" link set lo up
	[ -z "$a" ] || ip -n "$n" addr add "$a" dev "$dev"
	ip -n "$n" link set "$dev" up
done
# Routed connections leave from a second address: the DNAT'd ones, DNAT'd to the same
# 10.98.0.2:PORT, must not meet the routed ones' conntrack entries (same tuple).
ip -n "$o" addr add 192.0.2.3/24 dev m0
ip -n "$o" route add 10.98.0.0/24 via 192.0.2.1 src 192.0.2.3
ip -n "$mh" route add 10.98.0.0/24 via 10.98.1.2
ip -n "$mb" route add default via 10.98.1.1
ip -n "$mc" route add default via 10.98.0.1
ip -n "$mh" addr add 192.0.2.4/24 dev eth0
ip -n "$ml" route add default via 10.98.2.1
for n in "$mh" "$mb"; do ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1; done
routes() { ip -n "$1" -4 route show | sed 's/ proto kernel//; s/ scope link//; s/ src [0-9.]*//; s/ *$//' | sort | tr '\n' ';'; }
want() { [ "$(routes "$1")" = "$2" ] || { echo "egress.sh: unexpected routes in $1: $(routes "$1")" >&2; exit 1; }; }
want "$o" "10.98.0.0/24 via 192.0.2.1 dev m0;192.0.2.0/24 dev m0;198.51.100.0/24 dev eth0;"
want "$mh" "10.98.0.0/24 via 10.98.1.2 dev up0;10.98.1.0/30 dev up0;10.98.2.0/30 dev l0;192.0.2.0/24 dev eth0;"
want "$mb" "10.98.0.0/24 dev br0;10.98.1.0/30 dev up1;default via 10.98.1.1 dev up1;"
want "$mc" "10.98.0.0/24 dev eth0;default via 10.98.0.1 dev eth0;"
want "$ml" "10.98.2.0/30 dev eth0;default via 10.98.2.1 dev eth0;"
# The same hooks in both variants; only the DNAT rules differ in what they match.
mirror_nft() { # mirror_nft NETNS DNAT-MATCH DNAT-TO
	nsenter --net=/run/netns/"$1" nft -f - <<-EOT
		table inet egbm {
			chain prerouting { type nat hook prerouting priority dstnat; $2 tcp dport 5202-5203 dnat ip to $3; }
			chain forward { type filter hook forward priority filter; policy drop;
				ct state established,related accept
				ct status dnat accept
				ip saddr 192.0.2.0/24 ip daddr 10.98.0.2 tcp dport 5202-5203 accept; }
			chain postrouting { type nat hook postrouting priority srcnat; }
		}
	EOT
}
mirror_nft "$mh" "iifname \"eth0\" ip daddr 192.0.2.1" 10.98.1.2
mirror_nft "$mb" "iifname \"up1\" ip daddr 10.98.1.2" 10.98.0.2
nsenter --net=/run/netns/"$mh" nft add rule inet egbm prerouting iifname eth0 ip daddr 192.0.2.4 tcp dport 5202-5203 dnat ip to 10.98.2.2
# Conntrack keeps a closed connection 120 s and the clients reuse their ports within
# seconds: as bench/flows.sh does, one second, in every namespace on the path (the
# stack's are tuned as soon as it is up, before its client starts dialing).
tw() { nsenter --net="$1" sh -c 'echo 1 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait' 2>/dev/null || true; }
tw /run/netns/"$h"
tw /run/netns/"$o"
for n in "$mh" "$mb" "$mc" "$ml"; do tw /run/netns/"$n"; done
# Two outside servers, so that each phase's server CPU is one process's.
"${server_cpu[@]}" nsenter --net=/run/netns/"$o" "$work/connrate" -serve 203.0.113.10:5202 &
pids+=($!)
oserve=$!
"${server_cpu[@]}" nsenter --net=/run/netns/"$o" "$work/connrate" -sink 203.0.113.10:5203 &
pids+=($!)
osink=$!
"${server_cpu[@]}" nsenter --net=/run/netns/"$mc" "$work/connrate" -serve 10.98.0.2:5202 &
pids+=($!)
mserve=$!
"${server_cpu[@]}" nsenter --net=/run/netns/"$mc" "$work/connrate" -sink 10.98.0.2:5203 &
pids+=($!)
msink=$!
"${server_cpu[@]}" nsenter --net=/run/netns/"$ml" "$work/connrate" -serve 10.98.2.2:5202 &
pids+=($!)
lserve=$!
"${server_cpu[@]}" nsenter --net=/run/netns/"$ml" "$work/connrate" -sink 10.98.2.2:5203 &
pids+=($!)
lsink=$!
sleep 0.3
tck=$(getconf CLK_TCK)
pcpu() { # pcpu PID: utime+stime in µs of PID and its descendants
	local s=0 p
	for p in $1 $(pgrep -P "$1" || true); do
		if [ "$p" != "$1" ]; then
			s=$((s + $(pcpu "$p")))
			continue
		fi
		s=$((s + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk -v t="$tck" '{ printf "%d", ($12 + $13) * 1e6 / t }' || echo 0)))
	done
	echo "$s"
}
# cost RATE GBITS CLIENT-DIAL-µs SERVER-DIAL-µs CLIENT-SEND-µs SERVER-SEND-µs: "RATE GBITS
# µs/connection µs/MB", both sides' CPU together
cost() {
	awk -v r="$1" -v g="$2" -v cd="$3" -v sd="$4" -v cs="$5" -v ss="$6" -v t="$secs" \
		'BEGIN { printf "%s %s %.2f %.2f\n", r, g, (cd + sd) / (r * t), (cs + ss) / (g * t * 1e9 / 8 / 1e6) }'
}

confine() { nsenter --net=/run/netns/"$h" "$work/confine" "$@"; }
# The published stacks run pinned with the servers (PIN=1).
confine_server() { "${server_cpu[@]}" nsenter --net=/run/netns/"$h" "$work/confine" "$@"; }
component() { # component FILE NAME NETWORK ARGS...
	local file=$1 name=$2 net=$3 args="\"$work/connrate\""
	shift 3
	for a in "$@"; do args+=", \"$a\""; done
	printf 'version: 1\nname: %s\nrun:\n  command: [%s]\n  user: "1000"\nnetwork:\n%s\nfilesystem: {read: [%s]}\nsyscalls: {extends: default}\n' \
		"$name" "$args" "$net" "$work/connrate" >"$file"
}
for n in 10 10000; do
	d=$work/egb-$n
	mkdir -p "$d"
	{
		echo "  connect:"
		echo "    - to: 203.0.113.10:5202-5203/tcp"
		# Filler CIDRs in the benchmark range (RFC 2544); no packet goes there.
		awk -v n="$n" 'BEGIN { for (i = 1; i < n; i++) printf "    - to: 198.18.%d.%d/32:443/tcp\n", int(i / 250), 1 + i % 250 }'
	} >"$d/net"
	component "$d/client.yaml" client "$(cat "$d/net")" -cpu -after 2s -dial 203.0.113.10:5202 -send 203.0.113.10:5203 -d "${secs}s" -c 4
	printf 'version: 1\nname: %s-%s\nsubnet: 10.96.0.0/24\ncomponents: [client.yaml]\n' "$sn" "$n" >"$d/stack.yaml"
done
tune() { # tune STACK: its bridge namespace and its components'
	tw /run/confine/netns/"$1"
	for p in $(confine ps --json "$1" | jq '.[].pid // empty'); do tw /proc/"$p"/ns/net; done
}
egress() { # egress N: "RATE GBITS µs/conn µs/MB" of a confine client with N declared CIDRs
	local s=$sn-$1 deadline s0 k0 s1 k1
	s0=$(pcpu "$oserve") k0=$(pcpu "$osink")
	confine up -d "$work/egb-$1/stack.yaml" >/dev/null
	tune "$s"
	deadline=$((SECONDS + 2 * secs + 60))
	until confine ps --json "$s" | jq -e '.[] | select(.name == "client" and .state == "exited")' >/dev/null; do
		if ((SECONDS > deadline)); then echo "egress.sh: the client of $s did not finish" >&2 && exit 1; fi
		sleep 0.2
	done
	local out cd cs
	s1=$(pcpu "$oserve") k1=$(pcpu "$osink")
	confine logs "$s" client >"$work/client.log"
	out=$(grep -E '^[0-9.]+( [0-9]+)?$' "$work/client.log" | tail -2 | tr '\n' ' ')
	# `confine logs` holds every earlier run of this stack name too: the last lines are this round's.
	cd=$(awk '$1 == "cpu" && $2 == "dial" { v = $3 } END { print v }' "$work/client.log")
	cs=$(awk '$1 == "cpu" && $2 == "send" { v = $3 } END { print v }' "$work/client.log")
	case $out in "" | 0.0*) cat "$work/client.log" >&2 ;; esac
	confine down --grace 1s "$s" >/dev/null
	read -r a _ b <<<"$out"
	cost "$a" "$b" "$cd" $((s1 - s0)) "$cs" $((k1 - k0))
}

d=$work/egb-pub
mkdir -p "$d"
component "$d/server.yaml" server "  listen:
    - port: 5202-5203/tcp
      from: [host, 198.51.100.0/24]" -serve :5202 -sink :5203
printf 'version: 1\nname: %s\nsubnet: 10.97.0.0/24\ncomponents: [server.yaml]\npublish: ["0.0.0.0:5202 -> server:5202/tcp", "0.0.0.0:5203 -> server:5203/tcp"]\n' "$sn-pub" >"$d/stack.yaml"
# The same server in a second stack whose host loopback goes through the proxy
# (CONFINE_LOOPBACK_PROXY=1), published on 5302-5303: the rewrite and the proxy, same round.
mkdir -p "$d/proxy"
cp "$d/server.yaml" "$d/proxy/"
printf 'version: 1\nname: %s\nsubnet: 10.97.0.0/24\ncomponents: [server.yaml]\npublish: ["0.0.0.0:5302 -> server:5202/tcp", "0.0.0.0:5303 -> server:5203/tcp"]\n' "$sn-pubp" >"$d/proxy/stack.yaml"
# The server's CPU is the supervisor's tree: the component (its descendant) and the
# loopback proxy, which runs in the supervisor.
spid=$(confine_server up -d "$d/stack.yaml" | sed -n 's/.*supervisor pid \([0-9]*\).*/\1/p')
tune "$sn-pub"
cpid=$(confine ps --json "$sn-pub" | jq '.[0].pid')
p=$cpid
while [ "$p" -gt 1 ] && [ "$p" != "$spid" ]; do p=$(awk '{ print $4 }' /proc/"$p"/stat); done
[ "$p" = "$spid" ] || { echo "egress.sh: the component $cpid is not the supervisor $spid's descendant" >&2; exit 1; }
ppid=$(CONFINE_LOOPBACK_PROXY=1 confine_server up -d "$d/proxy/stack.yaml" | sed -n 's/.*supervisor pid \([0-9]*\).*/\1/p')
tune "$sn-pubp"
measure() { # measure NETNS-PATH HOST SERVE-PID SINK-PID [PORT]: "RATE GBITS µs/conn µs/MB"; PORT (5202) and PORT+1
	local rate g a b c d e port=${5:-5202}
	a=$(pcpu "$3")
	read -r rate _ c < <("${client_cpu[@]}" nsenter --net="$1" "$work/connrate" -cpu -dial "$2:$port" -d "${secs}s" -c 4 | awk '$1 == "cpu" { c = $3 } $1 != "cpu" { r = $1 } END { print r, 0, c }')
	b=$(pcpu "$3")
	d=$(pcpu "$4")
	read -r g _ e < <("${client_cpu[@]}" nsenter --net="$1" "$work/connrate" -cpu -send "$2:$((port + 1))" -d "${secs}s" | awk '$1 == "cpu" { c = $3 } $1 != "cpu" { r = $1 } END { print r, 0, c }')
	cost "$rate" "$g" "$c" $((b - a)) "$e" $(($(pcpu "$4") - d))
}

: >"$work/results"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
	echo "$r base $(measure /run/netns/"$h" 203.0.113.10 "$oserve" "$osink")" >>"$work/results"
	for n in 10 10000; do
		[ "$egress_on" = 0 ] || echo "$r egress-$n $(egress "$n")" >>"$work/results"
	done
	echo "$r direct $(measure /run/confine/netns/"$sn-pub" 10.97.0.2 "$spid" "$spid")" >>"$work/results"
	echo "$r dnat $(measure /run/netns/"$o" 198.51.100.1 "$spid" "$spid")" >>"$work/results"
	echo "$r rewrite $(measure /run/netns/"$h" 127.0.0.1 "$spid" "$spid")" >>"$work/results"
	echo "$r proxy $(measure /run/netns/"$h" 127.0.0.1 "$ppid" "$ppid" 5302)" >>"$work/results"
	echo "$r m-routed $(measure /run/netns/"$o" 10.98.0.2 "$mserve" "$msink")" >>"$work/results"
	echo "$r m-dnat $(measure /run/netns/"$o" 192.0.2.1 "$mserve" "$msink")" >>"$work/results"
	echo "$r m-bridge $(measure /run/netns/"$mb" 10.98.0.2 "$mserve" "$msink")" >>"$work/results"
	echo "$r m-lone-dnat $(measure /run/netns/"$o" 192.0.2.4 "$lserve" "$lsink")" >>"$work/results"
	echo "$r m-lone-direct $(measure /run/netns/"$mh" 10.98.2.2 "$lserve" "$lsink")" >>"$work/results"
	tail -$((egress_on == 0 ? 10 : 12)) "$work/results" >&2
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
value() { awk -v v="$1" -v c="$2" '$2 == v { print $c }' "$work/results" | median; }
ratio() { # ratio VARIANT BASE COLUMN
	awk -v v="$1" -v b="$2" -v c="$3" '$2 == v { x[$1] = $c } $2 == b { y[$1] = $c } END { for (r in x) print x[r] / y[r] }' "$work/results" | median
}
# per-round ratios of VARIANT's COLUMN against BASE's, in round order
rounds() { awk -v v="$1" -v b="$2" -v c="$3" '$2 == b { y = $c } $2 == v && y > 0 { printf "%.2f ", $c / y }' "$work/results"; }
row() { # row LABEL VARIANT BASE: the CPU ratios are BASE over VARIANT
	awk -v l="$1" -v r="$(value "$2" 3)" -v rr="$(ratio "$2" "$3" 3)" -v g="$(value "$2" 4)" -v gr="$(ratio "$2" "$3" 4)" \
		-v cc="$(value "$2" 5)" -v ccr="$(ratio "$3" "$2" 5)" -v cb="$(value "$2" 6)" -v cbr="$(ratio "$3" "$2" 6)" \
		'BEGIN { printf "| %s | %.0f | %.2f× | %.1f | %.2f× | %.2f Gbit/s | %.2f× | %.0f | %.2f× |\n", l, r, rr, cc, ccr, g, gr, cb, cbr }'
}
echo "$rounds rounds of ${secs}s per measurement; medians; ratios are medians of per-round ratios"
echo
hdr='| connections/s | ratio | CPU µs/conn | CPU ratio | throughput | ratio | CPU µs/MB | CPU ratio |'
sep='| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
if [ "$egress_on" != 0 ]; then
	echo "| egress to 203.0.113.10 $hdr"
	echo "$sep"
	row "the host namespace itself, no confine (baseline)" base base
	row "a component, 10 declared outside CIDRs" egress-10 base
	row "a component, 10,000 declared outside CIDRs" egress-10000 base
	echo
	echo "| 10,000 CIDRs against 10, same round | connections/s | CPU per connection | throughput | CPU per MB |"
	echo "| --- | --- | --- | --- | --- |"
	printf '| medians of per-round ratios | %.2f× | %.2f× | %.2f× | %.2f× |\n' "$(ratio egress-10000 egress-10 3)" "$(ratio egress-10 egress-10000 5)" \
		"$(ratio egress-10000 egress-10 4)" "$(ratio egress-10 egress-10000 6)"
	printf '| per-round | %s| %s| %s| %s|\n' "$(rounds egress-10000 egress-10 3)" "$(awk '$2 == "egress-10" { y = $5 } $2 == "egress-10000" { printf "%.2f ", y / $5 }' "$work/results")" \
		"$(rounds egress-10000 egress-10 4)" "$(awk '$2 == "egress-10" { y = $6 } $2 == "egress-10000" { printf "%.2f ", y / $6 }' "$work/results")"
	echo
fi
echo "| published port $hdr"
echo "$sep"
row "direct to the component from the bridge namespace (baseline)" direct direct
row "DNAT, from the outside namespace" dnat direct
row "loopback, rewritten at connect(), from the host's 127.0.0.1" rewrite direct
row "loopback proxy (CONFINE_LOOPBACK_PROXY=1), from the host's 127.0.0.1" proxy direct
echo
echo "| mirror of the DNAT'd hops, no confine $hdr"
echo "$sep"
row "routed from the outside namespace to the component's address (baseline)" m-routed m-routed
row "DNAT'd twice, from the outside namespace" m-dnat m-routed
row "from the mirror's bridge namespace (one hop)" m-bridge m-routed
row "the lone shape: DNAT'd once, from the outside namespace" m-lone-dnat m-routed
row "the lone shape: from the mirror host (one hop)" m-lone-direct m-routed
echo
echo "| same round | connections/s | CPU per connection | throughput | CPU per MB |"
echo "| --- | --- | --- | --- | --- |"
for v in "confine DNAT / mirror DNAT:dnat:m-dnat" "mirror DNAT / mirror routed:m-dnat:m-routed" "confine direct / mirror bridge:direct:m-bridge" \
	"confine DNAT / direct:dnat:direct" "mirror DNAT / mirror bridge:m-dnat:m-bridge" "mirror lone DNAT / lone direct:m-lone-dnat:m-lone-direct"; do
	IFS=: read -r l a b <<<"$v"
	printf '| %s | %.2f× | %.2f× | %.2f× | %.2f× |\n' "$l" "$(ratio "$a" "$b" 3)" "$(ratio "$b" "$a" 5)" "$(ratio "$a" "$b" 4)" "$(ratio "$b" "$a" 6)"
done
printf '| mirror DNAT / routed, per round, throughput; CPU per MB | %s; %s|\n' "$(rounds m-dnat m-routed 4)" \
	"$(awk '$2 == "m-routed" { y = $6 } $2 == "m-dnat" { printf "%.2f ", y / $6 }' "$work/results")"
printf '| confine DNAT / direct, per round, throughput; CPU per MB | %s; %s|\n' "$(rounds dnat direct 4)" \
	"$(awk '$2 == "direct" { y = $6 } $2 == "dnat" { printf "%.2f ", y / $6 }' "$work/results")"
for v in rewrite proxy; do
	printf '| loopback %s / direct, per round, throughput; CPU per MB | %s; %s|\n' "$v" "$(rounds "$v" direct 4)" \
		"$(awk -v v="$v" '$2 == "direct" { y = $6 } $2 == v { printf "%.2f ", y / $6 }' "$work/results")"
done
[ -z "${KEEP:-}" ] || echo "raw results: $work/results"

# PROFILE=1: where the CPU time goes. The baseline and each egress variant once more,
# under a system-wide profile (apt linux-perf; cpu-clock, 1000 samples a second per
# CPU: one sample is 1 ms), connection rate only. Of the samples of connrate (client
# and server) and ksoftirqd, per connection: all, and those whose call chain passes
# through netfilter's hooks (nf_hook_slow), nftables' chains (nft_do_chain), conntrack,
# NAT, nft set lookups, the input route lookup, IPv4 forwarding, Landlock, seccomp,
# veth, and the top symbols. Then one stream of each published variant and of the
# mirror's, per MB, counting the samples of the client's and the server's processes
# by pid (other helpers may run connrate too) and of ksoftirqd. PROFILE_FILE keeps
# the perf script output.
[ "${PROFILE:-0}" = 1 ] || exit 0
profile() { # profile LABEL UNITS [PIDS]: µs of samples per unit; PIDS, when given, instead of connrate's
	perf script -i "$work/perf.data" -F comm,pid,ip,sym 2>/dev/null >"$work/perf.$1.txt"
	awk -v RS= -F '\n' -v v="$1" -v conns="$2" -v pids=" ${3:-} " '
		{ split($1, h, " "); if (h[1] !~ /^ksoftirqd/ && (pids == "  " ? h[1] != "connrate" : index(pids, " " h[2] " ") == 0)) next
		  n++; delete m
		  split($2, f, " "); top[f[2]]++
		  for (i = 2; i <= NF; i++) { split($i, f, " "); s = f[2]
		    if (s == "nf_hook_slow") m["nf"] = 1
		    if (s == "nft_do_chain") m["chain"] = 1
		    if (s ~ /conntrack|^nf_confirm$|^nf_ct_|^__nf_ct/) m["ct"] = 1
		    if (s ~ /^nf_nat|masquerade/) m["nat"] = 1
		    if (s ~ /^nft_set_|pipapo|^nft_rhash|^nft_hash|^nft_rbtree|^nft_lookup/) m["set"] = 1
		    if (s ~ /^ip_route_input|^fib_table_lookup$/) m["route"] = 1
		    if (s == "ip_forward") m["fwd"] = 1
		    if (s ~ /^hook_|^landlock_/) m["ll"] = 1
		    if (s ~ /seccomp/) m["sc"] = 1
		    if (s ~ /^veth_/) m["veth"] = 1 }
		  for (k in m) c[k]++ }
		END { u = 1000 / conns
		  printf "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", v, n*u, c["nf"]*u, c["chain"]*u, c["ct"]*u, c["nat"]*u, c["set"]*u, c["route"]*u, c["fwd"]*u, c["ll"]*u, c["sc"]*u, c["veth"]*u
		  for (s in top) print top[s], s > "/dev/stderr" }' "$work/perf.$1.txt" 2> >(sort -rn | head -12 | awk -v v="$1" '{ printf "  %s top: %s %d\n", v, $2, $1 }' >&2)
	[ -z "${PROFILE_FILE:-}" ] || cat "$work/perf.$1.txt" >>"$PROFILE_FILE"
}
cols='| connrate+ksoftirqd | netfilter | chains | conntrack | NAT | set lookup | route | forward | Landlock | seccomp | veth |'
csep='| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'
perfon() { perf record -q -e cpu-clock -F 1000 -a -g -o "$work/perf.data" 2>/dev/null & perf=$!; sleep 0.5; }
perfoff() { kill -INT "$perf"; wait "$perf" 2>/dev/null || true; }
if [ "$egress_on" != 0 ]; then
	echo
	echo "| variant (perf, µs/conn) $cols"
	echo "$csep"
	perfon
	nsenter --net=/run/netns/"$h" "$work/connrate" -dial 203.0.113.10:5202 -d "${secs}s" -c 4 >"$work/prof.out" 2>/dev/null
	perfoff
	profile base "$(awk '{ printf "%d", $1 * '"$secs"'; exit }' "$work/prof.out")"
	for n in 10 10000; do
		# the same stack, its client dialing only
		sed -i 's/, "-send", "[^"]*"//' "$work/egb-$n/client.yaml"
		confine up -d "$work/egb-$n/stack.yaml" >/dev/null
		tune "$sn-$n"
		sleep 1
		perfon
		until confine ps --json "$sn-$n" | jq -e '.[] | select(.name == "client" and .state == "exited")' >/dev/null; do sleep 0.2; done
		perfoff
		[ -z "${KEEP:-}" ] || { nsenter --net=/run/confine/netns/"$sn-$n" nft list ruleset >"$work/rules.$n.bridge"; nsenter --net=/run/netns/"$h" nft list ruleset >"$work/rules.$n.host"; }
		confine logs "$sn-$n" client | grep -E '^[0-9.]+ [0-9]+$' >"$work/prof.out"
		confine down --grace 1s "$sn-$n" >/dev/null
		profile "egress-$n" "$(awk '{ printf "%d", $1 * '"$secs"'; exit }' "$work/prof.out")"
	done
fi
tree() { echo "$1" $(pgrep -P "$1" | while read -r c; do tree "$c"; done); } # tree PID: it and its descendants
# One stream each, per MB: confine's direct and DNAT'd ones (the server is the
# supervisor's tree: the component), the mirror's routed, DNAT'd and one-hop ones.
echo
echo "| published stream (perf, µs/MB) $cols"
echo "$csep"
for v in direct:/run/confine/netns/"$sn-pub":10.97.0.2:"$spid" dnat:/run/netns/"$o":198.51.100.1:"$spid" rewrite:/run/netns/"$h":127.0.0.1:"$spid" \
	m-routed:/run/netns/"$o":10.98.0.2:"$msink" m-dnat:/run/netns/"$o":192.0.2.1:"$msink" m-bridge:/run/netns/"$mb":10.98.0.2:"$msink" \
	m-lone-dnat:/run/netns/"$o":192.0.2.4:"$lsink" m-lone-direct:/run/netns/"$mh":10.98.2.2:"$lsink"; do
	IFS=: read -r label path addr server <<<"$v"
	perfon
	nsenter --net="$path" "$work/connrate" -send "$addr:5203" -d "${secs}s" >"$work/prof.out" 2>/dev/null &
	client=$!
	wait "$client"
	perfoff
	profile "$label" "$(awk '{ printf "%d", $1 * '"$secs"' * 1000 / 8; exit }' "$work/prof.out")" "$client $(tree "$server")"
done
