//! What crosses the init channel, and the parent's view of the order it
//! must come in. Sync points are numbered here and at each send/receive.
//!
//! ```text
//! parent                                child / init
//!   clone3 ------------------------------> (blocked in recv)
//!   cgroup, uid/gid maps
//!   sync 1: Go ---------------------------> re-exec from read-only brig
//!   sync 1b: Config ----------------------> init: rootfs mounts
//!   <------------------- sync 1m: MountSource{index} (an idmapped bind
//!   open_tree + MOUNT_ATTR_IDMAP in the      whose source is in the rootfs,
//!   container's mount namespace              in a user namespace; once per
//!   sync 1m: MountSource + fd ------------->  such mount)
//!   <-------------------------- sync 1c: RunHooks (only with prestart or
//!   prestart, createRuntime hooks            createRuntime hooks)
//!   sync 1d: HooksDone -------------------> createContainer hooks; pivot,
//!                                           sysctls ...
//!   <------------------------------- sync 2: Ready | Failed
//!   state.json "created", pid file; exit
//!                                         blocks opening exec.fifo
//! `brig start` opens exec.fifo  --------> sync 3: fifo released;
//!   (with startContainer/poststart hooks:     startContainer hooks; execve
//!    reads the fifo to EOF = execve;
//!    then poststart hooks)
//! ```
//!
//! `brig exec` (plan::InitMode::Exec) takes the same path with a plan that joins the
//! container's namespaces and creates none; its init skips sync 2 and 3 and
//! goes straight to execve, so the parent's answer is EOF (the channel is
//! close-on-exec) or Failed.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::plan::InitPlan;

/// Parent -> child.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    /// sync 1: cgroup joined and id maps written; the child may re-exec.
    Go,
    /// sync 1b: what the init needs after its re-exec.
    Config(Box<InitConfig>),
    /// sync 1d: prestart and createRuntime hooks ran; go on to pivot_root.
    HooksDone,
    /// sync 1b': right after Config, for a container started from the
    /// template: the bind of the container's cgroup of one host hierarchy
    /// (`name` under the cgroup mount), attached (SCM_RIGHTS); as many as
    /// [`InitConfig::cgroup_trees`] says.
    CgroupTree { name: String },
    /// sync 1m: the answer to [`ToParent::MountSource`]: the detached,
    /// idmapped tree of mount `index` comes attached (SCM_RIGHTS).
    MountSource { index: usize },
}

/// Child -> parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToParent {
    /// sync 2: the container is set up and waits for `start`.
    Ready,
    /// Setup failed: the whole chain and the errno.
    Failed { chain: String, errno: Option<i32> },
    /// sync 1c: mounts are done, pivot_root is not: run prestart and
    /// createRuntime hooks, then answer HooksDone.
    RunHooks,
    /// sync 1a (a joined user namespace with a new pid namespace only):
    /// the child forked the container's init into the pid namespace it
    /// unshared; `pid` is the init's, in the parent's pid namespace. The
    /// child exits; the init goes on where the child was.
    Forked { pid: i32 },
    /// sync 0c (v1 hierarchies only): the child joined the container's v1
    /// cgroups itself (`cgroups::join_self`); the parent reads its cgroups
    /// (for a cgroup mount) only after this.
    CgroupJoined,
    /// sync 0 (a new time namespace only): the child unshared it; the
    /// parent writes its offsets before sync 1.
    TimeNamespace,
    /// sync 1u (a new user namespace with namespaces joined by path only):
    /// the child joined them and unshared its user namespace; the parent
    /// writes its id maps and answers Go.
    UserNamespace,
    /// sync 1m (between 1b and 1c): mount `index` of the rootfs plan is an
    /// idmapped bind whose source is inside the rootfs, where earlier
    /// mounts may have made it, and the container has a user namespace, in
    /// which init cannot idmap a mount. The parent makes the tree in the
    /// container's mount namespace and answers [`ToInit::MountSource`].
    MountSource { index: usize },
}

/// The parent's `--log` for init: an inherited descriptor of the log
/// file, opened by the parent (init may run as a user that could not open
/// it, and from inside the container's mount namespace), or stderr.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct InitLog {
    pub fd: Option<i32>,
    pub format: crate::logging::LogFormat,
    pub debug: bool,
}

