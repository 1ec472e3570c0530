//! The concerns, one function each, in the order the report shows them:
//! the process's own here, what the host lets it reach in `exposure.rs`.

use oci_spec::runtime::{LinuxCapabilities, LinuxIdMapping, Spec};
use serde_json::json;
use std::collections::BTreeSet;

use super::{exposure, Concern, Context, Rating};
use crate::linux::confinement::{cap_mask, cap_names, IdRange};
use crate::policy::{self, Policy};

/// The capabilities `runc spec` (and `brig spec`) gives.
pub const RUNC_SPEC_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The capabilities containerd (CRI), Docker and podman give by default
/// (the set brig's default seccomp profile is evaluated for).
pub const ENGINE_DEFAULT_CAPS: &[&str] = crate::linux::seccomp::DEFAULT_CAPS;

/// Capabilities that are each a known way to the host or the kernel.
const DANGEROUS_CAPS: &[&str] = &[
    "CAP_SYS_ADMIN",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_PTRACE",
    "CAP_SYS_BOOT",
    "CAP_SYS_TIME",
    "CAP_DAC_READ_SEARCH",
    "CAP_NET_ADMIN",
    "CAP_BPF",
    "CAP_PERFMON",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_SYSLOG",
];

pub fn all(spec: &Spec, ctx: &Context) -> Vec<Concern> {
    vec![
        user(spec),
        user_namespace(spec, ctx),
        capabilities(spec, ctx),
        privileged(spec, ctx),
        no_new_privs(spec),
        seccomp(spec),
        apparmor(spec, ctx),
        selinux(spec, ctx),
        landlock(spec),
        exposure::readonly_root(spec),
        exposure::masked_paths(spec),
        exposure::host_namespaces(spec),
        exposure::host_mounts(spec),
        exposure::devices(spec),
        exposure::sysctls(spec),
        exposure::cgroup_limits(spec),
    ]
}

pub(super) fn concern(
    name: &'static str,
    rating: Rating,
    summary: String,
    facts: serde_json::Value,
) -> Concern {
    Concern {
        name,
        rating,
        summary,
        facts,
    }
}

