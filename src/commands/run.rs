//! `run`: create + start; in the foreground, forward signals to the
//! container's init, wait for it, remove the container and exit with its
//! status (128+N when killed by signal N).

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::bundle::Bundle;
use crate::cli::{GlobalOpts, RunArgs};
use crate::error::{IoResultExt, Result};
use crate::linux::seccomp::learned::Recording;
use crate::linux::{pid, signal};
use crate::process::launch::ConsoleSocket;
use crate::process::parent;
use crate::process::supervisor::{Agent, Running};
use crate::state::{self, Lock};

/// What a shell sends a foreground job, passed on to it as runc does
/// (SIGWINCH resizes its terminal instead).
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
    run_with(global, a, None).map(|(code, _)| code)
}

/// `run`, with brig's own seccomp supervisor in place of `linux.seccomp`
/// when `agent` is given (`seccomp learn`, `seccomp test`): it starts once
/// the container exists and what it recorded is returned with the exit
/// status.
pub(crate) fn run_with(
    global: &GlobalOpts,
    a: &RunArgs,
    agent: Option<Agent>,
) -> Result<(i32, Option<Recording>)> {
    let mut opts = super::create::opts(global, &a.create)?;
    opts.supervised_seccomp = agent.as_ref().map(Agent::plan);
    // A terminal in the foreground without a console socket: brig holds the
    // pty itself (runc does the same). Detached, someone else must.
    let mut own_console = None;
    if opts.console_socket.is_none() && !a.detach && wants_terminal(&opts.bundle) {
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
    // The supervisor before start: init sends it the notify fd right
    // before execve, and every syscall after that waits for its answer.
    let mut supervisor = None;
    let started = match agent.map(Agent::start).transpose() {
        Ok(s) => {
            supervisor = s;
            let _lock = Lock::acquire(&state::container_dir(&global.root, id))?;
            super::start::start(&global.root, &created.state)
        }
        Err(e) => Err(e),
    };
    if let Err(e) = started {
        // A run that did not start leaves nothing behind (runc destroys
        // it too): a retry with the same id must not find it.
        pid::kill_and_reap(created.pid);
        if let Err(cleanup) = remove(global, &created.state) {
            tracing::warn!("cleanup after a failed start: {}", cleanup.chain());
        }
        return Err(e);
    }
    if a.detach {
        return Ok((0, None));
    }
    if let Some(sock) = own_console {
        super::console::attach(&sock, created.pidfd.as_fd())?;
    }
    let code = pid::wait_exit_code(created.pid, "container init")?;
    let recording = supervisor.map(Running::finish).transpose();
    if !a.keep {
        remove(global, &created.state)?;
    }
    Ok((code, recording?))
}

/// The container is gone: its cgroup, its state directory, then the
/// poststop hooks.
fn remove(global: &GlobalOpts, st: &state::State) -> Result<()> {
    let dir = state::container_dir(&global.root, &st.id);
    let _lock = Lock::acquire(&dir)?;
    super::delete::destroy(st)?;
    std::fs::remove_dir_all(&dir)
        .map_err(|e| crate::Error::io(format!("remove {}", dir.display()), e))?;
    if st.userns_range.is_some() {
        super::delete::release_userns_range(&global.root, &st.id);
    }
    super::delete::poststop(st);
    Ok(())
}

/// From now on the signals a shell sends to a foreground job go to `pid`
/// (`run`'s init, `exec`'s process).
pub(crate) fn forward_signals_to(pid: Pid) -> Result<()> {
    signal::forward_to(pid, &FORWARDED)
}

/// Does the container's process ask for a terminal?
fn wants_terminal(bundle: &Bundle) -> bool {
    bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
}
