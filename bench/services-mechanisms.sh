#!/usr/bin/env bash
# Which of the sandbox's mechanisms costs nginx its throughput (issue 12): Debian's nginx
# from examples/services/nginx, run by `confine run --plan` from its compiled Plan with
# one mechanism taken away at a time, against the same nginx unconfined in a network
# namespace this script makes (as bench/services.sh runs it), in a session of its own
# (setsid), as confine's component and a daemonized nginx are: with autogroup
# scheduling (kernel.sched_autogroup_enabled) a session is a scheduling group, and a
# server sharing wrk's group runs in wrk's turn instead of waiting for the other groups.
# Variants:
#   sameses     the unconfined nginx in this script's session, with wrk (the baseline
#               the earlier runs had)
#   fwonly      the unconfined nginx with the component's nftables table (confine
#               compile --format nft) loaded into its namespace: the firewall alone
#   fwtracked   fwonly with the table's loopback notrack chains deleted: loopback
#               connections tracked by conntrack, as before they existed
#   full        the Plan as compiled
#   tracked     the Plan as compiled, the notrack chains deleted from the component's
#               namespace once it runs
#   nolog       the same Plan, by a confine built (in a temporary copy of the tree) that
#               loads the filter without SECCOMP_FILTER_FLAG_LOG
#   noseccomp   the seccomp program replaced by one instruction, return ALLOW
#   nolandlock  the Landlock ruleset emptied (nothing handled: no ruleset is made)
#   neither     both: what is left is namespaces, mounts, the cgroup, the firewall
#   nofirewall  the Plan as compiled, its nftables table deleted from the component's
#               network namespace once it runs
#   bare        neither, and the table deleted too
# VARIANTS picks some (default all). All servers run at once, each in its own network
# namespace, idle but for the one wrk measures (over that namespace's loopback: the
# same path for every variant). ROUNDS (default 5) rounds alternate the variants with
# the unconfined one; DURATION (default 5) seconds each. Besides requests per second,
# each run's CPU time per request: the nginx processes' run time (/proc/PID/schedstat,
# in ns) and wrk's (its rusage), over the requests wrk counted. The loopback's softirq
# work runs in the sending task's context and is charged to it (without
# CONFIG_IRQ_TIME_ACCOUNTING), so the sum holds the netfilter hooks of both directions;
# it moves far less than the rate when other load takes the CPU away. Prints medians,
# ratios of the medians, and the range of per-round ratios. Needs root, wrk, nginx, jq.
# The edited Plans exist only to measure; none of this changes confine's own path.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
dur=${DURATION:-5}
variants=${VARIANTS:-sameses fwonly fwtracked full tracked nolog noseccomp nolandlock neither nofirewall bare}
work=$(mktemp -d /tmp/confine-bench-mech-XXXX)
chmod 755 "$work"
ns=confine-bench-mech-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	ip netns del "$ns-fw" 2>/dev/null || true
	ip netns del "$ns-fwt" 2>/dev/null || true
	ip netns del "$ns-s" 2>/dev/null || true
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
"$work/confine" compile web.yaml --format nft >fw.nft
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

# unconfined NS DIR [setsid]: the packaged nginx in network namespace NS, its logs in
# DIR. setsid execs (a background job of a script leads no process group), so $! is
# nginx's master.
unconfined() {
	mkdir -p "$2/log" "$2/lib"
	ip netns exec "$1" ${3:-} unshare -m sh -c "mount --bind $2/log /var/log/nginx && mount --bind $2/lib /var/lib/nginx && mount -t tmpfs tmpfs /run && exec /usr/sbin/nginx -g 'daemon off;'" &
	pids+=($!)
}
declare -A npid
# untrack NSPATH: deletes the loopback notrack chains (netfilter/render_nft.go).
untrack() { for c in ingress_lo egress_lo; do nsenter --net="$1" nft delete chain inet confine "$c"; done; }
for n in "$ns" "$ns-fw" "$ns-fwt" "$ns-s"; do
	ip netns add "$n"
	ip -n "$n" link set lo up
done
ip netns exec "$ns-fw" nft -f fw.nft
ip netns exec "$ns-fwt" nft -f fw.nft
untrack "/run/netns/$ns-fwt"
unconfined "$ns" "$work/ngx" setsid
npid[unconfined]=$!
unconfined "$ns-fw" "$work/ngxfw" setsid
npid[fwonly]=$!
unconfined "$ns-fwt" "$work/ngxfwt" setsid
npid[fwtracked]=$!
unconfined "$ns-s" "$work/ngxs"
npid[sameses]=$!
cp full.json tracked.json
for v in $variants; do
	case $v in sameses | fwonly | fwtracked) continue ;; esac
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
	case $v in
	nofirewall | bare) nsenter --net=/proc/"$c"/ns/net nft delete table inet confine ;;
	tracked) untrack /proc/"$c"/ns/net ;;
	esac
done
sleep 1
for v in unconfined sameses fwonly fwtracked; do
	[ "$(cat /proc/"${npid[$v]}"/comm)" = nginx ] || { echo "$v: pid ${npid[$v]} is not nginx" >&2; exit 1; }
