#!/bin/bash
# brig under Docker 20.10 (Debian's docker.io): a private dockerd (own data
# root, exec root, socket, pidfile and config file; cgroupfs, no bridge, no
# iptables) on a private containerd, with $BRIG registered as the runtime
# `brig` and made the default. A second daemon, configured through its
# daemon.json instead of flags, runs with --userns-remap.
# Run: BRIG=/abs/brig tests/clients/docker.sh
. "$(dirname "$0")/lib.sh"

# Debian's binaries by path: another docker CLI may come first in PATH.
DOCKER_CLI=/usr/bin/docker
DOCKERD=/usr/sbin/dockerd
for b in "$DOCKER_CLI" "$DOCKERD"; do
	[ -x "$b" ] || { bad "$b is missing (apt-get install docker.io)"; exit 1; }
done
# The CLI keeps its config (contexts, auth) here instead of ~/.docker.
export DOCKER_CONFIG=$T/cli
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

# What must look the same afterwards: dockerd's default places in /etc and
# /var/lib, and the host's forwarding switch.
host_view() {
	find /etc/docker /var/lib/docker /var/run/docker.pid /var/run/docker.sock 2>/dev/null | sort
	echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
}
host_before=$(host_view)
# dockerd makes /run/docker/plugins (a fixed path) and the shims
# /run/containerd/s (their sockets); removed if they were not there before
# and are empty again (children first: defers run in reverse).
for dir in /run/docker /run/docker/plugins /run/containerd /run/containerd/s; do
	[ -e "$dir" ] || defer "rmdir $dir"
done
# Container cgroups go under this parent (cgroupfs driver), removed on exit.
CG_PARENT=brig-docker-$$
defer "remove_cgroups $CG_PARENT"
defer "umount_under '$T'"
start_containerd "$T/containerd" 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'
defer "kill_leftovers '$T'"

# start_dockerd NAME DAEMON-JSON-KEYS [DOCKERD-ARGS...]: a dockerd whose
# state is all under $T/NAME, on the private containerd (namespace NAME);
# sets DD (its dir) and DPID. Stopped, with its containers, on exit or by
# stop_dockerd.
start_dockerd() {
	local name=$1 keys=$2 i
	shift 2
	DD=$T/$name
	mkdir -p "$DD"
	# deprecated-key-path: the daemon's identity key, else /etc/docker/key.json.
	printf '{"deprecated-key-path": "%s"%s}\n' "$DD/key.json" "${keys:+, $keys}" >"$DD/daemon.json"
	# No bridge, iptables, forwarding or masquerading: runs use --network none
	# and the host's network settings stay as they are. oom-score-adjust 0:
	# the default -500 needs CAP_SYS_RESOURCE, which this host may withhold.
	"$DOCKERD" --config-file "$DD/daemon.json" --data-root "$DD/root" --exec-root "$DD/exec" \
		--host "unix://$DD/d.sock" --pidfile "$DD/dockerd.pid" \
		--containerd "$CTR_ADDR" --containerd-namespace "$name" --containerd-plugins-namespace "$name-plugins" \
		--bridge none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--storage-driver overlay2 --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "$CG_PARENT" \
		--oom-score-adjust 0 "$@" >"$DD/dockerd.log" 2>&1 &
	DPID=$!
	DSOCK=$DD/d.sock
	defer "stop_dockerd $DPID '$DD'"
	for i in $(seq 1 150); do
		if [ -S "$DSOCK" ] && with_timeout 10 "$DOCKER_CLI" --host "unix://$DSOCK" version >/dev/null 2>&1; then
			check "dockerd $name: its pidfile" "^$DPID\$" "$(cat "$DD/dockerd.pid" 2>&1)"
			return 0
		fi
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.2
	done
	bad "dockerd $name did not start:"; tail -20 "$DD/dockerd.log" >&2
	exit 1
}
# stop_dockerd PID DIR: remove its containers, stop it (SIGTERM, as systemd
# does), unmount what it left under DIR.
stop_dockerd() {
	kill -0 "$1" 2>/dev/null || return 0
	local ids
	ids=$(with_timeout 30 "$DOCKER_CLI" --host "unix://$2/d.sock" ps -aq 2>/dev/null) || true
	[ -z "$ids" ] || with_timeout 60 "$DOCKER_CLI" --host "unix://$2/d.sock" rm -f $ids >/dev/null 2>&1 || true
	kill -TERM "$1"
	with_timeout 30 tail --pid="$1" -f /dev/null || kill -9 "$1"
	wait "$1" 2>/dev/null || true
	umount_under "$2"
}
docker() { with_timeout 60 "$DOCKER_CLI" --host "unix://$DSOCK" "$@"; }
IMG=brig-busybox
RUN=(run --network none)

