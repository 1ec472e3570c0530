#!/bin/bash
# Prove AppArmor enforcement for real: boot Debian's stock kernel (AppArmor
# built in and enabled) under qemu with an initramfs that loads
# profiles/apparmor/brig-default, runs a busybox container with
# process.apparmorProfile = "brig-default", and prints what the container saw.
#
# The development kernel has no AppArmor, so writing a label there proves
# nothing; see shared/ENVIRONMENT.md, "AppArmor for real".
#
# Environment:
#   RUNTIME   brig (default) or runc: the OCI runtime run inside the VM
#   BRIG      brig binary (default target/<host triple>/release/brig, what
#             `make build` makes; `make test` uses
#             the debug build the other tests already made)
#   CACHE     download/unpack cache (default /var/cache/brig-test)
#   TIMEOUT   seconds before the VM is killed (default 180)
#   ACCEL     qemu accelerator (default tcg; kvm works where /dev/kvm does)
#   QUIET     0 shows kernel boot messages on the serial log (default 1)
#   QEMU_NICE nice(1) adjustment for qemu (default 0; e.g. -10 on a busy host,
#             where a CPU-starved TCG guest hits soft lockups)
#   KEEP      1 keeps the work directory (printed) for inspection
# Exit 0 only when every assertion passes; the serial log is printed on failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
RUNTIME=${RUNTIME:-brig}
BRIG=${BRIG:-$repo/target/$(rustc -vV | sed -n 's/^host: //p')/release/brig}
CACHE=${CACHE:-/var/cache/brig-test}
TIMEOUT=${TIMEOUT:-180}
ACCEL=${ACCEL:-tcg}
QUIET=${QUIET:-1}
QEMU_NICE=${QEMU_NICE:-0}
PROFILE=$repo/profiles/apparmor/brig-default

log() { echo "run-vm: $*" >&2; }
die() { echo "run-vm: FAIL: $*" >&2; exit 1; }

case $RUNTIME in
  brig) runtime_bin=$(readlink -f "$BRIG") ;;
  runc) runtime_bin=$(command -v runc || true) ;;
  *) die "RUNTIME must be brig or runc, not $RUNTIME" ;;
esac
[ -n "$runtime_bin" ] && [ -x "$runtime_bin" ] ||
  die "runtime binary for $RUNTIME not found (${runtime_bin:-runc not installed}); build with 'make build' or set BRIG"
[ -r "$PROFILE" ] || die "profile $PROFILE missing"

# --- host packages ----------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v apparmor_parser >/dev/null || need_pkgs+=(apparmor)
case "$(ldd /bin/busybox 2>&1 || true)" in
  *"not a dynamic"*) ;;
  *) need_pkgs+=(busybox-static) ;;
