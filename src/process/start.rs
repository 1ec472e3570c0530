//! What every brig process needs before its first line of work, done by
//! brig's own entry point (main.rs) in place of Rust's runtime start.

use std::os::fd::RawFd;

/// Descriptors 0, 1 and 2 open (on /dev/null where one was closed), so no
/// file brig opens later takes a standard stream's number and receives
/// output meant for it; SIGPIPE ignored, so a write to a closed pipe or
/// socket is the error EPIPE, not the death of brig (init restores it for
/// the container's process: `signal::default_sigpipe`). Both as Rust's
/// runtime does them. A failure here leaves brig no way to report it: it
/// aborts.
pub fn runtime_init() {
    standard_fds_open();
    // SAFETY: SIG_IGN installs no handler; no other thread exists yet.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        std::process::abort();
    }
}

fn standard_fds_open() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: fds is a writable array of 3 pollfd; a zero timeout.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } >= 0;
    for p in fds {
        let closed = if polled {
            p.revents & libc::POLLNVAL != 0
        } else {
            // poll refused (e.g. RLIMIT_NOFILE below 3): ask each one.
            // SAFETY: F_GETFD only reads the descriptor's flags.
            let flags = unsafe { libc::fcntl(p.fd, libc::F_GETFD) };
            flags == -1
        };
        if closed {
            reopen_on_dev_null(p.fd);
        }
    }
}

/// The lowest free descriptor is `fd` (those below it are open): open
/// /dev/null there.
fn reopen_on_dev_null(fd: RawFd) {
    // SAFETY: a constant C string; the result is checked.
    let got = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
    if got != fd {
        std::process::abort();
    }
}
