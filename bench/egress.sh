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
#   outside, through the loopback proxy from the host, and directly to the component's
#   address from the stack's bridge namespace (the baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
secs=${SECS:-3}
ns=confine-egb-$$
sn=egb$$ # the stacks' names: /run/confine/stacks is the whole host's
h=$ns-h o=$ns-o
work=$(mktemp -d /tmp/confine-egb-XXXX)
pids=()
cleanup() {
	for s in "$sn-10" "$sn-10000" "$sn-pub"; do nsenter --net=/run/netns/"$h" "$work/confine" down --grace 1s "$s" >/dev/null 2>&1 || true; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$h" 2>/dev/null || true
	rm -f /var/lib/confine/ids/"$sn"-*.* # the stacks' id records, which down keeps
	ip netns del "$o" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"
CGO_ENABLED=0 go build -o "$work/connrate" ./bench/connrate
go build -o "$work/confine" ./cmd/confine

ip netns add "$h"
ip netns add "$o"
ip -n "$h" link add eth0 type veth peer name eth0 netns "$o"
for side in "$h":198.51.100.1 "$o":198.51.100.2; do
	n=${side%%:*} a=${side#*:}
	ip -n "$n" link set lo up
	ip -n "$n" addr add "$a/24" dev eth0
	ip -n "$n" link set eth0 up
done
ip -n "$o" addr add 203.0.113.10/32 dev lo
ip -n "$h" route add default via 198.51.100.2
# No route but the test's own: nothing leaves these namespaces.
if ip -n "$h" -4 route show | grep -vqE '^(default via 198\.51\.100\.2 dev eth0|198\.51\.100\.0/24 dev eth0)'; then
	echo "egress.sh: unexpected route in the host namespace" >&2
	exit 1
fi
# Conntrack keeps a closed connection 120 s and the clients reuse their ports within
# seconds: as bench/flows.sh does, one second, in every namespace on the path (the
# stack's are tuned as soon as it is up, before its client starts dialing).
tw() { nsenter --net="$1" sh -c 'echo 1 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait' 2>/dev/null || true; }
tw /run/netns/"$h"
tw /run/netns/"$o"
nsenter --net=/run/netns/"$o" "$work/connrate" -serve 203.0.113.10:5202 -sink 203.0.113.10:5203 &
pids+=($!)
sleep 0.3

confine() { nsenter --net=/run/netns/"$h" "$work/confine" "$@"; }
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
	component "$d/client.yaml" client "$(cat "$d/net")" -after 2s -dial 203.0.113.10:5202 -send 203.0.113.10:5203 -d "${secs}s" -c 4
	printf 'version: 1\nname: %s-%s\nsubnet: 10.96.0.0/24\ncomponents: [client.yaml]\n' "$sn" "$n" >"$d/stack.yaml"
done
tune() { # tune STACK: its bridge namespace and its components'
	tw /run/confine/netns/"$1"
	for p in $(confine ps --json "$1" | jq '.[].pid // empty'); do tw /proc/"$p"/ns/net; done
}
egress() { # egress N: "RATE GBITS" of a confine client with N declared CIDRs
	local s=$sn-$1 deadline
	confine up -d "$work/egb-$1/stack.yaml" >/dev/null
	tune "$s"
	deadline=$((SECONDS + 2 * secs + 60))
	until confine ps --json "$s" | jq -e '.[] | select(.name == "client" and .state == "exited")' >/dev/null; do
		if ((SECONDS > deadline)); then echo "egress.sh: the client of $s did not finish" >&2 && exit 1; fi
		sleep 0.2
	done
	local out
	out=$(confine logs "$s" client | grep -E '^[0-9.]+( [0-9]+)?$' | tail -2 | tr '\n' ' ')
	case $out in "" | 0.0*) confine logs "$s" client >&2 ;; esac
	confine down --grace 1s "$s" >/dev/null
	echo "$out" | awk '{ print $1, $3 }'
}

d=$work/egb-pub
mkdir -p "$d"
component "$d/server.yaml" server "  listen:
    - port: 5202-5203/tcp
      from: [host, 198.51.100.0/24]" -serve :5202 -sink :5203
printf 'version: 1\nname: %s\nsubnet: 10.97.0.0/24\ncomponents: [server.yaml]\npublish: ["0.0.0.0:5202 -> server:5202/tcp", "0.0.0.0:5203 -> server:5203/tcp"]\n' "$sn-pub" >"$d/stack.yaml"
confine up -d "$d/stack.yaml" >/dev/null
tune "$sn-pub"
measure() { # measure NETNS-PATH HOST: "RATE GBITS"
	local rate g
	rate=$(nsenter --net="$1" "$work/connrate" -dial "$2:5202" -d "${secs}s" -c 4 | awk '{ print $1 }')
	g=$(nsenter --net="$1" "$work/connrate" -send "$2:5203" -d "${secs}s")
	echo "$rate $g"
}

: >"$work/results"
for ((r = 1; r <= rounds; r++)); do
	read -r a b < <(measure /run/netns/"$h" 203.0.113.10)
	echo "$r base $a $b" >>"$work/results"
	for n in 10 10000; do
		read -r a b < <(egress "$n")
		echo "$r egress-$n $a $b" >>"$work/results"
	done
	read -r a b < <(measure /run/confine/netns/"$sn-pub" 10.97.0.2)
	echo "$r direct $a $b" >>"$work/results"
	read -r a b < <(measure /run/netns/"$o" 198.51.100.1)
	echo "$r dnat $a $b" >>"$work/results"
	read -r a b < <(measure /run/netns/"$h" 127.0.0.1)
	echo "$r proxy $a $b" >>"$work/results"
done

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
value() { awk -v v="$1" -v c="$2" '$2 == v { print $c }' "$work/results" | median; }
ratio() { # ratio VARIANT BASE COLUMN
	awk -v v="$1" -v b="$2" -v c="$3" '$2 == v { x[$1] = $c } $2 == b { y[$1] = $c } END { for (r in x) print x[r] / y[r] }' "$work/results" | median
}
row() { # row LABEL VARIANT BASE
	awk -v l="$1" -v r="$(value "$2" 3)" -v rr="$(ratio "$2" "$3" 3)" -v g="$(value "$2" 4)" -v gr="$(ratio "$2" "$3" 4)" \
		'BEGIN { printf "| %s | %.0f | %.2f× | %.2f Gbit/s | %.2f× |\n", l, r, rr, g, gr }'
}
echo "$rounds rounds of ${secs}s per measurement; medians; ratios are medians of per-round ratios"
echo
echo "| egress to 203.0.113.10 | connections/s | ratio | throughput | ratio |"
echo "| --- | --- | --- | --- | --- |"
row "the host namespace itself, no confine (baseline)" base base
row "a component, 10 declared outside CIDRs" egress-10 base
row "a component, 10,000 declared outside CIDRs" egress-10000 base
printf '\n10,000 CIDRs / 10 CIDRs: connections %.2f×, throughput %.2f×\n\n' "$(ratio egress-10000 egress-10 3)" "$(ratio egress-10000 egress-10 4)"
echo "| published port | connections/s | ratio | throughput | ratio |"
echo "| --- | --- | --- | --- | --- |"
row "direct to the component from the bridge namespace (baseline)" direct direct
row "DNAT, from the outside namespace" dnat direct
row "loopback proxy, from the host's 127.0.0.1" proxy direct
[ -z "${KEEP:-}" ] || echo "raw results: $work/results"
