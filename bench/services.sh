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
# supervisor's userspace proxy, from the host's loopback) for comparison. ROUNDS
# (default 3) rounds alternate the variants; DURATION (default 5) seconds each.
# Prints medians and same-run ratios. Needs root and make deps.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
dur=${DURATION:-5}
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

wrkrate() { awk '/Requests\/sec/{print $2}'; }
pgrate() { awk '/^tps/{print $3}'; }
rb() { # PORT [PREFIX...]: the mean of GET's and SET's rates
	local port=$1
	shift
	"$@" redis-benchmark -q -n 100000 -c 50 -t get,set -h 127.0.0.1 -p "$port" | tr '\r' '\n' |
		awk '/requests per second/{for(i=1;i<=NF;i++) if($(i+1)=="requests") {s+=$i; n++}} END{printf "%.0f\n", s/n}'
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

# nginx
nport=$(freeport)
example nginx "$sn-nginx" "$nport"
mkdir -p "$work/nginx/data/log" "$work/nginx/data/lib" "$work/ngx/log" "$work/ngx/lib"
npid=$(up "$sn-nginx" "$work/nginx")
ip netns exec "$ns" setsid unshare -m sh -c "mount --bind $work/ngx/log /var/log/nginx && mount --bind $work/ngx/lib /var/lib/nginx && mount -t tmpfs tmpfs /run && exec /usr/sbin/nginx -g 'daemon off;'" &
pids+=($!)
sleep 1
for r in $(seq "$rounds"); do
	echo "nginx unconfined $(inns wrk -t2 -c32 -d"${dur}s" http://127.0.0.1:80/ | wrkrate)"
	echo "nginx confined $(incomp "$npid" wrk -t2 -c32 -d"${dur}s" http://127.0.0.1:80/ | wrkrate)"
	echo "nginx published $(wrk -t2 -c32 -d"${dur}s" http://127.0.0.1:$nport/ | wrkrate)"
done | tee -a "$work/out" >&2
stop "$sn-nginx"

# redis
rport=$(freeport)
example redis "$sn-redis" "$rport"
install -d -o "$ruid" -g "$rgid" "$work/redis/data" "$work/rdx"
rpid=$(up "$sn-redis" "$work/redis")
ip netns exec "$ns" setsid runuser -u redis -- /usr/bin/redis-server /etc/redis/redis.conf --daemonize no --supervised no --bind 127.0.0.1 --logfile "" --pidfile "" --dir "$work/rdx" >/dev/null &
pids+=($!)
sleep 1
for r in $(seq "$rounds"); do
	echo "redis unconfined $(rb 6379 ip netns exec "$ns")"
	echo "redis confined $(rb 6379 nsenter --net=/proc/"$rpid"/ns/net)"
	echo "redis published $(rb "$rport")"
done | tee -a "$work/out" >&2
stop "$sn-redis"

# postgres: two clusters, each made by initdb, trust over TCP (the benchmark measures
# queries, not authentication)
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
	echo "postgres unconfined $(inns "$pgbin/pgbench" -S -c 8 -j 2 -T "$dur" "$pgconn" 2>/dev/null | pgrate)"
	echo "postgres confined $(incomp "$ppid_" "$pgbin/pgbench" -S -c 8 -j 2 -T "$dur" "$pgconn" 2>/dev/null | pgrate)"
	echo "postgres published $("$pgbin/pgbench" -S -c 8 -j 2 -T "$dur" -h 127.0.0.1 -p "$pport" -U postgres postgres 2>/dev/null | pgrate)"
done | tee -a "$work/out" >&2
stop "$sn-pg"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| service (client) | unconfined | confined | ratio | published port | ratio |"
echo "| --- | --- | --- | --- | --- | --- |"
for s in nginx redis postgres; do
	u=$(awk -v s=$s '$1==s && $2=="unconfined"{print $3}' "$work/out" | median)
	c=$(awk -v s=$s '$1==s && $2=="confined"{print $3}' "$work/out" | median)
	p=$(awk -v s=$s '$1==s && $2=="published"{print $3}' "$work/out" | median)
	client=$(case $s in nginx) echo "wrk, req/s" ;; redis) echo "redis-benchmark get+set, req/s" ;; postgres) echo "pgbench -S, tps" ;; esac)
	awk -v s="$s ($client)" -v u="$u" -v c="$c" -v p="$p" 'BEGIN{printf "| %s | %.0f | %.0f | %.2f× | %.0f | %.2f× |\n", s, u, c, c/u, p, p/u}'
done
