#!/usr/bin/env bash
# Start-up cost of idmapping a write path (issue 12): `confine run` of one component with
# one write path, idmapped (the default as root) and the same path with `idmap: false`,
# alternated ROUNDS times (default 30). Prints the medians of the parent's idmap span
# (CONFINE_TRACE=1) and of the whole run's wall time, and their ratio. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-30}
work=$(mktemp -d /tmp/confine-bench-XXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
go build -o "$work/confine" ./cmd/confine
CGO_ENABLED=0 go build -o "$work/probe" ./tests/probe
mkdir "$work/data"
policy() { # NAME WRITE-ENTRY
	printf 'version: 1\nname: %s\nrun: {command: ["%s", "write:%s/data/x"], user: "0"}\nfilesystem:\n  read: ["%s"]\n  write: [%s]\nsyscalls: {extends: default}\n' \
		"$1" "$work/probe" "$work" "$work/probe" "$2" >"$work/$1.yaml"
}
policy idmapped "$work/data"
policy unmapped "{path: $work/data, idmap: false}"
for i in $(seq "$rounds"); do
	for v in idmapped unmapped; do
		s=$(date +%s%N)
		span=$(CONFINE_TRACE=1 "$work/confine" run "$work/$v.yaml" 2>&1 >/dev/null | awk '/parent idmap/{print $4}')
		e=$(date +%s%N)
		echo "$v ${span:-0} $(((e - s) / 1000))"
	done
done >"$work/out"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| variant | idmap step (µs, median) | confine run wall (µs, median) |"
echo "| --- | --- | --- |"
for v in idmapped unmapped; do
	echo "| $v | $(awk -v v=$v '$1==v{print $2}' "$work/out" | median) | $(awk -v v=$v '$1==v{print $3}' "$work/out" | median) |"
done
a=$(awk '$1=="idmapped"{print $3}' "$work/out" | median)
b=$(awk '$1=="unmapped"{print $3}' "$work/out" | median)
echo
echo "wall-time ratio idmapped/unmapped: $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}')"
