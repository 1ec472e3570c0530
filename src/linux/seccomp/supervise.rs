//! Filters for brig's own seccomp supervisor (`seccomp learn`, `seccomp
//! test`): every syscall to record is SECCOMP_RET_USER_NOTIF, and the
//! supervisor (brig, on the host) answers each with
//! SECCOMP_USER_NOTIF_FLAG_CONTINUE, so the workload runs as it would
//! without a filter. Ref: seccomp_unotify(2).
//!
//! The notify fd reaches the supervisor as it reaches any seccomp agent:
//! init sends it over the agent socket (`listenerPath`, listener.rs) after
//! loading the filter. That sendmsg is itself filtered, and the
//! supervisor cannot answer it before it has the fd, so the filter lets
//! exactly one kind of call through unnotified: sendmsg on the native
//! arch whose three unused arguments (4 to 6, which the kernel ignores)
//! hold a random 192-bit cookie. A program cannot pass it by accident,
//! and every other sendmsg is recorded. Learn mode is not a confinement:
//! a program that wanted to hide a call could (CONTINUE is not a security
//! boundary, seccomp_unotify(2) says so), which does not matter for a
//! workload one is writing a profile for.
//!
//! `learn`: the cookie check, then `ret USER_NOTIF` for everything, every
//! arch, every number (libseccomp cannot make a NOTIFY default cover
//! numbers it does not know).
//! `test`: the profile compiled as `run` compiles it (its ENOSYS stub,
//! argument conditions, arches), with every return that is not ALLOW or
//! LOG rewritten to USER_NOTIF: whatever the profile would deny, and only
//! that, reaches the supervisor.

use std::io::Read;

use libc::sock_filter;
use libseccomp::ScmpArch;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};

use super::bpf::{insn, Filter, JMP_JEQ_K, LD_W_ABS, OFF_ARCH, OFF_NR, RET_K};
use super::compile::audit_arch;
use super::verdict::Verdicts;
use crate::error::{Error, IoResultExt, Result};

pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_LOG: u32 = 0x7ffc_0000;
/// SECCOMP_RET_ACTION_FULL.
const RET_ACTION: u32 = 0xffff_0000;
/// BPF_RET | BPF_A: libseccomp never emits it; a program that did could not
/// be rewritten by looking at constants.
const RET_A: u16 = 0x16;
/// `seccomp_data.args[i]` is at 16 + 8 i.
const OFF_ARGS: u32 = 16;

/// A fresh random cookie for one run.
pub fn new_cookie() -> Result<[u64; 3]> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .or_io(|| "read /dev/urandom for the supervisor's cookie".into())?;
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(w)
    };
    Ok([word(0), word(1), word(2)])
}

/// The low and high 32-bit halves' offsets of `seccomp_data.args[i]`.
fn arg_halves(i: u32) -> (u32, u32) {
    let off = OFF_ARGS + 8 * i;
    if cfg!(target_endian = "little") {
        (off, off + 4)
    } else {
        (off + 4, off)
    }
}

/// `sendmsg` with `cookie` in arguments 3 to 5 on the native arch: ALLOW;
/// anything else falls through to what follows.
pub(super) fn prologue(native_audit: u32, sendmsg_nr: u32, cookie: &[u64; 3]) -> Vec<sock_filter> {
    // (offset loaded, value it must equal); the first mismatch skips to the end.
    let mut checks = vec![(OFF_ARCH, native_audit), (OFF_NR, sendmsg_nr)];
    for (i, c) in cookie.iter().enumerate() {
        let (lo, hi) = arg_halves(3 + i as u32);
        checks.push((lo, *c as u32));
        checks.push((hi, (*c >> 32) as u32));
    }
    let len = checks.len() * 2 + 1;
    let mut out = Vec::with_capacity(len);
    for (off, want) in checks {
        out.push(insn(LD_W_ABS, 0, 0, off));
        // jf: past every remaining instruction of the prologue.
        let skip = len - out.len() - 1;
        out.push(insn(JMP_JEQ_K, 0, skip as u8, want));
    }
    out.push(insn(RET_K, 0, 0, RET_ALLOW));
    out
}

