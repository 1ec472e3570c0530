#!/bin/bash
# Rootless brig with the user's own systemd: `--systemd-cgroup` run by an
# ordinary user talks to the user's systemd (`systemd --user`, the
# user@UID.service the system delegates a cgroup2 subtree to) on the
# user's bus, by hand and under rootless podman (`--cgroup-manager systemd`).
#
# The host's PID 1 is not systemd and its cgroups are hybrid, so this runs
# in a private systemd (start_private_systemd: its own pid, mount and
# cgroup namespaces on a cgroup2 subtree of the host, a pure-v2 view), which
# starts the user's manager as a node does at login (`user@UID.service`;
# with no logind, the unit itself gives it XDG_RUNTIME_DIR, as pam_systemd
# would). The user's manager gets every controller (`Delegate=yes`, what
# the rootless guides ask of an operator). On this host only hugetlb is a
# cgroup2 controller (memory, cpu and pids are bound to v1) and systemd has
# no knob for it, so the test enables it down to the user's slice as an
# operator would; its limits are the ones a container can show here.
# Run (as root, which makes the user): BRIG=/abs/brig tests/clients/systemd-user.sh
. "$(dirname "$0")/lib.sh" || exit 2

for c in useradd userdel usermod setpriv newuidmap newgidmap podman conmon; do
	command -v "$c" >/dev/null || { skip "$c is missing (apt-get install passwd util-linux uidmap podman conmon)"; exit 0; }
done
[ -e /usr/lib/systemd/user/dbus.socket ] || { skip "no user bus for systemd --user (apt-get install dbus-user-session)"; exit 0; }
[ "$(id -u)" = 0 ] || { skip "needs root (to make the user)"; exit 0; }
userns_for_users || exit 0

make_user brig-sdusr 3200000000
defer kill_user
is_runc=
"$BRIG" --version 2>/dev/null | grep -q '^runc' && is_runc=1

start_private_systemd || exit 0
hp=$(grep -ow hugetlb "$U/cgroup.controllers" || true)
# A rootless bundle: the user's own ids, a hugetlb limit where the host
# has the controller (see above).
make_rootfs "$HOM/b/rootfs"
cat >"$HOM/b/config.json" <<EOF
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sleep", "600"],
   "env": ["PATH=/bin"], "cwd": "/"},
 "root": {"path": "rootfs"},
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
 "linux": {
   "cgroupsPath": "user.slice:brig:u1",
   "uidMappings": [{"containerID": 0, "hostID": $UID_, "size": 1}],
   "gidMappings": [{"containerID": 0, "hostID": $GID_, "size": 1}],
   "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
     {"type": "cgroup"}, {"type": "user"}],
   "resources": {$([ -n "$hp" ] && echo '"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]')}
 }}
EOF
chown -R "$UID_:$GID_" "$HOM/b"
# As the user, on the host's hybrid tree (no systemd, no user bus): the
# driver cannot be a user's systemd here; one line, nothing left.
mkdir -m 0700 "$T/xdg-host" && chown "$UID_:$GID_" "$T/xdg-host"
out=$(cd "$HOM" && setpriv --reuid="$UID_" --regid="$GID_" --init-groups -- env -i PATH=/usr/bin:/bin \
	XDG_RUNTIME_DIR="$T/xdg-host" HOME="$HOM" "$BRIG" --systemd-cgroup create --bundle "$HOM/b" u1 2>&1 </dev/null) &&
	bad "rootless --systemd-cgroup on a hybrid host succeeded: $out"
if [ -z "$is_runc" ]; then
	check "hybrid host: refused, naming cgroup v2" 'cgroup v2' "$out"
	check "hybrid host: in one line" '^1$' "$(printf '%s\n' "$out" | wc -l)"
else
	skip "hybrid host: brig's wording of the refusal (runc's differs)"
fi
check_not "hybrid host: nothing left" . "$(ls "$T/xdg-host/$(basename "$BRIG")" 2>/dev/null)"

