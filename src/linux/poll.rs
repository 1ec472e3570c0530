//! Waiting on several descriptors at once without threads (the hook
//! supervisor runs in init, which stays single-threaded until execve;
//! `start`, `delete` and the terminal copy wait on theirs).
//! Ref: poll(2).

use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Result, SysResultExt};

/// What a descriptor is waited on for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Data to read, or EOF (a pidfd: the process exited).
    Read,
    /// Room to write.
    Write,
}

/// One poll(2) over the present entries of `fds`, for at most `timeout`:
/// which of them are ready, in the same order. Ready includes hung up and
/// in error, which the next read or write then reports; an absent entry is
/// never ready. A wait interrupted by a signal (EINTR) reports none ready,
/// so the caller's loop goes round again.
pub fn ready<const N: usize>(
    fds: [Option<(BorrowedFd<'_>, Want)>; N],
    timeout: Duration,
) -> Result<[bool; N]> {
    let mut polled = Vec::with_capacity(N);
    let mut slot = [None; N];
    for (i, (fd, want)) in fds
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.map(|e| (i, e)))
    {
        let events = match want {
            Want::Read => PollFlags::POLLIN,
            Want::Write => PollFlags::POLLOUT,
        };
        slot[i] = Some(polled.len());
        polled.push(PollFd::new(fd, events));
    }
    let t = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    match poll(&mut polled, t) {
        Err(Errno::EINTR) => return Ok([false; N]),
        r => r.or_sys(|| format!("poll {} descriptors", polled.len()))?,
    };
    Ok(slot.map(|s| {
        s.and_then(|i| polled[i].revents())
            .is_some_and(|r| !r.is_empty())
    }))
}

/// poll(2) on `fds` until an event or the timeout, polling again when a
/// signal interrupts it (EINTR): how many descriptors have events.
/// Error: `poll WHAT`.
pub fn wait(fds: &mut [PollFd], timeout: PollTimeout, what: &str) -> Result<usize> {
    loop {
        match nix::poll::poll(fds, timeout) {
            Err(Errno::EINTR) => continue,
            r => return r.map(|n| n as usize).or_sys(|| format!("poll {what}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn reports_which_are_ready() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let t = Duration::ZERO;
        // Empty pipe: only the write end is ready; an absent entry never is.
        let got = ready(
            [
                Some((r.as_fd(), Want::Read)),
                None,
                Some((w.as_fd(), Want::Write)),
            ],
            t,
        )
        .unwrap();
        assert_eq!(got, [false, false, true]);
        std::fs::File::from(w.try_clone().unwrap())
            .write_all(b"x")
            .unwrap();
        let got = ready([Some((r.as_fd(), Want::Read))], t).unwrap();
        assert_eq!(got, [true]);
        // Hung up: ready, the read then sees EOF.
        let (r2, w2) = nix::unistd::pipe().unwrap();
        drop(w2);
        assert_eq!(ready([Some((r2.as_fd(), Want::Read))], t).unwrap(), [true]);
    }

    #[test]
    fn times_out_with_none_ready() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        let got = ready([Some((r.as_fd(), Want::Read))], Duration::from_millis(10)).unwrap();
        assert_eq!(got, [false]);
        assert_eq!(ready::<1>([None], Duration::ZERO).unwrap(), [false]);
    }

    #[test]
    fn poll_counts_ready_descriptors() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut polled = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        assert_eq!(wait(&mut polled, PollTimeout::ZERO, "pipe").unwrap(), 0);
        nix::unistd::write(&w, b"x").unwrap();
        let mut polled = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        assert_eq!(wait(&mut polled, PollTimeout::NONE, "pipe").unwrap(), 1);
    }
}
