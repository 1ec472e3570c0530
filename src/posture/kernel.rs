//! The kernel's word against the config: what a running container's
//! process really has. The kernel having less than the config is common
//! and harmless (execve clears the permitted and effective sets of a
//! non-root program without ambient or file capabilities; a program may
//! drop what it holds); having more is what to look at.

use oci_spec::runtime::{Capabilities, Spec};
use serde::Serialize;

use super::Rating;
use crate::linux::confinement::{cap_mask, cap_names, IdRange, KernelView};

/// One comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelCheck {
    /// `CapBnd`, `Seccomp`, `uid_map`, `root`, ...
    pub what: &'static str,
    /// What the config implies, and what the kernel shows.
    pub config: String,
    pub kernel: String,
    pub agrees: bool,
    /// Ok when it agrees; Note when the kernel is stricter; Risk when it
    /// is looser.
    pub rating: Rating,
}

fn check(what: &'static str, config: String, kernel: String, looser: Option<bool>) -> KernelCheck {
    let rating = match looser {
        None => Rating::Ok,
        Some(false) => Rating::Note,
        Some(true) => Rating::Risk,
    };
    KernelCheck {
        what,
        config,
        kernel,
        agrees: looser.is_none(),
        rating,
    }
}

fn names(mask: u64) -> String {
    let mut n = cap_names(mask);
    n.sort();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(",")
    }
}

fn mask_of(set: &Option<Capabilities>) -> u64 {
    let v: Vec<String> = set.iter().flatten().map(|c| format!("CAP_{c}")).collect();
    cap_mask(&v)
}

