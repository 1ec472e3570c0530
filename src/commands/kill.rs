//! `kill ID [SIGNAL]`: a signal to the container's init, as runc sends it.
//! Any signal number goes (0 only checks that the init is there; the
//! real-time ones by number); a stopped container is an error ("container
//! not running"), except with `--all`, which signals every process of the
//! container's cgroup and finds nothing to signal then. SIGKILL to a
//! container without a pid namespace of its own goes to every process of
//! its cgroup, also once its init is gone (as runc since 1.2).

use nix::sys::signal::Signal;

use crate::cli::{GlobalOpts, KillArgs};
use crate::error::{Error, Result};
use crate::linux::signal;
use crate::state::{State, Status};

pub fn run(global: &GlobalOpts, a: &KillArgs) -> Result<i32> {
    let sig = parse_signal(a.signal.as_deref().unwrap_or("SIGTERM"))?;
    let st = State::load(&global.root, &a.id)?;
    let status = st.current_status(&global.root);
    if a.all {
        if let Some(path) = &st.cgroup_path {
            let cg = crate::cgroups::Manager::open(path, st.cgroup_driver())?;
            // Init is in the cgroup too; signalling it again after
            // cgroup.kill could race its exit (ESRCH). runc signals only
            // the cgroup as well.
            match Signal::try_from(sig) {
                Ok(named) => cg.kill_all(named)?,
                // 0: every process is there or gone; nothing to deliver.
                Err(_) if sig == 0 => {}
                Err(_) => {
                    for pid in cg.pids()? {
                        signal::send_unless_gone(pid, sig)?;
                    }
                }
            }
            return Ok(0);
        }
        // A rootless container without a cgroup: every process of its
        // own pid namespace.
        if st.own_pid_ns && status != Status::Stopped {
            for pid in crate::linux::pid::in_pid_ns_of(st.pid)? {
                signal::send_unless_gone(pid, sig)?;
            }
            return Ok(0);
        }
    }
    // Killing the init of a pid namespace kills everything in it
    // (pid_namespaces(7)); without one of its own, the other processes
    // would be left running.
    if sig == Signal::SIGKILL as i32 && !st.own_pid_ns {
        if let Some(path) = &st.cgroup_path {
            match crate::cgroups::Manager::open(path, st.cgroup_driver()) {
                Ok(cg) => {
                    cg.kill_all(Signal::SIGKILL)?;
                    return Ok(0);
                }
                Err(_) if status == Status::Stopped => {}
                Err(e) => return Err(e),
            }
        }
    }
    if status == Status::Stopped {
        return Err(Error::invalid("container not running"));
    }
    signal::send(st.pid, sig).map_err(|e| {
        Error::sys(
            format!(
                "unable to signal init {} with {}",
                st.pid,
                signal::name(sig)
            ),
            e,
        )
    })?;
    Ok(0)
}

/// "KILL", "SIGKILL", "kill" or a number 0..=64 (runc takes any number and
/// lets kill(2) refuse it; brig refuses it here, with the same outcome).
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (0..=signal::MAX).contains(&n) {
            return Ok(n);
        }
        return Err(Error::invalid(format!("unknown signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map(|s| s as i32)
        .map_err(|_| Error::invalid(format!("unknown signal {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        for (s, want) in [
            ("KILL", 9),
            ("SIGKILL", 9),
            ("9", 9),
            ("term", 15),
            ("SIGUSR1", 10),
            ("15", 15),
            ("0", 0),
            ("37", 37),
            ("64", 64),
        ] {
            assert_eq!(parse_signal(s).unwrap(), want, "{s}");
        }
        for bad in ["", "NOPE", "999", "65", "-1", "SIG"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
