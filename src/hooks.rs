//! OCI lifecycle hooks: who runs which kind, where, and how one hook runs.
//!
//! | kind            | run by          | namespaces | when                                  |
//! |-----------------|-----------------|------------|---------------------------------------|
//! | prestart        | PARENT (create) | runtime    | sync 1c, after the mounts, before pivot |
//! | createRuntime   | PARENT (create) | runtime    | sync 1c, right after prestart         |
//! | createContainer | INIT            | container  | after sync 1d, before pivot_root       |
//! | startContainer  | INIT            | container  | after sync 3, just before execve       |
//! | poststart       | `start` / `run` | runtime    | after the user process was executed   |
//! | poststop        | `delete` / `run`| runtime    | after the container was deleted       |
//!
//! INIT's side (sync 1c/1d, createContainer, startContainer) lives in
//! `process::init_hooks`; this file runs hooks and knows no protocol.
//!
//! Each hook is executed as given (no shell): `path`, `args` (args[0] is
//! argv[0]), exactly `env` when given; without it a startContainer hook gets
//! the container process's environment, a createContainer hook none, and
//! the runtime-side kinds brig's own (all as runc gives them), the
//! container state JSON on stdin, killed at `timeout` seconds. A failing
//! hook of the first four kinds fails the operation; a failing poststart
//! hook stops the container and fails `start` (runc's behaviour, which
//! containerd expects; the spec says warn); poststop failures are logged
//! and the rest continue.
//! Ref: runtime-spec config.md "POSIX-platform Hooks", runtime.md "Lifecycle".

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

use crate::error::{Error, Result};
use crate::linux::fds::set_nonblocking;
use crate::linux::poll::{self, Want};
use crate::state::Status;

/// The six kinds, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ];

    /// The config.json key.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The `status` the state on the hook's stdin carries (runtime-spec
    /// config.md: creating before start, created at startContainer, ...).
    pub fn status(self) -> Status {
        match self {
            Kind::Prestart | Kind::CreateRuntime | Kind::CreateContainer => Status::Creating,
            Kind::StartContainer => Status::Created,
            Kind::Poststart => Status::Running,
            Kind::Poststop => Status::Stopped,
        }
    }

    pub fn list(self, hooks: Option<&Hooks>) -> &[Hook] {
        let Some(h) = hooks else { return &[] };
        let l = match self {
            Kind::Prestart => h.prestart(),
            Kind::CreateRuntime => h.create_runtime(),
            Kind::CreateContainer => h.create_container(),
            Kind::StartContainer => h.start_container(),
            Kind::Poststart => h.poststart(),
            Kind::Poststop => h.poststop(),
        };
        l.as_deref().unwrap_or(&[])
    }
}

/// Run every hook of `kind` in order; the first failure is the error.
/// `state` is the OCI state; its status is set to the kind's.
pub fn run(kind: Kind, hooks: Option<&Hooks>, state: &serde_json::Value) -> Result<()> {
    run_in(kind, hooks, state, None, DefaultEnv::Runtime)
}

/// Run every hook of `kind`; a failure is logged as a warning and the rest
/// still run (poststart, poststop: runtime-spec config.md).
pub fn run_warn(kind: Kind, hooks: Option<&Hooks>, state: &serde_json::Value) {
    let input = stdin_for(kind, state);
    for (i, hook) in kind.list(hooks).iter().enumerate() {
        if let Err(e) = run_one(hook, &input, None, DefaultEnv::Runtime)
            .map_err(|e| e.context(label(kind, i, hook)))
        {
            tracing::warn!("{}", e.chain());
        }
    }
}

/// The environment of a hook that names none (runc's behaviour, which
/// hooks written for it expect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultEnv<'a> {
    /// The runtime's own (prestart, createRuntime, poststart, poststop).
    Runtime,
    /// These entries (startContainer: the container process's; nothing
    /// for createContainer, run inside the container's namespaces).
    Given(&'a [String]),
}

pub(crate) fn run_in(
    kind: Kind,
    hooks: Option<&Hooks>,
    state: &serde_json::Value,
    cwd: Option<&Path>,
    default_env: DefaultEnv<'_>,
) -> Result<()> {
    let input = stdin_for(kind, state);
    for (i, hook) in kind.list(hooks).iter().enumerate() {
        run_one(hook, &input, cwd, default_env).map_err(|e| e.context(label(kind, i, hook)))?;
    }
    Ok(())
}

fn stdin_for(kind: Kind, state: &serde_json::Value) -> Vec<u8> {
    let mut state = state.clone();
    state["status"] = kind.status().as_str().into();
    serde_json::to_vec(&state).expect("a JSON value encodes")
}

/// runc's words, which its tests and users grep for: "error running
/// prestart hook #1: ...".
fn label(kind: Kind, i: usize, hook: &Hook) -> String {
    format!(
        "error running {} hook #{i}: {}",
        kind.name(),
        hook.path().display()
    )
}

/// Does `start` wait for the init to report on its startContainer hooks
/// (and for the execve) before it returns? Both sides decide it from the
/// same hooks.
pub fn start_waits_for_exec(hooks: Option<&Hooks>) -> bool {
    !Kind::StartContainer.list(hooks).is_empty() || !Kind::Poststart.list(hooks).is_empty()
}

/// How a hook ended.
enum Outcome {
    Exited(ExitStatus),
    TimedOut(Duration),
}

