#!/usr/bin/env bash
# bench-table.sh: the one table `make bench` ends with, from the rows
# bench.sh and bench-mounts.sh left in $OUT (layout, case, brig, runc):
# medians in ms, and brig's time as a ratio of runc's. crun is not on this
# machine's package list; its column says so.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/bench-out}
crun=$(command -v crun >/dev/null && echo "(not run)" || echo "-")
echo
echo "== make bench, $(date -u +%Y-%m-%d), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-7s %-32s %10s %10s %10s %8s\n' layout case brig runc crun brig/runc
cat "$OUT"/table.*.tsv | while IFS=$'\t' read -r layout case brig runc; do
    ratio=$(awk -v b="$brig" -v r="$runc" 'BEGIN {if (r == "-" || r == 0) print "-"; else printf "%.2f", b/r}')
    printf '%-7s %-32s %10s %10s %10s %8s\n' "$layout" "$case" "$brig" "$runc" "$crun" "$ratio"
done
