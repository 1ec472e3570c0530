//! `brig pause ID`: freeze every process of the container (freezer on v1,
//! cgroup.freeze on v2).

use crate::cgroups::Manager;
use crate::cli::{GlobalOpts, IdArg};
use crate::error::{Context, Error, Result};
use crate::state::{self, State};

/// The container's cgroup, from its state. A rootless container created
/// without one (no delegated cgroup) cannot be paused, resumed, updated
/// or give stats: said so in one line.
pub(crate) fn manager(st: &State) -> Result<Manager> {
    let path = st.cgroup_path.as_deref().ok_or_else(|| {
        Error::invalid(format!(
            "container {} has no cgroup (created rootless without a delegated cgroup): this command works on its cgroup",
            st.id
        ))
    })?;
    Manager::open(path, st.cgroup_driver())
}

/// Load a container's state under its lock (after checking it exists, so a
/// missing container is reported as such rather than as a lock file error).
pub(crate) fn locked_state(global: &GlobalOpts, id: &str) -> Result<(State, state::Lock)> {
    State::load(&global.root, id)?;
    let lock = state::Lock::acquire(&state::container_dir(&global.root, id))?;
    Ok((State::load(&global.root, id)?, lock))
}

pub fn run(global: &GlobalOpts, args: &IdArg) -> Result<i32> {
    let st = locked_state(global, &args.id)?;
    let m = manager(&st.0)?;
    if m.pids()?.is_empty() {
        return Err(Error::invalid(format!(
            "container {} is not running",
            args.id
        )));
    }
    if m.is_frozen()? {
        return Err(Error::invalid(format!(
            "container {} is already paused",
            args.id
        )));
    }
    m.freeze().context(|| format!("pause {}", args.id))?;
    Ok(0)
}
