//! `features`: what this brig, on this kernel, really supports
//! (runtime-spec features.md). Every field is computed, not hoped.

use serde_json::json;

use crate::error::Result;
use crate::linux::namespaces::JOIN_ORDER;
use crate::linux::{apparmor, capabilities, idmap, landlock, mempolicy, mount, seccomp};

pub fn run() -> Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(&features()).expect("json")
    );
    Ok(0)
}

pub fn features() -> serde_json::Value {
    let mut namespaces: Vec<&str> = JOIN_ORDER.iter().map(|k| k.spec_name()).collect();
    namespaces.sort_unstable();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": crate::hooks::Kind::ALL.map(|k| k.name()),
        "mountOptions": mount::KNOWN_OPTIONS,
        "linux": {
            "namespaces": namespaces,
            "capabilities": capabilities::known(),
            "cgroup": crate::cgroups::features(),
            "seccomp": {
                "enabled": true,
                "actions": seccomp::ACTIONS,
                "operators": seccomp::OPERATORS,
                "archs": seccomp::ARCHES,
                "knownFlags": seccomp::FLAGS,
                "supportedFlags": seccomp::FLAGS,
            },
            "apparmor": { "enabled": apparmor::enabled() },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            // Every mode and flag brig passes to set_mempolicy(2); this
            // kernel may still refuse a newer one (MPOL_WEIGHTED_INTERLEAVE
            // before 6.9), as it does for runc. process.scheduler,
            // process.ioPriority and linux.personality are supported too,
            // but features.md has no field for them.
            "memoryPolicy": {
                "modes": mempolicy::MODES.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
                "flags": mempolicy::FLAGS.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            },
            "mountExtensions": { "idmap": { "enabled": idmap::supported() } },
        },
        "annotations": {
            landlock::ANNOTATION: "JSON {\"required\":bool,\"readOnly\":[paths],\"readWrite\":[paths],\"execute\":[paths]}: a Landlock ruleset applied just before execve",
        },
    })
}
