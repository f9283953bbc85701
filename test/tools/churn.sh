#!/bin/bash
# Load that changes host files under the VM's feet, to reproduce problems of the 9p share:
# keeps creating, rewriting and deleting thousands of files and running npm installs, under /tmp
# (which the guest sees through its overlay) and in the checkout's parent folder.
#   bash test/tools/churn.sh SECONDS
# Runs for SECONDS (default 600) and stops by itself; prints one line per round.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
END=$(( $(date +%s) + ${1:-600} ))
T1=$(mktemp -d /tmp/dmabuf-churn.XXXXXX)
T2=$(mktemp -d "$(dirname "$ROOT")/dmabuf-churn.XXXXXX")
trap 'rm -rf "$T1" "$T2"' EXIT
for d in "$T1" "$T2"; do
	mkdir -p "$d/proj"
	cp "$ROOT/package.json" "$ROOT/package-lock.json" "$d/proj/"
done
round=0
while [ "$(date +%s)" -lt "$END" ]; do
	round=$((round + 1))
	for d in "$T1" "$T2"; do
		mkdir -p "$d/files"
		for i in $(seq 1 2000); do echo "$round $i" > "$d/files/f$i"; done
		for i in $(seq 1 2000 | shuf -n 1000); do echo "rewritten $round" >> "$d/files/f$i"; done
		tar -C "$d" -cf "$d/files.tar" files && rm -rf "$d/files" && mkdir -p "$d/x" && tar -C "$d/x" -xf "$d/files.tar"
		rm -rf "$d/x" "$d/files.tar"
		(cd "$d/proj" && rm -rf node_modules && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline > /dev/null 2>&1) ||
			echo "churn: npm ci failed in $d/proj"
	done
	echo "churn: round $round done at $(date +%T)"
done
