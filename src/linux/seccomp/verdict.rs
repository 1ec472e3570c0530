//! What a compiled profile would have answered a syscall, for `seccomp
//! test`'s report: the profile's own program (brig's ENOSYS stub and
//! libseccomp's BPF, as `run` loads it) run in user space on the
//! notification's `seccomp_data`. A classic BPF interpreter for the
//! instructions a seccomp filter may hold (Ref: Documentation/networking/
//! filter.rst; the kernel's seccomp_check_filter allows these).

use libc::sock_filter;

/// `struct seccomp_data` as the filter reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        b[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        b[8..16].copy_from_slice(&self.instruction_pointer.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        b
    }
}

/// A profile's program, kept to tell what it would have done.
#[derive(Debug, Clone)]
pub struct Verdicts {
    program: Vec<sock_filter>,
}

impl Verdicts {
    pub(super) fn new(program: &[sock_filter]) -> Self {
        Verdicts {
            program: program.to_vec(),
        }
    }

    /// How the profile would answer `data`, in words (`EPERM`, `ENOSYS`,
    /// `kill-process`, ...); `?` when the program cannot be run here.
    pub fn describe(&self, data: &SeccompData) -> String {
        run(&self.program, data).map_or_else(|| "?".into(), describe_ret)
    }
}

/// The words for a SECCOMP_RET_* value.
pub fn describe_ret(ret: u32) -> String {
    match ret & 0xffff_0000 {
        0x8000_0000 => "kill-process".into(),
        0 => "kill-thread".into(),
        0x0003_0000 => "trap".into(),
        0x0005_0000 => {
            let errno = (ret & 0xffff) as i32;
            let name = format!("{:?}", nix::errno::Errno::from_raw(errno));
            if name == "UnknownErrno" {
                format!("errno {errno}")
            } else {
                name
            }
        }
        0x7fc0_0000 => "notify".into(),
        0x7ff0_0000 => "trace".into(),
        0x7ffc_0000 => "log".into(),
        0x7fff_0000 => "allow".into(),
        _ => format!("{ret:#x}"),
    }
}

// Instruction classes and fields (Ref: include/uapi/linux/bpf_common.h).
const CLASS: u16 = 0x07;
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const MODE: u16 = 0xe0;
const ABS: u16 = 0x20;
const IMM: u16 = 0x00;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const SRC_X: u16 = 0x08;
const OP: u16 = 0xf0;

/// Runs `prog` on `data`: the value it returns, or None for an instruction
/// it cannot run (or a jump out of the program).
pub(super) fn run(prog: &[sock_filter], data: &SeccompData) -> Option<u32> {
    let bytes = data.bytes();
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    // A classic BPF program only jumps forward: it ends within its length.
    for _ in 0..=prog.len() {
        let i = *prog.get(pc)?;
        pc += 1;
        let k = i.k;
        let src = if i.code & SRC_X != 0 { x } else { k };
        match i.code & CLASS {
            LD => {
                a = match i.code & MODE {
                    ABS => {
                        let off = k as usize;
                        u32::from_ne_bytes(bytes.get(off..off + 4)?.try_into().ok()?)
                    }
                    IMM => k,
                    MEM => *mem.get(k as usize)?,
                    LEN => 64,
                    _ => return None,
                }
            }
            LDX => {
                x = match i.code & MODE {
                    IMM => k,
                    MEM => *mem.get(k as usize)?,
                    LEN => 64,
                    _ => return None,
                }
            }
            ST => *mem.get_mut(k as usize)? = a,
            STX => *mem.get_mut(k as usize)? = x,
            ALU => {
                a = match i.code & OP {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src)?,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src)?,
                    0xa0 => a ^ src,
                    _ => return None,
                }
            }
            JMP => {
                let taken = match i.code & OP {
                    0x00 => {
                        pc = pc.checked_add(k as usize)?;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => return None,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            RET => {
                return Some(match i.code & 0x18 {
                    0x00 => k,
                    0x10 => a,
                    _ => return None,
                })
            }
            MISC => match i.code & 0xf8 {
                0x00 => x = a,
                0x80 => a = x,
                _ => return None,
            },
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::seccomp::compile::AUDIT_ARCH_X86_64;

    fn data(nr: i32, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr,
            arch: AUDIT_ARCH_X86_64,
            instruction_pointer: 0,
            args,
        }
    }

    /// The real compiled programs (stub + libseccomp), run on real numbers.
    #[test]
    fn compiled_profiles_answer_as_written() {
        let p: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["read", "write", "getpid"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
                {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0xff, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
            ]
        }))
        .unwrap();
        let f = crate::linux::seccomp::build(&p).unwrap();
        let v = Verdicts::new(f.program());
        // x86_64: read 0, getpid 39, kill 62, mkdir 83, times 100, ptrace
        // 101, personality 135; mount (165) and 500 are above every one
        // named: brig's stub answers ENOSYS.
        let table: &[(i32, [u64; 6], &str)] = &[
            (0, [0; 6], "allow"),
            (39, [0; 6], "allow"),
            (62, [1, 15, 0, 0, 0, 0], "allow"),
            (62, [1, 9, 0, 0, 0, 0], "EPERM"),
            // The high half of a 64-bit argument counts.
            (62, [1, 15 | (1 << 32), 0, 0, 0, 0], "EPERM"),
            (83, [0; 6], "ENOMSG"),
            (101, [0; 6], "kill-process"),
            (135, [0x108, 0, 0, 0, 0, 0], "allow"),
            (135, [0x109, 0, 0, 0, 0, 0], "EPERM"),
            (100, [0; 6], "EPERM"),
            (165, [0; 6], "ENOSYS"),
            (500, [0; 6], "ENOSYS"),
        ];
        for &(nr, args, want) in table {
            assert_eq!(v.describe(&data(nr, args)), want, "nr {nr} {args:?}");
        }
        // i386 getpid (20) is allowed; an arch not in the profile is killed.
        let i386 = SeccompData {
            arch: 0x4000_0003,
            ..data(20, [0; 6])
        };
        assert_eq!(v.describe(&i386), "allow");
        let arm = SeccompData {
            arch: 0x4000_0028,
            ..data(20, [0; 6])
        };
        assert!(v.describe(&arm).starts_with("kill"), "{}", v.describe(&arm));
    }

    #[test]
    fn bad_programs_have_no_verdict() {
        let ins = |code, k| sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        };
        // Runs off the end; loads past seccomp_data; jumps past the end.
        assert_eq!(run(&[ins(LD | ABS, 0)], &data(0, [0; 6])), None);
        assert_eq!(
            run(&[ins(LD | ABS, 64), ins(RET, 0)], &data(0, [0; 6])),
            None
        );
        assert_eq!(run(&[ins(JMP, 5), ins(RET, 0)], &data(0, [0; 6])), None);
        assert_eq!(describe_ret(0x0005_0000 | 4000), "errno 4000");
    }
}
