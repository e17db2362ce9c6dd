#!/bin/sh
# bench/policy.sh: the policy scaling benchmarks (policy/bench_scale_test.go) of this tree
# and of a baseline commit (BASE, default main), run alternately in one run, COUNT times
# each (default 5), n up to 100,000 for this tree. The baseline skips the sizes it takes
# minutes on (extends past 1,000, everything at 100,000). Prints, best of COUNT, the ns
# per entry of load, validate and compile, and the time of validate and compile alone;
# docs/BENCHMARKS.md reports them. Needs no root; about 10 minutes.
set -eu
BASE=${BASE:-main}
COUNT=${COUNT:-5}
ONLY=${ONLY:-} # one benchmark, e.g. ONLY=Flows
big=${ONLY:-"(ReadPaths|Connects|Listens|Flows|Stack)"}
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
for i in $(seq "$COUNT"); do
	# The baseline skips extends past 1,000 and everything at 100,000.
	for run in "base Scale$ONLY/n=(100|300|1000|3000)$" "base Scale$big/n=10000$" "tree Scale$ONLY"; do
		set -- $run
		BENCH_LARGE=$([ "$1" = tree ] && echo 1) "$tmp/$1.test" -test.run '^$' -test.bench "$2" -test.benchtime 1x 2>&1 |
			awk -v bin="$1" '/^BenchmarkScale/ { print bin, $0 }'
	done
done | tee "$tmp/raw" >&2
echo
echo "| benchmark | n | main ns/entry | tree ns/entry | main/tree | main validate+compile | tree validate+compile |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
# Best of COUNT: the machine is shared, and the fastest run is the least disturbed one.
awk '{
	name = $2; sub(/-[0-9]+$/, "", name); names[name] = 1
	for (i = 3; i < NF; i++) {
		u = $(i + 1)
		if (u == "ns/entry" || u == "compile-ms") {
			k = $1 SUBSEP name SUBSEP u
			if (!(k in best) || $i + 0 < best[k] + 0) best[k] = $i
		}
	}
}
function get(bin, name, u,   k) { k = bin SUBSEP name SUBSEP u; return (k in best) ? best[k] : "" }
function ms(x) { return x == "" ? "-" : (x >= 1000 ? sprintf("%.2f s", x / 1000) : sprintf("%.1f ms", x)) }
END {
	for (name in names) {
		b = get("base", name, "ns/entry"); t = get("tree", name, "ns/entry")
		split(name, part, "/n=")
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", substr(part[1], 15), part[2],
			b == "" ? "-" : sprintf("%.0f", b), t == "" ? "-" : sprintf("%.0f", t),
			(b != "" && t != "") ? sprintf("%.1f×", b / t) : "-",
			ms(get("base", name, "compile-ms")), ms(get("tree", name, "compile-ms"))
	}
}' "$tmp/raw" | sort -t'|' -k2,2 -k3,3n
