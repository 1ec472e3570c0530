#!/usr/bin/env bash
# demo.sh: builds a busybox bundle, runs the probe in it under brig, and
# shows what the container saw: namespaces, id maps, capabilities, seccomp,
# sysctls; then `brig check` of the bundle and what the restricted node
# policy would do to it, and the same bundle run under the sandbox policy
# (a user namespace from the node's pool). Env: BRIG (default
# target/<host triple>/release/brig, what `make build` makes), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BRIG=${BRIG:-target/$(rustc -vV | sed -n 's/^host: //p')/release/brig}
OUT=${OUT:-$PWD/bench-out}
PROBE=${PROBE:-tests/probe/target/x86_64-unknown-linux-gnu/release/probe}
[ "$(id -u)" = 0 ] || { echo "demo: needs root" >&2; exit 1; }
bundle=$OUT/demo-bundle root=$OUT/demo-root
mkdir -p "$OUT"
SPEC_FLAGS=--seccomp scripts/make-bundle.sh "$BRIG" "$bundle" "$PROBE" /bin/sh -c \
    '/probe; for s in net.ipv4.ip_unprivileged_port_start kernel.hostname net.core.somaxconn; do /probe sysctl $s; done'
python3 - "$bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["hostname"] = "brig-demo"
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
echo "== bundle: $bundle (busybox rootfs, config from '$BRIG spec --seccomp')"
"$BRIG" --root "$root" run --bundle "$bundle" "demo-$$" >"$OUT/demo.out"
python3 - "$OUT/demo.out" <<'PY'
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
f, sysctls = lines[0], lines[1:]
host = {n: os.stat(f"/proc/self/ns/{n}").st_ino for n in f["ns"] if os.path.exists(f"/proc/self/ns/{n}")}
print(f"pid {f['pid']} (ppid {f['ppid']}), uid {f['uid']} gid {f['gid']}, hostname {f['hostname']}, cwd {f['cwd']}")
print("namespaces:", ", ".join(f"{n}={'new' if f['ns'][n] != host.get(n) else 'host'}" for n in sorted(f["ns"])))
print("uid_map:", f["uid_map"].split()); print("gid_map:", f["gid_map"].split())
for k, v in f["status"].items():
    print(f"{k}: {v}")
print("root read-only:", f["root_readonly"], "| open fds:", f["fds"])
print("mounts:"); [print(f"  {m['mountpoint']:<24} {m['fstype']:<8} {m['options']}") for m in f["mounts"]]
print("sysctls seen:"); [print(f"  {s['name']} = {s['value']}") for s in sysctls]
PY
echo
echo "== brig check $bundle: the same confinement as a posture report (concerns, Pod Security Standard levels)"
"$BRIG" check "$bundle" || true
echo
echo "== under the node policy 'restricted' (brig --policy restricted policy explain): what it would refuse or change"
"$BRIG" --policy restricted policy explain "$bundle" || true
echo
echo "== the same bundle under the node policy 'sandbox': a user namespace from the node's pool, capabilities, seccomp"
"$BRIG" --policy sandbox --root "$root" run --bundle "$bundle" "demo-sandbox-$$" >"$OUT/demo-sandbox.out" 2>"$OUT/demo-sandbox.err" || {
    cat "$OUT/demo-sandbox.err" >&2; exit 1; }
python3 - "$OUT/demo-sandbox.out" <<'PY'
import json, sys
f = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][0]
print("uid_map:", f["uid_map"].split(), "| uid", f["uid"])
for k in ("CapBnd", "NoNewPrivs", "Seccomp"):
    print(f"{k}: {f['status'].get(k)}")
PY
echo "clamped by the policy (warnings brig logged):"
sed 's/^/  /' "$OUT/demo-sandbox.err"
