//! `spec`: write the default config.json runc writes (runc's layout,
//! no_new_privs, the minimal capability set, a cgroup namespace on a
//! cgroup v2 host), so bundles and test suites made from it behave alike;
//! `--seccomp` adds brig's default seccomp profile.

use std::path::Path;

use serde_json::json;

use crate::cli::SpecArgs;
use crate::error::{Error, IoResultExt, Result};

pub fn run(a: &SpecArgs) -> Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(Error::invalid(format!(
            "File {} exists. Remove it first",
            path.display()
        )));
    }
    let spec = default_spec(a.rootless, a.seccomp);
    let data = serde_json::to_string_pretty(&spec).expect("json");
    std::fs::write(&path, data + "\n").or_io(|| format!("write {}", path.display()))?;
    Ok(0)
}

pub fn default_spec(rootless: bool, seccomp: bool) -> serde_json::Value {
    const CAPS: [&str; 3] = crate::posture::RUNC_SPEC_CAPS;
    let caps = json!(CAPS);
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    // runc's rule: a cgroup namespace where the host is pure cgroup v2.
    if crate::cgroups::host_is_unified() {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    let mut linux = json!({
        "namespaces": [],
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
            "/proc/scsi", "/sys/devices/virtual/powercap"
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
        ],
        "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    });
    if seccomp {
        // The default profile, resolved for exactly these capabilities.
        let names: Vec<String> = CAPS.iter().map(|c| c.to_string()).collect();
        linux["seccomp"] =
            serde_json::to_value(crate::linux::seccomp::default_profile_for(&names)).expect("json");
    }
    if rootless {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        namespaces.push(json!({"type": "user"}));
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        // Without a network namespace of its own sysfs cannot be mounted:
        // bind the host's, read-only.
        mounts.retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup" && m["type"] != "mqueue");
        mounts.push(json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
        for m in mounts.iter_mut() {
            if m["destination"] == "/dev/pts" {
                m["options"] = json!([
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620"
                ]);
            }
        }
    } else {
        namespaces.insert(1, json!({"type": "network"}));
    }
    linux["namespaces"] = json!(namespaces);
    json!({
        "ociVersion": crate::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "brig",
        "mounts": mounts,
        "linux": linux,
    })
}

/// For tests and `make demo`: write the default spec into `dir`.
pub fn write_default(dir: &Path) -> Result<()> {
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&default_spec(false, true)).expect("json"),
    )
    .or_io(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_and_validates() {
        for rootless in [false, true] {
            let v = default_spec(rootless, rootless);
            let spec: oci_spec::runtime::Spec =
                serde_json::from_value(v).expect("parses as a Spec");
            crate::validate::spec(&spec).expect("validates");
        }
    }
}
