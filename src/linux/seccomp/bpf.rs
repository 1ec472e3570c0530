//! The loadable filter: an ENOSYS stub in front of libseccomp's BPF, loaded
//! with seccomp(2) directly so brig controls the flags (NEW_LISTENER,
//! WAIT_KILLABLE_RECV, which libseccomp 2.5 lacks) and the program.
//!
//! Why the stub: an allow-list profile written before a syscall existed
//! answers it with its default (EPERM), and libc then reports a hard error
//! instead of falling back to the older call (clone3 -> clone, statx ->
//! fstatat, faccessat2 -> faccessat). Syscalls numbered above the largest
//! one the profile names get ENOSYS, which every libc reads as "not
//! implemented here". Ref: runc libcontainer/seccomp/patchbpf (behaviour).
//!
//! Stub layout (A is the BPF accumulator, `END` the first libseccomp insn):
//! ```text
//!     ld  [arch]
//!   per seccomp_data.arch value:
//!     jeq #AUDIT_ARCH, 0, <next arch>
//!     ld  [nr]
//!     (x86_64 only) jset #__X32_SYSCALL_BIT, <x32 part>, 0
//!     jgt #max, 0, 1 ; ret ERRNO|ENOSYS ; ja END    (or just `ja END`)
//!     (x86_64 only) x32 part: the same with the x32 maximum
//!   END:
//! ```
//! x32 shares AUDIT_ARCH_X86_64 with x86_64 and is told apart by bit 30 of
//! the syscall number; when x32 is not in the profile, numbers with the bit
//! set fall through to libseccomp, which treats them as a foreign arch
//! (its bad-arch action), exactly as without the stub. x86 (i386) has its
//! own AUDIT_ARCH_I386 and its own maximum.

use std::os::fd::{FromRawFd, OwnedFd};

use libc::sock_filter;
use nix::errno::Errno;

use super::compile::X32_SYSCALL_BIT;
use crate::error::{Error, Result};

pub(super) const FLAG_TSYNC: u64 = 1;
pub(super) const FLAG_LOG: u64 = 1 << 1;
pub(super) const FLAG_SPEC_ALLOW: u64 = 1 << 2;
const FLAG_NEW_LISTENER: u64 = 1 << 3;
const FLAG_TSYNC_ESRCH: u64 = 1 << 4;
pub(super) const FLAG_WAIT_KILLABLE_RECV: u64 = 1 << 5;
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
/// Ref: include/uapi/linux/bpf_common.h, BPF_MAXINSNS.
const MAX_INSNS: usize = 4096;

// Classic BPF opcodes (Ref: include/uapi/linux/filter.h, bpf_common.h).
pub(super) const LD_W_ABS: u16 = 0x20;
pub(super) const JMP_JA: u16 = 0x05;
pub(super) const JMP_JEQ_K: u16 = 0x15;
pub(super) const JMP_JGT_K: u16 = 0x25;
pub(super) const JMP_JSET_K: u16 = 0x45;
pub(super) const RET_K: u16 = 0x06;
/// Offsets in `struct seccomp_data`.
pub(super) const OFF_NR: u32 = 0;
pub(super) const OFF_ARCH: u32 = 4;
pub(super) const RET_ERRNO_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// One `seccomp_data.arch` value and the largest syscall number the profile
/// names there (`x32_max` only for AUDIT_ARCH_X86_64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ArchLimit {
    pub audit: u32,
    pub max: Option<u32>,
    pub x32_max: Option<u32>,
}

/// A compiled, not-yet-loaded filter. It is compiled by the parent, where
/// the plan is made, and crosses the init channel as data (serde: each
/// instruction as `[code, jt, jf, k]`).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(into = "WireFilter", try_from = "WireFilter")]
pub struct Filter {
    program: Vec<sock_filter>,
    flags: u64,
    notify: bool,
    /// brig's own supervisor (`seccomp learn`/`test`): the cookie the
    /// handshake's sendmsg carries in its unused arguments, which the
    /// filter lets through unnotified (see supervise.rs).
    handshake: Option<[u64; 3]>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("insns", &self.program.len())
            .field("flags", &self.flags)
            .field("notify", &self.notify)
            .field("handshake", &self.handshake.is_some())
            .finish()
    }
}

/// [`Filter`] as it crosses the init channel.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireFilter {
    program: Vec<(u16, u8, u8, u32)>,
    flags: u64,
    notify: bool,
    #[serde(default)]
    handshake: Option<[u64; 3]>,
}

impl From<Filter> for WireFilter {
    fn from(f: Filter) -> Self {
        WireFilter {
            program: f
                .program
                .iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect(),
            flags: f.flags,
            notify: f.notify,
            handshake: f.handshake,
        }
    }
}

