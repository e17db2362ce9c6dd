#!/usr/bin/env bash
# The policy pipeline on the example stack: check, explain, compile; then the gallery of
# bad policies and the errors confine gives for them.
set -u
confine=${1:-confine}
cd "$(dirname "$0")"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step "$confine" check shop/stack.yaml
step "$confine" explain shop/stack.yaml
step "$confine" compile shop/stack.yaml --format nft
step "$confine" compile shop/stack.yaml --format nft --component api
printf '\n\033[1mThe gallery of bad policies (each must fail):\033[0m\n'
for f in bad/*.yaml; do
	printf '\n$ confine check %s\n' "$f"
	if "$confine" check "$f"; then echo "UNEXPECTED: $f passed"; exit 1; fi
done
echo
echo "demo: ok"
