//! The rules: each finds its violations in a config and, when it clamps,
//! lowers the config to the policy's ceiling.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxNamespace, LinuxNamespaceType, LinuxSeccomp,
    LinuxSeccompAction, LinuxSyscallBuilder, Process, Spec,
};

use super::{Action, Finding, Mode, Outcome, Policy, Unconfined};
use crate::error::{Error, Result};
use crate::linux::namespaces::{self, Kind};

/// What the rules need to know of the host (given, so tests can say).
#[derive(Debug, Clone)]
pub struct Host {
    /// AppArmor is enabled in this kernel (a default profile is given only then).
    pub apparmor_enabled: bool,
    /// Every capability this kernel knows, `CAP_...` (a bounding set with
    /// all of them is `privileged`).
    pub kernel_caps: Vec<String>,
    /// The range the node's pool leased this container (and its pod's
    /// user namespace to join), for the `user_namespace` rule to clamp with.
    pub userns_grant: Option<super::pool::Grant>,
}

impl Host {
    pub fn current() -> Host {
        Host {
            apparmor_enabled: crate::linux::apparmor::enabled(),
            kernel_caps: crate::linux::capabilities::known(),
            userns_grant: None,
        }
    }
}

/// The host namespaces the namespace rule looks at, by spec name.
pub(crate) const HOST_KINDS: &[(&str, LinuxNamespaceType)] = &[
    ("network", LinuxNamespaceType::Network),
    ("pid", LinuxNamespaceType::Pid),
    ("ipc", LinuxNamespaceType::Ipc),
    ("uts", LinuxNamespaceType::Uts),
    ("mount", LinuxNamespaceType::Mount),
    ("cgroup", LinuxNamespaceType::Cgroup),
];

/// The policy file itself makes sense: known capability and namespace
/// names, and `run_as_non_root` only refuses.
pub fn check(p: &Policy) -> Result<()> {
    if let Some(c) = &p.capabilities {
        for name in &c.allowed {
            parse_cap(name)?;
        }
    }
    if let Some(n) = &p.namespaces {
        for name in &n.allow_host {
            if !HOST_KINDS.iter().any(|(k, _)| k == name) {
                return Err(Error::invalid(format!(
                    "namespaces.allow_host: {name:?} is not one of network, pid, ipc, uts, mount, cgroup"
                )));
            }
        }
    }
    if let Some(l) = &p.landlock {
        // The same checks as the annotation (absolute paths).
        let json = serde_json::to_string(&l.default).expect("json");
        let a = std::collections::HashMap::from([(
            crate::linux::landlock::ANNOTATION.to_string(),
            json,
        )]);
        crate::linux::landlock::parse(Some(&a)).map_err(|e| e.context("landlock.default"))?;
    }
    if let Some(u) = &p.user_namespace {
        let end = u64::from(u.first) + u64::from(u.count) * u64::from(u.size);
        if u.first == 0 || u.count == 0 || u.size == 0 || end > u64::from(u32::MAX) {
            return Err(Error::invalid(format!(
                "user_namespace: {} ranges of {} host ids from {} do not fit between host ids 1 and {}",
                u.count,
                u.size,
                u.first,
                u32::MAX - 1
            )));
        }
    }
    if p.process.as_ref().and_then(|r| r.run_as_non_root) == Some(Action::Clamp) {
        return Err(Error::invalid(
            "process.run_as_non_root can only refuse (a user cannot be clamped)",
        ));
    }
    Ok(())
}

fn parse_cap(name: &str) -> Result<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| Error::invalid(format!("capability {name:?} is not known")))
}

/// Findings as the rules make them, with the outcome enforce mode gives
/// them (audit mode relabels them in [`finish`]).
pub(super) struct Findings {
    list: Vec<Finding>,
}

impl Findings {
    /// Record a violation; true when the working copy is to be clamped
    /// (in audit mode it is thrown away).
    pub(super) fn add(
        &mut self,
        rule: &str,
        field: impl Into<String>,
        detail: impl Into<String>,
        action: Action,
    ) -> bool {
        let outcome = match action {
            Action::Refuse => Outcome::Refused,
            Action::Clamp => Outcome::Clamped,
        };
        self.list.push(Finding {
            rule: rule.into(),
            field: field.into(),
            detail: detail.into(),
            outcome,
        });
        action == Action::Clamp
    }
}

