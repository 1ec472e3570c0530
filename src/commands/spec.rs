//! `spec`: write the default config.json runc writes (runc's layout,
//! no_new_privs, the minimal capability set, a cgroup namespace on a
//! cgroup v2 host), so bundles and test suites made from it behave alike;
//! `--seccomp` adds brig's default seccomp profile; `--hardened` writes
//! brig's secure defaults instead.

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
    let mut spec = default_spec(a.rootless, a.seccomp);
    if a.hardened {
        harden(&mut spec, a.rootless, crate::linux::apparmor::enabled());
    }
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
        // runc's specconv.ToRootless: the user namespace last, mapping
        // the caller's own (effective) ids to 0; no network namespace;
        // /sys an rbind of the host's (sysfs cannot be mounted without a
        // network namespace of its own); no uid=/gid= mount options (they
        // name ids the namespace does not map); no linux.resources (no
        // cgroup to apply them to without delegation).
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        namespaces.push(json!({"type": "user"}));
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            } else if let Some(opts) = m.get_mut("options").and_then(|o| o.as_array_mut()) {
                opts.retain(|o| {
                    let o = o.as_str().unwrap_or_default();
                    !o.starts_with("uid=") && !o.starts_with("gid=")
                });
            }
        }
        linux.as_object_mut().expect("object").remove("resources");
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

/// Where a hardened spec maps the container's ids on the host: 65536 ids
/// from 2^31, far from the host's users and the usual /etc/subuid ranges
/// (100000 and up), so no host user owns what the container's root does.
pub const HARDENED_HOST_ID: u32 = 1 << 31;

/// `spec --hardened`: the default spec with brig's secure defaults. A user
/// namespace (the caller's own ids when rootless), no capabilities in any
/// set, brig's default seccomp profile resolved for none, no_new_privs and
/// a read-only root (both already runc's), brig-default AppArmor where the
/// kernel has AppArmor. What the container needs beyond that, the operator
/// adds by hand and sees in `brig check`.
pub fn harden(spec: &mut serde_json::Value, rootless: bool, apparmor: bool) {
    let none = json!([]);
    let p = &mut spec["process"];
    p["capabilities"] = json!({"bounding": none, "effective": none, "permitted": none});
    p["noNewPrivileges"] = json!(true);
    if apparmor {
        p["apparmorProfile"] = json!("brig-default");
    }
    spec["root"]["readonly"] = json!(true);
    let linux = &mut spec["linux"];
    linux["seccomp"] =
        serde_json::to_value(crate::linux::seccomp::default_profile_for(&[])).expect("json");
    if rootless {
        // A network namespace of its own (allowed in the user's own user
        // namespace), so sysfs is the container's, not a bind of the host's.
        linux["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "network"}));
        for m in spec["mounts"].as_array_mut().expect("mounts") {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                            "options": ["nosuid", "noexec", "nodev", "ro"]});
            }
        }
    } else {
        linux["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": HARDENED_HOST_ID, "size": 65536}]);
        linux["uidMappings"] = map.clone();
        linux["gidMappings"] = map;
    }
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
    fn hardened_spec_parses_validates_and_passes_restricted() {
        for (rootless, apparmor) in [(false, false), (false, true), (true, false)] {
            let mut v = default_spec(rootless, false);
            harden(&mut v, rootless, apparmor);
            let spec: oci_spec::runtime::Spec =
                serde_json::from_value(v).expect("parses as a Spec");
            crate::validate::spec(&spec).expect("validates");
            // What the restricted preset would refuse or change: nothing.
            let text = crate::policy::PRESETS
                .iter()
                .find(|(n, _)| *n == "restricted")
                .unwrap()
                .1;
            let p = crate::policy::Policy::parse(text, "restricted", "restricted").unwrap();
            let host = crate::policy::Host {
                apparmor_enabled: apparmor,
                kernel_caps: vec!["CAP_CHOWN".into()],
                userns_grant: None,
            };
            let (findings, _) = crate::policy::evaluate_spec(&p, &spec, &host);
            let ignore_cgroup_ns = |f: &&crate::policy::Finding| f.field != "linux.namespaces";
            let left: Vec<_> = findings.iter().filter(ignore_cgroup_ns).collect();
            assert!(left.is_empty(), "rootless {rootless}: {left:?}");
        }
    }

    #[test]
    fn rootless_spec_is_runcs() {
        let v = default_spec(true, false);
        let uid = nix::unistd::geteuid().as_raw();
        assert_eq!(
            v["linux"]["uidMappings"],
            json!([{"containerID": 0, "hostID": uid, "size": 1}])
        );
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns.last(), Some(&"user"));
        assert!(!ns.contains(&"network"));
        assert!(v["linux"].get("resources").is_none());
        let mounts = v["mounts"].as_array().unwrap();
        let dests: Vec<&str> = mounts
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup"
            ]
        );
        assert_eq!(
            mounts[0],
            json!({"destination": "/proc", "type": "proc", "source": "proc"})
        );
        assert_eq!(
            mounts[5],
            json!({"destination": "/sys", "type": "none", "source": "/sys",
                   "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
        );
        assert_eq!(
            mounts[2]["options"],
            json!([
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620"
            ])
        );
    }

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