make_rootfs "$T/rootfs"
tar -C "$T/rootfs" --numeric-owner -cf "$T/rootfs.tar" .
import_image() {
	local out
	out=$(docker import --change 'ENV PATH=/bin' "$T/rootfs.tar" "$IMG" 2>&1) || { bad "import: $out"; exit 1; }
	check "image imported ($1)" "^$IMG " "$(docker images --format '{{.Repository}} {{.ID}}')"
}

# 1. The runtime given by flags: --add-runtime and --default-runtime.
start_dockerd d1 '' --add-runtime "brig=$BRIG" --default-runtime brig
check "dockerd: default runtime is brig" '^brig$' "$(docker info --format '{{.DefaultRuntime}}' 2>&1)"
check "dockerd: brig is \$BRIG" "\"brig\":\\{\"path\":\"$BRIG\"" "$(docker info --format '{{json .Runtimes}}' 2>&1)"
import_image d1

out=$(docker "${RUN[@]}" --rm "$IMG" sh -c 'echo hello-docker; grep -E "^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):" /proc/self/status' 2>&1) ||
	bad "run: $out"
check "run prints the command's output" '^hello-docker$' "$out"
# CHOWN DAC_OVERRIDE FSETID FOWNER KILL SETGID SETUID SETPCAP
# NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
check "run: docker's default capability set (CapEff)" '^CapEff:\s+00000000a80425fb$' "$out"
check "run: docker's default capability set (CapBnd)" '^CapBnd:\s+00000000a80425fb$' "$out"
check "run: docker's default seccomp profile is on" '^Seccomp:\s+2$' "$out"
check "run: no_new_privs off by default" '^NoNewPrivs:\s+0$' "$out"

docker "${RUN[@]}" --rm --runtime brig "$IMG" sh -c 'exit 3' >/dev/null 2>&1 && rc=0 || rc=$?
check "run --runtime brig returns the exit status" '^3$' "$rc"

out=$(docker "${RUN[@]}" --rm --tty "$IMG" tty 2>&1 </dev/null) || bad "run --tty: $out"
check "run --tty: stdout is a pty" '^/dev/pts/[0-9]+' "$out"

out=$(docker "${RUN[@]}" --rm --read-only "$IMG" sh -c 'touch /x && echo wrote-root' 2>&1) && bad "run --read-only: $out"
check "run --read-only: a write to / fails" 'Read-only file system' "$out"
check_not "run --read-only: nothing written" 'wrote-root' "$out"

out=$(docker "${RUN[@]}" --rm --cap-drop ALL --cap-add NET_ADMIN "$IMG" grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status 2>&1) ||
	bad "run --cap-drop ALL --cap-add NET_ADMIN: $out"
# CAP_NET_ADMIN is bit 12.
check "run --cap-drop ALL --cap-add NET_ADMIN: CapEff is that bit" '^CapEff:\s+0000000000001000$' "$out"
check "run --cap-drop ALL --cap-add NET_ADMIN: CapBnd is that bit" '^CapBnd:\s+0000000000001000$' "$out"

# errno 28 (ENOSPC): what no mkdir in /tmp would say by itself.
cat >"$T/seccomp.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}]}
JSON
out=$(docker "${RUN[@]}" --rm --security-opt "seccomp=$T/seccomp.json" "$IMG" \
	sh -c 'grep ^Seccomp: /proc/self/status; mkdir /tmp/d && echo made' 2>&1) && bad "seccomp: mkdir allowed: $out"
check "run --security-opt seccomp=FILE: filter on" '^Seccomp:\s+2$' "$out"
check "run --security-opt seccomp=FILE: mkdir gets the profile's errno" 'No space left on device' "$out"
check_not "run --security-opt seccomp=FILE: no directory made" '^made$' "$out"

