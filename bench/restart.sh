#!/usr/bin/env bash
# A restart inside a running stack: the supervisor's own spawn of a component, timed by
# the supervisor's trace (CONFINE_TRACE=1), against bwrap's start-to-exit of the same
# static /true in the same run. The stack holds one component, bench/run.sh's /true under
# its full policy (seven namespaces, the default seccomp filter, Landlock, uid 1000, a
# cgroup with limits, its firewall) on the stack's bridge. `confine start` asks the
# running supervisor for each spawn; its own start is not in the figures: they run from
# the supervisor's decision to spawn (component.once) to the component's exec
# (spawn to_exec) and to its exit being reaped and released (spawn to_exit). RUNS
# (default 40) spawns and as many bwrap runs, alternating in rounds of 5. Needs root.
# Prints a Markdown table of medians and the per-step medians of the trace.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-40}
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
for p in bubblewrap hyperfine jq gcc libc6-dev; do need "$p"; done
work=$(mktemp -d /tmp/confine-bench-XXXX)
name=benchrestart$$
cleanup() {
	"$work/confine" down --grace 1s "$name" >/dev/null 2>&1 || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
go build -o "$work/confine" ./cmd/confine
mkdir -p "$work/rootfs/etc"
touch "$work/rootfs/etc/hosts" "$work/rootfs/etc/resolv.conf" # the stack mounts its own over them
printf 'int main(void){return 0;}\n' >"$work/true.c"
gcc -static -O2 -o "$work/rootfs/true" "$work/true.c"
cat >"$work/true.yaml" <<YAML
version: 1
name: true
run: {command: [/true], rootfs: $work/rootfs, user: "1000"}
filesystem: {read: [/true]}
syscalls: {extends: default}
resources: {memory: 64Mi, pids: 16, cpu: 0.5}
YAML
printf 'version: 1\nname: %s\nsubnet: 10.76.0.0/24\ncomponents: [true.yaml]\n' "$name" >"$work/stack.yaml"
CONFINE_TRACE=1 "$work/confine" up -d "$work/stack.yaml" >/dev/null
log=/run/confine/stacks/$name.log
exited() { [ "$("$work/confine" ps --json "$name" | jq -r '.[0].state')" = exited ]; }
# spawn: one `confine start` of the exited component, then wait until the run has
# exited, been released, and the supervisor says so.
spawn() {
	local before
	until exited; do sleep 0.02; done
	before=$(grep -c 'spawn  to_exit' "$log" || true)
	"$work/confine" start "$name" true >/dev/null
	until [ "$(grep -c 'spawn  to_exit' "$log" || true)" -gt "$before" ]; do sleep 0.02; done
}
spawn # warm-up: the first spawn of the stack ran at up
: >"$work/bwrap"
for ((done = 0; done < runs; done += 5)); do
	hyperfine -N --runs 5 --export-json "$work/h.json" \
		"bwrap --unshare-all --die-with-parent --new-session --ro-bind $work/rootfs / /true" >/dev/null 2>&1
	jq -r '.results[0].times[] * 1000000 | floor' "$work/h.json" >>"$work/bwrap"
	for ((i = 0; i < 5; i++)); do spawn; done
done
"$work/confine" logs "$name" true >"$work/init" 2>&1 || true
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%d\n", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
# step WHO NAME FILE: the median of a trace step's durations (µs), past the warm-up.
step() { awk -v w="$1" -v n="$2" '$1 == "confine-trace" && $2 == w && $3 == n { print $4 }' "$3" | tail -n "$runs" | median; }
b=$(median <"$work/bwrap")
e=$(step spawn to_exec "$log") x=$(step spawn to_exit "$log")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $runs spawns and $(wc -l <"$work/bwrap") bwrap runs, alternating in rounds of 5; medians"
echo
echo "| what | median | ratio to bwrap |"
echo "| --- | --- | --- |"
awk -v b="$b" -v e="$e" -v x="$x" 'BEGIN {
	printf "| bwrap start-to-exit of /true (baseline) | %.2f ms | 1× |\n", b / 1000
	printf "| supervisor spawn: decision to the component'"'"'s exec | %.2f ms | %.2f× |\n", e / 1000, e / b
	printf "| supervisor spawn: decision to exit reaped and released | %.2f ms | %.2f× |\n", x / 1000, x / b
}'
echo
echo "| step | median | who |"
echo "| --- | --- | --- |"
for s in ids sweep_roots cgroup_sweep cgroup_create cgroup_make clone idmap send_config nftables cgroup_attach attach cgroup_wait go_until_exec wait release; do
	v=$(step parent "$s" "$log")
	[ -z "$v" ] || echo "| $s | $v µs | supervisor |"
done
for s in runtime_start config loopback sysctls mounts capabilities landlock wait_parent seccomp; do
	v=$(step init "$s" "$work/init")
	[ -z "$v" ] || echo "| $s | $v µs | init stage |"
done
[ -z "${KEEP:-}" ] || echo "raw: $work"
