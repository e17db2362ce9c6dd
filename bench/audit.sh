#!/usr/bin/env bash
# Denials through the whole audit path, with none lost: a component makes N (default
# 100,000) denied syscalls in a burst (seccomp errno, so the kernel logs each); the
# kernel's audit group, the supervisor's attribution and the hash-chained log must carry
# every one. Measured in the same run: the burst's own time with no stack reading it
# (`confine run` of the same component: the kernel still logs each denial), and the time
# until the last denial is in the log under `confine up`. Prints a Markdown table.
# Needs root; turns the kernel's audit on for the stack's life, as `up` does.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${DENIALS:-100000}
work=$(mktemp -d /tmp/confine-bench-XXXX)
chmod 755 "$work" # the component runs as uid 1000 and execs the probe from here
stack=benchaudit$$
cleanup() {
	"$work/confine" down --grace 1s "$stack" >/dev/null 2>&1 || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
go build -o "$work/confine" ./cmd/confine
CGO_ENABLED=0 go build -o "$work/probe" ./tests/probe
mount_nr=165 # x86_64: never allowed by the default profile

printf 'version: 1\nname: burst\nrun:\n  command: ["%s", "repeat:%d/syscall:%d", "sleep:"]\n  user: "1000"\nfilesystem: {read: ["%s"]}\nsyscalls: {extends: default}\n' \
	"$work/probe" "$n" "$mount_nr" "$work/probe" >"$work/burst.yaml"
sed 's/, "sleep:"//' "$work/burst.yaml" >"$work/alone.yaml"
printf 'version: 1\nname: %s\nsubnet: 10.97.0.0/24\ncomponents: [burst.yaml]\n' "$stack" >"$work/stack.yaml"

# Baseline: the burst alone, then the probe exits.
start=$(date +%s.%N)
"$work/confine" run --timeout 120s "$work/alone.yaml" >/dev/null 2>&1 || true
base=$(echo "$(date +%s.%N) - $start" | bc)

# The same burst under up, until every denial is in the log.
log=$work/audit.log
start=$(date +%s.%N)
"$work/confine" up -d --audit-log "$log" "$work/stack.yaml" >/dev/null
got=0
for _ in $(seq 1200); do
	got=$(grep -c '"kind":"denial".*"syscall":"mount"' "$log" || true)
	[ "$got" -ge "$n" ] && break
	sleep 0.1
done
total=$(echo "$(date +%s.%N) - $start" | bc)
"$work/confine" down --grace 1s "$stack" >/dev/null
lost=$(grep -c '"kind":"audit.lost"' "$log" || true)
"$work/confine" audit verify "$log" >/dev/null

printf '| denials | burst alone (confine run) | up until all logged | logged | audit.lost records | rate logged | ratio to the burst alone |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
printf '| %d | %.2f s | %.2f s | %d | %d | %.0f/s | %.2f× |\n' "$n" "$base" "$total" "$got" "$lost" \
	"$(echo "$got / $total" | bc -l)" "$(echo "$total / $base" | bc -l)"
