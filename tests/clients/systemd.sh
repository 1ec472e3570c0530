#!/bin/bash
# brig's systemd cgroup driver (--systemd-cgroup) against a real systemd.
#
# The host's PID 1 need not be systemd: this starts a private one, as PID 1
# of its own pid, mount, cgroup, uts, ipc and net namespaces, on a cgroup2
# subtree of the host (unified hierarchy) that is all it manages. Its
# filesystem is the host's made read-only (only this test's temp dir, and
# fresh /run and cgroup2 mounts, are writable), /etc/systemd is its own
# tmpfs, and its only job is a D-Bus daemon for the system bus: the units
# that would touch a real machine (tmpfiles, sysctl, modules, journald ...)
# are masked. brig then runs inside those namespaces, where it sees a
# systemd host with cgroup v2, and the test asks systemd what it made.
# Run: BRIG=/abs/brig tests/clients/systemd.sh
. "$(dirname "$0")/lib.sh"

start_private_systemd || exit 0


rt() { with_timeout 60 nsenter -t "$SD" -m -p -C -u -i -n -- "$BRIG" --root "$T/state" --systemd-cgroup "$@"; }
show() { inside systemctl show "$1" -p "$2" --value; }

# A bundle whose init sleeps, with limits systemd has properties for.
# runc (make test-clients-runc) fails on a limit whose controller this v2
# view lacks (memory, cpu and pids are bound to v1 on a hybrid host), where
# brig warns and skips, so runc gets only what the host can take.
make_rootfs "$T/b/rootfs"
hp=$(grep -ow hugetlb "$U/cgroup.controllers" || true)
limits='"memory": {"limit": 67108864}, "cpu": {"shares": 512, "quota": 25000, "period": 100000}, "pids": {"limit": 77}'
is_runc=
if "$BRIG" --version 2>/dev/null | grep -q '^runc'; then
	is_runc=1
	limits=
fi
cat >"$T/b/config.json" <<EOF
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sleep", "600"],
   "env": ["PATH=/bin"], "cwd": "/"},
 "root": {"path": "rootfs"},
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
 "linux": {
   "cgroupsPath": "system.slice:brig:sd1",
   "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "cgroup"}],
   "resources": {
     "devices": [{"allow": false, "access": "rwm"}]
     $( [ -n "$limits" ] && echo ", $limits" )
     $( [ -n "$hp" ] && echo ', "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]' )
   }}}
EOF

# The container's stdio is create's: a file, never a pipe we wait on.
if rt create --bundle "$T/b" sd1 >"$T/create.out" 2>&1; then ok "create with --systemd-cgroup"; else bad "create: $(cat "$T/create.out")"; fi
rt start sd1 >"$T/start.out" 2>&1 || bad "start: $(cat "$T/start.out")"
SCOPE=brig-sd1.scope
check "the container is systemd's unit $SCOPE" '^active$' "$(show $SCOPE ActiveState)"
check "$SCOPE: Delegate=yes" '^yes$' "$(show $SCOPE Delegate)"
check "$SCOPE: in system.slice" '^system.slice$' "$(show $SCOPE Slice)"
check "$SCOPE: ControlGroup" '^/system.slice/brig-sd1.scope$' "$(show $SCOPE ControlGroup)"
if [ -n "$limits" ]; then
	check "$SCOPE: MemoryMax from memory.limit" '^67108864$' "$(show $SCOPE MemoryMax)"
	check "$SCOPE: TasksMax from pids.limit" '^77$' "$(show $SCOPE TasksMax)"
	check "$SCOPE: CPUWeight from cpu.shares 512" '^20$' "$(show $SCOPE CPUWeight)"
	check "$SCOPE: CPUQuotaPerSecUSec from quota/period" '^250ms$' "$(show $SCOPE CPUQuotaPerSecUSec)"
