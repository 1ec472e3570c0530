//! `LinuxSeccomp` -> libseccomp filter -> classic BPF, plus what the ENOSYS
//! stub needs: the largest syscall number the profile names, per arch.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext,
    ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

use super::bpf::{self, ArchLimit, Filter};
use super::{action_name, arch_name, flag_name, uses_notify, validate};
use crate::error::{Error, IoResultExt, Result};

/// `AUDIT_ARCH_*` as the kernel puts it in `seccomp_data.arch`
/// (Ref: include/uapi/linux/audit.h). libseccomp's `SCMP_ARCH_*` tokens are
/// the same numbers, except x32, which the kernel reports as x86_64 with
/// `__X32_SYSCALL_BIT` set in the syscall number.
pub(super) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// libseccomp's arch for an OCI arch; `SCMP_ARCH_NATIVE` resolves to the host's.
pub(super) fn scmp_arch(a: Arch) -> Result<ScmpArch> {
    Ok(match a {
        Arch::ScmpArchNative => ScmpArch::native(),
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
        #[allow(unreachable_patterns)]
        other => {
            return Err(Error::invalid(format!(
                "seccomp architecture {} is not supported",
                arch_name(other)
            )))
        }
    })
}

/// The `seccomp_data.arch` value of a libseccomp arch.
pub(super) fn audit_arch(a: ScmpArch) -> Option<u32> {
    Some(match a {
        ScmpArch::X86 => 0x4000_0003,
        ScmpArch::X8664 | ScmpArch::X32 => AUDIT_ARCH_X86_64,
        ScmpArch::Arm => 0x4000_0028,
        ScmpArch::Aarch64 => 0xc000_00b7,
        ScmpArch::Mips => 0x0000_0008,
        ScmpArch::Mips64 => 0x8000_0008,
        ScmpArch::Mips64N32 => 0xa000_0008,
        ScmpArch::Mipsel => 0x4000_0008,
        ScmpArch::Mipsel64 => 0xc000_0008,
        ScmpArch::Mipsel64N32 => 0xe000_0008,
        ScmpArch::Ppc => 0x0000_0014,
        ScmpArch::Ppc64 => 0x8000_0015,
        ScmpArch::Ppc64Le => 0xc000_0015,
        ScmpArch::S390 => 0x0000_0016,
        ScmpArch::S390X => 0x8000_0016,
        ScmpArch::Parisc => 0x0000_000f,
        ScmpArch::Parisc64 => 0x8000_000f,
        ScmpArch::Riscv64 => 0xc000_00f3,
        ScmpArch::Loongarch64 => 0xc000_0102,
        ScmpArch::M68k => 0x0000_0004,
        ScmpArch::Sh => 0x4000_002a,
        ScmpArch::Sheb => 0x0000_002a,
        _ => return None,
    })
}

/// OCI action -> libseccomp action. ERRNO and TRACE default to EPERM as in
/// runc; `SCMP_ACT_KILL` is the historical name of KILL_THREAD.
pub(super) fn scmp_action(a: LinuxSeccompAction, ret: Option<u32>) -> ScmpAction {
    let ret = ret.unwrap_or(libc::EPERM as u32);
    match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(ret as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret as u16),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    }
}

/// For MASKED_EQ the OCI `value` is the mask and `valueTwo` the datum
/// (libseccomp's datum_a/datum_b, as runc passes them).
pub(super) fn condition(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let c = ScmpCompareOp::MaskedEqual(arg.value());
            return ScmpArgCompare::new(arg.index() as u32, c, arg.value_two().unwrap_or(0));
        }
    };
    ScmpArgCompare::new(arg.index() as u32, op, arg.value())
}

/// The rules one OCI syscall entry becomes: conditions on different
/// arguments are ANDed in one rule; when one argument is tested more than
/// once, libseccomp cannot AND them, so (as runc) each condition becomes its
/// own rule, i.e. they are ORed.
pub(super) fn rule_sets(args: &[LinuxSeccompArg]) -> Vec<Vec<ScmpArgCompare>> {
    let mut seen = [0usize; super::MAX_ARGS];
    for a in args {
        seen[a.index().min(super::MAX_ARGS - 1)] += 1;
    }
    if seen.iter().any(|&n| n > 1) {
        args.iter().map(|a| vec![condition(a)]).collect()
    } else {
        vec![args.iter().map(condition).collect()]
    }
}

