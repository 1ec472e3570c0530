#!/usr/bin/env bash
# make-bundle.sh RUNTIME DIR PROBE: a busybox bundle in DIR (rootfs + the
# probe at /probe) with config.json from `RUNTIME spec`, set to run without
# a terminal. Extra args replace process.args (default: /probe).
# SPEC_FLAGS: more flags for `spec` (the demo passes --seccomp).
set -euo pipefail
runtime=$1 dir=$2 probe=$3
shift 3
rm -rf "$dir"
mkdir -p "$dir/rootfs"/{bin,proc,sys,dev,tmp,etc,root,mnt}
cp /bin/busybox "$dir/rootfs/bin/busybox"
for a in sh ls cat true false sleep echo id hostname mount env ps stat test grep; do
    ln -s busybox "$dir/rootfs/bin/$a"
done
cp "$probe" "$dir/rootfs/probe"
echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/rootfs/etc/passwd"
echo 'root:x:0:' >"$dir/rootfs/etc/group"
"$runtime" spec --bundle "$dir" ${SPEC_FLAGS:-}
[ $# -gt 0 ] || set -- /probe
python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
json.dump(c, open(path, "w"), indent=2)
PY
