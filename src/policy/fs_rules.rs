//! The rules on what the container sees of the host's files and kernel
//! settings: sysctls, host paths in bind mounts, masked paths, devices.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::rules::Findings;
use super::Policy;

/// Kubernetes' safe sysctls: namespaced, and harmless to the node.
/// Ref: kubernetes pkg/kubelet/sysctl/safe_sysctls.go (1.29).
pub const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// The masked and read-only paths every container keeps (runc's spec;
/// containerd's and podman's defaults hold them all).
pub const REQUIRED_MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
pub const REQUIRED_READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Host paths no container may see: a bind source that is one, is inside
/// one, or holds one (it would expose it) is refused. Whole trees: the
/// host's root (itself only), /etc, /proc, /sys, /dev, /boot, /root, the
/// kernel's modules, kubelet's and kubeadm's credentials; single files:
/// the container runtimes' API sockets (so /run, /var/run, /var and their
/// like are refused too, for holding them). The runtimes' own per-container
/// files (/run/containerd/io.containerd.grpc.v1.cri/..., kubelet's pod
/// volumes) stay allowed.
pub const SENSITIVE_HOST_PATHS: &[&str] = &[
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/root",
    "/lib/modules",
    "/usr/lib/modules",
    "/var/lib/kubelet/pki",
    "/var/lib/kubelet/kubeconfig",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/brig",
    "/etc/brig",
];

pub(super) fn sysctl_rule(policy: &Policy, spec: &mut Spec, f: &mut Findings) {
    let Some(rule) = &policy.sysctls else {
        return;
    };
    let Some(l) = spec.linux_mut() else { return };
    let Some(mut sysctls) = l.sysctl().clone() else {
        return;
    };
    let mut keys: Vec<String> = sysctls.keys().cloned().collect();
    keys.sort();
    let mut changed = false;
    for k in keys {
        let safe = SAFE_SYSCTLS.contains(&k.as_str()) || rule.allow.contains(&k);
        if !safe
            && f.add(
                "sysctls",
                format!("linux.sysctl.{k}"),
                "not a safe sysctl nor in the policy's allow list",
                rule.action,
            )
        {
            sysctls.remove(&k);
            changed = true;
        }
    }
    if changed {
        l.set_sysctl(Some(sysctls));
    }
}

/// The host path as it resolves (a symlink to a denied path is that
/// path); as given when it does not exist.
pub(crate) fn resolved(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Would a bind of `source` expose `denied`: is it `denied`, inside it,
/// or a directory holding it? `/` matches only itself.
pub(crate) fn exposes(source: &Path, denied: &Path) -> bool {
    source == denied
        || (denied != Path::new("/") && source.starts_with(denied))
        || denied.starts_with(source)
}

pub(super) fn mount_rule(policy: &Policy, spec: &mut Spec, f: &mut Findings) {
    let Some(rule) = &policy.mounts else {
        return;
    };
    let builtin = SENSITIVE_HOST_PATHS
        .iter()
        .filter(|_| rule.deny_sensitive_host_paths)
        .map(|s| s.to_string());
    let denied: Vec<PathBuf> = builtin
        .chain(rule.deny_host_paths.iter().cloned())
        .map(|p| resolved(Path::new(&p)))
        .collect();
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let before = mounts.len();
    let mut i = 0;
    mounts.retain(|m| {
        i += 1;
        let Some(src) = m
            .source()
            .as_deref()
            .filter(|_| crate::linux::rootfs::is_bind_mount(m))
        else {
            return true;
        };
        let src = resolved(src);
        let Some(d) = denied.iter().find(|d| exposes(&src, d)) else {
            return true;
        };
        !f.add(
            "mounts",
            format!("mounts[{}] ({})", i - 1, m.destination().display()),
            format!(
                "bind source {} exposes {}, which the policy denies",
                src.display(),
                d.display()
            ),
            rule.action,
        )
    });
    if mounts.len() != before {
        spec.set_mounts(Some(mounts));
    }
    let Some(action) = rule.require_masked_paths else {
        return;
    };
    let Some(l) = spec.linux_mut() else { return };
    for (field, required, get_set) in [
        ("linux.maskedPaths", REQUIRED_MASKED, 0),
        ("linux.readonlyPaths", REQUIRED_READONLY, 1),
    ] {
        let mut have = if get_set == 0 {
            l.masked_paths().clone()
        } else {
            l.readonly_paths().clone()
        }
        .unwrap_or_default();
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|p| !have.iter().any(|h| h == p))
            .collect();
        if !missing.is_empty()
            && f.add(
                "mounts.require_masked_paths",
                field,
                format!("{} missing (procMount: Unmasked?)", missing.join(", ")),
                action,
            )
        {
            have.extend(missing.iter().map(|s| s.to_string()));
            if get_set == 0 {
                l.set_masked_paths(Some(have));
            } else {
                l.set_readonly_paths(Some(have));
            }
        }
    }
}

pub(super) fn device_rule(policy: &Policy, spec: &mut Spec, f: &mut Findings) {
    let Some(rule) = &policy.devices else {
        return;
    };
    let Some(l) = spec.linux_mut() else { return };
    if let Some(devices) = l.devices().clone() {
        let defaults: Vec<&str> = crate::cgroups::devices::default_device_paths().collect();
        let kept: Vec<_> = devices
            .into_iter()
            .filter(|d| {
                let path = d.path().display().to_string();
                defaults.contains(&path.as_str())
                    || !f.add(
                        "devices",
                        "linux.devices",
                        format!("{path} is not a default device"),
                        rule.action,
                    )
            })
            .collect();
        l.set_devices(Some(kept));
    }
    let Some(resources) = l.resources_mut() else {
        return;
    };
    if let Some(rules) = resources.devices().clone() {
        let kept: Vec<_> = rules
            .into_iter()
            .enumerate()
            .filter(|(i, r)| {
                crate::cgroups::devices::within_defaults(r)
                    || !f.add(
                        "devices",
                        format!("linux.resources.devices[{i}]"),
                        "allows devices beyond the default set",
                        rule.action,
                    )
            })
            .map(|(_, r)| r)
            .collect();
        resources.set_devices(Some(kept));
    }
}
