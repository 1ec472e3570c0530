//! Hand the notify fd to a seccomp agent (`listenerPath`).
//!
//! Ref: OCI runtime-spec runtime.md / config-linux.md "Seccomp": the runtime
//! connects to listenerPath and sends one message whose SCM_RIGHTS carry the
//! fds named in `fds` and whose payload is the "container process state"
//! JSON: `{ociVersion, fds, pid, metadata, state}`.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::error::{Error, Result, SysResultExt};

/// The OCI version brig speaks when the state does not say.
const OCI_VERSION: &str = "1.2.0";

/// The container process state payload.
pub(super) fn payload(
    state_json: &serde_json::Value,
    pid: i32,
    metadata: Option<&str>,
) -> serde_json::Value {
    let version = state_json
        .get("ociVersion")
        .and_then(|v| v.as_str())
        .unwrap_or(OCI_VERSION);
    let mut p = serde_json::json!({
        "ociVersion": version,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state_json,
    });
    if let Some(m) = metadata {
        p["metadata"] = serde_json::Value::String(m.to_owned());
    }
    p
}

/// The message body for [`send_to_listener`], encoded before the filter
/// is loaded so nothing is allocated after it.
pub fn encode(state_json: &serde_json::Value, pid: i32, metadata: Option<&str>) -> Result<Vec<u8>> {
    serde_json::to_vec(&payload(state_json, pid, metadata))
        .map_err(|e| Error::json("encode seccomp container process state", e))
}

/// Send `notify_fd` with the process state `body` ([`encode`]) over `sock`
/// (a connected unix stream), in one SCM_RIGHTS message as runc does. The
/// fd is closed here once sent: the agent owns its copy.
pub fn send_to_listener(sock: &impl AsRawFd, body: &[u8], notify_fd: OwnedFd) -> Result<()> {
    let fds = [notify_fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let mut sent = sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(body)],
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .or_sys(|| "send seccomp notify fd to listener".into())?;
    // A stream socket may take the payload in pieces; the fd went with the
    // first byte, the rest follows plainly.
    while sent < body.len() {
        let n = nix::sys::socket::send(sock.as_raw_fd(), &body[sent..], MsgFlags::MSG_NOSIGNAL)
            .or_sys(|| "send seccomp container process state to listener".into())?;
        if n == 0 {
            return Err(Error::invalid(
                "send seccomp container process state to listener: connection closed",
            ));
        }
        sent += n;
    }
    drop(notify_fd);
    Ok(())
}

/// [`send_to_listener`] for brig's own supervisor (`seccomp learn`/`test`):
/// sendmsg(2) made directly, with `cookie` in the arguments the kernel
/// ignores, which is the one call the supervisor's filter lets through
/// before the supervisor has the fd (supervise.rs). Nothing is allocated
/// and nothing else is called: any other syscall here would wait for an
/// answer nobody can give yet. The notify fd is left open (close-on-exec):
/// closing it would be a syscall of brig's in the workload's record.
pub fn send_to_supervisor(
    sock: &impl AsRawFd,
    body: &[u8],
    notify_fd: OwnedFd,
    cookie: &[u64; 3],
) -> Result<()> {
    let fd = notify_fd.as_raw_fd();
    // CMSG_SPACE(sizeof(int)) is 24 bytes on 64-bit Linux; u64s keep the
    // buffer aligned for cmsghdr.
    let mut control = [0u64; 4];
    let mut sent = 0usize;
    let mut first = true;
    while sent < body.len() {
        let mut iov = libc::iovec {
            iov_base: body[sent..].as_ptr().cast_mut().cast(),
            iov_len: body.len() - sent,
        };
        // SAFETY: msghdr is plain data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if first {
            // SAFETY: CMSG_SPACE/CMSG_LEN only compute sizes.
            let (space, len) = unsafe {
                (
                    libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize,
                    libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize,
                )
            };
            debug_assert!(space <= std::mem::size_of_val(&control));
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            // SAFETY: msg_control points to `control`, zeroed, aligned and
            // at least CMSG_SPACE(int) long, so the first header and its
            // data fit in it.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = len;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
            }
        }
        // SAFETY: msg and what it points to (iov, body, control) are alive
        // for the call; arguments 4 to 6 are ignored by sendmsg and only
        // read by the seccomp filter.
        let n = unsafe {
            libc::syscall(
                libc::SYS_sendmsg,
                sock.as_raw_fd(),
                &msg as *const libc::msghdr,
                libc::MSG_NOSIGNAL,
                cookie[0],
                cookie[1],
                cookie[2],
            )
        };
        if n < 0 {
            let e = nix::errno::Errno::last();
            if e == nix::errno::Errno::EINTR {
                continue;
            }
            return Err(Error::sys("send seccomp notify fd to brig's supervisor", e));
        }
        if n == 0 {
            return Err(Error::invalid(
                "send seccomp notify fd to brig's supervisor: connection closed",
            ));
        }
        first = false;
        sent += n as usize;
    }
    std::mem::forget(notify_fd);
    Ok(())
}
