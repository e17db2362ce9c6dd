#!/usr/bin/env bash
# The policy pipeline on the example stack: check, explain, compile; then the gallery of
# bad policies, each of which must be refused with exit status 1 and positioned errors;
# then (as root) the demo stack, up: declared flows connect, the rest are refused or
# dropped and logged, the published port answers; and down again.
set -euo pipefail
confine=$(realpath "${1:-$(command -v confine)}")
cd "$(dirname "$0")"
step() { printf '\n\033[1m$ confine %s\033[0m\n' "$*"; "$confine" "$@"; }
step check shop/stack.yaml
step explain shop/stack.yaml
step compile shop/stack.yaml --format nft
step compile shop/stack.yaml --format nft --component api
printf '\n\033[1mThe gallery of bad policies (each must fail):\033[0m\n'
for f in bad/*.yaml; do
	printf '\n$ confine check %s\n' "$f"
	status=0
	"$confine" check "$f" || status=$?
	if [ "$status" -ne 1 ]; then
		echo "demo: $f: exit status $status, want 1" >&2
		exit 1
	fi
done

if [ "$(id -u)" != 0 ]; then
	printf '\ndemo: the running stack needs root (network namespaces, cgroups); run as root to see it\n'
	exit 0
fi
printf '\n\033[1mThe demo stack, running:\033[0m\n'
mkdir -p demo/rootfs/etc
: > demo/rootfs/etc/hosts # the stack's names are mounted over it
(cd .. && CGO_ENABLED=0 go build -o examples/demo/rootfs/probe ./tests/probe)
"$confine" down demo >/dev/null 2>&1 || true
trap '"$confine" down --grace 1s demo >/dev/null 2>&1 || true' EXIT
step up -d demo/stack.yaml
sleep 2 # the probes make their calls
step ps demo
for c in web api db; do
	printf '\n\033[1m%s tried:\033[0m\n' "$c"
	"$confine" logs demo "$c" | jq -r 'select(.probe | test("^(dial|serve|mount|write|cat)")) |
		if .ok then "  allowed  \(.probe)  \(.out // "")" else "  BLOCKED  \(.probe)  (\(.err))" end'
done
printf '\n\033[1m$ nc 127.0.0.1 8088\033[0m   (the published port: host → web, which lists host in listen.from)\n'
exec 3<>/dev/tcp/127.0.0.1/8088 && head -1 <&3 && exec 3<&-
printf '\n\033[1mDrops the firewalls logged (NFLOG, as events):\033[0m\n'
"$confine" events demo | jq -r 'select(.kind == "denial" and .details.layer == "network") | "  \(.component) \(.details.chain): \(.details.reason)"'
printf '\n\033[1mSeccomp and Landlock denials (from the kernel'"'"'s audit log), with what decided each:\033[0m\n'
"$confine" events demo | jq -r 'select(.kind == "denial" and .details.layer != "network") | "  \(.component) \(.details.layer): \(.details.reason)"' | sort -u
step down --grace 1s demo
trap - EXIT
step audit verify /var/log/confine/demo/audit.log
printf '\n\033[1m$ confine audit report demo/stack.yaml --log /var/log/confine/demo/audit.log --format md\033[0m   (the summary; --format html draws the diagram)\n'
"$confine" audit report demo/stack.yaml --log /var/log/confine/demo/audit.log --format md | awk '/^## /{n++} n==1' | head -30

printf '\n\033[1mA stack from images:\033[0m\n'
# The image is built here from the probe (no registry needed); up pulls it into the store.
(cd .. && go run ./examples/demo/mkimage examples/demo/rootfs/probe examples/demo/image)
printf '\n\033[1m$ confine explain demo/images/kv.yaml\033[0m   (the image part)\n'
"$confine" pull -q oci:demo/image >/dev/null
"$confine" explain demo/images/kv.yaml | sed -n '/Image:/,/private tmpfs/p'
"$confine" down demoimg >/dev/null 2>&1 || true
trap '"$confine" down --grace 1s demoimg >/dev/null 2>&1 || true' EXIT
step up -d demo/images/stack.yaml
sleep 2
step ps demoimg
for c in kv client; do
	printf '\n\033[1m%s tried:\033[0m\n' "$c"
	"$confine" logs demoimg "$c" | jq -r 'select(.probe | test("^(dial|serve|write|cat:/var)")) |
		if .ok then "  allowed  \(.probe)" else "  BLOCKED  \(.probe)  (\(.err))" end'
done
step down --grace 1s demoimg
trap - EXIT
step volume ls   # kv's volume outlives down (a second make demo finds /var/lib/db/started); confine volume rm demo-kv removes it
printf '\ndemo: ok\n'