fn run_one(
    hook: &Hook,
    input: &[u8],
    cwd: Option<&Path>,
    default_env: DefaultEnv<'_>,
) -> Result<()> {
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args().as_deref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    let env = match (hook.env().as_deref(), default_env) {
        (Some(e), _) if !e.is_empty() => Some(e),
        (_, DefaultEnv::Given(e)) => Some(e),
        // The environment brig itself was given (by containerd's shim,
        // podman, ...), as runc's hooks get runc's.
        (_, DefaultEnv::Runtime) => None,
    };
    if let Some(env) = env {
        cmd.env_clear();
        for e in env {
            // validate::hooks checked every entry is KEY=VALUE.
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| Error::io("exec", e))?;
    let timeout = hook.timeout().map(|t| Duration::from_secs(t.max(1) as u64));
    let mut stderr = Vec::new();
    // Without a pidfd (a seccomp profile may refuse pidfd_open in init)
    // the supervisor falls back to checking the child each round.
    let pidfd = crate::linux::pid::pidfd_open(child.id() as i32).ok();
    let outcome = supervise(&mut child, pidfd, input, timeout, &mut stderr);
    match outcome? {
        Outcome::TimedOut(t) => Err(Error::invalid(format!(
            "timed out after {}s and was killed",
            t.as_secs()
        ))),
        Outcome::Exited(st) if st.success() => Ok(()),
        Outcome::Exited(st) => Err(Error::invalid(format!(
            "{}{}",
            describe(st),
            stderr_tail(&stderr)
        ))),
    }
}

fn describe(st: ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        // Go's wording ("signal: bad system call"), which runc's users
        // match, with the signal's name.
        (None, Some(s)) => format!(
            "signal: {} ({})",
            crate::linux::signal::describe(s),
            crate::linux::signal::name(s)
        ),
        _ => format!("{st}"),
    }
}

/// The last line the hook wrote on stderr, bounded, so the error stays one
/// line.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    match text.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
        Some(l) => {
            let l: String = l.chars().take(200).collect();
            format!(": stderr: {l}")
        }
        None => String::new(),
    }
}

const KEEP_STDERR: usize = 4096;

/// Feed `input` on stdin, collect stderr (bounded) and discard stdout, and
/// wait for exit or the deadline, whichever first. No threads (init is
/// single-threaded): one poll over the pipes and `pidfd`, the child's.
/// Without a pidfd it polls with a short timeout and checks the child each
/// round.
fn supervise(
    child: &mut Child,
    pidfd: Option<OwnedFd>,
    input: &[u8],
    timeout: Option<Duration>,
    stderr: &mut Vec<u8>,
) -> Result<Outcome> {
    let deadline = timeout.map(|t| (Instant::now() + t, t));
    let mut stdin = child.stdin.take();
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let fds = [
        stdin.as_ref().map(|f| f.as_fd()),
        out.as_ref().map(|f| f.as_fd()),
        err.as_ref().map(|f| f.as_fd()),
    ];
    for fd in fds.into_iter().flatten() {
        set_nonblocking(fd)?;
    }
    let mut written = 0;
    let mut buf = [0u8; 4096];
    loop {
        if written >= input.len() {
            // EOF on the hook's stdin.
            stdin = None;
        }
        let mut wait = Duration::from_secs(3600);
        if let Some((at, t)) = deadline {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Outcome::TimedOut(t));
            }
            wait = wait.min(left);
        }
        if pidfd.is_none() {
            if let Some(st) = child
                .try_wait()
                .map_err(|e| Error::io("wait for hook", e))?
            {
                // What it wrote before exiting is in the pipes: the error
                // line needs its last stderr line, as with a pidfd.
                drain(&mut out, &mut buf, None);
                drain(&mut err, &mut buf, Some(stderr));
                return Ok(Outcome::Exited(st));
            }
            wait = wait.min(Duration::from_millis(10));
        }
        // EINTR: none ready, round again.
        let [exited, can_write, out_ready, err_ready] = poll::ready(
            [
                pidfd.as_ref().map(|f| (f.as_fd(), Want::Read)),
                stdin.as_ref().map(|f| (f.as_fd(), Want::Write)),
                out.as_ref().map(|f| (f.as_fd(), Want::Read)),
                err.as_ref().map(|f| (f.as_fd(), Want::Read)),
            ],
            wait,
        )
        .map_err(|e| e.context("wait for hook"))?;
        if can_write {
            if let Some(pipe) = stdin.as_mut() {
                match pipe.write(&input[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    // EPIPE: the hook does not read its stdin; that is its business.
                    Err(_) => written = input.len(),
                }
            }
        }
        if out_ready || exited {
            drain(&mut out, &mut buf, None);
        }
        if err_ready || exited {
            drain(&mut err, &mut buf, Some(stderr));
        }
        if exited {
            let st = child.wait().map_err(|e| Error::io("wait for hook", e))?;
            return Ok(Outcome::Exited(st));
        }
    }
}

/// Read what is there without blocking; close the pipe at EOF. A pipe still
/// held open by a grandchild of the hook never blocks us.
fn drain<R: Read>(pipe: &mut Option<R>, buf: &mut [u8], mut keep: Option<&mut Vec<u8>>) {
    let Some(f) = pipe.as_mut() else { return };
    loop {
        match f.read(buf) {
            Ok(0) => {
                *pipe = None;
                return;
            }
            Ok(n) => {
                if let Some(k) = keep.as_deref_mut() {
                    k.extend_from_slice(&buf[..n]);
                    if k.len() > KEEP_STDERR {
                        k.drain(..k.len() - KEEP_STDERR);
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => {
                *pipe = None;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