/// Every finding of `policy` on a container's config, as enforce mode
/// would treat it, and the config lowered by the clamping rules; nothing
/// is refused or logged (`brig policy explain`).
pub fn evaluate_spec(policy: &Policy, spec: &Spec, host: &Host) -> (Vec<Finding>, Spec) {
    let mut work = spec.clone();
    let mut f = Findings { list: Vec::new() };
    user_namespace_rule(policy, &mut work, host, &mut f);
    // A clamp without a grant (`policy explain`) still means the container
    // will have a user namespace.
    let userns = in_user_namespace(&work) || granted_userns(&f.list);
    if let Some(process) = work.process_mut() {
        process_rules(policy, process, userns, host, &mut f);
    }
    namespace_rule(policy, &mut work, &mut f);
    readonly_root(policy, &mut work, &mut f);
    landlock_rule(policy, &mut work, &mut f);
    seccomp_rule(policy, &mut work, &mut f);
    super::fs_rules::sysctl_rule(policy, &mut work, &mut f);
    super::fs_rules::mount_rule(policy, &mut work, &mut f);
    super::fs_rules::device_rule(policy, &mut work, &mut f);
    (f.list, work)
}

/// Apply `policy` to a container's config. Enforce: a refusing rule fails
/// (the first refusal is the error line), clamping rules change `spec`.
/// Audit: `spec` is left as it is. Every finding is logged and returned.
pub fn apply_to_spec(policy: &Policy, spec: &mut Spec, host: &Host) -> Result<Vec<Finding>> {
    let (list, work) = evaluate_spec(policy, spec, host);
    finish(policy, list, || *spec = work)
}

/// Apply `policy` to a process `exec` starts in a container created with
/// `config` (its seccomp filter and namespaces are the container's).
pub fn apply_to_process(
    policy: &Policy,
    config: &Spec,
    process: &mut Process,
    host: &Host,
) -> Result<Vec<Finding>> {
    let mut work = process.clone();
    let mut f = Findings { list: Vec::new() };
    process_rules(policy, &mut work, in_user_namespace(config), host, &mut f);
    finish(policy, f.list, || *process = work)
}

/// Enforce: refuse on the first refusal, else keep the clamped copy and
/// log each change. Audit: every finding becomes `Audited` and is logged;
/// nothing is kept.
fn finish(policy: &Policy, mut list: Vec<Finding>, keep: impl FnOnce()) -> Result<Vec<Finding>> {
    if policy.mode == Mode::Audit {
        for f in &mut list {
            f.outcome = Outcome::Audited;
        }
    }
    if let Some(refused) = list.iter().find(|f| f.outcome == Outcome::Refused) {
        return Err(Error::policy(
            &policy.name,
            &refused.rule,
            &refused.field,
            &refused.detail,
        ));
    }
    for finding in &list {
        match finding.outcome {
            Outcome::Clamped => {
                tracing::warn!("policy {}: clamped: {}", policy.name, finding.line())
            }
            Outcome::Audited => {
                tracing::warn!("policy {} (audit): {}", policy.name, finding.line())
            }
            Outcome::Refused => {}
        }
    }
    if policy.mode == Mode::Enforce {
        keep();
    }
    Ok(list)
}

/// The rules on the process alone (create and exec).
fn process_rules(policy: &Policy, p: &mut Process, userns: bool, host: &Host, f: &mut Findings) {
    capability_rule(policy, p, host, f);
    if let Some(rule) = &policy.process {
        if let Some(action) = rule.no_new_privileges {
            if p.no_new_privileges() != Some(true)
                && f.add(
                    "process.no_new_privileges",
                    "process.noNewPrivileges",
                    "must be true",
                    action,
                )
            {
                p.set_no_new_privileges(Some(true));
            }
        }
        if let Some(action) = rule.run_as_non_root {
            if p.user().uid() == 0 && !userns {
                f.add(
                    "process.run_as_non_root",
                    "process.user.uid",
                    "uid 0 outside a user namespace",
                    action,
                );
            }
        }
    }
    if let Some(rule) = &policy.apparmor {
        let profile = p.apparmor_profile().clone().unwrap_or_default();
        if profile == "unconfined" && rule.refuse_unconfined {
            f.add(
                "apparmor",
                "process.apparmorProfile",
                "unconfined is not allowed",
                Action::Refuse,
            );
        } else if profile.is_empty() && host.apparmor_enabled {
            if let Some(default) = &rule.default_profile {
                if f.add(
                    "apparmor",
                    "process.apparmorProfile",
                    format!("none: {default}"),
                    Action::Clamp,
                ) {
                    p.set_apparmor_profile(Some(default.clone()));
                }
            }
        }
    }
}

