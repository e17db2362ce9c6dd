#!/usr/bin/env bash
# TCP connection rate and throughput between two network namespaces across a bridge that
# carries the stack firewall (netfilter/testdata/shop-bridge.nft: an inet forward chain
# whose one accept is a lookup in a concatenated interval set), with 10 and with 10,000
# declared flows; the same policy as one rule per flow (a linear chain, the real flows
# last); and no firewall at all, the baseline. All in the same run, variants interleaved,
# ROUNDS rounds (default 5) of SECS seconds (default 3) each; medians. Needs root.
# Prints Markdown tables; ratios are against no firewall.
#
# Everything lives in namespaces this script makes (confine-bench-PID-{br,c,s}), removed
# on exit with the servers it started. Traffic goes only from 10.99.0.2 (client) to
# 10.99.0.3 (server): iperf3 on port 5201, bench/connrate on 5202. The other set
# elements and rules name addresses no packet is sent to.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
secs=${SECS:-3}
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
for p in iperf3 jq nftables iproute2; do need "$p"; done

ns=confine-bench-$$
br=$ns-br cl=$ns-c sv=$ns-s
work=$(mktemp -d /tmp/confine-bench-XXXX)
pids=() stack=""
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in "$br" "$cl" "$sv"; do ip netns del "$n" 2>/dev/null || true; done
	[ -z "$stack" ] || "$work/confine" down --grace 1s "$stack" >/dev/null 2>&1 || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work" # confine's components run as uid 1000 and exec connrate from here
CGO_ENABLED=0 go build -o "$work/connrate" ./bench/connrate
go build -o "$work/confine" ./cmd/confine

# The network: a bridge namespace like a stack's (bridge confine0, bridged IPv4 through
# the inet forward hook), and a veth per side created with its peer inside the client's
# and the server's namespace.
for n in "$br" "$cl" "$sv"; do
	ip netns add "$n"
	ip -n "$n" link set lo up
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$br" link add confine0 type bridge
ip -n "$br" link set confine0 up
ip netns exec "$br" sysctl -qw net.bridge.bridge-nf-call-iptables=1
# Conntrack keeps a closed connection 120 s; the client reuses its ports every few
# seconds, so without this most SYNs would also evict an old entry.
ip netns exec "$br" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1
for side in c:"$cl":10.99.0.2 s:"$sv":10.99.0.3; do
	IFS=: read -r port n addr <<<"$side"
	ip -n "$br" link add "v$port" type veth peer name eth0 netns "$n"
	ip -n "$br" link set "v$port" master confine0 up
	ip -n "$n" addr add "$addr/24" dev eth0
	ip -n "$n" link set eth0 up
done
ip netns exec "$cl" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"

ip netns exec "$sv" iperf3 -s -B 10.99.0.3 -p 5201 >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$sv" "$work/connrate" -serve 10.99.0.3:5202 &
pids+=($!)
sleep 0.5

# The rulesets. Filler flow i goes from 10.99.A.B to the next address on port 1024+i,
# like a chain of components; the two real flows (client to server, 5201 and 5202) come
# last. Each file replaces the table in one transaction, as netfilter.Apply does.
gen() { # gen KIND N
	awk -v kind="$1" -v n="$2" 'function ip(i) { return "10.99." (1 + int(i / 250)) "." (2 + i % 250) }
	BEGIN {
		print "table inet confine_bench\ndelete table inet confine_bench\ntable inet confine_bench {"
		if (kind == "set") {
			print "\tset flows {\n\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n\t\tflags interval\n\t\telements = {"
			for (i = 1; i <= n - 2; i++) print "\t\t\t" ip(i) " . " ip(i + 1) " . tcp . " 1024 + i ","
			print "\t\t\t10.99.0.2 . 10.99.0.3 . tcp . 5201,\n\t\t\t10.99.0.2 . 10.99.0.3 . tcp . 5202\n\t\t}\n\t}"
		}
		print "\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tct state established,related accept"
		if (kind == "set") print "\t\tip saddr . ip daddr . meta l4proto . th dport @flows accept"
		else {
			for (i = 1; i <= n - 2; i++) print "\t\tip saddr " ip(i) " ip daddr " ip(i + 1) " meta l4proto tcp th dport " 1024 + i " accept"
			print "\t\tip saddr 10.99.0.2 ip daddr 10.99.0.3 meta l4proto tcp th dport 5201 accept"
			print "\t\tip saddr 10.99.0.2 ip daddr 10.99.0.3 meta l4proto tcp th dport 5202 accept"
		}
		print "\t\tcounter drop\n\t}\n}"
	}'
}
variants=(none set-10 set-10000 linear-10 linear-10000)
printf 'table inet confine_bench\ndelete table inet confine_bench\n' >"$work/none.nft"
for v in "${variants[@]:1}"; do gen "${v%-*}" "${v#*-}" >"$work/$v.nft"; done

