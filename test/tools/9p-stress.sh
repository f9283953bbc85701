#!/bin/bash
# Guest side of the 9p experiment (run it in the VM while test/tools/churn.sh changes the host's
# /tmp): for SECONDS, keep listing the host's /tmp through the guest's overlay, stat and read every
# file found there (files that the host creates, rewrites and deletes meanwhile), and start node
# from the shared root, printing one line per round so that the runner's watchdog sees progress.
#   npm run vm -- --idle-timeout 60 -- bash test/tools/9p-stress.sh 180
set -u
END=$(( $(date +%s) + ${1:-180} ))
round=0 seen=0 gone=0
while [ "$(date +%s)" -lt "$END" ]; do
	round=$((round + 1))
	counts=$(find /tmp -maxdepth 4 -path '/tmp/.vm-run' -prune -o -type f -print0 2> /dev/null |
		{
			s=0 g=0
			while IFS= read -r -d '' f; do
				s=$((s + 1))
				# open and read without a fork (a fork costs ~30 ms under emulation)
				{ IFS= read -r -n 4096 _ < "$f"; } 2> /dev/null || [ -e "$f" ] || g=$((g + 1))
				[ $((s % 500)) -ne 0 ] || echo "9p-stress: round $round: $s files" >&2
			done
			echo "$s $g"
		})
	seen=$((seen + ${counts% *})) gone=$((gone + ${counts#* }))
	node -e 'require("fs").readdirSync("/tmp")' || echo "9p-stress: node failed in round $round"
	echo "9p-stress: round $round at $(date +%T): $seen files read so far, $gone vanished before they were read"
done