esac
if [ "$RUNTIME" = runc ] && ! command -v runc >/dev/null; then need_pkgs+=(runc); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- kernel (cached) ---------------------------------------------------------
# linux-image-amd64 is a metapackage; fetch the concrete image it depends on.
mkdir -p "$CACHE"
kpkg=$(ls "$CACHE"/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$kpkg" ]; then
  apt-get update -qq
  kname=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$kname" ] || die "cannot resolve linux-image-amd64 to a concrete kernel package"
  log "downloading $kname"
  (cd "$CACHE" && apt-get download "$kname" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
  kpkg=$(ls "$CACHE"/"$kname"_*.deb 2>/dev/null | tail -1)
  [ -n "$kpkg" ] || die "apt-get download $kname failed"
fi
kdir=$CACHE/$(basename "$kpkg" .deb)
if [ ! -d "$kdir/boot" ]; then
  log "unpacking $(basename "$kpkg")"
  rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
  dpkg-deb --fsys-tarfile "$kpkg" | tar -x -C "$kdir.tmp" ./boot
  mv "$kdir.tmp" "$kdir"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -1)

# --- initramfs ---------------------------------------------------------------
work=$(mktemp -d /tmp/brig-aa-vm.XXXXXX)
cleanup() { if [ "${KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
img=$work/img     # becomes the tmpfs root after switch_root
s1=$work/stage1   # the initramfs itself: busybox + img under /img
mkdir -p "$img"/{bin,sbin,etc,proc,sys,dev,run,tmp,newroot,usr/bin,usr/sbin} "$s1"

# Copy a dynamically linked binary and every library ldd lists.
# Debug info is dropped (a debug build of brig is 50 MB of it).
copy_with_libs() {
  local bin=$1 dest=$2 lib
  install -D -m 0755 "$bin" "$img$dest"
  if command -v strip >/dev/null; then strip --strip-debug "$img$dest"; fi
  for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' || true); do
    [ -e "$img$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$img$lib"
  done
}

# One busybox, hard-linked everywhere: cpio newc stores its data once, which
# keeps the initrd small (qemu loads it slowly under TCG).
install -m 0755 /bin/busybox "$work/busybox"
ln "$work/busybox" "$img/bin/busybox"
for a in sh mount umount mkdir cat echo cp ls poweroff sleep grep tr ln rm switch_root dmesg true; do
  ln -s busybox "$img/bin/$a"
done
copy_with_libs "$runtime_bin" /usr/bin/runtime
copy_with_libs "$(command -v apparmor_parser)" /sbin/apparmor_parser
# apparmor_parser resolves `abi <abi/3.0>` and `#include <tunables/global>`
# under /etc/apparmor.d.
mkdir -p "$img/etc/apparmor.d"
cp -a /etc/apparmor.d/abi /etc/apparmor.d/tunables "$img/etc/apparmor.d/"
# parser.conf pins the policy feature ABI to Debian's features file.
[ -d /etc/apparmor ] && cp -a /etc/apparmor "$img/etc/"
[ -d /usr/share/apparmor-features ] && mkdir -p "$img/usr/share" &&
  cp -a /usr/share/apparmor-features "$img/usr/share/"
install -D -m 0644 "$PROFILE" "$img/etc/apparmor.d/brig-default"

# The probe run inside the container. Each line is a marker the host asserts.
probe() {
  cat <<'PROBE'
#!/bin/sh
echo "BRIG-AA-LABEL: $(cat /proc/self/attr/current 2>&1)"
echo "BRIG-AA-INIT-LABEL: $(cat /proc/1/attr/current 2>&1)"
try_write() { # name path value
  if ( echo "$3" > "$2" ) 2>/tmp/err; then echo "$1: written"; else echo "$1: $(cat /tmp/err)"; fi
}
echo "BRIG-AA-DENIED: $(try_write sysrq-trigger /proc/sysrq-trigger 0)"
echo "BRIG-AA-DENIED: $(try_write core_pattern /proc/sys/kernel/core_pattern core)"
echo "BRIG-AA-DENIED: $(try_write sys-thp /sys/kernel/mm/transparent_hugepage/enabled never)"
if mount -t tmpfs none /mnt 2>/tmp/err; then echo "BRIG-AA-DENIED: mount: mounted"; else echo "BRIG-AA-DENIED: mount: $(cat /tmp/err)"; fi
echo "BRIG-AA-ALLOWED: $(try_write net-sysctl /proc/sys/net/ipv4/ip_unprivileged_port_start 80)"
echo "BRIG-AA-ALLOWED: $(try_write shm-sysctl /proc/sys/kernel/shm_rmid_forced 1)"
echo "BRIG-AA-ALLOWED: $(try_write tmp /tmp/x hello)"
PROBE
}

# An OCI bundle: busybox rootfs + config.json. No maskedPaths/readonlyPaths
# and CAP_SYS_ADMIN granted, so every denial seen is AppArmor's, not a
# read-only mount's (EROFS) or a missing capability's (EPERM).
make_bundle() { # dir profile
  local b=$1 prof=$2
  mkdir -p "$b/rootfs"/{bin,proc,sys,dev,tmp,mnt}
  ln "$work/busybox" "$b/rootfs/bin/busybox"
  for a in sh cat echo mount ls sleep; do ln -s busybox "$b/rootfs/bin/$a"; done
  probe > "$b/rootfs/probe.sh"
  local caps='"CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_SETUID","CAP_SETGID","CAP_KILL","CAP_NET_ADMIN","CAP_SYS_ADMIN"'
  cat > "$b/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["/bin/sh", "/probe.sh"],
    "env": ["PATH=/bin"],
    "cwd": "/",
    "capabilities": {"bounding": [$caps], "effective": [$caps], "permitted": [$caps]},
    "apparmorProfile": "$prof"
  },
  "root": {"path": "rootfs", "readonly": false},
  "hostname": "aa",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]
  }
}
JSON
}
make_bundle "$img/bundle" brig-default
make_bundle "$img/bundle-neg" brig-not-loaded
# brig's node policy: a container that names no profile gets the policy's
# default_profile where the kernel has AppArmor.
if [ "$RUNTIME" = brig ]; then
  # brig check of a running container reads the label from the kernel.
  make_bundle "$img/bundle-chk" brig-default
  sed -i 's|"args": \["/bin/sh", "/probe.sh"\]|"args": ["/bin/sleep", "30"]|' "$img/bundle-chk/config.json"
  make_bundle "$img/bundle-pol" ""
  printf 'version = 1\n[apparmor]\ndefault_profile = "brig-default"\n' > "$img/policy-aa.toml"
