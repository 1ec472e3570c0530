//! `process.scheduler`: the scheduling policy and its parameters, set with
//! sched_setattr(2) on init itself, so the program keeps them across
//! execve. Ref: sched_setattr(2), sched(7), runtime-spec config.md
//! "Scheduler"; runc libcontainer/configs (ToSchedAttr) and its validator.

use nix::errno::Errno;
use oci_spec::runtime::{LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `struct sched_attr` of linux/sched/types.h, with the utilization hints
/// (SCHED_ATTR_SIZE_VER1, the size runc passes): libc's lacks them.
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// The scheduler init sets, decided by the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedPlan {
    /// SCHED_* value (SCHED_ISO, 4, is passed on as runc does; mainline
    /// kernels refuse it with EINVAL).
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    /// `linux.resources.cpu.cpus` is set: an EPERM then most likely means
    /// the cpuset excludes CPUs the policy needs (SCHED_DEADLINE wants
    /// the whole root domain), and is reported in runc's words.
    pub cpus_restricted: bool,
}

fn policy_name(p: LinuxSchedulerPolicy) -> &'static str {
    use LinuxSchedulerPolicy as P;
    match p {
        P::SchedOther => "SCHED_OTHER",
        P::SchedFifo => "SCHED_FIFO",
        P::SchedRr => "SCHED_RR",
        P::SchedBatch => "SCHED_BATCH",
        P::SchedIso => "SCHED_ISO",
        P::SchedIdle => "SCHED_IDLE",
        P::SchedDeadline => "SCHED_DEADLINE",
    }
}

/// The kernel's number for a policy (linux/sched.h).
fn policy_value(p: LinuxSchedulerPolicy) -> u32 {
    use LinuxSchedulerPolicy as P;
    match p {
        P::SchedOther => 0,
        P::SchedFifo => 1,
        P::SchedRr => 2,
        P::SchedBatch => 3,
        P::SchedIso => 4,
        P::SchedIdle => 5,
        P::SchedDeadline => 6,
    }
}

fn flag_value(f: LinuxSchedulerFlag) -> u64 {
    use LinuxSchedulerFlag as F;
    let v = match f {
        F::SchedResetOnFork => libc::SCHED_FLAG_RESET_ON_FORK,
        F::SchedFlagReclaim => libc::SCHED_FLAG_RECLAIM,
        F::SchedFlagDLOverrun => libc::SCHED_FLAG_DL_OVERRUN,
        F::SchedFlagKeepPolicy => libc::SCHED_FLAG_KEEP_POLICY,
        F::SchedFlagKeepParams => libc::SCHED_FLAG_KEEP_PARAMS,
        F::SchedFlagUtilClampMin => libc::SCHED_FLAG_UTIL_CLAMP_MIN,
        F::SchedFlagUtilClampMax => libc::SCHED_FLAG_UTIL_CLAMP_MAX,
    };
    v as u64
}

/// runc's checks, in its words: nice within -20..19 for the policies that
/// use it, a static priority only for the real-time ones, runtime,
/// deadline and period only for SCHED_DEADLINE. (Unknown policy and flag
/// names never get here: oci-spec refuses them when the JSON is read.)
pub fn validate(s: &Scheduler) -> Result<()> {
    use LinuxSchedulerPolicy as P;
    let policy = *s.policy();
    let nice = s.nice().unwrap_or(0);
    if matches!(policy, P::SchedOther | P::SchedBatch) && !(-20..=19).contains(&nice) {
        return Err(Error::invalid(format!(
            "invalid scheduler.nice: {nice} when scheduler.policy is {}",
            policy_name(policy)
        )));
    }
    if s.priority().unwrap_or(0) != 0 && !matches!(policy, P::SchedFifo | P::SchedRr) {
        return Err(Error::invalid(
            "scheduler.priority can only be specified for SchedFIFO or SchedRR policy",
        ));
    }
    let dl = [s.runtime(), s.deadline(), s.period()];
    if policy != P::SchedDeadline && dl.iter().any(|v| v.unwrap_or(0) != 0) {
        return Err(Error::invalid(
            "scheduler runtime/deadline/period can only be specified for SchedDeadline policy",
        ));
    }
    Ok(())
}

