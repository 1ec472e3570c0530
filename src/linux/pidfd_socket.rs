//! `--pidfd-socket PATH` (runc 1.2+, passed by containerd 2.x): the
//! caller listens on a unix socket and receives a pidfd of the container's
//! init (`create`, `run`) or of the exec'd process (`exec`), so it can
//! signal and wait for it without pid reuse races. As runc sends it: one
//! SCM_RIGHTS descriptor in one message whose payload names runc's init
//! type, `standard` (init) or `setns` (exec).
//! Ref: runc utils_linux.go setupPidfdSocket, libcontainer/init_linux.go
//! setupPidfd, tests/cmd/pidfd-kill (the receiving end); pidfd_open(2).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::error::{IoResultExt, Result, SysResultExt};

/// Whose pidfd goes over the socket, named as runc's payload names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidfdOf {
    /// The container's init.
    Init,
    /// A process `exec` started in the container.
    Exec,
}

impl PidfdOf {
    /// The message's payload: runc's init type.
    fn payload(self) -> &'static [u8] {
        match self {
            PidfdOf::Init => b"standard",
            PidfdOf::Exec => b"setns",
        }
    }
}

/// A connection to the caller's `--pidfd-socket`.
#[derive(Debug)]
pub struct PidfdSocket(UnixStream);

impl PidfdSocket {
    /// Connected before anything is made, so a wrong path fails first
    /// (runc connects before it starts the process too).
    pub fn connect(path: &Path) -> Result<PidfdSocket> {
        UnixStream::connect(path)
            .map(PidfdSocket)
            .or_io(|| format!("connect to pidfd socket {}", path.display()))
    }

    /// Send `pidfd`; the receiver gets its own copy.
    pub fn send(&self, pidfd: BorrowedFd<'_>, of: PidfdOf) -> Result<()> {
        let fds = [pidfd.as_raw_fd()];
        let iov = [IoSlice::new(of.payload())];
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map(drop)
        .or_sys(|| "send the pidfd over the pidfd socket".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSliceMut;
    use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::net::UnixListener;

    use nix::sys::socket::{recvmsg, ControlMessageOwned};

    /// What runc's pidfd-kill reads: one message, the payload and one fd.
    fn receive(listener: &UnixListener) -> (String, OwnedFd) {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let mut fds = Vec::new();
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(f) = c {
                fds.extend(f);
            }
        }
        let n = msg.bytes;
        assert_eq!(fds.len(), 1, "one descriptor");
        let payload = String::from_utf8(buf[..n].to_vec()).unwrap();
        // SAFETY: the kernel installed this descriptor for us just now.
        (payload, unsafe { OwnedFd::from_raw_fd(fds[0]) })
    }

    #[test]
    fn sends_one_pidfd_with_runcs_payload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let me = crate::linux::pid::pidfd_open(std::process::id() as i32).unwrap();
        for (of, want) in [(PidfdOf::Init, "standard"), (PidfdOf::Exec, "setns")] {
            let sock = PidfdSocket::connect(&path).unwrap();
            sock.send(me.as_fd(), of).unwrap();
            let (payload, fd) = receive(&listener);
            assert_eq!(payload, want);
            // A pidfd of this very process: signal 0 through it succeeds.
            // SAFETY: pidfd_send_signal with a valid pidfd, signal 0, no
            // siginfo, no flags.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    0,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            assert_eq!(r, 0, "the received fd is a live pidfd");
        }
        let e = PidfdSocket::connect(&dir.path().join("nope"))
            .unwrap_err()
            .chain();
        assert!(e.contains("connect to pidfd socket"), "{e}");
        assert!(e.contains("nope"), "{e}");
    }
}