fi

# Stage 2 init: runs on a tmpfs root (pivot_root, which runtimes use, refuses
# the initramfs rootfs).
cat > "$img/init" <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t securityfs securityfs /sys/kernel/security
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo; echo "BRIG-AA-LSM: $(cat /sys/kernel/security/lsm)"
echo "BRIG-AA-ENABLED: $(cat /sys/module/apparmor/parameters/enabled)"
if apparmor_parser -r -K /etc/apparmor.d/brig-default 2>/tmp/aa-err; then
  echo "BRIG-AA-LOADED: $(grep brig-default /sys/kernel/security/apparmor/profiles)"
else
  echo "BRIG-AA-LOADED: failed: $(cat /tmp/aa-err)"
fi
runtime --root /run/rt run --bundle /bundle aa-test 2>/tmp/rt-err
echo "BRIG-AA-RC: $?"
sed 's/^/BRIG-AA-STDERR: /' /tmp/rt-err
runtime --root /run/rt run --bundle /bundle-neg aa-neg > /tmp/neg-out 2>/tmp/neg-err
echo "BRIG-AA-NEG-RC: $?"
grep -q BRIG-AA-LABEL /tmp/neg-out && echo "BRIG-AA-NEG-RAN: $(grep BRIG-AA-LABEL /tmp/neg-out)"
echo "BRIG-AA-NEG-MSG: $(cat /tmp/neg-err | tr '\n' ' ')"
if [ -d /bundle-chk ]; then
  runtime apparmor load > /tmp/aa-load 2>&1
  echo "BRIG-AA-LOAD-RC: $? $(cat /tmp/aa-load | tr '\n' ' ')"
  runtime apparmor status | sed 's/^/BRIG-AA-STATUS: /'
  runtime --root /run/rt run -d --bundle /bundle-chk aa-chk 2>/tmp/chk-err
  echo "BRIG-AA-CHK-RC: $?"
  runtime --root /run/rt check aa-chk > /tmp/chk 2>&1
  sed -n 's/^  lsm .*/BRIG-AA-CHK-KERNEL: &/p; s/^apparmor .*/BRIG-AA-CHK-CONCERN: &/p' /tmp/chk
  runtime --root /run/rt delete -f aa-chk
fi
if [ -f /policy-aa.toml ]; then
  runtime --policy /policy-aa.toml --root /run/rt run --bundle /bundle-pol aa-pol > /tmp/pol-out 2>/tmp/pol-err
  echo "BRIG-AA-POL-RC: $?"
  sed -n 's/^BRIG-AA-LABEL: /BRIG-AA-POL-LABEL: /p' /tmp/pol-out
  sed 's/^/BRIG-AA-POL-STDERR: /' /tmp/pol-err
fi
echo BRIG-AA-DONE
poweroff -f
INIT
chmod 0755 "$img/init"

