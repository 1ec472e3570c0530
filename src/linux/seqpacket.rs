//! A connected SOCK_SEQPACKET socketpair (the init channel's transport):
//! one datagram per message, never split or merged; EOF when the other
//! end is gone. Ref: unix(7), socketpair(2).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    recv, recvmsg, send, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::error::{Error, Result, SysResultExt};

/// A close-on-exec pair whose send buffers take `max_message` bytes where
/// the kernel allows (best effort: the default takes ordinary messages).
pub fn pair(max_message: usize) -> Result<(OwnedFd, OwnedFd)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .or_sys(|| "socketpair for the init channel".into())?;
    for fd in [&a, &b] {
        let _ = setsockopt(fd, sockopt::SndBuf, &max_message);
    }
    Ok((a, b))
}

/// One datagram; a closed peer is EPIPE, never SIGPIPE.
pub fn send_datagram(fd: &OwnedFd, data: &[u8]) -> Result<()> {
    send(fd.as_raw_fd(), data, MsgFlags::MSG_NOSIGNAL)
        .map(drop)
        .or_sys(|| "send on the init channel".into())
}

/// The next datagram whole (its size peeked first, so a large one needs no
/// fixed buffer), or `None` at EOF.
pub fn recv_datagram(fd: &OwnedFd) -> Result<Option<Vec<u8>>> {
    let size = peek_size(fd)?;
    if size == 0 {
        return Ok(None);
    }
    let mut buf = vec![0u8; size];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())
        .or_sys(|| "receive on the init channel".into())?;
    buf.truncate(n);
    Ok(Some(buf))
}

/// The size of the next datagram, without taking it; 0 at EOF.
fn peek_size(fd: &OwnedFd) -> Result<usize> {
    let mut probe = [0u8; 1];
    loop {
        match recv(
            fd.as_raw_fd(),
            &mut probe,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
        ) {
            Err(Errno::EINTR) => continue,
            r => return r.or_sys(|| "receive on the init channel".into()),
        }
    }
}

/// One datagram with one descriptor attached (SCM_RIGHTS); the receiver
/// gets its own copy, ours stays open.
pub fn send_datagram_with_fd(fd: &OwnedFd, data: &[u8], passed: BorrowedFd<'_>) -> Result<()> {
    let fds = [passed.as_raw_fd()];
    sendmsg::<()>(
        fd.as_raw_fd(),
        &[IoSlice::new(data)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
    .or_sys(|| "send a descriptor on the init channel".into())
}

/// The next datagram whole and the descriptor attached to it, if any
/// (received close-on-exec: it must not reach the container's program),
/// or `None` at EOF.
pub fn recv_datagram_with_fd(fd: &OwnedFd) -> Result<Option<(Vec<u8>, Option<OwnedFd>)>> {
    let size = peek_size(fd)?;
    if size == 0 {
        return Ok(None);
    }
    let mut buf = vec![0u8; size];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .or_sys(|| "receive a descriptor on the init channel".into())?;
    let mut passed = None;
    // Every descriptor received is owned at once, so none leaks on an error.
    let mut extra = false;
    for c in msg.cmsgs().or_sys(|| "read control messages".into())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: SCM_RIGHTS installed this descriptor in our table
                // for us alone; nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                extra |= passed.replace(owned).is_some();
            }
        }
    }
    let n = msg.bytes;
    if extra || msg.flags.contains(MsgFlags::MSG_CTRUNC) {
        return Err(Error::sys(
            "receive a descriptor on the init channel: more than one came",
            Errno::EBADMSG,
        ));
    }
    buf.truncate(n);
    Ok(Some((buf, passed)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_descriptor_crosses_with_its_datagram() {
        let (a, b) = pair(1 << 16).unwrap();
        let file = tempfile::tempfile().unwrap();
        send_datagram_with_fd(&a, b"with", file.as_fd()).unwrap();
        send_datagram(&a, b"without").unwrap();
        let (data, fd) = recv_datagram_with_fd(&b).unwrap().unwrap();
        assert_eq!(data, b"with");
        let fd = fd.expect("the descriptor came");
        let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0, "received close-on-exec");
        let same = |x: &std::fs::File, y: &OwnedFd| {
            let (x, y) = (
                nix::sys::stat::fstat(x).unwrap(),
                nix::sys::stat::fstat(y).unwrap(),
            );
            (x.st_dev, x.st_ino) == (y.st_dev, y.st_ino)
        };
        assert!(same(&file, &fd));
        let (data, fd) = recv_datagram_with_fd(&b).unwrap().unwrap();
        assert_eq!((data.as_slice(), fd.is_none()), (&b"without"[..], true));
        drop(a);
        assert!(recv_datagram_with_fd(&b).unwrap().is_none(), "EOF");
    }
}