out=$(docker "${RUN[@]}" --rm --security-opt no-new-privileges "$IMG" grep ^NoNewPrivs: /proc/self/status 2>&1) ||
	bad "run --security-opt no-new-privileges: $out"
check "run --security-opt no-new-privileges: NoNewPrivs 1" '^NoNewPrivs:\s+1$' "$out"

host_port_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
out=$(docker "${RUN[@]}" --rm --sysctl net.ipv4.ip_unprivileged_port_start=543 "$IMG" \
	cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>&1) || bad "run --sysctl: $out"
check "run --sysctl: value set in the container" '^543$' "$out"
check "run --sysctl: host value unchanged" "^$host_port_start\$" "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"

out=$(docker "${RUN[@]}" --rm --tmpfs /run:size=1m,mode=1770 "$IMG" sh -c 'grep " /run " /proc/mounts; stat -c %a /run' 2>&1) ||
	bad "run --tmpfs: $out"
check "run --tmpfs /run:size=1m: a tmpfs with that size" '^tmpfs /run tmpfs .*size=1024k' "$out"
check "run --tmpfs /run:mode=1770: with that mode" '^1770$' "$out"

# A long-running container: the runtime's state, top, pause, exec, stop, rm.
docker "${RUN[@]}" -d --name bg "$IMG" \
	sh -c 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.2; done' >/dev/null
for _ in $(seq 1 50); do docker logs bg 2>/dev/null | grep -q ready && break; sleep 0.1; done
check "run -d: running with the runtime brig" '^running brig$' "$(docker inspect --format '{{.State.Status}} {{.HostConfig.Runtime}}' bg 2>&1)"
cid=$(docker inspect --format '{{.Id}}' bg)
# The shim ran $BRIG with --root under the exec root: Docker 20.10 names
# that runtime-runc/NAMESPACE whatever the runtime.
RT_ROOT=$DD/exec/runtime-runc/d1
check "the shim ran \$BRIG (its state under the exec root)" '"status": *"running"' \
	"$("$BRIG" --root "$RT_ROOT" state "$cid" 2>&1)"
# top asks the shim, which asks the runtime (ps --format json).
check "top lists the container's process" 'got-term' "$(docker top bg 2>&1)"
docker pause bg >/dev/null
check "pause: paused" '^paused$' "$(docker inspect --format '{{.State.Status}}' bg 2>&1)"
check "pause: frozen in the runtime's state" '"status": *"paused"' "$("$BRIG" --root "$RT_ROOT" state "$cid" 2>&1)"
docker unpause bg >/dev/null
check "unpause: running" '^running$' "$(docker inspect --format '{{.State.Status}}' bg 2>&1)"
if ! exec_skipped "docker exec"; then
	out=$(docker exec bg sh -c 'echo exec-ok; grep ^CapEff /proc/self/status' 2>&1) || bad "exec: $out"
	check "exec runs in the container" '^exec-ok$' "$out"
	check "exec gets the container's caps" '^CapEff:\s+00000000a80425fb$' "$out"
	out=$(docker exec --tty bg tty 2>&1 </dev/null) || bad "exec --tty: $out"
	check "exec --tty gets a pty" '/dev/pts/[0-9]+' "$out"
	docker exec bg sh -c 'exit 3' >/dev/null 2>&1 && rc=0 || rc=$?
	check "exec returns the exit status" '^3$' "$rc"
fi
start=$(date +%s)
docker stop -t 20 bg >/dev/null
took=$(($(date +%s) - start))
# SIGKILL would come only after 20 s, with exit status 137.
if [ "$took" -lt 15 ]; then ok "stop: exited within the timeout (${took}s)"; else bad "stop took ${took}s"; fi
check "stop: the container got SIGTERM (its trap ran)" '^got-term$' "$(docker logs bg 2>&1)"
check "stop: exited with the trap's status" '^exited 7$' "$(docker inspect --format '{{.State.Status}} {{.State.ExitCode}}' bg 2>&1)"
docker rm bg >/dev/null
check_not "rm: gone" 'bg' "$(docker ps -a --format '{{.Names}}')"
check_not "rm: the runtime's state is gone" "$cid" "$("$BRIG" --root "$RT_ROOT" list 2>&1)"

