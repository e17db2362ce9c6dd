#!/usr/bin/env bash
# Per-step start-up times of two or more builds side by side: runs `DIR/confine run
# --plan PLAN` N rounds with CONFINE_TRACE=1, the builds alternating in each round (a
# drifting load weighs on all alike), and prints a Markdown table of each trace step's
# median duration and median end, in µs from the supervisor's main, per build.
#	bench/tracecmp.sh N PLAN DIR...    (each DIR holds a confine and its confine-full, as make build writes them)
set -uo pipefail
n=$1 plan=$2; shift 2
for i in $(seq "$n"); do
	for d in "$@"; do
		CONFINE_TRACE=1 "$d/confine" run --plan "$plan" 2>&1 >/dev/null | grep confine-trace | sed "s|^|$i:$d |"
	done
done | awk -v dirs="$*" '
function med(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
{ split($1, r, ":"); d = substr($1, length(r[1]) + 2); key = $3 " " $4
  D[d, key] = D[d, key] " " $5; E[d, key] = E[d, key] " " $(NF-1); if (!(key in seen)) { seen[key] = 1; keys[++k] = key } }
END {
	m = split(dirs, N, " ")
	hdr = "| step"; sep = "| ---"
	for (j = 1; j <= m; j++) { hdr = hdr " | " N[j] ": median | end"; sep = sep " | --- | ---" }
	print hdr " |"; print sep " |"
	for (i = 1; i <= k; i++) {
		key = keys[i]; row = "| " key
		for (j = 1; j <= m; j++) row = row (((N[j], key) in D) ? " | " med(D[N[j], key]) " | " med(E[N[j], key]) : " | — | —")
		print row " |"
	}
}'
