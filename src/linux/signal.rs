//! Signals: sent by number, as runc's `kill` takes them (0, is the
//! process there?, and the real-time signals, SIGRTMIN+3 stops a container
//! whose init is systemd, have no name in nix's `Signal`); and forwarded
//! from brig to the process `run` or `exec` holds in the foreground.
//! Ref: kill(2), sigaction(2), signal-safety(7).

use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result, SysResultExt};

/// The highest signal number (SIGRTMAX on Linux).
pub const MAX: i32 = 64;

/// kill(2) with a signal number: the errno alone, for a caller that words
/// the failure itself or has no use for it. Async-signal-safe.
pub fn send(pid: i32, sig: i32) -> nix::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    Errno::result(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Signal `pid` unless it is already gone: ESRCH (it exited since it was
/// listed) is no failure. Error: `kill PID with SIGNAME`.
pub fn send_unless_gone(pid: i32, sig: i32) -> Result<()> {
    match send(pid, sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(Error::sys(format!("kill {pid} with {}", name(sig)), e)),
    }
}

/// pidfd_send_signal(2): signal the process `pidfd` refers to, never one
/// that took its pid after it exited. ESRCH (already gone) is no failure.
pub fn send_to_pidfd(pidfd: std::os::fd::BorrowedFd<'_>, sig: i32) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a live descriptor number, a signal number, no siginfo (NULL)
    // and no flags; the kernel reads nothing of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    match Errno::result(rc) {
        Ok(_) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(Error::sys(format!("pidfd_send_signal {}", name(sig)), e)),
    }
}

/// What a signal means, as Go (and so runc) prints it: "bad system call",
/// "killed". From the C library's strsignal(3), first letter lowered.
pub fn describe(sig: i32) -> String {
    // SAFETY: strsignal returns a pointer to a NUL-terminated string that
    // stays valid until the next call in this thread; it is copied at once.
    let text = unsafe {
        let p = libc::strsignal(sig);
        if p.is_null() {
            return format!("signal {sig}");
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}", first.to_lowercase(), chars.as_str()),
        None => format!("signal {sig}"),
    }
}

/// SIGPIPE back to its default action. Rust's runtime ignores it in every
/// brig process, and an ignored signal stays ignored across execve: the
/// container's program would never die of a closed pipe (`yes | head`
/// would spin), unlike under runc.
pub fn default_sigpipe() -> Result<()> {
    // SAFETY: SIG_DFL installs no handler of ours; no other thread exists.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) }
        .map(drop)
        .or_sys(|| "restore SIGPIPE's default action".into())
}

/// A signal's name (`SIGTERM`), or its number when it has none (`37`).
pub fn name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => sig.to_string(),
    }
}

/// Where forwarded signals go (0: nowhere yet).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

/// The handler [`forward_to`] installs. Only async-signal-safe work: an
/// atomic load and kill(2), or for SIGWINCH atomic loads and two ioctls.
extern "C" fn forward(sig: libc::c_int) {
    // A resized host terminal resizes the container's (whose kernel then
    // tells its foreground processes); the signal itself is not forwarded,
    // as with runc.
    if sig == libc::SIGWINCH {
        super::tty::on_window_change();
        return;
    }
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        let _ = send(pid, sig);
    }
}

/// From now on each of `signals` brig receives goes on to `pid`, except
/// SIGWINCH, which resizes the terminal brig follows
/// ([`super::tty::follow_host_size`]). Error: `sigaction SIGNAME`.
pub fn forward_to(pid: Pid, signals: &[Signal]) -> Result<()> {
    FORWARD_TO.store(pid.as_raw(), Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for &sig in signals {
        // SAFETY: the handler does only async-signal-safe work (see
        // `forward`), so it may interrupt any code of ours.
        unsafe { sigaction(sig, &action) }.or_sys(|| format!("sigaction {}", sig.as_str()))?;
    }
    Ok(())
}

/// The signals that end runc's init (Go: `_SigKill`, or `_SigThrow`
/// for SIGQUIT) while it waits for `start`: those sent to stop a process.
/// The others (SIGUSR1, SIGRTMIN+3, ...) Go catches and drops, as the
/// kernel drops them for brig's init in its own pid namespace.
const STOP_SIGNALS: [i32; 4] = [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM];

/// The handler [`exit_on_stop_signals`] installs: `_exit` alone, which is
/// async-signal-safe.
extern "C" fn exit_on(sig: libc::c_int) {
    // SAFETY: _exit ends the process at once; nothing of ours needs
    // flushing or unwinding.
    unsafe { libc::_exit(128 + sig) }
}

/// Until execve, each stop signal whose action is the default ends this
/// process (exit status 128+N), as runc's init (Go handles every signal)
/// ends of them. The container's init is pid 1 of its pid namespace, and
/// the kernel drops a signal from outside it whose action is the default
/// (only SIGKILL and SIGSTOP get through), so `kill ID TERM` of a created
/// container would otherwise do nothing. execve resets caught signals to
/// the default, so the container's process sees no change; a signal the
/// caller left ignored stays ignored. Error: `sigaction SIGNAME`.
/// Ref: pid_namespaces(7) "init process", kernel/signal.c
/// sig_task_ignored(); execve(2) "signal dispositions".
pub fn exit_on_stop_signals() -> Result<()> {
    for sig in STOP_SIGNALS {
        // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, empty
        // mask, no flags); with a null new action sigaction only writes
        // the current one into `old`, which outlives the call.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        Errno::result(unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) })
            .or_sys(|| format!("sigaction {}", name(sig)))?;
        if old.sa_sigaction != libc::SIG_DFL {
            continue;
        }
        let action = libc::sigaction {
            sa_sigaction: exit_on as extern "C" fn(libc::c_int) as libc::sighandler_t,
            ..old
        };
        // SAFETY: the handler only calls _exit (async-signal-safe), so it
        // may interrupt any code of ours; `action` outlives the call.
        Errno::result(unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) })
            .or_sys(|| format!("sigaction {}", name(sig)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_or_numbers() {
        for (sig, want) in [(9, "SIGKILL"), (15, "SIGTERM"), (0, "0"), (37, "37")] {
            assert_eq!(name(sig), want);
        }
    }
}
