#!/usr/bin/env bash
# Packaged services confined against unconfined (issue 12): Debian's nginx (wrk), Redis
# (redis-benchmark) and PostgreSQL (pgbench -S), each run from examples/services under
# `confine up`, and the same binary with the same packaged configuration run directly
# in a network namespace this script makes, in a session of its own (setsid) as the
# component is: with autogroup scheduling a server sharing the client's session shares
# its scheduling group, and on a loaded machine wins far more than the sandbox costs
# (docs/BENCHMARKS.md). Both are measured over their own loopback
# (the client enters the server's network namespace), so the path is the same and the
# ratio is the sandbox's cost: seccomp, Landlock, the cgroup, the component firewall's
# loopback accept. A third figure goes through the stack's published port (the
# stack's published port (DNAT, and the loopback proxy from the host's 127.0.0.1) for
# comparison. ROUNDS (default 3) rounds alternate the variants; DURATION (default 5)
# seconds each. Besides the rate, each run's CPU time per request, which moves far less
# than the rate when other load takes the CPU away: the server's (utime+stime+cutime+
# cstime of its process tree, so PostgreSQL's backends count once reaped) and the
# client's (its rusage, by bash's time), over the requests the client counted. On
# loopback the receiving side's softirq work runs in the sender's context and is
# charged to it, so the sum holds both directions. Prints the load, medians, same-run
# ratios (throughput: confined over unconfined; CPU: unconfined over confined, as a
# throughput would be at equal CPU) and the per-round ratios. Needs root and make deps.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
dur=${DURATION:-5}
services=${SERVICES:-nginx redis postgres} # which to measure
want() { [[ " $services " == *" $1 "* ]]; }
work=$(mktemp -d /tmp/confine-bench-svc-XXXX)
chmod 755 "$work"
ns=confine-bench-$$
sn=bsvc$$ # the stacks' names: /run/confine/stacks is the whole host's
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for s in "$sn-nginx" "$sn-redis" "$sn-pg"; do "$work/confine" down --grace 5s "$s" >/dev/null 2>&1 || true; done
	ip netns del "$ns" 2>/dev/null || true
	rm -f /var/lib/confine/ids/"$sn"-*.* # the stacks' id records, which down keeps
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/confine" ./cmd/confine
ip netns add "$ns"
ip -n "$ns" link set lo up
inns() { ip netns exec "$ns" "$@"; }
pgv=$(basename "$(dirname "$(dirname "$(ls /etc/postgresql/*/main/postgresql.conf | head -1)")")")
pgbin=/usr/lib/postgresql/$pgv/bin
ruid=$(id -u redis) rgid=$(id -g redis) puid=$(id -u postgres) pgid=$(id -g postgres)

