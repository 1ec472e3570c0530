//! What crosses the init channel, and the parent's view of the order it
//! must come in. Sync points are numbered here and at each send/receive.
//!
//! ```text
//! parent                                child / init
//!   clone3 ------------------------------> (blocked in recv)
//!   cgroup, uid/gid maps
//!   sync 1: Go ---------------------------> re-exec from read-only brig
//!   sync 1b: Config ----------------------> init: rootfs, pivot, sysctls ...
//!   <------------------------------- sync 2: Ready | Failed
//!   state.json "created", pid file; exit
//!                                         blocks opening exec.fifo
//! `brig start` opens exec.fifo  --------> sync 3: fifo released; execve
//! ```

use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::linux::namespaces::NsPlan;

/// Parent -> child.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    /// sync 1: cgroup joined and id maps written; the child may re-exec.
    Go,
    /// sync 1b: what the init needs after its re-exec.
    Config(Box<InitConfig>),
}

/// Child -> parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToParent {
    /// sync 2: the container is set up and waits for `start`.
    Ready,
    /// Setup failed: the whole chain and the errno.
    Failed { chain: String, errno: Option<i32> },
}

/// Everything the init needs, decided by the parent.
#[derive(Debug, Serialize, Deserialize)]
pub struct InitConfig {
    pub id: String,
    pub spec: Spec,
    pub bundle: PathBuf,
    /// Canonical host path of the root filesystem.
    pub rootfs: PathBuf,
    pub ns: NsPlan,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Descriptors 3..3+preserve_fds reach the container.
    pub preserve_fds: u32,
    /// When LISTEN_FDS was set: how many of the preserved fds are sockets
    /// for socket activation.
    pub listen_fds: Option<u32>,
    /// O_PATH descriptor of exec.fifo (None for `run`, which starts at once).
    pub fifo_fd: Option<i32>,
    /// Connected console socket (terminal: true).
    pub console_fd: Option<i32>,
    /// Connected seccomp agent socket (SCMP_ACT_NOTIFY).
    pub seccomp_listener_fd: Option<i32>,
    /// The host's view of the container's cgroups, for a "cgroup" mount.
    pub cgroup_view: Option<crate::linux::rootfs::CgroupView>,
    /// The container state as `state` would print it, for the seccomp agent.
    pub state_json: serde_json::Value,
    /// Idmapped trees the parent made on the host (user namespace only):
    /// (index in spec.mounts, inherited fd).
    #[serde(default)]
    pub idmapped_fds: Vec<(usize, i32)>,
}

/// The parent's side of the protocol as a small state machine, so an
/// out-of-order or repeated message is an error, not a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentPhase {
    AwaitReady,
    Done,
}

impl ParentPhase {
    pub fn on_message(self, msg: Option<ToParent>) -> Result<ParentPhase> {
        match (self, msg) {
            (ParentPhase::AwaitReady, Some(ToParent::Ready)) => Ok(ParentPhase::Done),
            (ParentPhase::AwaitReady, Some(ToParent::Failed { chain, errno })) => {
                Err(Error::Init { chain, errno })
            }
            (ParentPhase::AwaitReady, None) => Err(Error::invalid(
                "container init exited before reporting ready",
            )),
            (ParentPhase::Done, m) => Err(Error::invalid(format!(
                "unexpected message from container init after ready: {m:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_phase_transitions() {
        assert_eq!(
            ParentPhase::AwaitReady
                .on_message(Some(ToParent::Ready))
                .unwrap(),
            ParentPhase::Done
        );
        let e = ParentPhase::AwaitReady
            .on_message(Some(ToParent::Failed {
                chain: "mount proc on /proc: operation not permitted (EPERM)".into(),
                errno: Some(libc::EPERM),
            }))
            .unwrap_err();
        assert_eq!(e.errno(), Some(nix::errno::Errno::EPERM));
        assert!(e.chain().starts_with("mount proc"));
        assert!(ParentPhase::AwaitReady.on_message(None).is_err());
        assert!(ParentPhase::Done.on_message(Some(ToParent::Ready)).is_err());
    }
}
