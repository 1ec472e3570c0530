#!/bin/bash
# brig as a Kubernetes RuntimeClass: containerd's CRI plugin with a `brig`
# runtime handler (io.containerd.runc.v2, BinaryName = $BRIG), driven by
# tests/cri-client the way a kubelet does. The pod gets a network namespace
# from the CNI bridge + loopback plugins.
#
# CRI_SYSTEMD=1 (tests/clients/cri-systemd.sh) runs the same on a systemd
# node: containerd is a service of a private systemd (start_private_systemd)
# with `SystemdCgroup = true`, so the shim calls the runtime with
# --systemd-cgroup, and the pod has a slice as its cgroup parent, as a
# kubelet with the systemd cgroup driver gives it.
# Run: BRIG=/abs/brig CRI_CLIENT=/abs/cri-client tests/clients/cri.sh
. "$(dirname "$0")/lib.sh"
CRI_CLIENT=${CRI_CLIENT:?set CRI_CLIENT to the built tests/cri-client binary}
SYSTEMD_CGROUP=false
RUNTIME_CLI=$BRIG
if [ "${CRI_SYSTEMD:-0}" = 1 ]; then
	# The CRI plugin always sets cpu shares.
	if runc_lacks_v2 cpu; then
		skip "runc needs the cpu controller in cgroup v2, which this host binds to v1"
		exit 0
	fi
	start_private_systemd || exit 0
	SYSTEMD_CGROUP=true
	CONTAINERD_UNIT=brig-containerd
	export CRI_CGROUP_PARENT=kubepods-brig.slice
	# The client asks the runtime for its state from inside that system.
	RUNTIME_CLI=$T/runtime-inside
	printf '#!/bin/sh\nexec nsenter -t %s -m -p -C -u -i -n -- %s "$@"\n' "$SD" "$BRIG" >"$RUNTIME_CLI"
	chmod +x "$RUNTIME_CLI"
	# While the pod runs: the sandbox and the container are systemd scopes
	# in the pod's slice, delegated.
	cat >"$T/check-scopes" <<EOF
#!/bin/bash
echo "pod's sandbox and container are delegated scopes in $CRI_CGROUP_PARENT"
sd() { nsenter -t $SD -m -p -C -u -i -n -- "\$@"; }
units=\$(sd systemctl list-units --type=scope --state=running --no-legend --plain 'cri-containerd-*' | awk '{print \$1}')
echo "\$units"
[ "\$(echo "\$units" | grep -c scope)" -eq 2 ] || exit 1
for u in \$units; do
	sd systemctl show "\$u" -p Slice -p Delegate -p DevicePolicy
	[ "\$(sd systemctl show "\$u" -p Slice --value)" = $CRI_CGROUP_PARENT ] || exit 1
	[ "\$(sd systemctl show "\$u" -p Delegate --value)" = yes ] || exit 1
done
EOF
	chmod +x "$T/check-scopes"
	export CRI_CHECK_CMD=$T/check-scopes
	# brig's node pool is in that system's /run.
	export CRI_POOL_FILE=/proc/$SD/root/run/brig/userns-pool/leases.json
fi

D=$T/containerd
RT_ROOT=$T/brig-root
BRIDGE=brigcni$$
mkdir -p "$T/cni/conf" "$T/cni/ipam" "$T/logs"
cat >"$T/cni/conf/10-brig.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "brig-test", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": false, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$T/cni/ipam",
            "ranges": [[{"subnet": "10.213.77.0/24"}]]}},
  {"type": "loopback"}]}
JSON
defer "ip link del $BRIDGE"
defer "remove_cgroups k8s.io"
# The CRI plugin gives the sandbox oomScoreAdj -998 and containers their QoS
# value; lowering it needs CAP_SYS_RESOURCE, which some hosts (this
# development VM among them) withhold even from root. There containerd is
# told to clamp it to its own value, as it does for rootless nodes; runc
# fails there the same way without it.
restrict_oom=false
capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
if [ $(( 0x$capeff >> 24 & 1 )) -eq 0 ]; then
	restrict_oom=true
	echo "     cri: no CAP_SYS_RESOURCE here: restrict_oom_score_adj = true"
