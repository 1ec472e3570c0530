# Shared by the bench scripts (sourced): medians, the cgroup layout, and a
# tmpfs for state roots.

# bench_env NAME: the runtimes and paths every bench script takes from its
# environment (BRIG, RUNC, PROBE, OUT), checked: root, and each binary there.
bench_env() {
    BRIG=${BRIG:-target/$(rustc -vV | sed -n 's/^host: //p')/release/brig}
    RUNC=${RUNC:-/usr/sbin/runc}
    OUT=${OUT:-$PWD/bench-out}
    PROBE=${PROBE:-tests/probe/target/x86_64-unknown-linux-gnu/release/probe}
    [ "$(id -u)" = 0 ] || { echo "$1: needs root" >&2; exit 1; }
    local b
    for b in "$BRIG" "$RUNC" "$PROBE"; do [ -x "$b" ] || { echo "$1: $b missing" >&2; exit 1; }; done
    mkdir -p "$OUT"
}

# median FILE: the median of FILE's nanosecond lines, in ms.
median() { sort -n "$1" | awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1e6}'; }

# layout: v2 where /sys/fs/cgroup is cgroup2, else hybrid (this VM's).
layout() { case "$(stat -fc %T /sys/fs/cgroup)" in cgroup2fs) echo v2 ;; *) echo hybrid ;; esac; }

# tmpfs_roots DIR: a tmpfs at DIR for the runtimes' state roots, as /run is
# on a real host (a disk would time brig's fsync of state.json, free on
# tmpfs, which runc does not make); unmounted on exit.
tmpfs_roots() {
    mkdir -p "$1"
    mountpoint -q "$1" || mount -t tmpfs -o mode=700 brig-bench "$1"
    trap "umount -l '$1' 2>/dev/null || true" EXIT
}

# lifecycle RUNTIME ROOT BUNDLE ID [GLOBAL_FLAGS...]: one `run` (create,
# start, wait, delete) of BUNDLE; its wall time in ns on stdout.
lifecycle() {
    local t0 t1 rt=$1 root=$2 bundle=$3 id=$4
    shift 4
    t0=$(date +%s%N)
    "$rt" "$@" --root "$root" run --bundle "$bundle" "$id" >/dev/null 2>&1 </dev/null || {
        echo "bench: $rt run failed" >&2; "$rt" --root "$root" delete --force "$id" >/dev/null 2>&1 || true; return 1; }
    t1=$(date +%s%N)
    echo $((t1 - t0))
}

# exec_once RUNTIME ROOT ID: `exec` of /bin/true into running container ID;
# its wall time in ns.
exec_once() {
    local t0 t1
    t0=$(date +%s%N)
    "$1" --root "$2" exec "$3" /bin/true </dev/null >/dev/null 2>&1 || { echo "bench: $1 exec failed" >&2; return 1; }
    t1=$(date +%s%N)
    echo $((t1 - t0))
}
