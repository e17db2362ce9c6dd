#!/usr/bin/env bash
# Egress by declared DNS names, 10 against 10,000 (docs/BENCHMARKS.md, issue 13), inside
# namespaces this script makes, as bench/egress.sh does: a "host" namespace where confine
# runs (confine-nmb-PID-h, 198.51.100.1) and an "outside" one behind it (-o, 198.51.100.2;
# the server at 203.0.113.10, the upstream DNS server at 203.0.113.53). Traffic stays in
# them. Needs root. ROUNDS rounds (default 5) of SECS seconds (default 3), the two
# variants interleaved; medians; ratios are medians of per-round ratios.
#
# A component declares N names (the real server's and N-1 fillers in 198.18.0.0/15,
# RFC 2544, where no packet goes), resolves them all through the stack's resolver (so
# every answer is pinned into its names set and the bridge's), then runs bench/connrate
# against the server's address: connection rate and one stream's throughput, with the
# client's and the server's CPU time as in bench/egress.sh. The client also times the
# resolver: the median of 8 first answers (each pinned into sets that hold the others)
# and of 21 renewals of a pinned one; and the script times `confine up` (the policy's
# load, check and compile, the stack's start).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
secs=${SECS:-3}
ns=confine-nmb-$$
sn=nmb$$
h=$ns-h o=$ns-o
work=$(mktemp -d /tmp/confine-nmb-XXXX)
pids=()
cleanup() {
	for s in "$sn-10" "$sn-10000"; do nsenter --net=/run/netns/"$h" "$work/confine" down --grace 1s "$s" >/dev/null 2>&1 || true; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$h" 2>/dev/null || true
	ip netns del "$o" 2>/dev/null || true
	rm -f /var/lib/confine/ids/"$sn"-*.*
	rm -rf /var/log/confine/"$sn"-* # the stacks' default audit logs and kept logs
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"
CGO_ENABLED=0 go build -o "$work/connrate" ./bench/connrate
go build -o "$work/confine" ./cmd/confine

. bench/hostns.sh
hostns_up "$h" "$o" names.sh
ip -n "$o" addr add 203.0.113.10/32 dev lo
ip -n "$o" addr add 203.0.113.53/32 dev lo
tw() { nsenter --net="$1" sh -c 'echo 1 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait' 2>/dev/null || true; }
tw /run/netns/"$h"
tw /run/netns/"$o"
nsenter --net=/run/netns/"$o" "$work/connrate" -serve 203.0.113.10:5202 &
pids+=($!)
oserve=$!
nsenter --net=/run/netns/"$o" "$work/connrate" -sink 203.0.113.10:5203 &
pids+=($!)
osink=$!
nsenter --net=/run/netns/"$o" "$work/connrate" -dns 203.0.113.53:53 &
pids+=($!)
sleep 0.3
tck=$(getconf CLK_TCK)
pcpu() { # pcpu PID: utime+stime in µs
	sed 's/.*) //' "/proc/$1/stat" | awk -v t="$tck" '{ printf "%d", ($12 + $13) * 1e6 / t }'
}
confine() {
	nsenter --net=/run/netns/"$h" env CONFINE_DNS_UPSTREAM=203.0.113.53:53 \
		CONFINE_DNS_ALLOW_PRIVATE=198.18.0.0/15,203.0.113.0/24 "$work/confine" "$@"
}
target=203-0-113-10.names.example
for n in 10 10000; do
	d=$work/nmb-$n
	mkdir -p "$d"
	# the fillers, then the target: connrate resolves the last 8 one by one
	awk -v n="$n" 'BEGIN { for (i = 1; i < n; i++) printf "198-18-%d-%d.names.example\n", int(i / 250), 1 + i % 250 }' >"$d/names"
	{
		echo "  connect:"
		echo "    - to: $target:5202-5203/tcp"
		sed 's/.*/    - to: &:443\/tcp/' "$d/names"
	} >"$d/net"
	printf 'version: 1\nname: client\nrun:\n  command: ["%s", "-cpu", "-after", "2s", "-names", "%s", "-dial", "%s:5202", "-send", "203.0.113.10:5203", "-d", "%ss", "-c", "4"]\n  user: "1000"\nnetwork:\n%s\nfilesystem: {read: ["%s", "%s"]}\nsyscalls: {extends: default}\n' \
		"$work/connrate" "$d/names" "$target" "$secs" "$(cat "$d/net")" "$work/connrate" "$d/names" >"$d/client.yaml"
	printf 'version: 1\nname: %s-%s\nsubnet: 10.96.0.0/24\ncomponents: [client.yaml]\n' "$sn" "$n" >"$d/stack.yaml"
done
tune() {
	tw /run/confine/netns/"$1"
	for p in $(confine ps --json "$1" | jq '.[].pid // empty'); do tw /proc/"$p"/ns/net; done
}
# names N: "RATE GBITS µs/conn µs/MB UP-s RESOLVE-s FIRST-µs RENEW-µs"
names() {
	local s=$sn-$1 deadline s0 k0 s1 k1 t0 t1 out cd cs
	s0=$(pcpu "$oserve") k0=$(pcpu "$osink")
	t0=$(date +%s.%N)
	confine up -d "$work/nmb-$1/stack.yaml" >/dev/null
	t1=$(date +%s.%N)
	tune "$s"
	deadline=$((SECONDS + 2 * secs + 600))
	until confine ps --json "$s" | jq -e '.[] | select(.name == "client" and .state == "exited")' >/dev/null; do
		if ((SECONDS > deadline)); then echo "names.sh: the client of $s did not finish" >&2 && exit 1; fi
		sleep 0.2
	done
	s1=$(pcpu "$oserve") k1=$(pcpu "$osink")
	# the stack's log keeps earlier rounds' runs too: this run's lines are the last
	confine logs "$s" client | awk '$1 == "names" { n = NR } { l[NR] = $0 } END { for (i = n; i <= NR; i++) print l[i] }' >"$work/client.log"
	out=$(grep -E '^[0-9.]+( [0-9]+)?$' "$work/client.log" | tail -2 | tr '\n' ' ')
	cd=$(awk '$1 == "cpu" && $2 == "dial" { print $3 }' "$work/client.log")
	cs=$(awk '$1 == "cpu" && $2 == "send" { print $3 }' "$work/client.log")
	case $out in "" | 0.0*) cat "$work/client.log" >&2 ;; esac
	if [ -n "${KEEP:-}" ]; then
		nsenter --net=/run/confine/netns/"$s" nft list set inet "confine_${s//-/_}" names | grep -c names.example >/dev/null || true
		nsenter --net=/run/confine/netns/"$s" nft -j list set inet "confine_${s//-/_}" names | jq '[.. | .elem? // empty] | length' >"$work/elems-$1" || true
	fi
	confine down --grace 1s "$s" >/dev/null
	read -r a _ b <<<"$out"
	awk -v r="$a" -v g="$b" -v cd="$cd" -v sd=$((s1 - s0)) -v cs="$cs" -v ss=$((k1 - k0)) -v t="$secs" -v up="$(echo "$t1 - $t0" | bc)" \
		-v res="$(awk '$1 == "names" { print $3 }' "$work/client.log")" \
		-v f="$(awk '$1 == "lookup" && $2 == "first" { print $3 }' "$work/client.log")" \
		-v rn="$(awk '$1 == "lookup" && $2 == "renew" { print $3 }' "$work/client.log")" \
		'BEGIN { printf "%s %s %.2f %.2f %.3f %s %s %s\n", r, g, (cd + sd) / (r * t), (cs + ss) / (g * t * 1e9 / 8 / 1e6), up, res, f, rn }'
}

