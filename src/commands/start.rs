//! `start`: release the init blocked on exec.fifo (sync 3).

use std::io::Read;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::cli::GlobalOpts;
use crate::error::{Error, IoResultExt, Result};
use crate::state::{self, Lock, State, Status};

pub fn run(global: &GlobalOpts, id: &str) -> Result<i32> {
    let st = State::load(&global.root, id)?;
    let dir = state::container_dir(&global.root, id);
    let _lock = Lock::acquire(&dir)?;
    start(&global.root, &st)?;
    Ok(0)
}

pub fn start(root: &std::path::Path, st: &State) -> Result<()> {
    match st.current_status(root) {
        Status::Created => {}
        Status::Stopped => return Err(Error::invalid("cannot start a container that has stopped")),
        s => {
            return Err(Error::invalid(format!(
                "cannot start a container in state {}",
                s.as_str()
            )))
        }
    }
    // The pidfd before the fifo: opening the fifo releases the init, which
    // may exec, exit and be reaped (by containerd's shim, a subreaper) at
    // once; a pidfd taken after that would fail with ESRCH.
    let pidfd = match crate::linux::pid::pidfd_open(st.pid) {
        Err(e) if e.errno() == Some(Errno::ESRCH) => {
            return Err(Error::invalid(
                "container init exited before it was started",
            ))
        }
        r => r?,
    };
    let fifo_path = state::container_dir(root, &st.id).join(state::EXEC_FIFO);
    // Non-blocking open: we are the reader the init's blocking open waits
    // for; then wait for its byte, or for it to die.
    let mut fifo = crate::linux::fifo::open_for_start(&fifo_path)?;
    loop {
        let mut polled = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        crate::linux::poll::wait(&mut polled, PollTimeout::NONE, "exec fifo")?;
        let init_exited = polled[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        let mut b = [0u8; 1];
        match fifo.read(&mut b) {
            Ok(1) => break,
            Ok(_) | Err(_) => {
                if init_exited {
                    return Err(Error::invalid(
                        "container init exited before it was started",
                    ));
                }
                // Nothing yet (the writer has not opened the fifo): poll again.
                std::thread::yield_now();
            }
        }
    }
    // With startContainer or poststart hooks, wait for the execve (the
    // fifo's EOF); anything init wrote before it is a hook's error.
    let report = if crate::hooks::start_waits_for_exec(st.config.hooks().as_ref()) {
        read_to_eof(&mut fifo)?
    } else {
        String::new()
    };
    std::fs::remove_file(&fifo_path).or_io(|| format!("remove {}", fifo_path.display()))?;
    if !report.is_empty() {
        return Err(Error::Init {
            chain: report,
            errno: None,
        });
    }
    // The user process runs: poststart hooks. A failure stops the
    // container and fails start, as runc does (the runtime-spec's text
    // says warn and go on; containerd and runc's users expect the kill).
    if let Err(e) = crate::hooks::run(
        crate::hooks::Kind::Poststart,
        st.config.hooks().as_ref(),
        &st.to_oci(Status::Running, st.pid),
    ) {
        if let Err(k) = crate::linux::signal::send_to_pidfd(pidfd.as_fd(), libc::SIGKILL) {
            tracing::warn!("kill after a failed poststart hook: {}", k.chain());
        }
        return Err(e);
    }
    Ok(())
}

/// Read the non-blocking fifo until every writer closed it.
fn read_to_eof(fifo: &mut std::fs::File) -> Result<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match fifo.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut polled = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
                crate::linux::poll::wait(&mut polled, PollTimeout::NONE, "exec fifo")?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read exec fifo", e)),
        }
    }
    Ok(String::from_utf8_lossy(&data).trim().to_string())
}
