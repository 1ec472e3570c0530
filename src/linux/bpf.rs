//! The few bpf(2) commands brig needs for cgroup v2 device programs: load a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, attach it to a cgroup, list and
//! detach the ones attached before. No crate does this without pulling in
//! a whole eBPF toolchain, so the attribute structs are spelled out here.
//! Ref: bpf(2); linux include/uapi/linux/bpf.h (union bpf_attr).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::error::{Error, Result};

/// One eBPF instruction (`struct bpf_insn`): `regs` holds dst in the low
/// nibble and src in the high one.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs may be attached; every one must allow.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to
/// `expected_attach_type`; the kernel takes a shorter attr than its own.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `BPF_PROG_QUERY`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    /// Explicit, so the bytes the kernel reads are all initialised.
    pad: u32,
}

/// `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(cmd, attr, sizeof attr).
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::result::Result<libc::c_long, Errno> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] prefix of
    // `union bpf_attr` for `cmd`, and its exact size is passed; every
    // pointer inside it (set by the callers) outlives this call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    Errno::result(r)
}

/// Load a cgroup device program. On a verifier rejection the load is
/// retried with the log on, so the error says why.
pub fn load_device_prog(insns: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"brig_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| Error::invalid("device program is too long"))?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: BPF_PROG_LOAD returns a new fd that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(Errno::EACCES) | Err(Errno::EINVAL) => {
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let e = bpf(BPF_PROG_LOAD, &mut attr).err().unwrap_or(Errno::EINVAL);
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            let text = String::from_utf8_lossy(&log[..end]);
            let last = text.lines().rev().find(|l| !l.trim().is_empty());
            Err(Error::sys(
                format!(
                    "load cgroup device program ({} instructions; verifier: {})",
                    insns.len(),
                    last.unwrap_or("no log")
                ),
                e,
            ))
        }
        Err(e) => Err(Error::sys("load cgroup device program", e)),
    }
}

/// Attach `prog` to the cgroup `cgroup` (a directory fd) as a device
/// program, alongside any already there.
pub fn attach_device_prog(cgroup: &impl AsFd, prog: &OwnedFd) -> Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_fd().as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map(drop)
        .map_err(|e| Error::sys("bpf BPF_PROG_ATTACH", e))
}

/// Ids of the device programs attached to `cgroup` itself.
pub fn query_device_progs(cgroup: &impl AsFd) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_fd().as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).map_err(|e| Error::sys("bpf BPF_PROG_QUERY", e))?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// Detach the device program `id` from `cgroup`.
pub fn detach_device_prog_id(cgroup: &impl AsFd, id: u32) -> Result<()> {
    let mut get = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut get)
        .map_err(|e| Error::sys(format!("bpf BPF_PROG_GET_FD_BY_ID {id}"), e))?;
    // SAFETY: BPF_PROG_GET_FD_BY_ID returns a new fd that nothing else owns.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut attr = AttachAttr {
        target_fd: cgroup.as_fd().as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr)
        .map(drop)
        .map_err(|e| Error::sys("bpf BPF_PROG_DETACH", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(std::mem::size_of::<AttachAttr>(), 20);
        assert_eq!(std::mem::offset_of!(QueryAttr, prog_ids), 16);
        assert_eq!(std::mem::offset_of!(QueryAttr, prog_cnt), 24);
    }
}
