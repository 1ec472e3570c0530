//! The process model: PARENT (`brig create`), CHILD (the clone, until its
//! re-exec), INIT (the container's first process until execve).
//! See docs/ARCHITECTURE.md and the diagram in `messages`.

pub mod channel;
pub mod child;
pub mod clone;
pub mod env;
pub mod exec;
pub mod init;
pub mod messages;
pub mod parent;

use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::state::{self, State, Status};

/// Is the recorded init still the same live process (not a zombie, not a
/// recycled pid)?
pub fn init_alive(st: &State) -> bool {
    if st.pid <= 0 {
        return false;
    }
    let pid = Pid::from_raw(st.pid);
    if kill(pid, None).is_err() {
        return false;
    }
    match parent::proc_state(pid) {
        None | Some('Z') | Some('X') => false,
        Some(_) => st.pid_start_time == 0 || parent::start_time(pid) == Some(st.pid_start_time),
    }
}

/// The status `state` reports, derived from the record, the process, the
/// exec fifo and the freezer.
pub fn status(root: &std::path::Path, st: &State) -> Status {
    if !init_alive(st) {
        return if st.status == Status::Creating && st.pid == 0 {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    if st.status == Status::Creating {
        return Status::Creating;
    }
    if state::container_dir(root, &st.id)
        .join(state::EXEC_FIFO)
        .exists()
    {
        return Status::Created;
    }
    if let Some(path) = &st.cgroup_path {
        if let Ok(cg) = crate::cgroups::Manager::open(path, st.systemd_cgroup) {
            if cg.is_frozen().unwrap_or(false) {
                return Status::Paused;
            }
        }
    }
    Status::Running
}
