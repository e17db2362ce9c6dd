#!/usr/bin/env bash
# Which of the sandbox's mechanisms costs nginx its throughput (issue 12): Debian's nginx
# from examples/services/nginx, run by `confine run --plan` from its compiled Plan with
# one mechanism taken away at a time, against the same nginx unconfined in a network
# namespace this script makes (as bench/services.sh runs it). Variants:
#   full        the Plan as compiled
#   nolog       the same Plan, by a confine built (in a temporary copy of the tree) that
#               loads the filter without SECCOMP_FILTER_FLAG_LOG
#   noseccomp   the seccomp program replaced by one instruction, return ALLOW
#   nolandlock  the Landlock ruleset emptied (nothing handled: no ruleset is made)
#   neither     both: what is left is namespaces, mounts, the cgroup, the firewall
#   nofirewall  the Plan as compiled, its nftables table deleted from the component's
#               network namespace once it runs
#   bare        neither, and the table deleted too
# All servers run at once, each in its own network namespace, idle but for the one wrk
# measures (over that namespace's loopback). ROUNDS (default 5) rounds alternate the
# variants with the unconfined one; DURATION (default 5) seconds each. Prints medians,
# ratios of the medians, and the range of per-round ratios. Needs root, wrk, nginx, jq.
# The edited Plans exist only to measure; none of this changes confine's own path.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
dur=${DURATION:-5}
work=$(mktemp -d /tmp/confine-bench-mech-XXXX)
chmod 755 "$work"
ns=confine-bench-mech-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/confine" ./cmd/confine
# The nolog build: the flag is a constant of the init stage, not a Plan field, so the
# variant is a build of a copy with it removed from the seccomp(2) call.
git ls-files -z | tar --null -T - -cf - | (mkdir "$work/src" && tar -xf - -C "$work/src")
sed -i 's/unix.SECCOMP_FILTER_FLAG_LOG, uintptr/0, uintptr/' "$work/src/sandbox/seccomp_linux.go"
grep -q 'SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))$' "$work/src/sandbox/seccomp_linux.go"
(cd "$work/src" && go build -o "$work/confine-nolog" ./cmd/confine)

cp -r examples/services/nginx "$work/nginx"
cd "$work/nginx"
# one ./data for all: only the one measured serves, and it only appends to its log
mkdir -p data/log data/lib
"$work/confine" compile web.yaml --format json >full.json
# struct sock_filter {BPF_RET|BPF_K, 0, 0, SECCOMP_RET_ALLOW}, little-endian
allow=BgAAAAAA/38=
allowsum=$(printf '\x06\x00\x00\x00\x00\x00\xff\x7f' | sha256sum | cut -d' ' -f1)
nosec='.components[0].seccomp.program=$p | .components[0].seccomp.program_sha256=$s'
noll='.components[0].landlock |= (.handled_fs=[] | .handled_net=[] | .scoped=[] | .paths=[] | .bind_tcp=[] | .connect_tcp=[])'
jq --arg p "$allow" --arg s "$allowsum" "$nosec" full.json >noseccomp.json
jq "$noll" full.json >nolandlock.json
jq --arg p "$allow" --arg s "$allowsum" "$nosec | $noll" full.json >neither.json
cp full.json nolog.json
cp full.json nofirewall.json
cp neither.json bare.json
variants="full nolog noseccomp nolandlock neither nofirewall bare"
declare -A npid
for v in $variants; do
	bin=$work/confine
	[ "$v" = nolog ] && bin=$work/confine-nolog
	"$bin" run --plan "$v.json" >"$work/$v.out" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		c=$(pgrep -P "$!" -x nginx || true)
		[ -n "$c" ] && break
		sleep 0.2
	done
	[ -n "$c" ] || { echo "$v did not start: $(cat "$work/$v.out")" >&2; exit 1; }
	npid[$v]=$c
	case $v in nofirewall | bare) nsenter --net=/proc/"$c"/ns/net nft delete table inet confine ;; esac
done
ip netns add "$ns"
ip -n "$ns" link set lo up
mkdir -p "$work/ngx/log" "$work/ngx/lib"
ip netns exec "$ns" unshare -m sh -c "mount --bind $work/ngx/log /var/log/nginx && mount --bind $work/ngx/lib /var/lib/nginx && mount -t tmpfs tmpfs /run && exec /usr/sbin/nginx -g 'daemon off;'" &
pids+=($!)
sleep 1
wrkrate() { "$@" wrk -t2 -c32 -d"${dur}s" http://127.0.0.1:80/ | awk '/Requests\/sec/{print $2}'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$rounds"); do
	for v in $variants; do
		echo "$r unconfined $(wrkrate ip netns exec "$ns")"
		echo "$r $v $(wrkrate nsenter --net=/proc/"${npid[$v]}"/ns/net)"
	done
done | tee "$work/out" >&2
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
u=$(awk '$2=="unconfined"{print $3}' "$work/out" | median)
echo "| variant | req/s (median) | ratio to unconfined | per-round ratios |"
echo "| --- | --- | --- | --- |"
printf "| unconfined | %.0f | 1.00× | |\n" "$u"
for v in $variants; do
	c=$(awk -v v="$v" '$2==v{print $3}' "$work/out" | median)
	# each round's ratio against the unconfined run just before it
	rs=$(awk -v v="$v" '$2=="unconfined"{last=$3} $2==v{printf "%.2f ", $3/last}' "$work/out")
	awk -v v="$v" -v u="$u" -v c="$c" -v rs="$rs" 'BEGIN{printf "| %s | %.0f | %.2f× | %s|\n", v, c, c/u, rs}'
done