done
# runtime PID: the run time in ns of nginx's master PID and its workers.
runtime() {
	local s=0 t
	for p in $1 $(pgrep -P "$1"); do
		read -r t _ <"/proc/$p/schedstat"
		s=$((s + t))
	done
	echo "$s"
}
# measure VARIANT: "req/s nginx-µs/req wrk-µs/req" for one wrk run against it.
measure() {
	local p=${npid[$1]} before after cpu out
	before=$(runtime "$p")
	cpu=$( { TIMEFORMAT='%3U %3S'; time nsenter --net=/proc/"$p"/ns/net wrk -t2 -c32 -d"${dur}s" http://127.0.0.1:80/ >"$work/wrk.out"; } 2>&1)
	after=$(runtime "$p")
	out=$(cat "$work/wrk.out")
	awk -v n=$((after - before)) -v cpu="$cpu" -v out="$out" 'BEGIN {
		split(cpu, c, " "); m = split(out, l, "\n")
		for (i = 1; i <= m; i++) { split(l[i], f, " "); if (l[i] ~ /requests in/) r = f[1]; if (l[i] ~ /Requests\/sec/) s = f[2] }
		printf "%s %.2f %.2f", s, n / 1000 / r, (c[1] + c[2]) * 1e6 / r }'
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$rounds"); do
	for v in $variants; do
		echo "$r unconfined $(measure unconfined)"
		echo "$r $v $(measure "$v")"
	done
done | tee "$work/out" >&2
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v v="$1" -v c="$2" '$2==v{print $c}' "$work/out" | median; }
u=$(col unconfined 3) ucpu=$(awk '$2=="unconfined"{print $4+$5}' "$work/out" | median)
echo "| variant | req/s (median) | ratio | per-round ratios | nginx µs/req | wrk µs/req | CPU µs/req | CPU ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf "| unconfined | %.0f | 1.00× | | %s | %s | %s | 1.00× |\n" "$u" "$(col unconfined 4)" "$(col unconfined 5)" "$ucpu"
for v in $variants; do
	c=$(col "$v" 3) cpu=$(awk -v v="$v" '$2==v{print $4+$5}' "$work/out" | median)
	# each round's ratio against the unconfined run just before it
	rs=$(awk -v v="$v" '$2=="unconfined"{last=$3} $2==v{printf "%.2f ", $3/last}' "$work/out")
	# the CPU ratio is unconfined over variant: as a throughput would be at equal CPU
	awk -v v="$v" -v u="$u" -v c="$c" -v rs="$rs" -v n="$(col "$v" 4)" -v w="$(col "$v" 5)" -v cpu="$cpu" -v ucpu="$ucpu" \
		'BEGIN{printf "| %s | %.0f | %.2f× | %s| %s | %s | %s | %.2f× |\n", v, c, c/u, rs, n, w, cpu, ucpu/cpu}'
done

# PROFILE=1: where the CPU time goes. One more wrk run against the unconfined nginx and
# each of PROFILE_VARIANTS (default: full tracked), under a system-wide perf profile
# (apt linux-perf; 1000 samples a second per CPU), PROFILE_DURATION (default DURATION)
# seconds each. Of the samples of nginx and wrk,
# per request: all, and those whose call chain passes through netfilter's hooks
# (nf_hook_slow), conntrack within them, Landlock's hooks, seccomp's entry, audit's.
[ "${PROFILE:-0}" = 1 ] || exit 0
echo
echo "| variant (perf) | µs/req | netfilter | of it conntrack | Landlock | seccomp | audit |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for v in unconfined ${PROFILE_VARIANTS:-full tracked}; do
	req=$(perf record -q -e cpu-clock -F 1000 -a -g -o "$work/perf.data" -- \
		nsenter --net=/proc/"${npid[$v]}"/ns/net wrk -t2 -c32 -d"${PROFILE_DURATION:-$dur}s" http://127.0.0.1:80/ 2>/dev/null | awk '/requests in/{print $1}')
	perf script -i "$work/perf.data" -F comm,ip,sym 2>/dev/null | awk -v RS= -F '\n' -v v="$v" -v req="$req" '
		{ split($1, h, " "); if (h[1] != "nginx" && h[1] != "wrk") next
		  n++; delete m
		  for (i = 2; i <= NF; i++) { split($i, f, " "); s = f[2]
		    if (s == "nf_hook_slow") m["nf"] = 1
		    if (s ~ /conntrack|^nf_confirm$|^nf_ct_/) m["ct"] = 1
		    if (s ~ /^hook_|^landlock_|^is_access_to_paths_allowed/) m["ll"] = 1
		    if (s ~ /seccomp|secure_computing/) m["sc"] = 1
		    if (s ~ /audit/) m["au"] = 1 }
		  for (k in m) c[k]++ }
		END { u = 1000 / req; printf "| %s | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", v, n*u, c["nf"]*u, c["ct"]*u, c["ll"]*u, c["sc"]*u, c["au"]*u }'
done
