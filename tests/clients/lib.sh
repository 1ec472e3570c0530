# Shared helpers for the real-client tests (make test-clients). Sourced by
# each suite (ctr.sh, podman.sh, cri.sh, docker.sh, ...); not run by itself.
#
# BRIG: the runtime under test (absolute path). Tests must also pass with
#   BRIG=/usr/sbin/runc, which checks the tests themselves.
# CLIENTS_SKIP_EXEC=1: skip the steps that need `brig exec` (printed as SKIP).
set -euo pipefail

BRIG=${BRIG:?set BRIG to the runtime binary (absolute path)}
case $BRIG in /*) ;; *) echo "BRIG must be an absolute path: $BRIG" >&2; exit 2 ;; esac
[ -x "$BRIG" ] || { echo "BRIG is not executable: $BRIG" >&2; exit 2; }
BUSYBOX=${BUSYBOX:-/bin/busybox}
SUITE=${SUITE:-$(basename "$0" .sh)}
PASS=0
FAIL=0

# Every test gets its own temp dir; cleanup hooks run in reverse order on any exit.
T=$(mktemp -d "/tmp/brig-clients-$SUITE.XXXXXX")
# Searchable by others (not readable), as /run and /var/lib are: a pod's
# remapped root must reach its bundle's rootfs below it.
chmod 711 "$T"
CLEANUPS=()
on_exit() {
	local rc=$? i
	set +e
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[$i]}" >/dev/null 2>&1; done
	rm -rf "$T"
	echo "$SUITE: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ] && [ "$rc" -eq 0 ] || exit 1
}
trap on_exit EXIT
trap 'exit 130' INT TERM
defer() { CLEANUPS+=("$1"); }

ok() { PASS=$((PASS + 1)); echo "ok   $SUITE: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $SUITE: $*" >&2; }
skip() { echo "SKIP $SUITE: $*"; }
# check NAME EXPECTED-REGEX OUTPUT: passes when OUTPUT matches (grep -E).
check() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then ok "$1"; else
		bad "$1: expected /$2/ in:"; printf '%s\n' "$3" | sed 's/^/    | /' >&2
	fi
}
# check_not NAME REGEX OUTPUT: passes when OUTPUT does not match.
check_not() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		bad "$1: unexpected /$2/ in:"; printf '%s\n' "$3" | sed 's/^/    | /' >&2
	else ok "$1"; fi
}
exec_skipped() {
	if [ "${CLIENTS_SKIP_EXEC:-0}" = 1 ]; then skip "$1 (needs exec; CLIENTS_SKIP_EXEC=1)"; return 0; fi
	return 1
}
# with_timeout SECS CMD...: a hung client must fail the test, not the CI job.
with_timeout() { timeout --kill-after=5 "$@"; }

# make_rootfs DIR: a busybox-static root with the applet links.
make_rootfs() {
	mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/proc" "$1/sys" "$1/dev"
	cp "$BUSYBOX" "$1/bin/busybox"
	local a
	for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$1/bin/$a"; done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$1/etc/passwd"
	echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$1/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$1/etc/group"
}

# make_oci_archive ROOTFS OUT.tar NAME [CMD-JSON]: an OCI image archive written
# by hand (one gzip layer), which `ctr images import` names NAME.
make_oci_archive() {
	local rootfs=$1 out=$2 name=$3 cmd=${4:-'["sh"]'} d
	d=$(mktemp -d "$T/oci.XXXXXX")
	mkdir -p "$d/blobs/sha256"
	tar -C "$rootfs" --numeric-owner -cf "$d/layer.tar" .
	local diff_id layer_sz layer_dg cfg cfg_dg man man_dg
	diff_id=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
	gzip -n -1 "$d/layer.tar"
	layer_dg=$(sha256sum "$d/layer.tar.gz" | cut -d' ' -f1)
	layer_sz=$(stat -c %s "$d/layer.tar.gz")
	mv "$d/layer.tar.gz" "$d/blobs/sha256/$layer_dg"
	cfg=$(printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$cmd" "$diff_id")
	cfg_dg=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
	printf '%s' "$cfg" >"$d/blobs/sha256/$cfg_dg"
	man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
		"$cfg_dg" "${#cfg}" "$layer_dg" "$layer_sz")
	man_dg=$(printf '%s' "$man" | sha256sum | cut -d' ' -f1)
	printf '%s' "$man" >"$d/blobs/sha256/$man_dg"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
		"$man_dg" "${#man}" "$name" "${name##*:}" >"$d/index.json"
	tar -C "$d" -cf "$out" oci-layout index.json blobs
	rm -rf "$d"
}

# start_containerd DIR [EXTRA-TOML]: (EXTRA goes after the top-level keys) a private containerd (own root, state,
# socket, config); sets CTR_ADDR. Killed and its dirs removed on exit.
start_containerd() {
	local d=$1 extra=${2:-}
	mkdir -p "$d/root" "$d/state"
	cat >"$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
$extra
[grpc]
  address = "$d/c.sock"
[ttrpc]
  address = "$d/c.sock.ttrpc"
[debug]
  level = "info"
TOML
	local pid
	if [ -n "${CONTAINERD_UNIT:-}" ]; then
		# A service of the private systemd (start_private_systemd), as
		# containerd.service is on a node; stopped with it.
		inside systemd-run --unit="$CONTAINERD_UNIT" -p DefaultDependencies=no -p Delegate=yes -p KillMode=process \
			-p StandardOutput=file:"$d/containerd.log" -p StandardError=file:"$d/containerd.log" \
			/usr/bin/containerd --config "$d/config.toml" >/dev/null
		pid=$SD
	else
		containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
		pid=$!
		defer "kill $pid; wait $pid; umount_under '$d'"
	fi
	CTR_ADDR=$d/c.sock
	local i
	for i in $(seq 1 100); do
		if [ -S "$CTR_ADDR" ] && ctr -a "$CTR_ADDR" version >/dev/null 2>&1; then return 0; fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	echo "containerd did not start:" >&2; tail -20 "$d/containerd.log" >&2
	return 1
}

# umount_under DIR: lazily unmount whatever a client left mounted under DIR
# (snapshots, shm, netns) so the temp dir can be removed.
umount_under() {
	local m
	for m in $(awk -v d="$1" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
}

# remove_cgroups NAME: remove the cgroup parent a client made for its
# namespace (/sys/fs/cgroup/[*/]NAME), children first, in every hierarchy;
# only empty cgroups can go, so nothing in use is touched.
remove_cgroups() {
	local d
	for d in /sys/fs/cgroup/"$1" /sys/fs/cgroup/*/"$1"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	return 0
}

# runc_lacks_v2 CONTROLLER: true when the runtime under test is runc and the
# host's cgroup2 hierarchy lacks CONTROLLER (bound to v1 on a hybrid host).
# runc 1.1 fails on a limit it cannot write there, where brig warns and
# goes on; a suite whose client always sets such a limit skips for runc.
runc_lacks_v2() {
	"$BRIG" --version 2>/dev/null | grep -q '^runc' &&
		! grep -qw "$1" "$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)/cgroup.controllers"
}

# start_private_systemd: a private systemd as PID 1 of its own pid, mount,
# cgroup, uts, ipc and net namespaces, on a cgroup2 subtree of the host,
# whose only job is a D-Bus system bus (see systemd.sh). Sets SD (its host
# pid), U (the host's cgroup2 mount) and CG (the subtree), and points BRIG
# at a copy inside the test dir; inside CMD...
# runs CMD in all its namespaces. Returns 1 (after a SKIP line) where it
# cannot run. Killed, and the subtree removed, on exit.
start_private_systemd() {
	local c i
	for c in unshare nsenter /lib/systemd/systemd dbus-daemon busctl systemctl; do
		command -v "$c" >/dev/null || { skip "$c is missing (apt-get install systemd dbus util-linux)"; return 1; }
	done
	U=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
	[ -n "$U" ] || { skip "no cgroup2 hierarchy on this host"; return 1; }

	CG=$U/brig-systemd-$$
	mkdir "$CG"
	# On exit: kill everything in the subtree (systemd, the bus, containers),
	# wait until it is empty, remove it children first.
	remove_subtree() {
		local i
		echo 1 >"$CG/cgroup.kill" 2>/dev/null || kill -9 $(cat $(find "$CG" -name cgroup.procs)) 2>/dev/null
		for i in $(seq 1 100); do grep -q '^populated 0' "$CG/cgroup.events" && break; sleep 0.05; done
		find "$CG" -depth -type d -exec rmdir {} +
	}
	defer remove_subtree
	mkdir -p "$T/state" "$T/units" "$T/bin"
	: >"$T/console"
	# /tmp, /var and /run are covered in there: the runtime under test is
	# copied where it stays visible (a CI checkout may live in /tmp).
	install -m 0755 "$BRIG" "$T/bin/$(basename "$BRIG")"
	BRIG=$T/bin/$(basename "$BRIG")

	# Units: a target that wants only the bus (socket-activated, as systemd
	# connects to it once dbus.socket and dbus.service both run), with no
	# default dependencies, and masks for everything a booting system would do.
	cat >"$T/units/brig-test.target" <<-'EOF'
	[Unit]
	Description=brig systemd-driver test
	DefaultDependencies=no
	Wants=dbus.socket dbus.service
	EOF
	cat >"$T/units/dbus.socket" <<-'EOF'
	[Unit]
	Description=D-Bus system bus socket (brig test)
	DefaultDependencies=no
	[Socket]
	ListenStream=/run/dbus/system_bus_socket
	EOF
	cat >"$T/units/dbus.service" <<-'EOF'
	[Unit]
	Description=D-Bus system bus (brig test)
	DefaultDependencies=no
	Requires=dbus.socket
	After=dbus.socket
	[Service]
	ExecStart=/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation
	EOF
	for u in sysinit.target basic.target sockets.target timers.target paths.target \
		local-fs.target swap.target getty.target console-getty.service \
		systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket \
		systemd-journald-audit.socket systemd-journal-flush.service \
		systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service \
		systemd-tmpfiles-clean.timer systemd-sysctl.service systemd-modules-load.service \
		systemd-binfmt.service proc-sys-fs-binfmt_misc.automount systemd-remount-fs.service \
		systemd-sysusers.service systemd-update-utmp.service systemd-udevd.service \
		systemd-udevd-control.socket systemd-udevd-kernel.socket; do
		ln -s /dev/null "$T/units/$u"
	done

	cat >"$T/boot.sh" <<-EOF
	#!/bin/bash
	set -e
	mount --make-rprivate /
	mount --bind '$T' '$T'
	# Read-only view of every host mount but ours.
	for m in \$(awk '{print \$5}' /proc/self/mountinfo | sort -u); do
		case \$m in '$T'|'$T'/*) continue ;; esac
		mount -o remount,bind,ro "\$m" 2>/dev/null || true
	done
	# /run, /tmp, /var and /dev/shm are the private system's own tmpfs; our dir is
	# moved aside while /tmp is covered, then moved back to the same path.
	mount -t tmpfs -o mode=755 tmpfs /run
	mkdir /run/.t && mount --move '$T' /run/.t
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	mount -t tmpfs -o mode=755 tmpfs /var && ln -s /run /var/run && mkdir -m 1777 /var/tmp
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	mkdir -p '$T' && mount --move /run/.t '$T' && rmdir /run/.t
	mount -t proc proc /proc
	# /proc stays fully visible (no read-only /proc/sys over it): the
	# kernel refuses a user-namespaced container its own procfs otherwise.
	# systemd-sysctl is masked instead.
	mount -t tmpfs -o mode=755 tmpfs /etc/systemd
	mkdir /etc/systemd/system && cp -a '$T'/units/. /etc/systemd/system/
	[ -d /sys/fs/cgroup ] && umount -l /sys/fs/cgroup 2>/dev/null || true
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	mount --bind '$T/console' /dev/console
	hostname brig-systemd-test
	exec env container=brig-test /lib/systemd/systemd --unit=brig-test.target --log-target=console --log-level=notice
	EOF
	chmod +x "$T/boot.sh"
	(echo "$BASHPID" >"$CG/cgroup.procs" && exec unshare --pid --fork --mount --cgroup --uts --ipc --net "$T/boot.sh") \
		>"$T/boot.log" 2>&1 &
	WRAP=$!
	SD=
	for i in $(seq 1 100); do
		SD=$(pgrep -P "$WRAP" -x systemd || true)
		[ -n "$SD" ] && break
		sleep 0.1
	done
	[ -n "$SD" ] || { bad "private systemd did not start: $(cat "$T/boot.log" "$T/console")"; exit 1; }
	# unshare itself waits in the subtree's root, where a process would stop
	# systemd from enabling controllers below it: back to our own cgroup.
	echo "$WRAP" >"$U$(sed -n 's/^0:://p' /proc/self/cgroup)/cgroup.procs"
	inside() { nsenter -t "$SD" -m -p -C -u -i -n -- "$@"; }
	for i in $(seq 1 100); do
		inside busctl --system list --acquired --no-pager 2>/dev/null | grep -q '^org.freedesktop.systemd1 ' && break
		sleep 0.1
	done
	if inside busctl --system list --acquired --no-pager 2>/dev/null | grep -q '^org.freedesktop.systemd1 '; then
		ok "a private systemd $(inside systemctl --version | head -1 | cut -d' ' -f2) owns org.freedesktop.systemd1 on its system bus"
	else
		bad "systemd never joined its bus: $(cat "$T/console"; inside systemctl status dbus.service --no-pager 2>&1; inside busctl --system list --no-pager 2>&1 | grep -v activatable)"
		exit 1
	fi
	return 0
}

# make_user NAME RANGE: an ordinary user of the test's own, with no
# automatic subordinate ranges but exactly RANGE..RANGE+65535 (far above
# the usual 100000 + 65536 n), and a home $T/home it owns. Sets UID_, GID_
# and HOM; the user and its ranges go on exit. A leftover of a killed run
# goes first. kill_user (deferred by the caller where its processes must
# end) kills every process of the user or of its range.
make_user() {
	USR=$1
	RANGE=$2
	if id "$USR" >/dev/null 2>&1; then UID_=$(id -u "$USR"); kill_user; userdel "$USR"; fi
	useradd -M -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 -d "$T/home" -s /bin/sh "$USR"
	defer "userdel '$USR'"
	usermod --add-subuids "$RANGE-$((RANGE + 65535))" --add-subgids "$RANGE-$((RANGE + 65535))" "$USR"
	defer "usermod --del-subuids '$RANGE-$((RANGE + 65535))' --del-subgids '$RANGE-$((RANGE + 65535))' '$USR'"
	UID_=$(id -u "$USR")
	GID_=$(id -g "$USR")
	HOM=$T/home
	mkdir -m 0700 "$HOM"
	chown "$UID_:$GID_" "$HOM"
}
kill_user() {
	local p u i found
	for i in $(seq 1 50); do
		found=
		for p in /proc/[0-9]*; do
			u=$(awk '/^Uid:/ {print $2; exit}' "$p/status" 2>/dev/null) || continue
			[ -n "$u" ] || continue
			if [ "$u" = "$UID_" ] || { [ "$u" -ge "$RANGE" ] && [ "$u" -lt $((RANGE + 65536)) ]; }; then
				kill -9 "${p#/proc/}" 2>/dev/null && found=1
			fi
		done
		[ -n "$found" ] || return 0
		sleep 0.1
	done
}
# userns_for_users: false (after a SKIP line) where the kernel refuses
# user namespaces to ordinary users.
userns_for_users() {
	if [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)" = 0 ] ||
		[ "$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1)" = 0 ]; then
		skip "this kernel refuses user namespaces to ordinary users"
		return 1
	fi
}

# kill_leftovers DIR: kill, by pid, processes whose command line names DIR
# (shims and conmons started for this test's private containerd/podman).
kill_leftovers() {
	local p
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$1"; then kill -9 "${p#/proc/}" 2>/dev/null || true; fi
	done
}