# freeport: a TCP port nothing listens on at the host's loopback now (other runs share it).
freeport() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		[ -z "$(ss -Hltn "sport = :$p")" ] && echo "$p" && return
	done
}
# example NAME STACK PORT: copies examples/services/NAME to $work/NAME with this host's ids.
example() {
	cp -r "examples/services/$1" "$work/$1"
	sed -i "s/^name: .*/name: $2/; s/127.0.0.1:[0-9]* ->/127.0.0.1:$3 ->/" "$work/$1/stack.yaml"
	sed -i "s/user: \"103:111\"/user: \"$ruid:$rgid\"/; s/user: \"101:104\"/user: \"$puid:$pgid\"/; s#/15/#/$pgv/#g" "$work/$1"/*.yaml
}
up() { # STACK DIR: up, and the component's host pid once it runs
	"$work/confine" up -d "$2/stack.yaml" --audit-log "$2/audit.log" >/dev/null
	for _ in $(seq 100); do
		pid=$("$work/confine" ps --json "$1" | jq -r '.[0] | select(.state=="running" and (.health==null or .health=="" or .health=="healthy")) | .pid')
		[ -n "$pid" ] && { echo "$pid"; return; }
		sleep 0.2
	done
	echo "$1 did not start" >&2
	exit 1
}
incomp() { local pid=$1; shift; nsenter --net=/proc/"$pid"/ns/net "$@"; }
tck=$(getconf CLK_TCK)
# treecpu PID: CPU time in µs of PID and its descendants, reaped children included.
treecpu() {
	local s=0 p
	for p in $1 $(pgrep -P "$1" || true); do
		[ "$p" = "$1" ] || { s=$((s + $(treecpu "$p"))); continue; }
		# fields after the ")": 14-17 of stat are utime stime cutime cstime
		s=$((s + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk -v t="$tck" '{ printf "%d", ($12 + $13 + $14 + $15) * 1e6 / t }' || echo 0)))
	done
	echo "$s"
}
# run SERVERPID COUNTER CMD...: "RATE SERVER-µs/req CLIENT-µs/req" of one client run;
# COUNTER is a function reading the client's output: "RATE REQUESTS".
run() {
	local sp=$1 counter=$2 before after cpu rr
	shift 2
	before=$(treecpu "$sp")
	cpu=$( { TIMEFORMAT='%3U %3S'; time "$@" >"$work/client.out" 2>/dev/null; } 2>&1)
	sleep 0.3 # PostgreSQL's backends exit and are reaped once their client is gone
	after=$(treecpu "$sp")
	rr=$($counter <"$work/client.out")
	awk -v rr="$rr" -v n=$((after - before)) -v cpu="$cpu" 'BEGIN { split(rr, a, " "); split(cpu, c, " ")
		if (a[2] == 0) { print "0 0 0"; exit }
		printf "%s %.2f %.2f\n", a[1], n / a[2], (c[1] + c[2]) * 1e6 / a[2] }'
}

wrkrate() { awk '/requests in/{n=$1} /Requests\/sec/{r=$2} END{print r, n}'; }
pgrate() { awk '/actually processed/{n=$NF} /^tps/{r=$3} END{print r, n}'; }
# redis-benchmark's GET and SET: the mean of their rates, and their requests
rbrate() { tr '\r' '\n' | awk '/requests per second/{for(i=1;i<=NF;i++) if($(i+1)=="requests") {s+=$i; n++}} END{printf "%.0f %d\n", s/n, n*100000}'; }
rb() { # PORT [PREFIX...]
	local port=$1
	shift
	"$@" redis-benchmark -q -n 100000 -c 50 -t get,set -h 127.0.0.1 -p "$port"
}
# stop STACK: the stack down and the unconfined server gone. One stack at a time: a
# supervisor holds the kernel audit lock shared for its life, and the next one's
# exclusive take would wait for it (noted in docs/BENCHMARKS.md).
stop() {
	"$work/confine" down --grace 5s "$1" >/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}

# PROFILE=1: one more client run against each under a system-wide perf profile (apt
# linux-perf; cpu-clock, 1000 samples a second per CPU, one sample 1 ms). prof SERVICE
# VARIANT COMMS COUNTER CMD...: of the samples of the processes whose comm matches COMMS,
# per request: all, and those whose call chain passes through netfilter's hooks
# (nf_hook_slow), conntrack, Landlock's hooks, seccomp's entry, audit's.
prof() {
	local svc=$1 v=$2 comms=$3 counter=$4 req
	shift 4
	perf record -q -e cpu-clock -F 1000 -a -g -o "$work/perf.data" 2>/dev/null &
	local perf=$!
	sleep 0.5
	"$@" >"$work/client.out" 2>/dev/null
	kill -INT "$perf"
	wait "$perf" 2>/dev/null || true
	req=$($counter <"$work/client.out" | awk '{ print $2 }')
	perf script -i "$work/perf.data" -F comm,ip,sym 2>/dev/null | awk -v RS= -F '\n' -v svc="$svc" -v v="$v" -v req="$req" -v comms="$comms" '
		{ split($1, h, " "); if (h[1] !~ comms) next
		  n++; delete m
		  for (i = 2; i <= NF; i++) { split($i, f, " "); s = f[2]
		    if (s == "nf_hook_slow") m["nf"] = 1
		    if (s ~ /conntrack|^nf_confirm$|^nf_ct_/) m["ct"] = 1
		    if (s ~ /^hook_|^landlock_/) m["ll"] = 1
		    if (s ~ /seccomp/) m["sc"] = 1
		    if (s ~ /audit/) m["au"] = 1 }
		  for (k in m) c[k]++ }
		END { u = 1000 / req; printf "profile | %s %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", svc, v, n*u, c["nf"]*u, c["ct"]*u, c["ll"]*u, c["sc"]*u, c["au"]*u }' >&2
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# nginx
if want nginx; then
nport=$(freeport)
example nginx "$sn-nginx" "$nport"
mkdir -p "$work/nginx/data/log" "$work/nginx/data/lib" "$work/ngx/log" "$work/ngx/lib"
npid=$(up "$sn-nginx" "$work/nginx")
ip netns exec "$ns" setsid unshare -m sh -c "mount --bind $work/ngx/log /var/log/nginx && mount --bind $work/ngx/lib /var/lib/nginx && mount -t tmpfs tmpfs /run && exec /usr/sbin/nginx -g 'daemon off;'" &
pids+=($!)
sleep 1
unpid=${pids[-1]}
for r in $(seq "$rounds"); do
	echo "nginx unconfined $(run "$unpid" wrkrate inns wrk -t2 -c32 -d"${dur}s" http://127.0.0.1:80/)"
	echo "nginx confined $(run "$npid" wrkrate incomp "$npid" wrk -t2 -c32 -d"${dur}s" http://127.0.0.1:80/)"
	echo "nginx published $(run "$npid" wrkrate wrk -t2 -c32 -d"${dur}s" http://127.0.0.1:$nport/)"
done | tee -a "$work/out" >&2
stop "$sn-nginx"
fi

# redis
if want redis; then
rport=$(freeport)
example redis "$sn-redis" "$rport"
install -d -o "$ruid" -g "$rgid" "$work/redis/data" "$work/rdx"
rpid=$(up "$sn-redis" "$work/redis")
ip netns exec "$ns" setsid runuser -u redis -- /usr/bin/redis-server /etc/redis/redis.conf --daemonize no --supervised no --bind 127.0.0.1 --logfile "" --pidfile "" --dir "$work/rdx" >/dev/null &
pids+=($!)
sleep 1
for r in $(seq "$rounds"); do
	echo "redis unconfined $(run "${pids[-1]}" rbrate rb 6379 ip netns exec "$ns")"
	echo "redis confined $(run "$rpid" rbrate rb 6379 nsenter --net=/proc/"$rpid"/ns/net)"
	echo "redis published $(run "$rpid" rbrate rb "$rport")"
done | tee -a "$work/out" >&2
if [ "${PROFILE:-0}" = 1 ]; then
	prof redis unconfined '^redis-(server|benchm)' rbrate rb 6379 ip netns exec "$ns"
	prof redis confined '^redis-(server|benchm)' rbrate rb 6379 nsenter --net=/proc/"$rpid"/ns/net
fi
stop "$sn-redis"
fi

# postgres: two clusters, each made by initdb, trust over TCP (the benchmark measures
# queries, not authentication)
if want postgres; then
echo bench >"$work/pw"
chmod 644 "$work/pw"
for d in "$work/postgres-data" "$work/pgx"; do
	install -d -m 0700 -o "$puid" -g "$pgid" "$d"
	runuser -u postgres -- "$pgbin/initdb" -D "$d" -U postgres --pwfile="$work/pw" --auth-host=trust --auth-local=trust >/dev/null
done
pport=$(freeport)
example postgres "$sn-pg" "$pport"
mv "$work/postgres-data" "$work/postgres/data"
printf 'host all all 0.0.0.0/0 trust\n' >"$work/postgres/pg_hba.conf"
printf 'host all all 127.0.0.1/32 trust\n' >"$work/pgx/hba.conf"
chmod 644 "$work/pgx/hba.conf"
ppid_=$(up "$sn-pg" "$work/postgres")
ip netns exec "$ns" setsid runuser -u postgres -- "$pgbin/postgres" -D "/etc/postgresql/$pgv/main" -c "config_file=/etc/postgresql/$pgv/main/postgresql.conf" \
	-c data_directory="$work/pgx" -c hba_file="$work/pgx/hba.conf" -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c external_pid_file= >/dev/null 2>&1 &
pids+=($!)
sleep 2
pgconn="host=127.0.0.1 user=postgres dbname=postgres sslmode=disable"
incomp "$ppid_" "$pgbin/pgbench" -i -s 10 -q "$pgconn" >/dev/null 2>&1
inns "$pgbin/pgbench" -i -s 10 -q "$pgconn" >/dev/null 2>&1
for r in $(seq "$rounds"); do
	echo "postgres unconfined $(run "${pids[-1]}" pgrate inns "$pgbin/pgbench" -S -c 8 -j 2 -T "$dur" "$pgconn")"
	echo "postgres confined $(run "$ppid_" pgrate incomp "$ppid_" "$pgbin/pgbench" -S -c 8 -j 2 -T "$dur" "$pgconn")"
	echo "postgres published $(run "$ppid_" pgrate "$pgbin/pgbench" -S -c 8 -j 2 -T "$dur" -h 127.0.0.1 -p "$pport" -U postgres postgres)"
done | tee -a "$work/out" >&2
if [ "${PROFILE:-0}" = 1 ]; then
	prof postgres unconfined '^(postgres|pgbench)$' pgrate inns "$pgbin/pgbench" -S -c 8 -j 2 -T "$dur" "$pgconn"
	prof postgres confined '^(postgres|pgbench)$' pgrate incomp "$ppid_" "$pgbin/pgbench" -S -c 8 -j 2 -T "$dur" "$pgconn"
fi
stop "$sn-pg"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v s="$1" -v v="$2" -v c="$3" '$1==s && $2==v{print $c}' "$work/out" | median; }
cpu() { awk -v s="$1" -v v="$2" '$1==s && $2==v{print $4+$5}' "$work/out" | median; }
# rounds SERVICE VARIANT COL: each round's ratio against the unconfined run just before
# it (COL 3, the rate: variant over unconfined; COL cpu: unconfined over variant)
rounds() {
	awk -v s="$1" -v v="$2" -v c="$3" '$1 != s { next } { x = c == "cpu" ? $4 + $5 : $3 }
		$2 == "unconfined" { last = x } $2 == v && last > 0 && x > 0 { printf "%.2f ", c == "cpu" ? last / x : x / last }' "$work/out"
}
rmedian() { tr ' ' '\n' | grep . | median; }
echo "Throughput and CPU ratios are medians of the per-round ratios (listed); CPU µs/req medians, server+client."
echo
echo "| service (client) | unconfined | confined | ratio | per-round ratios | CPU µs/req unconfined | confined | CPU ratio | per-round CPU ratios | published port | ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for s in $services; do
	client=$(case $s in nginx) echo "wrk, req/s" ;; redis) echo "redis-benchmark get+set, req/s" ;; postgres) echo "pgbench -S, tps" ;; esac)
	rs=$(rounds $s confined 3) cs=$(rounds $s confined cpu) ps=$(rounds $s published 3)
	awk -v s="$s ($client)" -v u="$(col $s unconfined 3)" -v c="$(col $s confined 3)" -v p="$(col $s published 3)" -v rs="$rs" -v cs="$cs" \
		-v r="$(echo "$rs" | rmedian)" -v cr="$(echo "$cs" | rmedian)" -v pr="$(echo "$ps" | rmedian)" \
		-v uc="$(cpu $s unconfined)" -v cc="$(cpu $s confined)" -v us="$(col $s unconfined 4)" -v uw="$(col $s unconfined 5)" -v cs2="$(col $s confined 4)" -v cw="$(col $s confined 5)" \
		'BEGIN{printf "| %s | %.0f | %.0f | %.2f× | %s| %.1f (%.1f+%.1f) | %.1f (%.1f+%.1f) | %.2f× | %s| %.0f | %.2f× |\n", s, u, c, r, rs, uc, us, uw, cc, cs2, cw, cr, cs, p, pr}'
done
[ -z "${KEEP:-}" ] || cp "$work/out" "${KEEP}"
