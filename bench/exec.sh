#!/usr/bin/env bash
# Start-to-exit of `confine exec` into a running component (a static probe that exits at
# once), against nsenter -a joining the same namespaces with no enforcement at all (the
# floor of a join), and against `confine run` of the same policy (a fresh sandbox: what
# health.exec cost before it joined). Needs root. Prints a Markdown table; ratios are
# against nsenter, medians of RUNS (default 40) runs each, all in one hyperfine run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-40}
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
for p in hyperfine jq util-linux; do need "$p"; done
work=$(mktemp -d /tmp/confine-bench-exec-XXXX)
chmod 755 "$work"
stack=benchexec$$
trap '"$work/confine" down --grace 1s "$stack" >/dev/null 2>&1 || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
go build -o "$work/confine" ./cmd/confine
CGO_ENABLED=0 go build -o "$work/probe" ./tests/probe
cat > "$work/app.yaml" <<YAML
version: 1
name: app
run: {command: [$work/probe, "sleep:"], user: "1000"}
filesystem: {read: [$work/probe]}
syscalls: {extends: default}
resources: {memory: 64Mi, pids: 16}
YAML
sed 's#"sleep:"#"exit:0"#' "$work/app.yaml" > "$work/once.yaml"
printf 'version: 1\nname: %s\nsubnet: 10.122.9.0/24\ncomponents: [app.yaml]\n' "$stack" > "$work/stack.yaml"
"$work/confine" up -d "$work/stack.yaml" --audit-log "$work/audit.log" >/dev/null
pid=$("$work/confine" ps --json "$stack" | jq '.[0].pid')
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/times.json" \
	-n nsenter "nsenter -t $pid -a $work/probe exit:0" \
	-n "confine exec" "$work/confine exec $stack app -- $work/probe exit:0" \
	-n "confine run" "$work/confine run $work/once.yaml" >/dev/null
base=$(jq '.results[] | select(.command=="nsenter") | .median' "$work/times.json")
echo "| command | median | mean | stddev | ratio to nsenter (median) |"
echo "| --- | --- | --- | --- | --- |"
jq -r --argjson b "$base" '.results[] | "| \(.command) | \(.median*1000*100|round/100) ms | \(.mean*1000*100|round/100) ms | \(.stddev*1000*100|round/100) ms | \(.median/$b*100|round/100)× |"' "$work/times.json"
