#!/bin/sh
# bench/policy.sh: the policy scaling benchmarks (policy/bench_scale_test.go) of this tree
# and of a baseline commit (BASE, default main), run alternately in one run, COUNT times
# each (default 3), n up to 100,000 for this tree. The baseline skips the sizes it takes
# minutes on (extends past 1,000, everything at 100,000). Prints the median ns per entry
# of each; docs/BENCHMARKS.md reports them. Needs no root; about 5 minutes.
set -eu
BASE=${BASE:-main}
COUNT=${COUNT:-3}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/base"
git archive "$BASE" | tar -x -C "$tmp/base"
cp policy/bench_scale_test.go "$tmp/base/policy/"
if ! grep -q 'func (c \*Component) parseValues' "$tmp/base/policy/"*.go; then
	# A baseline from before values were parsed at load: nothing to parse.
	printf 'package policy\n\nfunc (c *Component) parseValues() {}\nfunc (s *Stack) parseValues()     {}\n' >"$tmp/base/policy/bench_hooks_test.go"
fi
(cd "$tmp/base" && go test -c -o "$tmp/base.test" ./policy)
go test -c -o "$tmp/tree.test" ./policy
all='Scale'
slow='ScaleExtends/n=10000$|/n=100000$'
for i in $(seq "$COUNT"); do
	for bin in base tree; do
		"$tmp/$bin.test" -test.run '^$' -test.bench "$all" -test.benchtime 1x 2>&1 |
			awk -v bin="$bin" -v slow="$slow" 'bin == "base" && $1 ~ slow { next } /^BenchmarkScale/ { print bin, $0 }'
	done
done | tee "$tmp/raw" >&2
echo
echo "| benchmark | n | main ns/entry | tree ns/entry | main/tree |"
echo "| --- | --- | --- | --- | --- |"
awk '{ name = $2; sub(/-[0-9]+$/, "", name); for (i = 3; i <= NF; i++) if ($(i+1) == "ns/entry") v[$1, name, ++c[$1, name]] = $i; names[name] = 1 }
END {
	for (name in names) {
		for (b = 0; b < 2; b++) {
			bin = b ? "tree" : "base"; n = c[bin, name]; m[bin] = "-"
			if (n == 0) continue
			for (i = 1; i <= n; i++) s[i] = v[bin, name, i]
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] + 0 < s[i] + 0) { t = s[i]; s[i] = s[j]; s[j] = t }
			m[bin] = s[int((n + 1) / 2)]
		}
		split(name, part, "/n=")
		ratio = (m["base"] != "-" && m["tree"] != "-") ? sprintf("%.1f×", m["base"] / m["tree"]) : "-"
		printf "| %s | %s | %s | %s | %s |\n", substr(part[1], 10), part[2], m["base"], m["tree"], ratio
	}
}' "$tmp/raw" | sort -t'|' -k2,2 -k3,3n