fn native_audit() -> Result<u32> {
    audit_arch(ScmpArch::native())
        .ok_or_else(|| Error::invalid("seccomp: this machine's architecture has no audit number"))
}

/// `seccomp learn`: every syscall but the handshake is notified.
pub fn learn_filter(cookie: [u64; 3]) -> Result<Filter> {
    let mut program = prologue(native_audit()?, libc::SYS_sendmsg as u32, &cookie);
    program.push(insn(RET_K, 0, 0, RET_USER_NOTIF));
    Filter::supervised(program, 0, cookie)
}

/// `seccomp test`: `profile` compiled as `run` would, with every denial
/// turned into a notification; and the program as compiled, to tell what
/// each notified call would have got.
pub fn report_filter(profile: &LinuxSeccomp, cookie: [u64; 3]) -> Result<(Filter, Verdicts)> {
    let compiled = super::build(&report_profile(profile))?;
    let mut program = prologue(native_audit()?, libc::SYS_sendmsg as u32, &cookie);
    program.extend(notify_denials(compiled.program())?);
    let filter = Filter::supervised(program, compiled.profile_flags(), cookie)?;
    Ok((filter, Verdicts::new(compiled.program())))
}

/// The profile `test` compiles: rules for a seccomp agent (SCMP_ACT_NOTIFY)
/// are allowed, since brig is the only listener a filter can have and the
/// agent, not the profile, would decide; the agent socket goes.
pub(super) fn report_profile(p: &LinuxSeccomp) -> LinuxSeccomp {
    let mut out = p.clone();
    let syscalls: Option<Vec<LinuxSyscall>> = p.syscalls().as_ref().map(|calls| {
        calls
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if c.action() == LinuxSeccompAction::ScmpActNotify {
                    c.set_action(LinuxSeccompAction::ScmpActAllow);
                }
                c
            })
            .collect()
    });
    out.set_syscalls(syscalls);
    out.set_listener_path(None);
    out.set_listener_metadata(None);
    out
}

