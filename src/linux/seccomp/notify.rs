//! The supervisor's side of a seccomp notify fd: receive it from init over
//! the agent socket, wait for notifications, answer them with CONTINUE.
//! Ref: seccomp_unotify(2).

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use super::verdict::SeccompData;
use crate::error::{Error, Result, SysResultExt};

/// One notified syscall: what the supervisor records of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    pub id: u64,
    /// The calling thread, in brig's pid namespace.
    pub pid: u32,
    /// `seccomp_data.arch` (AUDIT_ARCH_*).
    pub arch: u32,
    pub nr: i32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl Notification {
    /// What the filter saw.
    pub fn data(&self) -> SeccompData {
        SeccompData {
            nr: self.nr,
            arch: self.arch,
            instruction_pointer: self.instruction_pointer,
            args: self.args,
        }
    }
}

/// What woke the supervisor.
#[derive(Debug)]
pub enum Event {
    Syscall(Notification),
    /// No process uses the filter any more.
    Gone,
    /// `stop` became readable (or was hung up).
    Stopped,
}

/// Read init's one message on `conn` and take the notify fd it carries
/// (the container process state JSON is not needed here).
pub fn receive_fd(conn: &UnixStream) -> Result<OwnedFd> {
    let mut buf = vec![0u8; 1 << 16];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = loop {
        match recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            r => break r.or_sys(|| "receive the seccomp notify fd from init".into())?,
        }
    };
    let mut fds: Vec<OwnedFd> = Vec::new();
    for c in msg
        .cmsgs()
        .or_sys(|| "read the control message from init".into())?
    {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: SCM_RIGHTS installed these descriptors in this
            // process just now; each is owned exactly once here.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    if msg.bytes == 0 && fds.is_empty() {
        return Err(Error::invalid(
            "init closed the supervisor's socket without sending the seccomp notify fd",
        ));
    }
    fds.into_iter()
        .next()
        .ok_or_else(|| Error::invalid("init's message to the supervisor carried no descriptor"))
}

/// Wait for the next notification on `notify`, or for `stop`.
pub fn next(notify: BorrowedFd<'_>, stop: BorrowedFd<'_>) -> Result<Event> {
    loop {
        let mut fds = [
            PollFd::new(notify, PollFlags::POLLIN),
            PollFd::new(stop, PollFlags::POLLIN),
        ];
        crate::linux::poll::wait(&mut fds, PollTimeout::NONE, "the seccomp notify fd")?;
        let n = fds[0].revents().unwrap_or(PollFlags::empty());
        let s = fds[1].revents().unwrap_or(PollFlags::empty());
        if n.contains(PollFlags::POLLIN) {
            match receive(notify)? {
                Some(n) => return Ok(Event::Syscall(n)),
                // The caller died (or was killed) before we read it.
                None => continue,
            }
        }
        // Once the last user of the filter is gone, RECV would block for
        // ever: the kernel says so with POLLHUP.
        if n.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            return Ok(Event::Gone);
        }
        if !s.is_empty() {
            return Ok(Event::Stopped);
        }
    }
}

/// SECCOMP_IOCTL_NOTIF_RECV; None when the notification went away (ENOENT).
fn receive(notify: BorrowedFd<'_>) -> Result<Option<Notification>> {
    // The kernel wants the buffer zeroed.
    // SAFETY: seccomp_notif is plain data; all-zero is a valid value.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: n is a live, writable seccomp_notif of the size the
        // ioctl number encodes.
        let r = unsafe {
            libc::ioctl(
                notify.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut n as *mut libc::seccomp_notif,
            )
        };
        if r == 0 {
            return Ok(Some(Notification {
                id: n.id,
                pid: n.pid,
                arch: n.data.arch,
                nr: n.data.nr,
                instruction_pointer: n.data.instruction_pointer,
                args: n.data.args,
            }));
        }
        match Errno::last() {
            Errno::EINTR => continue,
            Errno::ENOENT => return Ok(None),
            e => return Err(Error::sys("receive a seccomp notification", e)),
        }
    }
}

/// Let the notified syscall run as if no filter were there
/// (SECCOMP_USER_NOTIF_FLAG_CONTINUE). A caller that died meanwhile is no
/// error (ENOENT).
pub fn continue_syscall(notify: impl AsFd, id: u64) -> Result<()> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: 0,
        flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
    };
    loop {
        // SAFETY: resp is a live seccomp_notif_resp of the size the ioctl
        // number encodes; the kernel only reads it.
        let r = unsafe {
            libc::ioctl(
                notify.as_fd().as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &mut resp as *mut libc::seccomp_notif_resp,
            )
        };
        if r == 0 {
            return Ok(());
        }
        match Errno::last() {
            Errno::EINTR => continue,
            Errno::ENOENT => return Ok(()),
            e => return Err(Error::sys(format!("answer seccomp notification {id}"), e)),
        }
    }
}

/// The command name and the innermost pid (as the container sees it) of
/// thread `pid`, read while it waits for our answer.
pub fn describe(pid: u32) -> (String, Option<u32>) {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_else(|_| "?".into());
    let inner = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|l| l.split_whitespace().last()?.parse().ok())
        });
    (comm, inner)
}