/// The checked spec as sched_setattr takes it.
pub fn plan(s: &Scheduler, cpus_restricted: bool) -> Result<SchedPlan> {
    validate(s)?;
    let priority = s.priority().unwrap_or(0);
    Ok(SchedPlan {
        policy: policy_value(*s.policy()),
        flags: s
            .flags()
            .iter()
            .flatten()
            .fold(0, |acc, f| acc | flag_value(*f)),
        nice: s.nice().unwrap_or(0),
        // validate() allows a non-zero priority only for FIFO and RR; a
        // negative one is the kernel's to refuse (EINVAL), as with runc.
        priority: priority as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        cpus_restricted,
    })
}

/// sched_setattr(0, attr, 0) for the calling thread (init is single
/// threaded, so the process). Raising priority, a real-time policy or a
/// negative nice need CAP_SYS_NICE: called before capabilities drop.
pub fn apply(p: &SchedPlan) -> Result<()> {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: p.policy,
        flags: p.flags,
        nice: p.nice,
        priority: p.priority,
        runtime: p.runtime,
        deadline: p.deadline,
        period: p.period,
        util_min: 0,
        util_max: 0,
    };
    // SAFETY: attr is a live, initialized sched_attr whose size field
    // matches its layout; the kernel only reads it.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::EPERM if p.cpus_restricted => Err(Error::sys(
            "sched_setattr: process scheduler can't be used together with AllowedCPUs (linux.resources.cpu.cpus)",
            Errno::EPERM,
        )),
        e => Err(Error::sys(
            format!("sched_setattr policy {} (error setting scheduler)", p.policy),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(json: &str) -> Scheduler {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn attr_is_the_kernels_ver1_size() {
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
    }

    #[test]
    fn validate_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"policy":"SCHED_BATCH","priority":0,"nice":19}"#, None),
            (r#"{"policy":"SCHED_OTHER","nice":-20}"#, None),
            (r#"{"policy":"SCHED_FIFO","priority":50}"#, None),
            (r#"{"policy":"SCHED_RR","priority":1}"#, None),
            // nice is not checked for the policies that ignore it (runc).
            (r#"{"policy":"SCHED_DEADLINE","nice":19,"runtime":42000,"deadline":100000,"period":1000000}"#, None),
            (
                r#"{"policy":"SCHED_OTHER","nice":20}"#,
                Some("invalid scheduler.nice: 20 when scheduler.policy is SCHED_OTHER"),
            ),
            (
                r#"{"policy":"SCHED_BATCH","nice":-21}"#,
                Some("invalid scheduler.nice: -21 when scheduler.policy is SCHED_BATCH"),
            ),
            (
                r#"{"policy":"SCHED_BATCH","priority":3}"#,
                Some("scheduler.priority can only be specified for SchedFIFO or SchedRR policy"),
            ),
            (
                r#"{"policy":"SCHED_IDLE","period":10}"#,
                Some("scheduler runtime/deadline/period can only be specified for SchedDeadline policy"),
            ),
            (
                r#"{"policy":"SCHED_FIFO","priority":1,"runtime":1}"#,
                Some("runtime/deadline/period"),
            ),
        ];
        for (json, want) in cases {
            match (validate(&sched(json)), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.chain().contains(w), "{json}: {}", e.chain()),
                (r, w) => panic!("{json}: got {r:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn unknown_names_are_refused_by_the_parser() {
        for json in [
            r#"{"policy":"SCHED_NOPE"}"#,
            r#"{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_NOPE"]}"#,
            r#"{"nice":1}"#,
        ] {
            assert!(serde_json::from_str::<Scheduler>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn plan_values_are_the_kernels() {
        let p = plan(
            &sched(
                // oci-spec's spelling (bundle.rs reads the spec's).
                r#"{"policy":"SCHED_DEADLINE","flags":["SCHED_RESET_ON_FORK","SCHED_FLAG_RECLAIM"],
                    "nice":19,"priority":0,"runtime":42000,"deadline":100000,"period":1000000}"#,
            ),
            true,
        )
        .unwrap();
        assert_eq!(
            p,
            SchedPlan {
                policy: 6,
                flags: 0x3,
                nice: 19,
                priority: 0,
                runtime: 42000,
                deadline: 100000,
                period: 1000000,
                cpus_restricted: true,
            }
        );
        let p = plan(&sched(r#"{"policy":"SCHED_BATCH","nice":19}"#), false).unwrap();
        assert_eq!((p.policy, p.nice, p.flags), (3, 19, 0));
        assert!(plan(&sched(r#"{"policy":"SCHED_OTHER","nice":40}"#), false).is_err());
    }
}
