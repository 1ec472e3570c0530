//! Role SUPERVISOR: brig's own seccomp agent for `seccomp learn` and
//! `seccomp test`. It listens on a socket in a private directory, which the
//! plan gives init as its `listenerPath`; init sends it the notify fd of
//! the supervisor's filter (linux/seccomp/supervise.rs) right after
//! loading it, and the supervisor records every notified syscall and lets
//! it run (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//!
//! It is a thread of `run`'s parent, started once `create` has returned:
//! the parent is single-threaded until its clone is done, and the
//! workload cannot make a syscall before `start`. Filters are inherited
//! by every thread and child, so one notify fd sees them all.

use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, IoResultExt, Result};
use crate::linux::poll::{self, Want};
use crate::linux::seccomp::learned::Recording;
use crate::linux::seccomp::notify::{self, Event};
use crate::linux::seccomp::verdict::Verdicts;
use crate::linux::seccomp::Filter;
use crate::plan::SupervisedSeccomp;

/// A directory only root can enter, removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> Result<Self> {
        let [a, ..] = crate::linux::seccomp::new_cookie()?;
        let path =
            std::env::temp_dir().join(format!("brig-seccomp-{}-{a:016x}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .or_io(|| format!("mkdir {}", path.display()))?;
        Ok(PrivateDir(path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!("remove {}: {e}", self.0.display());
        }
    }
}

/// The supervisor before the container exists: its filter and socket.
pub struct Agent {
    filter: Filter,
    /// `seccomp test`: the tested profile's own answers.
    verdicts: Option<Verdicts>,
    listener: UnixListener,
    path: PathBuf,
    dir: PrivateDir,
}

impl Agent {
    /// With `verdicts`, each recorded call also says what the profile
    /// would have answered it.
    pub fn new(filter: Filter, verdicts: Option<Verdicts>) -> Result<Self> {
        let dir = PrivateDir::new()?;
        let path = dir.0.join("agent.sock");
        let listener =
            UnixListener::bind(&path).or_io(|| format!("listen on {}", path.display()))?;
        Ok(Agent {
            filter,
            verdicts,
            listener,
            path,
            dir,
        })
    }

    /// What the plan takes instead of `linux.seccomp`.
    pub fn plan(&self) -> SupervisedSeccomp {
        SupervisedSeccomp {
            filter: self.filter.clone(),
            listener: self.path.clone(),
        }
    }

    /// Start serving (the container exists: init connected during create).
    pub fn start(self) -> Result<Running> {
        // exec joined the container's pid namespace for its child; a
        // thread must be born in ours.
        crate::linux::namespaces::reset_pid_for_children()?;
        let (stop, stopped) =
            UnixStream::pair().or_io(|| "socketpair for the supervisor".into())?;
        let (listener, verdicts) = (self.listener, self.verdicts);
        let thread = std::thread::Builder::new()
            .name("brig-seccomp".into())
            .spawn(move || serve(&listener, &stopped, verdicts.as_ref()))
            .or_io(|| "start the seccomp supervisor thread".into())?;
        Ok(Running {
            stop: Some(stop),
            thread: Some(thread),
            _dir: self.dir,
        })
    }
}

/// The supervisor at work; stopped (and its directory removed) by
/// [`Running::finish`] or when dropped.
pub struct Running {
    stop: Option<UnixStream>,
    thread: Option<JoinHandle<Result<Recording>>>,
    _dir: PrivateDir,
}

impl Running {
    /// Once the container has exited: what was recorded.
    pub fn finish(mut self) -> Result<Recording> {
        self.stop.take();
        let thread = self.thread.take().expect("joined once");
        thread
            .join()
            .map_err(|_| Error::invalid("the seccomp supervisor thread panicked"))?
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    listener: &UnixListener,
    stop: &UnixStream,
    verdicts: Option<&Verdicts>,
) -> Result<Recording> {
    let mut rec = Recording::default();
    loop {
        let [conn, stopped] = poll::ready(
            [
                Some((listener.as_fd(), Want::Read)),
                Some((stop.as_fd(), Want::Read)),
            ],
            Duration::from_secs(60),
        )?;
        if conn {
            break;
        }
        if stopped {
            return Ok(rec);
        }
    }
    let (conn, _) = listener
        .accept()
        .or_io(|| "accept init's connection to the supervisor".into())?;
    // Init sends the fd right after loading the filter; a container that
    // fails before that closes the socket (or we are stopped).
    loop {
        let [msg, stopped] = poll::ready(
            [
                Some((conn.as_fd(), Want::Read)),
                Some((stop.as_fd(), Want::Read)),
            ],
            Duration::from_secs(60),
        )?;
        if msg {
            break;
        }
        if stopped {
            return Ok(rec);
        }
    }
    let fd = notify::receive_fd(&conn)?;
    loop {
        match notify::next(fd.as_fd(), stop.as_fd())? {
            Event::Syscall(n) => {
                // Read while the caller waits for our answer: it is alive.
                let outcome = verdicts.map(|v| v.describe(&n.data()));
                rec.add(n.arch, n.nr, outcome, || {
                    let (comm, inner) = notify::describe(n.pid);
                    (comm, inner.unwrap_or(n.pid))
                });
                notify::continue_syscall(&fd, n.id)?;
            }
            Event::Gone | Event::Stopped => return Ok(rec),
        }
    }
}
