//! The one SOCK_SEQPACKET socketpair between the parent and the container's
//! init: one JSON message per datagram, so a message is never split or
//! merged, and EOF means the other side died.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::linux::seqpacket;

/// Big enough for an init plan with a full seccomp filter.
const MAX_MESSAGE: usize = 4 << 20;

pub struct Channel {
    fd: OwnedFd,
}

/// (parent end, child end)
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = seqpacket::pair(MAX_MESSAGE)?;
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
        seqpacket::send_datagram(&self.fd, &data)
    }

    /// `msg` with the descriptor `fd` attached (SCM_RIGHTS).
    pub fn send_with_fd<T: Serialize>(&self, msg: &T, fd: BorrowedFd<'_>) -> Result<()> {
        let data = serde_json::to_vec(msg).map_err(|e| Error::json("encode channel message", e))?;
        seqpacket::send_datagram_with_fd(&self.fd, &data, fd)
    }

    /// The next message, or `None` at EOF (the other side is gone).
    pub fn recv<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        match seqpacket::recv_datagram(&self.fd)? {
            None => Ok(None),
            Some(data) => decode(&data).map(Some),
        }
    }

    /// The next message and the descriptor attached to it, if any
    /// (close-on-exec), or `None` at EOF.
    pub fn recv_with_fd<T: DeserializeOwned>(&self) -> Result<Option<(T, Option<OwnedFd>)>> {
        match seqpacket::recv_datagram_with_fd(&self.fd)? {
            None => Ok(None),
            Some((data, fd)) => Ok(Some((decode(&data)?, fd))),
        }
    }
}

fn decode<T: DeserializeOwned>(data: &[u8]) -> Result<T> {
    serde_json::from_slice(data).map_err(|e| Error::json("decode channel message", e))
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
