//! Role PARENT for `brig exec`: one more process in a running container.
//! It takes the container's own launch path (`parent::spawn`, CHILD, INIT
//! in `InitMode::Exec`) with a plan that joins every namespace the container
//! has and creates none, so it gets the init's confinement: seccomp,
//! AppArmor, capabilities, no_new_privs, rlimits, Landlock, user, umask,
//! and only stdio and the preserved descriptors.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::error::{Error, Result};
use crate::linux::pidfd_socket::{PidfdOf, PidfdSocket};
use crate::plan::{self, ExecFlags};
use crate::process::launch::{self, ConsoleSocket, Inherited, RuntimeOpts};
use crate::process::messages::{InitConfig, ParentPhase, ToInit, ToParent};
use crate::process::supervisor::{Agent, Running};
use crate::state::{State, Status};

pub struct ExecOpts<'a> {
    /// The node policy brig was invoked with.
    pub policy: Option<crate::policy::Policy>,
    pub console_socket: Option<ConsoleSocket<'a>>,
    /// `--pidfd-socket`: receives a pidfd of the process once it execs.
    pub pidfd_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    /// Descriptors 3..3+N reach the process; each must be open.
    pub preserve_fds: u32,
    /// `--cgroup` arguments, as runc takes them.
    pub sub_cgroups: &'a [String],
    /// `seccomp learn/test --exec`: brig's own supervisor instead of the
    /// container's (absent) filter.
    pub supervised: Option<Agent>,
}

/// A process that has reached execve in the container.
pub struct Execed {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    /// The supervisor at work, when one was asked for.
    pub supervisor: Option<Running>,
}

/// Refuse what runc refuses: exec into a stopped container, or a paused
/// one unless asked to (the process would start frozen).
pub fn check_status(status: Status, ignore_paused: bool) -> Result<()> {
    match status {
        Status::Created | Status::Running => Ok(()),
        Status::Paused if ignore_paused => Ok(()),
        Status::Paused => Err(Error::invalid(
            "cannot exec in a paused container (use --ignore-paused to override)",
        )),
        Status::Stopped => Err(Error::invalid("cannot exec in a stopped container")),
        Status::Creating => Err(Error::invalid(
            "cannot exec in a container that is still being created",
        )),
    }
}

/// Start `process` in container `st` (with the config it was created
/// with, not the bundle's config.json as it may be now) and return
/// once it has reached execve, or with the error that stopped it.
pub fn exec(
    rt: &RuntimeOpts<'_>,
    st: &State,
    process: Process,
    opts: ExecOpts<'_>,
) -> Result<Execed> {
    let flags = ExecFlags {
        policy: opts.policy.clone(),
        console_socket: opts.console_socket.is_some(),
        console_raw_output: matches!(opts.console_socket, Some(ConsoleSocket::Connected(_))),
        preserve_fds: opts.preserve_fds,
        sub_cgroups: opts.sub_cgroups.to_vec(),
        supervised_seccomp: opts.supervised.as_ref().map(Agent::plan),
    };
    let plan = plan::exec(st, process, &flags)?;
    let cgroup = launch::cgroup_for(&plan.cgroup, &plan.id)?;
    plan::check_host(&plan)?;
    let pidfd_socket = opts.pidfd_socket.map(PidfdSocket::connect).transpose()?;
    let inherited = Inherited::open(&plan, opts.console_socket.as_ref(), rt)?;

    // The /proc/PID/ns paths of the plan must still be this container's:
    // its init must be the same live process right before the clone.
    if !st.init_alive() {
        return Err(Error::invalid("cannot exec in a stopped container"));
    }
    let mut spawned = launch::spawn(&plan, &cgroup, &inherited)?;
    // sync 1b
    let (fds, log) = inherited.init_fds();
    spawned.channel.send(&ToInit::Config(Box::new(InitConfig {
        plan: plan.init,
        fds,
        cgroup_view: None,
        cgroup_trees: 0,
        state_json: st.to_oci(Status::Running, st.pid),
        log,
    })))?;
    drop(inherited);
    // The clone is done: the supervisor's thread may start, and must
    // before execve, which waits for its answer.
    let supervisor = opts.supervised.map(Agent::start).transpose()?;
    // EOF: the channel closed at execve.
    ParentPhase::AwaitExec.on_message(spawned.channel.recv::<ToParent>()?)?;
    // Before exec returns; a failure kills the process (the guard).
    if let Some(s) = &pidfd_socket {
        s.send(spawned.pidfd.as_fd(), PidfdOf::Exec)?;
    }
    if let Some(p) = opts.pid_file {
        launch::write_pid_file(p, spawned.pid)?;
    }
    spawned.guard.disarm();
    Ok(Execed {
        pid: spawned.pid,
        pidfd: spawned.pidfd,
        supervisor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rules() {
        assert!(check_status(Status::Running, false).is_ok());
        assert!(check_status(Status::Created, false).is_ok());
        assert!(check_status(Status::Paused, true).is_ok());
        let e = check_status(Status::Paused, false).unwrap_err().chain();
        assert!(e.contains("--ignore-paused"), "{e}");
        assert!(check_status(Status::Stopped, true).is_err());
        assert!(check_status(Status::Creating, false).is_err());
    }
}