fn capability_rule(policy: &Policy, p: &mut Process, host: &Host, f: &mut Findings) {
    let Some(rule) = &policy.capabilities else {
        return;
    };
    let ceiling: HashSet<Capability> = rule
        .allowed
        .iter()
        .filter_map(|n| parse_cap(n).ok())
        .collect();
    let Some(caps) = p.capabilities().clone() else {
        return;
    };
    let bounding = caps.bounding().clone().unwrap_or_default();
    let names: HashSet<String> = bounding.iter().map(|c| format!("CAP_{c}")).collect();
    if rule.refuse_privileged
        && !host.kernel_caps.is_empty()
        && host.kernel_caps.iter().all(|c| names.contains(c))
    {
        f.add(
            "capabilities",
            "process.capabilities.bounding",
            "every capability (privileged) is not allowed",
            Action::Refuse,
        );
        return;
    }
    let mut clamped = caps.clone();
    let mut changed = false;
    type Get = fn(&LinuxCapabilities) -> &Option<Capabilities>;
    type Set = fn(&mut LinuxCapabilities, Option<Capabilities>) -> &mut LinuxCapabilities;
    let sets: [(&str, Get, Set); 5] = [
        (
            "bounding",
            LinuxCapabilities::bounding,
            LinuxCapabilities::set_bounding,
        ),
        (
            "effective",
            LinuxCapabilities::effective,
            LinuxCapabilities::set_effective,
        ),
        (
            "inheritable",
            LinuxCapabilities::inheritable,
            LinuxCapabilities::set_inheritable,
        ),
        (
            "permitted",
            LinuxCapabilities::permitted,
            LinuxCapabilities::set_permitted,
        ),
        (
            "ambient",
            LinuxCapabilities::ambient,
            LinuxCapabilities::set_ambient,
        ),
    ];
    for (name, get, set) in sets {
        let Some(have) = get(&caps) else { continue };
        let mut above: Vec<String> = have
            .iter()
            .filter(|c| !ceiling.contains(c))
            .map(|c| format!("CAP_{c}"))
            .collect();
        if above.is_empty() {
            continue;
        }
        above.sort();
        if f.add(
            "capabilities",
            format!("process.capabilities.{name}"),
            format!("{} above the policy's ceiling", above.join(", ")),
            rule.action,
        ) {
            let kept: Capabilities = have.intersection(&ceiling).cloned().collect();
            set(&mut clamped, Some(kept));
            changed = true;
        }
    }
    if changed {
        p.set_capabilities(Some(clamped));
    }
}

/// The process's bounding set as `CAP_...` names (none when not given).
pub fn bounding_names(spec: &Spec) -> Vec<String> {
    spec.process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().clone())
        .unwrap_or_default()
        .iter()
        .map(|c| format!("CAP_{c}"))
        .collect()
}

/// Is the container in a user namespace of its own (not the host's)?
pub(crate) fn in_user_namespace(spec: &Spec) -> bool {
    namespaces_of(spec)
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::User)
        .is_some_and(|n| !is_host_path(Kind::User, n.path().as_deref()))
}

pub(crate) fn namespaces_of(spec: &Spec) -> Vec<LinuxNamespace> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
}

/// A namespace joined by `path` that is the host's own (or no path: new).
pub(crate) fn is_host_path(kind: Kind, path: Option<&Path>) -> bool {
    match path.filter(|p| !p.as_os_str().is_empty()) {
        None => false,
        Some(p) => namespaces::is_host_ns(kind, p).unwrap_or(false),
    }
}

fn namespace_rule(policy: &Policy, spec: &mut Spec, f: &mut Findings) {
    let Some(rule) = &policy.namespaces else {
        return;
    };
    let mut list = namespaces_of(spec);
    let mut changed = false;
    for (name, typ) in HOST_KINDS {
        if rule.allow_host.iter().any(|a| a == name) {
            continue;
        }
        let kind = Kind::from_spec(*typ);
        let entry = list.iter().position(|n| n.typ() == *typ);
        let host = match entry {
            None => true,
            Some(i) => is_host_path(kind, list[i].path().as_deref()),
        };
        if host
            && f.add(
                "namespaces",
                "linux.namespaces",
                format!("the host's {name} namespace"),
                rule.action,
            )
        {
            let mut new = LinuxNamespace::default();
            new.set_typ(*typ);
            match entry {
                Some(i) => list[i] = new,
                None => list.push(new),
            }
            changed = true;
        }
    }
    if changed {
        if let Some(l) = spec.linux_mut() {
            l.set_namespaces(Some(list));
        }
    }
}

