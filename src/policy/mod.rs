//! The node policy: a confinement floor that brig applies to every
//! `create`, `run` and `exec`, whatever config.json says.
//!
//! A policy is a TOML file (format version 1, documented in README "Node
//! policy"), one per name: `/etc/brig/policies/NAME.toml`, or a preset
//! shipped in `profiles/policy/` (compiled in). It is selected by the
//! global `--policy NAME|FILE`, or by the name brig is invoked as:
//! `brig-NAME` (a symlink a containerd runtime handler names as its
//! `BinaryName`), so each RuntimeClass can get its own policy with no
//! change to containerd.
//!
//! Each rule finds violations in the config ([`Finding`]); per rule the
//! action is `refuse` (create fails with one line naming the policy, the
//! rule and the config field) or `clamp` (the config is lowered to the
//! policy's ceiling and the change logged). In `audit` mode nothing is
//! refused or changed, and every finding is logged.
//!
//! The rules run inside `plan::create` / `plan::exec`, before anything
//! exists; `create` records the policy in state.json, and `exec` applies
//! the recorded one.

mod fs_rules;
pub mod pool;
mod rules;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(crate) use fs_rules::{exposes, resolved};
pub use fs_rules::{REQUIRED_MASKED, REQUIRED_READONLY, SAFE_SYSCTLS, SENSITIVE_HOST_PATHS};
pub(crate) use rules::{allows, in_user_namespace, is_host_path, namespaces_of, HOST_KINDS};
pub use rules::{
    apply_to_process, apply_to_spec, bounding_names, evaluate_spec, granted_userns, Host,
};

use crate::error::{Error, IoResultExt, Result};

/// Where named policies live.
pub const POLICY_DIR: &str = "/etc/brig/policies";

/// What the policy file format says about itself.
pub const FORMAT_VERSION: u32 = 1;

/// The presets, compiled in: (name, TOML).
pub const PRESETS: &[(&str, &str)] = &[
    (
        "privileged",
        include_str!("../../profiles/policy/privileged.toml"),
    ),
    (
        "baseline",
        include_str!("../../profiles/policy/baseline.toml"),
    ),
    (
        "restricted",
        include_str!("../../profiles/policy/restricted.toml"),
    ),
    (
        "sandbox",
        include_str!("../../profiles/policy/sandbox.toml"),
    ),
];

/// A node policy, as its file says it (plus its name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The file format's version: 1.
    pub version: u32,
    /// The policy's name: the file's stem or the preset's name.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub capabilities: Option<CapabilityRule>,
    #[serde(default)]
    pub seccomp: Option<SeccompRule>,
    #[serde(default)]
    pub apparmor: Option<AppArmorRule>,
    #[serde(default)]
    pub process: Option<ProcessRule>,
    #[serde(default)]
    pub namespaces: Option<NamespaceRule>,
    #[serde(default)]
    pub sysctls: Option<SysctlRule>,
    #[serde(default)]
    pub mounts: Option<MountRule>,
    #[serde(default)]
    pub devices: Option<DeviceRule>,
    #[serde(default)]
    pub landlock: Option<LandlockRule>,
    #[serde(default)]
    pub user_namespace: Option<UserNamespaceRule>,
}

/// Every container in a user namespace of its own, none mapping the host's
/// root or the node's pool. A container that brings none: `refuse`, or
/// `clamp` gives it one mapped to a range of the node's pool
/// ([`pool`]): one range per pod, shared by its containers (they join the
/// pod's user namespace), with the root filesystem and the bind mounts
/// idmapped so the image's files keep their owners inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserNamespaceRule {
    pub action: Action,
    /// The pool: `count` ranges of `size` host ids from host id `first`.
    #[serde(default = "pool_first")]
    pub first: u32,
    #[serde(default = "pool_count")]
    pub count: u32,
    #[serde(default = "pool_size")]
    pub size: u32,
}

impl UserNamespaceRule {
    /// The host ids the pool leases.
    pub fn region(&self) -> pool::Range {
        pool::Range {
            start: self.first,
            size: self.count.saturating_mul(self.size),
        }
    }
}

