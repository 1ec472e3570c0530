//! A connected SOCK_SEQPACKET socketpair (the init channel's transport):
//! one datagram per message, never split or merged; EOF when the other
//! end is gone. Ref: unix(7), socketpair(2).

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    recv, send, setsockopt, socketpair, sockopt, AddressFamily, MsgFlags, SockFlag, SockType,
};

use crate::error::{Result, SysResultExt};

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
    let mut probe = [0u8; 1];
    let size = loop {
        match recv(
            fd.as_raw_fd(),
            &mut probe,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
        ) {
            Err(Errno::EINTR) => continue,
            r => break r.or_sys(|| "receive on the init channel".into())?,
        }
    };
    if size == 0 {
        return Ok(None);
    }
    let mut buf = vec![0u8; size];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())
        .or_sys(|| "receive on the init channel".into())?;
    buf.truncate(n);
    Ok(Some(buf))
}