/// Every `ret` of `program` that is not ALLOW or LOG becomes USER_NOTIF;
/// jumps, loads and conditions stay as they are.
pub(super) fn notify_denials(program: &[sock_filter]) -> Result<Vec<sock_filter>> {
    program
        .iter()
        .map(|i| match i.code {
            RET_K if matches!(i.k & RET_ACTION, RET_ALLOW | RET_LOG) => Ok(*i),
            RET_K => Ok(insn(RET_K, 0, 0, RET_USER_NOTIF)),
            RET_A => Err(Error::invalid(
                "seccomp test: the compiled filter returns a computed action",
            )),
            _ => Ok(*i),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the opcodes the prologue and libseccomp's simplest programs use
    /// against one `seccomp_data` (nr, arch, args).
    fn run(prog: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend(nr.to_ne_bytes());
        data.extend(arch.to_ne_bytes());
        data.extend(0u64.to_ne_bytes());
        for a in args {
            data.extend(a.to_ne_bytes());
        }
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => {
                    let k = i.k as usize;
                    a = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
                }
                JMP_JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    const COOKIE: [u64; 3] = [0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00, 42];
    const X86_64: u32 = 0xc000_003e;
    const SENDMSG: u32 = 46;

    #[test]
    fn only_the_cookie_passes_unnotified() {
        let mut p = prologue(X86_64, SENDMSG, &COOKIE);
        p.push(insn(RET_K, 0, 0, RET_USER_NOTIF));
        let with = |c: [u64; 3]| [5, 0, 0, c[0], c[1], c[2]];
        let table: &[(u32, u32, [u64; 6], u32)] = &[
            (SENDMSG, X86_64, with(COOKIE), RET_ALLOW),
            (SENDMSG, X86_64, [5, 0, 0, 0, 0, 0], RET_USER_NOTIF),
            (
                SENDMSG,
                X86_64,
                with([COOKIE[0], COOKIE[1], 43]),
                RET_USER_NOTIF,
            ),
            // The high half of an argument counts too.
            (
                SENDMSG,
                X86_64,
                with([COOKIE[0] ^ (1 << 40), COOKIE[1], COOKIE[2]]),
                RET_USER_NOTIF,
            ),
            (SENDMSG, 0x4000_0003, with(COOKIE), RET_USER_NOTIF),
            (SENDMSG + 1, X86_64, with(COOKIE), RET_USER_NOTIF),
            (0, X86_64, [0; 6], RET_USER_NOTIF),
        ];
        for (i, &(nr, arch, args, want)) in table.iter().enumerate() {
            assert_eq!(run(&p, nr, arch, args), want, "case {i}");
        }
    }

    #[test]
    fn denials_become_notifications() {
        let prog = [
            insn(LD_W_ABS, 0, 0, OFF_NR),
            insn(JMP_JEQ_K, 0, 1, 1),
            insn(RET_K, 0, 0, RET_ALLOW),
            insn(JMP_JEQ_K, 0, 1, 2),
            insn(RET_K, 0, 0, RET_LOG),
            insn(JMP_JEQ_K, 0, 1, 3),
            insn(RET_K, 0, 0, 0x0005_0001), // ERRNO(EPERM)
            insn(JMP_JEQ_K, 0, 1, 4),
            insn(RET_K, 0, 0, 0x8000_0000), // KILL_PROCESS
            insn(JMP_JEQ_K, 0, 1, 5),
            insn(RET_K, 0, 0, 0x0003_0000), // TRAP
            insn(JMP_JEQ_K, 0, 1, 6),
            insn(RET_K, 0, 0, 0x7ff0_0001), // TRACE
            insn(RET_K, 0, 0, 0),           // KILL_THREAD
        ];
        let out = notify_denials(&prog).unwrap();
        for (nr, want) in [
            (1, RET_ALLOW),
            (2, RET_LOG),
            (3, RET_USER_NOTIF),
            (4, RET_USER_NOTIF),
            (5, RET_USER_NOTIF),
            (6, RET_USER_NOTIF),
            (7, RET_USER_NOTIF),
        ] {
            assert_eq!(run(&out, nr, X86_64, [0; 6]), want, "nr {nr}");
        }
        assert!(notify_denials(&[insn(RET_A, 0, 0, 0)]).is_err());
    }

    #[test]
    fn agent_rules_are_allowed_in_the_report_profile() {
        let p: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "listenerPath": "/run/agent.sock",
            "listenerMetadata": "m",
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}
            ]
        }))
        .unwrap();
        let r = report_profile(&p);
        let actions: Vec<_> = r
            .syscalls()
            .iter()
            .flatten()
            .map(|c| (c.names()[0].as_str(), c.action(), c.args().is_some()))
            .collect();
        assert_eq!(
            actions,
            [
                ("mkdir", LinuxSeccompAction::ScmpActAllow, false),
                ("read", LinuxSeccompAction::ScmpActAllow, false),
                ("kill", LinuxSeccompAction::ScmpActErrno, true)
            ]
        );
        assert!(r.listener_path().is_none() && r.listener_metadata().is_none());
    }

    #[test]
    fn filters_build() {
        let f = learn_filter(COOKIE).unwrap();
        assert!(f.uses_notify() && f.handshake() == Some(COOKIE));
        let p = super::super::default_profile();
        let (f, _) = report_filter(&p, COOKIE).unwrap();
        assert!(f.uses_notify());
        assert!(f
            .program()
            .iter()
            .filter(|i| i.code == RET_K)
            .all(|i| matches!(i.k & RET_ACTION, RET_ALLOW | RET_LOG | RET_USER_NOTIF)));
    }
}