fi
# A second handler with a node policy: its BinaryName is brig invoked as
# `brig-restricted`, which selects the restricted policy (brig only).
POLICY_HANDLER=""
SANDBOX_HANDLER=""
if "$BRIG" --version 2>/dev/null | grep -qi '^brig'; then
	mkdir -p "$T/bin"
	ln -sf "$BRIG" "$T/bin/brig-restricted"
	ln -sf "$BRIG" "$T/bin/brig-sandbox"
	POLICY_HANDLER=brig-restricted
	SANDBOX_HANDLER=brig-sandbox
fi
SANDBOX_IMG=docker.io/library/brig-pause:latest
IMG=docker.io/library/brig-busybox:latest
start_containerd "$D" "
[plugins.\"io.containerd.grpc.v1.cri\"]
  sandbox_image = \"$SANDBOX_IMG\"
  stream_server_port = \"0\"
  enable_selinux = false
  restrict_oom_score_adj = $restrict_oom
  [plugins.\"io.containerd.grpc.v1.cri\".cni]
    bin_dir = \"/usr/lib/cni\"
    conf_dir = \"$T/cni/conf\"
  [plugins.\"io.containerd.grpc.v1.cri\".containerd]
    default_runtime_name = \"runc\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]
      runtime_type = \"io.containerd.runc.v2\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.brig]
      runtime_type = \"io.containerd.runc.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.brig.options]
        BinaryName = \"$BRIG\"
        Root = \"$RT_ROOT\"
        SystemdCgroup = $SYSTEMD_CGROUP
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.brig-restricted]
      runtime_type = \"io.containerd.runc.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.brig-restricted.options]
        BinaryName = \"$T/bin/brig-restricted\"
        Root = \"$RT_ROOT-restricted\"
        SystemdCgroup = $SYSTEMD_CGROUP
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.brig-sandbox]
      runtime_type = \"io.containerd.runc.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.brig-sandbox.options]
        BinaryName = \"$T/bin/brig-sandbox\"
        Root = \"$RT_ROOT-sandbox\"
        SystemdCgroup = $SYSTEMD_CGROUP
"
defer "kill_leftovers '$T'"

make_rootfs "$T/rootfs"
make_oci_archive "$T/rootfs" "$T/busybox.tar" "$IMG"
# The pod's sandbox ("pause") image: no registry here, so busybox that sleeps.
make_oci_archive "$T/rootfs" "$T/pause.tar" "$SANDBOX_IMG" '["sleep","2147483647"]'
for a in busybox pause; do
	out=$(with_timeout 300 ctr -a "$CTR_ADDR" -n k8s.io images import "$T/$a.tar" 2>&1) || { bad "import $a: $out"; exit 1; }
done
ok "images imported into k8s.io"

export CRI_POLICY_HANDLER=$POLICY_HANDLER CRI_SANDBOX_HANDLER=$SANDBOX_HANDLER
if with_timeout 300 "$CRI_CLIENT" "$CTR_ADDR" "$IMG" brig "$T/logs" "$RUNTIME_CLI" "$RT_ROOT" >"$T/cri.out" 2>&1; then rc=0; else rc=$?; fi
cat "$T/cri.out"
PASS=$((PASS + $(grep -c '^ok ' "$T/cri.out" || true)))
FAIL=$((FAIL + $(grep -c '^FAIL ' "$T/cri.out" || true)))
[ "$rc" -eq 0 ] || { grep -q '^FAIL ' "$T/cri.out" || bad "cri-client exited $rc"; tail -20 "$D/containerd.log" | grep -i error >&2 || true; }
if [ "$SYSTEMD_CGROUP" = true ]; then
	check_not "RemovePodSandbox: no scope left in systemd" 'cri-containerd-' \
		"$(inside systemctl list-units --all --no-legend --plain 'cri-containerd-*')"
fi
