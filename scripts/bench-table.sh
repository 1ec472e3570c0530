#!/usr/bin/env bash
# bench-table.sh: the one table `make bench` ends with, from the rows the
# bench scripts left in $OUT/table.*.tsv (layout, case, brig, runc[, crun]):
# medians in ms, brig's time as a ratio of runc's and of crun's ("-" where
# a runtime was not run: crun only in the pure-v2 view, without cgroups).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/bench-out}
echo
echo "== make bench, $(date -u +%Y-%m-%d), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-7s %-40s %10s %10s %10s %9s %9s\n' layout case brig runc crun brig/runc brig/crun
ratio() { awk -v b="$1" -v r="$2" 'BEGIN {if (r == "-" || r == "" || r == 0) print "-"; else printf "%.2f", b/r}'; }
for f in run v2 mounts parallel; do [ ! -f "$OUT/table.$f.tsv" ] || cat "$OUT/table.$f.tsv"; done | while IFS=$'\t' read -r layout case brig runc crun; do
    crun=${crun:--}
    printf '%-7s %-40s %10s %10s %10s %9s %9s\n' "$layout" "$case" "$brig" "$runc" "$crun" \
        "$(ratio "$brig" "$runc")" "$(ratio "$brig" "$crun")"
done