# The runtime's error (its --log JSON, read by the shim) reaches the user.
out=$(docker "${RUN[@]}" --rm "$IMG" /nonexistent 2>&1) && rc=0 || rc=$?
check "missing binary: the runtime's error reaches docker" '/nonexistent' "$out"
check "missing binary: reported as the runtime's failure" 'OCI runtime (create|start) failed' "$out"
# dockerd maps "no such file or directory" in that text to 127, as a shell.
check "missing binary: exit status 127" '^127$' "$rc"
echo "    docker error was: $(printf '%s\n' "$out" | grep -m1 'Error response')"
stop_dockerd "$DPID" "$DD"

# 2. --userns-remap, which is daemon-wide: a second daemon, with the
# runtime and the remap in its daemon.json (as on a configured host). The
# remap user and group (existing ones, so /etc/passwd and /etc/group stay
# as they are) need ranges in /etc/subuid and /etc/subgid, both of which
# Docker looks up by the user's name; they are there only while the daemon
# starts (it reads them then) and restored exactly afterwards (also on
# failure).
REMAP_USER=nobody REMAP_GROUP=nogroup REMAP_BASE=362144
for f in subuid subgid; do
	if [ -e "/etc/$f" ]; then cp -p "/etc/$f" "$T/$f.orig"; fi
done
restore_subids() {
	local f
	for f in subuid subgid; do
		if [ -e "$T/$f.orig" ]; then
			cat "$T/$f.orig" >"/etc/$f" && touch -r "$T/$f.orig" "/etc/$f"
		else rm -f "/etc/$f"; fi
	done
}
subids_as_before() {
	local f
	for f in subuid subgid; do
		if [ -e "$T/$f.orig" ]; then cmp -s "/etc/$f" "$T/$f.orig" || return 1
		elif [ -e "/etc/$f" ]; then return 1; fi
	done
}
defer restore_subids
echo "$REMAP_USER:$REMAP_BASE:65536" >>/etc/subuid
echo "$REMAP_USER:$REMAP_BASE:65536" >>/etc/subgid
# The remapped root must be able to reach the data root.
chmod 0711 "$T"
start_dockerd d2 "\"runtimes\": {\"brig\": {\"path\": \"$BRIG\"}}, \"default-runtime\": \"brig\", \"userns-remap\": \"$REMAP_USER:$REMAP_GROUP\""
restore_subids
if subids_as_before; then ok "/etc/subuid and /etc/subgid restored"; else bad "/etc/subuid or /etc/subgid differ from before"; fi
check "dockerd: userns-remap on" 'name=userns' "$(docker info --format '{{.SecurityOptions}}' 2>&1)"
import_image d2
out=$(docker "${RUN[@]}" --rm "$IMG" \
	sh -c 'for m in uid_map gid_map; do echo "$m" $(cat /proc/self/$m); done; id -u; touch /x && echo wrote' 2>&1) ||
	bad "run with userns-remap: $out"
check "userns-remap: uid_map maps root to the subuid range" "^uid_map 0 $REMAP_BASE 65536\$" "$out"
check "userns-remap: gid_map maps root to the subgid range" "^gid_map 0 $REMAP_BASE 65536\$" "$out"
check "userns-remap: root inside" '^0$' "$out"
check "userns-remap: the remapped root owns its rootfs" '^wrote$' "$out"
docker "${RUN[@]}" -d --name ubg "$IMG" sleep 1000 >/dev/null
pid=$(docker inspect --format '{{.State.Pid}}' ubg)
check "userns-remap: the process is uid $REMAP_BASE on the host" "^$REMAP_BASE\$" "$(stat -c %u "/proc/$pid" 2>&1)"
docker rm -f ubg >/dev/null
stop_dockerd "$DPID" "$DD"

host_after=$(host_view)
if [ "$host_after" = "$host_before" ]; then
	ok "nothing left in /etc/docker or /var/lib/docker; ip_forward as before"
else
	bad "the host changed:"; diff <(echo "$host_before") <(echo "$host_after") | sed 's/^/    | /' >&2
fi