/// What init receives at sync 1b: its part of the plan, and what the
/// parent made for it (descriptors it inherits, views only the host has).
#[derive(Debug, Serialize, Deserialize)]
pub struct InitConfig {
    pub plan: InitPlan,
    pub fds: InitFds,
    /// The host's view of the container's cgroups, for a "cgroup" mount.
    pub cgroup_view: Option<crate::linux::rootfs::CgroupView>,
    /// How many [`ToInit::CgroupTree`] follow the Config.
    #[serde(default)]
    pub cgroup_trees: usize,
    /// The container state as `state` would print it, for hooks and the
    /// seccomp agent.
    pub state_json: serde_json::Value,
    /// Where init logs (its warnings come after the parent has gone).
    pub log: InitLog,
}

/// Descriptors the parent opened and init inherits, by number.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InitFds {
    /// O_PATH descriptor of exec.fifo (create only).
    pub fifo: Option<i32>,
    /// Connected console socket (terminal: true).
    pub console: Option<i32>,
    /// Connected seccomp agent socket (SCMP_ACT_NOTIFY).
    pub seccomp_listener: Option<i32>,
    /// Idmapped and bind source trees the parent made on the host (user
    /// namespace only): (index in the rootfs plan's mounts, fd).
    pub premade_mounts: Vec<(usize, i32)>,
    /// The mount namespace template init starts from, if it does.
    #[serde(default)]
    pub mnt_template: Option<i32>,
}

/// The parent's side of the protocol as a small state machine, so an
/// out-of-order or repeated message is an error, not a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentPhase {
    /// Waiting for sync 1m (MountSource), 1c (RunHooks) or 2 (Ready).
    AwaitReady,
    /// Init asked for the source tree of mount `index` (sync 1m): the
    /// parent makes it and sends it, then calls [`ParentPhase::mount_sent`].
    MakeMount {
        index: usize,
    },
    /// Init asked for the hooks (sync 1c): the parent runs them and sends
    /// HooksDone (sync 1d), then calls [`ParentPhase::hooks_done`].
    RunHooks,
    /// Hooks ran; only sync 2 may come now.
    AwaitReadyAfterHooks,
    /// `exec`: the next thing is EOF (execve closed the channel) or Failed.
    AwaitExec,
    Done,
}

impl ParentPhase {
    pub fn on_message(self, msg: Option<ToParent>) -> Result<ParentPhase> {
        use ParentPhase::*;
        match (self, msg) {
            (AwaitReady | AwaitReadyAfterHooks, Some(ToParent::Ready)) => Ok(Done),
            (AwaitReady, Some(ToParent::RunHooks)) => Ok(RunHooks),
            (AwaitReady, Some(ToParent::MountSource { index })) => Ok(MakeMount { index }),
            // The mounts are made before the hooks run.
            (AwaitReadyAfterHooks, Some(m @ ToParent::MountSource { .. })) => Err(Error::invalid(
                format!("unexpected message from container init after its hooks: {m:?}"),
            )),
            (AwaitReady | AwaitReadyAfterHooks, Some(ToParent::Failed { chain, errno })) => {
                Err(Error::Init { chain, errno })
            }
            (AwaitReady | AwaitReadyAfterHooks, None) => Err(Error::invalid(
                "container init exited before reporting ready",
            )),
            (AwaitExec, None) => Ok(Done),
            (AwaitExec, Some(ToParent::Failed { chain, errno })) => {
                Err(Error::Init { chain, errno })
            }
            // sync 1a is the launch's (launch::spawn), before any phase.
            (
                _,
                Some(
                    m @ (ToParent::Forked { .. }
                    | ToParent::CgroupJoined
                    | ToParent::TimeNamespace
                    | ToParent::UserNamespace),
                ),
            ) => Err(Error::invalid(format!(
                "unexpected message from container init after its launch: {m:?}"
            ))),
            (
                AwaitExec,
                Some(m @ (ToParent::Ready | ToParent::RunHooks | ToParent::MountSource { .. })),
            ) => Err(Error::invalid(format!(
                "unexpected message from an exec'd process's init: {m:?}"
            ))),
            (AwaitReadyAfterHooks, Some(ToParent::RunHooks)) => {
                Err(Error::invalid("container init asked for the hooks twice"))
            }
            (RunHooks, m) => Err(Error::invalid(format!(
                "unexpected message from container init while hooks run: {m:?}"
            ))),
            (MakeMount { index }, m) => Err(Error::invalid(format!(
                "unexpected message from container init while mount #{index} is made: {m:?}"
            ))),
            (Done, m) => Err(Error::invalid(format!(
                "unexpected message from container init after ready: {m:?}"
            ))),
        }
    }