/// The host ids a rule-abiding user namespace may not map: the host's root,
/// and the pool's (brig leases those, one pod each).
fn user_namespace_rule(policy: &Policy, spec: &mut Spec, host: &Host, f: &mut Findings) {
    let Some(rule) = &policy.user_namespace else {
        return;
    };
    let list = namespaces_of(spec);
    let entry = list.iter().find(|n| n.typ() == LinuxNamespaceType::User);
    let joined = entry
        .and_then(|n| n.path().clone())
        .filter(|p| !p.as_os_str().is_empty());
    if in_user_namespace(spec) {
        if joined.is_some() {
            // Another process's user namespace (a pod's, given by
            // containerd): its maps were checked when it was made.
            return;
        }
        let linux = spec.linux().as_ref();
        let maps = [
            (
                "linux.uidMappings",
                linux.and_then(|l| l.uid_mappings().clone()),
            ),
            (
                "linux.gidMappings",
                linux.and_then(|l| l.gid_mappings().clone()),
            ),
        ];
        let region = rule.region();
        for (field, maps) in maps {
            for m in maps.unwrap_or_default() {
                let r = super::pool::Range {
                    start: m.host_id(),
                    size: m.size(),
                };
                let detail = if m.host_id() == 0 && m.size() > 0 {
                    "maps host id 0, the host's root".to_string()
                } else if r.overlaps(region) {
                    format!(
                        "host ids {} overlap the node's user-namespace pool ({}), which brig leases one pod each",
                        r.span(),
                        region.span()
                    )
                } else {
                    continue;
                };
                // The container's own maps are not brig's to change: its
                // files were made for them.
                f.add("user_namespace", field, detail, Action::Refuse);
            }
        }
        return;
    }
    let detail = match &host.userns_grant {
        Some(g) if g.join.is_some() => format!(
            "none: the pod's user namespace (host ids {})",
            g.range.span()
        ),
        Some(g) => format!(
            "none: a user namespace mapped to host ids {} from the node's pool",
            g.range.span()
        ),
        None => "none: a user namespace mapped to a range from the node's pool".to_string(),
    };
    if !f.add("user_namespace", "linux.namespaces", detail, rule.action) {
        return;
    }
    let Some(grant) = &host.userns_grant else {
        // `policy explain`: nothing leased, the config stays.
        return;
    };
    give_user_namespace(spec, grant);
}

/// The container's user namespace from the pool: the pod's to join, or a
/// new one mapped to the grant's range; its bind mounts are idmapped to
/// it (the root filesystem is too: [`granted_userns`]).
fn give_user_namespace(spec: &mut Spec, grant: &super::pool::Grant) {
    let mut list: Vec<LinuxNamespace> = namespaces_of(spec)
        .into_iter()
        .filter(|n| n.typ() != LinuxNamespaceType::User)
        .collect();
    let mut user = LinuxNamespace::default();
    user.set_typ(LinuxNamespaceType::User);
    user.set_path(grant.join.clone());
    list.push(user);
    let maps = grant.join.is_none().then(|| {
        vec![crate::linux::userns::mapping(
            0,
            grant.range.start,
            grant.range.size,
        )]
    });
    if let Some(l) = spec.linux_mut() {
        l.set_namespaces(Some(list));
        l.set_uid_mappings(maps.clone());
        l.set_gid_mappings(maps);
    }
    if let Some(mounts) = spec.mounts_mut() {
        for m in mounts.iter_mut() {
            if idmappable_bind(m) {
                let mut o = m.options().clone().unwrap_or_default();
                o.push("idmap".to_string());
                m.set_options(Some(o));
            }
        }
    }
}

/// A bind mount of the host's that an idmap can shift: not one already
/// idmapped, not of the kernel's own filesystems (/dev, /proc, /sys,
/// which cannot be idmapped and hold no files of the pod's).
fn idmappable_bind(m: &oci_spec::runtime::Mount) -> bool {
    let opts = m.options().clone().unwrap_or_default();
    let bind =
        m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind");
    let idmapped = opts.iter().any(|o| o == "idmap" || o == "ridmap")
        || m.uid_mappings().is_some()
        || m.gid_mappings().is_some();
    let kernel = m.source().as_deref().is_some_and(|s| {
        ["/dev", "/proc", "/sys"]
            .iter()
            .any(|k| s == Path::new(k) || s.starts_with(k))
    });
    bind && !idmapped && !kernel
}

/// Did the `user_namespace` rule give this container its user namespace
/// (so its root filesystem is idmapped to it)?
pub fn granted_userns(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|f| f.rule == "user_namespace" && f.outcome == Outcome::Clamped)
}