# Stage 1 (/init of the initramfs): copy the image onto a tmpfs, switch_root.
mkdir -p "$s1"/{bin,proc,newroot}
ln "$work/busybox" "$s1/bin/busybox"
for a in sh mount cp switch_root; do ln -s busybox "$s1/bin/$a"; done
cat > "$s1/init" <<'INIT1'
#!/bin/sh
export PATH=/bin
mount -t tmpfs -o mode=755 tmpfs /newroot
cp -a /img/. /newroot/
exec switch_root /newroot /init
INIT1
chmod 0755 "$s1/init"
mv "$img" "$s1/img"
(cd "$s1" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$work/initrd.gz"

# --- boot ---------------------------------------------------------------------
log "booting $(basename "$vmlinuz") with RUNTIME=$RUNTIME (timeout ${TIMEOUT}s)"
start=$(date +%s)
set +e
quiet=; [ "$QUIET" = 1 ] && quiet=quiet
timeout "$TIMEOUT" nice -n "$QEMU_NICE" qemu-system-x86_64 -accel "$ACCEL" -m 512 -nographic -no-reboot \
  -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 no_timer_check $quiet apparmor=1 security=apparmor" </dev/null 2>&1 |
  stdbuf -oL tr -d '\r' > "$work/serial.log"
qrc=${PIPESTATUS[0]}
set -e
log "VM finished in $(( $(date +%s) - start ))s (qemu exit $qrc)"

# --- assertions -----------------------------------------------------------------
out=$work/serial.log
fails=0
check() { # description, then a command that must succeed
  local d=$1; shift
  if "$@"; then echo "ok   $d"; else echo "FAIL $d"; fails=$((fails + 1)); fi
}
has() { grep -qF -- "$1" "$out"; }
hasi() { grep -qiF -- "$1" "$out"; }
line() { grep -F -- "$1" "$out" | head -1; }

grep '^BRIG-AA-' "$out" || true
check "VM ran to the end" has "BRIG-AA-DONE"
check "apparmor is an active LSM" grep -qE 'BRIG-AA-LSM: .*apparmor' "$out"
check "profile loaded" grep -qE '^BRIG-AA-LOADED: brig-default \(enforce\)' "$out"
check "runtime exit 0" has "BRIG-AA-RC: 0"
check "container label is brig-default (enforce)" grep -qx 'BRIG-AA-LABEL: brig-default (enforce)' "$out"
check "container init label is brig-default (enforce)" grep -qx 'BRIG-AA-INIT-LABEL: brig-default (enforce)' "$out"
for w in sysrq-trigger core_pattern sys-thp; do
  check "write to $w denied (EACCES)" grep -qiE "^BRIG-AA-DENIED: $w: .*permission denied" "$out"
done
check "mount denied" grep -qiE '^BRIG-AA-DENIED: mount: .*(permission denied|EACCES)' "$out"
for w in net-sysctl shm-sysctl tmp; do
  check "write to $w allowed" grep -qx "BRIG-AA-ALLOWED: $w: written" "$out"
done
check "profile not loaded: runtime fails" grep -qE '^BRIG-AA-NEG-RC: [1-9]' "$out"
check "profile not loaded: container never ran" bash -c "! grep -q '^BRIG-AA-NEG-RAN' '$out'"
if [ "$RUNTIME" = brig ]; then
  check "profile not loaded: brig names it" grep -qE '^BRIG-AA-NEG-MSG: .*brig-not-loaded' "$out"
  check "brig apparmor load: brig-default replaced (exit 0)" grep -qE '^BRIG-AA-LOAD-RC: 0 ' "$out"
  check "brig apparmor status: enabled, brig-default (enforce)" \
    bash -c "grep -qx 'BRIG-AA-STATUS: apparmor: enabled' '$out' && grep -qx 'BRIG-AA-STATUS: brig-default (enforce)' '$out'"
  check "brig check: a running container's label read from the kernel: brig-default (enforce)" \
    grep -qE '^BRIG-AA-CHK-KERNEL: .*brig-default \(enforce\)' "$out"
  check "node policy: no profile asked, brig-default given (exit 0)" has "BRIG-AA-POL-RC: 0"
  check "node policy: container label is brig-default (enforce)" grep -qx 'BRIG-AA-POL-LABEL: brig-default (enforce)' "$out"
fi

if [ "$fails" -gt 0 ]; then
  echo "---- serial log ----"; cat "$out"; echo "--------------------"
  die "$fails check(s) failed (RUNTIME=$RUNTIME)"
fi
log "PASS (RUNTIME=$RUNTIME)"
