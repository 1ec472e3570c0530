#!/bin/bash
# brig under podman 4.3 (conmon): `podman --runtime $BRIG` with a private
# storage, cgroupfs, file events and no network.
# PODMAN_SYSTEMD=1 (tests/clients/podman-systemd.sh): the same on a systemd
# host, podman's default there: podman runs inside a private systemd
# (start_private_systemd) with `--cgroup-manager systemd`, so it calls the
# runtime with --systemd-cgroup and a machine.slice:libpod:ID path.
# Run: BRIG=/abs/brig tests/clients/podman.sh
. "$(dirname "$0")/lib.sh"

CGROUP_MANAGER=cgroupfs
IN=()
RUNROOT=$T/podman/runroot
if [ "${PODMAN_SYSTEMD:-0}" = 1 ]; then
	# podman always sets a pids limit.
	if runc_lacks_v2 pids; then
		skip "runc needs the pids controller in cgroup v2, which this host binds to v1"
		exit 0
	fi
	start_private_systemd || exit 0
	CGROUP_MANAGER=systemd
	IN=(nsenter -t "$SD" -m -p -C -u -i -n --)
	# podman refuses a runroot over 50 characters here; that system's
	# /run is its own.
	RUNROOT=/run/podman-test
fi
P=$T/podman
mkdir -p "$P/tmp"
PODMAN=("${IN[@]}" /usr/bin/podman --root "$P/root" --runroot "$RUNROOT" --tmpdir "$P/tmp"
	--storage-driver overlay --cgroup-manager "$CGROUP_MANAGER" --events-backend file
	--network-config-dir "$P/net" --runtime "$BRIG")
podman() { with_timeout 120 "${PODMAN[@]}" "$@"; }
defer "remove_cgroups libpod_parent"
defer "umount_under '$T'"
defer "kill_leftovers '$T'"
defer "with_timeout 60 ${PODMAN[*]} rm -af -t 0"
IMG=localhost/brig-busybox
# This host's hard RLIMIT_NOFILE is 20000, below podman's default.
RUN=(run --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768)

make_rootfs "$T/rootfs"
tar -C "$T/rootfs" --numeric-owner -cf "$T/rootfs.tar" .
out=$(podman import --change 'ENV PATH=/bin' "$T/rootfs.tar" "$IMG" 2>&1) || { bad "import: $out"; exit 1; }
check "image imported" 'brig-busybox' "$(podman images)"

out=$(podman "${RUN[@]}" --rm "$IMG" sh -c 'echo hello-podman; grep ^Cap /proc/self/status' 2>&1) || bad "run: $out"
check "run prints the command's output" '^hello-podman' "$out"
check "run: podman's default capability set" '^CapEff:\s+00000000800405fb' "$out"

out=$(podman "${RUN[@]}" --rm --tty "$IMG" sh -c 'tty; stty size' 2>&1 </dev/null) || bad "run --tty: $out"
check "run --tty: stdout is a pty" '/dev/pts/[0-9]+' "$out"

out=$(podman "${RUN[@]}" --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 "$IMG" \
	sh -c 'cat /proc/self/uid_map /proc/self/gid_map; id -u' 2>&1) || bad "run --uidmap: $out"
check "run --uidmap: uid_map" '^ +0 +100000 +65536' "$out"
check "run --uidmap: root inside" '^0$' "$out"

out=$(podman "${RUN[@]}" --rm --cap-drop all "$IMG" grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status 2>&1) || bad "run --cap-drop all: $out"
check "run --cap-drop all: no effective caps" '^CapEff:\s+0000000000000000' "$out"
check "run --cap-drop all: empty bounding set" '^CapBnd:\s+0000000000000000' "$out"
out=$(podman "${RUN[@]}" --rm --cap-drop chown,kill "$IMG" grep '^CapBnd' /proc/self/status 2>&1) || bad "run --cap-drop: $out"
# podman's default 800405fb without CAP_CHOWN (bit 0) and CAP_KILL (bit 5).
check "run --cap-drop chown,kill: both gone" '^CapBnd:\s+00000000800405da' "$out"

cat >"$T/seccomp.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
JSON
out=$(podman "${RUN[@]}" --rm --security-opt "seccomp=$T/seccomp.json" "$IMG" \
	sh -c 'grep ^Seccomp: /proc/self/status; mkdir /tmp/d && echo made' 2>&1) && bad "seccomp: mkdir allowed: $out"
check "run --security-opt seccomp: filter on" '^Seccomp:\s+2' "$out"
check "run --security-opt seccomp: mkdir denied" 'Operation not permitted' "$out"

out=$(podman "${RUN[@]}" --rm --read-only "$IMG" sh -c 'touch /x; touch /tmp/y && echo tmp-ok' 2>&1) || bad "run --read-only: $out"
check "run --read-only: / is read-only" 'Read-only file system' "$out"
check "run --read-only: /tmp still writable" '^tmp-ok' "$out"

out=$(podman "${RUN[@]}" --rm --sysctl net.ipv4.ip_unprivileged_port_start=1000 "$IMG" \
	cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>&1) || bad "run --sysctl: $out"
check "run --sysctl: value set in the container" '^1000$' "$out"

# A long-running container: ps, top, exec, stop, rm.
podman "${RUN[@]}" -d --name bg "$IMG" sleep 1000 >/dev/null
check "ps shows it running" 'bg$' "$(podman ps --format '{{.Status}} {{.Names}}' | grep '^Up')"
cid=$(podman inspect --format '{{.Id}}' bg)
conmon_cmd=$(for p in /proc/[0-9]*; do c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
	case $c in *conmon*"$cid"*) echo "$c" ;; esac; done)
check "conmon drives \$BRIG" "(-r|--runtime) $BRIG " "$conmon_cmd"
check "top lists the container's process" 'sleep 1000' "$(podman top bg 2>&1)"
if [ "$CGROUP_MANAGER" = systemd ]; then
	u=libpod-$cid.scope
	check "the container is systemd's delegated scope $u in machine.slice" '^active machine.slice yes$' \
		"$(for p in ActiveState Slice Delegate; do inside systemctl show "$u" -p $p --value; done | tr '\n' ' ' | sed 's/ $//')"
fi
if ! exec_skipped "podman exec"; then
	out=$(podman exec bg sh -c 'echo exec-ok; grep ^CapEff /proc/self/status' 2>&1) || bad "exec: $out"
	check "exec runs in the container" '^exec-ok' "$out"
	check "exec gets the container's caps" '^CapEff:\s+00000000800405fb' "$out"
	out=$(podman exec --tty bg tty 2>&1 </dev/null) || bad "exec --tty: $out"
	check "exec --tty gets a pty" '/dev/pts/[0-9]+' "$out"
	podman exec bg sh -c 'exit 3' >/dev/null 2>&1 && rc=0 || rc=$?
	check "exec returns the exit status" '^3$' "$rc"
fi
podman stop -t 2 bg >/dev/null
check "stop: exited" '^exited$' "$(podman inspect --format '{{.State.Status}}' bg)"
podman rm bg >/dev/null
check_not "rm: gone" 'bg' "$(podman ps -a --format '{{.Names}}')"

out=$(podman "${RUN[@]}" --rm "$IMG" /no/such/binary 2>&1) && bad "missing binary: podman run succeeded"
check "missing binary: the runtime's error reaches podman" '/no/such/binary' "$out"
echo "    podman error was: $(printf '%s' "$out" | tail -1)"