fn scmp_err(op: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> Error {
    let op = op.into();
    move |source| Error::Seccomp { op, source }
}

/// Whether newer syscalls should get ENOSYS: only when the profile is an
/// allow-list (its default refuses); with an ALLOW/LOG default every
/// unnamed syscall is already allowed, and a TRACE default is the tracer's call.
fn wants_enosys(default: LinuxSeccompAction) -> bool {
    matches!(
        default,
        LinuxSeccompAction::ScmpActErrno
            | LinuxSeccompAction::ScmpActKill
            | LinuxSeccompAction::ScmpActKillThread
            | LinuxSeccompAction::ScmpActKillProcess
            | LinuxSeccompAction::ScmpActTrap
    )
}

/// Compile `linux.seccomp` into a loadable [`Filter`] (validates first).
pub fn build(s: &LinuxSeccomp) -> Result<Filter> {
    validate(s)?;
    let default = scmp_action(s.default_action(), s.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(scmp_err(format!(
        "create seccomp filter with default {}",
        action_name(s.default_action())
    )))?;

    let native = ScmpArch::native();
    let mut arches = vec![native];
    for a in s.architectures().iter().flatten() {
        let sa = scmp_arch(*a)?;
        if !arches.contains(&sa) {
            ctx.add_arch(sa)
                .map_err(scmp_err(format!("add seccomp arch {}", arch_name(*a))))?;
            arches.push(sa);
        }
    }

    let calls = s.syscalls().as_deref().unwrap_or_default();
    // A binary tree of syscalls beats a linear list for long profiles; below
    // this libseccomp 2.5 gains nothing (and mishandles empty filters).
    if calls.len() > 32 {
        ctx.set_filter_attr(ScmpFilterAttr::CtlOptimize, 2)
            .map_err(scmp_err("set seccomp filter optimisation"))?;
    }

    for call in calls {
        let action = scmp_action(call.action(), call.errno_ret());
        if action == default {
            // libseccomp refuses rules that repeat the default action.
            tracing::debug!(names = ?call.names(), "seccomp rule equals default action, skipped");
            continue;
        }
        let sets = rule_sets(call.args().as_deref().unwrap_or_default());
        for name in call.names() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                tracing::debug!(syscall = %name, "seccomp: unknown syscall, skipped");
                continue;
            };
            for conds in &sets {
                let r = if conds.is_empty() {
                    ctx.add_rule(action, nr)
                } else {
                    ctx.add_rule_conditional(action, nr, conds)
                };
                if let Err(e) = r {
                    // A negative number is a libseccomp pseudo-syscall (no
                    // number on the native arch, e.g. socketcall on x86_64)
                    // that none of the filter's arches has either.
                    if i32::from(nr) < 0 {
                        tracing::debug!(syscall = %name, error = %e, "seccomp: syscall absent on every arch, skipped");
                        continue;
                    }
                    return Err(Error::Seccomp {
                        op: format!("add seccomp rule {} for {name}", action_name(call.action())),
                        source: e,
                    });
                }
            }
        }
    }

    let program = export(&ctx)?;
    let limits = if wants_enosys(s.default_action()) {
        arch_limits(&arches, calls.iter().flat_map(|c| c.names().iter()))
    } else {
        Vec::new()
    };
    let notify = uses_notify(s);
    let mut flags = 0;
    // No `flags` at all: SPEC_ALLOW, as runc 1.2+ sets it (since Linux 5.16
    // a seccomp filter no longer forces the speculative store bypass
    // mitigation anyway); `flags: []` means none.
    if s.flags().is_none() {
        flags |= bpf::FLAG_SPEC_ALLOW;
    }
    for f in s.flags().iter().flatten() {
        flags |= match f {
            // Init is single-threaded when it loads the filter: there is no
            // other thread to synchronise (runc ignores it too).
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => bpf::FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => bpf::FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if notify => {
                bpf::FLAG_WAIT_KILLABLE_RECV
            }
            other => {
                // The kernel rejects WAIT_KILLABLE_RECV without a listener;
                // it has no meaning then (libseccomp 2.6 drops it likewise).
                tracing::debug!(
                    flag = flag_name(*other),
                    "seccomp flag without notify, ignored"
                );
                0
            }
        };
    }
    Filter::new(&limits, program, flags, notify)
}

/// libseccomp's BPF for the filter, read back through a memfd
/// (seccomp_export_bpf_mem needs libseccomp 2.6).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    // SAFETY: the name is a NUL-terminated literal; the result is checked
    // and owned exactly once below.
    let raw = unsafe { libc::memfd_create(c"brig-seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error())
            .or_io(|| "memfd_create for seccomp bpf".into());
    }
    // SAFETY: raw is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    ctx.export_bpf(&fd)
        .map_err(scmp_err("export seccomp bpf"))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .or_io(|| "read back seccomp bpf".into())?;
    bpf::decode(&bytes)
}

/// The largest syscall number the profile names on each arch, grouped by
/// `seccomp_data.arch` (x86_64 and x32 share one; x32 numbers carry
/// `__X32_SYSCALL_BIT`, so they are kept apart).
pub(super) fn arch_limits<'a>(
    arches: &[ScmpArch],
    names: impl Iterator<Item = &'a String> + Clone,
) -> Vec<ArchLimit> {
    let mut by_audit: BTreeMap<u32, ArchLimit> = BTreeMap::new();
    for &arch in arches {
        let Some(audit) = audit_arch(arch) else {
            continue;
        };
        let max = names
            .clone()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(i32::from)
            .filter(|&nr| nr >= 0)
            .max()
            .map(|nr| nr as u32);
        let Some(max) = max else {
            continue;
        };
        let entry = by_audit.entry(audit).or_insert(ArchLimit {
            audit,
            max: None,
            x32_max: None,
        });
        if arch == ScmpArch::X32 {
            entry.x32_max = Some(max);
        } else {
            entry.max = Some(max);
        }
    }
    by_audit.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_limits_keep_x32_numbers_with_their_bit() {
        let names: Vec<String> = ["read", "write", "getpid", "no_such_syscall"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let l = arch_limits(
            &[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32],
            names.iter(),
        );
        let x86_64 = l.iter().find(|l| l.audit == AUDIT_ARCH_X86_64).unwrap();
        // getpid is 39 on x86_64 and x32 (with __X32_SYSCALL_BIT), 20 on i386.
        assert_eq!(x86_64.max, Some(39));
        assert_eq!(x86_64.x32_max, Some(X32_SYSCALL_BIT | 39));
        let i386 = l.iter().find(|l| l.audit == 0x4000_0003).unwrap();
        assert_eq!((i386.max, i386.x32_max), (Some(20), None));
    }
}
