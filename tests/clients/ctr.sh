#!/bin/bash
# brig under containerd, driven by ctr (containerd 1.6): the runc v2 shim with
# `--runc-binary $BRIG`. Run: BRIG=/abs/brig tests/clients/ctr.sh
. "$(dirname "$0")/lib.sh"

D=$T/containerd
defer "remove_cgroups brigtest"
start_containerd "$D" 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'
defer "kill_leftovers '$T'"
NS=brigtest
ctr() { with_timeout 60 /usr/bin/ctr -a "$CTR_ADDR" -n "$NS" "$@"; }
IMG=docker.io/library/brig-busybox:latest
RUNC_ROOT=$T/runc-root
RUN=(run --runc-binary "$BRIG" --runc-root "$RUNC_ROOT")
cleanup_ctr() { ctr task kill -s SIGKILL "$1"; sleep 0.3; ctr task delete -f "$1"; ctr container delete "$1"; }

make_rootfs "$T/rootfs"
make_oci_archive "$T/rootfs" "$T/busybox.tar" "$IMG"
out=$(ctr images import "$T/busybox.tar" 2>&1) || { bad "images import: $out"; exit 1; }
check "image imported" 'brig-busybox' "$(ctr images ls -q)"

# 1. run in the foreground: output comes back through the shim's fifos.
defer "cleanup_ctr fg"
out=$(ctr "${RUN[@]}" --rm "$IMG" fg sh -c 'echo hello-ctr; id -u' 2>&1) || bad "ctr run: $out"
check "run prints the command's output" '^hello-ctr$' "$out"
check "run as root in the container" '^0$' "$out"

# 2. a detached task, a log file for its output.
LOG=$T/bg.log
defer "cleanup_ctr bg"
ctr "${RUN[@]}" -d --log-uri "file://$LOG" "$IMG" bg \
	sh -c 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.2; done' >/dev/null
for _ in $(seq 1 50); do grep -q ready "$LOG" 2>/dev/null && break; sleep 0.1; done
check "detached task writes to its log" '^ready' "$(cat "$LOG" 2>/dev/null)"
# The shim ran $BRIG: the container's state is in $BRIG's own format under
# the --runc-root the shim passed it (per namespace).
check "shim ran \$BRIG (its state under --runc-root)" '"status": *"running"' \
	"$("$BRIG" --root "$RUNC_ROOT/$NS" state bg 2>&1)"
check "task ls shows RUNNING" 'bg +[0-9]+ +RUNNING' "$(ctr task ls)"

pid=$(ctr task ls | awk '$1 == "bg" {print $2}')
check "task ps lists the init pid" "^$pid( |$)" "$(ctr task ps bg)"

ctr task pause bg
check "task pause: PAUSED" 'bg +[0-9]+ +PAUSED' "$(ctr task ls)"
check "task pause: frozen in the runtime's state" '"status": *"paused"' \
	"$("$BRIG" --root "$RUNC_ROOT/$NS" state bg 2>&1)"
ctr task resume bg
check "task resume: RUNNING" 'bg +[0-9]+ +RUNNING' "$(ctr task ls)"

out=$(ctr task metrics bg 2>&1) || true
check "task metrics reports memory and pids" 'memory' "$out"

if ! exec_skipped "ctr task exec"; then
	out=$(ctr task exec --exec-id e1 bg sh -c 'echo exec-ok; cat /proc/self/cgroup' 2>&1) || bad "task exec: $out"
	check "task exec runs in the container" '^exec-ok' "$out"
	out=$(with_timeout 30 script -qec "ctr -a $CTR_ADDR -n $NS task exec -t --exec-id e2 bg tty" /dev/null 2>&1) || bad "task exec -t: $out"
	check "task exec --tty gets a pty" '/dev/pts/[0-9]+' "$out"
	ctr task exec --exec-id e3 bg sh -c 'exit 3' >/dev/null 2>&1 && rc=0 || rc=$?
	check "task exec returns the exit status" '^3$' "$rc"
fi

ctr task kill -s SIGTERM bg
for _ in $(seq 1 50); do ctr task ls | grep -Eq 'bg +[0-9]+ +STOPPED' && break; sleep 0.1; done
check "task kill -s SIGTERM: the trap ran" 'got-term' "$(cat "$LOG")"
check "task kill: STOPPED" 'bg +[0-9]+ +STOPPED' "$(ctr task ls)"
ctr task delete bg >/dev/null
ctr container delete bg
check_not "task and container deleted" '^bg ' "$(ctr task ls; ctr container ls)"
check_not "runtime state removed" 'bg' "$("$BRIG" --root "$RUNC_ROOT/$NS" list 2>&1)"

# 3. errors: the runtime's error line (--log FILE --log-format json, read by
# the shim) reaches the user through containerd.
defer "cleanup_ctr bad"
out=$(ctr "${RUN[@]}" --rm "$IMG" bad /no/such/binary 2>&1) && bad "missing binary: ctr run succeeded"
check "missing binary: the runtime's error reaches ctr" '/no/such/binary' "$out"
check "missing binary: reported as the runtime's failure" 'OCI runtime (create|start) failed|runc create failed|failed to create' "$out"
echo "    ctr error was: $(printf '%s' "$out" | tail -1)"
