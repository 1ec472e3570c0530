#!/usr/bin/env bash
# bench-v2.sh: the pure cgroup v2 layout. On a hybrid host (this VM) it
# runs in a private mount namespace with cgroup2 mounted at /sys/fs/cgroup,
# as a v2 node has it (only the controllers the host left to cgroup2 are
# there: hugetlb here). `run` and `exec` of /bin/true for brig, runc and
# crun interleaved, in rotating order; crun runs with
# --cgroup-manager=disabled (crun 1.8 refuses this VM's hybrid layout, and
# even in the v2 view has no controllers to use), so it does no cgroup
# work at all, which brig and runc do. Rows (layout v2) go to
# $OUT/table.v2.tsv.
# Env: N (runs each, default 50), BRIG, RUNC, CRUN (default: crun on PATH;
#      none: its column is "-"), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
N=${N:-50}
bench_env bench-v2
CRUN=${CRUN:-$(command -v crun || true)}
if [ -n "${BENCH_V2_VIEW:-}" ]; then
    # In our own mount namespace (below): cgroup2 where the hierarchies were.
    umount -l /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup
elif [ "$(layout)" != v2 ]; then
    exec env BENCH_V2_VIEW=1 unshare -m --propagation private "$0" "$@"
fi
bundle=$OUT/bundle-v2 sleeper=$OUT/bundle-v2-exec
scripts/make-bundle.sh "$RUNC" "$bundle" "$PROBE" /bin/true
scripts/make-bundle.sh "$RUNC" "$sleeper" "$PROBE" /bin/sleep 3600
roots=$OUT/roots-v2
tmpfs_roots "$roots"
crun_run() { "$CRUN" --cgroup-manager=disabled "$@"; }
rts=(brig runc)
[ -n "$CRUN" ] && rts+=(crun)
bin() { case $1 in brig) echo "$BRIG" ;; runc) echo "$RUNC" ;; crun) echo crun_run ;; esac; }
for r in "${rts[@]}"; do : >"$OUT/v2.run.$r.ns"; : >"$OUT/v2.exec.$r.ns"; done
# Rotating order: each runtime follows each other one equally often.
for i in $(seq 1 "$N"); do
    for k in $(seq 0 $((${#rts[@]} - 1))); do
        r=${rts[$(((i + k) % ${#rts[@]}))]}
        lifecycle "$(bin "$r")" "$roots/$r" "$bundle" "v2-$r-$i" >>"$OUT/v2.run.$r.ns"
    done
done
for r in "${rts[@]}"; do
    $(bin "$r") --root "$roots/$r" run -d --bundle "$sleeper" v2-exec >/dev/null 2>&1 </dev/null
done
for i in $(seq 1 "$N"); do
    for k in $(seq 0 $((${#rts[@]} - 1))); do
        r=${rts[$(((i + k) % ${#rts[@]}))]}
        exec_once "$(bin "$r")" "$roots/$r" v2-exec >>"$OUT/v2.exec.$r.ns"
    done
done
for r in "${rts[@]}"; do $(bin "$r") --root "$roots/$r" delete -f v2-exec >/dev/null 2>&1 || true; done
m() { if [ -s "$OUT/v2.$1.$2.ns" ]; then median "$OUT/v2.$1.$2.ns"; else echo -; fi; }
{
    printf 'v2\trun /bin/true\t%s\t%s\t%s\n' "$(m run brig)" "$(m run runc)" "$(m run crun)"
    printf 'v2\texec /bin/true\t%s\t%s\t%s\n' "$(m exec brig)" "$(m exec runc)" "$(m exec crun)"
} >"$OUT/table.v2.tsv"
echo "pure cgroup v2 view, N=$N each, rotating order ($([ -n "$CRUN" ] && echo "crun without cgroup work" || echo "crun not installed")):"
echo "  run /bin/true:  brig $(m run brig) ms, runc $(m run runc) ms, crun $(m run crun) ms"
echo "  exec /bin/true: brig $(m exec brig) ms, runc $(m exec runc) ms, crun $(m exec crun) ms"
