//! The one SOCK_SEQPACKET socketpair between the parent and the container's
//! init: one JSON message per datagram, so a message is never split or
//! merged, and EOF means the other side died.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recv, send, setsockopt, socketpair, sockopt, AddressFamily, MsgFlags, SockFlag, SockType,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result, SysResultExt};

/// Big enough for a config.json with a full seccomp profile.
const MAX_MESSAGE: usize = 4 << 20;

pub struct Channel {
    fd: OwnedFd,
}

/// (parent end, child end)
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .or_sys(|| "socketpair for the init channel".into())?;
    for fd in [&a, &b] {
        // Best effort: the default buffer already holds ordinary configs.
        let _ = setsockopt(fd, sockopt::SndBuf, &MAX_MESSAGE);
    }
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// # Safety-free adoption
    /// Take over an inherited descriptor (the init after re-exec).
    pub fn from_fd(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send<T: Serialize>(&self, msg: &T) -> Result<()> {
        let data = serde_json::to_vec(msg).map_err(|e| Error::json("encode channel message", e))?;
        send(self.fd.as_raw_fd(), &data, MsgFlags::MSG_NOSIGNAL)
            .map(drop)
            .or_sys(|| "send on the init channel".into())
    }

    /// The next message, or `None` at EOF (the other side is gone).
    pub fn recv<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        // Peek the size first so large configs need no fixed buffer.
        let mut probe = [0u8; 1];
        let size = loop {
            match recv(
                self.fd.as_raw_fd(),
                &mut probe,
                MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.or_sys(|| "receive on the init channel".into())?,
            }
        };
        if size == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; size];
        let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())
            .or_sys(|| "receive on the init channel".into())?;
        serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(|e| Error::json("decode channel message", e))
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