impl TryFrom<WireFilter> for Filter {
    type Error = String;
    fn try_from(w: WireFilter) -> std::result::Result<Self, String> {
        if w.program.is_empty() || w.program.len() > MAX_INSNS {
            return Err(format!(
                "seccomp filter of {} instructions (1 to {MAX_INSNS})",
                w.program.len()
            ));
        }
        Ok(Filter {
            program: w
                .program
                .into_iter()
                .map(|(code, jt, jf, k)| insn(code, jt, jf, k))
                .collect(),
            flags: w.flags,
            notify: w.notify,
            handshake: w.handshake,
        })
    }
}

pub(super) const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The ENOSYS stub for `limits` (empty when no arch has a limit).
pub(super) fn enosys_stub(limits: &[ArchLimit]) -> Vec<sock_filter> {
    let mut out = Vec::new();
    // Indices of `ja END` instructions, patched once the length is known.
    let mut to_end = Vec::new();
    // `jgt #max ; ret ENOSYS ; ja END`, or `ja END` with no maximum.
    let part = |max: Option<u32>, out: &mut Vec<sock_filter>, to_end: &mut Vec<usize>| {
        if let Some(max) = max {
            out.push(insn(JMP_JGT_K, 0, 1, max));
            out.push(insn(RET_K, 0, 0, RET_ERRNO_ENOSYS));
        }
        to_end.push(out.len());
        out.push(insn(JMP_JA, 0, 0, 0));
    };
    let part_len = |max: Option<u32>| if max.is_some() { 3 } else { 1 };
    for l in limits
        .iter()
        .filter(|l| l.max.is_some() || l.x32_max.is_some())
    {
        if out.is_empty() {
            out.push(insn(LD_W_ABS, 0, 0, OFF_ARCH));
        }
        let x86_64 = l.audit == super::compile::AUDIT_ARCH_X86_64;
        let body = 1 + part_len(l.max) + if x86_64 { 1 + part_len(l.x32_max) } else { 0 };
        out.push(insn(JMP_JEQ_K, 0, body as u8, l.audit));
        out.push(insn(LD_W_ABS, 0, 0, OFF_NR));
        if x86_64 {
            out.push(insn(JMP_JSET_K, part_len(l.max) as u8, 0, X32_SYSCALL_BIT));
            part(l.max, &mut out, &mut to_end);
            part(l.x32_max, &mut out, &mut to_end);
        } else {
            part(l.max, &mut out, &mut to_end);
        }
    }
    let end = out.len();
    for i in to_end {
        out[i].k = (end - i - 1) as u32;
    }
    out
}