# The full confine path: a stack of two components, connrate serving and connrate
# dialing, through the component firewalls, the stack firewall, seccomp and Landlock.
# Its subnet lives in the stack's own namespaces. Connection rate only.
cstack=confine-bench-$$
component() { # component NAME NETWORK HEALTH ARGS...
	local name=$1 net=$2 health=$3 args="\"$work/connrate\""
	shift 3
	for a in "$@"; do args+=", \"$a\""; done
	printf 'version: 1\nname: %s\nrun:\n  command: [%s]\n  user: "1000"\n%s\nnetwork:\n%s\nfilesystem: {read: [%s]}\nsyscalls: {extends: default}\n' \
		"$name" "$args" "$health" "$net" "$work/connrate" >"$work/$name.yaml"
}
component server "  listen: [{port: 5202/tcp, from: [client]}]" "  health: {tcp: 5202}" -serve :5202
component client "  connect: [{to: \"server:5202/tcp\"}]" "" -dial server:5202 -d "${secs}s" -c 4
printf 'version: 1\nname: %s\nsubnet: 10.98.0.0/24\ncomponents: [server.yaml, client.yaml]\n' "$cstack" >"$work/stack.yaml"
confine_rate() {
	stack=$cstack
	"$work/confine" up -d "$work/stack.yaml" >/dev/null
	local deadline=$((SECONDS + secs + 30)) line
	until "$work/confine" ps --json "$cstack" | jq -e '.[] | select(.name == "client" and .state == "exited")' >/dev/null; do
		if ((SECONDS > deadline)); then echo "flows.sh: the confine client did not finish" >&2 && exit 1; fi
		sleep 0.2
	done
	line=$("$work/confine" logs "$cstack" client | grep -E '^[0-9.]+ [0-9]+$' | tail -1)
	"$work/confine" down --grace 1s "$cstack" >/dev/null
	stack=""
	read -r rate failed <<<"$line"
	[ "$failed" = 0 ] || echo "flows.sh: confine: $failed connections failed" >&2
	echo "$rate"
}

# probe PORT: 0 if a connection is accepted, 1 if refused, 2 if dropped (timeout).
probe() {
	local rc=0
	ip netns exec "$cl" timeout 1 bash -c "exec 3<>/dev/tcp/10.99.0.3/$1" 2>/dev/null || rc=$?
	case $rc in 0) echo 0 ;; 124) echo 2 ;; *) echo 1 ;; esac
}
now() { date +%s%N; }
: >"$work/results"
for ((r = 1; r <= rounds; r++)); do
	# Rotate the order each round so no variant always follows the same one.
	for ((k = 0; k < ${#variants[@]}; k++)); do
		v=${variants[$(((k + r) % ${#variants[@]}))]}
		t0=$(now)
		ip netns exec "$br" nft -f "$work/$v.nft"
		echo "$r $v load $((($(now) - t0) / 1000))" >>"$work/results"
		# The firewall is live: an undeclared port is dropped, a declared one connects.
		want=2
		[ "$v" = none ] && want=1
		if [ "$(probe 5203)" != "$want" ] || [ "$(probe 5202)" != 0 ]; then
			echo "flows.sh: variant $v does not filter as it should" >&2
			exit 1
		fi
		read -r rate failed < <(ip netns exec "$cl" "$work/connrate" -dial 10.99.0.3:5202 -d "${secs}s" -c 4)
		[ "$failed" = 0 ] || echo "flows.sh: $v: $failed connections failed" >&2
		echo "$r $v rate $rate" >>"$work/results"
		bps=$(ip netns exec "$cl" iperf3 -c 10.99.0.3 -p 5201 -t "$secs" -J | jq '.end.sum_received.bits_per_second')
		echo "$r $v gbps $(awk -v b="$bps" 'BEGIN { printf "%.3f", b / 1e9 }')" >>"$work/results"
	done
	[ -n "${NO_CONFINE:-}" ] || echo "$r confine rate $(confine_rate)" >>"$work/results"
done
ip netns exec "$br" nft -f "$work/none.nft"

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
value() { awk -v v="$1" -v m="$2" '$2 == v && $3 == m { print $4 }' "$work/results" | median; }
# ratio VARIANT METRIC [BASE]: the median over rounds of VARIANT / BASE (default none)
# within a round, so that a slow minute of the machine's does not bias one variant.
ratio() {
	awk -v v="$1" -v m="$2" -v b="${3:-none}" '$3 == m && $2 == v { x[$1] = $4 } $3 == m && $2 == b { y[$1] = $4 }
		END { for (r in x) print x[r] / y[r] }' "$work/results" | median
}
describe() {
	case $1 in
	none) echo "no firewall (baseline)" ;;
	set-*) echo "set, $(echo "${1#*-}" | sed 's/000$/,000/') flows" ;;
	linear-*) echo "linear chain, $(echo "${1#*-}" | sed 's/000$/,000/') rules" ;;
	esac
}
echo "$rounds rounds of ${secs}s per variant and metric; medians; ratios are the median of the"
echo "per-round ratios to no firewall"
echo
echo "| firewall | connections/s | ratio | throughput | ratio | ruleset load |"
echo "| --- | --- | --- | --- | --- | --- |"
for v in "${variants[@]}"; do
	awk -v d="$(describe "$v")" -v r="$(value "$v" rate)" -v rr="$(ratio "$v" rate)" -v g="$(value "$v" gbps)" -v gr="$(ratio "$v" gbps)" -v l="$(value "$v" load)" \
		'BEGIN { printf "| %s | %.0f | %.2f× | %.2f Gbit/s | %.2f× | %.1f ms |\n", d, r, rr, g, gr, l / 1000 }'
done
if [ -z "${NO_CONFINE:-}" ]; then
	awk -v r="$(value confine rate)" -v rr="$(ratio confine rate)" \
		'BEGIN { printf "| a confine stack of two components, one flow (component and stack firewalls, seccomp, Landlock) | %.0f | %.2f× | — | — | — |\n", r, rr }'
fi
echo
printf 'connection rate, 10,000 flows / 10 flows: set %.2f×, linear chain %.2f×\n' \
	"$(ratio set-10000 rate set-10)" "$(ratio linear-10000 rate linear-10)"
[ -z "${KEEP:-}" ] || echo "raw results: $work/results"
