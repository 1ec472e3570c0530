//! Processes by pid: pidfds, /proc/PID/stat, whether one is there, and
//! waiting for brig's own children.
//! Ref: pidfd_open(2), proc_pid_stat(5), kill(2), waitpid(2).

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// A pidfd for `pid`: readable once the process exits, and immune to pid
/// reuse.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::sys(format!("pidfd_open {pid}"), Errno::last()));
    }
    // SAFETY: fd is fresh and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Wait for our child `pid` to exit and reap it (errors ignored).
pub fn reap(pid: Pid) {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// SIGKILL our child `pid` and reap it (errors ignored: it may be gone).
pub fn kill_and_reap(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// Is there a process `pid` that brig may signal (kill(pid, 0))? A
/// zombie still is; [`stat`] tells it apart.
pub fn exists(pid: Pid) -> bool {
    nix::sys::signal::kill(pid, None).is_ok()
}

/// Wait for our child `pid`: its exit status, or 128+N when killed by
/// signal N (what a shell reports). Error: `wait for WHAT PID`.
pub fn wait_exit_code(pid: Pid, what: &str) -> Result<i32> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(format!("wait for {what} {pid}"), e)),
        }
    }
}

/// What brig reads of /proc/PID/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The state letter (R, S, Z, ...).
    pub state: char,
    /// Field 22: the start time in clock ticks since boot, which tells a
    /// recycled pid from the process recorded.
    pub start_time: u64,
}

/// /proc/PID/stat of `pid`, or None when it is gone.
pub fn stat(pid: Pid) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Pure: the comm field may hold spaces and parens, so fields are counted
/// after the last ')'.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = text.get(text.rfind(')')? + 2..)?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_time })
}

/// Every process in the pid namespace of `init` (host pids, sorted): for a
/// container without a cgroup to list them (a rootless one without
/// delegation), found by their /proc/PID/ns/pid link. Processes the caller
/// may not inspect are not listed (they cannot be the user's container's).
pub fn in_pid_ns_of(init: i32) -> Result<Vec<i32>> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let target = ns(&init.to_string()).ok_or_else(|| {
        Error::invalid(format!("cannot read the pid namespace of process {init}"))
    })?;
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map_err(|e| Error::io("read /proc", e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|name| ns(name).as_ref() == Some(&target))
        .filter_map(|name| name.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_comm() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 50";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                start_time: 98765
            })
        );
        assert_eq!(parse_stat("7 (x) Z 1"), None, "too short");
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_stat() {
        let me = stat(nix::unistd::getpid()).expect("our own stat");
        assert!(matches!(me.state, 'R' | 'S'), "{me:?}");
        assert!(me.start_time > 0);
    }
}
