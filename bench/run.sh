#!/usr/bin/env bash
# Start-to-exit of a static /true under a full policy (all namespaces, seccomp, Landlock,
# capabilities, a cgroup, the firewall), against bwrap and crun in the same run, and the
# resident memory of the supervisor while a sandbox runs. Needs root. Prints a Markdown
# table; ratios are against bwrap. Besides `confine run FILE` it times `run --plan` (a
# Plan compiled beforehand), `confine compile` alone, and bench/floor: a Go program that
# re-executes itself in the same seven namespaces and execs /true, nothing else, which is
# the floor of this architecture. CONFINE_TRACE=1 confine run … shows the steps. confine
# runs its C init stage (sandbox/stage); the "Go init" rows run the Go one through
# `env CONFINE_STAGE=go`, whose own exec the "env" row measures. The "no cgroup" row runs
# the same Plan without resources: on a v1 host the attach's RCU grace period shows as
# the difference.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-100}
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
for p in bubblewrap crun hyperfine jq gcc libc6-dev; do need "$p"; done
work=$(mktemp -d /tmp/confine-bench-XXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
# As `make build` builds them: confine-full with the Makefile's BUILD_FLAGS (static), unless
# CONFINE_BUILD_FLAGS says otherwise, and confine, the slim binary that runs `confine run` and
# hands every other command to confine-full, paired with it as the Makefile's PAIR does
# (CONFINE_SLIM=off sends runs to confine-full as well).
go build ${CONFINE_BUILD_FLAGS-$(sed -n 's/^BUILD_FLAGS := //p' Makefile)} -o "$work/confine-full" ./cmd/confine
pair=$(go tool buildid "$work/confine-full" | sed 's|.*/||' | head -c 16 | od -An -v -tx1 | tr -d ' \n')
go build ${CONFINE_SLIM_FLAGS-$(sed -n 's/^SLIM_FLAGS := //p' Makefile)} -ldflags="-extldflags=-static -B 0x$pair" -o "$work/confine" ./cmd/confine
go build -o "$work/floor" ./bench/floor
mkdir -p "$work/rootfs" "$work/bundle"
printf 'int main(void){return 0;}\n' > "$work/true.c"
printf '#include <unistd.h>\nint main(void){pause();return 0;}\n' > "$work/pause.c"
gcc -static -O2 -o "$work/rootfs/true" "$work/true.c"
gcc -static -O2 -o "$work/rootfs/pause" "$work/pause.c"
cat > "$work/true.yaml" <<YAML
version: 1
name: bench
run: {command: [/true], rootfs: $work/rootfs, user: "1000"}
filesystem: {read: [/true, /pause]}
syscalls: {extends: default}
resources: {memory: 64Mi, pids: 16, cpu: 0.5}
YAML
sed 's#command: \[/true\]#command: [/pause]#' "$work/true.yaml" > "$work/pause.yaml"
grep -v '^resources:' "$work/true.yaml" > "$work/nocg.yaml"
"$work/confine" compile "$work/true.yaml" --format json > "$work/true.plan.json"
"$work/confine" compile "$work/nocg.yaml" --format json > "$work/nocg.plan.json"
# crun: a bundle over the same rootfs, with its default (runc-like) config.
(cd "$work/bundle" && crun spec >/dev/null)
jq --arg root "$work/rootfs" '.root.path=$root | .root.readonly=true | .process.args=["/true"] | .process.terminal=false' \
	"$work/bundle/config.json" > "$work/bundle/c.json" && mv "$work/bundle/c.json" "$work/bundle/config.json"
cmds=(-n direct "$work/rootfs/true"
	-n bwrap "bwrap --unshare-all --die-with-parent --new-session --ro-bind $work/rootfs / /true"
	-n floor "$work/floor $work/rootfs/true"
	-n "confine compile" "$work/confine compile $work/true.yaml --format bpf"
	-n confine "$work/confine run $work/true.yaml"
	-n "confine --plan" "$work/confine run --plan $work/true.plan.json"
	-n "confine --plan, no cgroup" "$work/confine run --plan $work/nocg.plan.json"
	-n env "env CONFINE_STAGE=go $work/rootfs/true"
	-n "confine (Go init)" "env CONFINE_STAGE=go $work/confine run $work/true.yaml"
	-n "confine --plan (Go init)" "env CONFINE_STAGE=go $work/confine run --plan $work/true.plan.json")
# crun 1.8 refuses v1/hybrid cgroup hosts ("cgroups in hybrid mode not supported").
if crun run --bundle "$work/bundle" bench-probe >/dev/null 2>&1; then
	cmds+=(-n crun "crun run --bundle $work/bundle bench-{run}")
else
	echo "crun: $(crun run --bundle "$work/bundle" bench-probe 2>&1 | tail -1); left out" >&2
fi
hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/times.json" "${cmds[@]}" >/dev/null
bwrap_mean=$(jq '.results[] | select(.command=="bwrap") | .mean' "$work/times.json")
bwrap_median=$(jq '.results[] | select(.command=="bwrap") | .median' "$work/times.json")
# CPU time (user + system, the command and what it waited for) counts work, not waits:
# it moves less than wall time on a loaded machine, but leaves out sleeps such as the v1
# cgroup attach's grace period.
bwrap_cpu=$(jq '.results[] | select(.command=="bwrap") | .user + .system' "$work/times.json")
echo "| command | mean | stddev | median | ratio to bwrap (mean) | ratio to bwrap (median) | CPU (user+sys) | CPU ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
jq -r --argjson b "$bwrap_mean" --argjson bm "$bwrap_median" --argjson bc "$bwrap_cpu" '.results[] | "| \(.command) | \(.mean*1000*100|round/100) ms | \(.stddev*1000*100|round/100) ms | \(.median*1000*100|round/100) ms | \(.mean/$b*100|round/100)× | \(.median/$bm*100|round/100)× | \((.user+.system)*1000*100|round/100) ms | \((.user+.system)/$bc*100|round/100)× |"' "$work/times.json"
# The same commands interleaved, round by round (bench/rr): on a loaded, shared machine
# hyperfine's one-command-after-another lets the load drift between commands; here it
# weighs on every command of a round alike.
go build -o "$work/rr" ./bench/rr
echo
"$work/rr" "$runs" "bwrap=bwrap --unshare-all --die-with-parent --new-session --ro-bind $work/rootfs / /true" \
	"floor=$work/floor $work/rootfs/true" \
	"confine=$work/confine run $work/true.yaml" \
	"confine --plan=$work/confine run --plan $work/true.plan.json" \
	"confine --plan, no cgroup=$work/confine run --plan $work/nocg.plan.json" \
	"confine --plan (env)=env CONFINE_SLIM=on $work/confine run --plan $work/true.plan.json" \
	"confine --plan, full binary (env)=env CONFINE_SLIM=off $work/confine run --plan $work/true.plan.json" \
	"confine (Go init)=env CONFINE_STAGE=go $work/confine run $work/true.yaml" \
	"confine --plan (Go init)=env CONFINE_STAGE=go $work/confine run --plan $work/true.plan.json" \
	"confine --plan, no cgroup (Go init)=env CONFINE_STAGE=go $work/confine run --plan $work/nocg.plan.json"
# Resident memory of the supervisor while its sandbox sleeps, against bwrap's.
rss() { awk '/VmRSS/ {r=$2} /RssAnon/ {a=$2} /RssFile/ {f=$2} END {print r " KiB (anon " a ", file " f ")"}' "/proc/$1/status"; }
"$work/confine" run "$work/pause.yaml" & c=$!
bwrap --unshare-all --die-with-parent --new-session --ro-bind "$work/rootfs" / /pause & b=$!
sleep 1
echo
echo "| supervisor | resident memory while its sandbox runs |"
echo "| --- | --- |"
echo "| bwrap | $(rss $b) |"
echo "| confine run | $(rss $c) |"
kill -9 "$c" "$b" 2>/dev/null || true
wait 2>/dev/null || true
