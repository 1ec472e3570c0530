//! Pod Security Standard verdicts, from the node policy presets: a level
//! fails where brig's preset of that name would refuse or change the
//! config, and each finding is named by the Kubernetes field that asks
//! for it. The rules are the policy's (src/policy/rules.rs); this file
//! only maps them to Kubernetes' words, and adds the one check the
//! presets do not make (the SELinux type).
//!
//! Where the runtime cannot tell what the pod spec said, the verdict is
//! on what the container gets: no seccomp filter fails even baseline,
//! which allows an unset `seccompProfile` (the container then runs
//! Unconfined), and any bind of a sensitive host path fails, though the
//! standard forbids every `hostPath` (the runtime cannot tell a hostPath
//! volume from kubelet's own binds). Where the preset is stricter than
//! the standard (devices, the host's uts, mount or cgroup namespace), the
//! failure has no Kubernetes field.
//! Ref: https://kubernetes.io/docs/concepts/security/pod-security-standards/

use oci_spec::runtime::Spec;
use serde::Serialize;

use crate::policy::{self, Finding, Policy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelVerdict {
    pub level: Level,
    pub pass: bool,
    pub failures: Vec<Failure>,
}

/// One failing check of a level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The pod spec field that asks for this (`securityContext.privileged`,
    /// `hostNetwork`, ...); None where brig's preset is stricter than the
    /// standard.
    pub kubernetes_field: Option<&'static str>,
    /// The config.json fields at fault.
    pub config_fields: Vec<String>,
    /// The node policy rule that found it.
    pub rule: String,
    pub detail: String,
}

/// SELinux types the standard allows (baseline, "SELinux").
const SELINUX_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// The three levels, loosest first.
pub fn verdicts(spec: &Spec, kernel_caps: &[String]) -> Vec<LevelVerdict> {
    // A missing AppArmor profile is not a failure of any level (the
    // standard allows it unset); with AppArmor "off" the presets do not
    // offer their default profile as a change.
    let host = policy::Host {
        apparmor_enabled: false,
        kernel_caps: kernel_caps.to_vec(),
        userns_grant: None,
    };
    let mut baseline = failures(spec, &host, Level::Baseline);
    baseline.extend(selinux(spec));
    let mut restricted = baseline.clone();
    for f in failures(spec, &host, Level::Restricted) {
        merge(&mut restricted, f);
    }
    [
        (Level::Privileged, Vec::new()),
        (Level::Baseline, baseline),
        (Level::Restricted, restricted),
    ]
    .into_iter()
    .map(|(level, failures)| LevelVerdict {
        level,
        pass: failures.is_empty(),
        failures,
    })
    .collect()
}

/// The compiled-in preset (an operator's file of the same name does not
/// change what the standard is).
fn preset(level: Level) -> Option<Policy> {
    let name = level.as_str();
    let (_, text) = policy::PRESETS.iter().find(|(n, _)| *n == name)?;
    Policy::parse(text, name, name).ok()
}

fn failures(spec: &Spec, host: &policy::Host, level: Level) -> Vec<Failure> {
    let Some(p) = preset(level) else {
        return Vec::new();
    };
    let (findings, _) = policy::evaluate_spec(&p, spec, host);
    let mut out = Vec::new();
    for f in &findings {
        merge(&mut out, failure(level, f));
    }
    out
}

/// Add `f`, or its config field to the failure already there for the
/// same Kubernetes field and rule (one capability finding per set).
fn merge(list: &mut Vec<Failure>, f: Failure) {
    match list
        .iter_mut()
        .find(|g| g.kubernetes_field == f.kubernetes_field && g.rule == f.rule)
    {
        Some(g) => {
            for c in f.config_fields {
                if !g.config_fields.contains(&c) {
                    g.config_fields.push(c);
                }
            }
        }
        None => list.push(f),
    }
}

fn failure(level: Level, f: &Finding) -> Failure {
    let detail = if f.rule == "seccomp" && f.detail.starts_with("none") {
        "none (Unconfined)".to_string()
    } else {
        f.detail
            .replace("the policy's", "the level's")
            .replace("the policy denies", "the level denies")
    };
    Failure {
        kubernetes_field: kubernetes_field(level, f),
        config_fields: vec![f.field.clone()],
        rule: f.rule.clone(),
        detail,
    }
}

/// The pod spec field behind a preset's finding.
pub(super) fn kubernetes_field(level: Level, f: &Finding) -> Option<&'static str> {
    Some(match f.rule.as_str() {
        "capabilities" if f.detail.contains("(privileged)") => "securityContext.privileged",
        // Restricted: `drop: [ALL]`, and `add` at most NET_BIND_SERVICE.
        "capabilities" if level == Level::Restricted => "securityContext.capabilities.drop",
        "capabilities" => "securityContext.capabilities.add",
        "seccomp" => "securityContext.seccompProfile",
        "apparmor" => "securityContext.appArmorProfile",
        "process.no_new_privileges" => "securityContext.allowPrivilegeEscalation",
        "process.run_as_non_root" => "securityContext.runAsNonRoot",
        "process.readonly_rootfs" => "securityContext.readOnlyRootFilesystem",
        "namespaces" if f.detail.contains("network") => "hostNetwork",
        "namespaces" if f.detail.contains(" pid ") => "hostPID",
        "namespaces" if f.detail.contains(" ipc ") => "hostIPC",
        "sysctls" => "securityContext.sysctls",
        "mounts" => "spec.volumes[*].hostPath",
        "mounts.require_masked_paths" => "securityContext.procMount",
        _ => return None,
    })
}

/// Baseline's SELinux check: a label's type must be one of the container
/// types (the user and role an engine always writes are not looked at).
fn selinux(spec: &Spec) -> Option<Failure> {
    let label = spec
        .process()
        .as_ref()
        .and_then(|p| p.selinux_label().clone())
        .filter(|l| !l.is_empty())?;
    let typ = label.split(':').nth(2).unwrap_or("");
    if SELINUX_TYPES.contains(&typ) {
        return None;
    }
    Some(Failure {
        kubernetes_field: Some("securityContext.seLinuxOptions"),
        config_fields: vec!["process.selinuxLabel".into()],
        rule: "selinux".into(),
        detail: format!("type {typ:?} is not one of {}", SELINUX_TYPES.join(", ")),
    })
}
