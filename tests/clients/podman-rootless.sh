#!/bin/bash
# brig under rootless podman 4.3 (conmon): an ordinary user of the test's
# own (/etc/subuid and /etc/subgid ranges, a home and an XDG_RUNTIME_DIR
# it owns) runs `podman --runtime $BRIG` with a private storage (native
# overlay in the user namespace), cgroupfs, file events and no network.
# Podman runs the runtime as root of the user's namespace (its own uid at
# 0, the subuid range above it); on a host without a cgroup delegated to
# the user the container runs without a cgroup, as with runc.
# Run (as root, which makes the user): BRIG=/abs/brig tests/clients/podman-rootless.sh
. "$(dirname "$0")/lib.sh" || exit 2

for c in useradd userdel usermod setpriv newuidmap newgidmap podman conmon; do
	command -v "$c" >/dev/null || { skip "$c is missing (apt-get install passwd util-linux uidmap podman conmon)"; exit 0; }
done
[ "$(id -u)" = 0 ] || { skip "needs root (to make the user)"; exit 0; }
userns_for_users || exit 0

# The user: its own subordinate range, above tests/integration/rootless.rs's
# 3000000000 + ...
make_user brig-podrl 3100000000
# Its runtime dir where a login would put it: podman refuses a runroot
# over 50 characters.
XDG=/run/user/$UID_
rm -rf "$XDG"
mkdir -p -m 0755 /run/user
mkdir -m 0700 "$XDG"
defer "rm -rf '$XDG'"
chown "$UID_:$GID_" "$XDG"
# Storage made in the user namespace (subuid owners, overlay mounts in
# podman's mount namespace) goes with the user's processes; then on_exit
# removes $T as root.
defer kill_user
# The runtime where the user can run it (a checkout may be unreachable).
mkdir -m 0755 "$T/bin"
RT=$T/bin/$(basename "$BRIG")
install -m 0755 "$BRIG" "$RT"

# as_user CMD...: CMD as the user, in its home, with a clean environment.
as_user() {
	(cd "$HOM" && setpriv --reuid="$UID_" --regid="$GID_" --init-groups -- \
		env -i HOME="$HOM" XDG_RUNTIME_DIR="$XDG" USER="$USR" PATH=/usr/local/bin:/usr/bin:/bin "$@")
}
PODMAN=(/usr/bin/podman --root "$HOM/storage" --runroot "$XDG/runroot" --tmpdir "$XDG/tmp"
	--storage-driver overlay --cgroup-manager cgroupfs --events-backend file
	--network-config-dir "$HOM/net")
# podman [--runtime R] ARGS...: podman as the user, with $BRIG unless told.
podman() {
	local rt=$RT
	if [ "$1" = --runtime ]; then rt=$2; shift 2; fi
	as_user timeout --kill-after=5 120 "${PODMAN[@]}" --runtime "$rt" "$@"
}
defer "podman rm -af -t 0"
IMG=localhost/brig-busybox
RUN=(run --network none)

make_rootfs "$T/rootfs"
tar -C "$T/rootfs" --numeric-owner -cf "$HOM/rootfs.tar" .
make_oci_archive "$T/rootfs" "$HOM/oci.tar" localhost/brig-busybox-oci:latest
chown "$UID_:$GID_" "$HOM/rootfs.tar" "$HOM/oci.tar"
out=$(podman import --change 'ENV PATH=/bin' "$HOM/rootfs.tar" "$IMG" 2>&1) || { bad "import: $out"; exit 1; }
check "import: image in the user's storage" 'brig-busybox ' "$(podman images)"
out=$(podman load -i "$HOM/oci.tar" 2>&1) || bad "load: $out"
check "load: the OCI archive" 'Loaded image' "$out"
check "the storage driver is overlay" '^overlay$' "$(podman info --format '{{.Store.GraphDriverName}}' 2>&1)"

# What the process sees: root of the user's namespace, its own uid at 0
# and the subuid range above it.
SEE='id; cat /proc/self/uid_map /proc/self/gid_map'
out=$(podman "${RUN[@]}" --rm "$IMG" sh -c "$SEE" 2>&1) || bad "run: $out"
check "run: root inside" '^uid=0\(root\) gid=0\(root\)' "$out"
check "run: uid 0 is the user's uid" "^ +0 +$UID_ +1\$" "$out"
check "run: then the user's subuid range" "^ +1 +$RANGE +65536\$" "$out"
if [ -x /usr/sbin/runc ] && [ "$BRIG" != /usr/sbin/runc ]; then
	ref=$(podman --runtime /usr/sbin/runc "${RUN[@]}" --rm "$IMG" sh -c "$SEE" 2>&1) || bad "run under runc: $ref"
	check "run: the process sees what it sees under runc" "^$(printf '%s' "$ref" | tr '\n' '|' | sed 's/[|()]/./g')\$" \
		"$(printf '%s' "$out" | tr '\n' '|')"
fi
out=$(podman "${RUN[@]}" --rm "$(podman images -q localhost/brig-busybox-oci 2>/dev/null | head -1)" echo hello-oci 2>&1) ||
	bad "run the loaded image: $out"
check "run the loaded image" '^hello-oci$' "$out"

out=$(podman "${RUN[@]}" --rm --tty "$IMG" sh -c 'tty; grep -E "^(CapEff|Seccomp):" /proc/self/status' 2>&1 </dev/null) || bad "run --tty: $out"
check "run --tty: stdout is a pty" '^/dev/pts/[0-9]+' "$out"
check "run: podman's default capability set (in the user's namespace)" '^CapEff:\s+00000000800405fb' "$out"
check "run: podman's seccomp filter" '^Seccomp:\s+2' "$out"

