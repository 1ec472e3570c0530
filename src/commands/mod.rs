//! One file per verb. Each returns the exit code; errors go up to main.

pub mod apparmor;
pub mod check;
pub mod checkpoint;
pub mod completion;
pub mod console;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod help;
pub mod kill;
pub mod list;
pub mod man;
pub mod pause;
pub mod policy;
pub mod ps;
pub mod resume;
pub mod run;
pub mod seccomp;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::cli::{Command, GlobalOpts};
use crate::error::Result;

pub fn dispatch(global: &GlobalOpts, cmd: &Command) -> Result<i32> {
    match cmd {
        Command::Create(a) => create::run(global, a),
        Command::Start(a) => start::run(global, &a.id),
        Command::State(a) => state::run(global, &a.id),
        Command::Kill(a) => kill::run(global, a),
        Command::Delete(a) => delete::run(global, a),
        Command::Run(a) => run::run(global, a),
        Command::List(a) => list::run(global, a),
        Command::Spec(a) => spec::run(a),
        Command::Features => features::run(),
        Command::Exec(a) => exec::run(global, a),
        Command::Update(a) => update::run(global, a),
        Command::Pause(a) => pause::run(global, a),
        Command::Resume(a) => resume::run(global, a),
        Command::Ps(a) => ps::run(global, a),
        Command::Events(a) => events::run(global, a),
        Command::Checkpoint(a) => checkpoint::run(global, a),
        Command::Restore(_) => Err(crate::Error::invalid(
            "not supported: brig has no checkpoint/restore (CRIU) support",
        )),
        Command::Policy(a) => policy::run(global, a),
        Command::Apparmor(a) => apparmor::run(a),
        Command::Seccomp(a) => seccomp::run(global, a),
        Command::Check(a) => check::run(global, a),
        Command::Completion(a) => completion::run(a),
        Command::Man(a) => man::run(a),
        Command::Init => crate::process::init::main(),
    }
}

/// The id a command works on, for the error context ("create c1: ...").
pub fn subject(cmd: &Command) -> String {
    let (verb, id) = match cmd {
        Command::Create(a) => ("create", a.id.as_str()),
        Command::Start(a) => ("start", a.id.as_str()),
        Command::State(a) => ("state", a.id.as_str()),
        Command::Kill(a) => ("kill", a.id.as_str()),
        Command::Delete(a) => ("delete", a.id.as_str()),
        Command::Run(a) => ("run", a.create.id.as_str()),
        Command::Exec(a) => ("exec", a.id.as_str()),
        Command::Update(a) => ("update", a.id.as_str()),
        Command::Pause(a) => ("pause", a.id.as_str()),
        Command::Resume(a) => ("resume", a.id.as_str()),
        Command::Ps(a) => ("ps", a.id.as_str()),
        Command::Events(a) => ("events", a.id.as_str()),
        Command::Checkpoint(a) => ("checkpoint", a.id.as_str()),
        Command::List(_) => ("list", ""),
        Command::Spec(_) => ("spec", ""),
        Command::Features => ("features", ""),
        Command::Restore(_) => ("restore", ""),
        Command::Policy(_) => ("policy", ""),
        Command::Apparmor(_) => ("apparmor", ""),
        Command::Seccomp(a) => match &a.command {
            crate::cli::SeccompCommand::Learn { id, .. } => ("seccomp learn", id.as_str()),
            crate::cli::SeccompCommand::Test { id, .. } => ("seccomp test", id.as_str()),
            crate::cli::SeccompCommand::Default { .. } => ("seccomp", ""),
        },
        Command::Check(a) => ("check", a.target.as_str()),
        Command::Completion(_) => ("completion", ""),
        Command::Man(_) => ("man", ""),
        Command::Init => ("init", ""),
    };
    if id.is_empty() {
        verb.to_string()
    } else {
        format!("{verb} {id}")
    }
}

/// The global flags the process roles need, without clap's types.
pub(crate) fn runtime_opts(g: &crate::cli::GlobalOpts) -> crate::process::launch::RuntimeOpts<'_> {
    crate::process::launch::RuntimeOpts {
        root: &g.root,
        log: g.log.as_deref(),
        log_format: g.log_format,
        debug: g.debug,
    }
}

/// Who makes a new container's cgroup: brig, or with `--systemd-cgroup`
/// the system's systemd or (rootless) the user's.
pub(crate) fn cgroup_driver(g: &crate::cli::GlobalOpts) -> crate::Result<crate::cgroups::Driver> {
    use crate::cgroups::{systemd, Driver};
    if !g.systemd_cgroup {
        return Ok(Driver::Fs);
    }
    Ok(if systemd::user_instance(g.rootless.as_deref())? {
        Driver::SystemdUser
    } else {
        Driver::Systemd
    })
}

/// The node policy brig runs under: `--policy`, else the name it was
/// invoked as (`brig-NAME`), else none.
pub(crate) fn selected_policy(
    g: &crate::cli::GlobalOpts,
) -> crate::Result<Option<crate::policy::Policy>> {
    let named = g.policy.clone().or_else(|| {
        std::env::args_os()
            .next()
            .and_then(|a| crate::policy::from_program_name(&a.to_string_lossy()))
    });
    named.map(|n| crate::policy::Policy::select(&n)).transpose()
}
