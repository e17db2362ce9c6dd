#!/usr/bin/env bash
# What a lone run's uplink costs at start (docs/network.md "A lone run"): `confine run`
# of one component that exits at once, without network (the baseline), with a declared
# outside address (an uplink: veth, forwarding, host table), and with `-p` as well (the
# DNAT rules and the loopback proxy). Inside namespaces this script makes: a "host" one
# where confine runs (confine-lnb-PID-h, 198.51.100.1, its default route through the
# outside one, -o); nothing is sent. Needs root. RUNS rounds (default 20), variants
# interleaved; medians; ratios against the baseline. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
ns=confine-lnb-$$
h=$ns-h o=$ns-o
work=$(mktemp -d /tmp/confine-lnb-XXXX)
cleanup() {
	ip netns del "$h" 2>/dev/null || true
	ip netns del "$o" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work" # the component runs as uid 1000 and execs the probe from here
go build -o "$work/confine" ./cmd/confine
CGO_ENABLED=0 go build -o "$work/probe" ./tests/probe
ip netns add "$h"
ip netns add "$o"
ip -n "$h" link add eth0 type veth peer name eth0 netns "$o"
for side in "$h":198.51.100.1 "$o":198.51.100.2; do
	n=${side%%:*} a=${side#*:}
	ip -n "$n" link set lo up
	ip -n "$n" addr add "$a/24" dev eth0
	ip -n "$n" link set eth0 up
done
ip -n "$h" route add default via 198.51.100.2
if ip -n "$h" -4 route show | grep -vqE '^(default via 198\.51\.100\.2 dev eth0|198\.51\.100\.0/24 dev eth0)'; then
	echo "lone.sh: unexpected route in the host namespace" >&2
	exit 1
fi
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
