//! `run` in the foreground with a terminal and no --console-socket: brig
//! receives the pty master itself and copies between it and its own stdio,
//! with the host terminal in raw mode and ONLCR off on the pty (init
//! clears it: output reaches brig's stdout with `\n`, not `\r\n`) and the
//! pty sized as the host terminal, as runc does.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

use crate::error::{Error, Result, SysResultExt};
use crate::linux::tty;

/// Receive the pty master sent by the container's init.
pub fn receive_master(sock: &UnixStream) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .or_sys(|| "receive the pty master".into())?;
    for c in msg.cmsgs().or_sys(|| "read control message".into())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::invalid(
        "console socket message carried no descriptor",
    ))
}

/// The pty master brig copies, and the host terminal whose size it
/// follows, for the SIGWINCH handler (-1: none).
static MASTER: AtomicI32 = AtomicI32::new(-1);
static HOST: AtomicI32 = AtomicI32::new(-1);

/// Size the container's terminal as brig's own (the first of stderr,
/// stdout, stdin that is a terminal), now and at every SIGWINCH until the
/// guard drops, as runc does; without a host terminal it keeps the size
/// it has (process.consoleSize).
pub fn follow_host_size(master: &OwnedFd) -> SizeGuard {
    if let Some(host) = [2, 1, 0].into_iter().find(|fd| tty::is_terminal(*fd)) {
        tty::copy_size(host, master.as_raw_fd());
        HOST.store(host, Ordering::Relaxed);
        MASTER.store(master.as_raw_fd(), Ordering::Relaxed);
    }
    SizeGuard
}

/// For the SIGWINCH handler (run.rs): async-signal-safe.
pub fn on_window_change() {
    let (host, master) = (HOST.load(Ordering::Relaxed), MASTER.load(Ordering::Relaxed));
    if host >= 0 && master >= 0 {
        tty::copy_size(host, master);
    }
}

/// Stops the size following before the master is closed.
pub struct SizeGuard;

impl Drop for SizeGuard {
    fn drop(&mut self) {
        MASTER.store(-1, Ordering::Relaxed);
    }
}

/// Restores the host terminal on drop.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

/// Copy stdin -> master and master -> stdout until the init exits (its
/// pidfd turns readable) and the master has nothing more to say.
pub fn proxy(master: &OwnedFd, pidfd: BorrowedFd<'_>) -> Result<()> {
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd, PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            r => r.or_sys(|| "poll terminal".into())?,
        };
        let master_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        let exited = fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        let stdin_ev = fds
            .get(2)
            .and_then(|f| f.revents())
            .unwrap_or(PollFlags::empty());
        if master_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match nix::unistd::read(master, &mut buf) {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => write_all(std::io::stdout().as_fd(), &buf[..n]),
            }
        } else if exited {
            return Ok(());
        }
        if stdin_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => write_all(master.as_fd(), &buf[..n]),
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}
