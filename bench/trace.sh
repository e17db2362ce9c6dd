#!/usr/bin/env bash
# Per-step start-up times: runs COMMAND N times with CONFINE_TRACE=1 and prints, for each
# step of the trace (internal/trace), the median and mean duration and the median end, in
# µs from the supervisor's main, as Markdown rows.
#	bench/trace.sh N confine run --plan PLAN.json
set -uo pipefail
n=$1; shift
for i in $(seq $n); do CONFINE_TRACE=1 "$@" 2>&1 >/dev/null | grep confine-trace; done | awk '
{ who=$2; name=$3; d=$4; e=$(NF-1); key=who" "name; D[key]=D[key]" "d; E[key]=E[key]" "e; if (!(key in order)) {order[key]=++k; keys[k]=key} }
function med(s,   a, n, i, j, t) { n=split(s, a, " "); for (i=1;i<=n;i++) for (j=i+1;j<=n;j++) if (a[j]+0<a[i]+0) {t=a[i];a[i]=a[j];a[j]=t}; return a[int((n+1)/2)] }
function mean(s,  a, n, i, t) { n=split(s, a, " "); t=0; for (i=1;i<=n;i++) t+=a[i]; return int(t/n) }
END { for (i=1;i<=k;i++) { key=keys[i]; printf "| %s | %s | %s | %s |\n", key, med(D[key]), mean(D[key]), med(E[key]) } }'
