//! Signals by number, as runc's `kill` takes them: 0 (is the process
//! there?) and the real-time signals (SIGRTMIN+3 stops a container whose
//! init is systemd) have no name in nix's `Signal`.

use nix::errno::Errno;

/// The highest signal number (SIGRTMAX on Linux).
pub const MAX: i32 = 64;

/// kill(2) with a signal number.
pub fn send(pid: i32, sig: i32) -> nix::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    Errno::result(unsafe { libc::kill(pid, sig) }).map(drop)
}