/// 3 * 2^30: above `brig spec --hardened`'s 2^31 and the ranges kubelet
/// and podman hand out, below the last 64 Ki ids.
fn pool_first() -> u32 {
    0xC000_0000
}

fn pool_count() -> u32 {
    16_383
}

/// 65536: every id a container image may use (Kubernetes' size too).
fn pool_size() -> u32 {
    65_536
}

/// A Landlock ruleset for a container that brings none (the
/// `run.brig.landlock` annotation): the same fields as the annotation.
/// One that brings its own keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockRule {
    pub default: crate::linux::landlock::LandlockPolicy,
}

/// `enforce` (refuse and clamp as the rules say) or `audit` (only log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

/// What a rule does with a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The container is not created: one line names the policy, the rule
    /// and the config field.
    Refuse,
    /// The config is lowered to the policy's ceiling; the change is logged.
    Clamp,
}

/// No capability above `allowed`, in any of the five sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRule {
    pub action: Action,
    /// The ceiling, as `CAP_NAME`s.
    #[serde(default)]
    pub allowed: Vec<String>,
    /// A container with every capability (Kubernetes' `privileged`) is
    /// refused even when the rule clamps (default: true).
    #[serde(default = "yes")]
    pub refuse_privileged: bool,
}

/// A seccomp filter always, and none that allows the listed syscalls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompRule {
    /// A config without a filter: `default` gets brig's default profile
    /// (for its capabilities and this machine), `refuse` is refused,
    /// `allow` runs unconfined.
    #[serde(default)]
    pub unconfined: Unconfined,
    /// For a filter that allows any of `deny_syscalls`: `clamp` makes them
    /// fail with EPERM.
    #[serde(default = "refuse")]
    pub action: Action,
    #[serde(default)]
    pub deny_syscalls: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unconfined {
    #[default]
    Default,
    Refuse,
    Allow,
}

/// An AppArmor profile always, where the kernel has AppArmor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppArmorRule {
    /// Given to a process without a profile (where AppArmor is enabled).
    #[serde(default)]
    pub default_profile: Option<String>,
    /// `unconfined` asked for explicitly is refused (default: true).
    #[serde(default = "yes")]
    pub refuse_unconfined: bool,
}

/// The process's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessRule {
    /// `process.noNewPrivileges` must be true (clamp: set it).
    #[serde(default)]
    pub no_new_privileges: Option<Action>,
    /// uid 0 outside a user namespace is refused (only `refuse`).
    #[serde(default)]
    pub run_as_non_root: Option<Action>,
    /// `root.readonly` must be true (clamp: set it).
    #[serde(default)]
    pub readonly_rootfs: Option<Action>,
}

/// The host's namespaces (network, pid, ipc, uts, mount, cgroup): none,
/// but those listed in `allow_host`. A namespace joined by a path that is
/// the host's own counts as the host's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceRule {
    /// `clamp` gives the container a new namespace of that kind.
    pub action: Action,
    /// Spec names: "network", "pid", "ipc", "uts", "mount", "cgroup".
    #[serde(default)]
    pub allow_host: Vec<String>,
}

/// Only Kubernetes' safe sysctls, and those in `allow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlRule {
    /// `clamp` drops the others.
    pub action: Action,
    #[serde(default)]
    pub allow: Vec<String>,
}

/// Host paths a bind mount may not expose, and the masked paths a
/// container must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountRule {
    /// `clamp` drops such a mount.
    pub action: Action,
    /// The host paths no container may see ([`fs_rules::SENSITIVE_HOST_PATHS`]:
    /// the host's root, /etc, /proc, /sys, /dev, the runtimes' sockets, ...).
    #[serde(default)]
    pub deny_sensitive_host_paths: bool,
    /// More: a bind source that is one of these, inside one, or a
    /// directory holding one (it would expose it) is a violation; `/`
    /// matches only itself.
    #[serde(default)]
    pub deny_host_paths: Vec<String>,
    /// `linux.maskedPaths` and `linux.readonlyPaths` must hold the default
    /// lists (Kubernetes' `procMount: Unmasked` empties them); `clamp`
    /// adds what is missing.
    #[serde(default)]
    pub require_masked_paths: Option<Action>,
}

