//! `run` or `exec` in the foreground with a terminal and no
//! --console-socket: brig receives the pty master itself and copies
//! between it and its own stdio, with the host terminal in raw mode and
//! ONLCR off on the pty (init clears it: output reaches brig's stdout with
//! `\n`, not `\r\n`) and the pty sized as the host terminal, as runc does.
//! The calls are in linux/tty.rs.

use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;

use crate::error::Result;
use crate::linux::tty;

/// Take the terminal init sends over `sock` and be its other end until
/// the process behind `pidfd` exits: the host terminal restored, the size
/// following stopped, then the master closed.
pub fn attach(sock: &UnixStream, pidfd: BorrowedFd<'_>) -> Result<()> {
    let master = tty::receive_master(sock)?;
    let _size = tty::follow_host_size(&master);
    let _raw = tty::RawMode::enter();
    tty::proxy(&master, pidfd)
}
