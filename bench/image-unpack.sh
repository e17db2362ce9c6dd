#!/bin/sh
# Unpack throughput of one gzip'd layer: confine's image store (both digests, the
# hostile-entry checks, openat2) against GNU `tar -xzf` of the same layer, alternated
# ROUNDS times in one run so both see the same machine. Prints each round and the ratio
# of the medians (confine MB/s over tar MB/s; the goal is >= 0.8).
set -eu
ROUNDS=${ROUNDS:-5}
GO=${GO:-go}
cd "$(dirname "$0")/.."
$GO test -c -o /tmp/image-bench.test ./image
out=$(mktemp)
i=0
while [ "$i" -lt "$ROUNDS" ]; do
	/tmp/image-bench.test -test.run '^$' -test.bench '^(BenchmarkUnpack|BenchmarkTarX)$' -test.benchtime 3x | grep MB/s | tee -a "$out"
	i=$((i + 1))
done
awk '/BenchmarkUnpack/ {u[nu++]=$(NF-1)} /BenchmarkTarX/ {t[nt++]=$(NF-1)}
function median(a, n,   i, j, x) { for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
	return n % 2 ? a[int(n/2)] : (a[n/2-1] + a[n/2]) / 2 }
END { mu = median(u, nu); mt = median(t, nt); printf "median confine %.1f MB/s, tar -xzf %.1f MB/s, ratio %.2fx\n", mu, mt, mu / mt }' "$out"
rm -f "$out"