# user@.service as a node without logind runs it; /run/user/UID is made by
# user-runtime-dir@UID.service, as at login.
inside sh -c 'mkdir -p /etc/systemd/system/user@.service.d /etc/systemd/system/user-runtime-dir@.service.d
	printf "[Unit]\nDefaultDependencies=no\n[Service]\nDelegate=yes\nEnvironment=XDG_RUNTIME_DIR=/run/user/%%i\n" \
		>/etc/systemd/system/user@.service.d/brig-test.conf
	printf "[Unit]\nDefaultDependencies=no\n" >/etc/systemd/system/user-runtime-dir@.service.d/brig-test.conf
	systemctl daemon-reload'
if [ -n "$hp" ]; then
	inside sh -c "mkdir -p /sys/fs/cgroup/user.slice/user-$UID_.slice &&
		for d in /sys/fs/cgroup /sys/fs/cgroup/user.slice /sys/fs/cgroup/user.slice/user-$UID_.slice; do
			echo +hugetlb >\$d/cgroup.subtree_control; done"
fi
out=$(inside systemctl start "user@$UID_.service" 2>&1) || { bad "start user@$UID_.service: $out"; exit 1; }
XDG=/run/user/$UID_
# as_user CMD...: CMD as the user inside the private system, with the
# environment a login gives it.
as_user() {
	inside setpriv --reuid="$UID_" --regid="$GID_" --init-groups -- env -i HOME="$HOM" USER="$USR" \
		XDG_RUNTIME_DIR="$XDG" DBUS_SESSION_BUS_ADDRESS="unix:path=$XDG/bus" PATH=/usr/bin:/bin "$@"
}
for i in $(seq 1 100); do as_user busctl --user status >/dev/null 2>&1 && break; sleep 0.1; done
check "the user's systemd is on the user's bus" "^OwnerUID=$UID_\$" "$(as_user busctl --user status 2>&1)"
ushow() { as_user systemctl --user show "$1" -p "$2" --value; }
MCG=/user.slice/user-$UID_.slice/user@$UID_.service

# By hand: every verb as the user, the container a scope of its systemd.
rt() { as_user timeout --kill-after=5 60 "$BRIG" --systemd-cgroup "$@"; }
# The container's stdio is a file, never a pipe the test waits on.
if rt run -d --bundle "$HOM/b" u1 >"$T/run.out" 2>&1 </dev/null; then ok "run -d --systemd-cgroup as the user"; else
	bad "run: $(cat "$T/run.out")"; fi
SCOPE=brig-u1.scope
CGD=/sys/fs/cgroup$MCG/user.slice/$SCOPE
check "$SCOPE is a unit of the user's systemd" '^active$' "$(ushow $SCOPE ActiveState)"
check "$SCOPE: Delegate=yes" '^yes$' "$(ushow $SCOPE Delegate)"
check "$SCOPE: below the user's manager, in user.slice" "^$MCG/user.slice/$SCOPE\$" "$(ushow $SCOPE ControlGroup)"
pid=$(rt state u1 | sed -n 's/^ *"pid": *\([0-9]*\).*/\1/p')
check "init is in $SCOPE" "^0::$MCG/user.slice/$SCOPE\$" "$(inside cat "/proc/$pid/cgroup" | grep '^0::')"
check "the scope's cgroup is the user's" "^$USR\$" "$(inside stat -c %U "$CGD")"
if [ -n "$hp" ]; then
	check "hugepageLimits applied in the delegated scope" '^4194304$' "$(inside cat "$CGD/hugetlb.2MB.max")"
fi
rt exec -d u1 sleep 500 >"$T/exec.out" 2>&1 </dev/null || bad "exec -d: $(cat "$T/exec.out")"
# The caller's cgroup is outside the user's subtree, so the user may not
# move a process into the scope; brig asks the scope's systemd to. runc
# 1.1.5 ignores the error there and leaves the exec'd process outside.
if [ -z "$is_runc" ]; then
	check "exec: the process joins the scope (its systemd places it)" '^2$' "$(inside cat "$CGD/cgroup.procs" | wc -l)"
	check "ps lists both" '^2$' "$(rt ps u1 2>&1 | grep -c 'sleep')"
else
	skip "exec into the scope: runc 1.1.5 leaves the exec'd process outside"
