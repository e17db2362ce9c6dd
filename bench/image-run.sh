#!/usr/bin/env bash
# The second start of an image against a start from a rootfs directory of the same
# content (issue 11): `confine run` of the probe from an image already in the store (an
# overlay of idmapped layers, a per-run upper made and removed) and from a directory
# holding the same files (an idmapped read-only bind), alternated ROUNDS times (default
# 30). Prints the medians of the whole run's wall time and their ratio. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-30}
work=$(mktemp -d /tmp/confine-bench-XXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
go build -o "$work/confine" ./cmd/confine
CGO_ENABLED=0 go build -o "$work/probe" ./tests/probe
go run ./examples/demo/mkimage "$work/probe" "$work/image"
mkdir -p "$work/rootfs/etc"
cp "$work/probe" "$work/rootfs/probe"
printf 'root:x:0:0:root:/root:/sbin/nologin\ndb:x:1000:1000:db:/var/lib/db:/sbin/nologin\n' >"$work/rootfs/etc/passwd"
export CONFINE_STORE="$work/store"
printf 'version: 1\nname: fromimage\nrun: {image: "oci:%s", command: [/probe, "id:"], user: "1000"}\nsyscalls: {extends: default}\n' "$work/image" >"$work/image.yaml"
printf 'version: 1\nname: fromdir\nrun: {rootfs: "%s", command: [/probe, "id:"], user: "1000"}\nfilesystem: {read: [/probe]}\nsyscalls: {extends: default}\n' "$work/rootfs" >"$work/rootfs.yaml"
"$work/confine" run "$work/image.yaml" >/dev/null 2>&1 # the first start pulls
for i in $(seq "$rounds"); do
	for v in image rootfs; do
		s=$(date +%s%N)
		"$work/confine" run "$work/$v.yaml" >/dev/null
		e=$(date +%s%N)
		echo "$v $(((e - s) / 1000))"
	done
done >"$work/out"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| start | confine run wall (µs, median of $rounds) |"
echo "| --- | --- |"
for v in image rootfs; do
	echo "| $v | $(awk -v v=$v '$1==v{print $2}' "$work/out" | median) |"
done
a=$(awk '$1=="image"{print $2}' "$work/out" | median)
b=$(awk '$1=="rootfs"{print $2}' "$work/out" | median)
echo
echo "wall-time ratio image/rootfs: $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}')"