: >"$work/results"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
	for n in 10 10000; do
		echo "$r names-$n $(names "$n")" >>"$work/results"
	done
	tail -2 "$work/results" >&2
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
value() { awk -v v="$1" -v c="$2" '$2 == v { print $c }' "$work/results" | median; }
# ratio A B COLUMN: the median over rounds of A's COLUMN over B's
ratio() { awk -v v="$1" -v b="$2" -v c="$3" '$2 == v { x[$1] = $c } $2 == b { y[$1] = $c } END { for (r in x) print x[r] / y[r] }' "$work/results" | median; }
perround() { awk -v v="$1" -v b="$2" -v c="$3" '$2 == v { x[$1] = $c } $2 == b { y[$1] = $c } END { for (r = 1; r in x; r++) printf "%.2f ", x[r] / y[r] }' "$work/results"; }
echo "$rounds rounds of ${secs}s; medians; ratios are medians of per-round ratios"
echo
echo "| declared names | connections/s | CPU µs/conn | throughput | CPU µs/MB | confine up | resolving all | first answer | renewal |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in 10 10000; do
	printf '| %s | %.0f | %.1f | %.2f Gbit/s | %.0f | %.2f s | %.2f s | %.0f µs | %.0f µs |\n' "$n" "$(value names-$n 3)" "$(value names-$n 5)" \
		"$(value names-$n 4)" "$(value names-$n 6)" "$(value names-$n 7)" "$(value names-$n 8)" "$(value names-$n 9)" "$(value names-$n 10)"
done
echo
echo "| 10,000 names against 10, same round | connections/s | CPU per connection | throughput | CPU per MB | first answer | renewal |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
# the CPU and latency ratios are 10's over 10,000's, as a throughput would be
printf '| medians of per-round ratios | %.2f× | %.2f× | %.2f× | %.2f× | %.2f× | %.2f× |\n' "$(ratio names-10000 names-10 3)" "$(ratio names-10 names-10000 5)" \
	"$(ratio names-10000 names-10 4)" "$(ratio names-10 names-10000 6)" "$(ratio names-10 names-10000 9)" "$(ratio names-10 names-10000 10)"
printf '| per-round | %s| %s| %s| %s| %s| %s|\n' "$(perround names-10000 names-10 3)" "$(perround names-10 names-10000 5)" \
	"$(perround names-10000 names-10 4)" "$(perround names-10 names-10000 6)" "$(perround names-10 names-10000 9)" "$(perround names-10 names-10000 10)"
[ -z "${KEEP:-}" ] || echo "raw results: $work/results"