fi
out=$(rt pause u1 2>&1) || bad "pause: $out"
check "pause: frozen" '^1$' "$(inside cat "$CGD/cgroup.freeze")"
check "pause: state paused" '"status": "paused"' "$(rt state u1)"
out=$(rt resume u1 2>&1) || bad "resume: $out"
check "resume: running" '"status": "running"' "$(rt state u1)"
# runc 1.1.5's update takes no hugepageLimits.
if [ -n "$hp" ] && [ -z "$is_runc" ]; then
	echo '{"hugepageLimits": [{"pageSize": "2MB", "limit": 8388608}]}' >"$HOM/r.json"
	chmod 644 "$HOM/r.json"
	out=$(rt update -r "$HOM/r.json" u1 2>&1) || bad "update: $out"
	check "update: the new limit" '^8388608$' "$(inside cat "$CGD/hugetlb.2MB.max")"
else
	skip "update of hugepageLimits: $([ -n "$hp" ] && echo "runc 1.1.5's update takes none" || echo "no hugetlb controller in this view")"
fi
check "events --stats" '"type":"stats"' "$(rt events --stats u1 2>&1)"
out=$(rt kill u1 KILL 2>&1) || bad "kill: $out"
for i in $(seq 1 50); do rt state u1 2>/dev/null | grep -q '"stopped"' && break; sleep 0.1; done
out=$(rt delete u1 2>&1) || bad "delete: $out"
check "delete: $SCOPE is gone" '^(inactive|)$' "$(ushow $SCOPE ActiveState 2>/dev/null)"
check "delete: its cgroup is gone" '^gone$' "$(inside test -e "$CGD" && echo there || echo gone)"
check "features: systemdUser" '"systemdUser": *true' "$(as_user "$BRIG" features | tr -d '\n')"

# Rootless podman with the systemd cgroup manager, in the same system.
# podman always sets a pids limit, which runc 1.1 fails on where the pids
# controller is bound to v1 (brig warns and goes on).
if runc_lacks_v2 pids; then
	skip "rootless podman: runc fails on podman's pids limit where pids is a v1 controller"
	exit 0
fi
RT=$BRIG
PODMAN=(/usr/bin/podman --root "$HOM/storage" --runroot "$XDG/runroot" --tmpdir "$XDG/tmp"
	--storage-driver overlay --cgroup-manager systemd --events-backend file
	--network-config-dir "$HOM/net" --runtime "$RT")
podman() { as_user timeout --kill-after=5 120 "${PODMAN[@]}" "$@"; }
IMG=localhost/brig-busybox
tar -C "$HOM/b/rootfs" --numeric-owner -cf "$HOM/rootfs.tar" .
chown "$UID_:$GID_" "$HOM/rootfs.tar"
out=$(podman import --change 'ENV PATH=/bin' "$HOM/rootfs.tar" "$IMG" 2>&1) || { bad "podman import: $out"; exit 1; }
out=$(podman run --rm --network none "$IMG" sh -c 'id -u; echo run-ok' 2>&1) || bad "podman run: $out"
check "podman run: root of the user's namespace" '^0$' "$out"
out=$(podman run -d --name bg --network none "$IMG" sleep 1000 2>&1) || bad "podman run -d: $out"
cid=$(podman inspect --format '{{.Id}}' bg)
pid=$(podman inspect --format '{{.State.Pid}}' bg)
check "podman: the container is libpod-ID.scope of the user's systemd" '^active$' "$(ushow "libpod-$cid.scope" ActiveState)"
check "podman: its process is in that scope" "^0::$MCG/user.slice/libpod-$cid.scope\$" "$(inside cat "/proc/$pid/cgroup" | grep '^0::')"
out=$(podman pause bg 2>&1) || bad "podman pause: $out"
check "podman pause: paused (a cgroup of its own)" '^paused$' "$(podman inspect --format '{{.State.Status}}' bg)"
out=$(podman unpause bg 2>&1) || bad "podman unpause: $out"
check "podman unpause: running" '^running$' "$(podman inspect --format '{{.State.Status}}' bg)"
if ! exec_skipped "podman exec"; then
	out=$(podman exec bg sh -c 'echo exec-ok' 2>&1) || bad "podman exec: $out"
	check "podman exec" '^exec-ok$' "$out"
fi
check "podman top" 'sleep 1000' "$(podman top bg 2>&1)"
out=$(podman rm -f -t 0 bg 2>&1) || bad "podman rm -f: $out"
check "podman rm: the scope is gone" '^(inactive|)$' "$(ushow "libpod-$cid.scope" ActiveState 2>/dev/null)"
