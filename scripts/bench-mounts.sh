#!/usr/bin/env bash
# bench-mounts.sh: does container start grow with the host's mount table?
# Times `run` of /bin/true for brig and runc alternating (medians of paired
# runs) with no extra host mounts, then with MOUNTS extra tmpfs mounts made
# in the host's mount namespace (under a private directory in /tmp, so every
# new mount namespace copies them), and prints each runtime's ratio of the
# two. A third series, `unshare -m /bin/true`, is the kernel's own floor:
# one copy of the mount table and its teardown. The mounts are removed on
# exit, whatever happens.
# Env: N (paired runs per case, default 30), MOUNTS (default 1000),
#      SHARED=1 (make the extra mounts shared, as under systemd),
#      BRIG (default target/<host triple>/release/brig), RUNC (default
#      /usr/sbin/runc),
#      OUT (work dir, default ./bench-out).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
N=${N:-30}
MOUNTS=${MOUNTS:-1000}
bench_env bench-mounts
bundle=$OUT/bundle-mounts
scripts/make-bundle.sh "$RUNC" "$bundle" "$PROBE" /bin/true
roots=$OUT/roots-mounts
mkdir -p "$roots"
many=$(mktemp -d /tmp/brig-bench-mounts.XXXXXX)
cleanup() {
    # The extra mounts first (each is a tmpfs of its own), then the roots.
    if mountpoint -q "$many"; then umount -l "$many" 2>/dev/null || true; fi
    for d in "$many"/m*; do
        [ -d "$d" ] || continue
        mountpoint -q "$d" && umount "$d" 2>/dev/null
        rmdir "$d" 2>/dev/null || true
    done
    rmdir "$many" 2>/dev/null || true
    umount -l "$roots" 2>/dev/null || true
}
trap cleanup EXIT
mountpoint -q "$roots" || mount -t tmpfs -o mode=700 brig-bench "$roots"

one() { lifecycle "$1" "$2" "$bundle" "$3"; }
floor() { # the kernel's floor: one mount namespace copied and torn down
    local t0 t1
    t0=$(date +%s%N)
    unshare -m /bin/true
    t1=$(date +%s%N)
    echo $((t1 - t0))
}

series() { # series TAG: N paired runs into $OUT/TAG.{brig,runc,floor}.ns
    local tag=$1 i
    : >"$OUT/$tag.brig.ns"; : >"$OUT/$tag.runc.ns"; : >"$OUT/$tag.floor.ns"
    for i in $(seq 1 "$N"); do
        one "$BRIG" "$roots/brig" "bm-brig-$tag-$i" >>"$OUT/$tag.brig.ns"
        one "$RUNC" "$roots/runc" "bm-runc-$tag-$i" >>"$OUT/$tag.runc.ns"
        floor >>"$OUT/$tag.floor.ns"
    done
}

base=$(grep -c . /proc/self/mountinfo)
series m0
for i in $(seq 1 "$MOUNTS"); do
    mkdir "$many/m$i"
    mount -t tmpfs -o size=4k,mode=700 brig-bench-extra "$many/m$i"
    [ "${SHARED:-0}" = 1 ] && mount --make-shared "$many/m$i"
done
now=$(grep -c . /proc/self/mountinfo)
series "m$MOUNTS"
cleanup
trap - EXIT

echo "run of /bin/true, N=$N paired runs per case, host mounts $base then $now (load: $(cut -d' ' -f1-3 /proc/loadavg)):"
printf '  %-24s %10s %10s %8s\n' case "0 extra" "$MOUNTS extra" ratio
layout=$(layout)
printf '%s\trun, %s extra host mounts\t%s\t%s\n' "$layout" "$MOUNTS" \
    "$(median "$OUT/m$MOUNTS.brig.ns")" "$(median "$OUT/m$MOUNTS.runc.ns")" >"$OUT/table.mounts.tsv"
for s in brig runc floor; do
    a=$(median "$OUT/m0.$s.ns") b=$(median "$OUT/m$MOUNTS.$s.ns")
    name=$s
    [ "$s" = floor ] && name="unshare -m (floor)"
    printf '  %-24s %8s ms %8s ms %8s\n' "$name" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2fx", b/a}')"
done