    /// The parent sent the tree init asked for (sync 1m).
    pub fn mount_sent(self) -> Result<ParentPhase> {
        match self {
            ParentPhase::MakeMount { .. } => Ok(ParentPhase::AwaitReady),
            p => Err(Error::invalid(format!(
                "a mount source sent in phase {p:?}, not MakeMount"
            ))),
        }
    }

    /// The parent ran the hooks and sent HooksDone (sync 1d).
    pub fn hooks_done(self) -> Result<ParentPhase> {
        match self {
            ParentPhase::RunHooks => Ok(ParentPhase::AwaitReadyAfterHooks),
            p => Err(Error::invalid(format!(
                "hooks finished in phase {p:?}, not RunHooks"
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
        // sync 1a belongs to the launch: never in a phase.
        for p in [ParentPhase::AwaitReady, ParentPhase::AwaitExec] {
            assert!(p.on_message(Some(ToParent::Forked { pid: 7 })).is_err());
        }
    }

    #[test]
    fn parent_phase_with_hooks() {
        use ParentPhase::*;
        let p = AwaitReady.on_message(Some(ToParent::RunHooks)).unwrap();
        assert_eq!(p, RunHooks);
        // Init must wait for HooksDone: nothing may arrive meanwhile.
        assert!(RunHooks.on_message(Some(ToParent::Ready)).is_err());
        assert!(RunHooks.on_message(None).is_err());
        let p = p.hooks_done().unwrap();
        assert_eq!(p, AwaitReadyAfterHooks);
        // Hooks run once.
        assert!(p.on_message(Some(ToParent::RunHooks)).is_err());
        assert!(AwaitReady.hooks_done().is_err());
        assert!(p.on_message(None).is_err());
        let e = p
            .on_message(Some(ToParent::Failed {
                chain: "createContainer hook #0 /h: exit status 3".into(),
                errno: None,
            }))
            .unwrap_err();
        assert!(e.chain().starts_with("createContainer hook #0"));
        assert_eq!(p.on_message(Some(ToParent::Ready)).unwrap(), Done);
    }

    #[test]
    fn parent_phase_with_mount_requests() {
        use ParentPhase::*;
        let ask = |index| Some(ToParent::MountSource { index });
        // Any number of requests, each answered before the next.
        let p = AwaitReady.on_message(ask(4)).unwrap();
        assert_eq!(p, MakeMount { index: 4 });
        // Init waits for the tree: nothing may arrive meanwhile.
        assert!(p.on_message(ask(5)).is_err());
        assert!(p.on_message(Some(ToParent::Ready)).is_err());
        assert!(p.on_message(None).is_err());
        assert!(p.hooks_done().is_err());
        let p = p.mount_sent().unwrap();
        assert_eq!(p, AwaitReady);
        assert!(p.mount_sent().is_err(), "one answer per request");
        let p = p.on_message(ask(6)).unwrap().mount_sent().unwrap();
        // Then the hooks; after them no more mounts.
        let p = p.on_message(Some(ToParent::RunHooks)).unwrap();
        assert!(p.on_message(ask(7)).is_err());
        let p = p.hooks_done().unwrap();
        assert!(p.on_message(ask(7)).is_err());
        assert_eq!(p.on_message(Some(ToParent::Ready)).unwrap(), Done);
        // Never for exec (no rootfs), nor after ready.
        assert!(AwaitExec.on_message(ask(0)).is_err());
        assert!(Done.on_message(ask(0)).is_err());
        assert!(AwaitExec.mount_sent().is_err());
    }

    #[test]
    fn exec_phase_transitions() {
        assert_eq!(
            ParentPhase::AwaitExec.on_message(None).unwrap(),
            ParentPhase::Done
        );
        let e = ParentPhase::AwaitExec
            .on_message(Some(ToParent::Failed {
                chain: "chdir to cwd /nope: no such file or directory (ENOENT)".into(),
                errno: Some(libc::ENOENT),
            }))
            .unwrap_err();
        assert_eq!(e.errno(), Some(nix::errno::Errno::ENOENT));
        assert!(ParentPhase::AwaitExec
            .on_message(Some(ToParent::Ready))
            .is_err());
    }
}
