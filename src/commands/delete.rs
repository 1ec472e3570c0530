//! `delete`: remove a stopped container; `--force` kills it first and
//! also cleans up a `create` that died half-way.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use crate::cli::{DeleteArgs, GlobalOpts};
use crate::error::{Error, IoResultExt, Result};
use crate::state::{self, Lock, State, Status};

pub fn run(global: &GlobalOpts, a: &DeleteArgs) -> Result<i32> {
    state::validate_id(&a.id)?;
    let dir = state::container_dir(&global.root, &a.id);
    if !dir.exists() {
        if a.force {
            return Ok(0);
        }
        return Err(Error::not_found(&a.id));
    }
    let _lock = Lock::acquire(&dir)?;
    let st = match State::load(&global.root, &a.id) {
        Ok(st) => Some(st),
        // A create killed before its first record: only the directory.
        Err(_) if a.force => None,
        Err(e) => return Err(e),
    };
    if let Some(st) = &st {
        let status = st.current_status(&global.root);
        match status {
            Status::Stopped => {}
            // runc deletes a created container without --force.
            Status::Created | Status::Creating => kill_and_wait(st)?,
            Status::Running | Status::Paused if a.force => kill_and_wait(st)?,
            s => {
                return Err(Error::invalid(format!(
                    "cannot delete container {} that is not stopped: {}",
                    a.id,
                    s.as_str()
                )))
            }
        }
        destroy(st)?;
    }
    std::fs::remove_dir_all(&dir).or_io(|| format!("remove {}", dir.display()))?;
    // Without a record (a create killed early) the pool may still list it.
    if st.as_ref().is_none_or(|s| s.userns_range.is_some()) {
        release_userns_range(&global.root, &a.id);
    }
    if let Some(st) = &st {
        poststop(st);
    }
    Ok(0)
}

/// The host ids the node's pool leased the container are free again. A
/// failure only warns: the next lease drops a holder without a record.
pub fn release_userns_range(root: &std::path::Path, id: &str) {
    if let Err(e) = crate::policy::pool::release(root, id) {
        tracing::warn!("release the user namespace range: {}", e.chain());
    }
}

/// After the container is gone: poststop hooks; a failure is only a
/// warning. Ref: runtime-spec config.md, Poststop.
pub fn poststop(st: &State) {
    crate::hooks::run_warn(
        crate::hooks::Kind::Poststop,
        st.config.hooks().as_ref(),
        &st.to_oci(Status::Stopped, st.pid),
    );
}

/// Remove what the container holds outside its state directory.
pub fn destroy(st: &State) -> Result<()> {
    if let Some(path) = &st.cgroup_path {
        let cg = crate::cgroups::Manager::open(path, st.cgroup_driver())?;
        let _ = cg.thaw();
        cg.destroy()?;
    }
    Ok(())
}

fn kill_and_wait(st: &State) -> Result<()> {
    if let Some(path) = &st.cgroup_path {
        if let Ok(cg) = crate::cgroups::Manager::open(path, st.cgroup_driver()) {
            let _ = cg.thaw();
            let _ = cg.kill_all(Signal::SIGKILL);
        }
    }
    if !st.init_alive() {
        return Ok(());
    }
    let pidfd = crate::linux::pid::pidfd_open(st.pid);
    let _ = crate::linux::signal::send(st.pid, Signal::SIGKILL as i32);
    let Ok(pidfd) = pidfd else { return Ok(()) };
    // The init is not our child: wait on its pidfd (readable on exit).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if let Ok(n) = crate::linux::poll::wait(&mut fds, PollTimeout::from(100u16), "init pidfd") {
            if n > 0 {
                return Ok(());
            }
        }
    }
    Err(Error::invalid(format!(
        "container init {} did not exit after SIGKILL",
        st.pid
    )))
}