/// Only the default devices: no `linux.devices`, no device cgroup rule
/// that allows anything (brig adds the default allow-list itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRule {
    /// `clamp` drops the extra devices and allow rules.
    pub action: Action,
}

fn yes() -> bool {
    true
}

fn refuse() -> Action {
    Action::Refuse
}

/// One violation of one rule, and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule: "capabilities", "seccomp", "process.no_new_privileges", ...
    pub rule: String,
    /// The config field: "process.capabilities.bounding", "linux.seccomp", ...
    pub field: String,
    /// What is wrong, or what was changed.
    pub detail: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Enforce mode, refuse: the container is not created.
    Refused,
    /// Enforce mode, clamp: the config was changed.
    Clamped,
    /// Audit mode: only logged.
    Audited,
}

impl Finding {
    /// One line: `rule capabilities: process.capabilities.bounding: ...`.
    pub fn line(&self) -> String {
        format!("rule {}: {}: {}", self.rule, self.field, self.detail)
    }
}

/// What state.json keeps: the policy as it was applied at create (later
/// edits of its file change nothing for this container's exec) and what
/// it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub policy: Policy,
    #[serde(default)]
    pub findings: Vec<Finding>,
}

impl Policy {
    /// Parse a policy file's text; `name` is used when the file has none.
    pub fn parse(text: &str, name: &str, origin: &str) -> Result<Policy> {
        let mut p: Policy = toml::from_str(text).map_err(|e| {
            Error::invalid(format!("policy {origin}: {}", one_line(&e.to_string())))
        })?;
        if p.version != FORMAT_VERSION {
            return Err(Error::invalid(format!(
                "policy {origin}: format version {} (brig reads version {FORMAT_VERSION})",
                p.version
            )));
        }
        if p.name.is_empty() {
            p.name = name.to_string();
        }
        rules::check(&p).map_err(|e| e.context(format!("policy {origin}")))?;
        Ok(p)
    }

    /// The policy `which` names: a path (it has a `/` or ends in `.toml`),
    /// a file in [`POLICY_DIR`], or a preset. A file in the directory
    /// wins over a preset of the same name: the operator's own.
    pub fn select(which: &str) -> Result<Policy> {
        Self::select_in(Path::new(POLICY_DIR), which)
    }

    pub fn select_in(dir: &Path, which: &str) -> Result<Policy> {
        if which.contains('/') || which.ends_with(".toml") {
            let path = PathBuf::from(which);
            return Self::load(&path);
        }
        if which.is_empty() || which.starts_with('.') {
            return Err(Error::invalid(format!(
                "policy name {which:?} is not valid"
            )));
        }
        let path = dir.join(format!("{which}.toml"));
        if path.exists() {
            return Self::load(&path);
        }
        match PRESETS.iter().find(|(n, _)| *n == which) {
            Some((name, text)) => Self::parse(text, name, &format!("preset {name}")),
            None => Err(Error::invalid(format!(
                "policy {which}: no {} and no preset of that name (presets: {})",
                path.display(),
                PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn load(path: &Path) -> Result<Policy> {
        let text =
            std::fs::read_to_string(path).or_io(|| format!("read policy {}", path.display()))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::parse(&text, &stem, &path.display().to_string())
    }
}

/// Whether `p` holds containers to seccomp (in enforce mode: a profile for
/// containers without one, or syscalls that must fail), which `seccomp
/// learn` and `seccomp test`, letting every syscall through, would get
/// around.
pub fn enforces_seccomp(p: &Policy) -> bool {
    p.mode == Mode::Enforce
        && p.seccomp
            .as_ref()
            .is_some_and(|s| s.unconfined != Unconfined::Allow || !s.deny_syscalls.is_empty())
}

/// The policy named by how brig was invoked: `brig-NAME` (a symlink to
/// brig that a containerd runtime handler uses as its BinaryName) selects
/// NAME; plain `brig` (or `runc`) none.
pub fn from_program_name(argv0: &str) -> Option<String> {
    let base = Path::new(argv0).file_name()?.to_str()?;
    base.strip_prefix("brig-")
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