/// Raw `struct sock_filter` array (native endian, 8 bytes each) -> insns.
pub(super) fn decode(bytes: &[u8]) -> Result<Vec<sock_filter>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(8) {
        return Err(Error::invalid(format!(
            "libseccomp exported {} bytes of bpf, not a whole number of instructions",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            insn(
                u16::from_ne_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect())
}

impl Filter {
    pub(super) fn new(
        limits: &[ArchLimit],
        body: Vec<sock_filter>,
        flags: u64,
        notify: bool,
    ) -> Result<Self> {
        let mut program = enosys_stub(limits);
        program.extend(body);
        if program.len() > MAX_INSNS {
            return Err(Error::invalid(format!(
                "seccomp filter has {} bpf instructions, the kernel takes at most {MAX_INSNS}",
                program.len()
            )));
        }
        Ok(Filter {
            program,
            flags,
            notify,
            handshake: None,
        })
    }

    /// A notify filter for brig's own supervisor: `program` as it is
    /// (already checked by the caller), passing the handshake's sendmsg.
    pub(super) fn supervised(
        program: Vec<sock_filter>,
        flags: u64,
        cookie: [u64; 3],
    ) -> Result<Self> {
        if program.is_empty() || program.len() > MAX_INSNS {
            return Err(Error::invalid(format!(
                "seccomp filter has {} bpf instructions, the kernel takes 1 to {MAX_INSNS}",
                program.len()
            )));
        }
        Ok(Filter {
            program,
            flags,
            notify: true,
            handshake: Some(cookie),
        })
    }

    pub(super) fn program(&self) -> &[sock_filter] {
        &self.program
    }

    /// The profile's own flags, without NEW_LISTENER.
    pub(super) fn profile_flags(&self) -> u64 {
        self.flags
    }

    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// The cookie of brig's own supervisor handshake, when this filter is
    /// one of `seccomp learn`/`test`.
    pub fn handshake(&self) -> Option<[u64; 3]> {
        self.handshake
    }

    /// The seccomp(2) filter flags it is loaded with: the profile's, and
    /// NEW_LISTENER for a notify filter.
    pub fn flags(&self) -> u64 {
        let mut flags = self.flags;
        if self.notify {
            flags |= FLAG_NEW_LISTENER;
            // TSYNC and NEW_LISTENER both want the return value; with
            // TSYNC_ESRCH a sync failure is ESRCH instead of a thread id.
            if flags & FLAG_TSYNC != 0 {
                flags |= FLAG_TSYNC_ESRCH;
            }
        }
        flags
    }

    /// Install into the calling thread (needs no_new_privs or
    /// CAP_SYS_ADMIN). Returns the notify fd when any rule uses
    /// SCMP_ACT_NOTIFY. Allocation-free on success.
    pub fn load(self) -> Result<Option<OwnedFd>> {
        let flags = self.flags();
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: prog points to self.program, alive and unmodified for the
        // whole call; the kernel copies the program before returning.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                flags as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            let errno = Errno::last();
            let hint = if errno == Errno::EINVAL && flags & FLAG_WAIT_KILLABLE_RECV != 0 {
                " (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs Linux 5.19)"
            } else {
                ""
            };
            return Err(Error::sys(
                format!("load seccomp filter (flags {flags:#x}){hint}"),
                errno,
            ));
        }
        if self.notify {
            // SAFETY: with NEW_LISTENER the return value is a fresh fd
            // (close-on-exec) owned by nobody else.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }));
        }
        if ret > 0 {
            // TSYNC without ESRCH: the id of a thread that could not sync.
            return Err(Error::invalid(format!(
                "load seccomp filter: thread {ret} could not be synchronised (TSYNC)"
            )));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::seccomp::compile::AUDIT_ARCH_X86_64;

    const I386: u32 = 0x4000_0003;
    const AARCH64: u32 = 0xc000_00b7;

    /// A classic-BPF interpreter for the opcodes the stub uses: the return
    /// value, or None when control reaches the end (libseccomp's part).
    fn run(prog: &[sock_filter], arch: u32, nr: u32) -> Option<u32> {
        let (mut pc, mut a) = (0usize, 0u32);
        while pc < prog.len() {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS if i.k == OFF_ARCH => a = arch,
                LD_W_ABS if i.k == OFF_NR => a = nr,
                JMP_JA => pc += i.k as usize,
                JMP_JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                JMP_JGT_K => pc += usize::from(if a > i.k { i.jt } else { i.jf }),
                JMP_JSET_K => pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf }),
                RET_K => return Some(i.k),
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
        assert_eq!(pc, prog.len(), "jumped past the end");
        None
    }

    #[test]
    fn stub_answers_enosys_above_each_arch_max() {
        let limits = [
            ArchLimit {
                audit: I386,
                max: Some(400),
                x32_max: None,
            },
            ArchLimit {
                audit: AUDIT_ARCH_X86_64,
                max: Some(300),
                x32_max: Some(X32_SYSCALL_BIT | 500),
            },
            ArchLimit {
                audit: AARCH64,
                max: Some(200),
                x32_max: None,
            },
        ];
        let p = enosys_stub(&limits);
        let e = Some(RET_ERRNO_ENOSYS);
        let x32 = X32_SYSCALL_BIT;
        // (arch, nr, expected)
        let table: &[(u32, u32, Option<u32>)] = &[
            (AUDIT_ARCH_X86_64, 0, None),
            (AUDIT_ARCH_X86_64, 300, None),
            (AUDIT_ARCH_X86_64, 301, e),
            (AUDIT_ARCH_X86_64, 0x3fff_ffff, e),
            (AUDIT_ARCH_X86_64, x32, None),
            (AUDIT_ARCH_X86_64, x32 | 500, None),
            (AUDIT_ARCH_X86_64, x32 | 501, e),
            (AUDIT_ARCH_X86_64, u32::MAX, e),
            (I386, 400, None),
            (I386, 401, e),
            (AARCH64, 200, None),
            (AARCH64, 201, e),
            (0x1234, 10_000, None), // unknown arch: libseccomp decides
        ];
        for &(arch, nr, want) in table {
            assert_eq!(run(&p, arch, nr), want, "arch {arch:#x} nr {nr:#x}");
        }
    }

    #[test]
    fn stub_without_x32_leaves_x32_numbers_to_libseccomp() {
        let limits = [ArchLimit {
            audit: AUDIT_ARCH_X86_64,
            max: Some(300),
            x32_max: None,
        }];
        let p = enosys_stub(&limits);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 301), Some(RET_ERRNO_ENOSYS));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 5000), None);
        // Only x32 known: native numbers fall through.
        let limits = [ArchLimit {
            audit: AUDIT_ARCH_X86_64,
            max: None,
            x32_max: Some(X32_SYSCALL_BIT | 9),
        }];
        let p = enosys_stub(&limits);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 5000), None);
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 10),
            Some(RET_ERRNO_ENOSYS)
        );
    }

    #[test]
    fn no_limits_no_stub() {
        assert!(enosys_stub(&[]).is_empty());
        assert!(enosys_stub(&[ArchLimit {
            audit: I386,
            max: None,
            x32_max: None
        }])
        .is_empty());
    }

    #[test]
    fn decode_rejects_partial_instructions() {
        assert!(decode(&[0; 7]).is_err());
        assert!(decode(&[]).is_err());
        let one = decode(&[0x06, 0, 1, 2, 0, 0, 0xff, 0x7f]).unwrap();
        assert_eq!(
            (one[0].code, one[0].jt, one[0].jf, one[0].k),
            (6, 1, 2, 0x7fff_0000)
        );
    }
}
