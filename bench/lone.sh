#!/usr/bin/env bash
# What a lone run's uplink costs at start (docs/network.md "A lone run"): `confine run`
# of one component that exits at once, without network (the baseline), with a declared
# outside address (an uplink: veth, forwarding, host table), and with `-p` as well (the
# DNAT rules and the loopback proxy). Inside namespaces this script makes: a "host" one
# where confine runs (confine-lnb-PID-h, 198.51.100.1, its default route through the
# outside one, -o); nothing is sent. Needs root. RUNS rounds (default 20), variants
# interleaved; medians; ratios against the baseline. Prints a Markdown table.
#
# Then a lone server published with -p (bench/connrate: connection rate with 4 workers,
# one stream's throughput), ROUNDS rounds (default 3) of SECS seconds (default 3), ratios
# medians of per-round ones: by DNAT from the outside namespace, from the host's
# 127.0.0.1 by the connect-time rewrite and, to a second run with CONFINE_LOOPBACK_PROXY=1
# (-p 5302-5303), through the proxy, and (the baseline) directly to the component's
# address from the host namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
rounds=${ROUNDS:-3}
secs=${SECS:-3}
ns=confine-lnb-$$
h=$ns-h o=$ns-o
work=$(mktemp -d /tmp/confine-lnb-XXXX)
server= server2=
cleanup() {
	for p in $server $server2; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$h" 2>/dev/null || true
	ip netns del "$o" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work" # the component runs as uid 1000 and execs the probe from here
go build -o "$work/confine" ./cmd/confine
CGO_ENABLED=0 go build -o "$work/probe" ./tests/probe
CGO_ENABLED=0 go build -o "$work/connrate" ./bench/connrate
. bench/hostns.sh
hostns_up "$h" "$o" lone.sh
component() { # component NAME NETWORK
	printf 'version: 1\nname: %s\nrun:\n  command: ["%s", "exit:0"]\n  user: "1000"\n%sfilesystem: {read: [%s]}\nsyscalls: {extends: default}\n' \
		"$1" "$work/probe" "$2" "$work/probe" >"$work/$1.yaml"
}
component plain ""
component out $'network:\n  connect: [{to: "203.0.113.10:80/tcp"}]\n'
component pub $'network:\n  connect: [{to: "203.0.113.10:80/tcp"}]\n  listen: [{port: 8080/tcp, from: [host, 198.51.100.0/24]}]\n'
now() { date +%s%N; }
run1() { # run1 LABEL ARGS...
	local label=$1 t0
	shift
	t0=$(now)
	nsenter --net=/run/netns/"$h" "$work/confine" run "$@" >/dev/null
	echo "$label $((($(now) - t0) / 1000))" >>"$work/results"
}
run1 warm "$work/plain.yaml"
run1 warm -p 8080:8080 "$work/pub.yaml"
: >"$work/results"
for ((r = 1; r <= runs; r++)); do
	run1 plain "$work/plain.yaml"
	run1 out "$work/out.yaml"
	run1 pub -p 8080:8080 -p 8081:8080 "$work/pub.yaml"
done
median() {
	awk -v l="$1" '$1 == l { print $2 / 1000 }' "$work/results" | sort -g |
		awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
base=$(median plain)
row() { awk -v d="$1" -v t="$2" -v b="$base" 'BEGIN { printf "| %s | %.1f ms | %.2f× |\n", d, t, t / b }'; }
echo "rounds: $runs; medians; ratios against the run without network"
echo
echo "| \`confine run\` of a component that exits at once | median | ratio |"
echo "| --- | --- | --- |"
row "no network (baseline)" "$base"
row "a declared outside address: the uplink" "$(median out)"
row "and \`-p 8080:8080 -p 8081:8080\`" "$(median pub)"

# Published ports: conntrack's TIME_WAIT is one second on the path, as in egress.sh.
tw() { nsenter --net="$1" sh -c 'echo 1 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait' 2>/dev/null || true; }
tw /run/netns/"$h"
tw /run/netns/"$o"
printf 'version: 1\nname: server\nrun:\n  command: ["%s", "-serve", ":5202", "-sink", ":5203"]\n  user: "1000"\nnetwork:\n  listen: [{port: 5202-5203/tcp, from: [host, 198.51.100.0/24]}]\nfilesystem: {read: [%s]}\nsyscalls: {extends: default}\n' \
	"$work/connrate" "$work/connrate" >"$work/server.yaml"
nsenter --net=/run/netns/"$h" "$work/confine" run --grace 1s -p 5202:5202 -p 5203:5203 "$work/server.yaml" >"$work/server.out" 2>&1 &
server=$!
CONFINE_LOOPBACK_PROXY=1 nsenter --net=/run/netns/"$h" "$work/confine" run --grace 1s -p 5302:5202 -p 5303:5203 "$work/server.yaml" >"$work/server2.out" 2>&1 &
server2=$!
for ((i = 0; i < 100; i++)); do
	# the first run's uplink: the one whose table DNATs 5202
	peer=$(nsenter --net=/run/netns/"$h" nft list ruleset 2>/dev/null | awk '/dport 5202 dnat ip to/ { sub(/:.*/, "", $NF); print $NF; exit }')
	[ -n "$peer" ] && [ "$(ip -n "$h" -4 -o addr show | grep -c cfu)" = 2 ] && break
	sleep 0.1
done
[ -n "$peer" ] || { cat "$work/server.out" >&2; exit 1; }
for p in $(pgrep -P "$server") $(pgrep -P "$server2"); do tw /proc/"$p"/ns/net; done
sleep 0.3
measure() { # measure NETNS-PATH HOST [PORT]: "RATE GBITS", to PORT (5202) and PORT+1
	local rate g port=${3:-5202}
	rate=$(nsenter --net="$1" "$work/connrate" -dial "$2:$port" -d "${secs}s" -c 4 | awk '{ print $1 }')
	g=$(nsenter --net="$1" "$work/connrate" -send "$2:$((port + 1))" -d "${secs}s")
	echo "$rate $g"
}
: >"$work/pub"
for ((r = 1; r <= rounds; r++)); do
	read -r a b < <(measure /run/netns/"$h" "$peer")
	echo "$r direct $a $b" >>"$work/pub"
	read -r a b < <(measure /run/netns/"$o" 198.51.100.1)
	echo "$r dnat $a $b" >>"$work/pub"
	read -r a b < <(measure /run/netns/"$h" 127.0.0.1)
	echo "$r rewrite $a $b" >>"$work/pub"
	read -r a b < <(measure /run/netns/"$h" 127.0.0.1 5302)
	echo "$r proxy $a $b" >>"$work/pub"
done
med() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
value() { awk -v v="$1" -v c="$2" '$2 == v { print $c }' "$work/pub" | med; }
ratio() {
	awk -v v="$1" -v c="$2" '$2 == v { x[$1] = $c } $2 == "direct" { y[$1] = $c } END { for (r in x) print x[r] / y[r] }' "$work/pub" | med
}
prow() {
	awk -v l="$1" -v r="$(value "$2" 3)" -v rr="$(ratio "$2" 3)" -v g="$(value "$2" 4)" -v gr="$(ratio "$2" 4)" \
		'BEGIN { printf "| %s | %.0f | %.2f× | %.2f Gbit/s | %.2f× |\n", l, r, rr, g, gr }'
}
echo
echo "$rounds rounds of ${secs}s per measurement; medians; ratios are medians of per-round ratios"
echo
echo "| a lone run's published port | connections/s | ratio | throughput | ratio |"
echo "| --- | --- | --- | --- | --- |"
prow "direct to the component from the host namespace (baseline)" direct
prow "DNAT, from the outside namespace" dnat
prow "loopback, rewritten at connect(), from the host's 127.0.0.1" rewrite
prow "loopback proxy (CONFINE_LOOPBACK_PROXY=1), from the host's 127.0.0.1" proxy
