# Sourced by the network benchmarks (egress.sh, names.sh, lone.sh): the "host" namespace
# H where confine runs (198.51.100.1) and the "outside" one O behind it (198.51.100.2),
# one veth between them, H's only default route through O, and a check that H has no
# other route, so that nothing the benchmark sends leaves these namespaces.
#	hostns_up H O SCRIPT-NAME
hostns_up() {
	local h=$1 o=$2 name=$3 side n a
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
		echo "$name: unexpected route in the host namespace" >&2
		exit 1
	fi
}
