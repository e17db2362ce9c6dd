#!/usr/bin/env bash
# A restart inside a running stack: the supervisor's own spawn of a component, timed by
# the supervisor's trace (CONFINE_TRACE=1), against bwrap's start-to-exit of the same
# static /true in the same run. The stack holds one component, bench/run.sh's /true under
# its full policy (seven namespaces, the default seccomp filter, Landlock, uid 1000, a
# cgroup with limits, its firewall) on the stack's bridge. `confine start` asks the
# running supervisor for each spawn; its own start is not in the figures: they run from
# the supervisor's decision to spawn (component.once) to the component's exec
# (spawn to_exec) and to its exit being reaped and released (spawn to_exit). RUNS
# (default 40) spawns and as many bwrap runs, alternating in rounds of 5. BEFORE=PATH
# also times another confine binary (e.g. one built from main) in the same rounds; as
# its trace may lack the spawn's own lines, both are also timed from the start of
# sandbox.Start (its first step, ids) to the go signal's answer (go_until_exec: the exec)
# and to the release. Needs root. Prints Markdown tables of medians and the per-step
# medians of the trace.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-40}
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
for p in bubblewrap hyperfine jq gcc libc6-dev; do need "$p"; done
work=$(mktemp -d /tmp/confine-bench-XXXX)
name=benchrestart$$
bins=()
cleanup() {
	for b in "${bins[@]}"; do "$work/confine" down --grace 1s "$name-$b" >/dev/null 2>&1 || true; done
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
go build -o "$work/confine" ./cmd/confine
bins=(now)
if [ -n "${BEFORE:-}" ]; then
	cp "$BEFORE" "$work/confine.before"
	bins+=(before)
fi
exe() { if [ "$1" = now ]; then echo "$work/confine"; else echo "$work/confine.$1"; fi; }
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
net=75
for b in "${bins[@]}"; do
	printf 'version: 1\nname: %s\nsubnet: 10.%d.0.0/24\ncomponents: [true.yaml]\n' "$name-$b" "$net" >"$work/stack-$b.yaml"
	net=$((net - 1))
	CONFINE_TRACE=1 "$(exe "$b")" up -d "$work/stack-$b.yaml" >/dev/null
done
log() { echo "/run/confine/stacks/$name-$1.log"; }
exited() { [ "$("$(exe "$1")" ps --json "$name-$1" | jq -r '.[0].state')" = exited ]; }
# spawn BIN: one `confine start` of the exited component, then wait until the run has
# exited, been released, and the supervisor says so.
spawn() {
	local before l
	l=$(log "$1")
	until exited "$1"; do sleep 0.02; done
	before=$(grep -c 'parent release' "$l" || true)
	"$(exe "$1")" start "$name-$1" true >/dev/null 2>&1 || true # "exited at once" when it beats the answer
	until [ "$(grep -c 'parent release' "$l" || true)" -gt "$before" ]; do sleep 0.02; done
}
for b in "${bins[@]}"; do spawn "$b"; done # warm-up: the first spawn of each ran at up
: >"$work/bwrap"
for ((done = 0; done < runs; done += 5)); do
	hyperfine -N --runs 5 --export-json "$work/h.json" \
		"bwrap --unshare-all --die-with-parent --new-session --ro-bind $work/rootfs / /true" >/dev/null 2>&1
	jq -r '.results[0].times[] * 1000000 | floor' "$work/h.json" >>"$work/bwrap"
	for b in "${bins[@]}"; do
		for ((i = 0; i < 5; i++)); do spawn "$b"; done
	done
done
"$work/confine" logs "$name-now" true >"$work/init" 2>&1 || true
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%d\n", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
# step WHO NAME FILE: the median of a trace step's durations (µs), past the warm-up.
step() { awk -v w="$1" -v n="$2" '$1 == "confine-trace" && $2 == w && $3 == n { print $4 }' "$3" | tail -n "$runs" | median; }
# launch KIND FILE: per spawn, from the start of ids to the end of go_until_exec (exec)
# or of release (exit), in µs; the last RUNS spawns.
launch() {
	awk -v k="$1" '$1 == "confine-trace" && $2 == "parent" {
		end = ($6 == "@" ? $7 : substr($6, 2)) + 0 # "@ 123 µs" or "@1234567 µs"
		if ($3 == "ids") s = end - $4
		if ($3 == "go_until_exec" && k == "exec" && s) print end - s
		if ($3 == "release" && k == "exit" && s) { print end - s; s = 0 }
	}' "$2" | tail -n "$runs" | median
}
bw=$(median <"$work/bwrap")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $runs spawns of each binary and $(wc -l <"$work/bwrap") bwrap runs, alternating in rounds of 5; medians"
echo
echo "| what | median | ratio to bwrap |"
echo "| --- | --- | --- |"
row() { awk -v d="$1" -v t="$2" -v b="$bw" 'BEGIN { if (t != "") printf "| %s | %.2f ms | %.2f× |\n", d, t / 1000, t / b }'; }
row "bwrap start-to-exit of /true (baseline)" "$bw"
row "now: spawn, decision to the component's exec (spawn to_exec)" "$(step spawn to_exec "$(log now)")"
row "now: spawn, decision to exit reaped and released (spawn to_exit)" "$(step spawn to_exit "$(log now)")"
for b in "${bins[@]}"; do
	row "$b: Start to exec (ids … go_until_exec)" "$(launch exec "$(log "$b")")"
	row "$b: Start to exit released (ids … release)" "$(launch exit "$(log "$b")")"
done
echo
echo "| step | $(printf '%s | ' "${bins[@]}")who |"
echo "| --- | $(printf -- '--- | %.0s' "${bins[@]}")--- |"
for s in ids sweep_roots cgroup_sweep cgroup_reuse cgroup_create cgroup_make render_c_stage clone spawn idmap send_config nftables cgroup_open_tasks cgroup_attach attach attach_bridge attach_nflog cgroup_wait go_until_exec wait release; do
	line="| $s |"
	for b in "${bins[@]}"; do v=$(step parent "$s" "$(log "$b")"); line+=" ${v:--} µs |"; done
	echo "$line supervisor |"
done
for s in runtime_start config loopback sysctls mounts capabilities landlock wait_parent seccomp; do
	v=$(step init "$s" "$work/init")
	[ -z "$v" ] || echo "| $s | $v µs |$(printf ' |%.0s' "${bins[@]:1}") init stage (now) |"
done
[ -z "${KEEP:-}" ] || echo "raw: $work"
