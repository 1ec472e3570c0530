//! The container's terminal: a pty made inside the container's devpts, its
//! master sent over `--console-socket` as runc does (one SCM_RIGHTS
//! descriptor; payload: the master's path), its slave taken with
//! TIOCGPTPEER, made the controlling terminal and stdio, and bind-mounted
//! on /dev/console.
//!
//! And brig's own end of it, for `run` and `exec` in the foreground
//! without a console socket: the master received, the host terminal in
//! raw mode and followed in size, the copy between the two.
//! Ref: runc/libcontainer/console_linux.go behaviour; ioctl_tty(2).

use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

use crate::error::{Error, Result, SysResultExt};

const TIOCGPTPEER: libc::c_ulong = 0x5441;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: String,
}

/// Open a new pty from /dev/ptmx of the (already pivoted) container.
pub fn open_pty() -> Result<Pty> {
    let path = CString::new("/dev/ptmx").expect("no NUL");
    // SAFETY: valid C string; returns a new fd or -1.
    let m = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if m < 0 {
        return Err(Error::sys("open /dev/ptmx", Errno::last()));
    }
    // SAFETY: m is a fresh fd we own.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to int; unlock lives for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(Error::sys("unlock pty", Errno::last()));
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into n.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } < 0 {
        return Err(Error::sys("get pty number", Errno::last()));
    }
    // TIOCGPTPEER opens the slave through the master, so a /dev/pts the
    // container swapped cannot hand us another device.
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let s = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            TIOCGPTPEER as _,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        return Err(Error::sys("open pty slave (TIOCGPTPEER)", Errno::last()));
    }
    Ok(Pty {
        master,
        // SAFETY: s is a fresh fd we own.
        slave: unsafe { OwnedFd::from_raw_fd(s) },
        slave_path: format!("/dev/pts/{n}"),
    })
}

/// Apply process.consoleSize.
pub fn set_size(fd: RawFd, height: u16, width: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize that lives for the call.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(Error::sys("set console size", Errno::last()));
    }
    Ok(())
}

/// Output as written: no `\n` to `\r\n` (ONLCR) on the pty. Set on the
/// master, it applies to the slave the process writes to.
/// Ref: tty_ioctl(4), termios(3).
pub fn clear_onlcr(master: &OwnedFd) -> Result<()> {
    let mut t = nix::sys::termios::tcgetattr(master.as_fd())
        .or_sys(|| "get the pty's attributes".into())?;
    t.output_flags.remove(nix::sys::termios::OutputFlags::ONLCR);
    nix::sys::termios::tcsetattr(master.as_fd(), nix::sys::termios::SetArg::TCSANOW, &t)
        .or_sys(|| "clear ONLCR on the pty".into())
}

/// Copy the window size of terminal `from` to terminal `to` (a pty
/// master: the size is its slave's, and the kernel sends SIGWINCH to the
/// slave's foreground process group). Two ioctls and no allocation, so it
/// may run in a signal handler. False when either is not a terminal.
pub fn copy_size(from: RawFd, to: RawFd) -> bool {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into ws, which outlives it.
    if unsafe { libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) } < 0 {
        return false;
    }
    // SAFETY: TIOCSWINSZ reads the winsize filled above.
    unsafe { libc::ioctl(to, libc::TIOCSWINSZ, &ws) >= 0 }
}

