//! `run`: create + start; in the foreground, forward signals to the
//! container's init, wait for it, remove the container and exit with its
//! status (128+N when killed by signal N).

use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};

use crate::cli::{GlobalOpts, RunArgs};
use crate::error::{Result, SysResultExt};
use crate::process::parent;
use crate::state::{self, Lock};

static INIT_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = INIT_PID.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

pub fn run(global: &GlobalOpts, a: &RunArgs) -> Result<i32> {
    let created = parent::create(global, &super::create::opts(&a.create))?;
    let id = &a.create.id;
    if !a.detach {
        INIT_PID.store(created.pid.as_raw(), Ordering::Relaxed);
        let action = SigAction::new(
            SigHandler::Handler(forward),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for sig in FORWARDED {
            // SAFETY: the handler only calls kill(2), which is async-signal-safe.
            unsafe { sigaction(sig, &action) }.or_sys(|| format!("sigaction {}", sig.as_str()))?;
        }
    }
    {
        let _lock = Lock::acquire(&state::container_dir(&global.root, id))?;
        super::start::start(&global.root, &created.state)?;
    }
    if a.detach {
        return Ok(0);
    }
    let code = loop {
        match waitpid(created.pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => {
                return Err(crate::Error::sys(
                    format!("wait for container init {}", created.pid),
                    e,
                ))
            }
        }
    };
    if !a.keep {
        let _lock = Lock::acquire(&state::container_dir(&global.root, id))?;
        super::delete::destroy(&created.state)?;
        let dir = state::container_dir(&global.root, id);
        std::fs::remove_dir_all(&dir)
            .map_err(|e| crate::Error::io(format!("remove {}", dir.display()), e))?;
    }
    Ok(code)
}