out=$(podman "${RUN[@]}" --rm --userns=keep-id "$IMG" sh -c 'id -u; id -g; cat /proc/self/uid_map' 2>&1) || bad "run --userns=keep-id: $out"
check "run --userns=keep-id: the user's own uid inside" "^$UID_\$" "$out"
check "run --userns=keep-id: mapped to itself" "^ +$UID_ +0 +1\$" "$out"

# Ids of podman's namespace: 1 is the first of the subuid range.
out=$(podman "${RUN[@]}" --rm --uidmap 0:1:1000 --gidmap 0:1:1000 "$IMG" sh -c 'id -u; cat /proc/self/uid_map' 2>&1) ||
	bad "run --uidmap: $out"
check "run --uidmap 0:1:1000: root inside" '^0$' "$out"
check "run --uidmap 0:1:1000: mapped on the range's start" '^ +0 +1 +1000$' "$out"

out=$(podman "${RUN[@]}" --rm --read-only "$IMG" sh -c 'touch /x; touch /tmp/y && echo tmp-ok' 2>&1) || bad "run --read-only: $out"
check "run --read-only: / is read-only" 'Read-only file system' "$out"
check "run --read-only: /tmp still writable" '^tmp-ok' "$out"

# A network of the user's own: slirp4netns (a tap device in the
# container's network namespace) needs /dev/net/tun open to the user, as
# a udev host makes it (0666).
if ! command -v slirp4netns >/dev/null; then
	skip "--network slirp4netns: slirp4netns is missing (apt-get install slirp4netns)"
elif ! as_user test -r /dev/net/tun -a -w /dev/net/tun; then
	skip "--network slirp4netns: /dev/net/tun is $(stat -c '%A %U' /dev/net/tun 2>&1), not open to an ordinary user"
else
	out=$(podman run --rm --network slirp4netns "$IMG" sh -c 'ip -o addr show' 2>&1) || bad "run --network slirp4netns: $out"
	check "run --network slirp4netns: a tap device with slirp's address" 'tap0 +inet 10\.0\.2\.100/' "$out"
fi
# A long-running container: ps, exec, where it runs on the host, stop, rm.
out=$(podman "${RUN[@]}" -d --name bg "$IMG" sh -c 'echo started; exec sleep 1000' 2>&1) || bad "run -d: $out"
# The runtime's stderr is the container's under conmon: nothing of the
# runtime's (a warning about the cgroup it could not make) in the log.
for i in $(seq 1 50); do podman logs bg 2>&1 | grep -q started && break; sleep 0.1; done
check "logs: only the container's output" '^started$' "$(podman logs bg 2>&1 | tr '\n' '|' | sed 's/|$//')"
check "ps shows it running" 'bg$' "$(podman ps --format '{{.Status}} {{.Names}}' | grep '^Up')"
cid=$(podman inspect --format '{{.Id}}' bg)
pid=$(podman inspect --format '{{.State.Pid}}' bg)
conmon_cmd=$(for p in /proc/[0-9]*; do c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
	case $c in *conmon*"$cid"*) echo "$c" ;; esac; done)
check "conmon drives \$BRIG" "(-r|--runtime) $RT " "$conmon_cmd"
check "the container's process is the user's on the host" "^Uid:\s+$UID_\s+$UID_\s+$UID_\s+$UID_\$" "$(grep ^Uid: "/proc/$pid/status" 2>&1)"
# No cgroup delegated to the user on this host: the container has none
# of its own (podman asks for none rootless on cgroup v1).
check_not "the container has no cgroup of its own" 'libpod' "$(cat "/proc/$pid/cgroup" 2>&1)"
check "... and runs sleep" '^sleep 1000 $' "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>&1)"
# The runtime's state root: conmon passes no --root, so it is the
# runtime's default for root of a user namespace whose $USER is not root,
# $XDG_RUNTIME_DIR/<runtime> (runc's rule), nothing in it made by root.
sroot=$XDG/$(basename "$RT")
check "the container's state is in \$XDG_RUNTIME_DIR/$(basename "$RT")" "$cid" "$(ls "$sroot" 2>&1)"
check "nothing under the runtime root is made by root" '^none$' "$(find "$sroot" "$XDG" -uid 0 | head -5 | grep . || echo none)"
if ! exec_skipped "podman exec"; then
	out=$(podman exec bg sh -c 'echo exec-ok; id -u' 2>&1) || bad "exec: $out"
	check "exec runs in the container" '^exec-ok' "$out"
	check "exec: root inside" '^0$' "$out"
	out=$(podman exec bg sh -c 'exit 3' 2>&1) && rc=0 || rc=$?
	check "exec returns the exit status" '^3$' "$rc"
fi
out=$(podman stop -t 2 bg 2>&1) || bad "stop: $out"
check "stop: exited" '^exited$' "$(podman inspect --format '{{.State.Status}}' bg 2>&1)"
out=$(podman rm bg 2>&1) || bad "rm: $out"
check_not "rm: gone" 'bg' "$(podman ps -a --format '{{.Names}}')"
check_not "rm: its state is gone" "$cid" "$(ls "$sroot" 2>&1)"

out=$(podman "${RUN[@]}" --rm "$IMG" /no/such/binary 2>&1) && bad "missing binary: podman run succeeded"
check "missing binary: the runtime's error reaches podman" '/no/such/binary' "$out"
echo "    podman error was: $(printf '%s' "$out" | tail -1)"
