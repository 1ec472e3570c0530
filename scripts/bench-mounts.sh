#!/usr/bin/env bash
# bench-mounts.sh: does container start grow with the host's mount table?
# Times `run` of /bin/true for brig and runc (medians of paired runs) in
# a copy of the host's mount namespace as it is and in one with MOUNTS
# extra tmpfs mounts, which every new mount namespace made from it copies,
# the two cases alternating run by run; prints each runtime's ratio of the
# two. A third series, `unshare -m /bin/true`, is the kernel's own floor:
# one copy of the mount table and its teardown. The extra mounts go with
# their namespace on exit, whatever happens; the host's table is never
# touched.
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
# Two private mount namespaces, copies of the host's (unshare -m), held
# by a sleeping process each; MOUNTS extra tmpfs mounts are made in the
# second only. Every timed run enters one of them (nsenter -m), so the runs
# with and without the extra mounts alternate pair by pair: what the VM
# drifts by over a series falls on both cases alike. Both pay nsenter.
many=$(mktemp -d /tmp/brig-bench-mounts.XXXXXX)
holders=()
cleanup() {
    local h
    for h in "${holders[@]}"; do kill "$h" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # The extra mounts lived in the second namespace only: gone with it.
    rm -rf "$many" 2>/dev/null || true
    umount -l "$roots" 2>/dev/null || true
}
trap cleanup EXIT
mountpoint -q "$roots" || mount -t tmpfs -o mode=700 brig-bench "$roots"
hold() { # a private copy of the host's mount namespace; its holder's pid
    unshare -m --propagation private sleep 1d &
    holders+=($!)
    until [ "$(readlink /proc/$!/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ]; do sleep 0.01; done
}
hold; ns0=${holders[0]}
hold; ns1=${holders[1]}
nsenter -t "$ns1" -m sh -c '
    i=1
    while [ "$i" -le "$1" ]; do
        mkdir -p "$2/m$i"
        mount -t tmpfs -o size=4k,mode=700 brig-bench-extra "$2/m$i"
        [ "$3" = 1 ] && mount --make-shared "$2/m$i"
        i=$((i + 1))
    done' sh "$MOUNTS" "$many" "${SHARED:-0}"
base=$(nsenter -t "$ns0" -m grep -c . /proc/self/mountinfo)
now=$(nsenter -t "$ns1" -m grep -c . /proc/self/mountinfo)

# timed_in NS CMD...: CMD in the mount namespace held by NS, its wall time in ns.
timed_in() {
    local ns=$1 t0 t1
    shift
    t0=$(date +%s%N)
    nsenter -t "$ns" -m --wd="$PWD" "$@" >/dev/null 2>&1 </dev/null || { echo "bench-mounts: $* failed" >&2; return 1; }
    t1=$(date +%s%N)
    echo $((t1 - t0))
}
for s in brig runc floor; do : >"$OUT/m0.$s.ns"; : >"$OUT/m$MOUNTS.$s.ns"; done
for i in $(seq 1 "$N"); do
    for tag in m0 "m$MOUNTS"; do
        ns=$ns0
        [ "$tag" = m0 ] || ns=$ns1
        timed_in "$ns" "$BRIG" --root "$roots/brig" run --bundle "$bundle" "bm-brig-$tag-$i" >>"$OUT/$tag.brig.ns"
        timed_in "$ns" "$RUNC" --root "$roots/runc" run --bundle "$bundle" "bm-runc-$tag-$i" >>"$OUT/$tag.runc.ns"
        timed_in "$ns" unshare -m /bin/true >>"$OUT/$tag.floor.ns"
    done
done
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
