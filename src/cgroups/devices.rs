//! The device rules a container's cgroup gets, always an allow-list as
//! runc makes it: deny everything, then the config's own rules, then the
//! devices every container needs (null, zero, full, random, urandom, tty,
//! ptmx, the pts slaves, and mknod of any node), then the devices
//! `linux.devices` creates. A config without device rules, or without
//! `linux.resources` at all, gets the same allow-list: never the parent
//! cgroup's "a *:* rwm" (raw disks, /dev/mem). Only a config that allows
//! "a" itself opens every device. Pure.
//! Ref: runc libcontainer/specconv AllowedDevices, devices emulator.

use std::io::Write;
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::error::{IoResultExt, Result};

/// (type, major, minor, access, the node's path); -1 is the wildcard.
const ALWAYS_ALLOWED: [(LinuxDeviceType, i64, i64, &str, &str); 10] = [
    (LinuxDeviceType::C, -1, -1, "m", ""),
    (LinuxDeviceType::B, -1, -1, "m", ""),
    (LinuxDeviceType::C, 1, 3, "rwm", "/dev/null"),
    (LinuxDeviceType::C, 1, 5, "rwm", "/dev/zero"),
    (LinuxDeviceType::C, 1, 7, "rwm", "/dev/full"),
    (LinuxDeviceType::C, 1, 8, "rwm", "/dev/random"),
    (LinuxDeviceType::C, 1, 9, "rwm", "/dev/urandom"),
    (LinuxDeviceType::C, 5, 0, "rwm", "/dev/tty"),
    (LinuxDeviceType::C, 5, 2, "rwm", ""), // /dev/ptmx: always (the symlink to pts/ptmx)
    (LinuxDeviceType::C, 136, -1, "rwm", ""), // /dev/pts/N
];

/// Does `r` allow nothing beyond the devices every container gets anyway
/// (a node policy's "default devices only")? A deny rule always passes.
pub fn within_defaults(r: &LinuxDeviceCgroup) -> bool {
    if !r.allow() {
        return true;
    }
    let (Some(typ), Some(access)) = (r.typ(), r.access().as_deref()) else {
        // No type is "a": every device; no access is "rwm".
        return false;
    };
    ALWAYS_ALLOWED.iter().any(|(t, major, minor, allowed, _)| {
        *t == typ
            && r.major().unwrap_or(-1) == *major
            && r.minor().unwrap_or(-1) == *minor
            && access.chars().all(|c| allowed.contains(c))
    })
}

/// The node paths of the devices every container gets.
pub fn default_device_paths() -> impl Iterator<Item = &'static str> {
    ALWAYS_ALLOWED
        .iter()
        .map(|(.., p)| *p)
        .filter(|p| !p.is_empty())
}

fn rule(typ: LinuxDeviceType, major: i64, minor: i64, access: &str) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major((major >= 0).then_some(major));
    r.set_minor((minor >= 0).then_some(minor));
    r.set_access(Some(access.to_string()));
    r
}

/// `resources` (none: no limits) with the device rules completed: deny
/// all, the config's rules, then the defaults. The config decides: a node
/// that `linux.devices` creates gets no rule of its own (its callers add
/// one, as containerd and podman do), so an explicit deny for it holds; a
/// default whose path `linux.devices` names is left out, so the config's
/// own rules for that node are the only ones (runc's order and dedup).
pub fn with_default_devices(
    resources: Option<&LinuxResources>,
    devices: &[LinuxDevice],
) -> LinuxResources {
    let mut out = resources.cloned().unwrap_or_default();
    let mut deny_all = LinuxDeviceCgroup::default();
    deny_all.set_allow(false);
    deny_all.set_access(Some("rwm".into()));
    let mut rules = vec![deny_all];
    rules.extend(out.devices().iter().flatten().cloned());
    let named = |path: &str| devices.iter().any(|d| d.path().as_os_str() == path);
    rules.extend(
        ALWAYS_ALLOWED
            .iter()
            .filter(|(.., path)| path.is_empty() || !named(path))
            .map(|(t, ma, mi, a, _)| rule(*t, *ma, *mi, a)),
    );
    out.set_devices(Some(rules));
    out
}

