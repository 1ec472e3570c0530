//! The device rules a container's cgroup gets: the config's own rules, then
//! the devices every container needs (what runc always allows: null, zero,
//! full, random, urandom, tty, ptmx, the pts slaves, and mknod of any
//! node), then the devices `linux.devices` creates. Pure.
//! Ref: runc libcontainer/specconv AllowedDevices.

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// (type, major, minor, access); -1 is the wildcard.
const ALWAYS_ALLOWED: [(LinuxDeviceType, i64, i64, &str); 10] = [
    (LinuxDeviceType::C, -1, -1, "m"),
    (LinuxDeviceType::B, -1, -1, "m"),
    (LinuxDeviceType::C, 1, 3, "rwm"),    // /dev/null
    (LinuxDeviceType::C, 1, 5, "rwm"),    // /dev/zero
    (LinuxDeviceType::C, 1, 7, "rwm"),    // /dev/full
    (LinuxDeviceType::C, 1, 8, "rwm"),    // /dev/random
    (LinuxDeviceType::C, 1, 9, "rwm"),    // /dev/urandom
    (LinuxDeviceType::C, 5, 0, "rwm"),    // /dev/tty
    (LinuxDeviceType::C, 5, 2, "rwm"),    // /dev/ptmx
    (LinuxDeviceType::C, 136, -1, "rwm"), // /dev/pts/N
];

fn rule(typ: LinuxDeviceType, major: i64, minor: i64, access: &str) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major((major >= 0).then_some(major));
    r.set_minor((minor >= 0).then_some(minor));
    r.set_access(Some(access.to_string()));
    r
}

/// `resources` with the device rules completed, when the config has any
/// device rules at all (no rules: the cgroup inherits its parent's).
pub fn with_default_devices(resources: &LinuxResources, devices: &[LinuxDevice]) -> LinuxResources {
    let mut out = resources.clone();
    let Some(rules) = resources.devices() else {
        return out;
    };
    let mut rules = rules.clone();
    rules.extend(
        ALWAYS_ALLOWED
            .iter()
            .map(|(t, ma, mi, a)| rule(*t, *ma, *mi, a)),
    );
    for d in devices {
        let typ = match d.typ() {
            LinuxDeviceType::B => LinuxDeviceType::B,
            _ => LinuxDeviceType::C,
        };
        rules.push(rule(typ, d.major(), d.minor(), "rwm"));
    }
    out.set_devices(Some(rules));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let out = with_default_devices(&r, &[dev]);
        let rules = out.devices().as_ref().unwrap();
        assert_eq!(rules.len(), 1 + ALWAYS_ALLOWED.len() + 1);
        assert_eq!(rules[0], deny, "the config's deny-all comes first");
        assert!(rules
            .iter()
            .any(|r| r.major() == Some(1) && r.minor() == Some(3) && r.allow()));
        assert_eq!(rules.last().unwrap().major(), Some(10));
        assert_eq!(rules[1].major(), None, "wildcard mknod rule");
    }

    #[test]
    fn no_rules_means_untouched() {
        let r = LinuxResources::default();
        assert!(with_default_devices(&r, &[]).devices().is_none());
    }
}