fi
# The device allow-list is systemd's too, so a daemon-reload cannot reset it.
check "$SCOPE: DevicePolicy=strict" '^strict$' "$(show $SCOPE DevicePolicy)"
check "$SCOPE: DeviceAllow has /dev/null" '/dev/char/1:3 rwm' "$(show $SCOPE DeviceAllow)"
check "$SCOPE: DeviceAllow has the pts group" 'char-pts rwm' "$(show $SCOPE DeviceAllow)"
pid=$(rt state sd1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' || true)
check "state names init's pid" '^[0-9]+$' "$pid"
check "init (pid $pid) is in the scope's cgroup" "^$pid\$" "$(inside cat /sys/fs/cgroup/system.slice/$SCOPE/cgroup.procs)"
check "the scope is in the host's cgroup2 subtree" "^$pid\$" "$(inside cat /sys/fs/cgroup/system.slice/$SCOPE/cgroup.procs)"
[ -d "$CG/system.slice/$SCOPE" ] && ok "host sees it under $CG" || bad "no $CG/system.slice/$SCOPE"
if [ -n "$hp" ]; then
	check "brig wrote hugetlb.2MB.max into the delegated scope" '^4194304$' \
		"$(cat "$CG/system.slice/$SCOPE/hugetlb.2MB.max")"
fi

if exec_skipped "exec joins the scope"; then :; else
	rt exec -d sd1 sleep 600 >"$T/exec.out" 2>&1 || bad "exec -d: $(cat "$T/exec.out")"
	n=$(rt ps --format json sd1 | tr -cd ',' | wc -c)
	check "exec'd process is in the scope too (ps lists 2)" '^1$' "$n"
	out=$(rt exec sd1 sh -c 'echo x >/dev/null && echo null-ok' 2>&1 </dev/null)
	check "/dev/null writable under systemd's and brig's device programs" 'null-ok' "$out"
fi

if [ -n "$limits" ]; then
	rt update --pids-limit 55 --memory 100663296 sd1 >"$T/update.out" 2>&1 || bad "update: $(cat "$T/update.out")"
	check "update: systemd's TasksMax follows" '^55$' "$(show $SCOPE TasksMax)"
	check "update: systemd's MemoryMax follows" '^100663296$' "$(show $SCOPE MemoryMax)"
fi

rt pause sd1 >/dev/null 2>&1 || bad "pause: $(rt pause sd1 2>&1)"
check "pause: cgroup.freeze in the scope" '^1$' "$(cat "$CG/system.slice/$SCOPE/cgroup.freeze")"
check "pause: state paused" '"status": *"paused"' "$(rt state sd1)"
rt resume sd1 >/dev/null 2>&1 || bad "resume: $(rt resume sd1 2>&1)"
check "resume: running" '"status": *"running"' "$(rt state sd1)"

# Same unit name while sd1 holds it: systemd refuses, brig says so, nothing
# left, sd1 untouched. (runc 1.1 joins the existing unit instead: two
# containers in one cgroup, which brig never allows.)
if [ -z "$is_runc" ]; then
	rt create --bundle "$T/b" sd1dup >"$T/dup.out" 2>&1 && bad "a second container took unit $SCOPE" ||
		check "a second container for unit $SCOPE is refused" 'UnitExists' "$(cat "$T/dup.out")"
	check "...in one line" '^1$' "$(wc -l <"$T/dup.out")"
	check_not "...and leaves no state" 'sd1dup' "$(ls "$T/state")"
	check "...and leaves the unit's owner running" '"status": *"running"' "$(rt state sd1)"
	check "...with its processes" "^$pid\$" "$(inside cat /sys/fs/cgroup/system.slice/$SCOPE/cgroup.procs | head -1)"
fi

rt kill --all sd1 KILL >/dev/null 2>&1 || bad "kill --all: $(rt kill --all sd1 KILL 2>&1)"
for i in $(seq 1 100); do rt state sd1 2>/dev/null | grep -q '"stopped"' && break; sleep 0.05; done
rt delete sd1 >/dev/null 2>&1 || bad "delete: $(rt delete sd1 2>&1)"
check "delete: the unit is gone" '^(inactive|failed)?$' "$(show $SCOPE ActiveState 2>/dev/null)"
check_not "delete: no failed unit left" "$SCOPE" "$(inside systemctl list-units --all --no-legend --no-pager)"
[ ! -e "$CG/system.slice/$SCOPE" ] && ok "delete: the scope's cgroup is removed" || bad "$CG/system.slice/$SCOPE is left"

[ -z "$is_runc" ] || exit 0
# A systemd driver with no systemd to talk to (the host itself, no bus):
# one line naming the bus, nothing left behind.
mkdir -p "$T/state2"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-such-bus with_timeout 60 "$BRIG" --root "$T/state2" \
	--systemd-cgroup create --bundle "$T/b" nobus >"$T/nobus.out" 2>&1 && bad "create without a bus succeeded" ||
	check "no system bus: the error names it" 'system bus' "$(cat "$T/nobus.out")"
out=$(cat "$T/nobus.out")
check "...in one line" '^1$' "$(printf '%s\n' "$out" | wc -l)"
check_not "...and leaves no state" 'nobus' "$(ls "$T/state2")"

check "features: linux.cgroup.systemd is true" '"systemd": *true' "$("$BRIG" features 2>/dev/null | tr -d '\n ' | sed 's/,/, /g; s/:/: /g')"
