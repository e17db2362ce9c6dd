#!/usr/bin/env bash
# The policy pipeline on the example stack: check, explain, compile; then the gallery of
# bad policies, each of which must be refused with exit status 1 and positioned errors.
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
printf '\ndemo: ok\n'
