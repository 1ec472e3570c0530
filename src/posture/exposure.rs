//! The concerns of what the host lets the container reach: its root,
//! /proc, namespaces, bind mounts, devices, sysctls, cgroup limits.

use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::json;

use super::concerns::concern;
use super::{Concern, Rating};
use crate::linux::namespaces::Kind;
use crate::policy;

pub(super) fn readonly_root(spec: &Spec) -> Concern {
    let ro = spec.root().as_ref().and_then(|r| r.readonly()) == Some(true);
    let (rating, summary) = if ro {
        (Rating::Ok, "yes")
    } else {
        (Rating::Note, "no: the image is writable")
    };
    concern(
        "readonly_root",
        rating,
        summary.into(),
        json!({"readonly": ro}),
    )
}

pub(super) fn masked_paths(spec: &Spec) -> Concern {
    let linux = spec.linux().as_ref();
    let masked = linux
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default();
    let readonly = linux
        .and_then(|l| l.readonly_paths().clone())
        .unwrap_or_default();
    let missing: Vec<&str> = policy::REQUIRED_MASKED
        .iter()
        .filter(|p| !masked.iter().any(|m| m == *p))
        .chain(
            policy::REQUIRED_READONLY
                .iter()
                .filter(|p| !readonly.iter().any(|m| m == *p)),
        )
        .copied()
        .collect();
    let (rating, summary) = if missing.is_empty() {
        (
            Rating::Ok,
            format!("{} masked, {} read-only", masked.len(), readonly.len()),
        )
    } else {
        (Rating::Warn, format!("missing {}", missing.join(", ")))
    };
    concern(
        "masked_paths",
        rating,
        summary,
        json!({"masked": masked, "readonly": readonly, "missing": missing}),
    )
}

pub(super) fn host_namespaces(spec: &Spec) -> Concern {
    let list = policy::namespaces_of(spec);
    let host: Vec<&str> = policy::HOST_KINDS
        .iter()
        .filter(|(_, typ)| match list.iter().find(|n| n.typ() == *typ) {
            None => true,
            Some(n) => policy::is_host_path(Kind::from_spec(*typ), n.path().as_deref()),
        })
        .map(|(name, _)| *name)
        .collect();
    let rating = host
        .iter()
        .map(|n| match *n {
            "network" | "pid" | "ipc" | "mount" => Rating::Risk,
            "uts" => Rating::Warn,
            _ => Rating::Note,
        })
        .max()
        .unwrap_or(Rating::Ok);
    let summary = if host.is_empty() {
        "none".to_string()
    } else {
        format!("the host's {}", host.join(", "))
    };
    let time = list.iter().any(|n| n.typ() == LinuxNamespaceType::Time);
    concern(
        "host_namespaces",
        rating,
        summary,
        json!({"host": host, "ownTime": time}),
    )
}

pub(super) fn host_mounts(spec: &Spec) -> Concern {
    let sensitive: Vec<std::path::PathBuf> = policy::SENSITIVE_HOST_PATHS
        .iter()
        .map(|p| policy::resolved(Path::new(p)))
        .collect();
    let mut rating = Rating::Ok;
    let mut shown = Vec::new();
    let mut facts = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let Some(src) = m
            .source()
            .as_deref()
            .filter(|_| crate::linux::rootfs::is_bind_mount(m))
        else {
            continue;
        };
        let src = policy::resolved(src);
        let ro = m.options().iter().flatten().any(|o| o == "ro");
        let exposes = sensitive.iter().find(|d| policy::exposes(&src, d));
        let r = match (exposes, ro) {
            (Some(_), false) => Rating::Risk,
            (Some(_), true) => Rating::Warn,
            (None, false) => Rating::Note,
            (None, true) => Rating::Ok,
        };
        rating = rating.max(r);
        let mode = if ro { "ro" } else { "rw" };
        let mut line = format!("{} on {} ({mode}", src.display(), m.destination().display());
        if let Some(d) = exposes {
            line += &format!(", sensitive: {}", d.display());
        }
        line += ")";
        shown.push(line);
        facts.push(json!({
            "source": src,
            "destination": m.destination(),
            "readonly": ro,
            "sensitive": exposes,
        }));
    }
    let summary = if shown.is_empty() {
        "none".to_string()
    } else {
        shown.join("; ")
    };
    concern("host_mounts", rating, summary, json!(facts))
}

pub(super) fn devices(spec: &Spec) -> Concern {
    let defaults: Vec<&str> = crate::cgroups::devices::default_device_paths().collect();
    let linux = spec.linux().as_ref();
    let nodes: Vec<String> = linux
        .and_then(|l| l.devices().clone())
        .unwrap_or_default()
        .iter()
        .map(|d| d.path().display().to_string())
        .filter(|p| !defaults.contains(&p.as_str()))
        .collect();
    let rules: Vec<String> = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default()
        .iter()
        .filter(|r| !crate::cgroups::devices::within_defaults(r))
        .map(crate::cgroups::devices::device_rule)
        .collect();
    let (rating, summary) = if nodes.is_empty() && rules.is_empty() {
        (Rating::Ok, "the default set".to_string())
    } else {
        let mut parts = nodes.clone();
        parts.extend(rules.iter().map(|r| format!("allow {r}")));
        (
            Rating::Warn,
            format!("beyond the default: {}", parts.join(", ")),
        )
    };
    concern(
        "devices",
        rating,
        summary,
        json!({"nodes": nodes, "allowRules": rules}),
    )
}

pub(super) fn sysctls(spec: &Spec) -> Concern {
    let map = spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default();
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let (safe, unsafe_): (Vec<&String>, Vec<&String>) = keys
        .into_iter()
        .partition(|k| policy::SAFE_SYSCTLS.contains(&k.as_str()));
    let (rating, summary) = match (safe.is_empty(), unsafe_.is_empty()) {
        (true, true) => (Rating::Ok, "none".to_string()),
        (false, true) => (
            Rating::Ok,
            format!(
                "safe: {}",
                safe.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        _ => (
            Rating::Warn,
            format!(
                "unsafe: {}",
                unsafe_
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    concern(
        "sysctls",
        rating,
        summary,
        json!({"safe": safe, "unsafe": unsafe_}),
    )
}

pub(super) fn cgroup_limits(spec: &Spec) -> Concern {
    let res = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let memory = res
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit())
        .filter(|l| *l > 0);
    let pids = res
        .and_then(|r| r.pids().as_ref())
        .map(|p| p.limit())
        .filter(|l| *l > 0);
    let cpu = res
        .and_then(|r| r.cpu().as_ref())
        .and_then(|c| c.quota())
        .filter(|q| *q > 0);
    let mut parts = Vec::new();
    parts.push(match memory {
        Some(m) => format!("memory {m}"),
        None => "no memory limit".into(),
    });
    parts.push(match pids {
        Some(p) => format!("pids {p}"),
        None => "no pids limit".into(),
    });
    if let Some(q) = cpu {
        parts.push(format!("cpu quota {q}"));
    }
    let rating = if memory.is_some() && pids.is_some() {
        Rating::Ok
    } else {
        Rating::Note
    };
    concern(
        "cgroup_limits",
        rating,
        parts.join(", "),
        json!({"memory": memory, "pids": pids, "cpuQuota": cpu}),
    )
}
