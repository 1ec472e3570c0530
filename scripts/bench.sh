#!/usr/bin/env bash
# bench.sh: a whole container lifecycle (`run` of /bin/true on a busybox
# bundle), timed for brig and runc interleaved in one run; prints the median
# of each, the ratio brig/runc, and brig's peak RSS (/usr/bin/time -v);
# then `exec` of /bin/true into a running container, brig and runc
# interleaved. Rows for make bench's table go to $OUT/table.run.tsv.
# A third series runs brig under the sandbox policy in audit mode: every
# rule evaluated, nothing changed, so its ratio to plain brig is the cost
# of the node policy itself.
# Env: N (runs each, default 50), BRIG (default the static release build,
#      target/<host triple>/release/brig, what `make build` makes),
#      RUNC (default /usr/sbin/runc), OUT (work dir, default ./bench-out).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
N=${N:-50}
bench_env bench
bundle=$OUT/bundle
scripts/make-bundle.sh "$RUNC" "$bundle" "$PROBE" /bin/true
roots=$OUT/roots
tmpfs_roots "$roots"
root_brig=$roots/brig root_runc=$roots/runc
rm -rf "$root_brig" "$root_runc"
: >"$OUT/brig.ns"; : >"$OUT/runc.ns"; : >"$OUT/policy.ns"
root_policy=$roots/policy
rm -rf "$root_policy"
# The sandbox preset, audit mode.
"$BRIG" policy show sandbox | sed 's/^mode = .*/mode = "audit"/' >"$OUT/audit.toml"

one() { lifecycle "$1" "$2" "$bundle" "${@:3}"; }
# runc first, then brig and brig under the policy in alternating order: a
# run right after runc's pays for what runc's teardown leaves the kernel to
# finish (RCU, cgroup removal), and each brig series is that run half the
# time.
for i in $(seq 1 "$N"); do
    one "$RUNC" "$root_runc" "bench-runc-$i" >>"$OUT/runc.ns"
    if [ $((i % 2)) = 0 ]; then
        one "$BRIG" "$root_brig" "bench-brig-$i" >>"$OUT/brig.ns"
        one "$BRIG" "$root_policy" "bench-policy-$i" --policy "$OUT/audit.toml" >>"$OUT/policy.ns"
    else
        one "$BRIG" "$root_policy" "bench-policy-$i" --policy "$OUT/audit.toml" >>"$OUT/policy.ns"
        one "$BRIG" "$root_brig" "bench-brig-$i" >>"$OUT/brig.ns"
    fi
done
mb=$(median "$OUT/brig.ns") mr=$(median "$OUT/runc.ns") mp=$(median "$OUT/policy.ns")

# exec of /bin/true into a running container, each runtime into its own.
sleeper=$OUT/bundle-exec
scripts/make-bundle.sh "$RUNC" "$sleeper" "$PROBE" /bin/sleep 3600
"$BRIG" --root "$root_brig" run -d --bundle "$sleeper" bench-exec >/dev/null 2>&1 </dev/null
"$RUNC" --root "$root_runc" run -d --bundle "$sleeper" bench-exec >/dev/null 2>&1 </dev/null
: >"$OUT/exec.brig.ns"; : >"$OUT/exec.runc.ns"
for i in $(seq 1 "$N"); do
    exec_once "$RUNC" "$root_runc" bench-exec >>"$OUT/exec.runc.ns"
    exec_once "$BRIG" "$root_brig" bench-exec >>"$OUT/exec.brig.ns"
done
"$BRIG" --root "$root_brig" delete -f bench-exec >/dev/null 2>&1 || true
"$RUNC" --root "$root_runc" delete -f bench-exec >/dev/null 2>&1 || true
eb=$(median "$OUT/exec.brig.ns") er=$(median "$OUT/exec.runc.ns")

# Rows for the one table `make bench` ends with (scripts/bench-table.sh).
layout=$(layout)
{
    printf '%s\trun /bin/true\t%s\t%s\n' "$layout" "$mb" "$mr"
    printf '%s\trun, sandbox policy (audit)\t%s\t%s\n' "$layout" "$mp" "$mr"
    printf '%s\texec /bin/true\t%s\t%s\n' "$layout" "$eb" "$er"
} >"$OUT/table.run.tsv"
/usr/bin/time -v "$BRIG" --root "$root_brig" run --bundle "$bundle" bench-rss \
    >/dev/null 2>"$OUT/time-v.txt" </dev/null || true
rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$OUT/time-v.txt")
echo "lifecycle (run /bin/true), N=$N each, interleaved:"
echo "  brig median: ${mb} ms"
echo "  runc median: ${mr} ms"
awk -v b="$mb" -v r="$mr" 'BEGIN {printf "  ratio brig/runc: %.3f\n", b/r}'
echo "  brig under the sandbox policy, audit mode: ${mp} ms"
awk -v b="$mb" -v p="$mp" 'BEGIN {printf "  ratio policy/brig: %.3f (the policy'"'"'s own cost)\n", p/b}'
echo "  brig peak RSS: ${rss:-?} KiB (/usr/bin/time -v)"
echo "exec of /bin/true, N=$N each, interleaved: brig ${eb} ms, runc ${er} ms"
printf '%s\tpeak RSS of run (MiB)\t%s\t-\n' "$layout" "$(awk -v k="${rss:-0}" 'BEGIN {printf "%.1f", k/1024}')" >>"$OUT/table.run.tsv"
