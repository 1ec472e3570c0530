//! cgroup v2 device rules: v2 has no devices.allow/deny files, so the rules
//! become an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE`, attached to
//! the container's cgroup (`BPF_CGROUP_DEVICE`, `BPF_F_ALLOW_MULTI`). The
//! kernel runs it on every open and mknod of a device node; it returns 1 to
//! allow and 0 to deny.
//!
//! The emitter is pure: rules in, instructions out, tested by listing.
//! Semantics follow the v1 files as brig writes them (deny everything, then
//! each rule in order): the last rule that matches a request decides, and
//! a request no rule matches is denied. An allow rule matches when it
//! grants every access bit requested; a deny rule when it names any of them.
//! Ref: linux include/uapi/linux/bpf.h (struct bpf_cgroup_dev_ctx),
//! Documentation/admin-guide/cgroup-v2.rst "Device controller",
//! kernel/bpf/cgroup.c (__cgroup_bpf_check_dev_permission).

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Context, Error, IoResultExt, Result};
use crate::linux::bpf::{self, Insn};

/// `bpf_cgroup_dev_ctx.access_type`: type in the low 16 bits, access above.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Opcodes. Ref: include/uapi/linux/bpf_common.h, bpf.h.
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// Registers: r1 is the context; the prologue loads these.
const R0: u8 = 0;
const R1: u8 = 1;
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;
const R_TMP: u8 = 6;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

fn access_bits(rule: &LinuxDeviceCgroup) -> Result<i32> {
    let a = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    // Other letters are ignored, as runc does; none of the three is an error.
    let bits = a.chars().fold(0, |acc, c| match c {
        'r' => acc | ACC_READ,
        'w' => acc | ACC_WRITE,
        'm' => acc | ACC_MKNOD,
        _ => acc,
    });
    if bits == 0 {
        return Err(Error::invalid(format!(
            "device rule access {a:?} holds none of r, w and m"
        )));
    }
    Ok(bits)
}

fn number(n: Option<i64>, what: &str) -> Result<Option<i32>> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) => i32::try_from(n)
            .map(Some)
            .map_err(|_| Error::invalid(format!("device rule {what} {n} is out of range"))),
    }
}

/// The instructions of one rule: checks that jump past the rule on a
/// mismatch, then `r0 = allow; exit`.
fn rule_block(rule: &LinuxDeviceCgroup) -> Result<Vec<Insn>> {
    let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => None,
        LinuxDeviceType::B => Some(DEV_BLOCK),
        LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
        LinuxDeviceType::P => {
            // A fifo is not a device: the kernel never asks about one.
            return Ok(Vec::new());
        }
    };
    let access = access_bits(rule)?;
    let major = number(rule.major(), "major")?;
    let minor = number(rule.minor(), "minor")?;
    // Each check is (instructions, index of its jump); offsets are filled
    // in once the block's length is known.
    let mut checks: Vec<Vec<Insn>> = Vec::new();
    if let Some(t) = typ {
        checks.push(vec![insn(JMP_JNE_K, R_TYPE, 0, 0, t)]);
    }
    if access != ACC_ALL {
        if rule.allow() {
            // Requested bits outside the rule's: not this rule.
            checks.push(vec![
                insn(ALU32_MOV_X, R_TMP, R_ACCESS, 0, 0),
                insn(ALU32_AND_K, R_TMP, 0, 0, !access & ACC_ALL),
                insn(JMP_JNE_K, R_TMP, 0, 0, 0),
            ]);
        } else {
            // None of the requested bits denied: not this rule.
            checks.push(vec![
                insn(ALU32_MOV_X, R_TMP, R_ACCESS, 0, 0),
                insn(ALU32_AND_K, R_TMP, 0, 0, access),
                insn(JMP_JEQ_K, R_TMP, 0, 0, 0),
            ]);
        }
    }
    if let Some(m) = major {
        checks.push(vec![insn(JMP_JNE_K, R_MAJOR, 0, 0, m)]);
    }
    if let Some(m) = minor {
        checks.push(vec![insn(JMP_JNE_K, R_MINOR, 0, 0, m)]);
    }
    let mut out: Vec<Insn> = checks.into_iter().flatten().collect();
    out.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(rule.allow())));
    out.push(insn(JMP_EXIT, 0, 0, 0, 0));
    // A jump skips to the end of the block: offset = instructions after it.
    let len = out.len();
    for (i, ins) in out.iter_mut().enumerate() {
        if ins.code == JMP_JNE_K || ins.code == JMP_JEQ_K {
            ins.off = i16::try_from(len - i - 1).expect("a rule block is a few instructions");
        }
    }
    Ok(out)
}

/// The whole program for `rules`, in the order the config lists them.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>> {
    let mut out = vec![
        insn(LDX_MEM_W, R_TYPE, R1, 0, 0),
        insn(ALU32_AND_K, R_TYPE, 0, 0, 0xffff),
        insn(LDX_MEM_W, R_ACCESS, R1, 0, 0),
        insn(ALU32_RSH_K, R_ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, R_MAJOR, R1, 4, 0),
        insn(LDX_MEM_W, R_MINOR, R1, 8, 0),
    ];
    // The last matching rule decides: emit them last first. A rule that
    // matches everything ends the program: the verifier rejects
    // unreachable instructions after it.
    for r in rules.iter().rev() {
        let block = rule_block(r)?;
        let unconditional = block.len() == 2;
        out.extend(block);
        if unconditional {
            return Ok(out);
        }
    }
    out.push(insn(ALU64_MOV_K, R0, 0, 0, 0));
    out.push(insn(JMP_EXIT, 0, 0, 0, 0));
    Ok(out)
}

