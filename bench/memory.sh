#!/usr/bin/env bash
# Memory of confine's supervisors against bwrap, measured in the same run. Needs root.
#  - A lone `confine run` of a static /pause under bench/run.sh's full policy, while the
#    component sleeps: VmRSS and PSS (smaps_rollup) of the supervisor, and of bwrap's
#    processes for the same /pause.
#  - A stack of COMPONENTS (default 50) tests/probe components serving tcp/9000 and
#    sleeping, chained as in bench/stack.sh, and a stack of one: PSS of every process
#    running the confine binary (the supervisor, and any helper it keeps per component),
#    divided by the number of components, and the extra PSS per extra component; against
#    COMPONENTS bwrap sandboxes of /pause (PSS of all bwrap processes, per sandbox).
# BEFORE=PATH also measures another confine binary, BEFORE=REV one built here from a git
# revision (e.g. main), in the same rounds, alternating. The binary's page cache decides
# how much of it the kernel maps per touch (whole large folios): COLD=1 drops the binaries' cached pages before
# each measurement, so that they are read from disk as after a reboot; by default they
# stay as the build wrote them. ROUNDS (default 3) rounds; medians. SETTLE (default 2)
# seconds before each reading (a supervisor trims 1 s after its last launch, and again
# after a later garbage collection; SETTLE=130 reads after the runtime's forced one).
# SMAPS=1 KEEP=1 keeps each supervisor's smaps. Prints Markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${COMPONENTS:-50}
rounds=${ROUNDS:-3}
settle=${SETTLE:-2} # seconds to let each supervisor settle before reading
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
for p in bubblewrap jq gcc libc6-dev; do need "$p"; done
work=$(mktemp -d /tmp/confine-bench-XXXX)
chmod 755 "$work"
stacks=() pids=()
cleanup() {
	for s in "${stacks[@]}"; do "$work/confine" down --grace 1s "$s" >/dev/null 2>&1 || true; done
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
go build -o "$work/confine" ./cmd/confine
bins=(now)
if [ -f "${BEFORE:-}" ]; then
	cp "$BEFORE" "$work/confine.before"
	bins+=(before)
elif [ -n "${BEFORE:-}" ]; then # a revision: built here, so that its page cache is as a build leaves it
	mkdir "$work/before-src"
	git archive "$BEFORE" | tar -x -C "$work/before-src"
	(cd "$work/before-src" && go build -o "$work/confine.before" ./cmd/confine)
	bins+=(before)
fi
exe() { if [ "$1" = now ]; then echo "$work/confine"; else echo "$work/confine.$1"; fi; }
cold() { [ -z "${COLD:-}" ] || dd if="$(exe "$1")" iflag=nocache count=0 status=none; }
CGO_ENABLED=0 go build -o "$work/probe" ./tests/probe
mkdir -p "$work/rootfs"
printf '#include <unistd.h>\nint main(void){pause();return 0;}\n' >"$work/pause.c"
gcc -static -O2 -o "$work/rootfs/pause" "$work/pause.c"
cat >"$work/pause.yaml" <<YAML
version: 1
name: benchmem$$
run: {command: [/pause], rootfs: $work/rootfs, user: "1000"}
filesystem: {read: [/pause]}
syscalls: {extends: default}
resources: {memory: 64Mi, pids: 16, cpu: 0.5}
YAML
component() { # component NAME NETWORK PROBE... writes NAME.yaml
	local name=$1 net=$2 args=""
	shift 2
	for a in "$work/probe" "$@"; do args+="${args:+, }\"$a\""; done
	printf 'version: 1\nname: %s\nrun:\n  command: [%s]\n  user: "1000"\n%sfilesystem: {read: [%s]}\nsyscalls: {extends: default}\n' \
		"$name" "$args" "$net" "$work/probe" >"$work/$name.yaml"
}
stack() { # stack NAME SUBNET MEMBER... writes NAME.yaml
	local name=$1 subnet=$2 members=""
	shift 2
	for m in "$@"; do members+="${members:+, }$m.yaml"; done
	printf 'version: 1\nname: %s\nsubnet: %s\ncomponents: [%s]\n' "$name" "$subnet" "$members" >"$work/$name.yaml"
}
big=benchmem$$-$n one=benchmem$$-1
members=()
for ((i = 1; i <= n; i++)); do
	c=$(printf 'm%02d' "$i") next=$(printf 'm%02d' $((i + 1))) prev=$(printf 'm%02d' $((i - 1)))
	net=$'network:\n  listen: [{port: 9000/tcp'
	if ((i > 1)); then net+=", from: [$prev]"; else net+=", from: [host]"; fi
	net+=$'}]\n'
	((i < n)) && net+="  connect: [{to: \"$next:9000/tcp\"}]"$'\n'
	component "$c" "$net" serve:tcp/9000 sleep:
	members+=("$c")
done
stack "$big" 10.78.0.0/24 "${members[@]}"
component solo $'network:\n  listen: [{port: 9000/tcp, from: [host]}]\n' serve:tcp/9000 sleep:
stack "$one" 10.78.1.0/24 solo

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/$3"; } # kib PID FIELD FILE
pss() { kib "$1" Pss smaps_rollup; }
rss() { kib "$1" VmRSS status; }
# tree PID EXE: PID and its descendants that run EXE.
tree() {
	local p=$1 exe=$2 c
	[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$exe" ] && echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c" "$exe"; done
}
sum() { local t=0 p; for p in "$@"; do t=$((t + $(pss "$p"))); done; echo "$t"; }
: >"$work/results"
record() { echo "$1 $2" >>"$work/results"; }

lone() { # lone BIN
	cold "$1"
	"$(exe "$1")" run "$work/pause.yaml" &
	local c=$!
	bwrap --unshare-all --die-with-parent --new-session --ro-bind "$work/rootfs" / /pause &
	local b=$!
	pids+=("$c" "$b")
	sleep "$settle"
	local bw
	mapfile -t bw < <(tree "$b" "$(command -v bwrap)")
	record "$1_lone_rss" "$(rss "$c")"
	record "$1_lone_anon" "$(kib "$c" RssAnon status)"
	record "$1_lone_file" "$(kib "$c" RssFile status)"
	record "$1_lone_pss" "$(pss "$c")"
	[ -z "${SMAPS:-}" ] || cp "/proc/$c/smaps" "$work/smaps.$1.lone"
	record lone_bwrap_rss "$(rss "$b")"
	record lone_bwrap_pss "$(sum "${bw[@]}")"
	record lone_bwrap_procs "${#bw[@]}"
	kill -9 "$c" "$b"
	wait "$c" "$b" 2>/dev/null || true
	pids=()
}

# up BIN NAME COUNT LABEL: brings the stack up, records the PSS of its confine processes.
up() {
	local out sup procs bin=$1
	shift
	cold "$bin"
	stacks+=("$1")
	out=$("$(exe "$bin")" up -d "$work/$1.yaml")
	sup=$(sed -n 's/.*supervisor pid \([0-9]*\).*/\1/p' <<<"$out")
	running=$("$work/confine" ps --json "$1" | jq '[.[] | select(.state == "running")] | length')
	if [ "$running" != "$2" ]; then
		echo "memory.sh: $1: $running of $2 components run; see /run/confine/stacks/$1.log" >&2
		exit 1
	fi
	sleep "$settle"
	mapfile -t procs < <(tree "$sup" "$(exe "$bin")")
	record "${bin}_$3_pss" "$(sum "${procs[@]}")"
	record "${bin}_$3_rss" "$(rss "$sup")"
	record "${bin}_$3_procs" "${#procs[@]}"
	[ -z "${SMAPS:-}" ] || cp "/proc/$sup/smaps" "$work/smaps.$bin.$3"
	"$(exe "$bin")" down --grace 1s "$1" >/dev/null
	unset 'stacks[-1]'
}

bwraps() { # N bwrap sandboxes of /pause at once
	local i all=() b
	for ((i = 0; i < n; i++)); do
		bwrap --unshare-all --die-with-parent --new-session --ro-bind "$work/rootfs" / /pause &
		pids+=($!)
	done
	sleep "$settle"
	for b in "${pids[@]}"; do mapfile -t -O "${#all[@]}" all < <(tree "$b" "$(command -v bwrap)"); done
	record bwrapn_pss "$(sum "${all[@]}")"
	record bwrapn_procs "${#all[@]}"
	kill -9 "${pids[@]}"
	wait 2>/dev/null || true
	pids=()
}

for ((r = 1; r <= rounds; r++)); do
	for b in "${bins[@]}"; do
		lone "$b"
		up "$b" "$one" 1 one
		up "$b" "$big" "$n" big
	done
	bwraps
done

median() { # median KEY
	awk -v k="$1" '$1 == k { print $2 }' "$work/results" | sort -g |
		awk '{ a[NR] = $1 } END { printf "%d\n", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
mib() { awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
cache="as the build left it"
[ -z "${COLD:-}" ] || cache="dropped before each measurement"
lb=$(median lone_bwrap_rss) lbp=$(median lone_bwrap_pss) bp=$(median bwrapn_pss)
per_b=$((bp / n))
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); rounds: $rounds; medians; page cache: $cache"
echo
echo "| lone run, while /pause sleeps | VmRSS | ratio | anonymous + file | PSS | ratio |"
echo "| --- | --- | --- | --- | --- | --- |"
echo "| bwrap ($(median lone_bwrap_procs) processes; RSS of the outer one) (baseline) | $(mib "$lb") | 1× | | $(mib "$lbp") | 1× |"
for b in "${bins[@]}"; do
	lc=$(median "${b}_lone_rss") lcp=$(median "${b}_lone_pss")
	echo "| \`confine run\` supervisor ($b) | $(mib "$lc") | $(ratio "$lc" "$lb") | $(mib "$(median "${b}_lone_anon")") + $(mib "$(median "${b}_lone_file")") | $(mib "$lcp") | $(ratio "$lcp" "$lbp") |"
done
echo
echo "| $n sandboxes at once | processes | PSS in all | PSS per component | ratio |"
echo "| --- | --- | --- | --- | --- |"
echo "| $n bwrap sandboxes of /pause (baseline) | $(median bwrapn_procs) bwrap | $(mib "$bp") | $(mib "$per_b") | 1× |"
for b in "${bins[@]}"; do
	bigp=$(median "${b}_big_pss") onep=$(median "${b}_one_pss")
	per_c=$((bigp / n)) extra=$(((bigp - onep) / (n - 1)))
	echo "| stack of 1 ($b; supervisor RSS $(mib "$(median "${b}_one_rss")")) | $(median "${b}_one_procs") confine | $(mib "$onep") | $(mib "$onep") | $(ratio "$onep" "$per_b") |"
	echo "| stack of $n ($b; supervisor RSS $(mib "$(median "${b}_big_rss")")) | $(median "${b}_big_procs") confine | $(mib "$bigp") | $(mib "$per_c") | $(ratio "$per_c" "$per_b") |"
	echo "| each extra component ($b): (PSS($n) − PSS(1)) / $((n - 1)) | | | $(mib "$extra") | $(ratio "$extra" "$per_b") |"
done
[ -z "${KEEP:-}" ] || echo "raw results: $work/results"
