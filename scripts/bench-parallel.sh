#!/usr/bin/env bash
# bench-parallel.sh: throughput under load. P lifecycles (`run` of
# /bin/true, each its own id) started at once, for P in PARALLEL; the wall
# time until the last has ended, for brig and runc in alternating rounds
# (median of ROUNDS), and every failure counted (a failed run is a result,
# not noise). brig/runc below 1 is brig's throughput above runc's (0.25:
# four times). Rows go to $OUT/table.parallel.tsv.
# Env: PARALLEL (default "50 200"), ROUNDS (default 3), BRIG, RUNC, OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
PARALLEL=${PARALLEL:-50 200}
ROUNDS=${ROUNDS:-3}
bench_env bench-parallel
bundle=$OUT/bundle-parallel
scripts/make-bundle.sh "$RUNC" "$bundle" "$PROBE" /bin/true
roots=$OUT/roots-parallel
tmpfs_roots "$roots"

round() { # round RUNTIME NAME P: wall ns of P parallel runs on stdout; failures (and their
    # last error line) to $OUT/par.NAME.{fail,err}
    local rt=$1 name=$2 p=$3 t0 t1 i
    t0=$(date +%s%N)
    for i in $(seq 1 "$p"); do
        (
            err=$("$rt" --root "$roots/$name" run --bundle "$bundle" "par-$name-$i" 2>&1 >/dev/null </dev/null) || {
                printf '%s\n' "${err:-exit status $?}" | tail -1 >>"$OUT/par.$name.err"
                echo "$i" >>"$OUT/par.$name.fail"
                "$rt" --root "$roots/$name" delete -f "par-$name-$i" >/dev/null 2>&1 || true
            }
        ) &
    done
    wait
    t1=$(date +%s%N)
    echo $((t1 - t0))
}
: >"$OUT/table.parallel.tsv"
echo "parallel lifecycles (run /bin/true), wall time until all end, median of $ROUNDS rounds:"
for p in $PARALLEL; do
    for n in brig runc; do : >"$OUT/par.$p.$n.ns"; : >"$OUT/par.$n.fail"; : >"$OUT/par.$n.err"; done
    for r in $(seq 1 "$ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
            round "$RUNC" runc "$p" >>"$OUT/par.$p.runc.ns"; round "$BRIG" brig "$p" >>"$OUT/par.$p.brig.ns"
        else
            round "$BRIG" brig "$p" >>"$OUT/par.$p.brig.ns"; round "$RUNC" runc "$p" >>"$OUT/par.$p.runc.ns"
        fi
    done
    fb=$(grep -c . "$OUT/par.brig.fail" || true) fr=$(grep -c . "$OUT/par.runc.fail" || true)
    mb=$(median "$OUT/par.$p.brig.ns") mr=$(median "$OUT/par.$p.runc.ns")
    printf '%s\t%s parallel runs (all; failed: %s/%s)\t%s\t%s\n' "$(layout)" "$p" "$fb" "$fr" "$mb" "$mr" >>"$OUT/table.parallel.tsv"
    awk -v p="$p" -v b="$mb" -v r="$mr" -v fb="$fb" -v fr="$fr" 'BEGIN {
        printf "  P=%-4s brig %8.0f ms (%5.1f runs/s, %s failed)  runc %8.0f ms (%5.1f runs/s, %s failed)  brig throughput %.2fx runc\n",
            p, b, p * 1000 / b, fb, r, p * 1000 / r, fr, r / b }'
    for n in brig runc; do
        [ ! -s "$OUT/par.$n.err" ] || { echo "  $n failures, the commonest errors:"; sort "$OUT/par.$n.err" | uniq -c | sort -rn | sed -n '1,3s/^/    /p'; }
    done
done