/// Build the program for `rules`, attach it to the cgroup directory `dir`
/// and detach the device programs attached before (an `update`), so the
/// new rules are the only ones in force.
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let insns = program(rules)?;
    let cgroup = std::fs::File::open(dir).or_io(|| format!("open cgroup {}", dir.display()))?;
    let old = bpf::query_device_progs(&cgroup)
        .context(|| format!("list device programs of {}", dir.display()))?;
    let prog = bpf::load_device_prog(&insns)?;
    bpf::attach_device_prog(&cgroup, &prog)
        .context(|| format!("attach device program to {}", dir.display()))?;
    for id in old {
        bpf::detach_device_prog_id(&cgroup, id)
            .context(|| format!("detach old device program {id} from {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(j: &str) -> LinuxDeviceCgroup {
        serde_json::from_str(j).unwrap()
    }

    fn listing(insns: &[Insn]) -> Vec<String> {
        insns
            .iter()
            .map(|i| format!("{:02x} {:02x} {} {}", i.code, i.regs, i.off, i.imm))
            .collect()
    }

    const PROLOGUE: [&str; 6] = [
        "61 12 0 0",
        "54 02 0 65535",
        "61 13 0 0",
        "74 03 0 16",
        "61 14 4 0",
        "61 15 8 0",
    ];

    #[test]
    fn deny_all_is_prologue_and_default() {
        let p = program(&[rule(r#"{"allow":false,"access":"rwm"}"#)]).unwrap();
        let mut want: Vec<&str> = PROLOGUE.to_vec();
        // The wildcard rule matches everything: deny, and nothing after.
        want.extend(["b7 00 0 0", "95 00 0 0"]);
        assert_eq!(listing(&p), want);
    }

    #[test]
    fn allow_rule_with_partial_access() {
        let p = program(&[rule(
            r#"{"allow":true,"type":"c","major":10,"minor":200,"access":"r"}"#,
        )])
        .unwrap();
        let mut want: Vec<&str> = PROLOGUE.to_vec();
        want.extend([
            "55 02 7 2",  // type != char: skip the 7 after
            "bc 36 0 0",  // r6 = access
            "54 06 0 5",  // r6 &= m|w (bits the rule lacks)
            "55 06 4 0",  // any of them asked: skip
            "55 04 3 10", // major != 10
            "55 05 2 200",
            "b7 00 0 1", // allow
            "95 00 0 0",
            "b7 00 0 0", // default deny
            "95 00 0 0",
        ]);
        assert_eq!(listing(&p), want);
    }

    #[test]
    fn deny_rule_and_wildcards_in_reverse_order() {
        let p = program(&[
            rule(r#"{"allow":true,"type":"b","access":"m"}"#),
            rule(r#"{"allow":false,"type":"c","major":1,"access":"w"}"#),
        ])
        .unwrap();
        let l = listing(&p);
        // The later deny rule comes first: r6 = access & w; none: skip.
        assert_eq!(
            l[6..12],
            [
                "55 02 6 2",
                "bc 36 0 0",
                "54 06 0 4",
                "15 06 3 0",
                "55 04 2 1",
                "b7 00 0 0"
            ]
        );
        assert_eq!(l[12], "95 00 0 0");
        // Then the block rule: any major and minor, mknod only.
        assert_eq!(
            l[13..19],
            [
                "55 02 5 1",
                "bc 36 0 0",
                "54 06 0 6",
                "55 06 2 0",
                "b7 00 0 1",
                "95 00 0 0"
            ]
        );
        assert_eq!(l.len(), 21);
    }

    #[test]
    fn bad_rules_are_errors() {
        assert!(program(&[rule(r#"{"allow":true,"access":"x"}"#)]).is_err());
        assert!(program(&[rule(r#"{"allow":true,"type":"c","major":4294967296}"#)]).is_err());
    }

    /// Runs the program over a request, as the kernel would (a tiny
    /// interpreter of the opcodes the emitter uses).
    fn eval(p: &[Insn], typ: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [((access as u32) << 16) | typ as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP_JEQ_K if r[dst] == i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JEQ_K | JMP_JNE_K => {}
                JMP_EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn decisions() {
        let rules = [
            rule(r#"{"allow":false,"access":"rwm"}"#),
            rule(r#"{"allow":true,"type":"c","access":"m"}"#),
            rule(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}"#),
            rule(r#"{"allow":true,"type":"c","major":10,"minor":200,"access":"r"}"#),
            rule(r#"{"allow":true,"type":"c","major":136,"access":"rw"}"#),
            rule(r#"{"allow":false,"type":"c","major":136,"minor":5,"access":"w"}"#),
        ];
        let p = program(&rules).unwrap();
        let (r, w, m) = (ACC_READ, ACC_WRITE, ACC_MKNOD);
        for (typ, acc, ma, mi, want) in [
            (DEV_CHAR, r | w, 1, 3, 1),
            (DEV_BLOCK, r, 1, 3, 0),
            (DEV_CHAR, r, 1, 5, 0),
            (DEV_CHAR, m, 1, 5, 1),
            (DEV_BLOCK, m, 8, 0, 0),
            (DEV_CHAR, r, 10, 200, 1),
            (DEV_CHAR, r | w, 10, 200, 0),
            (DEV_CHAR, w, 136, 1, 1),
            (DEV_CHAR, w, 136, 5, 0),
            (DEV_CHAR, r, 136, 5, 1),
        ] {
            assert_eq!(eval(&p, typ, acc, ma, mi), want, "{typ} {acc} {ma}:{mi}");
        }
    }
}
