//! clone3(2): the one place brig forks a container process.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::error::{Error, Result};

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_PARENT: u64 = 0x8000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

pub enum Forked {
    Parent { pid: Pid, pidfd: OwnedFd },
    Child,
}

/// Fork into the namespaces in `flags` (and the cgroup `cgroup_fd` when
/// given), returning a pidfd for the child. No new stack: like fork(2).
///
/// The caller must be single-threaded: the child continues in a copy of
/// this address space.
pub fn clone3(flags: CloneFlags, cgroup_fd: Option<RawFd>) -> Result<Forked> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags.bits() as u64 | CLONE_PIDFD,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    match raw_clone3(&mut args) {
        -1 => Err(Error::sys(
            format!("clone3 with namespaces {:?}", flags),
            Errno::last(),
        )),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: Pid::from_raw(pid as i32),
            // SAFETY: the kernel wrote a fresh pidfd into `pidfd` (CLONE_PIDFD).
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// Fork a sibling: a child whose parent is our own parent (CLONE_PARENT),
/// so brig's PARENT, not this short-lived CHILD, waits for it and gets its
/// exit status. Returns its pid (in our pid namespace) to the caller and
/// None in the new process. For the container's init when the CHILD has
/// unshared a pid namespace: only its children are in it.
///
/// The caller must be single-threaded (see [`clone3`]).
pub fn fork_sibling() -> Result<Option<Pid>> {
    let mut args = CloneArgs {
        flags: CLONE_PARENT,
        // The kernel takes the exit signal of our own process (clone3
        // refuses any other with CLONE_PARENT).
        exit_signal: 0,
        ..Default::default()
    };
    match raw_clone3(&mut args) {
        -1 => Err(Error::sys("clone3 CLONE_PARENT", Errno::last())),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// clone3(2) itself: the child's 0, our child's pid, or -1.
fn raw_clone3(args: &mut CloneArgs) -> libc::c_long {
    // SAFETY: args is a live, fully initialised clone_args of the size we
    // pass; no CLONE_VM, so the child gets its own copy of memory and stack,
    // and brig is single-threaded here (both callers' contract), so no lock
    // is held by another thread.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
}
