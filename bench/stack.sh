#!/usr/bin/env bash
# Time to bring a stack of 50 components up (`confine up -d`, which returns once every
# component runs) and down (`confine down --grace 1s`), against, in the same run,
# `confine run` of one component that exits at once and `up`/`down` of a stack of one.
# The 50 components are tests/probe serving tcp/9000 and sleeping; each connects to the
# next (a chain of 49 flows), so the start order is a chain too. RUNS rounds (default
# 5), interleaved; medians. Needs root. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
n=${COMPONENTS:-50}
work=$(mktemp -d /tmp/confine-bench-XXXX)
chmod 755 "$work" # the components run as uid 1000 and exec the probe from here
stacks=()
cleanup() {
	for s in "${stacks[@]}"; do "$work/confine" down --grace 1s "$s" >/dev/null 2>&1 || true; done
	rm -f /var/lib/confine/ids/bench$$-*.* # the stacks' id records, which down keeps
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
go build -o "$work/confine" ./cmd/confine
CGO_ENABLED=0 go build -o "$work/probe" ./tests/probe

# component NAME NETWORK PROBE... writes NAME.yaml.
component() {
	local name=$1 net=$2 args=""
	shift 2
	for a in "$work/probe" "$@"; do args+="${args:+, }\"$a\""; done
	printf 'version: 1\nname: %s\nrun:\n  command: [%s]\n  user: "1000"\n%sfilesystem: {read: [%s]}\nsyscalls: {extends: default}\n' \
		"$name" "$args" "$net" "$work/probe" >"$work/$name.yaml"
}
# stack NAME SUBNET MEMBER... writes NAME.yaml.
stack() {
	local name=$1 subnet=$2 members=""
	shift 2
	for m in "$@"; do members+="${members:+, }$m.yaml"; done
	printf 'version: 1\nname: %s\nsubnet: %s\ncomponents: [%s]\n' "$name" "$subnet" "$members" >"$work/$name.yaml"
}
big=bench$$-$n one=bench$$-1
members=()
for ((i = 1; i <= n; i++)); do
	c=$(printf 'c%02d' "$i") next=$(printf 'c%02d' $((i + 1))) prev=$(printf 'c%02d' $((i - 1)))
	net=$'network:\n  listen: [{port: 9000/tcp'
	if ((i > 1)); then net+=", from: [$prev]"; else net+=", from: [host]"; fi
	net+=$'}]\n'
	((i < n)) && net+="  connect: [{to: \"$next:9000/tcp\"}]"$'\n'
	component "$c" "$net" serve:tcp/9000 sleep:
	members+=("$c")
done
stack "$big" 10.79.0.0/24 "${members[@]}"
component solo $'network:\n  listen: [{port: 9000/tcp, from: [host]}]\n' serve:tcp/9000 sleep:
stack "$one" 10.79.1.0/24 solo
component exit "" exit:0

now() { date +%s%N; }
: >"$work/results"
# updown STACK LABEL: one timed up and down; checks that every component runs.
updown() {
	local t0 t1 t2 want=$3
	stacks+=("$1")
	t0=$(now)
	"$work/confine" up -d "$work/$1.yaml" >/dev/null
	t1=$(now)
	running=$("$work/confine" ps --json "$1" | jq '[.[] | select(.state == "running")] | length')
	if [ "$running" != "$want" ]; then
		echo "stack.sh: $1: $running of $want components run; see /run/confine/stacks/$1.log" >&2
		exit 1
	fi
	"$work/confine" down --grace 1s "$1" >/dev/null
	t2=$(now)
	unset 'stacks[-1]'
	echo "$2 up $(((t1 - t0) / 1000))" >>"$work/results"
	echo "$2 down $(((t2 - t1) / 1000))" >>"$work/results"
}
run1() {
	local t0
	t0=$(now)
	"$work/confine" run "$work/exit.yaml" >/dev/null
	echo "run run $((($(now) - t0) / 1000))" >>"$work/results"
}
# Warm-up: page cache, the first cgroup attach, the kernel's nftables modules.
run1
updown "$one" warm 1
: >"$work/results"
for ((r = 1; r <= runs; r++)); do
	run1
	updown "$one" one 1
	updown "$big" big "$n"
done

median() { # median LABEL METRIC, in ms
	awk -v l="$1" -v m="$2" '$1 == l && $2 == m { print $3 / 1000 }' "$work/results" | sort -g |
		awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
run=$(median run run)
row() { awk -v d="$1" -v t="$2" -v b="$run" 'BEGIN { printf "| %s | %.0f ms | %.1f× |\n", d, t, t / b }'; }
echo "rounds: $runs; medians; ratios against confine run of one component"
echo
echo "| command | median | ratio |"
echo "| --- | --- | --- |"
row "\`confine run\` of one component that exits at once (baseline)" "$run"
row "\`confine up -d\`, stack of 1" "$(median one up)"
row "\`confine down --grace 1s\`, stack of 1" "$(median one down)"
row "\`confine up -d\`, stack of $n" "$(median big up)"
row "\`confine down --grace 1s\`, stack of $n" "$(median big down)"
awk -v u1="$(median one up)" -v un="$(median big up)" -v d1="$(median one down)" -v dn="$(median big down)" -v n="$n" -v b="$run" \
	'BEGIN { pu = (un - u1) / (n - 1); pd = (dn - d1) / (n - 1)
	printf "\nper extra component: up %.1f ms (%.2f× confine run), down %.1f ms (%.2f×)\n", pu, pu / b, pd, pd / b }'
[ -z "${KEEP:-}" ] || echo "raw results: $work/results"