/// A rule's access as the kernel and systemd take it: only r, w and m
/// (other letters are ignored, as runc does); none given means all three.
pub fn access(d: &LinuxDeviceCgroup) -> String {
    let given: String = d
        .access()
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| "rwm".contains(*c))
        .collect();
    if given.is_empty() {
        "rwm".into()
    } else {
        given
    }
}

/// The line a v1 devices.allow/deny file takes: `c 1:3 rwm`, `a *:* rwm`.
pub fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let access = access(d);
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or("*".to_string(), |n| n.to_string())
    };
    let typ = d.typ().unwrap_or_default();
    format!(
        "{} {}:{} {access}",
        typ.as_str(),
        num(d.major()),
        num(d.minor())
    )
}

/// v1 devices: deny everything, then apply the rules in order, so the
/// result is exactly the spec's list whatever was there before.
/// Ref: Documentation/admin-guide/cgroup-v1/devices.rst.
/// Each file is opened once: the kernel takes one rule per write(2).
pub(super) fn devices_v1(d: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let open = |name: &str| {
        let path = d.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .or_io(|| format!("open cgroup file {}", path.display()))
            .map(|f| (f, path))
    };
    let mut deny = open("devices.deny")?;
    let mut allow = None;
    let put = |(f, path): &mut (std::fs::File, std::path::PathBuf), rule: &str| {
        f.write_all(rule.as_bytes())
            .or_io(|| format!("write {rule:?} to {}", path.display()))
    };
    put(&mut deny, "a")?;
    for r in rules {
        let file = if r.allow() {
            match &mut allow {
                Some(f) => f,
                None => allow.insert(open("devices.allow")?),
            }
        } else {
            &mut deny
        };
        put(file, &device_rule(r))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules() {
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap();
        assert_eq!(device_rule(&r), "a *:* rwm");
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}"#)
                .unwrap();
        assert_eq!(device_rule(&r), "c 1:3 rw");
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"b","major":8}"#).unwrap();
        assert_eq!(device_rule(&r), "b 8:* rwm");
    }

    #[test]
    fn defaults_follow_the_config_rules() {
        let mut deny = LinuxDeviceCgroup::default();
        deny.set_allow(false);
        deny.set_access(Some("rwm".into()));
        let mut r = LinuxResources::default();
        r.set_devices(Some(vec![deny.clone()]));
        let mut dev = LinuxDevice::default();
        dev.set_typ(LinuxDeviceType::C);
        dev.set_major(10);
        dev.set_minor(200);
        dev.set_path("/dev/tun".into());
        let out = with_default_devices(Some(&r), &[dev.clone()]);
        let rules = out.devices().as_ref().unwrap();
        assert_eq!(rules.len(), 2 + ALWAYS_ALLOWED.len());
        assert_eq!(rules[0], deny, "deny-all comes first");
        assert_eq!(rules[1], deny, "then the config's own rules");
        assert!(rules
            .iter()
            .any(|r| r.major() == Some(1) && r.minor() == Some(3) && r.allow()));
        assert!(
            !rules.iter().any(|r| r.major() == Some(10)),
            "linux.devices adds no rule of its own"
        );
        assert_eq!(rules[2].major(), None, "wildcard mknod rule");

        // A default for a path linux.devices names gives way to the config.
        dev.set_path("/dev/null".into());
        let out = with_default_devices(Some(&r), &[dev]);
        let rules = out.devices().as_ref().unwrap();
        assert_eq!(rules.len(), 2 + ALWAYS_ALLOWED.len() - 1);
        assert!(!rules
            .iter()
            .any(|r| r.major() == Some(1) && r.minor() == Some(3)));
    }

    #[test]
    fn no_rules_or_no_resources_still_get_the_allow_list() {
        for r in [None, Some(LinuxResources::default())] {
            let out = with_default_devices(r.as_ref(), &[]);
            let rules = out.devices().as_ref().unwrap();
            assert_eq!(rules.len(), 1 + ALWAYS_ALLOWED.len());
            assert!(!rules[0].allow() && rules[0].typ().is_none(), "{rules:?}");
            assert!(rules[1..].iter().all(|r| r.allow()));
        }
    }
}
