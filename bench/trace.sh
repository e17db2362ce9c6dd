#!/usr/bin/env bash
# Per-step start-up times, the C stage against the Go init: runs COMMAND N rounds with
# CONFINE_TRACE=1, each round once with CONFINE_STAGE=c and once with CONFINE_STAGE=go
# (interleaved, so a drifting load weighs on both alike), and prints a Markdown table of
# each trace step's median and mean duration and median end, in µs from the
# supervisor's main.
#	bench/trace.sh N confine run --plan PLAN.json
set -uo pipefail
n=$1; shift
for i in $(seq "$n"); do
	for mode in go c; do
		CONFINE_STAGE=$mode CONFINE_TRACE=1 "$@" 2>&1 >/dev/null | grep confine-trace | sed "s/^/$mode /"
	done
done | awk '
function med(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
function mean(s,   a, n, i, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) t += a[i]; return int(t / n) }
{ key = $3 " " $4; D[$1, key] = D[$1, key] " " $5; E[$1, key] = E[$1, key] " " $(NF-1); if (!(key in seen)) { seen[key] = 1; keys[++k] = key } }
END {
	print "| step | Go init: median (mean) | Go init: median end | C stage: median (mean) | C stage: median end |"
	print "| --- | --- | --- | --- | --- |"
	for (i = 1; i <= k; i++) {
		key = keys[i]; row = "| " key
		for (m = 1; m <= 2; m++) {
			mode = m == 1 ? "go" : "c"
			if ((mode, key) in D) row = row " | " med(D[mode, key]) " (" mean(D[mode, key]) ") | " med(E[mode, key])
			else row = row " | — | —"
		}
		print row " |"
	}
}'