/// Is `fd` open on a terminal?
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Send the master over the console socket, payload "/dev/ptmx" as runc.
pub fn send_master(console: RawFd, master: &OwnedFd) -> Result<()> {
    let fds = [master.as_raw_fd()];
    let payload = b"/dev/ptmx";
    let iov = [IoSlice::new(payload)];
    sendmsg::<()>(
        console,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .or_sys(|| "send pty master over the console socket".into())
}

/// Bind the slave over /dev/console (created as an empty file if missing).
pub fn mount_console(slave_path: &str) -> Result<()> {
    let console = std::path::Path::new("/dev/console");
    if !console.exists() {
        let _ = std::fs::File::create(console);
    }
    mount(
        Some(slave_path),
        console,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .or_sys(|| format!("bind {slave_path} on /dev/console"))
}

/// Make the slave the controlling terminal and stdio of this (session
/// leader) process.
pub fn make_stdio(slave: OwnedFd) -> Result<()> {
    // SAFETY: TIOCSCTTY with arg 0 on a tty fd we own.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::sys("set controlling terminal", Errno::last()));
    }
    for target in 0..3 {
        // SAFETY: dup2 onto stdio; slave stays valid until dropped.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(Error::sys(
                format!("dup pty slave to fd {target}"),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

/// Make the process's user the owner of the pty slave brig made for it
/// (its group stays the devpts `gid=` option's: the tty group 5 in the
/// default spec), as runc does before it switches to that user, so the
/// user controls its terminal (`stat $(tty)` shows its uid).
/// Ref: runc libcontainer/init_linux.go fixStdioPermissions (behaviour).
pub fn give_slave_to(slave: &OwnedFd, uid: u32) -> Result<()> {
    chown_to(slave.as_fd(), uid, "the pty slave")
}

/// Make the process's user the owner of those of its stdio that are pipes
/// or sockets, so it can reopen them (`/dev/stdout` as a log file, as in
/// many images): runc chowns every stdio but /dev/null. brig leaves the
/// rest alone: a host terminal or file the caller passed is a host object,
/// and giving it to a container uid would hand it to whoever has that uid
/// on the host.
pub fn give_stdio_to(uid: u32) -> Result<()> {
    for fd in 0..3 {
        // SAFETY: fd 0..2 are this process's stdio for the whole call.
        let stdio = unsafe { BorrowedFd::borrow_raw(fd) };
        match nix::sys::stat::fstat(stdio) {
            Ok(st) if is_pipe_or_socket(st.st_mode) => {
                chown_to(stdio, uid, &format!("stdio fd {fd}"))?
            }
            // A closed stdio has no owner.
            Ok(_) | Err(Errno::EBADF) => {}
            Err(e) => return Err(Error::sys(format!("fstat stdio fd {fd}"), e)),
        }
    }
    Ok(())
}

/// fchown(fd, uid, unchanged). Where the owner cannot be changed (the
/// current owner is not mapped in a user namespace, a read-only /dev) it
/// stays as it is, as with runc.
fn chown_to(fd: BorrowedFd<'_>, uid: u32, what: &str) -> Result<()> {
    match nix::unistd::fchown(fd, Some(nix::unistd::Uid::from_raw(uid)), None) {
        Ok(()) | Err(Errno::EPERM | Errno::EROFS | Errno::EINVAL) => Ok(()),
        Err(e) => Err(Error::sys(format!("chown {what} to uid {uid}"), e)),
    }
}

/// Pure.
fn is_pipe_or_socket(mode: libc::mode_t) -> bool {
    matches!(mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
}

/// A session of our own (setsid), so a terminal can become our
/// controlling tty and the container gets no signals from the caller's.
pub fn new_session() -> Result<()> {
    nix::unistd::setsid().map(drop).or_sys(|| "setsid".into())
}

/// Receive the pty master the container's init sent (see
/// [`send_master`]) over our end of the console socket.
pub fn receive_master(sock: &UnixStream) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
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
                // SAFETY: the kernel just installed this descriptor in our
                // table for this message; nothing else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::invalid(
        "console socket message carried no descriptor",
    ))
}

/// The pty master brig copies, and the host terminal whose size it
/// follows, for [`on_window_change`] (-1: none).
static MASTER: AtomicI32 = AtomicI32::new(-1);
static HOST: AtomicI32 = AtomicI32::new(-1);

/// Size the container's terminal as brig's own (the first of stderr,
/// stdout, stdin that is a terminal), now and at every SIGWINCH until the
/// guard drops, as runc does; without a host terminal it keeps the size
/// it has (process.consoleSize).
pub fn follow_host_size(master: &OwnedFd) -> SizeGuard {
    if let Some(host) = [2, 1, 0].into_iter().find(|fd| is_terminal(*fd)) {
        copy_size(host, master.as_raw_fd());
        HOST.store(host, Ordering::Relaxed);
        MASTER.store(master.as_raw_fd(), Ordering::Relaxed);
    }
    SizeGuard
}

/// The host terminal changed size: the followed pty takes it. Two
/// ioctls and atomic loads: async-signal-safe, for the SIGWINCH handler
/// (signal.rs).
pub fn on_window_change() {
    let (host, master) = (HOST.load(Ordering::Relaxed), MASTER.load(Ordering::Relaxed));
    if host >= 0 && master >= 0 {
        copy_size(host, master);
    }
}

/// Stops the size following before the master is closed.
pub struct SizeGuard;

impl Drop for SizeGuard {
    fn drop(&mut self) {
        MASTER.store(-1, Ordering::Relaxed);
    }
}

/// The host terminal (brig's stdin) in raw mode; restored on drop. Not a
/// terminal: nothing changes.
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

/// Copy stdin -> master and master -> stdout until the process exits
/// (its pidfd turns readable) and the master has nothing more to say.
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
        super::poll::wait(&mut fds, PollTimeout::NONE, "terminal")?;
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

/// write(2) until all of `data` is written or the descriptor fails (a
/// closed terminal: the rest is dropped, as runc's copy does).
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pipes_and_sockets_among_stdio() {
        for (mode, want) in [
            (libc::S_IFIFO | 0o600, true),
            (libc::S_IFSOCK | 0o777, true),
            // /dev/null, a host terminal, a file, a directory.
            (libc::S_IFCHR | 0o666, false),
            (libc::S_IFCHR | 0o620, false),
            (libc::S_IFREG | 0o644, false),
            (libc::S_IFDIR | 0o755, false),
        ] {
            assert_eq!(is_pipe_or_socket(mode), want, "mode {mode:o}");
        }
    }
}
