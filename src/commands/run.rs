//! `run`: create + start; in the foreground, forward signals to the
//! container's init, wait for it, remove the container and exit with its
//! status (128+N when killed by signal N).

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::cli::{GlobalOpts, RunArgs};
use crate::error::{IoResultExt, Result, SysResultExt};
use crate::process::launch::ConsoleSocket;
use crate::process::parent;
use crate::state::{self, Lock};

static INIT_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    // A resized host terminal resizes the container's (whose kernel then
    // tells its foreground processes); the signal itself is not forwarded,
    // as with runc.
    if sig == libc::SIGWINCH {
        crate::linux::tty::on_window_change();
        return;
    }
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
    let mut opts = super::create::opts(global, &a.create);
    // A terminal in the foreground without a console socket: brig holds the
    // pty itself (runc does the same). Detached, someone else must.
    let mut own_console = None;
    if opts.console_socket.is_none() && !a.detach && wants_terminal(&a.create.bundle) {
        let (ours, theirs) = UnixStream::pair().or_io(|| "socketpair for the console".into())?;
        opts.console_socket = Some(ConsoleSocket::Connected(theirs));
        own_console = Some(ours);
    }
    let created = parent::create(&super::runtime_opts(global), &opts)?;
    drop(opts);
    let id = &a.create.id;
    if !a.detach {
        forward_signals_to(created.pid)?;
    }
    let started = {
        let _lock = Lock::acquire(&state::container_dir(&global.root, id))?;
        super::start::start(&global.root, &created.state)
    };
    if let Err(e) = started {
        // A run that did not start leaves nothing behind (runc destroys
        // it too): a retry with the same id must not find it.
        let _ = nix::sys::signal::kill(created.pid, Signal::SIGKILL);
        let _ = waitpid(created.pid, None);
        if let Err(cleanup) = remove(global, &created.state) {
            tracing::warn!("cleanup after a failed start: {}", cleanup.chain());
        }
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    if let Some(sock) = own_console {
        super::console::attach(&sock, created.pidfd.as_fd())?;
    }
    let code = wait_exit_code(created.pid, "container init")?;
    if !a.keep {
        remove(global, &created.state)?;
    }
    Ok(code)
}

/// The container is gone: its cgroup, its state directory, then the
/// poststop hooks.
fn remove(global: &GlobalOpts, st: &state::State) -> Result<()> {
    let dir = state::container_dir(&global.root, &st.id);
    let _lock = Lock::acquire(&dir)?;
    super::delete::destroy(st)?;
    std::fs::remove_dir_all(&dir)
        .map_err(|e| crate::Error::io(format!("remove {}", dir.display()), e))?;
    super::delete::poststop(st);
    Ok(())
}

/// From now on the signals a shell sends to a foreground job go to `pid`
/// (`run`'s init, `exec`'s process).
pub(crate) fn forward_signals_to(pid: Pid) -> Result<()> {
    INIT_PID.store(pid.as_raw(), Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in FORWARDED {
        // SAFETY: the handler only calls kill(2), which is async-signal-safe.
        unsafe { sigaction(sig, &action) }.or_sys(|| format!("sigaction {}", sig.as_str()))?;
    }
    Ok(())
}

/// Wait for our child `pid`: its exit status, or 128+N when killed by
/// signal N (what a shell reports).
pub(crate) fn wait_exit_code(pid: Pid, what: &str) -> Result<i32> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(crate::Error::sys(format!("wait for {what} {pid}"), e)),
        }
    }
}

/// Peek at config.json's process.terminal; a bad config is reported by
/// create itself.
fn wants_terminal(bundle: &Path) -> bool {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .and_then(|v| v["process"]["terminal"].as_bool())
        .unwrap_or(false)
}
