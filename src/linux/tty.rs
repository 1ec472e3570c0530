//! The container's terminal: a pty made inside the container's devpts, its
//! master sent over `--console-socket` as runc does (one SCM_RIGHTS
//! descriptor; payload: the master's path), its slave taken with
//! TIOCGPTPEER, made the controlling terminal and stdio, and bind-mounted
//! on /dev/console.
//! Ref: runc/libcontainer/console_linux.go behaviour; ioctl_tty(2).

use std::ffi::CString;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

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
