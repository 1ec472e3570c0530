//! The posture report behind `brig check`: how a container's config (and,
//! for a running container, its process as the kernel sees it) confines
//! it, concern by concern, and whether it meets each Pod Security
//! Standard level.
//!
//! Pure: the config, the host facts and the kernel's view come in
//! ([`Context`]); nothing here reads the system but what the node
//! policy's own rules read (host paths through symlinks, namespace
//! paths). The levels are the node policy presets evaluated on the config
//! ([`levels`]), so the rules exist once.

mod concerns;
mod exposure;
mod kernel;
mod levels;
pub mod render;
#[cfg(test)]
mod tests;

use oci_spec::runtime::Spec;
use serde::Serialize;

pub use concerns::{ENGINE_DEFAULT_CAPS, RUNC_SPEC_CAPS};
pub use kernel::KernelCheck;
pub use levels::{Failure, Level, LevelVerdict};

use crate::linux::confinement::{IdRange, KernelView};
use crate::policy::{Finding, Outcome, Policy};

/// How much a concern weakens the container's isolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    /// As confined as the concern allows.
    Ok,
    /// Worth knowing; common and mostly harmless.
    Note,
    /// Weaker than the usual defaults.
    Warn,
    /// A known way out, or the host exposed.
    Risk,
}

impl Rating {
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Ok => "ok",
            Rating::Note => "note",
            Rating::Warn => "warn",
            Rating::Risk => "risk",
        }
    }
}

/// One concern of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Concern {
    /// `user_namespace`, `capabilities`, `seccomp`, ...
    pub name: &'static str,
    pub rating: Rating,
    /// One line for the terminal.
    pub summary: String,
    /// The same, structured, for scripts.
    pub facts: serde_json::Value,
}

/// What the analysis needs besides the config.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Every capability this kernel knows (`CAP_...`): a bounding set
    /// holding all of them is privileged.
    pub kernel_caps: Vec<String>,
    /// AppArmor / SELinux are enabled on this host (what a missing label
    /// means).
    pub apparmor_enabled: bool,
    pub selinux_enabled: bool,
    /// The other running containers under the same `--root` that have a
    /// user namespace of their own.
    pub neighbours: Vec<Neighbour>,
    /// The kernel's view of the container's process (a running container).
    pub kernel: Option<KernelView>,
}

/// Another container's host id ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub id: String,
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
}

/// What `brig check` looks at.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    /// The bundle directory or the container id, as given.
    pub target: String,
    /// `bundle` or `container`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
}

/// The verdict of a node policy on the config.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyVerdict {
    pub name: String,
    pub mode: crate::policy::Mode,
    /// `create` (what the container was created under, as recorded) or
    /// `--policy` (evaluated now).
    pub source: &'static str,
    pub refused: bool,
    pub findings: Vec<Finding>,
}

impl PolicyVerdict {
    pub fn new(policy: &Policy, source: &'static str, findings: Vec<Finding>) -> PolicyVerdict {
        PolicyVerdict {
            name: policy.name.clone(),
            mode: policy.mode,
            source,
            refused: findings.iter().any(|f| f.outcome == Outcome::Refused),
            findings,
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(flatten)]
    pub subject: Subject,
    pub concerns: Vec<Concern>,
    /// Pod Security Standard levels, loosest first.
    pub levels: Vec<LevelVerdict>,
    /// The kernel against the config (a running container only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelReport>,
    /// Why the kernel was not read (a container not running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyVerdict>,
}

/// The kernel's word on a running container's process.
#[derive(Debug, Clone, Serialize)]
pub struct KernelReport {
    pub pid: i32,
    /// True when every check agrees with the config.
    pub agrees: bool,
    /// True when the kernel gives more than the config somewhere.
    pub looser: bool,
    pub checks: Vec<KernelCheck>,
}

impl Report {
    /// Analyse `spec` (the container's config as it runs: after its node
    /// policy's changes) in `ctx`.
    pub fn analyze(subject: Subject, spec: &Spec, ctx: &Context) -> Report {
        let kernel = ctx.kernel.as_ref().map(|k| {
            let checks = kernel::compare(spec, k);
            KernelReport {
                pid: k.pid,
                agrees: checks.iter().all(|c| c.agrees),
                looser: checks.iter().any(|c| c.rating == Rating::Risk),
                checks,
            }
        });
        Report {
            subject,
            concerns: concerns::all(spec, ctx),
            levels: levels::verdicts(spec, &ctx.kernel_caps),
            kernel,
            kernel_note: None,
            policy: None,
        }
    }

    /// The verdict of `level`.
    pub fn level(&self, level: Level) -> Option<&LevelVerdict> {
        self.levels.iter().find(|l| l.level == level)
    }
}
