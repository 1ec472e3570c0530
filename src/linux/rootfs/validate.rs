//! Pure checks on the rootfs part of the spec, before any process exists.

use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::{is_bind, is_idmapped, mount_options, propagation_flag};
use crate::error::{Error, Result};
use crate::linux::procmount::check_proc_mount;

fn check_abs(what: &str, p: &str) -> Result<()> {
    if !p.starts_with('/') {
        return Err(Error::invalid(format!("{what} {p:?} is not absolute")));
    }
    Ok(())
}

/// Pure checks on the rootfs part of the spec, before any process exists.
pub fn validate(spec: &Spec) -> Result<()> {
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        let dest = m.destination().display().to_string();
        check_abs("mount destination", &dest)?;
        let o = mount_options(m)?;
        let typ = m.typ().as_deref().unwrap_or("");
        let sane = typ
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !sane {
            return Err(Error::invalid(format!(
                "mount {dest}: invalid type {typ:?}"
            )));
        }
        if is_bind(m, &o) || is_idmapped(m, &o) {
            // A bind mount takes no filesystem data: anything unknown is a typo.
            if let Some(bad) = o.data.first() {
                return Err(Error::invalid(format!(
                    "mount {dest}: unknown mount option {bad:?}"
                )));
            }
            if m.source().is_none() {
                return Err(Error::invalid(format!("bind mount {dest} has no source")));
            }
        } else if typ.is_empty() {
            return Err(Error::invalid(format!("mount {dest} has no type")));
        }
        if m.uid_mappings().is_some() != m.gid_mappings().is_some() {
            return Err(Error::invalid(format!(
                "mount {dest}: uidMappings and gidMappings must be given together"
            )));
        }
        if is_idmapped(m, &o) && !is_bind(m, &o) {
            return Err(Error::invalid(format!(
                "mount {dest}: idmapped mounts must be bind mounts"
            )));
        }
        check_proc_mount(m, is_bind(m, &o))?;
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    for d in linux.devices().as_deref().unwrap_or(&[]) {
        let path = d.path().display().to_string();
        check_abs("device path", &path)?;
        let inside_dev = path.starts_with("/dev/")
            && !d
                .path()
                .components()
                .any(|c| c == std::path::Component::ParentDir);
        if !inside_dev {
            return Err(Error::invalid(format!(
                "device path {path:?} is not under /dev"
            )));
        }
        match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::B | LinuxDeviceType::U => {
                if d.major() < 0 || d.minor() < 0 {
                    return Err(Error::invalid(format!(
                        "device {path}: invalid number {}:{}",
                        d.major(),
                        d.minor()
                    )));
                }
            }
            LinuxDeviceType::P => {}
            LinuxDeviceType::A => {
                return Err(Error::invalid(format!("device {path}: invalid type \"a\"")))
            }
        }
    }
    for p in linux.masked_paths().as_deref().unwrap_or(&[]) {
        check_abs("masked path", p)?;
    }
    for p in linux.readonly_paths().as_deref().unwrap_or(&[]) {
        check_abs("readonly path", p)?;
    }
    if let Some(p) = linux.rootfs_propagation().as_deref() {
        if !p.is_empty() && propagation_flag(p).is_none() {
            return Err(Error::invalid(format!("invalid rootfsPropagation {p:?}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validate_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"mounts":[{"destination":"proc","type":"proc","source":"proc"}]}"#,
                Some("mount destination \"proc\" is not absolute"),
            ),
            (
                r#"{"mounts":[{"destination":"/x","type":"tmpfs","source":"t","options":["mode=755","nosuid"]}]}"#,
                None,
            ),
            (
                r#"{"mounts":[{"destination":"/x","type":"bind","source":"/tmp","options":["rbind","nosuidd"]}]}"#,
                Some("unknown mount option \"nosuidd\""),
            ),
            (
                r#"{"mounts":[{"destination":"/x","source":"/tmp","options":["bind","ro","rro","rprivate"]}]}"#,
                None,
            ),
            (
                r#"{"mounts":[{"destination":"/x","source":"/tmp"}]}"#,
                Some("mount /x has no type"),
            ),
            (
                r#"{"mounts":[{"destination":"/x","type":"tm/pfs","source":"t"}]}"#,
                Some("invalid type"),
            ),
            (
                r#"{"mounts":[{"destination":"/x","type":"tmpfs","source":"t","options":[""]}]}"#,
                Some("invalid mount option \"\""),
            ),
            (
                r#"{"mounts":[{"destination":"/x","type":"bind","options":["bind"]}]}"#,
                Some("has no source"),
            ),
            (
                r#"{"mounts":[{"destination":"/x","type":"tmpfs","source":"t","options":["idmap"]}]}"#,
                Some("must be bind mounts"),
            ),
            (
                r#"{"mounts":[{"destination":"/x","type":"bind","source":"/t","options":["rbind"],"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}]}"#,
                Some("given together"),
            ),
            (
                r#"{"linux":{"devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}]}}"#,
                None,
            ),
            (
                r#"{"linux":{"devices":[{"path":"/dev/fifo","type":"p"}]}}"#,
                None,
            ),
            (
                r#"{"linux":{"devices":[{"path":"dev/fuse","type":"c","major":10,"minor":229}]}}"#,
                Some("device path \"dev/fuse\" is not absolute"),
            ),
            (
                r#"{"linux":{"devices":[{"path":"/etc/x","type":"c","major":1,"minor":3}]}}"#,
                Some("not under /dev"),
            ),
            (
                r#"{"linux":{"devices":[{"path":"/dev/../etc/x","type":"b","major":1,"minor":3}]}}"#,
                Some("not under /dev"),
            ),
            (
                r#"{"linux":{"devices":[{"path":"/dev/x","type":"a"}]}}"#,
                Some("invalid type \"a\""),
            ),
            (
                r#"{"linux":{"devices":[{"path":"/dev/x","type":"c","major":-1,"minor":3}]}}"#,
                Some("invalid number"),
            ),
            (
                r#"{"linux":{"maskedPaths":["proc/kcore"]}}"#,
                Some("masked path \"proc/kcore\""),
            ),
            (
                r#"{"linux":{"readonlyPaths":["proc/sys"]}}"#,
                Some("readonly path \"proc/sys\""),
            ),
            (r#"{"linux":{"rootfsPropagation":"rslave"}}"#, None),
            (
                r#"{"linux":{"rootfsPropagation":"sideways"}}"#,
                Some("invalid rootfsPropagation \"sideways\""),
            ),
        ];
        for (json, want) in cases {
            let r = validate(&spec(json));
            match (r, want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.chain().contains(w), "{json}: {}", e.chain()),
                (r, w) => panic!("{json}: got {r:?}, want {w:?}"),
            }
        }
    }
}