fn user(spec: &Spec) -> Concern {
    let (uid, gid, extra) = spec
        .process()
        .as_ref()
        .map(|p| {
            let u = p.user();
            (
                u.uid(),
                u.gid(),
                u.additional_gids().clone().unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    let userns = policy::in_user_namespace(spec);
    let (rating, what) = match (uid, userns) {
        (0, false) => (Rating::Warn, "root, outside a user namespace"),
        (0, true) => (Rating::Note, "root in its user namespace"),
        _ => (Rating::Ok, "not root"),
    };
    concern(
        "user",
        rating,
        format!("uid {uid}, gid {gid}: {what}"),
        json!({"uid": uid, "gid": gid, "additionalGids": extra}),
    )
}

fn ranges(maps: &[LinuxIdMapping]) -> Vec<IdRange> {
    maps.iter()
        .map(|m| IdRange {
            container: m.container_id(),
            host: m.host_id(),
            size: m.size(),
        })
        .collect()
}

fn show_map(maps: &[IdRange]) -> String {
    maps.iter()
        .map(|r| format!("{}->{}+{}", r.container, r.host, r.size))
        .collect::<Vec<_>>()
        .join(",")
}

/// Do two sets of host id ranges share an id?
pub(super) fn overlap(a: &[IdRange], b: &[IdRange]) -> bool {
    let end = |r: &IdRange| u64::from(r.host) + u64::from(r.size);
    a.iter().any(|x| {
        b.iter()
            .any(|y| u64::from(x.host) < end(y) && u64::from(y.host) < end(x))
    })
}

fn user_namespace(spec: &Spec, ctx: &Context) -> Concern {
    if !policy::in_user_namespace(spec) {
        return concern(
            "user_namespace",
            Rating::Warn,
            "none: the container's ids are the host's".into(),
            json!({"own": false}),
        );
    }
    let linux = spec.linux().as_ref();
    let config_uid = ranges(
        &linux
            .and_then(|l| l.uid_mappings().clone())
            .unwrap_or_default(),
    );
    let config_gid = ranges(
        &linux
            .and_then(|l| l.gid_mappings().clone())
            .unwrap_or_default(),
    );
    // A running container's maps are the kernel's (a user namespace
    // joined by path has none in its config).
    let (uid_map, gid_map) = match &ctx.kernel {
        Some(k) => (k.uid_map.clone(), k.gid_map.clone()),
        None => (config_uid, config_gid),
    };
    let overlaps: Vec<&str> = ctx
        .neighbours
        .iter()
        .filter(|n| overlap(&uid_map, &n.uid_map) || overlap(&gid_map, &n.gid_map))
        .map(|n| n.id.as_str())
        .collect();
    let host_root = uid_map.iter().any(|r| r.host == 0) || gid_map.iter().any(|r| r.host == 0);
    let maps = if uid_map.is_empty() {
        "joined by path (maps known once running)".to_string()
    } else {
        format!("uid {}, gid {}", show_map(&uid_map), show_map(&gid_map))
    };
    let (rating, summary) = if host_root {
        (Rating::Risk, format!("own, {maps}: maps the host's root"))
    } else if !overlaps.is_empty() {
        (
            Rating::Warn,
            format!(
                "own, {maps}: host ids overlap running {}",
                overlaps.join(", ")
            ),
        )
    } else {
        (Rating::Ok, format!("own, {maps}"))
    };
    concern(
        "user_namespace",
        rating,
        summary,
        json!({"own": true, "uidMap": uid_map, "gidMap": gid_map, "overlaps": overlaps}),
    )
}

/// Every capability any of the five sets names, by name.
fn cap_sets(spec: &Spec) -> (Vec<String>, serde_json::Value) {
    let caps: Option<LinuxCapabilities> = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().clone());
    let Some(caps) = caps else {
        return (Vec::new(), json!({}));
    };
    let names = |s: &Option<oci_spec::runtime::Capabilities>| -> Vec<String> {
        let v: Vec<String> = s.iter().flatten().map(|c| format!("CAP_{c}")).collect();
        let mut v = cap_names(cap_mask(&v));
        v.sort();
        v
    };
    let sets = json!({
        "bounding": names(caps.bounding()),
        "effective": names(caps.effective()),
        "permitted": names(caps.permitted()),
        "inheritable": names(caps.inheritable()),
        "ambient": names(caps.ambient()),
    });
    let union: BTreeSet<String> = [
        caps.bounding(),
        caps.effective(),
        caps.permitted(),
        caps.inheritable(),
        caps.ambient(),
    ]
    .into_iter()
    .flat_map(names)
    .collect();
    (union.into_iter().collect(), sets)
}

/// Does the bounding set hold every capability the kernel knows (what
/// Kubernetes' `privileged: true` gives)?
pub(super) fn is_privileged(spec: &Spec, kernel_caps: &[String]) -> bool {
    let bounding = crate::policy::bounding_names(spec);
    !kernel_caps.is_empty() && kernel_caps.iter().all(|c| bounding.contains(c))
}

fn capabilities(spec: &Spec, ctx: &Context) -> Concern {
    let (held, sets) = cap_sets(spec);
    let beyond = |base: &[&str]| -> Vec<String> {
        held.iter()
            .filter(|c| !base.contains(&c.as_str()))
            .cloned()
            .collect()
    };
    let beyond_runc = beyond(&RUNC_SPEC_CAPS);
    let beyond_engine = beyond(ENGINE_DEFAULT_CAPS);
    let dangerous: Vec<String> = held
        .iter()
        .filter(|c| DANGEROUS_CAPS.contains(&c.as_str()))
        .cloned()
        .collect();
    let privileged = is_privileged(spec, &ctx.kernel_caps);
    let (rating, summary) = if held.is_empty() {
        (Rating::Ok, "none".to_string())
    } else if privileged {
        (Rating::Risk, format!("every capability ({})", held.len()))
    } else if !dangerous.is_empty() {
        (
            Rating::Risk,
            format!("{}, among them {}", held.len(), dangerous.join(", ")),
        )
    } else if !beyond_engine.is_empty() {
        (
            Rating::Warn,
            format!(
                "{}, beyond the engines' default: {}",
                held.len(),
                beyond_engine.join(", ")
            ),
        )
    } else if !beyond_runc.is_empty() {
        (
            Rating::Note,
            format!(
                "{}, beyond runc's default: {}",
                held.len(),
                beyond_runc.join(", ")
            ),
        )
    } else {
        (
            Rating::Ok,
            format!(
                "{} (within runc's default): {}",
                held.len(),
                held.join(", ")
            ),
        )
    };
    concern(
        "capabilities",
        rating,
        summary,
        json!({
            "count": held.len(),
            "names": held,
            "sets": sets,
            "beyondRuncDefault": beyond_runc,
            "beyondEngineDefault": beyond_engine,
            "dangerous": dangerous,
        }),
    )
}

fn privileged(spec: &Spec, ctx: &Context) -> Concern {
    let yes = is_privileged(spec, &ctx.kernel_caps);
    let (rating, summary) = if yes {
        (Rating::Risk, "yes: every capability the kernel has")
    } else {
        (Rating::Ok, "no")
    };
    concern(
        "privileged",
        rating,
        summary.into(),
        json!({"privileged": yes}),
    )
}

fn no_new_privs(spec: &Spec) -> Concern {
    let set = spec.process().as_ref().and_then(|p| p.no_new_privileges()) == Some(true);
    let (rating, summary) = if set {
        (Rating::Ok, "set")
    } else {
        (
            Rating::Warn,
            "not set: setuid and file capabilities can raise privileges",
        )
    };
    concern(
        "no_new_privs",
        rating,
        summary.into(),
        json!({"noNewPrivileges": set}),
    )
}

/// The syscalls worth naming when a profile allows them: the ones brig's
/// `sandbox` preset denies (so the list is kept in one place).
pub(super) fn notable_syscalls() -> Vec<String> {
    policy::PRESETS
        .iter()
        .find(|(n, _)| *n == "sandbox")
        .and_then(|(n, t)| Policy::parse(t, n, n).ok())
        .and_then(|p| p.seccomp)
        .map(|s| s.deny_syscalls)
        .unwrap_or_default()
}

fn action_name<T: serde::Serialize>(a: &T) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn seccomp(spec: &Spec) -> Concern {
    let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
        return concern(
            "seccomp",
            Rating::Risk,
            "none: every syscall reaches the kernel".into(),
            json!({"mode": "none"}),
        );
    };
    let default = action_name(&s.default_action());
    let rules = s.syscalls().as_ref().map_or(0, |r| r.len());
    let allowed: Vec<String> = notable_syscalls()
        .into_iter()
        .filter(|n| policy::allows(&s, n))
        .collect();
    let notify = s.listener_path().is_some();
    let lets_through = matches!(
        default.as_str(),
        "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" | "SCMP_ACT_NOTIFY"
    );
    let rating = if lets_through {
        Rating::Warn
    } else if !allowed.is_empty() {
        Rating::Note
    } else {
        Rating::Ok
    };
    let mut summary = format!("filter, default {default}, {rules} rules");
    if !allowed.is_empty() {
        summary += &format!("; allows {}", allowed.join(", "));
    }
    if notify {
        summary += "; a notify agent";
    }
    concern(
        "seccomp",
        rating,
        summary,
        json!({
            "mode": "filter",
            "defaultAction": default,
            "rules": rules,
            "notableAllowed": allowed,
            "listener": s.listener_path(),
        }),
    )
}

fn apparmor(spec: &Spec, ctx: &Context) -> Concern {
    let profile = spec
        .process()
        .as_ref()
        .and_then(|p| p.apparmor_profile().clone())
        .unwrap_or_default();
    let (rating, summary) = match (profile.as_str(), ctx.apparmor_enabled) {
        ("unconfined", _) => (Rating::Risk, "unconfined, asked for".to_string()),
        ("", true) => (Rating::Warn, "none: unconfined".to_string()),
        ("", false) => (
            Rating::Note,
            "none (AppArmor is not enabled on this host)".to_string(),
        ),
        (p, true) => (Rating::Ok, p.to_string()),
        (p, false) => (
            Rating::Warn,
            format!("{p}, but AppArmor is not enabled on this host"),
        ),
    };
    concern(
        "apparmor",
        rating,
        summary,
        json!({"profile": profile, "hostEnabled": ctx.apparmor_enabled}),
    )
}

fn selinux(spec: &Spec, ctx: &Context) -> Concern {
    let label = spec
        .process()
        .as_ref()
        .and_then(|p| p.selinux_label().clone())
        .unwrap_or_default();
    let (rating, summary) = match (label.is_empty(), ctx.selinux_enabled) {
        (true, true) => (Rating::Warn, "none: the runtime's own label".to_string()),
        (true, false) => (
            Rating::Note,
            "none (SELinux is not enabled on this host)".to_string(),
        ),
        (false, _) => (Rating::Ok, label.clone()),
    };
    concern(
        "selinux",
        rating,
        summary,
        json!({"label": label, "hostEnabled": ctx.selinux_enabled}),
    )
}

fn landlock(spec: &Spec) -> Concern {
    match crate::linux::landlock::parse(spec.annotations().as_ref()) {
        Ok(None) => concern(
            "landlock",
            Rating::Note,
            format!("none (annotation {})", crate::linux::landlock::ANNOTATION),
            json!({"set": false}),
        ),
        Ok(Some(p)) => concern(
            "landlock",
            Rating::Ok,
            format!(
                "read-only {}, read-write {}, execute {} paths{}",
                p.read_only.len(),
                p.read_write.len(),
                p.execute.len(),
                if p.required { ", required" } else { "" }
            ),
            json!({"set": true, "policy": p}),
        ),
        Err(e) => concern(
            "landlock",
            Rating::Warn,
            format!("invalid: {}", e.chain()),
            json!({"set": true, "error": e.chain()}),
        ),
    }
}