fn landlock_rule(policy: &Policy, spec: &mut Spec, f: &mut Findings) {
    use crate::linux::landlock::ANNOTATION;
    let Some(rule) = &policy.landlock else {
        return;
    };
    let has = spec
        .annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION));
    if !has
        && f.add(
            "landlock",
            format!("annotations.{ANNOTATION}"),
            "none: the policy's default ruleset",
            Action::Clamp,
        )
    {
        let json = serde_json::to_string(&rule.default).expect("json");
        let mut a = spec.annotations().clone().unwrap_or_default();
        a.insert(ANNOTATION.to_string(), json);
        spec.set_annotations(Some(a));
    }
}

fn readonly_root(policy: &Policy, spec: &mut Spec, f: &mut Findings) {
    let Some(action) = policy.process.as_ref().and_then(|r| r.readonly_rootfs) else {
        return;
    };
    let readonly = spec.root().as_ref().and_then(|r| r.readonly()) == Some(true);
    if !readonly
        && f.add(
            "process.readonly_rootfs",
            "root.readonly",
            "must be true",
            action,
        )
    {
        if let Some(root) = spec.root_mut() {
            root.set_readonly(Some(true));
        }
    }
}

fn seccomp_rule(policy: &Policy, spec: &mut Spec, f: &mut Findings) {
    let Some(rule) = &policy.seccomp else {
        return;
    };
    let has_filter = spec.linux().as_ref().is_some_and(|l| l.seccomp().is_some());
    if !has_filter {
        let caps = bounding_names(spec);
        let given = match rule.unconfined {
            Unconfined::Allow => false,
            Unconfined::Refuse => {
                f.add(
                    "seccomp",
                    "linux.seccomp",
                    "none (unconfined)",
                    Action::Refuse,
                );
                false
            }
            Unconfined::Default => f.add(
                "seccomp",
                "linux.seccomp",
                "none: brig's default profile",
                Action::Clamp,
            ),
        };
        if given {
            if let Some(l) = spec.linux_mut() {
                l.set_seccomp(Some(crate::linux::seccomp::default_profile_for(&caps)));
            }
        }
    }
    if rule.deny_syscalls.is_empty() {
        return;
    }
    let Some(s) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.seccomp_mut().as_mut())
    else {
        return;
    };
    let allowed: Vec<String> = rule
        .deny_syscalls
        .iter()
        .filter(|n| allows(s, n))
        .cloned()
        .collect();
    if !allowed.is_empty()
        && f.add(
            "seccomp",
            "linux.seccomp",
            format!("allows {}, which the policy denies", allowed.join(", ")),
            rule.action,
        )
    {
        deny(s, &allowed);
    }
}

/// Does the filter let `name` through (to the kernel or an agent)?
pub(crate) fn allows(s: &LinuxSeccomp, name: &str) -> bool {
    let lets_through = |a: LinuxSeccompAction| {
        matches!(
            a,
            LinuxSeccompAction::ScmpActAllow
                | LinuxSeccompAction::ScmpActLog
                | LinuxSeccompAction::ScmpActNotify
        )
    };
    let rules: Vec<_> = s
        .syscalls()
        .iter()
        .flatten()
        .filter(|r| r.names().iter().any(|n| n == name))
        .collect();
    if rules.iter().any(|r| lets_through(r.action())) {
        return true;
    }
    // A rule with argument conditions only covers some calls; the rest
    // meet the default.
    let covered = rules
        .iter()
        .any(|r| r.args().as_ref().is_none_or(|a| a.is_empty()));
    !covered && lets_through(s.default_action())
}

/// Make `names` fail with EPERM: out of every rule that lets them
/// through, and one rule of their own when the default would.
fn deny(s: &mut LinuxSeccomp, names: &[String]) {
    let mut rules = s.syscalls().clone().unwrap_or_default();
    for r in &mut rules {
        if matches!(
            r.action(),
            LinuxSeccompAction::ScmpActAllow
                | LinuxSeccompAction::ScmpActLog
                | LinuxSeccompAction::ScmpActNotify
        ) {
            let kept: Vec<String> = r
                .names()
                .iter()
                .filter(|n| !names.contains(n))
                .cloned()
                .collect();
            r.set_names(kept);
        }
    }
    rules.retain(|r| !r.names().is_empty());
    let still: Vec<String> = names
        .iter()
        .filter(|n| {
            let mut probe = s.clone();
            probe.set_syscalls(Some(rules.clone()));
            allows(&probe, n)
        })
        .cloned()
        .collect();
    if !still.is_empty() {
        if let Ok(r) = LinuxSyscallBuilder::default()
            .names(still)
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(libc::EPERM as u32)
            .build()
        {
            rules.push(r);
        }
    }
    s.set_syscalls(Some(rules));
}
