//! Hand the notify fd to a seccomp agent (`listenerPath`).
//!
//! Ref: OCI runtime-spec runtime.md / config-linux.md "Seccomp": the runtime
//! connects to listenerPath and sends one message whose SCM_RIGHTS carry the
//! fds named in `fds` and whose payload is the "container process state"
//! JSON: `{ociVersion, fds, pid, metadata, state}`.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};

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
