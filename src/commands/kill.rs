use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cli::{GlobalOpts, KillArgs};
use crate::error::{Error, Result, SysResultExt};
use crate::process;
use crate::state::{State, Status};

pub fn run(global: &GlobalOpts, a: &KillArgs) -> Result<i32> {
    let sig = parse_signal(a.signal.as_deref().unwrap_or("SIGTERM"))?;
    let st = State::load(&global.root, &a.id)?;
    let status = process::status(&global.root, &st);
    if a.all {
        if let Some(path) = &st.cgroup_path {
            let cg = crate::cgroups::Manager::open(path, st.systemd_cgroup)?;
            // Init is in the cgroup too; signalling it again after
            // cgroup.kill could race its exit (ESRCH). runc signals only
            // the cgroup as well.
            cg.kill_all(sig)?;
            return Ok(0);
        }
    }
    if status == Status::Stopped {
        return Err(Error::invalid("container not running"));
    }
    kill(Pid::from_raw(st.pid), sig).or_sys(|| format!("kill {} with {}", st.pid, sig.as_str()))?;
    Ok(0)
}

/// "KILL", "SIGKILL", "kill" or "9".
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::invalid(format!("unknown signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| Error::invalid(format!("unknown signal {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        for (s, want) in [
            ("KILL", Signal::SIGKILL),
            ("SIGKILL", Signal::SIGKILL),
            ("9", Signal::SIGKILL),
            ("term", Signal::SIGTERM),
            ("SIGUSR1", Signal::SIGUSR1),
            ("15", Signal::SIGTERM),
        ] {
            assert_eq!(parse_signal(s).unwrap(), want, "{s}");
        }
        for bad in ["", "NOPE", "999", "-1", "SIG"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