/// Every check, in the order the report shows them.
pub fn compare(spec: &Spec, k: &KernelView) -> Vec<KernelCheck> {
    let process = spec.process().as_ref();
    let caps = process
        .and_then(|p| p.capabilities().clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    // execve recomputes the permitted and effective sets: root (without
    // SECBIT_NOROOT) gets its bounding and inheritable sets, anyone else
    // only the ambient set (file capabilities aside, which no_new_privs
    // turns off). Ref: capabilities(7), "Transformation of capabilities
    // during execve()".
    let root = process.is_some_and(|p| p.user().uid() == 0);
    let after_execve = if root {
        mask_of(caps.bounding()) | mask_of(caps.inheritable()) | mask_of(caps.ambient())
    } else {
        mask_of(caps.ambient())
    };
    for (what, set, have, gained) in [
        ("CapBnd", caps.bounding(), k.status.cap_bnd, None),
        (
            "CapPrm",
            caps.permitted(),
            k.status.cap_prm,
            Some(after_execve),
        ),
        (
            "CapEff",
            caps.effective(),
            k.status.cap_eff,
            Some(after_execve),
        ),
        ("CapInh", caps.inheritable(), k.status.cap_inh, None),
        ("CapAmb", caps.ambient(), k.status.cap_amb, None),
    ] {
        let listed = mask_of(set);
        let want = gained.unwrap_or(listed);
        let looser = if have == want {
            None
        } else {
            Some(have & !want != 0)
        };
        let mut config = names(want);
        if want != listed {
            config += &format!(" (after execve; the config lists {})", names(listed));
        }
        out.push(check(what, config, names(have), looser));
    }

    let nnp = process.and_then(|p| p.no_new_privileges()) == Some(true);
    let looser = (nnp != k.status.no_new_privs).then_some(nnp);
    out.push(check(
        "NoNewPrivs",
        u8::from(nnp).to_string(),
        u8::from(k.status.no_new_privs).to_string(),
        looser,
    ));

    let filter = spec.linux().as_ref().is_some_and(|l| l.seccomp().is_some());
    let mode = |m: u8| match m {
        0 => "0 (none)".to_string(),
        1 => "1 (strict)".to_string(),
        2 => "2 (filter)".to_string(),
        n => n.to_string(),
    };
    let want = if filter { 2 } else { 0 };
    let looser = (want != k.status.seccomp).then_some(k.status.seccomp == 0);
    out.push(check("Seccomp", mode(want), mode(k.status.seccomp), looser));

    out.push(lsm(spec, k));

    let userns = crate::policy::in_user_namespace(spec);
    for (what, maps, have) in [
        (
            "uid_map",
            spec.linux().as_ref().and_then(|l| l.uid_mappings().clone()),
            &k.uid_map,
        ),
        (
            "gid_map",
            spec.linux().as_ref().and_then(|l| l.gid_mappings().clone()),
            &k.gid_map,
        ),
    ] {
        let want: Vec<IdRange> = if userns {
            maps.unwrap_or_default()
                .iter()
                .map(|m| IdRange {
                    container: m.container_id(),
                    host: m.host_id(),
                    size: m.size(),
                })
                .collect()
        } else {
            vec![IdRange {
                container: 0,
                host: 0,
                size: u32::MAX,
            }]
        };
        // A user namespace joined by path: its maps are not in the config.
        if userns && want.is_empty() {
            continue;
        }
        let looser = (want != *have).then(|| IdRange::is_identity(have));
        out.push(check(what, show_map(&want), show_map(have), looser));
    }

    let resources = spec.linux().as_ref().and_then(|l| l.resources().clone());
    let want_memory = resources
        .as_ref()
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit())
        .filter(|l| *l > 0)
        .map(|l| l as u64);
    let want_pids = resources
        .as_ref()
        .and_then(|r| r.pids().as_ref())
        .map(|p| p.limit())
        .filter(|l| *l >= 0)
        // runc's rule: 0 means 1.
        .map(|l| l.max(1) as u64);
    for (what, want, have) in [
        ("memory.max", want_memory, k.limits.memory),
        ("pids.max", want_pids, k.limits.pids),
    ] {
        // A controller the kernel does not show here is not compared.
        let Some(have) = have else { continue };
        let show = |v: Option<u64>| v.map_or("max".to_string(), |n| n.to_string());
        let looser = match (want, have) {
            (w, h) if w == h => None,
            (None, Some(_)) => Some(false),
            (Some(_), None) => Some(true),
            // The kernel rounds a memory limit down to a page.
            (Some(w), Some(h)) if what == "memory.max" && h <= w && w - h < 4096 => None,
            (Some(w), Some(h)) => Some(h > w),
            (None, None) => None,
        };
        out.push(check(what, show(want), show(have), looser));
    }

    if let Some(ro) = k.root_readonly {
        let want = spec.root().as_ref().and_then(|r| r.readonly()) == Some(true);
        let looser = (want != ro).then_some(want);
        let rw = |b: bool| if b { "ro" } else { "rw" }.to_string();
        out.push(check("root", rw(want), rw(ro), looser));
    }
    out
}

fn show_map(maps: &[IdRange]) -> String {
    if IdRange::is_identity(maps) {
        return "host (identity)".into();
    }
    maps.iter()
        .map(|r| format!("{} {} {}", r.container, r.host, r.size))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The LSM label: an AppArmor profile asked for shows in the kernel as
/// `PROFILE (enforce)` (or complain); none asked for is `unconfined` or
/// no label at all.
fn lsm(spec: &Spec, k: &KernelView) -> KernelCheck {
    let process = spec.process().as_ref();
    let profile = process
        .and_then(|p| p.apparmor_profile().clone())
        .filter(|p| !p.is_empty());
    let selinux = process
        .and_then(|p| p.selinux_label().clone())
        .filter(|p| !p.is_empty());
    let asked = profile.clone().or(selinux.clone());
    let label = k.lsm_label.clone();
    let shown = label.clone().unwrap_or_else(|| "none".into());
    let confined = |l: &str| l != "unconfined" && !l.starts_with("unconfined ");
    let looser = match (&asked, &label) {
        // Nothing asked: whatever the host gives (its own label) agrees.
        (None, _) => None,
        (Some(a), Some(l)) if l == a || l.starts_with(&format!("{a} (")) => None,
        (Some(_), Some(l)) => Some(!confined(l)),
        (Some(_), None) => Some(true),
    };
    check("lsm", asked.unwrap_or_else(|| "none".into()), shown, looser)
}
